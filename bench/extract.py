"""Benchmark of `layeralign.extract.extract` against a loop in the original pipeline's style, on the same data in the same run.

Three measurements, each over the same JPEGs and captions:

- `decode`: the ceiling of the image side: JPEG decode + open_clip preprocessing in the same DataLoader
  workers, no model.
- `extract`: `layeralign.extract` (all layers of both towers, each image once, captions cut to the longest
  in the batch, bf16 autocast on CUDA); images/s and captions/s of each tower, and the wall time end to end.
- `original`: the original study's loop: (image, caption) pairs in batches of 16, fp32, every image decoded
  and encoded once per caption (5x), block outputs caught by forward hooks, full 77-token rows, one .npy
  file per layer and tower.

Prints one JSON object. `--quick` is a CPU size that runs in seconds (a tiny config, synthetic JPEGs it
draws itself); the real size is e.g.
`python bench/extract.py --model ViT-B-32 --device cuda --n_images 5000 --num_workers 15`.
"""
import json, os, shutil, tempfile, time, warnings
from pathlib import Path

import numpy as np
import torch
from fastcore.script import call_parse
from PIL import Image

from layeralign.data import CaptionSet
from layeralign.sources import load_dataset
from layeralign.core import write_json
from layeralign.extract import extract, image_batches
from layeralign.models import load_model
from layeralign.names import layer_names, TOWERS

_TINY = {'embed_dim': 64,
         'vision_cfg': {'image_size': 32, 'layers': 4, 'width': 64, 'patch_size': 8, 'head_width': 32},
         'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 64, 'heads': 2, 'layers': 4}}

_WORDS = ('a red square above a small blue circle next to the green triangle on a white background with two '
          'big yellow stars and one tiny black cross under an orange line').split()


def _make_data(folder:Path, n_images:int, width:int, height:int, captions_per_image:int=5, seed:int=0)->CaptionSet:
    "n_images JPEGs of smooth random colour fields (JPEG-typical content) and 5 captions of 6-30 words each"
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_images):
        small = rng.integers(0, 255, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
        im = Image.fromarray(small).resize((width, height), Image.BICUBIC)
        p = folder/f'{i:06d}.jpg'
        im.save(p, quality=90)
        paths.append(p)
    caps = [' '.join(rng.choice(_WORDS, size=int(rng.integers(6, 31)))) for _ in range(n_images * captions_per_image)]
    return CaptionSet(paths, caps, np.repeat(np.arange(n_images), captions_per_image), name='bench', split='test')


def _subset(data:CaptionSet, n_images:int)->CaptionSet:
    "The first n_images images of a CaptionSet and their captions"
    keep = data.caption_image < n_images
    return CaptionSet(data.image_paths[:n_images], [c for c, k in zip(data.captions, keep) if k], data.caption_image[keep],
                      name=data.name, split=data.split)


def _sync(device):
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


def _decode(data, preprocess, batch_size, num_workers, device)->dict:
    "JPEG decode + preprocess only (and the copy to the device), as extract feeds its image tower (`image_batches`)"
    start, n = time.time(), 0
    for _, ok, _, _ in image_batches(data.image_paths, preprocess, batch_size, num_workers, device): n += int(ok.sum())
    _sync(device)
    secs = time.time() - start
    return {'images_per_s': n / secs, 'seconds': secs}


class _Pairs(torch.utils.data.Dataset):
    "The original pipeline's dataset: one (image, caption) pair per caption, the image decoded every time"
    def __init__(self, data, preprocess, tokenizer): self.data, self.preprocess, self.tokenizer = data, preprocess, tokenizer
    def __len__(self): return self.data.n_captions
    def __getitem__(self, i):
        with Image.open(self.data.image_paths[self.data.caption_image[i]]) as im: img = self.preprocess(im)
        return img, self.tokenizer([self.data.captions[i]])[0]


def _original(data, model_name, pretrained, device, num_workers, out:Path, batch_size:int=16)->dict:
    "The original loop: pairs in batches of 16, fp32, hooks on every block, full rows, per-layer .npy files"
    start = time.time()
    torch.manual_seed(0)                                  # the same random init as extract's
    model, preprocess, tokenizer = load_model(model_name, pretrained, device=device)
    blocks = {'image': model.visual.transformer.resblocks, 'text': model.transformer.resblocks}
    caught = {t: [] for t in TOWERS}
    hooks = [b.register_forward_hook(lambda m, i, o, t=t: caught[t].append(o)) for t in TOWERS for b in blocks[t]]
    feats = {t: {l: [] for l in layer_names(len(blocks[t]))} for t in TOWERS}
    dl = torch.utils.data.DataLoader(_Pairs(data, preprocess, tokenizer), batch_size=batch_size, num_workers=num_workers,
                                     shuffle=False)
    with torch.no_grad():
        for img, tok in dl:
            img, tok = img.to(device), tok.to(device)
            for t in TOWERS: caught[t].clear()
            fi, ft = model.encode_image(img), model.encode_text(tok)
            eos = tok.argmax(-1)
            for k, o in enumerate(caught['image']): feats['image'][f'L{k+1}'].append(o[:, 0].cpu().numpy())
            for k, o in enumerate(caught['text']): feats['text'][f'L{k+1}'].append(o[torch.arange(len(tok)), eos].cpu().numpy())
            feats['image']['final'].append(fi.cpu().numpy())
            feats['text']['final'].append(ft.cpu().numpy())
    for h in hooks: h.remove()
    out.mkdir(parents=True, exist_ok=True)
    for t in TOWERS:
        for l, v in feats[t].items(): np.save(out/f'{t}_{l}.npy', np.concatenate(v))
    secs = time.time() - start
    return {'seconds': secs, 'pairs_per_s': data.n_captions / secs, 'images_per_s': data.n_images / secs,
            'captions_per_s': data.n_captions / secs, 'image_encodes': data.n_captions}


@call_parse
def main(quick:bool=False,         # CPU size that runs in seconds: tiny config, small synthetic JPEGs
         model:str=None,           # open_clip model name or config JSON (default: ViT-B-32; a tiny config with --quick)
         pretrained:str=None,      # weights tag or file; default random init (weights do not change speed)
         device:str=None,          # 'cuda' or 'cpu' (default: cuda when available)
         n_images:int=None,        # images (5 captions each); default 2000, 48 with --quick
         image_px:str='500x375',   # size of the drawn JPEGs, WIDTHxHEIGHT (Flickr30k-like by default)
         num_workers:int=None,     # decoding workers for all three (default: extract's default for the device)
         batch_size:int=None,      # extract's batch size (default: extract's default for the device)
         skip_original:bool=False, # leave out the original-style loop (it is slow at real sizes)
         keep:str=None,            # keep the data and outputs in this folder instead of a temporary one
         threads:int=None,         # torch CPU threads (default: torch's own choice)
         dataset:str=None,         # real data instead of drawn JPEGs: a name or path for layeralign.sources.load_dataset
         split:str='test',         # the split of `dataset`
        ):
    "Time extract vs the original loop vs JPEG decoding; print JSON"
    warnings.simplefilter('ignore')
    if threads: torch.set_num_threads(threads)
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix='la-bench-'))
    try:
        if quick:
            n_images = n_images or 48
            w, h = 64, 48
            if model is None:
                write_json(work/'bench-tiny.json', _TINY)
                model = str(work/'bench-tiny.json')
        else:
            n_images = n_images or 2000
            w, h = (int(v) for v in image_px.lower().split('x'))
            model = model or 'ViT-B-32'
        cuda = torch.device(device).type == 'cuda'
        workers = num_workers if num_workers is not None else (min(16, max(1, (os.cpu_count() or 2) - 1)) if cuda else 0)
        t0 = time.time()
        if dataset: data = _subset(load_dataset(dataset, split), n_images)
        else: data = _make_data(work/'images', n_images, w, h)
        make_s = time.time() - t0
        _, preprocess, _ = load_model(model, pretrained, device='cpu')
        bs = batch_size or (256 if cuda else 32)           # extract's default image batch
        res = {'model': Path(model).stem if model.endswith('.json') else model, 'pretrained': pretrained, 'device': device,
               'gpu': torch.cuda.get_device_name() if cuda else None, 'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(), 'torch': torch.__version__,
               'data': data.name, 'n_images': data.n_images, 'n_captions': data.n_captions, 'image_px': None if dataset else f'{w}x{h}', 'num_workers': workers,
               'draw_images_s': round(make_s, 2)}
        res['decode'] = _decode(data, preprocess, bs, workers, device)
        t0 = time.time()
        torch.manual_seed(0)
        st = extract(data, model, pretrained, work/'store', device=device, batch_size=batch_size, num_workers=workers,
                     progress=False)
        res['extract'] = dict(st.manifest['speed'], seconds=time.time() - t0, batch_size=bs,
                              precision=st.manifest['precision'], layers={t: len(st.layers[t]) for t in TOWERS})
        res['extract']['images_vs_decode'] = res['extract']['images_per_s'] / res['decode']['images_per_s']
        if not skip_original:
            res['original'] = _original(data, model, pretrained, device, workers, work/'original')
            fin = np.load(work/'original'/'image_final.npy')[np.searchsorted(data.caption_image, np.arange(data.n_images))]
            ours = st.load('image', 'final').numpy()
            cos = (fin * ours).sum(-1) / np.linalg.norm(fin, axis=-1) / np.linalg.norm(ours, axis=-1)
            res['agreement_min_cosine_image_final'] = float(cos.min())
            res['speedup_end_to_end'] = res['original']['seconds'] / res['extract']['seconds']
        res = json.loads(json.dumps(res, default=float), parse_float=lambda s: round(float(s), 4))
        print(json.dumps(res, indent=2))
    finally:
        if not keep: shutil.rmtree(work, ignore_errors=True)
