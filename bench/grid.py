"""Benchmark of `layeralign.projection.train_grid` against a loop in the original pipeline's style, on the same
store in the same run.

- `grid`: `train_grid` over every layer pair of the store but the final x final baseline (13 x 13 - 1 = 168
  for ViT-B-32), all pairs together: features resident on the device, one random caption per image per epoch
  (an epoch is n_images rows), batched matmuls over stacked projectors, validation every epoch. Early
  stopping is off (patience > epochs) so that every pair runs every epoch.
- `original`: the original study's loop, one pair at a time: a torch DataLoader over pre-paired rows
  (every caption with its image, so images repeated 5x; an epoch is n_captions rows), shuffled, batch 256,
  fp32, an nn.Module and torch's AdamW, validation every epoch over the val rows. Timed on a few pairs;
  its grid time is extrapolated (seconds per epoch per pair x pairs).

The two define an epoch differently (one caption per image vs every caption), so the JSON gives both
`speedup_per_epoch` (the grid's epoch against the original's epochs of every pair) and
`speedup_throughput` (pair-rows per second, the like-for-like figure).

Features are random, of the real shapes (ViT-B-32: image L1..L12 768-d, final 512; text L1..L12 and final
512; Flickr30k's 29,000 train images x 5 captions and 1,014 val), written once as float16 FeatureStores.
Prints one JSON object. `--quick` is a CPU size that runs in seconds; the real one is
`python bench/grid.py --device cuda` (add `--precision bf16` for autocast, `--epochs 20` by default).
"""
import json, platform, shutil, tempfile, time
from pathlib import Path

import torch
from fastcore.script import call_parse
from open_clip.loss import ClipLoss

from layeralign.store import FeatureStore
from layeralign.testing import toy_stores
from layeralign.projection import train_grid
from layeralign.probe import init_pair
from layeralign.names import grid_pairs, parse_pair, pair_name


def _sync(device):
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


def _original_style(train:FeatureStore, val:FeatureStore, pair:str, epochs:int, device:str, batch_size:int=256,
                    lr:float=1e-4, weight_decay:float=0.1, projection:str='linear')->list:
    "One pair the original way; returns the wall seconds of each epoch (train + validation)"
    t, i = parse_pair(pair)
    # pre-paired rows: every caption with a copy of its image's features
    ds = torch.utils.data.TensorDataset(train.load('text', t), train.load('image', i)[train.caption_image])
    vds = torch.utils.data.TensorDataset(val.load('text', t), val.load('image', i)[val.caption_image])
    dl = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True)
    vdl = torch.utils.data.DataLoader(vds, batch_size=batch_size)
    model = init_pair(pair, train.dims['text'][t], train.dims['image'][i], train.dims['image']['final'], projection).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn, times = ClipLoss(), []
    for epoch in range(epochs):
        _sync(device); start = time.time()
        model.train()
        for xt, xi in dl:
            te, ie, s = model(xt.to(device), xi.to(device))
            loss = loss_fn(ie, te, s)
            opt.zero_grad(); loss.backward(); opt.step()
        model.eval()
        with torch.no_grad():
            _ = sum(loss_fn(*model(xt.to(device), xi.to(device))[1::-1], model.logit_scale.exp()).item() for xt, xi in vdl)
        _sync(device); times.append(time.time() - start)
    return times


@call_parse
def main(quick:bool=False,         # a CPU size that runs in seconds: 3 blocks, 1,024 images, 1 epoch
         device:str='cpu',         # 'cpu' or 'cuda'
         epochs:int=None,          # epochs of the grid (default 20; 1 with --quick)
         n_train:int=None,         # train images (default 29,000; 1,024 with --quick)
         n_val:int=None,           # val images (default 1,014; 128 with --quick)
         n_blocks:int=None,        # blocks per tower (default 12; 3 with --quick)
         image_dim:int=768,        # image block width
         text_dim:int=512,         # text block width
         embed_dim:int=512,        # shared width
         projection:str='linear',  # 'linear' or 'mlp'
         precision:str='fp32',     # 'fp32' or 'bf16' (autocast on CUDA) for the grid
         batch_size:int=256,
         orig_pairs:int=2,         # pairs timed in the original style
         orig_epochs:int=1,        # epochs per timed original-style pair
         stores:str=None,          # a directory to keep (and reuse) the random stores in; default a temporary one
         out:str=None,             # also write the JSON here
         threads:int=None,         # torch CPU threads (default: torch's own choice)
        ):
    "Time train_grid against the original one-pair-at-a-time loop; print JSON"
    if threads: torch.set_num_threads(threads)
    epochs = epochs or (1 if quick else 20)
    n_train = n_train or (1024 if quick else 29000)
    n_val = n_val or (128 if quick else 1014)
    n_blocks = n_blocks or (3 if quick else 12)
    tmp = Path(tempfile.mkdtemp(prefix='layeralign-bench-'))
    root = Path(stores) if stores else tmp/'stores'
    start = time.time()
    if (root/'train'/'manifest.json').exists(): train, val = FeatureStore(root/'train'), FeatureStore(root/'val')
    else:
        train, val = toy_stores(root, n_train=n_train, n_val=n_val, n_blocks=n_blocks, image_dim=image_dim, text_dim=text_dim,
                                embed_dim=embed_dim, latent_dim=8, dtype='float16', structured=False)
    make_s = time.time() - start
    pairs = [p for p in grid_pairs(train) if p != pair_name('final', 'final')]
    try:
        _sync(device); start = time.time()
        hist = train_grid(train, val, tmp/'grid', pairs=pairs, projection=projection, epochs=epochs, batch_size=batch_size,
                          patience=epochs + 1, device=device, precision=precision, progress=False)
        _sync(device); grid_total = time.time() - start
        epoch_s = [r['seconds'] for r in next(iter(hist.values()))]
        steady = epoch_s[1:] or epoch_s
        grid_epoch = sum(steady) / len(steady)
        # the original style, on pairs spread over the grid
        timed = [pairs[round(k * (len(pairs) - 1) / max(1, orig_pairs - 1))] for k in range(orig_pairs)]
        orig = {p: _original_style(train, val, p, orig_epochs, device, batch_size, projection=projection) for p in timed}
        orig_epoch = sum(sum(v) for v in orig.values()) / sum(len(v) for v in orig.values())
    finally:
        shutil.rmtree(tmp/'grid', ignore_errors=True)
        if not stores: shutil.rmtree(tmp, ignore_errors=True)
    P, n_caps = len(pairs), train.n_captions
    res = dict(
        device=torch.cuda.get_device_name() if torch.device(device).type == 'cuda' else platform.processor() or 'cpu',
        torch=torch.__version__, threads=torch.get_num_threads(),
        setting=dict(quick=quick, n_train_images=train.n_images, n_train_captions=n_caps, n_val_images=val.n_images,
                     layers_per_tower=len(train.layers['image']), pairs=P, dims=train.dims, projection=projection,
                     precision=precision, batch_size=batch_size, store_dtype=train.manifest['dtype'], make_stores_s=round(make_s, 2)),
        grid=dict(epochs=epochs, total_s=round(grid_total, 3), epoch_s=[round(s, 4) for s in epoch_s],
                  seconds_per_epoch=round(grid_epoch, 4), rows_per_epoch=train.n_images,
                  pair_rows_per_s=round(P * train.n_images / grid_epoch, 1),
                  setup_s=round(grid_total - sum(epoch_s), 3)),
        original=dict(pairs_timed=timed, epochs=orig_epochs, seconds_per_epoch_per_pair=round(orig_epoch, 4),
                      rows_per_epoch=n_caps, pair_rows_per_s=round(n_caps / orig_epoch, 1),
                      grid_epoch_s_extrapolated=round(orig_epoch * P, 2)),
    )
    res['speedup_per_epoch'] = round(orig_epoch * P / grid_epoch, 2)
    res['speedup_throughput'] = round(res['grid']['pair_rows_per_s'] / res['original']['pair_rows_per_s'], 2)
    text = json.dumps(res, indent=2)
    print(text)
    if out: Path(out).write_text(text)
    return res
