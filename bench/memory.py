"""Memory of real sizes, from the formulas alone (nothing is allocated, no GPU needed): prints JSON.

  python bench/memory.py            # Flickr30k: ViT-B-32, ViT-L-14, ViT-H-14, and the README's Llama-3-8B x DINOv2-L

For each grid: what `train_grid` holds on the device (`grid_memory`, 02_projection: float16 stores on CUDA, batch 256,
linear projections), in GiB: the features (train + val), the training state (weights, gradients, two AdamW moments), one
batch's work, the peak; the peak the code had before issue 23 (the stacks built beside the loaded layers, the best
weights a fifth copy on the device); and the groups of pairs an 80 GB GPU trains them in (90% of it free). Then
`fit_text_batch`'s Llama-3-8B batch on 80 GB without and with the features waiting to be written, and the metrics'
memory of a 13-layer text tower at N = 29,000 (every Flickr30k training image) and at the default N = 1,024.
"""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from layeralign.names import layer_names, check_pairs, BASELINE, FINAL
from layeralign.projection import grid_memory, store_shapes, _memory_groups
from layeralign.towers import tower_layers, tower_widths, fit_text_batch, text_memory, waiting_features
from layeralign.metrics import metrics_memory, FAST_METRICS

SPLITS = {'train': (29000, 145000), 'val': (1014, 5070)}   # Flickr30k's Karpathy split: images, captions
GPU = 80e9                                                # an 80 GB card (H100)
gib = lambda n: round(n / 2**30, 2)

def grid(name, layers, widths, embed_dim=None):
    "The memory figures of one model's whole grid on Flickr30k"
    train, val = (store_shapes(*SPLITS[s], layers, widths, 'float16', s) for s in ('train', 'val'))
    pairs = [p for p in check_pairs(layers, 'all', name) if p != BASELINE]
    m = grid_memory(train, val, pairs, 256, 'cuda', embed_dim)
    before = 2 * m['features'] + m['state'] * 5 // 4 + m['indices'] + m['batch']   # stacks beside the layers; best on the device
    groups = _memory_groups(train, val, pairs, 0.9 * GPU, 256, 'cuda', embed_dim, {})
    return dict(model=name, pairs=len(pairs), features=gib(m['features']), state=gib(m['state']), batch=gib(m['batch']),
                peak=gib(m['peak']), peak_before=gib(before), host_best_weights=gib(m['host']),
                groups_on_80GB=len(groups), largest_group=max(map(len, groups)))

llama = dict(model_type='llama', hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
             intermediate_size=14336, vocab_size=128256)
two = {'image': layer_names(24, final=False), 'text': layer_names(32, final=False)}   # DINOv2-L's 24 blocks, Llama's 32
out = dict(grids=[grid(m, tower_layers(m, None), tower_widths(m, None)) for m in ('ViT-B-32', 'ViT-L-14', 'ViT-H-14')] +
                 [grid('timm:vit_large_patch14_dinov2.lvd142m x hf:meta-llama/Meta-Llama-3-8B', two,
                       {'image': {'L': 1024, FINAL: None}, 'text': {'L': 4096, FINAL: None}})],
           llama_text_batch_80GB=dict(alone=fit_text_batch(llama, GPU), with_waiting_features=fit_text_batch(llama, GPU, held=waiting_features(4096, 33)),
                                      waiting_GiB_per_shard_at_2048=gib(waiting_features(4096, 33) * 2048 / 2)),
           metrics_13_layers=dict(N_29000=gib(metrics_memory(29000, 13, FAST_METRICS)), N_1024=gib(metrics_memory(1024, 13, FAST_METRICS))))
print(json.dumps(out, indent=1))
