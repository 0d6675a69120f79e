"""Benchmark of the misalignment sweep's one pass (06b_misalign's `train_levels`) against one grid and five separate grids.

On a finished run's stores (`RUN_FOLDER`: its run.json names them; or `TRAIN,VAL,EVAL` store folders), with the whole
grid's pairs (the default run's; or `--pairs`) and `--epochs`:
`one_grid`: `train_grid` on the training store as it is; `five_separate`: `train_grid` on each level's misaligned store
(0, 0.1, 0.3, 0.5, 0.8, 'similar'; the stores are made before the clock starts), one after another in this process;
`five_one_pass`: `train_levels`, all five levels in one pass on the training store (a grid per level, the CPU's way);
`five_level_axis`: the same with all five levels as one grid (`together=5`, a GPU's way); `same_weights`: whether
every level's weights from both equal, to the byte, those of its separate run. `five_edges` is the sweep's default
(`misalign_pairs='edges'`): level 0 the whole grid, the four other levels only the grid's edges (each layer with the
other tower's final: what the sweep reports), in one pass; `same_weights_edges`: whether its edges' weights equal
those of the separate runs, to the byte. `sweep` times the whole
`misalign_sweep` (training, projecting and scoring the five levels, no purity; the default, edges above level 0),
`sweep_all` the same training the whole grid at every level, `sweep_one_level` the same for level 0 alone. Wall and CPU seconds; ratios of CPU seconds (the machine is shared: wall time waits on others). Prints one JSON
object. Run: `python bench/misalign.py RUN_FOLDER [--epochs 50] [--quick]`.
"""
import json, os, platform, tempfile, time, warnings
from pathlib import Path
import numpy as np
import torch
from fastcore.script import call_parse
from layeralign.store import FeatureStore
from layeralign.names import grid_pairs, BASELINE
from layeralign.misalign import misalign_sources, misaligned_store, store_captions, train_levels, misalign_sweep, edge_pairs
from layeralign.projection import train_grid


def _timed(fn)->dict:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return dict(wall_s=round(time.perf_counter() - w0, 2), cpu_s=round(time.process_time() - c0, 2))


@call_parse
def main(run:str,              # a finished run folder (its stores are read), or three store folders: TRAIN,VAL,EVAL
         epochs:int=50,        # at most this many epochs per grid (early stopping as in a run)
         pairs:str=None,       # comma-separated pairs; default: the run's own pairs
         threads:int=1,        # torch CPU threads
         quick:bool=False,     # 3 epochs, two pairs (one an edge)
         skip_sweep:bool=False,# only the training part
        ):
    torch.set_num_threads(threads)
    warnings.simplefilter('ignore')   # too-few-steps advice at small epochs
    if ',' in run: train, val, ev = (FeatureStore(p) for p in run.split(','))
    else:
        stages = json.loads((Path(run)/'run.json').read_text())['stages']
        train, val = (FeatureStore(stages['train']['settings'][k]['store']) for k in ('train', 'val'))
        ev = FeatureStore(stages['lens']['settings']['store'])
    names = pairs.split(',') if pairs else [p for p in grid_pairs(train) if p != BASELINE]   # the default run's: the whole grid
    if quick: epochs, names = 3, [names[0]] + edge_pairs(train.layers, names)[:1]   # an inner pair and an edge
    levels = [0, 0.1, 0.3, 0.5, 0.8]
    hp = dict(pairs=names, epochs=epochs, progress=False)
    out = dict(machine=platform.processor() or platform.machine(), threads=threads, torch=torch.__version__,
               n_images=train.n_images, pairs=len(names), epochs=epochs, levels=levels, load_before=os.getloadavg()[0])
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        sources = [misalign_sources(store_captions(train), f, 'similar', 0) for f in levels]
        stores = [train] + [misaligned_store(train, s, d/f'store-{f}') for f, s in zip(levels[1:], sources[1:])]
        train_grid(train, val, d/'warm', **dict(hp, pairs=names[:1], epochs=1))   # the stores read once, torch warmed up: not timed
        out['one_grid'] = _timed(lambda: train_grid(train, val, d/'one', **hp))
        out['five_separate'] = _timed(lambda: [train_grid(st, val, d/'sep'/f'{f}', **hp) for f, st in zip(levels, stores)])
        out['five_one_pass'] = _timed(lambda: train_levels(train, val, [(d/'pass'/f'{f}', s, None) for f, s in zip(levels, sources)], **hp))
        edges = edge_pairs(train.layers, names)
        out['edge_pairs'] = len(edges)
        out['five_edges'] = _timed(lambda: train_levels(train, val, [(d/'edges'/f'{f}', s, None, edges if f else None) for f, s in zip(levels, sources)], **hp))
        out['five_level_axis'] = _timed(lambda: train_levels(train, val, [(d/'axis'/f'{f}', s, None) for f, s in zip(levels, sources)], together=5, **hp))
        out['same_weights'] = all((d/way/f'{f}'/f'{p}.safetensors').read_bytes() == (d/'sep'/f'{f}'/f'{p}.safetensors').read_bytes()
                                  for f in levels for p in names for way in ('pass', 'axis'))
        out['same_weights_edges'] = all((d/'edges'/f'{f}'/f'{p}.safetensors').read_bytes() == (d/'sep'/f'{f}'/f'{p}.safetensors').read_bytes()
                                        for f in levels for p in (edges if f else names))
        out['edges_x_one_grid'] = round(out['five_edges']['cpu_s'] / out['one_grid']['cpu_s'], 2)
        out['one_pass_x_one_grid'] = round(out['five_one_pass']['cpu_s'] / out['one_grid']['cpu_s'], 2)
        out['separate_x_one_grid'] = round(out['five_separate']['cpu_s'] / out['one_grid']['cpu_s'], 2)
        out['one_pass_x_separate'] = round(out['five_one_pass']['cpu_s'] / out['five_separate']['cpu_s'], 2)
        out['level_axis_x_one_grid'] = round(out['five_level_axis']['cpu_s'] / out['one_grid']['cpu_s'], 2)
        if not skip_sweep:
            out['sweep_one_level'] = _timed(lambda: misalign_sweep(train, val, ev, d/'sweep1', [0], purity=False, **hp))
            out['sweep'] = _timed(lambda: misalign_sweep(train, val, ev, d/'sweep5', levels, purity=False, **hp))
            out['sweep_all'] = _timed(lambda: misalign_sweep(train, val, ev, d/'sweep5all', levels, misalign_pairs='all', purity=False, **hp))
            out['sweep_x_one_level'] = round(out['sweep']['cpu_s'] / out['sweep_one_level']['cpu_s'], 2)
            out['sweep_all_x_one_level'] = round(out['sweep_all']['cpu_s'] / out['sweep_one_level']['cpu_s'], 2)
    out['load_after'] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))
