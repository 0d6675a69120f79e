"""layeralign's test run: every notebook through nbdev's test runner, plus the sync checks.

Prints one line per test and closes with `N passed, N failed`. Exit status 0 only when all pass.
Notebook cells flagged `slow`, `cuda` or `notest` (settings.ini `tst_flags`) are skipped, as in `nbdev_test`;
pass `--flags slow` to run the slow ones too.
"""
import argparse, json, os, subprocess, sys, time, traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))


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


def _bench_quick():
    "Run `bench/gpu.sh` at the CI size (QUICK=1: extract.py and grid.py --quick) and check the JSON they wrote"
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run(['bash', str(ROOT/'bench'/'gpu.sh'), d], cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, MPLBACKEND='Agg', QUICK='1', PYTHON=sys.executable))
        if r.returncode: return f'exit {r.returncode}:\n{r.stderr[-3000:]}'
        msgs = []
        for name, check in (('extract.json', _check_extract_bench), ('grid.json', _check_grid_bench)):
            try: res = json.loads((Path(d)/name).read_text())
            except (OSError, json.JSONDecodeError) as e: msgs.append(f'{name}: no JSON ({e})'); continue
            if msg := check(res): msgs.append(f'{name}: {msg}')
        return '\n'.join(msgs)


def _check_extract_bench(res):
    "extract and the original-style loop agree, and both were timed"
    if res['agreement_min_cosine_image_final'] < 0.999: return f"final image features disagree: {res['agreement_min_cosine_image_final']}"
    if not (res['extract']['images_per_s'] > 0 and res['original']['images_per_s'] > 0): return 'missing timings'
    return ''


def _check_grid_bench(res):
    "the grid and the original-style loop were both timed"
    if not (res['grid']['pair_rows_per_s'] > 0 and res['original']['pair_rows_per_s'] > 0): return 'missing timings'
    return ''


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--flags', default='', help='space-separated test flags to run as well, e.g. "slow"')
    p.add_argument('--n_workers', type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument('notebooks', nargs='*', help='notebooks to run (default: all in nbs/)')
    a = p.parse_args()
    os.chdir(ROOT)
    flags = a.flags.split()
    global _THREADS
    _THREADS = max(1, (os.cpu_count() or 1) // max(1, a.n_workers))
    nbs = [Path(o).resolve() for o in a.notebooks] or sorted(
        o for o in (ROOT/'nbs').glob('*.ipynb') if not o.name.startswith(('_', '.')))
    results = []
    if not a.notebooks:
        for name, fn in [('sync: nbdev_export', check_export), ('sync: nbdev_clean', check_clean),
                         ('sync: README.md', check_readme), ('ci: README test command', check_ci_command),
                         ('bench: gpu.sh at the CI size (extract.py, grid.py --quick)', _bench_quick)]:
            results.append(_check(name, fn)); _report(results[-1])
    with ThreadPoolExecutor(a.n_workers) as ex:
        for r in ex.map(_run_nb, nbs, [flags]*len(nbs)):
            results.append(r); _report(r)
    n_pass = sum(ok for _, ok, _, _ in results)
    n_fail = len(results) - n_pass
    print(f'{n_pass} passed, {n_fail} failed')
    sys.exit(0 if n_fail == 0 else 1)


def _report(r):
    name, ok, secs, msg = r
    print(f"{'PASS' if ok else 'FAIL'} {name} ({secs:.1f}s)", flush=True)
    if not ok and msg: print('    ' + msg.replace('\n', '\n    '), flush=True)


if __name__ == '__main__': main()
