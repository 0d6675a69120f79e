"""Benchmark of the purity stage (06a_purity) and of the misalignment sweep (06b_misalign), on stores of the tiny model.

`purity`: `purity_table` of every layer of both towers (all label sets) of a run's train and eval stores, then the
same with every trained pair's projected sides too (`RUN_FOLDER` names a run folder whose stores and projections are read;
its run.json says which stores), wall and CPU seconds, best of `--repeats`.

`misalign`: five levels (0, 0.1, 0.3, 0.5, 0.8) of `misalign_sweep` on the run's stores against five separate
runs of the same levels in the same process, both
with `--epochs` epochs and `--pairs` pairs (a separate run: its misaligned store, train_grid, project, evaluate_grid), and one
plain grid for scale: the sweep's CPU seconds as a multiple of one grid's and of the five separate runs'.
Prints one JSON object. `--quick` trains 3 epochs. Run: `python bench/purity.py RUN_FOLDER [--quick]`.
"""
import json, platform, tempfile, time
from pathlib import Path
import torch
from fastcore.script import call_parse
from layeralign.store import FeatureStore
from layeralign.purity import purity_table
from layeralign.misalign import misalign_sweep, misalign_sources, misaligned_store, store_captions
from layeralign.projection import train_grid
from layeralign.project_eval import project
from layeralign.retrieval import evaluate_grid


def _timed(fn, repeats:int=1)->dict:
    best = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        got = dict(wall_s=round(time.perf_counter() - w0, 2), cpu_s=round(time.process_time() - c0, 2))
        best = got if best is None or got['wall_s'] < best['wall_s'] else best
    return best


@call_parse
def main(run:str,              # a finished run folder of the default settings (its stores and projections are read)
         epochs:int=50,        # epochs of each grid in the misalignment part
         pairs:str='text_L2_image_final,text_final_image_L2,text_L4_image_L4,text_L1_image_L3', # the grid's pairs there
         repeats:int=1,        # best of this many tries (purity part)
         threads:int=2,        # torch CPU threads
         skip_misalign:bool=False, # only the purity part
         skip_purity:bool=False,   # only the misalignment part
         quick:bool=False,     # 3 epochs
        ):
    torch.set_num_threads(threads)
    run = Path(run)
    stages = json.loads((run/'run.json').read_text())['stages']
    train, val = (FeatureStore(stages['train']['settings'][k]['store']) for k in ('train', 'val'))
    ev = FeatureStore(stages['lens']['settings']['store'])   # the scored split's store
    out = dict(machine=platform.processor() or platform.machine(), threads=threads, torch=torch.__version__)
    if not skip_purity:
        out['purity_layers'] = _timed(lambda: purity_table(train, ev), repeats)
        out['purity_layers_and_projected'] = _timed(lambda: purity_table(train, ev, projections=run/'projections'), repeats)
    if not skip_misalign:
        epochs = 3 if quick else epochs
        levels, hp = [0, 0.1, 0.3, 0.5, 0.8], dict(pairs=pairs.split(','), epochs=epochs, progress=False)
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            def separate(f, folder):   # what a run of its own does after extraction: the store, the grid, projected, scored
                store = train if f == 0 else misaligned_store(train, misalign_sources(store_captions(train), f, 'similar', 0), folder/'store')
                train_grid(store, val, folder/'projections', **hp)
                project(ev, folder/'projections', folder/'projected', progress=False)
                evaluate_grid(folder/'projected', progress=False)
            out['one_grid'] = _timed(lambda: separate(0, d/'one'))
            out['five_separate'] = _timed(lambda: [separate(f, d/f'sep-{f}') for f in levels])
            out['sweep'] = _timed(lambda: misalign_sweep(train, val, ev, d/'sweep', levels, purity=False, **hp))
            out['sweep_x_one_grid'] = round(out['sweep']['cpu_s'] / out['one_grid']['cpu_s'], 2)
            out['sweep_x_five_separate'] = round(out['sweep']['cpu_s'] / out['five_separate']['cpu_s'], 2)
    print(json.dumps(out, indent=1))
