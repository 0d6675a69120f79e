"""`layeralign run` under torchrun against the same run in one process: both timed, their grids compared.

The whole run (data, extraction of every store, training, projection, scoring, report) twice from nothing, each
under a LAYERALIGN_HOME of its own: once as one process, once as `torchrun --nproc_per_node RANKS` (the ranks share
the extraction, then rank 0 alone trains, scores and reports; `08_pipeline`). With 2 GPUs each rank takes its own;
with one, the ranks share it (`cuda:<LOCAL_RANK mod 1>`), which checks the path but says nothing of speed.
Prints one JSON object: times, whether grid.csv (and grid_control.csv) are the same, their largest difference, and
whether the ranks but 0 printed nothing.
  python bench/ranks.py --device cuda     # on a GPU machine (bench/gpu.sh)
  python bench/ranks.py --quick           # 2 CPU ranks on a 60-image world: checks the script in a minute
"""
import json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import pandas as pd
from fastcore.script import call_parse

CLI = 'import sys; from layeralign.cli import main; sys.exit(main())'


def _launch(cmd:list, home:Path, timeout:float)->float: # seconds taken
    "Run `cmd` under LAYERALIGN_HOME=home; its output goes to home/log.txt; an error names the log when it fails"
    env = dict(os.environ, LAYERALIGN_HOME=str(home), PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get('PYTHONPATH', '')]))
    home.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(home/'log.txt', 'w') as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout).returncode
    if rc: raise SystemExit(f"{' '.join(cmd[:6])} ... failed (exit {rc}); see {home/'log.txt'}")
    return time.time() - t0


def _compare(a:Path, b:Path)->dict:
    "Are the two runs' grids the same, and by how much do their numbers differ at most?"
    out = {}
    for f in ('grid.csv', 'grid_control.csv'):
        if not (a/f).exists(): continue
        x, y = pd.read_csv(a/f), pd.read_csv(b/f)
        num = x.select_dtypes('number').columns
        out[f] = dict(same=x.equals(y), max_abs_diff=float((x[num] - y[num]).abs().max().max()) if x.shape == y.shape else None)
    return out


@call_parse
def main(device:str='cuda',        # 'cuda' or 'cpu'
         ranks:int=2,              # torchrun's --nproc_per_node
         model:str='ViT-B-32',     # the run's model
         pretrained:str='none',    # its weights ('none': random, nothing to download)
         synthetic_images:int=3000,# the synthetic world's size
         epochs:int=5,             # most epochs per pair
         quick:bool=False,         # the tiny CPU size: 2 ranks, layeralign-tiny, 60 images, 1 epoch
         timeout:float=1800,       # seconds for each run
         keep:bool=False,          # keep the two homes (printed) instead of removing them
        ):
    "Time `layeralign run` in one process and under torchrun, and compare their grids"
    if quick: device, model, pretrained, synthetic_images, epochs = 'cpu', 'layeralign-tiny', 'synthetic', 60, 1
    import torch
    gpus = torch.cuda.device_count() if device == 'cuda' else 0
    work = Path(tempfile.mkdtemp(prefix='layeralign-ranks-'))
    script = work/'layeralign_cli.py'; script.write_text(CLI)
    args = ['run', '--model', model, '--pretrained', pretrained, '--synthetic_images', str(synthetic_images), '--epochs', str(epochs),
            '--device', device] + (['--batch_size', '4', '--threads', '1', '--metrics', 'none', '--pairs', 'text_L2_image_final,text_final_image_L2']
                                    if quick else [])
    one = _launch([sys.executable, str(script), *args, '--out', str(work/'one'/'run')], work/'one', timeout)
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(ranks),
                '--log_dir', str(work/'ranks'/'logs'), '--redirects', '3', str(script), *args, '--out', str(work/'ranks'/'run')]
    shared = _launch(torchrun, work/'ranks', timeout)
    logs = [d for d in (work/'ranks'/'logs').glob('*/attempt_0/*') if d.name != '0']
    silent = all((d/f).read_text() == '' for d in logs for f in ('stdout.log', 'stderr.log'))
    print(json.dumps(dict(device=device, gpus=gpus, gpu=torch.cuda.get_device_name(0) if gpus else None, ranks=ranks,
                          model=model, pretrained=pretrained, synthetic_images=synthetic_images, epochs=epochs,
                          one_process_s=round(one, 1), torchrun_s=round(shared, 1), grids=_compare(work/'one'/'run', work/'ranks'/'run'),
                          other_ranks_silent=silent, kept=str(work) if keep else None), indent=1))
    if not keep: shutil.rmtree(work, ignore_errors=True)
