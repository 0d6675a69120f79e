"""What checking a FeatureStore costs: the default run's store (the synthetic world of 6,000 images, its train split,
`layeralign-tiny`, float16), made once by `extract`, then timed three ways:

- `open`: `FeatureStore(path)`, which compares each file's size with the manifest's record (always done);
- `verify`: `FeatureStore(path).verify()`, which reads every file and compares its sha256;
- `again`: `extract` called again with the same settings: lock, open, verify, return (what every later run pays).

Prints one JSON object. `--n_images` makes the world smaller (the test-size check) or larger.
"""
import json, tempfile, time, warnings
from pathlib import Path
from fastcore.script import call_parse
import torch
from layeralign.data import synthetic
from layeralign.extract import extract
from layeralign.store import FeatureStore

def _best(f, n=5): # the fastest of n runs, in seconds
    times = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); times.append(time.perf_counter() - t0)
    return min(times)

@call_parse
def main(n_images:int=6000,     # size of the synthetic world (all splits)
         split:str='train',      # the split whose store is timed
         threads:int=1,          # torch CPU threads for the extraction
         root:str=None,          # where the world and store go (default: a temporary folder)
        ):
    torch.set_num_threads(threads)
    root = Path(root or tempfile.mkdtemp())
    data = synthetic(split, n_images, 0, root/'world')
    out = root/'features'/f'synthetic-{n_images}-0'/split/'layeralign-tiny--synthetic'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        t0 = time.perf_counter(); st = extract(data, 'layeralign-tiny', 'synthetic', out, progress=False); made = time.perf_counter() - t0
        again = _best(lambda: extract(data, 'layeralign-tiny', 'synthetic', out, progress=False), 3)   # progress off: silent
    print(json.dumps(dict(n_images=st.n_images, n_captions=st.n_captions, megabytes=round(sum(p.stat().st_size for p in out.iterdir()) / 1e6, 1),
                          extract_s=round(made, 2), open_ms=round(1e3 * _best(lambda: FeatureStore(out)), 3),
                          verify_s=round(_best(lambda: FeatureStore(out).verify()), 3), again_s=round(again, 3),
                          torch_threads=threads)))
