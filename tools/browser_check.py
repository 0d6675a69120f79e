"""The notebooks in a real browser: JupyterLab, and a headless Chromium driven by playwright.

On a toy run (a small synthetic world, one epoch), or the run given with `--run`:
- a notebook holding the two lines `layeralign explore RUN` prints runs in JupyterLab, and the explorer must list every
  pair of the run, follow a change of pair (title and captions), show the image and the strip, take a click on a
  thumbnail, show the store's captions, and never say "Error displaying widget";
- 04_retrieval, executed by papermill on the run's `projected/`, must show each of its figures in the page.

JupyterLab runs on a free localhost port with no token, in its own process group, and is stopped by its PID whatever
happens. `tools/run_tests.py` runs this as one check; it is skipped, with one line saying how to enable it, where
Chromium, playwright or JupyterLab is missing. Alone: `python tools/browser_check.py [--run RUN] [--screenshot PNG]`
(`--screenshot` keeps a picture of the explorer: the README's is made this way on the default run).
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = '/usr/bin/chromium'
ENABLE = 'apt-get install -y chromium && pip install -e ".[dev]" (jupyterlab, playwright)'
SHOWN_PAIR = 'trained: text_L4_image_L4'   # the pair the check (and the screenshot) turns to


class Skipped(Exception):
    "The check cannot run here; the message says how to enable it"


def missing()->str:
    "'' when Chromium, playwright and JupyterLab are all there, else what is missing"
    lacks = [] if Path(CHROMIUM).exists() else ['chromium']
    for module in ('playwright', 'jupyterlab'):
        try: __import__(module)
        except ImportError: lacks.append(module)
    return ', '.join(lacks)


def _free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _toy_run(d:Path)->Path:
    "A small run as `layeralign run` makes it: 240 synthetic images (40 scored), the tiny model, one epoch"
    run = d/'run'
    env = dict(os.environ, LAYERALIGN_HOME=str(d/'home'), OMP_NUM_THREADS='1')
    subprocess.run([str(Path(sys.executable).parent/'layeralign'), 'run', '--synthetic_images', '240', '--epochs', '1', '--no_control',
                    '--metrics', 'none', '--threads', '1', '--quiet', '--out', str(run)], check=True, env=env, capture_output=True)
    return run


def _explore_notebook(run:Path, lab:Path):
    "The explorer's notebook: one cell, the two lines `layeralign explore RUN` prints"
    from layeralign.explore import explore_lines
    meta = json.loads((ROOT/'nbs'/'04_retrieval.ipynb').read_text(encoding='utf-8'))['metadata']
    cell = dict(cell_type='code', execution_count=None, id='explore', metadata={}, outputs=[], source=explore_lines(run))
    (lab/'explore.ipynb').write_text(json.dumps(dict(cells=[cell], metadata=meta, nbformat=4, nbformat_minor=5)))


def _start_papermill(run:Path, lab:Path, log:Path)->subprocess.Popen:
    "04_retrieval executed by papermill on the run's projected pairs, as the README runs it (in the background)"
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}   # as a user runs it: the kernel's own backend
    return subprocess.Popen([sys.executable, '-m', 'papermill', str(ROOT/'nbs'/'04_retrieval.ipynb'), str(lab/'04_retrieval.ipynb'),
                             '--cwd', str(ROOT/'nbs'), '-p', 'projected', str(run/'projected'), '-p', 'out', str(lab/'scored')],
                            env=env, stdout=open(log, 'w'), stderr=subprocess.STDOUT, start_new_session=True)


def _lab_settings(d:Path)->Path:
    "JupyterLab settings of its own: every cell rendered (no windowing), no news or update checks"
    settings = d/'settings'
    for name, value in (('@jupyterlab/notebook-extension/tracker', {'windowingMode': 'none'}),
                        ('@jupyterlab/apputils-extension/notification', {'fetchNews': 'false', 'checkForUpdates': False})):
        f = settings/f'{name}.jupyterlab-settings'
        f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(value))
    return settings


def _start_lab(d:Path, lab:Path, port:int)->subprocess.Popen:
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(d/'config'), JUPYTERLAB_SETTINGS_DIR=str(_lab_settings(d)),
               JUPYTERLAB_WORKSPACES_DIR=str(d/'workspaces'), MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    log = open(d/'lab.log', 'w')
    return subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ServerApp.port_retries=0',
                             "--ServerApp.token=''", "--ServerApp.password=''", '--ServerApp.ip=127.0.0.1', '--allow-root',
                             f'--ServerApp.root_dir={lab}'], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_up(url:str, server:subprocess.Popen, log:Path, timeout:float=90):
    end = time.time() + timeout
    while time.time() < end:
        if server.poll() is not None: raise RuntimeError(f'JupyterLab exited ({server.returncode}):\n{log.read_text()[-3000:]}')
        try:
            with urllib.request.urlopen(f'{url}/api/status', timeout=2) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.5)
    raise RuntimeError(f'JupyterLab did not answer at {url} in {timeout:.0f}s:\n{log.read_text()[-3000:]}')


def _stop(proc:subprocess.Popen):
    "Stop a process we started, and its process group, by its PID: SIGTERM (JupyterLab shuts its kernels down), SIGKILL if it lingers"
    if proc.poll() is not None: return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try: os.killpg(proc.pid, sig)
        except ProcessLookupError: return
        try: proc.wait(wait); return
        except subprocess.TimeoutExpired: pass


def _expected_labels(run:Path)->list:
    "The run's pairs, read from its folders independently of the explorer: the kind from each pair's JSON"
    labels = []
    for folder in ('projected', 'projected_lens'):
        for f in sorted((run/folder).glob('*.safetensors')):
            meta = f.with_suffix('.json')
            proj = json.loads(meta.read_text())['projection'] if meta.exists() else None
            kind = {'none': 'baseline', 'lens': 'lens'}.get(proj, 'trained')
            if not (folder == 'projected_lens' and f.stem == 'text_final_image_final'):   # the lens's final x final is the baseline
                labels.append(f'{kind}: {f.stem}')
    return labels


def _check_explorer(page, url:str, run:Path, screenshot:Path|None)->list:
    "The explorer in the page; returns what is wrong"
    from layeralign.store import FeatureStore
    store = FeatureStore(json.loads((run/'run.json').read_text())['stages']['project']['settings']['store'])
    captions, bad = set(store.captions), []
    page.goto(f'{url}/lab/tree/explore.ipynb')
    page.wait_for_selector('.jp-Notebook .jp-Cell .cm-content', timeout=90_000)
    page.wait_for_function('() => document.body.innerText.includes("| Idle")', timeout=90_000)   # the kernel is up
    select = page.locator('.jp-OutputArea .widget-dropdown select')
    for attempt in range(3):                          # a key pressed while JupyterLab still settles can be lost: press again
        page.click('.jp-Notebook .jp-Cell .cm-content')
        page.keyboard.press('Shift+Enter')
        try: select.wait_for(timeout=60_000); break
        except Exception:
            if attempt == 2: raise
    options = [o.replace('\xa0', ' ') for o in select.locator('option').all_inner_texts()]   # ipywidgets shows spaces as no-break spaces
    want = _expected_labels(run)
    if sorted(options) != sorted(want): bad.append(f'the dropdown lists {len(options)} pairs, the run has {len(want)}: {sorted(set(want) ^ set(options))[:6]}')
    title = page.locator('.jp-OutputArea .widget-html-content', has_text='its first own caption').first
    listing = page.locator('.jp-OutputArea .widget-html-content table').first
    title.wait_for(timeout=30_000)
    before = title.inner_text(), listing.inner_text()
    select.select_option(label=SHOWN_PAIR)
    try: page.wait_for_function('([el, t]) => el.innerText.replace(/\\u00a0/g, " ").includes(t)', arg=[title.element_handle(), SHOWN_PAIR], timeout=30_000)
    except Exception: bad.append(f'choosing {SHOWN_PAIR} did not change the title: {title.inner_text()!r}')
    try: page.wait_for_function('([el, t]) => el.innerText != t', arg=[listing.element_handle(), before[1]], timeout=30_000)
    except Exception: bad.append(f'choosing {SHOWN_PAIR} did not change the caption list: {listing.inner_text()!r}')
    shown = [re.sub(r'\s+', ' ', t).strip() for t in listing.locator('tr td:nth-child(4)').all_inner_texts()]
    if not shown or any(c not in captions for c in shown) or any(re.fullmatch(r'caption \d+', c) for c in shown):
        bad.append(f"the captions are not the store's text: {shown}")
    index = page.locator('.jp-OutputArea .widget-text input[type="number"]').first     # an image picked by its index
    index.fill('7'); index.press('Enter')
    try: page.wait_for_function('el => el.innerText.includes("image 7,")', arg=title.element_handle(), timeout=30_000)
    except Exception: bad.append(f'typing 7 as the image did not pick image 7: {title.inner_text()!r}')
    page.locator('.jp-OutputArea button[title="image 5"]').click()      # a thumbnail of the strip picks its image
    try: page.wait_for_function('el => el.innerText.includes("image 5,")', arg=title.element_handle(), timeout=30_000)
    except Exception: bad.append(f'a click on the thumbnail of image 5 did not pick it: {title.inner_text()!r}')
    page.wait_for_timeout(500)
    sizes = page.eval_on_selector_all('.jp-OutputArea .widget-image', 'els => els.map(e => [e.naturalWidth, e.naturalHeight])')
    if not any(w >= 64 and h >= 64 for w, h in sizes[:1]): bad.append(f'no picture of the image: {sizes[:1]}')
    if sum(w > 0 for w, _ in sizes[1:]) < 12: bad.append(f'the thumbnail strip shows {sum(w > 0 for w, _ in sizes[1:])} images, not 12')
    if 'Error displaying widget' in page.inner_text('body'): bad.append('the page says "Error displaying widget"')
    if screenshot is not None:
        page.locator('.jp-OutputArea-output').first.screenshot(path=str(screenshot))
    return bad


def _check_figures(page, url:str, lab:Path)->list:
    "The executed 04_retrieval in the page: every PNG output it holds is drawn; returns what is wrong"
    nb = json.loads((lab/'04_retrieval.ipynb').read_text())
    n_png = sum('image/png' in o.get('data', {}) for c in nb['cells'] for o in c.get('outputs', []))
    page.goto(f'{url}/lab/tree/04_retrieval.ipynb')
    page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=90_000)
    if n_png < 2: return [f'the executed 04_retrieval holds {n_png} figures, not at least 2 (heatmaps, depth curves)']
    shown = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img'   # this notebook's tab, not the explorer's behind it
    js = f'() => [...document.querySelectorAll("{shown}")].filter(e => e.complete && e.naturalWidth > 100).length >= {n_png}'
    try: page.wait_for_function(js, timeout=90_000)
    except Exception: pass
    imgs = page.eval_on_selector_all(shown, 'els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])')
    drawn = sum(ok and w > 100 and h > 100 for ok, w, h in imgs)
    bad = [] if drawn == n_png else [f'04_retrieval holds {n_png} figures, the page draws {drawn} of them ({imgs})']
    if 'Error displaying' in page.inner_text('body'): bad.append('the page shows an error in 04_retrieval')
    return bad


def check(run:Path|None=None, screenshot:Path|None=None, times:dict|None=None)->str:
    "'' when the explorer and 04_retrieval's figures work in JupyterLab in Chromium, else what is wrong; raises Skipped where they cannot run"
    if lacks := missing(): raise Skipped(f'{lacks} missing; to enable: {ENABLE}')
    from playwright.sync_api import sync_playwright
    times = {} if times is None else times
    start = time.time()
    def lap(name): times[name] = round(time.time() - start - sum(times.values()), 1)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp); lab = d/'lab'; lab.mkdir()
        run = Path(run).resolve() if run else _toy_run(d)
        lap('toy run')
        _explore_notebook(run, lab)
        port = _free_port(); url = f'http://127.0.0.1:{port}'
        papermill = _start_papermill(run, lab, d/'papermill.log')   # runs while the explorer is checked
        server = None
        try:
            server = _start_lab(d, lab, port)
            _wait_up(url, server, d/'lab.log')
            lap('JupyterLab up')
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
                try:
                    page = browser.new_page(viewport={'width': 1500, 'height': 1100})
                    bad = _check_explorer(page, url, run, screenshot)
                    lap('explorer')
                    if papermill.wait(600): raise RuntimeError(f"papermill 04_retrieval failed:\n{(d/'papermill.log').read_text()[-3000:]}")
                    lap('papermill 04_retrieval (rest)')
                    bad += _check_figures(page, url, lab)
                    lap('04_retrieval in the page')
                finally: browser.close()
        finally:
            for proc in (server, papermill):   # each stopped by its PID, with its process group
                if proc is not None: _stop(proc)
    return '\n'.join(bad)


if __name__ == '__main__':
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument('--run', help='a run folder (default: a toy run made here)')
    a.add_argument('--screenshot', help='keep a PNG of the explorer here')
    args = a.parse_args()
    start, times = time.time(), {}
    try: msg = check(args.run, Path(args.screenshot).resolve() if args.screenshot else None, times)
    except Skipped as e: print(f'SKIP browser: {e}'); sys.exit(0)
    print(msg or f'browser check passed in {time.time() - start:.0f}s: {json.dumps(times)}')
    sys.exit(1 if msg else 0)
