"""layeralign's test run: every notebook through nbdev's test runner, plus the sync checks.

Prints one line per test and closes with `N passed, N failed`. Exit status 0 only when all pass.
Notebook cells flagged `slow`, `cuda` or `notest` (settings.ini `tst_flags`) are skipped, as in `nbdev_test`;
pass `--flags slow` to run the slow ones too.

The full run also checks the plain install: a venv with `pip install -e .` and no dev extras (kept in `.venv-plain/`
and rebuilt only when settings.ini or setup.py change; `--no-plain` leaves this check out) runs the README's
papermill commands for 02 -> 03 -> 04 on tiny stores; and the browser check (tools/browser_check.py; `--no-browser`
leaves it out): the explorer on a toy run and an executed 04_retrieval in JupyterLab, in a headless Chromium driven by
playwright; where Chromium, playwright or JupyterLab is missing it is skipped (a `SKIP` line says how to enable it).
"""
import argparse, hashlib, json, os, re, shutil, subprocess, sys, tempfile, time, traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
from browser_check import Skipped, check as browser_check


_THREADS = 1


def _run_nb(fn, flags):
    "Run one notebook as nbdev_test does, in its own process; return (name, ok, seconds, message)"
    start = time.time()
    env = dict(os.environ, MPLBACKEND=os.environ.get('MPLBACKEND', 'Agg'))
    env.setdefault('OMP_NUM_THREADS', str(_THREADS))   # notebooks run side by side: no core oversubscribed
    r = subprocess.run(['nbdev_test', '--path', str(fn), '--n_workers', '0', '--flags', ' '.join(flags)],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    ok = r.returncode == 0 and 'Success' in r.stdout
    return fn.name, ok, time.time() - start, '' if ok else (r.stdout + r.stderr)[-6000:]


def _check(name, fn):
    start = time.time()
    try:
        msg = fn()
        return name, not msg, time.time() - start, msg or ''
    except Skipped as e:                 # cannot run here: neither passed nor failed, and the line says how to enable it
        return name, None, time.time() - start, str(e)
    except Exception:
        return name, False, time.time() - start, traceback.format_exc()


def _git_changes(paths):
    out = subprocess.run(['git', 'status', '--porcelain', '--', *paths], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def check_export():
    "nbdev_export changes nothing: the package is what the notebooks say"
    before = _git_changes(['layeralign'])
    subprocess.run(['nbdev_export'], cwd=ROOT, check=True, capture_output=True)
    after = _git_changes(['layeralign'])
    return '' if before == after else f'nbdev_export changed layeralign/:\n{after}'


def check_clean():
    "nbdev_clean changes nothing: the notebooks are committed clean"
    before = _git_changes(['nbs'])
    subprocess.run(['nbdev_clean'], cwd=ROOT, check=True, capture_output=True)
    after = _git_changes(['nbs'])
    return '' if before == after else f'nbdev_clean changed nbs/:\n{after}'


def check_kernelspec():
    "Every notebook names its kernel and language (papermill needs them) and exports only from a dev install, never under papermill"
    bad = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        raw = json.loads(nb.read_text(encoding='utf-8'))
        meta = raw['metadata']
        if meta.get('kernelspec', {}).get('name') != 'python3' or meta.get('kernelspec', {}).get('language') != 'python':
            bad.append(f'{nb.name}: metadata.kernelspec is {meta.get("kernelspec")}, not python3 / python')
        if meta.get('language_info', {}).get('name') != 'python':
            bad.append(f'{nb.name}: metadata.language_info is {meta.get("language_info")}, not python')
        for cell in raw['cells']:
            src = ''.join(cell['source'])
            if cell['cell_type'] == 'code' and 'nbdev_export(' in src and ('except ImportError' not in src or "'# Parameters'" not in src):
                bad.append(f'{nb.name}: its nbdev_export() cell must not fail without nbdev nor run under papermill')
    return '\n'.join(bad)


def check_readme():
    "README.md is nbs/index.ipynb rendered to markdown"
    from make_readme import render
    want = render(ROOT/'nbs'/'index.ipynb')
    have = (ROOT/'README.md').read_text(encoding='utf-8')
    return '' if want == have else 'README.md is out of date: run `python tools/make_readme.py`'


def check_ci_command():
    "`.ci/run` runs the README's test command"
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    ci = (ROOT/'.ci'/'run').read_text(encoding='utf-8')
    cmd = 'python tools/run_tests.py'
    if cmd not in readme: return f'README.md does not show `{cmd}`'
    if cmd not in ci: return f'.ci/run does not run `{cmd}`'
    return ''


def check_browser():
    "The explorer on a toy run and an executed 04_retrieval, in JupyterLab in a headless Chromium (tools/browser_check.py)"
    return browser_check()


def _bench_quick():
    "Run `bench/gpu.sh` at the CI size (QUICK=1: extract.py, grid.py and metrics.py --quick) and check the JSON they wrote"
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run(['bash', str(ROOT/'bench'/'gpu.sh'), d], cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, MPLBACKEND='Agg', QUICK='1', PYTHON=sys.executable))
        if r.returncode: return f'exit {r.returncode}:\n{r.stderr[-3000:]}'
        msgs = []
        for name, check in (('extract.json', _check_extract_bench), ('grid.json', _check_grid_bench),
                            ('metrics.json', _check_metrics_bench)):
            try: res = json.loads((Path(d)/name).read_text())
            except (OSError, json.JSONDecodeError) as e: msgs.append(f'{name}: no JSON ({e})'); continue
            if msg := check(res): msgs.append(f'{name}: {msg}')
        return '\n'.join(msgs)


def _check_extract_bench(res):
    "extract and the original-style loop agree, and both were timed"
    if res['agreement_min_cosine_image_final'] < 0.999: return f"final image features disagree: {res['agreement_min_cosine_image_final']}"
    if not (res['extract']['images_per_s'] > 0 and res['original']['images_per_s'] > 0): return 'missing timings'
    return ''


def _check_metrics_bench(res):
    "similarity_grid and platonic-rep's per-pair loop agree, and both were timed"
    bad = {m: r['max_abs_diff'] for m, r in res['metrics'].items() if not r['max_abs_diff'] <= (1e-3 if m == 'svcca' else 1e-5)}
    if bad: return f'similarity_grid differs from the per-pair loop: {bad}'
    if not all(r['ours_s'] > 0 and r['theirs_s_extrapolated'] > 0 for r in res['metrics'].values()): return 'missing timings'
    return ''


def _check_grid_bench(res):
    "the grid and the original-style loop were both timed"
    if not (res['grid']['pair_rows_per_s'] > 0 and res['original']['pair_rows_per_s'] > 0): return 'missing timings'
    return ''


# The README's papermill commands, one stage after the other: `$STORES` holds the FeatureStores (train/, val/, test/),
# `$RUN` the run folder, both absolute paths (`--cwd nbs` runs each notebook in its folder, as Jupyter and nbdev do).
# The plain-install check runs exactly these lines (on tiny stores, with `$EXTRA` = a few settings that keep it
# short); the README must show them as they are here.
PAPERMILL_COMMANDS = [
    'mkdir -p $RUN',
    'papermill nbs/02_projection.ipynb $RUN/02_projection.ipynb --cwd nbs -p train_store $STORES/train -p val_store $STORES/val -p projections $RUN/projections $EXTRA',
    'papermill nbs/03_project_eval.ipynb $RUN/03_project_eval.ipynb --cwd nbs -p eval_store $STORES/test -p projections $RUN/projections -p projected $RUN/projected',
    'papermill nbs/04_retrieval.ipynb $RUN/04_retrieval.ipynb --cwd nbs -p projected $RUN/projected -p out $RUN',
]
PLAIN_VENV = ROOT/'.venv-plain'


def _plain_stamp()->str:
    "What the plain venv was built from: the requirements in settings.ini and setup.py"
    h = hashlib.sha256()
    for f in ('settings.ini', 'setup.py', 'pyproject.toml'): h.update((ROOT/f).read_bytes())
    return h.hexdigest()


def _plain_venv()->Path:
    "The plain install's python: `.venv-plain` (a venv with `pip install -e .`, no dev extras), built when missing or stale"
    python, stamp = PLAIN_VENV/'bin'/'python', PLAIN_VENV/'.layeralign-stamp'
    if not (python.exists() and stamp.exists() and stamp.read_text() == _plain_stamp()):
        shutil.rmtree(PLAIN_VENV, ignore_errors=True)
        subprocess.run([sys.executable, '-m', 'venv', str(PLAIN_VENV)], check=True, capture_output=True)
        r = subprocess.run([str(python), '-m', 'pip', 'install', '-q', '-e', str(ROOT)], capture_output=True, text=True)
        if r.returncode: raise RuntimeError(f'pip install -e . in {PLAIN_VENV} failed:\n{r.stderr[-3000:]}')
        stamp.write_text(_plain_stamp())
    return python


def _readme_papermill(readme:str)->str:
    "'' when the README shows no papermill command or shows every one CI runs (a line may add options to one of them)"
    shown = [' '.join(l.split()) for l in readme.splitlines() if l.strip().startswith('papermill nbs/')]
    wanted = [' '.join(c.replace('$EXTRA', '').split()) for c in PAPERMILL_COMMANDS if c.startswith('papermill')]
    if not shown: return ''
    if any(not any(l == w or l.startswith(w + ' ') for w in wanted) for l in shown) or any(w not in shown for w in wanted):
        return ('README.md shows other papermill commands than the ones CI runs (tools/run_tests.py PAPERMILL_COMMANDS; '
                'a README line may add options to one of them):\n' + '\n'.join(shown))
    return ''


def _kernel_python(d:Path, env:dict)->str:
    "'' when papermill's python3 kernel (the one our notebooks name) runs the plain venv's python, else what it runs"
    meta = json.loads((ROOT/'nbs'/'04_retrieval.ipynb').read_text(encoding='utf-8'))['metadata']
    cell = {'cell_type': 'code', 'execution_count': None, 'id': 'prefix', 'metadata': {}, 'outputs': [], 'source': 'import sys; print(sys.prefix)'}
    (d/'prefix.ipynb').write_text(json.dumps({'cells': [cell], 'metadata': meta, 'nbformat': 4, 'nbformat_minor': 5}))
    r = subprocess.run(['papermill', str(d/'prefix.ipynb'), str(d/'prefix-out.ipynb')], cwd=d, env=env, capture_output=True, text=True)
    if r.returncode: return f'papermill could not run a one-cell notebook with our notebooks\' metadata:\n{r.stderr[-3000:]}'
    prefix = json.loads((d/'prefix-out.ipynb').read_text())['cells'][0]['outputs'][0]['text']
    prefix = ''.join(prefix).strip() if isinstance(prefix, list) else prefix.strip()
    return '' if Path(prefix).resolve() == PLAIN_VENV.resolve() else f"papermill's python3 kernel runs {prefix}, not {PLAIN_VENV}"


def _image_outputs(nb:Path)->int:
    "How many pictures (image/png outputs) an executed notebook shows"
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    return sum('image/png' in o.get('data', {}) for c in cells if c['cell_type'] == 'code' for o in c.get('outputs', []))


def _papermill_pictures(run:Path, nb:Path)->str:
    "'' when 04 under papermill wrote into `run` the PNGs `layeralign run` writes from that stage, and its notebook shows them"
    with open(run/'grid.csv', encoding='utf-8') as f: has_lens = ',lens,' in f.read()
    want = {'heatmap_r1.png', 'depth_curves.png', 'loss_curves.png'} | ({'heatmap_lens_r1.png'} if has_lens else set())
    if has_lens or (run/'metrics.csv').exists(): want.add('small_multiples.png')
    pngs = {p.name for p in run.glob('*.png')}
    if pngs != want: return f'04_retrieval under papermill wrote {sorted(pngs)} into {run}, not {sorted(want)} as `layeralign run` does'
    shown = _image_outputs(nb)   # the grid's heatmaps and depth curves, then every PNG written
    if shown < len(pngs) + 2: return f'the executed {nb.name} shows {shown} pictures: fewer than the {len(pngs)} PNGs it wrote and its 2 plots'
    print(f'    {nb.name}: {shown} pictures shown, {len(pngs)} PNGs written ({", ".join(sorted(pngs))})', flush=True)
    return ''


def check_plain_papermill():
    "From a venv without the dev extras, the README's papermill commands run 02 -> 03 -> 04 and write grid.csv and the pictures"
    python = _plain_venv()
    if subprocess.run([str(python), '-c', 'import nbdev'], capture_output=True).returncode == 0:
        return f'{PLAIN_VENV} has nbdev: it is not a plain install (delete it to rebuild)'
    if msg := _readme_papermill((ROOT/'README.md').read_text(encoding='utf-8')): return msg
    env = {k: v for k, v in os.environ.items() if k not in ('IN_TEST', 'VIRTUAL_ENV', 'PYTHONPATH')}
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", MPLBACKEND='Agg', OMP_NUM_THREADS=str(_THREADS),
               EXTRA='-p epochs 2 -p batch_size 64 -p lr 0.01')
    before = _git_changes(['layeralign', 'nbs'])
    with tempfile.TemporaryDirectory() as d:
        env.update(STORES=f'{d}/stores', RUN=f'{d}/run')
        r = subprocess.run([str(python), '-c', 'import sys; from pathlib import Path; from layeralign.testing import toy_stores; '
                            'toy_stores(Path(sys.argv[1]))', env['STORES']], cwd=ROOT, env=env, capture_output=True, text=True)
        if r.returncode: return f'making the tiny stores failed:\n{r.stderr[-3000:]}'
        (Path(env['STORES'])/'test').symlink_to('val')         # the toy world has no test split: its val split is scored
        if msg := _kernel_python(Path(d), env): return msg
        for cmd in PAPERMILL_COMMANDS:
            start = time.time()
            r = subprocess.run(['bash', '-c', cmd], cwd=ROOT, env=env, capture_output=True, text=True)
            if r.returncode: return f'`{cmd}` failed (exit {r.returncode}):\n{r.stderr[-4000:]}'
            print(f'    {time.time() - start:5.1f}s {cmd[:60]}', flush=True)
        grid = Path(env['RUN'])/'grid.csv'
        if not grid.exists(): return f'04_retrieval wrote no {grid}'
        with open(grid, encoding='utf-8') as f: header, *rows = f.read().splitlines()
        trained = sorted(p.stem for p in (Path(env['RUN'])/'projections').glob('*.safetensors'))
        pairs = sorted(row.split(',')[0] for row in rows)
        if not trained or not set(trained) <= set(pairs): return f'grid.csv has pairs {pairs}, the trained ones are {trained}'
        if 'image_retrieval_recall@1_ci_low' not in header.split(','): return f'grid.csv has no intervals: {header}'
        if msg := _papermill_pictures(Path(env['RUN']), Path(env['RUN'])/'04_retrieval.ipynb'): return msg
    after = _git_changes(['layeralign', 'nbs'])
    return '' if before == after else f'running the notebooks changed the checkout:\n{after}'


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--flags', default='', help='space-separated test flags to run as well, e.g. "slow"')
    p.add_argument('--n_workers', type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument('notebooks', nargs='*', help='notebooks to run (default: all in nbs/)')
    p.add_argument('--no-plain', action='store_true', help='leave out the plain-install papermill check (it builds .venv-plain once)')
    p.add_argument('--no-browser', action='store_true', help='leave out the browser check (JupyterLab in Chromium)')
    a = p.parse_args()
    os.chdir(ROOT)
    flags = a.flags.split()
    global _THREADS
    _THREADS = max(1, (os.cpu_count() or 1) // max(1, a.n_workers))
    nbs = [Path(o).resolve() for o in a.notebooks] or sorted(
        o for o in (ROOT/'nbs').glob('*.ipynb') if not o.name.startswith(('_', '.')))
    results = []
    if not a.notebooks:
        checks = [('sync: nbdev_export', check_export), ('sync: nbdev_clean', check_clean),
                  ('sync: README.md', check_readme), ('ci: README test command', check_ci_command),
                  ('notebooks: kernelspec and guarded export cell', check_kernelspec),
                  ('bench: gpu.sh at the CI size (extract.py, grid.py, metrics.py --quick)', _bench_quick)]
        if not a.no_plain: checks.append(('plain install: README papermill commands, 02 -> 03 -> 04', check_plain_papermill))
        if not a.no_browser: checks.append(('browser: the explorer and 04_retrieval\'s figures in JupyterLab (Chromium)', check_browser))
        for name, fn in checks:
            results.append(_check(name, fn)); _report(results[-1])
    with ThreadPoolExecutor(a.n_workers) as ex:
        for r in ex.map(_run_nb, nbs, [flags]*len(nbs)):
            results.append(r); _report(r)
    n_pass = sum(ok is True for _, ok, _, _ in results)
    n_fail = sum(ok is False for _, ok, _, _ in results)
    print(f'{n_pass} passed, {n_fail} failed')
    sys.exit(0 if n_fail == 0 else 1)


def _report(r):
    name, ok, secs, msg = r
    if ok is None: print(f"SKIP {name}: {msg}", flush=True); return
    print(f"{'PASS' if ok else 'FAIL'} {name} ({secs:.1f}s)", flush=True)
    if not ok and msg: print('    ' + msg.replace('\n', '\n    '), flush=True)


if __name__ == '__main__': main()
