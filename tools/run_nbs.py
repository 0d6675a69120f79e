"""Run the notebooks top to bottom and keep their outputs, so that they read with their tables and pictures.

nbdev 2 shows the outputs a notebook holds, on GitHub and on the docs site; it does not run it. So after changing a
notebook, run it here and commit it with its outputs:

    python tools/run_nbs.py                       # every notebook in nbs/
    python tools/run_nbs.py nbs/01b_extract.ipynb  # or some
    nbdev_clean

The cells `nbdev_test` skips by default are not run and keep no output: those carrying a flag of settings.ini's
`tst_flags` (slow, cuda, notest) or `eval: false`, and the closing `nbdev_export()`. Pictures are stored as plain
PNG. A notebook that fails is left as it was, and the script exits 1 after trying the others.
"""
import json, sys, time, traceback
from pathlib import Path
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.config import get_config
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor

ROOT = Path(__file__).resolve().parent.parent


def _skipped(flags:set):
    "The test a cell must pass to be left out, as in nbdev_test"
    def skip(cell):
        if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
        direc = getattr(cell, 'directives_', {}) or {}
        if direc.get('eval:', [''])[0].lower() == 'false': return True
        return bool(flags & direc.keys())
    return skip


def run_notebook(path:Path, flags:set)->float:
    "Execute `path` and write its code cells' outputs into it; returns the seconds taken"
    start = time.time()
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    shell = CaptureShell(path, mpl_format='png')
    with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=_skipped(flags))
    outputs = {c.get('id'): c.get('outputs', []) for c in nb.cells if c.cell_type == 'code'}
    raw = json.loads(path.read_text(encoding='utf-8'))
    for cell in raw['cells']:
        if cell['cell_type'] == 'code':
            cell['outputs'] = [dict(o) for o in outputs.get(cell.get('id'), [])]
            cell['execution_count'] = None
    path.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return time.time() - start


def main(paths):
    flags = set(get_config().get('tst_flags', '').split())
    paths = [Path(p).resolve() for p in paths] or sorted((ROOT/'nbs').glob('[!_]*.ipynb'))
    failed = []
    for p in paths:
        try: print(f'{p.name}: {run_notebook(p, flags):.1f}s', flush=True)
        except Exception:
            traceback.print_exc()
            print(f'{p.name}: FAILED (left as it was)', flush=True)
            failed.append(p.name)
    sys.exit(1 if failed else 0)


if __name__ == '__main__': main(sys.argv[1:])
