"""Benchmark of the purity stage (06a_purity), on stores of the tiny model.

`purity`: `purity_table` of every layer of both towers (all label sets) of a run's train and eval stores, then the
same with every trained pair's projected sides too (`RUN_FOLDER` names a run folder whose stores and projections are read;
its run.json says which stores), wall and CPU seconds, best of `--repeats`.

The misalignment sweep is timed by `bench/misalign.py`.
Prints one JSON object. Run: `python bench/purity.py RUN_FOLDER`.
"""
import json, platform, time
from pathlib import Path
import torch
from fastcore.script import call_parse
from layeralign.store import FeatureStore
from layeralign.purity import purity_table


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
         repeats:int=1,        # best of this many tries
         threads:int=2,        # torch CPU threads
        ):
    torch.set_num_threads(threads)
    run = Path(run)
    stages = json.loads((run/'run.json').read_text())['stages']
    train, val = (FeatureStore(stages['train']['settings'][k]['store']) for k in ('train', 'val'))
    ev = FeatureStore(stages['lens']['settings']['store'])   # the scored split's store
    out = dict(machine=platform.processor() or platform.machine(), threads=threads, torch=torch.__version__)
    out['purity_layers'] = _timed(lambda: purity_table(train, ev), repeats)
    out['purity_layers_and_projected'] = _timed(lambda: purity_table(train, ev, projections=run/'projections'), repeats)
    print(json.dumps(out, indent=1))
