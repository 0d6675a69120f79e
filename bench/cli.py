"""How fast the `layeralign` command answers when it has nothing to compute: `--version`, `--help`, `run --help` and a
usage error (a mistyped option, `run --epochz 3`), each the command started afresh, as the console script starts it
(`from layeralign.cli import main; sys.exit(main())`), for this tree and for another checkout (default /work/baseline,
the tree before the command imported its stages lazily), given by PYTHONPATH.

Best of `--n` runs (3) of each: wall seconds, CPU seconds (user + system: what the wall time is on an idle machine,
and nearly what it is on a busy one divided by the share of a core it gets) and the peak resident memory of that process
(MB, from `wait4`). Prints one JSON object: {tree: {case: {s, cpu_s, rss_mb, exit}}}, the load average before, and the
speed-up of each case.
"""
import json, os, subprocess, sys, time
from pathlib import Path
from fastcore.script import call_parse

ROOT = Path(__file__).resolve().parent.parent
CASES = {'version': ['--version'], 'help': ['--help'], 'run_help': ['run', '--help'], 'usage_error': ['run', '--epochz', '3']}
CODE = 'import sys; from layeralign.cli import main; sys.exit(main())'   # run in the tree's folder, so that it imports that tree

def _once(tree:Path, argv:list)->tuple: # (seconds, peak RSS in MB, exit status, CPU seconds)
    env = dict(os.environ, PYTHONPATH=str(tree))
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, '-c', CODE, *argv], env=env, cwd=tree, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return secs, usage.ru_maxrss / 1024, p.returncode, usage.ru_utime + usage.ru_stime

def _where(tree:Path)->str:
    "The layeralign package the tree's PYTHONPATH imports (a check that the comparison compares what it says)"
    r = subprocess.run([sys.executable, '-c', 'import layeralign; print(layeralign.__file__)'], env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree,
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()

@call_parse
def main(baseline:str='/work/baseline', # the other checkout to compare with
         n:int=3,                        # runs of each case: the best is reported
        ):
    res = {'load_average': os.getloadavg()[0]}
    for name, tree in (('current', ROOT), ('baseline', Path(baseline))):
        where = _where(tree)
        assert where.startswith(str(tree.resolve())), f'{tree}: PYTHONPATH imports layeralign from {where}'
        res[name] = {'layeralign': where}
        for case, argv in CASES.items():
            runs = [_once(tree, argv) for _ in range(n)]
            best = min(runs)
            res[name][case] = dict(s=round(best[0], 3), cpu_s=round(min(r[3] for r in runs), 3), rss_mb=round(max(r[1] for r in runs), 1),
                                   exit=best[2])
    res['speedup'] = {c: round(res['baseline'][c]['s'] / res['current'][c]['s'], 1) for c in CASES}
    res['cpu_speedup'] = {c: round(res['baseline'][c]['cpu_s'] / res['current'][c]['cpu_s'], 1) for c in CASES}
    res['python'] = sys.version.split()[0]
    print(json.dumps(res, indent=1))
