"""The explainer page (python -m gluon_cnn.viz explain), built and then driven in a real browser.

Oracles: the net itself through forward hooks (`viz.capture`), `gluon_cnn.trace` for the column
headers, `gluon_cnn.shapes.out_size` / `out_size_formula` for the shape calculator, and numpy's
softmax. The browser tests open the page from file:// in the system's headless Chromium
(Debian's chromium + chromium-driver, named explicitly: Selenium Manager never runs) and skip
with a one-line reason where there is none (`make test-browser` installs it).
"""
import io
import json
import re
from pathlib import Path

import matplotlib.image
import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from gluon_cnn import shapes
from gluon_cnn.app import train_command as train_cli
from gluon_cnn.runs.config import TrainConfig
from gluon_cnn.models import get_model
from gluon_cnn.runs.record import RunRecord, write_record
from gluon_cnn.trace import trace
from gluon_cnn.viz import browser, capture, explain, load_run
from gluon_cnn.viz.__main__ import main as viz_main
from gluon_cnn.viz.explainer import decode, explain_run, preprocess_image
from gluon_cnn.viz import probe

NO_BROWSER = browser.missing()
needs_browser = pytest.mark.skipif(NO_BROWSER is not None, reason=f'no browser: {NO_BROWSER}')


# ----------------------------------------------------------------------------- runs and pages
@pytest.fixture(scope='module')
def lenet_run(tmp_path_factory):
    """The book's LeNet trained one epoch on 512 images through train.py."""
    out = tmp_path_factory.mktemp('lenet-run')
    assert train_cli.main(['--limit', '512', '--epochs', '1', '--batch-size', '64', '--lr', '0.5',
                           '--out', str(out), '--quiet']) == 0
    return out


def _fresh_run(folder: Path, model: str, resize: int) -> Path:
    """A run folder in the real format (metrics.json, model.params) for a freshly initialized
    net: accuracy does not matter here, only that the page is the net's own."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(model=model, epochs=1, resize=resize, out=str(folder))
    net = get_model(model)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, resize, resize)))  # finish the deferred shapes
    write_record(RunRecord(cfg, [{'epoch': 1, 'loss': 2.3, 'train_acc': 0.1, 'test_acc': 0.1,
                                  'seconds': 1.0, 'examples_per_sec': 1.0}]))
    net.save_parameters(str(folder / 'model.params'))
    return folder


@pytest.fixture(scope='module')
def resnet_run(tmp_path_factory):
    return _fresh_run(tmp_path_factory.mktemp('resnet-run'), 'resnet18', 32)


@pytest.fixture(scope='module')
def lenet_page(lenet_run, tmp_path_factory):
    page = explain_run(lenet_run, 0, steps=5)
    path, _ = page.save(tmp_path_factory.mktemp('page') / 'lenet.html')
    return page, path


@pytest.fixture(scope='module')
def resnet_page(resnet_run, tmp_path_factory):
    page = explain_run(resnet_run, 0, steps=2)
    path, _ = page.save(tmp_path_factory.mktemp('page') / 'resnet.html')
    return page, path


def _model_input(run_dir):
    run = load_run(run_dir)
    it, _ = probe.test_iter(run, batch_size=1, limit=1)  # test image 0, fed as in training
    return run, next(iter(it))[0]


def _captured(run, X) -> dict:
    outs, y = capture(run.net, X)
    return {c.layer.path: c.output.asnumpy()[0] for c in outs}, y.asnumpy()[0]


def _embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="explain-data">(.*?)</script>', html,
                  re.S)
    return json.loads(m.group(1))


# ----------------------------------------------------------------------------- without a browser
def test_lenet_page_is_self_contained_and_small(lenet_page):
    page, path = lenet_page
    html = path.read_text(encoding='utf-8')
    assert path.stat().st_size < 2_000_000, 'LeNet\'s page should stay well under a few MB'
    # nothing is fetched: no external scripts, styles, images or fonts
    for pattern in (r'<script[^>]+src=', r'<link\b', r'<img\b', r'@import', r'url\(',
                    r'(src|href)\s*=\s*["\']https?:', r'fetch\(', r'XMLHttpRequest'):
        assert not re.search(pattern, html), pattern
    assert _embedded(html) == json.loads(json.dumps(page.data))


def test_embedded_numbers_are_the_nets(lenet_run, lenet_page):
    page, _ = lenet_page
    d = page.data
    run, X = _model_input(lenet_run)
    maps, logits = _captured(run, X)
    # logits and softmax
    np.testing.assert_array_equal(np.float32(d['logits']), logits)
    p = np.exp(logits.astype(np.float64) - logits.max())
    np.testing.assert_allclose(d['probs'], p / p.sum(), rtol=1e-12)
    assert [t['k'] for t in d['top3']] == list(np.argsort(-p)[:3])
    # every conv/pool/dense detail holds the exact float32 values of the net
    for path, det in d['details'].items():
        out = decode(d, det['output'])
        np.testing.assert_array_equal(out, maps[path][:len(out)].reshape(out.shape))
        if det['kind'] == 'conv':
            w = run.net[int(path)].weight.data().asnumpy()
            np.testing.assert_array_equal(decode(d, det['weight']), w[:det['shown']])
    np.testing.assert_array_equal(decode(d, d['details']['0']['input']), X.asnumpy()[0])
    np.testing.assert_array_equal(decode(d, d['details']['2']['input']), maps['1'])
    # the column headers are the tracer's rows
    t = trace(run.net, tuple(X.shape))
    cols = [c for c in d['columns'] if c['kind'] not in ('input', 'softmax')]
    assert [c['header']['name'] for c in cols] == [r.name for r in t.rows]
    for c, r in zip(cols, t.rows):
        h = c['header']
        assert (h['params'], h['macs'], tuple(h['output_shape'])) == (r.params, r.macs,
                                                                      r.output_shape)
    assert d['columns'][1]['header']['ksp'] == '5/1/0' and d['columns'][1]['header']['rf'] == '5/1'
    assert d['details']['4']['flatten_terms'] == [16, 4, 4]
    # the calculator's layers agree with the shape formula
    for layer in d['calc']['layers']:
        assert shapes.out_size(layer['n'], layer['k'], 2 * layer['p'], layer['s'], layer['d'],
                               layer['ceil']) == layer['out']


def test_branches_columns_and_what_convs_read(resnet_run, resnet_page):
    d = resnet_page[0].data
    kinds = {c['label']: c['kind'] for c in d['columns']}
    assert kinds['features.0'] == 'conv' and kinds['features.4.0'] == 'unit'
    unit = next(c for c in d['columns'] if c['label'] == 'features.5.0')
    assert unit['merge'] == 'a relu of a sum'
    assert [i['header']['name'] for i in unit['inner']][:2] == ['features.5.0.conv1',
                                                              'features.5.0.bn1']
    reads = {p: det.get('reads', '') for p, det in d['details'].items()}
    assert reads['features.0'] == 'the net input'
    assert reads['features.5.0.conv1'].startswith('the output of features.4.1 (Residual), which '
                                                  'ends in a relu of a sum')
    assert 'a relu of the output of features.5.0.bn1' in reads['features.5.0.conv2']
    assert 'forward code' in reads['features.5.0.conv2']
    run, X = _model_input(resnet_run)
    maps, logits = _captured(run, X)
    np.testing.assert_array_equal(np.float32(d['logits']), logits)
    for path in ('features.0', 'features.5.0.conv2', 'features.5.0.conv3'):
        out = decode(d, d['details'][path]['output'])
        np.testing.assert_array_equal(out, maps[path][:len(out)])


def test_googlenet_concat_is_named(tmp_path):
    run = _fresh_run(tmp_path / 'g', 'googlenet', 32)
    d = explain_run(run, 3, steps=0, max_maps=4).data
    unit = next(c for c in d['columns'] if c['kind'] == 'unit')
    assert unit['merge'] == 'a concat'
    reads = [det['reads'] for p, det in d['details'].items() if p.endswith('.1.p1_1')]
    assert reads and 'a concat' in reads[0]


def test_own_image_polarity_and_size(tmp_path):
    rng = np.random.RandomState(0)
    item = np.zeros((90, 60), np.uint8)
    item[20:70, 15:45] = 40 + rng.randint(0, 30, (50, 30))   # a dark item ...
    light = 255 - np.zeros((120, 200, 3), np.uint8)           # ... on a white page, JPEG
    light[15:105, 70:130] = item[..., None]
    Image.fromarray(light).save(tmp_path / 'dark-on-light.jpg')
    p = preprocess_image(tmp_path / 'dark-on-light.jpg')
    assert p.inverted and 'inverted' in p.note and p.image.shape == (28, 28)
    assert p.image[0, 0] < 30 and p.image[14, 14] > 150    # now light on black
    dark = np.zeros((50, 50, 4), np.uint8)                    # RGBA, light item on black
    dark[..., 3] = 255
    dark[10:40, 20:30, :3] = 230
    Image.fromarray(dark).save(tmp_path / 'light-on-dark.png')
    q = preprocess_image(tmp_path / 'light-on-dark.png')
    assert not q.inverted and 'not inverted' in q.note and q.image.max() > 150
    assert [s[0] for s in q.steps][1:] == ['grayscale', 'resized to 28×28', 'polarity']


def test_cli_page_and_errors(lenet_run, tmp_path, capsys):
    out = tmp_path / 'p.html'
    assert viz_main(['explain', '--run', str(lenet_run), '--out', str(out), '--steps', '2']) == 0
    assert capsys.readouterr().out.startswith(f'wrote {out}')
    assert viz_main(['explain', '--run', str(lenet_run), '--out', str(out)]) == 2
    assert 'exists; pass --force' in capsys.readouterr().err
    assert viz_main(['explain', '--run', str(lenet_run), '--out', str(out), '--force',
                     '--steps', '0']) == 0
    assert capsys.readouterr().out.startswith(f'overwrote {out}')
    (tmp_path / 'bad.png').write_bytes(b'not an image')
    Image.fromarray(np.full((40, 30), 250, np.uint8)).save(tmp_path / 'ok.png')
    for args, message in (
            (['--run', str(tmp_path / 'none')], 'no metrics.json there'),
            (['--image', '10000'], '--image 10000: the test set has images 0..9999'),
            (['--image', str(tmp_path / 'bad.png')], 'cannot read it as an image'),
            (['--image', str(tmp_path / 'gone.png')], 'no such file')):
        full = ['explain', '--run', str(lenet_run), '--out', str(tmp_path / 'x.html')] + args
        assert viz_main(full) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and message in err and 'Traceback' not in err, err
    assert viz_main(['explain', '--run', str(lenet_run), '--image', str(tmp_path / 'ok.png'),
                     '--out', str(tmp_path / 'own.html'), '--steps', '0']) == 0
    d = _embedded((tmp_path / 'own.html').read_text(encoding='utf-8'))
    assert d['image']['kind'] == 'file' and d['image']['inverted']


def test_jupyter_repr_is_the_same_page():
    net = get_model('lenet')
    net.initialize()
    page = explain(net, np.random.RandomState(0).rand(28, 28).astype(np.float32), steps=0)
    rep = page._repr_html_()
    assert rep.startswith('<iframe srcdoc="') and '&lt;script' in rep
    assert 'explain-data' in rep and len(page.data['columns']) == 9  # input, 7 layers, softmax


# ----------------------------------------------------------------------------- in a browser
@pytest.fixture(scope='module')
def driver():
    d = browser.chromium(1400, 1000)
    d.set_script_timeout(120)  # the calculator grid is one script; the machine may be busy
    d.set_page_load_timeout(120)
    yield d
    d.quit()


def _open(driver, path):
    driver.get(Path(path).resolve().as_uri())
    assert driver.execute_script('return document.body.getAttribute("data-ready")') == '1'
    driver.execute_script('window.explainer.stopCalc()')  # a still page for the checks


def _severe(driver) -> list:
    return [e for e in driver.get_log('browser') if e['level'] == 'SEVERE']


def _every_layer_shows_its_maps(driver, data):
    shown = driver.execute_script("""
        return [...document.querySelectorAll('#overview .col')].map((c) => ({
          kind: c.dataset.kind, maps: c.querySelectorAll('canvas.map').length,
          rows: c.querySelectorAll('.softmax [data-unit]').length,
          drawn: [...c.querySelectorAll('canvas.map')].every((cv) => cv.width > 0)}));""")
    assert len(shown) == len(data['columns'])
    for col, s in zip(data['columns'], shown):
        if col.get('maps') is not None:
            assert s['maps'] == data['tensors'][col['maps']]['shape'][0] and s['drawn'], col
        elif col['kind'] == 'softmax':
            assert s['rows'] == len(data['classes'])
        else:
            assert s['maps'] == 1 and s['drawn'], col


def _click_map(driver, column_path, channel, dx=0, dy=0):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    cv = driver.find_element(By.CSS_SELECTOR, f'#overview .col[data-path="{column_path}"] '
                                              f'canvas.map[data-channel="{channel}"]')
    driver.execute_script('arguments[0].scrollIntoView({block: "center"})', cv)
    ActionChains(driver).move_to_element_with_offset(cv, dx, dy).click().perform()


def _click_vector(driver, column_path, dx=0, dy=0):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    cv = driver.find_element(By.CSS_SELECTOR, f'#overview .col[data-path="{column_path}"] '
                                              f'canvas.map[data-units]')
    driver.execute_script('arguments[0].scrollIntoView({block: "center"})', cv)
    ActionChains(driver).move_to_element_with_offset(cv, dx, dy).click().perform()


def _arithmetic(driver) -> dict:
    return driver.execute_script("""
        const a = document.getElementById('arith');
        return {i: +a.dataset.i, j: +a.dataset.j, co: +a.dataset.co,
                y: document.getElementById('arith-y').textContent,
                net: document.getElementById('arith-net').textContent,
                kind: document.getElementById('detail').dataset.kind,
                path: document.getElementById('detail').dataset.path};""")


def _check_value(a, maps, path):
    want = maps[path][a['co'], a['i'], a['j']]
    assert np.float32(float(a['net'])) == want               # the net's float32, printed exactly
    assert abs(float(a['y']) - want) <= 1e-5 * max(1.0, abs(want)), (a, want)  # the page's sum


def _calculator_agrees(driver):
    grid = [(n, k, p, s, d, c) for n in (1, 2, 5, 7, 12, 28, 32, 64) for k in (1, 2, 3, 5, 7)
            for p in (0, 1, 2, 3) for s in (1, 2, 3) for d in (1, 2) for c in (False, True)]
    got = driver.execute_script("""
        const set = (id, v) => { const e = document.getElementById(id);
          if (e.type === 'checkbox') { e.checked = v; e.dispatchEvent(new Event('change')); }
          else { e.value = v; e.dispatchEvent(new Event('input')); } };
        return arguments[0].map(([n, k, p, s, d, c]) => {
          set('calc-n', n); set('calc-k', k); set('calc-p', p); set('calc-s', s); set('calc-d', d);
          set('calc-ceil', c);
          return [+document.getElementById('calc-out').textContent,
                  document.getElementById('calc-formula').textContent];
        });""", grid)
    for (n, k, p, s, d, c), (out, formula) in zip(grid, got):
        assert out == shapes.out_size(n, k, 2 * p, s, d, c), (n, k, p, s, d, c)
        assert formula.startswith(shapes.out_size_formula(n, k, 2 * p, s, d, c))


def _layers_load_into_calculator(driver, data):
    from selenium.webdriver.common.by import By
    for layer in data['calc']['layers']:
        b = driver.find_element(By.CSS_SELECTOR,
                                f'#calc-layers button[data-name="{layer["name"]}"]')
        driver.execute_script('arguments[0].scrollIntoView({block: "center"})', b)
        b.click()
        got = driver.execute_script(
            "return ['n','k','p','s','d'].map((k) => +document.getElementById('calc-' + k).value)"
            ".concat([+document.getElementById('calc-out').textContent])")
        assert got == [layer[k] for k in 'nkpsd'] + [layer['out']], layer['name']


def _not_blank(driver):
    img = matplotlib.image.imread(io.BytesIO(driver.get_screenshot_as_png()), format='png')
    assert img[..., :3].std() > 0.05, 'the screenshot is (almost) one colour'


@needs_browser
def test_lenet_in_the_browser(driver, lenet_run, lenet_page):
    from selenium.webdriver.common.by import By
    page, path = lenet_page
    _open(driver, path)
    assert _severe(driver) == []
    _every_layer_shows_its_maps(driver, page.data)
    run, X = _model_input(lenet_run)
    maps, _ = _captured(run, X)
    # a click on a map of the second conv: the arithmetic of the pixel under the cursor
    _click_map(driver, '2', 3, dx=5, dy=-7)
    a = _arithmetic(driver)
    assert (a['kind'], a['path'], a['co']) == ('conv', '2', 3)
    _check_value(a, maps, '2')
    grid = driver.execute_script("return document.querySelectorAll('#conv-grid td').length")
    assert grid == 25
    # pooling: the window and its max
    _click_map(driver, '1', 2)
    a = _arithmetic(driver)
    assert a['kind'] == 'pool'
    _check_value(a, maps, '1')
    # a dense unit: flatten 16×4×4 = 256, W x + b, the activation
    _click_vector(driver, '4', dx=-20, dy=-20)
    a = _arithmetic(driver)
    assert a['kind'] == 'dense' and a['path'] == '4'
    want = maps['4'][a['co']]
    assert np.float32(float(a['net'])) == want and abs(float(a['y']) - want) < 1e-5
    assert '16 × 4 × 4 = 256' in driver.find_element(By.ID, 'dense-flatten').text
    # the softmax: logits, exp, probabilities
    driver.find_element(By.CSS_SELECTOR, '#overview .col[data-kind="softmax"] [data-unit]').click()
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#softmax-table tr')].slice(1)"
        ".map((r) => [...r.children].map((td) => td.textContent))")
    np.testing.assert_array_equal(np.float32([float(r[1]) for r in rows]), page.data['logits'])
    np.testing.assert_allclose([float(r[3]) for r in rows], page.data['probs'], rtol=1e-6)
    _calculator_agrees(driver)
    _layers_load_into_calculator(driver, page.data)
    _not_blank(driver)
    assert _severe(driver) == []


@needs_browser
def test_own_image_page_in_the_browser(driver, lenet_run, tmp_path):
    from selenium.webdriver.common.by import By
    img = np.full((90, 140, 3), 245, np.uint8)
    img[20:70, 40:100] = (60, 40, 30)            # a dark item on a light table
    Image.fromarray(img).save(tmp_path / 'photo.png')
    path, _ = explain_run(lenet_run, str(tmp_path / 'photo.png'), steps=0).save(
        tmp_path / 'own.html')
    _open(driver, path)
    assert _severe(driver) == []
    note = driver.find_element(By.ID, 'image-note').text
    assert note.startswith('inverted: the border is light')
    steps = driver.find_elements(By.CSS_SELECTOR, '#image-steps canvas')
    assert len(steps) == 4 and all(c.size['width'] > 0 for c in steps)


@needs_browser
def test_resnet_in_the_browser(driver, resnet_run, resnet_page):
    from selenium.webdriver.common.by import By
    page, path = resnet_page
    _open(driver, path)
    assert _severe(driver) == []
    _every_layer_shows_its_maps(driver, page.data)
    run, X = _model_input(resnet_run)
    maps, _ = _captured(run, X)
    _click_map(driver, 'features.0', 5, dx=3, dy=2)            # the stem conv, read from the input
    a = _arithmetic(driver)
    assert a['path'] == 'features.0'
    _check_value(a, maps, 'features.0')
    _click_map(driver, 'features.5.0', 1)                       # a residual unit: its layers
    assert driver.find_element(By.ID, 'detail').get_attribute('data-kind') == 'unit'
    b = driver.find_element(By.CSS_SELECTOR, '#detail button[data-path="features.5.0.conv2"]')
    b.click()
    assert 'forward code' in driver.find_element(By.ID, 'detail').text  # reads relu(bn1(...))
    cv = driver.find_element(By.ID, 'conv-output')
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).move_to_element_with_offset(cv, 10, -10).click().perform()
    a = _arithmetic(driver)
    assert a['path'] == 'features.5.0.conv2'
    _check_value(a, maps, 'features.5.0.conv2')
    _not_blank(driver)
    assert _severe(driver) == []


def test_no_driver_is_one_line_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, 'CHROMEDRIVER', str(tmp_path / 'no-driver'))
    reason = browser.missing()
    assert reason and '\n' not in reason

