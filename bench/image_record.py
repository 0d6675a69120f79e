"""What knowing a store's images by content costs: the default synthetic world (6,000 images, all splits), then timed:

- `stat_ms`: `image_record` against a record of the same files (one `stat` per file, nothing read): what every
  reuse of a store pays;
- `hash_s`: `image_record` with nothing known (every file read and hashed, warm page cache), on 1 and on 8 threads:
  what a build pays, and `--verify`;
- `reuse_s` / `reuse_verify_s`: `extract` called again on a finished store (a copy of the world's train store) with the
  same settings, without and with `verify`: open, sha256 of the store, the images' check, return;
- `sha256_mb_s`: hashlib's sha256 on one 256 MB buffer (the bound for large files).

From these, an estimate for Flickr30k's 31,783 images (`--flickr_gb` GB of JPEGs): the stat check scales with the
number of files, hashing with their bytes plus a cost per file. Prints one JSON object.
"""
import json, hashlib, os, shutil, tempfile, time, warnings
from pathlib import Path
from fastcore.script import call_parse
import torch
from layeralign.synthetic import synthetic
from layeralign.extract import extract, image_record

from store_checks import _best   # the fastest of n runs, as the store checks time theirs

@call_parse
def main(n_images:int=6000,      # size of the synthetic world (all splits)
         home:str=None,           # a LAYERALIGN_HOME holding the world (default: a temporary folder, the world made there)
         flickr_images:int=31783, # Flickr30k's images, for the estimate
         flickr_gb:float=4.2,     # Flickr30k's images on disk, in GB (its flickr30k-images folder)
         threads:int=1,           # torch CPU threads for the extraction
        ):
    torch.set_num_threads(threads)
    home = Path(home or tempfile.mkdtemp())
    world = home/'data'/f'synthetic-{n_images}-0'
    splits = {s: synthetic(s, n_images, 0, world) for s in ('train', 'val', 'test')}
    paths = [p for d in splits.values() for p in d.image_paths]
    mb = sum(p.stat().st_size for p in paths) / 1e6
    record, _ = image_record(paths)                                          # warms the page cache
    stat_s = _best(lambda: image_record(paths, record))
    hash1, hash8 = _best(lambda: image_record(paths, threads=1), 3), _best(lambda: image_record(paths, threads=8), 3)
    buf = os.urandom(256 << 20)
    raw = 256 * 1.048576 / _best(lambda: hashlib.sha256(buf).digest(), 3)  # MB/s
    work = Path(tempfile.mkdtemp())                                          # a copy of the train store: the bench changes it
    src = home/'features'/f'synthetic-{n_images}-0'/'train'
    found = sorted(src.glob('layeralign-tiny--synthetic*')) if src.exists() else []
    out = work/'store'
    data = splits['train']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if found: shutil.copytree(found[0], out)
        extract(data, 'layeralign-tiny', 'synthetic', out, progress=False)     # builds it, or records the images of a copied older store
        reuse = _best(lambda: extract(data, 'layeralign-tiny', 'synthetic', out, progress=False), 3)
        reuse_verify = _best(lambda: extract(data, 'layeralign-tiny', 'synthetic', out, progress=False, verify=True), 3)
    shutil.rmtree(work)
    per_file_stat = stat_s / len(paths)
    per_file_hash = max(0.0, hash1 - mb / raw) / len(paths)                  # what a file costs beyond its bytes
    print(json.dumps(dict(
        n_files=len(paths), megabytes=round(mb, 1), stat_ms=round(1e3 * stat_s, 1), stat_us_per_file=round(1e6 * per_file_stat, 2),
        hash_s_1_thread=round(hash1, 3), hash_s_8_threads=round(hash8, 3), hash_mb_s_1_thread=round(mb / hash1, 1),
        sha256_mb_s=round(raw, 1), cpu_cores=os.cpu_count(), train_store_images=data.n_images,
        reuse_s=round(reuse, 3), reuse_verify_s=round(reuse_verify, 3),
        flickr30k_estimate=dict(n_files=flickr_images, gigabytes=flickr_gb,
                                stat_s=round(flickr_images * per_file_stat, 2),
                                hash_s_1_thread=round(flickr_images * per_file_hash + flickr_gb * 1e3 / raw, 1),
                                note='warm page cache; a cold disk bounds hashing at its read speed (e.g. 4.2 GB at 200 MB/s: 21 s)'))))
