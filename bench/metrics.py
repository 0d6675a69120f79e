"""Benchmark of `layeralign.metrics.similarity_grid` against platonic-rep's way, on the same store in the same run.

- `ours`: `similarity_grid` over every (text layer, image layer) pair, one metric at a time (so each metric's time is
  its own) and the five fast metrics together: each layer's Gram matrix / neighbour lists computed once, pairs
  combined from them.
- `theirs`: platonic-rep's per-pair loop (`measure_alignment.compute_score` calling `AlignmentMetrics.measure`):
  for every pair, L2-normalise both sides and call the metric, which recomputes both sides' neighbours or Gram
  matrices (and for the CKAs / cknna three N x N x N products per HSIC). Its code is re-implemented below
  (the same reference the tests of nbs/07_metrics.ipynb hold layeralign to), with a plain Python Levenshtein for
  torchaudio's and the exact SVD for `torch.svd_lowrank`. Both sides get the same prepared layers (outliers
  clamped at the 0.95 quantile per layer), so the numbers must agree: `max_abs_diff` per metric.

Features are random, of the real shapes (ViT-B-32: image L1..L12 768-d, final 512; text L1..L12 and final 512),
N = 1,024 image-caption pairs as in platonic-rep, written once as a float16 FeatureStore. `--ref_pairs` times
their loop on that many pairs spread over the grid and extrapolates to the whole grid (default: every pair).
Prints one JSON object. `--quick` is a CPU size that runs in seconds.
"""
import json, platform, shutil, tempfile, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fastcore.script import call_parse

from layeralign.store import FeatureStore
from layeralign.metrics import METRICS, FAST_METRICS, KNN_METRICS, similarity_grid, prepare_features, _paired_rows
from layeralign.projection import toy_stores
from layeralign.names import grid_pairs, parse_pair


# ---- platonic-rep's per-pair path (minyoungg/platonic-rep metrics.py), re-implemented as the reference ----
def _nn(feats, topk): return (feats @ feats.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :topk]

def _hsic_unbiased(K, L):
    m = K.shape[0]
    Kt, Lt = K.clone().fill_diagonal_(0), L.clone().fill_diagonal_(0)
    v = torch.sum(Kt * Lt.T) + torch.sum(Kt) * torch.sum(Lt) / ((m - 1) * (m - 2)) - 2 * torch.sum(torch.mm(Kt, Lt)) / (m - 2)
    return v / (m * (m - 3))

def _hsic_biased(K, L):
    H = torch.eye(K.shape[0], dtype=K.dtype, device=K.device) - 1 / K.shape[0]
    return torch.trace(K @ H @ L @ H)

def _rows(X, Y, fn):
    X, Y = X.cpu().numpy(), Y.cpu().numpy()
    return torch.tensor([fn(X[i], Y[i]) for i in range(len(X))], dtype=torch.float64)

def _lcs(x, y):
    m, n = len(x), len(y)
    dp = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            dp[i][j] = dp[i-1][j-1] + 1 if x[i-1] == y[j-1] else max(dp[i-1][j], dp[i][j-1])
    return dp[m][n]

def _levenshtein(x, y):
    prev = list(range(len(y) + 1))
    for i in range(1, len(x) + 1):
        cur = [i] + [0] * len(y)
        for j in range(1, len(y) + 1): cur[j] = min(prev[j] + 1, cur[j-1] + 1, prev[j-1] + (x[i-1] != y[j-1]))
        prev = cur
    return prev[-1]

def measure(metric, A, B, topk=10, cca_dim=10):
    "AlignmentMetrics.measure(metric, A, B, topk=topk): one pair, everything recomputed"
    dev = A.device
    if metric in ('mutual_knn', 'cycle_knn', 'lcs_knn', 'edit_distance_knn'):
        knn_A, knn_B = _nn(A, topk), _nn(B, topk)
        n = knn_A.shape[0]
        if metric == 'mutual_knn':
            r = torch.arange(n, device=dev).unsqueeze(1)
            mA, mB = torch.zeros(n, n, device=dev), torch.zeros(n, n, device=dev)
            mA[r, knn_A] = 1.0; mB[r, knn_B] = 1.0
            return ((mA * mB).sum(dim=1) / topk).mean().item()
        if metric == 'cycle_knn':
            acc = knn_A[knn_B] == torch.arange(n, device=dev).view(-1, 1, 1)
            return acc.float().view(n, -1).max(dim=1).values.mean().item()
        if metric == 'lcs_knn': return _rows(knn_A, knn_B, _lcs).float().mean().item()
        return (1 - torch.mean(_rows(knn_A, knn_B, _levenshtein)) / topk).item()
    if metric in ('cka', 'unbiased_cka'):
        K, L = A @ A.T, B @ B.T
        hsic = _hsic_unbiased if metric == 'unbiased_cka' else _hsic_biased
        return (hsic(K, L) / (torch.sqrt(hsic(K, K) * hsic(L, L)) + 1e-6)).item()
    if metric == 'cknna':
        n = A.shape[0]
        K, L = A @ A.T, B @ B.T
        def similarity(K, L):
            _, iK = torch.topk(K.clone().fill_diagonal_(float('-inf')), topk, dim=1)
            _, iL = torch.topk(L.clone().fill_diagonal_(float('-inf')), topk, dim=1)
            mask = torch.zeros(n, n, device=dev).scatter_(1, iK, 1) * torch.zeros(n, n, device=dev).scatter_(1, iL, 1)
            return _hsic_unbiased(mask * K, mask * L)
        return similarity(K, L).item() / (torch.sqrt(similarity(K, K) * similarity(L, L)) + 1e-6).item()
    if metric == 'svcca':
        from sklearn.cross_decomposition import CCA
        def std(act):
            act = act - torch.mean(act, axis=0)
            return act / (torch.std(act, axis=0) + 1e-8)
        U1 = torch.linalg.svd(std(A), full_matrices=False)[0][:, :cca_dim].cpu().numpy()
        U2 = torch.linalg.svd(std(B), full_matrices=False)[0][:, :cca_dim].cpu().numpy()
        cca = CCA(n_components=cca_dim)
        cca.fit(U1, U2)
        U1_c, U2_c = cca.transform(U1, U2)
        return float(np.mean([np.corrcoef(U1_c[:, i], U2_c[:, i])[0, 1] for i in range(cca_dim)]))
    raise ValueError(metric)


def _sync(device):
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


@call_parse
def main(quick:bool=False,        # a CPU size that runs in seconds: 3 blocks, N = 256
         metrics:str='all',       # 'all', 'fast', or comma-separated names
         device:str='cpu',        # 'cpu' or 'cuda'
         n:int=None,              # image-caption pairs (default 1,024; 256 with --quick)
         n_blocks:int=None,       # blocks per tower (default 12; 3 with --quick)
         image_dim:int=768, text_dim:int=512, embed_dim:int=512,
         topk:int=10,
         ref_pairs:int=None,      # pairs timed in platonic-rep's way (spread over the grid); default: all
         stores:str=None,         # a directory to keep (and reuse) the random store in; default a temporary one
         out:str=None,            # also write the JSON here
         threads:int=None,        # torch CPU threads (default: torch's own choice)
        ):
    "Time similarity_grid against platonic-rep's per-pair loop, metric by metric; check they agree; print JSON"
    if threads: torch.set_num_threads(threads)
    names = {'all': list(METRICS), 'fast': list(FAST_METRICS)}.get(metrics, [m.strip() for m in metrics.split(',')])
    n = n or (256 if quick else 1024)
    n_blocks = n_blocks or (3 if quick else 12)
    tmp = Path(tempfile.mkdtemp(prefix='layeralign-bench-'))
    root = Path(stores) if stores else tmp/'stores'
    try:
        if (root/'train'/'manifest.json').exists(): store = FeatureStore(root/'train')
        else:
            store = toy_stores(root, n_train=n, n_val=8, captions_per_image=1, n_blocks=n_blocks, image_dim=image_dim,
                               text_dim=text_dim, embed_dim=embed_dim, dtype='float16', structured=False)[0]
        pairs = [parse_pair(p) for p in grid_pairs(store)]
        P = len(pairs)
        # ours, one metric at a time, then the fast five together
        ours, grids = {}, {}
        for m in names:
            _sync(device); start = time.time()
            grids[m] = similarity_grid(store, [m], topk=topk, device=device, progress=False)
            _sync(device); ours[m] = time.time() - start
        fast = [m for m in FAST_METRICS if m in names]
        _sync(device); start = time.time()
        together = similarity_grid(store, fast, topk=topk, device=device, progress=False) if fast else None
        _sync(device); fast_together = time.time() - start
        # theirs: the same prepared layers, per pair normalise + measure
        images, captions = _paired_rows(store.caption_image, store.n_images, None, 0)
        rows = {'image': images, 'text': captions}
        _sync(device); start = time.time()
        prepared = {(tw, l): prepare_features(store.load(tw, l, device=device)[rows[tw].to(device)], normalize=False)
                    for tw in ('text', 'image') for l in store.layers[tw]}
        _sync(device); prepare_s = time.time() - start
        k = P if ref_pairs is None else max(1, min(ref_pairs, P))
        timed = [pairs[round(j * (P - 1) / max(1, k - 1))] for j in range(k)] if k < P else pairs
        theirs, diffs = {}, {}
        for m in names:
            ours_by_pair = grids[m].set_index('pair')[m]
            spent, worst = 0.0, 0.0
            for t, i in timed:
                _sync(device); start = time.time()
                score = measure(m, F.normalize(prepared['text', t], dim=-1), F.normalize(prepared['image', i], dim=-1), topk=topk)
                _sync(device); spent += time.time() - start
                worst = max(worst, abs(float(score) - ours_by_pair[f'text_{t}_image_{i}']))
            theirs[m], diffs[m] = spent / len(timed) * P + prepare_s, worst
        if together is not None:
            for m in fast: diffs[m] = max(diffs[m], float((together[m] - grids[m][m]).abs().max()))
    finally:
        if not stores: shutil.rmtree(tmp, ignore_errors=True)
    res = dict(
        device=torch.cuda.get_device_name() if torch.device(device).type == 'cuda' else platform.processor() or 'cpu',
        torch=torch.__version__, threads=torch.get_num_threads(),
        setting=dict(quick=quick, n_rows=n, layers_per_tower=len(store.layers['image']), pairs=P, topk=topk,
                     dims=store.dims, store_dtype=store.manifest['dtype'], ref_pairs_timed=len(timed)),
        metrics={m: dict(ours_s=round(ours[m], 3), theirs_s=round(theirs[m], 3) if len(timed) == P else None,
                         theirs_s_extrapolated=round(theirs[m], 3), speedup=round(theirs[m] / ours[m], 1),
                         max_abs_diff=float(f'{diffs[m]:.2e}')) for m in names},
    )
    if fast:
        theirs_fast = sum(theirs[m] for m in fast) - (len(fast) - 1) * prepare_s   # their layers are prepared once
        res['fast_together'] = dict(metrics=fast, ours_s=round(fast_together, 3), theirs_s=round(theirs_fast, 3),
                                    speedup=round(theirs_fast / fast_together, 1))
    text = json.dumps(res, indent=2)
    print(text)
    if out: Path(out).write_text(text)
    return res
