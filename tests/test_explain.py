"""The explainer page (python -m gluon_cnn.viz explain), built and then driven in a real browser.

Oracles: the net run layer by layer with MXNet's own operators (`mx.nd.Convolution`, `Pooling`,
`FullyConnected`, `Activation`) on the layers' parameters, never the page's hooks; `gluon_cnn.trace`
for the column headers; `gluon_cnn.shapes.out_size` / `out_size_formula` for the shape calculator;
numpy's softmax. The browser tests open the page from file:// in the system's headless Chromium
(Debian's chromium + chromium-driver, named explicitly: Selenium Manager never runs) and skip
with a one-line reason where there is none (`make test-browser` installs it).
"""
import io
import json
import re
import shutil
import subprocess
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
from gluon_cnn.runs import load as runload
from gluon_cnn.runs.record import RunRecord, write_record
from gluon_cnn.trace import trace
from gluon_cnn.backend import internals
from gluon_cnn.viz import browser, explain, load_run
from gluon_cnn.viz.__main__ import main as viz_main
from gluon_cnn.viz.explainer import decode, explain_run, json_script, preprocess_image
from gluon_cnn.viz import explainer as explainer_pkg
from mxnet.gluon import nn

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
    it, _ = runload.test_iter(run, batch_size=1, limit=1)  # test image 0, fed as in training
    return run, next(iter(it))[0]


def _act(layer, y):
    act = getattr(layer, 'act', None)
    return y if act is None else mx.nd.Activation(y, act_type=internals.act_type(act))


def _conv(layer, x):
    kw = internals.layer_kwargs(layer)
    b = layer.bias.data() if layer.bias is not None else None
    args = (x, layer.weight.data()) if b is None else (x, layer.weight.data(), b)
    y = mx.nd.Convolution(*args, kernel=kw['kernel'], stride=kw['stride'], pad=kw['pad'],
                          dilate=kw['dilate'], num_filter=kw['num_filter'],
                          num_group=kw['num_group'], no_bias=b is None)
    return _act(layer, y)


def _by_ops(layer, x):
    """One layer of a plain Sequential net by MXNet's own operator on its parameters."""
    if isinstance(layer, nn.Conv2D):
        return _conv(layer, x)
    if isinstance(layer, (nn.MaxPool2D, nn.AvgPool2D)):
        kw = internals.layer_kwargs(layer)
        return mx.nd.Pooling(x, kernel=kw['kernel'], stride=kw['stride'], pad=kw['pad'],
                             pool_type=kw['pool_type'],
                             pooling_convention=kw['pooling_convention'])
    if isinstance(layer, nn.Dense):
        y = mx.nd.FullyConnected(x, layer.weight.data(), layer.bias.data(),
                                 num_hidden=layer.weight.shape[0], flatten=True)
        return _act(layer, y)
    raise AssertionError(f'no operator for {layer}')


def _captured(run, X) -> dict:
    """{path: output} of every layer of the Sequential net, run layer by layer without hooks."""
    maps, x = {}, X
    for i, layer in enumerate(run.net):
        x = _by_ops(layer, x)
        maps[str(i)] = x.asnumpy()[0]
    return maps, x.asnumpy()[0]


def _captured_resnet(run, X) -> dict:
    """The layers the ResNet tests read, by operators on the blocks' own inputs: the stem conv on
    the input, and conv2/conv3 of features.5.0 on relu(bn1(conv1(x))) and on x."""
    f = run.net.features
    maps = {'features.0': _conv(f[0], X).asnumpy()[0]}
    x = X
    for i in range(5):
        x = f[i](x)                  # the unit's input, made by the blocks' own forward
    unit = f[5][0]
    h = mx.nd.relu(unit.bn1(_conv(unit.conv1, x)))
    maps['features.5.0.conv2'] = _conv(unit.conv2, h).asnumpy()[0]
    maps['features.5.0.conv3'] = _conv(unit.conv3, x).asnumpy()[0]
    return maps, run.net(X).asnumpy()[0]


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
        np.testing.assert_allclose(out, maps[path][:len(out)].reshape(out.shape), rtol=1e-6,
                                   atol=1e-7)
        if det['kind'] == 'conv':
            w = run.net[int(path)].weight.data().asnumpy()
            np.testing.assert_array_equal(decode(d, det['weight']), w[:det['shown']])
    np.testing.assert_array_equal(decode(d, d['details']['0']['input']), X.asnumpy()[0])
    np.testing.assert_allclose(decode(d, d['details']['2']['input']), maps['1'], rtol=1e-6,
                               atol=1e-7)
    # one colour scale per layer: every channel of a column on ±max|value| of the whole layer
    for col in d['columns'][1:-1]:
        if col.get('maps') is None:
            continue
        y = maps[col['path']]
        lo, hi = float(y.min()), float(y.max())
        m = max(abs(lo), abs(hi))
        assert col['scale'] == {'kind': 'diverging', 'lo': -m, 'hi': m, 'min': lo, 'max': hi}
        t = d['tensors'][col['maps']]
        assert (t['lo'], t['hi']) == (-m, m)
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
    maps, logits = _captured_resnet(run, X)
    np.testing.assert_array_equal(np.float32(d['logits']), logits)
    for path in ('features.0', 'features.5.0.conv2', 'features.5.0.conv3'):
        out = decode(d, d['details'][path]['output'])
        np.testing.assert_allclose(out, maps[path][:len(out)], rtol=1e-6, atol=1e-7)


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


def _overwrites(lenet_run, resnet_run, out, capsys) -> Path:
    """The overwrite rule through the CLI: this run's page is replaced by the next image's; a page
    of another run and a user's own file are kept unless --force."""
    run = ['explain', '--run', str(lenet_run), '--out', str(out), '--steps', '0']
    assert viz_main(run + ['--image', '3']) == 0
    assert capsys.readouterr().out.startswith(f'wrote {out}')
    assert viz_main(run + ['--image', '5']) == 0                # browsing: no --force needed
    assert capsys.readouterr().out.startswith(f'overwrote {out}')
    page = out.read_text(encoding='utf-8')
    assert _embedded(page)['image']['index'] == 5
    assert _embedded(page)['marker'] == {'command': 'viz explain',
                                         'run': str(Path(lenet_run).resolve())}
    other = ['explain', '--run', str(resnet_run), '--out', str(out), '--steps', '0']
    assert viz_main(other) == 2                                  # another run's page: refused
    assert 'another run' in capsys.readouterr().err
    assert out.read_text(encoding='utf-8') == page
    mine = out.with_name('notes.html')
    mine.write_text('<p>my own notes</p>')
    assert viz_main(run[:-2] + ['--out', str(mine)]) == 2       # a user's file: refused
    assert 'not a page this command made' in capsys.readouterr().err
    assert mine.read_text() == '<p>my own notes</p>'
    assert viz_main(run[:-2] + ['--out', str(mine), '--force', '--steps', '0']) == 0
    assert capsys.readouterr().out.startswith(f'overwrote {mine}')
    assert sorted(p.name for p in out.parent.iterdir()) == ['notes.html', 'p.html']  # no temp
    return out


def test_overwrite_rule(lenet_run, resnet_run, tmp_path, capsys):
    _overwrites(lenet_run, resnet_run, tmp_path / 'p.html', capsys)


def test_default_image_is_one_the_net_gets_right(lenet_run):
    run, _ = _model_input(lenet_run)
    it, test = runload.test_iter(run, batch_size=500, limit=500)
    X, y = next(iter(it))
    right = np.flatnonzero(run.net(X).asnumpy().argmax(axis=1) == y.asnumpy())
    d = explain_run(lenet_run, steps=0).data
    assert d['image']['index'] == right[0] and d['top3'][0]['k'] == d['true_label']['k']
    wrong = int(np.flatnonzero(run.net(X).asnumpy().argmax(axis=1) != y.asnumpy())[0])
    w = explain_run(lenet_run, wrong, steps=0).data
    assert w['top3'][0]['k'] != w['true_label']['k'] == int(y.asnumpy()[wrong])


def test_class_images_are_seeded(lenet_run):
    a, b = (explain_run(lenet_run, 0, steps=3).data for _ in range(2))
    assert a['learned']['maximized']['steps'] == 3
    assert a['tensors'][a['learned']['maximized']['images']] == \
        b['tensors'][b['learned']['maximized']['images']]


def test_json_script_escapes_what_ends_a_script():
    hostile = {'name': '</script><!--<script>&\u2028\u2029', 'ok': 'é×'}
    text = json_script(hostile)
    for bad in ('<', '>', '&', '\u2028', '\u2029'):
        assert bad not in text, bad
    assert json.loads(text) == hostile


def test_cli_page_and_errors(lenet_run, tmp_path, capsys):
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
                y: document.getElementById('arith-y').dataset.exact,
                net: document.getElementById('arith-net').dataset.exact,
                shown: document.getElementById('arith-y').textContent,
                kind: document.getElementById('detail').dataset.kind,
                path: document.getElementById('detail').dataset.path};""")


def _check_value(a, maps, path):
    want = maps[path][a['co'], a['i'], a['j']]
    tol = 1e-5 * max(1.0, abs(want))
    assert abs(np.float32(float(a['net'])) - want) <= tol, (a, want)  # the net's float32
    assert abs(float(a['y']) - want) <= tol, (a, want)                   # the page's own sum
    assert len(a['shown'].lstrip('-').replace('.', '')) <= 8, a  # a readable number, not a wall


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
    # the verdict says plainly whether the net is right about test image 0
    said = driver.execute_script("return document.querySelector('#verdict .verdict').dataset.right")
    assert said == ('1' if int(np.argmax(maps['6'])) == page.data['true_label']['k'] else '0')
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
    assert abs(np.float32(float(a['net'])) - want) < 1e-6 and abs(float(a['y']) - want) < 1e-5
    assert '16 × 4 × 4 = 256' in driver.find_element(By.ID, 'dense-flatten').text
    # the softmax: logits, exp, probabilities
    driver.find_element(By.CSS_SELECTOR, '#overview .col[data-kind="softmax"] [data-unit]').click()
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#softmax-table tr')].slice(1)"
        ".map((r) => [...r.children].map((td) => td.dataset.exact || td.textContent))")
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
    maps, _ = _captured_resnet(run, X)
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


def _legends(driver) -> dict:
    return driver.execute_script("""
        const out = {};
        for (const c of document.querySelectorAll('#overview .col')) {
          const l = c.querySelector('.legend');
          if (l) out[c.dataset.path] = {min: +l.dataset.min, max: +l.dataset.max,
                                        lo: +l.dataset.lo, hi: +l.dataset.hi, kind: l.dataset.kind};
        }
        return out;""")


def _pixels(driver, path, where) -> list:
    """The RGB drawn at (i, j) of each channel's map of a column: where = [(channel, i, j)]."""
    return driver.execute_script("""
        const col = document.querySelector(`#overview .col[data-path="${arguments[0]}"]`);
        return arguments[1].map(([c, i, j]) => {
          const cv = col.querySelector(`canvas.map[data-channel="${c}"]`);
          const s = cv.width / arguments[2];
          return [...cv.getContext('2d').getImageData(Math.floor((j + .5) * s),
                                                      Math.floor((i + .5) * s), 1, 1).data]
                 .slice(0, 3);
        });""", path, where, 24)


@needs_browser
def test_one_colour_scale_per_layer(driver, lenet_run, lenet_page):
    page, path = lenet_page
    _open(driver, path)
    run, X = _model_input(lenet_run)
    maps, _ = _captured(run, X)
    legends = _legends(driver)
    assert legends['input']['kind'] == 'grey'
    assert (legends['input']['lo'], legends['input']['hi']) == tuple(run.info.value_range)
    for p in ('0', '1', '2', '3', '4', '5', '6'):
        y = maps[p]  # every channel of the layer, not only the drawn ones
        assert (legends[p]['min'], legends[p]['max']) == (float(y.min()), float(y.max())), p
        m = max(abs(float(y.min())), abs(float(y.max())))
        assert (legends[p]['lo'], legends[p]['hi']) == (-m, m) and legends[p]['kind'] == \
            'diverging'
    # the first conv's channels share the scale: only the channel that holds the layer's largest
    # value reaches the scale's end colour at its own maximum; a per-channel stretch would
    # draw every channel's maximum in that colour
    y = maps['0']
    where = [(c, *np.unravel_index(np.argmax(y[c]), y[c].shape)) for c in range(y.shape[0])]
    rgb = _pixels(driver, '0', [(c, int(i), int(j)) for c, i, j in where])
    top = int(np.argmax(y.reshape(y.shape[0], -1).max(axis=1)))
    end = driver.execute_script('return window.explainer.math.colour(1, {kind: "diverging", '
                                'lo: -1, hi: 1})')
    assert rgb[top] == end
    for c in range(y.shape[0]):
        if y[c].max() < 0.8 * y.max():
            assert rgb[c] != end, c


@needs_browser
def test_hostile_names_still_draw_every_layer(driver, lenet_run, tmp_path):
    import shutil
    hostile = tmp_path / '<!--<script>' / '</script>'   # a run folder named to break out
    shutil.copytree(lenet_run, hostile)
    img = np.full((40, 40), 20, np.uint8)
    img[10:30, 12:28] = 220
    image = hostile / '<!--<script>x.png'
    Image.fromarray(img).save(image)
    page = explain_run(hostile, str(image), steps=0)
    path, _ = page.save(tmp_path / 'hostile.html')
    html = path.read_text(encoding='utf-8')
    assert html.count('</script>') == 3  # the data's, the arithmetic's and the page's script
    _open(driver, path)
    assert _severe(driver) == []
    _every_layer_shows_its_maps(driver, page.data)
    from selenium.webdriver.common.by import By
    assert image.name in driver.find_element(By.ID, 'image-steps').text   # drawn as text
    assert str(hostile) in driver.find_element(By.CSS_SELECTOR, '.sub').text
    net = get_model('lenet')
    net.initialize()
    labels = [f'<!--<script>{k}</script>' for k in range(10)]
    own = explain(net, np.zeros((28, 28), np.float32), classes=labels, steps=0,
                  title='</script><!--')
    path, _ = own.save(tmp_path / 'labels.html')
    _open(driver, path)
    assert _severe(driver) == []
    _every_layer_shows_its_maps(driver, own.data)
    shown = driver.execute_script(
        "return [...document.querySelectorAll('#top3 .name')].map((e) => e.textContent)")
    assert all(s in labels for s in shown) and len(shown) == 3


@needs_browser
def test_browsing_overwrites_this_runs_page(driver, lenet_run, resnet_run, tmp_path, capsys):
    from selenium.webdriver.common.by import By
    out = _overwrites(lenet_run, resnet_run, tmp_path / 'p.html', capsys)
    _open(driver, out)
    assert _severe(driver) == []
    assert driver.find_element(By.CSS_SELECTOR, '#image-steps .cap').text.startswith(
        'test image #5')


def test_no_driver_is_one_line_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, 'CHROMEDRIVER', str(tmp_path / 'no-driver'))
    reason = browser.missing()
    assert reason and '\n' not in reason



# ----------------------------------------------------------------------------- arithmetic in node
NODE = shutil.which('node')
MATH_JS = Path(explainer_pkg.__file__).parent / 'templates' / 'explain_math.js'

_NODE_SCRIPT = r"""
const fs = require('fs');
const M = require(process.argv[2]);
const D = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const Q = JSON.parse(fs.readFileSync(process.argv[4], 'utf8'));
const T = (id) => M.decode(D.tensors[id]);
const out = {calc: Q.calc.map((a) => [M.outSize(...a), M.outFormula(...a)]), conv: {}, pool: {},
             dense: {}, f32: {}, u8: {}};
for (const [path, d] of Object.entries(D.details)) {
  if (d.kind === 'conv') out.conv[path] = Q.pixels.map(([c, i, j]) =>
    M.convValue(d, T(d.input), T(d.weight), c % d.shown, i % d.out_hw[0], j % d.out_hw[1]).y);
  if (d.kind === 'pool') out.pool[path] = Q.pixels.map(([c, i, j]) =>
    M.poolValue(d, T(d.input), c % d.shown, i % d.out_hw[0], j % d.out_hw[1]).y);
  if (d.kind === 'dense') out.dense[path] = [...Array(d.units).keys()].map((u) =>
    M.denseValue(d, T(d.input), T(d.weight), u).y);
  out.f32[path] = Array.from(T(d.output).data.slice(0, 50), M.f32);
}
D.tensors.forEach((t, k) => { if (t.dtype === 'u8') out.u8[k] = Array.from(T(k).data); });
out.softmax = M.softmax(D.logits).p;
const grey = {kind: 'grey', lo: 0, hi: 1};
out.colour = {grey: [M.colour(0, grey), M.colour(1, grey)],
              div: [-2, -1, 0, 1, 2].map((v) => M.colour(v, {kind: 'diverging', lo: -2, hi: 2}))};
out.short = Q.numbers.map(M.short);
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason='no node to run the page\'s arithmetic')
def test_page_arithmetic_in_node(tmp_path):
    """The page's own JS (explain_math.js), run by node on the page's data, against MXNet's
    operators run layer by layer on the same parameters, and against gluon_cnn.shapes."""
    mx.random.seed(0)
    net = get_model('lenet')
    net.initialize(mx.init.Xavier())
    x = np.random.RandomState(1).rand(1, 1, 28, 28).astype(np.float32)
    data = explain(net, x, steps=0).data
    grid = [(n, k, p, s, d, c) for n in (1, 5, 12, 28, 64) for k in (1, 2, 3, 5, 7)
            for p in (0, 1, 2, 4) for s in (1, 2, 3) for d in (1, 2) for c in (False, True)]
    pixels = [(0, 0, 0), (1, 3, 7), (2, 11, 5), (5, 23, 23), (3, 7, 0)]
    numbers = [0.0, 1 / 3, -123456.789, 1e-7, 2.5e8, 0.0012345]
    (tmp_path / 'data.json').write_text(json.dumps(data))
    (tmp_path / 'query.json').write_text(json.dumps({'calc': grid, 'pixels': pixels,
                                                     'numbers': numbers}))
    (tmp_path / 'run.js').write_text(_NODE_SCRIPT)
    done = subprocess.run([NODE, str(tmp_path / 'run.js'), str(MATH_JS),
                           str(tmp_path / 'data.json'), str(tmp_path / 'query.json')],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    # the shape calculator
    for (n, k, p, s, d, c), (size, formula) in zip(grid, got['calc']):
        assert size == shapes.out_size(n, k, p, s, d, c), (n, k, p, s, d, c)
        assert formula == shapes.out_size_formula(n, k, p, s, d, c)
    # every clicked value, redone by the page, against the operators
    maps, x_ = {}, mx.nd.array(x)
    for i, layer in enumerate(net):
        x_ = _by_ops(layer, x_)
        maps[str(i)] = x_.asnumpy()[0]
    assert set(got['conv']) == {'0', '2'} and set(got['pool']) == {'1', '3'}
    for kind in ('conv', 'pool'):
        for path, values in got[kind].items():
            d, y = data['details'][path], maps[path]
            for (c, i, j), v in zip(pixels, values):
                want = y[c % d['shown'], i % d['out_hw'][0], j % d['out_hw'][1]]
                assert abs(v - want) <= 1e-5 * max(1, abs(want)), (path, c, i, j, v, want)
    for path, values in got['dense'].items():
        np.testing.assert_allclose(values, maps[path], rtol=1e-5, atol=1e-6)
    z = maps['6'].astype(np.float64)
    p = np.exp(z - z.max())
    np.testing.assert_allclose(got['softmax'], p / p.sum(), rtol=1e-6)
    # numbers: float32 printed exactly where exact, 4 digits where read
    for path, texts in got['f32'].items():
        vals = decode(data, data['details'][path]['output']).reshape(-1)[:50]
        assert [np.float32(t) for t in texts] == list(vals)
        assert all(len(t.lstrip('-').replace('.', '').replace('e', '')) <= 12 for t in texts)
    assert got['short'] == ['0', '0.3333', '-123500', '1.00e-7', '2.50e8', '0.001234']
    for k, values in got['u8'].items():
        assert values == decode(data, int(k)).reshape(-1).tolist()
    # colours: grey from black to white; blue below 0, white at 0, red above
    assert got['colour']['grey'] == [[0, 0, 0], [255, 255, 255]]
    (b2, b1, w, r1, r2) = got['colour']['div']
    assert b2[2] > b2[0] and r2[0] > r2[2] and min(w) > 240
    assert b1[0] > b2[0] and r1[2] > r2[2]   # paler nearer 0
