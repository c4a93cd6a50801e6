"""The page itself: the template with its data, written atomically, and the rule for replacing
an earlier page.

Each page names the command and the run that made it in a <meta name="gluon-cnn-page"> element.
A new page may replace one with the same command and run (browsing another image of that run),
and nothing else (a page of another run, any other file) without --force.
"""
import html
import json
import re
from pathlib import Path
from typing import Optional, Tuple

from ... import durable
from ...errors import ConfigError
from .encoding import json_script

__all__ = ['TEMPLATE', 'COMMAND', 'render', 'marker', 'page_marker', 'check_out', 'Explained']

TEMPLATE = 'explain.html.j2'
COMMAND = 'viz explain'
_META = re.compile(r'<meta name="gluon-cnn-page" content="([^"]*)">')


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader('gluon_cnn.viz.explainer', 'templates'),
                              autoescape=jinja2.select_autoescape(['html', 'j2']))


def render(data: dict) -> str:
    """The page: the Jinja2 template with the data embedded (json_script) and its arithmetic."""
    env = _environment()
    math_js = env.loader.get_source(env, 'explain_math.js')[0]
    return env.get_template(TEMPLATE).render(
        data=data, data_json=json_script(data), math_js=math_js,
        marker=json.dumps(data.get('marker') or {}, sort_keys=True))


def marker(run) -> dict:
    """The marker of a page made by `viz explain` from the run folder `run`."""
    return {'command': COMMAND, 'run': str(Path(run).resolve())}


def page_marker(path: Path) -> Optional[dict]:
    """The marker of an existing page at `path`, or None for any other file."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4096).decode('utf-8', 'replace')
    except OSError:
        return None
    m = _META.search(head)
    if not m:
        return None
    try:
        found = json.loads(html.unescape(m.group(1)))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def check_out(path, mark: Optional[dict], force: bool = False) -> bool:
    """Whether `path` may be written (True: it replaces a file), or a ConfigError saying why not:
    an existing file is replaced when it is this command's page of the same run, or with force."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f'--out {path} is a folder; give a file name like page.html')
    if not path.exists():
        return False
    if force:
        return True
    found = page_marker(path)
    if mark and found == mark:
        return True
    if found and found.get('command') == COMMAND:
        raise ConfigError(f'--out {path} is the explainer page of another run '
                          f'({found.get("run")}); pass --force to overwrite it')
    raise ConfigError(f'--out {path} exists and is not a page this command made; pass --force '
                      f'to overwrite it')


class Explained:
    """The page for one net and one input: `.html`, `.data`, `.save(path)`; Jupyter shows it."""

    def __init__(self, data: dict):
        self.data = data
        self.html = render(data)

    def save(self, path, force: bool = False) -> Tuple[Path, bool]:
        """Write the page atomically (a temporary file renamed over `path`); (path, replaced).
        An existing file is replaced only as `check_out` allows."""
        path = Path(path)
        replaced = check_out(path, self.data.get('marker'), force)
        with durable.writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            durable.write_text_atomic(path, self.html)
        return path, replaced

    def _repr_html_(self) -> str:
        # the page's script and ids stay in their own document: an iframe keeps them apart from
        # the notebook's (and from a second page in the same notebook)
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:900px;border:1px solid #ccc"></iframe>')
