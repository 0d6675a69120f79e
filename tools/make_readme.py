"""Render nbs/index.ipynb to README.md without Quarto (which these machines cannot install).

Markdown cells go through as they are; code cells become ```python blocks, with their text outputs;
cells marked `#| hide` and nbdev directives are left out. `python tools/make_readme.py` rewrites README.md.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _directives(src):
    return [l for l in src.splitlines() if l.startswith('#|')]


def render(index_nb):
    nb = json.loads(Path(index_nb).read_text(encoding='utf-8'))
    parts = []
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':
            parts.append(src.strip().replace('](images/', '](nbs/images/'))   # README.md sits one folder up
            continue
        if any(d.replace(' ', '') in ('#|hide', '#|exec_doc') for d in _directives(src)): continue
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if code: parts.append(f'```python\n{code}\n```')
        for out in cell.get('outputs', []):
            text = ''.join(out.get('text', '')) or ''.join(out.get('data', {}).get('text/plain', ''))
            if text.strip(): parts.append('    ' + text.rstrip().replace('\n', '\n    '))
    md = '\n\n'.join(parts) + '\n'
    # the title cell: '# name' + '> summary' as nbdev renders them
    return md


if __name__ == '__main__':
    out = ROOT/'README.md'
    out.write_text(render(ROOT/'nbs'/'index.ipynb'), encoding='utf-8')
    print(f'wrote {out}')
