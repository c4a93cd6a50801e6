"""Per-epoch checkpoints: everything a run needs to continue exactly, written atomically, no pickle.

A run folder holds its checkpoints like this:

    DIR/checkpoints/epoch-0003/params.nd     net.save_parameters (MXNet's binary NDArray format)
    DIR/checkpoints/epoch-0003/optimizer.nd  the optimizer's state arrays (momenta, Adam's moments)
    DIR/checkpoints/epoch-0003/meta.json     the run's config, epoch, metrics so far, RNG,
                                             update counts, sha256s of the two .nd files
    DIR/checkpoints/latest                   the name of the newest complete checkpoint

meta.json is one JSON object: `format` (FORMAT), `epoch` (epochs done), `config` (the run's
TrainConfig as a dict, as metrics.json holds it: a lost or damaged metrics.json is rebuilt from
it on --resume), `history` (the per-epoch metric dicts so far), `rng.train_iter` (the shuffle
RandomState), `optimizer` (class, update counts, and how the arrays of optimizer.nd fit its
state tuples), `sha256` (of params.nd and optimizer.nd).

Why not `Trainer.save_states`: it pickles the Updater, and unpickling runs arbitrary code. We save
the state NDArrays with `nd.save` (keyed by parameter index) and the counters as JSON instead.

Atomicity: a checkpoint is written into a hidden `.tmp-*` folder, every file is fsynced, the folder
is renamed into place, and only then is `latest` replaced (temp file, fsync, rename). A crash at any
moment leaves `latest` naming a complete, checksummed checkpoint. The two newest are kept.

Healing: `load_checkpoint` verifies the checkpoint `latest` names; when that one (or `latest`
itself) is damaged and an older checkpoint passes its checksums, it returns the older one with a
`note` saying what was damaged and which one is used, and the caller says so.

RNG: MXNet cannot export its generator's state, so the engine re-seeds it at the start of every
epoch from (seed, epoch) (`training.seeding.epoch_seed`); we save the train iterator's numpy
RandomState, which decides the next epoch's shuffle.
"""
import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple, Optional

import mxnet as mx
import numpy as np
from mxnet import gluon, nd

from ..backend import internals
from ..errors import CheckpointError
from ..durable import fsync_path as _fsync, sha256 as _sha256, write_text_atomic

__all__ = ['Checkpoint', 'save_checkpoint', 'load_checkpoint', 'restore', 'latest_epoch',
           'has_checkpoints', 'load_params', 'optimizer_state', 'set_optimizer_state', 'FORMAT']

FORMAT = 1             # bump when the layout changes; older checkpoints are refused, not misread
KEEP = 2               # checkpoints kept on disk: the newest and one before it
SUBDIR = 'checkpoints'


class Checkpoint(NamedTuple):
    """A checkpoint found on disk and verified: its folder, its parsed meta.json, and a note when
    it is not the one `latest` names (that one was damaged), else ''."""
    path: Path
    meta: dict
    note: str = ''

    @property
    def config(self) -> Optional[dict]:
        """The run's config as saved with the checkpoint (None in ones written without it)."""
        return self.meta.get('config') if isinstance(self.meta.get('config'), dict) else None

    @property
    def epoch(self) -> int:
        return self.meta['epoch']

    @property
    def history(self) -> list:
        return self.meta['history']


# ----------------------------------------------------------------------------- optimizer state
def _flatten(prefix: str, state, arrays: dict):
    """A state (None, NDArray, or nested tuples of them) -> JSON structure; arrays go to `arrays`.
    """
    if state is None:
        return None
    if isinstance(state, nd.NDArray):
        arrays[prefix] = state
        return prefix
    if isinstance(state, (tuple, list)):
        return [_flatten(f'{prefix}.{j}', s, arrays) for j, s in enumerate(state)]
    raise CheckpointError(f'cannot checkpoint an optimizer state of type {type(state).__name__}')


def _unflatten(spec, arrays: dict):
    if spec is None:
        return None
    if isinstance(spec, str):
        return arrays[spec]
    return tuple(_unflatten(s, arrays) for s in spec)


def _net_order(trainer: gluon.Trainer, net) -> list:
    """For each of the trainer's parameter indices, the parameter's place in net.collect_params()
    (its build order). The trainer's own indices follow the names, and two builds of the same net
    in one process are named apart (dense9 and dense10 sort the other way round than dense11 and
    dense12), so a checkpoint keys states by build order."""
    place = {id(p): i for i, p in enumerate(net.collect_params().values())}
    return [place[id(p)] for p in internals.trainer_params(trainer)]


def optimizer_state(trainer: gluon.Trainer, net=None):
    """(arrays, meta): the state NDArrays keyed '<param>[.<j>]' and the JSON counters; <param> is
    the parameter's place in `net`'s build order when the net is given, else the trainer's
    index."""
    if internals.uses_kvstore_updates(trainer):  # dist_async: the servers update and keep the
        opt = internals.optimizer_of(trainer)    # states; config.validate allows only plain SGD,
        if type(opt).__name__ != 'SGD' or opt.momentum:  # which has none
            raise CheckpointError('optimizer states on the kvstore servers cannot be checkpointed')
        return {}, {'class': type(opt).__name__, 'num_update': opt.num_update,
                    'index_update_count': {}, 'states': {}}
    opt, states, counts = internals.optimizer_state(trainer)
    if net is not None:
        order = _net_order(trainer, net)
        states = {order[i]: s for i, s in states.items()}
        counts = {order[i]: c for i, c in counts.items()}
    arrays = {}
    states = {str(i): _flatten(str(i), s, arrays) for i, s in sorted(states.items())}
    meta = {'class': type(opt).__name__, 'num_update': opt.num_update,
            'index_update_count': {str(k): v for k, v in counts.items()}, 'states': states,
            'keyed_by': 'net order' if net is not None else 'trainer index'}
    return arrays, meta


def set_optimizer_state(trainer: gluon.Trainer, arrays: dict, meta: dict, net=None):
    """Put saved states and update counters into `trainer` (the inverse of optimizer_state; a
    checkpoint keyed by net order needs the net)."""
    opt = internals.optimizer_of(trainer)
    if type(opt).__name__ != meta['class']:
        raise CheckpointError(f"checkpoint has {meta['class']} optimizer states, the run uses "
                              f'{type(opt).__name__}')
    states = {int(i): _unflatten(spec, arrays) for i, spec in meta['states'].items()}
    counts = {int(k): v for k, v in meta['index_update_count'].items()}
    if meta.get('keyed_by') == 'net order':  # back to this trainer's own indices
        if net is None:
            raise CheckpointError('these optimizer states are keyed by the net: pass it')
        index = {place: i for i, place in enumerate(_net_order(trainer, net))}
        states = {index[k]: s for k, s in states.items()}
        counts = {index[k]: c for k, c in counts.items()}
    internals.set_optimizer_state(trainer, states, counts, meta['num_update'])


# ----------------------------------------------------------------------------- save
def save_checkpoint(run_dir, net: gluon.Block, trainer: gluon.Trainer, history: list,
                    rng: np.random.RandomState, config: Optional[dict] = None) -> Path:
    """Write the checkpoint of epoch `len(history)` under run_dir/checkpoints; returns its folder.

    history : the per-epoch metric dicts so far (the last one is this epoch's).
    rng : the train iterator's RandomState, which draws the next epoch's shuffle.
    config : the run's config as a dict (dataclasses.asdict of its TrainConfig), kept so that the
        run record can be rebuilt from the checkpoint alone.
    """
    root = Path(run_dir) / SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    epoch = len(history)
    name = f'epoch-{epoch:04d}'
    tmp = root / f'.tmp-{name}-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    net.save_parameters(str(tmp / 'params.nd'))
    arrays, opt_meta = optimizer_state(trainer, net)
    nd.save(str(tmp / 'optimizer.nd'), arrays)  # plain SGD has no state: an empty file is fine
    algo, keys, pos, has_gauss, cached = rng.get_state()
    meta = {'format': FORMAT, 'epoch': epoch, 'config': config, 'history': history,
            'rng': {'train_iter': [algo, keys.tolist(), int(pos), int(has_gauss), float(cached)]},
            'optimizer': opt_meta,
            'sha256': {f: _sha256(tmp / f) for f in ('params.nd', 'optimizer.nd')}}
    (tmp / 'meta.json').write_text(json.dumps(meta) + '\n')
    for f in tmp.iterdir():
        _fsync(f)
    _fsync(tmp)
    final = root / name
    if final.exists():  # left by a run that died before updating `latest`: not referenced
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync(root)
    write_text_atomic(root / 'latest', name + '\n')
    _prune(root, keep=name)
    return final


def _prune(root: Path, keep: str):
    """Delete all but the KEEP newest checkpoints and any temp folders of dead writers."""
    done = sorted(p for p in root.glob('epoch-*') if p.is_dir())
    for p in done[:-KEEP]:
        if p.name != keep:
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob('.tmp-*'):
        if p.name.endswith(f'-{os.getpid()}'):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- load
def latest_epoch(run_dir) -> Optional[int]:
    """The epoch of the newest complete checkpoint in run_dir, or None (no verification)."""
    try:
        name = (Path(run_dir) / SUBDIR / 'latest').read_bytes().decode('ascii').strip()
        return int(name.split('-')[1])
    except (OSError, ValueError, IndexError):  # UnicodeDecodeError is a ValueError
        return None


def has_checkpoints(run_dir) -> bool:
    """Whether run_dir holds any checkpoint, intact or not (`latest` or an epoch folder)."""
    root = Path(run_dir) / SUBDIR
    return (root / 'latest').exists() or any(p.is_dir() for p in root.glob('epoch-*'))


def load_checkpoint(run_dir) -> Checkpoint:
    """The newest intact checkpoint of run_dir (JSON parses, checksums match), else
    CheckpointError naming the damaged file. When the one `latest` names is damaged and an older
    one is intact, that one is returned with a `note` saying so."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f'--resume {run_dir}: no such directory', path=run_dir)
    root = run_dir / SUBDIR
    latest = root / 'latest'
    if not has_checkpoints(run_dir):
        raise CheckpointError(f'--resume {run_dir}: no checkpoint there ({latest} is missing; '
                              'a run writes one at the end of each epoch)', path=run_dir)
    try:
        first = _verify(root, _read_latest(latest))
        return Checkpoint(first, _verified_meta(first))
    except CheckpointError as e:
        damage = e
    # newest first; a folder named epoch-* that is not a directory is no checkpoint
    for older in sorted((p for p in root.glob('epoch-*') if p.is_dir()), reverse=True):
        try:
            meta = _verified_meta(older)
        except CheckpointError:
            continue
        return Checkpoint(older, meta, f'{damage}; using {older.name}, the newest intact '
                                       f'checkpoint (epoch {meta["epoch"]})')
    raise damage


def _read_latest(latest: Path) -> str:
    """The checkpoint name in `latest`; CheckpointError if it is missing or not a name."""
    try:
        name = latest.read_bytes().decode('ascii').strip()
    except FileNotFoundError:
        raise CheckpointError(f'{latest}: missing', path=latest) from None
    except OSError as e:
        raise CheckpointError(f'{latest}: unreadable ({e.strerror})', path=latest) from None
    except UnicodeDecodeError:
        raise CheckpointError(f'{latest}: damaged (not a checkpoint name)', path=latest) from None
    if not name.startswith('epoch-') or '/' in name or name in ('.', '..'):
        raise CheckpointError(f'{latest}: names {name[:40]!r}, which is not a checkpoint folder',
                              path=latest)
    return name


def _verify(root: Path, name: str) -> Path:
    path = root / name
    if not path.is_dir():
        raise CheckpointError(f'{root / "latest"}: names {name!r}, which is not a checkpoint '
                              f'folder', path=root / 'latest')
    return path


def _verified_meta(path: Path) -> dict:
    """The parsed meta.json of the checkpoint folder `path`, its files checked against their
    sha256; else CheckpointError naming the damaged file."""
    try:
        meta = json.loads((path / 'meta.json').read_text())
        if not isinstance(meta, dict):
            raise ValueError('not a JSON object')
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        raise CheckpointError(f'{path / "meta.json"}: corrupt checkpoint ({e})',
                              path=path / 'meta.json') from None
    if meta.get('format') != FORMAT:
        raise CheckpointError(f'{path}: checkpoint format {meta.get("format")!r}, this version '
                              f'reads format {FORMAT}', path=path)
    sums = meta.get('sha256')
    if not isinstance(sums, dict):
        sums = {}
    for f, digest in sums.items():
        try:
            ok = _sha256(path / f) == digest
        except OSError:
            ok = False
        if not ok:
            raise CheckpointError(f'{path / f}: corrupt checkpoint (missing, or checksum mismatch)',
                                  path=path / f)
    missing = {'epoch', 'history', 'rng', 'optimizer'} - set(meta)
    if missing or set(sums) != {'params.nd', 'optimizer.nd'}:
        raise CheckpointError(f'{path / "meta.json"}: incomplete checkpoint '
                              f'(missing {", ".join(sorted(missing)) or "checksums"})',
                              path=path / 'meta.json')
    if not isinstance(meta['epoch'], int) or not isinstance(meta['history'], list):
        raise CheckpointError(f'{path / "meta.json"}: corrupt checkpoint (epoch or history of '
                              f'the wrong type)', path=path / 'meta.json')
    return meta


def load_params(net: gluon.Block, path: Path, ctx=None,
                what: str = 'does not fit this model or is corrupt', fix: str = ''):
    """net.load_parameters(path), with Gluon's AssertionError (missing or extra names, shapes)
    and MXNet's errors (a truncated file) as one CheckpointError naming the file, then `fix`."""
    try:
        net.load_parameters(str(path), ctx=ctx or mx.cpu())
    except (AssertionError, mx.base.MXNetError, OSError) as e:
        raise CheckpointError(f'{path}: {what} ({_first_line(e)}){fix}', path=path) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    if not text:
        return type(e).__name__
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    useful = [l for l in lines if 'Check failed' in l or 'Invalid' in l or 'shape' in l]
    return (useful or lines)[-1 if useful else 0][:200]


def restore(ckpt: Checkpoint, net: gluon.Block, trainer: gluon.Trainer,
            rng: np.random.RandomState, ctx=None):
    """Load parameters, optimizer states and the iterator's RNG of `ckpt` into a fresh run."""
    load_params(net, ckpt.path / 'params.nd', ctx)
    try:
        arrays = nd.load(str(ckpt.path / 'optimizer.nd'))
    except mx.base.MXNetError as e:
        raise CheckpointError(f'{ckpt.path / "optimizer.nd"}: corrupt checkpoint '
                              f'({_first_line(e)})', path=ckpt.path / 'optimizer.nd') from None
    if isinstance(arrays, list):  # nd.save of an empty dict loads back as an empty list
        arrays = {}
    try:
        set_optimizer_state(trainer, arrays, ckpt.meta['optimizer'], net)
        algo, keys, pos, has_gauss, cached = ckpt.meta['rng']['train_iter']
        rng.set_state((algo, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f'{ckpt.path / "meta.json"}: corrupt checkpoint ({e!r})',
                              path=ckpt.path / 'meta.json') from None
