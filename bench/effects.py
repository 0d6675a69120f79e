"""Benchmark of `layeralign.decompose.decompose` against a plain forward pass of the same tower, in the same run.

For each tower of each model: `forward` is open_clip's own `encode_image` / `encode_text` over the batches;
`layer` is `decompose(..., by='layer')` (every block's attention and MLP at the pooled position, through the head),
`head` is `by='head'` (each attention part split into its heads: one more key/value projection per block).
Each is timed on the same batches (best of `--repeats`), and the ratios `layer / forward` and `head / forward` are
reported beside the largest relative difference between the parts' sum and the forward's output.

Models: the built-in tiny model (its `synthetic` weights, 64 px images, the default eval split's size: 1,000 images,
5,000 captions) and a ViT-B-32 with random weights (224 px, weights do not change speed). Inputs are random images
and captions of the synthetic world's length (speed does not depend on the pixels). `--device cuda` runs on a GPU.
Prints one JSON object. `--quick` is a size that runs in seconds.
"""
import json, platform, time
import torch
from fastcore.script import call_parse
from layeralign.models import load_model
from layeralign.decompose import decompose


def _time(fn, batches, repeats:int, device)->float:
    "Best wall time of `fn` over all batches, of `repeats` tries"
    best = float('inf')
    for _ in range(repeats):
        if device.type == 'cuda': torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            for b in batches: fn(b)
        if device.type == 'cuda': torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def _tower(model, tower:str, batches:list, repeats:int, device)->dict:
    encode = model.encode_image if tower == 'image' else model.encode_text
    out = {'forward_s': _time(encode, batches, repeats, device)}
    for by in ('layer', 'head'):
        out[f'{by}_s'] = _time(lambda b: decompose(model, b, tower, by), batches, repeats, device)
        out[f'{by}_x_forward'] = round(out[f'{by}_s'] / out['forward_s'], 2)
        with torch.no_grad():
            parts, _ = decompose(model, batches[0], tower, by)
            want = encode(batches[0]).float()
        out[f'{by}_max_rel_err'] = float(((parts.sum(1) - want).norm(dim=-1) / want.norm(dim=-1)).max())
    return out


@call_parse
def main(device:str='cpu',       # 'cpu' or 'cuda'
         n_images:int=1000,      # images per tower run (the default run's eval split: 1,000)
         n_captions:int=5000,    # captions per tower run (5,000)
         vitb_images:int=64,     # images for ViT-B-32 (random weights)
         vitb_captions:int=256,  # captions for ViT-B-32
         batch_size:int=256,     # items per batch
         repeats:int=3,          # best of
         threads:int=0,          # torch CPU threads (0: torch's own)
         quick:bool=False,       # a CPU size that runs in seconds
        ):
    "Per-layer and per-head decomposition against a plain forward pass, tiny model and ViT-B-32; prints JSON"
    if quick: n_images, n_captions, vitb_images, vitb_captions, repeats = 64, 128, 4, 16, 1
    if threads: torch.set_num_threads(threads)
    dev, g = torch.device(device), torch.Generator().manual_seed(0)
    words = 'a small red circle to the left of a large blue square'.split()
    result = dict(device=str(dev), cpu=platform.processor() or platform.machine(), threads=torch.get_num_threads(), models={})
    for name, pretrained, n_img, n_cap in (('layeralign-tiny', 'synthetic', n_images, n_captions), ('ViT-B-32', None, vitb_images, vitb_captions)):
        model, _, tok = load_model(name, pretrained, dev)
        size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
        images = [torch.randn(min(batch_size, n_img - s), 3, size, size, generator=g).to(dev) for s in range(0, n_img, batch_size)]
        caps = [' '.join(words[:4 + (i % 8)]) for i in range(n_cap)]
        tokens = [tok(caps[s:s + batch_size]).to(dev) for s in range(0, n_cap, batch_size)]
        result['models'][name] = dict(n_images=n_img, n_captions=n_cap, image=_tower(model, 'image', images, repeats, dev),
                                      text=_tower(model, 'text', tokens, repeats, dev))
    print(json.dumps(result, indent=1))
