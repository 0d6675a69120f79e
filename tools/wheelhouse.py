"""A wheelhouse for a GPU machine without internet: what layeralign (with its dev extras) needs there and it lacks.

Run it on a connected machine; copy the folder over; `bench/gpu.sh` installs it when WHEELS=<folder> is set:

    python tools/wheelhouse.py WHEELS_DIR --python 3.12 --have node-freeze.txt
    # on the GPU machine:
    WHEELS=WHEELS_DIR bash bench/gpu.sh OUT_DIR

`--have` is what the GPU machine already holds: `pip freeze` output, or names separated by commas, spaces or lines.
Those are left out, and so is every package under `--skip`: by default clip-benchmark's dataset and captioning
dependencies (pycocoevalcap alone is 100 MB), which the retrieval metric the tests compare against never imports.
The dependencies are resolved for the target Python and platform without installing anything here. A package is
brought when layeralign reaches it through packages the machine lacks; the dependencies of a package it holds are
that package's business (torch's CUDA libraries, say). The wheels are downloaded without their dependencies (each
one is listed itself) into the folder, with a requirements.txt naming them, and the script prints a JSON summary.
"""
import argparse, json, re, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_26_x86_64', 'manylinux_2_17_x86_64',
             'manylinux2014_x86_64', 'manylinux_2_5_x86_64', 'manylinux1_x86_64']
SKIP = ['pycocoevalcap', 'pycocotools', 'webdataset', 'braceexpand']   # clip-benchmark's, not used by its retrieval metric


def norm(name:str)->str: return re.sub(r'[-_.]+', '-', name.strip().lower())


def read_have(path:Path)->set:
    "Package names from `pip freeze` output, or from a plain list of names"
    names = set()
    for item in re.split(r'[,\s]+', Path(path).read_text()):
        item = item.strip().rstrip('.')
        if not item or item.startswith('#') or item.startswith('-e'): continue
        names.add(norm(re.split(r'[=<>!~ @\[;]', item, maxsplit=1)[0]))
    return names


def target_args(python:str, platforms:list)->list:
    "pip options that choose wheels for another interpreter"
    return (['--only-binary=:all:', '--python-version', python, '--implementation', 'cp'] +
            [a for p in platforms for a in ('--platform', p)])


def resolve(spec:str, python:str, platforms:list)->list:
    "pip's install report of everything `spec` needs on the target, resolved without installing"
    with tempfile.TemporaryDirectory() as d:
        report = Path(d)/'report.json'
        cmd = [sys.executable, '-m', 'pip', 'install', '--quiet', '--dry-run', '--ignore-installed', '--report', str(report),
               '--target', str(Path(d)/'target'), *target_args(python, platforms), spec]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode: sys.exit(f"wheelhouse: pip could not resolve {spec} for Python {python}:\n{r.stderr[-3000:]}")
        return json.loads(report.read_text())['install']


def still_needed(install:list, leave:set, python:str)->list:
    """[(name, version)] reachable from the requested package through packages not in `leave`: what a machine holding
    `leave` lacks. The dependencies of a package it holds (torch's CUDA libraries, say) are its own business."""
    from packaging.requirements import Requirement
    from packaging.markers import default_environment
    env = dict(default_environment(), python_version=python, python_full_version=f'{python}.0')
    by_name = {norm(i['metadata']['name']): i for i in install}
    todo = [(norm(i['metadata']['name']), tuple(i.get('requested_extras') or ())) for i in install if i.get('requested')]
    seen, keep = set(todo), []
    while todo:
        name, extras = todo.pop()
        item = by_name[name]
        if name not in leave: keep.append((item['metadata']['name'], item['metadata']['version']))
        else: continue
        for spec in item['metadata'].get('requires_dist') or []:
            req = Requirement(spec)
            if req.marker and not any(req.marker.evaluate(dict(env, extra=e)) for e in (extras or ('',))): continue
            dep = (norm(req.name), tuple(sorted(req.extras)))
            if dep[0] in by_name and dep not in seen: seen.add(dep); todo.append(dep)
    return sorted(set(keep))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dest', type=Path, help='the folder to fill with wheels')
    ap.add_argument('--python', default='.'.join(map(str, sys.version_info[:2])), help="the GPU machine's Python, e.g. 3.12")
    ap.add_argument('--have', type=Path, help="what the GPU machine already holds (pip freeze, or a list of names)")
    ap.add_argument('--skip', nargs='*', default=SKIP, help='packages to leave out besides those in --have')
    ap.add_argument('--extras', default='dev', help="layeralign's extras to include ('' for none)")
    ap.add_argument('--platform', dest='platforms', action='append', help='wheel platform tags (default: manylinux x86_64)')
    args = ap.parse_args(argv)
    platforms = args.platforms or PLATFORMS
    have = read_have(args.have) if args.have else set()
    leave = have | {norm(s) for s in args.skip}
    spec = f"{ROOT}[{args.extras}]" if args.extras else str(ROOT)
    install = resolve(spec, args.python, platforms)
    wanted = [f'{n}=={v}' for n, v in still_needed(install, leave, args.python) if norm(n) != 'layeralign']
    args.dest.mkdir(parents=True, exist_ok=True)
    (args.dest/'requirements.txt').write_text('\n'.join(wanted) + '\n')
    cmd = [sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '-d', str(args.dest),
           *target_args(args.python, platforms), '-r', str(args.dest/'requirements.txt')]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: sys.exit(f"wheelhouse: pip download failed:\n{r.stderr[-3000:]}")
    wheels = {norm(w.name.split('-')[0]): w for w in args.dest.glob('*.whl')}
    missing = [w for w in wanted if norm(w.split('==')[0]) not in wheels]
    if missing: sys.exit(f"wheelhouse: no wheel arrived for {missing}")
    size = sum(wheels[norm(w.split('==')[0])].stat().st_size for w in wanted)
    print(json.dumps({'python': args.python, 'resolved': len(install), 'left_out': len(install) - len(wanted),
                      'wheels': len(wanted), 'megabytes': round(size / 2**20, 1), 'dest': str(args.dest)}))


if __name__ == '__main__': main()
