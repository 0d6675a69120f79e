"""What verifying a run's results costs on reuse: every file a stage wrote is checked against the size and sha256
its stage record (`run.json`) keeps, before the stage is called up to date (07b_stages), and the pairs' and projected
files against their own records (02_probe, 03_project_eval).

Measured on a copy of a finished default run (`layeralign run --threads 1`: the synthetic world of 6,000 images,
`layeralign-tiny`, 24 trained pairs and the baseline, the lens, the metrics and the control grid); the run folder
given is copied, never changed. The copy's stores are found under `LAYERALIGN_HOME`, as the run that made them had it.

- `upgrade_s`: the first run on the copy (with `--fresh`: the whole run, made anew in a temporary folder). A run folder made before checksums were kept is redone once, stage by
  stage (the trained pairs and projected files are kept; the tables and pictures are made again), to record them;
  0 work beyond the checks for a folder made by this version.
- `rerun_s`: a clean rerun, every stage up to date (the fastest of `--repeats`): what every later run pays in all.
- `verify_s`: the stage records' own check alone (`Stages.changed` of every stage: sizes, then sha256 of each file).
- `hash_s`, `hashed_mb`: all sha256 hashing inside one clean rerun (stage records, pair records, projected records,
  checkpoints' checksums), its time and the megabytes read.

Prints one JSON object.
"""
import json, os, shutil, tempfile, time, warnings
from pathlib import Path
from fastcore.script import call_parse

def _best(f, n): # the fastest of n runs, in seconds
    times = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); times.append(time.perf_counter() - t0)
    return min(times)

@call_parse
def main(run_dir:str='/work/scratch/new/run',   # a finished default run (copied, not changed)
         home:str='/work/scratch/new/home',     # the LAYERALIGN_HOME it was made with (its feature stores)
         threads:int=1,                          # torch CPU threads, as the run was made with
         repeats:int=3,                          # clean reruns timed (the fastest counts)
         fresh:bool=False,                       # measure a run folder made by this version instead (the same settings, made anew here, training included)
        ):
    os.environ['LAYERALIGN_HOME'] = home
    import layeralign.core as core, layeralign.project_eval as project_eval
    from layeralign.pipeline import run
    from layeralign.stages import Stages
    tmp = Path(tempfile.mkdtemp())
    try:
        copy = tmp/'run'
        if not fresh: shutil.copytree(run_dir, copy)         # copy2: modification times kept, so the stages' inputs match
        go = lambda: run(out=copy, threads=threads, verbose=False)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            t0 = time.perf_counter(); go(); upgrade = time.perf_counter() - t0
            files = [p for p in copy.rglob('*') if p.is_file()]
            rerun = _best(go, repeats)
            hashed = {'s': 0.0, 'bytes': 0}
            plain = core.file_sha256
            def counted(path):
                t = time.perf_counter(); h = plain(path)
                hashed['s'] += time.perf_counter() - t; hashed['bytes'] += Path(path).stat().st_size
                return h
            core.file_sha256 = project_eval.file_sha256 = counted
            try: go()
            finally: core.file_sha256 = project_eval.file_sha256 = plain
        st = Stages(copy)
        recorded = sum(len(r.get('files', {})) for r in st.rec['stages'].values())
        mb = sum((copy/f).stat().st_size for r in st.rec['stages'].values() for f in r.get('files', {})) / 1e6
        verify = _best(lambda: [st.changed(s) for s in st.rec['stages']], repeats)
        assert all(st.changed(s) == [] for s in st.rec['stages'])
        print(json.dumps(dict(run_dir='made anew' if fresh else run_dir, files=len(files), megabytes=round(sum(p.stat().st_size for p in files) / 1e6, 1),
                              stages=len(st.rec['stages']), recorded_files=recorded, recorded_mb=round(mb, 1),
                              upgrade_s=round(upgrade, 2), rerun_s=round(rerun, 3), verify_s=round(verify, 3),
                              verify_share_of_rerun=round(verify / rerun, 3), hash_s=round(hashed['s'], 3),
                              hashed_mb=round(hashed['bytes'] / 1e6, 1), hash_share_of_rerun=round(hashed['s'] / rerun, 3),
                              torch_threads=threads)))
    finally: shutil.rmtree(tmp, ignore_errors=True)
