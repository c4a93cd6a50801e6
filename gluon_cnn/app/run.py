"""A whole training run, from a config to a finished run folder: the application layer.

config -> data -> model -> trainer -> run folder -> signals -> resume -> plots, in that order, in
`run`. Training itself is `gluon_cnn.training.engine`'s; this module decides what to train and
where its results go. A run folder holds:

    DIR/metrics.json      the run record: config and per-epoch history (gluon_cnn.runs.record)
    DIR/checkpoints/      one checkpoint per epoch, the two newest kept (gluon_cnn.runs.checkpoint)
    DIR/model.params      the final parameters (net.save_parameters), written last: the run is done
    DIR/model-symbol.json, DIR/model-0000.params   the graph for viewers (gluon_cnn.runs.export)
    DIR/curves.png        loss and accuracy per epoch, as the book's Animator draws them
    DIR/.lock             held (flock) by the live run, so that a second run there is refused

A finished run is never lost: a new run into a folder holding a run's results (model.params, a
checkpoint, or epochs in metrics.json) is refused unless asked to --overwrite, and the default
folder, runs/<model>-<time>[-N], is created exclusively (mkdir), so two runs started in the same
second get two folders. Every stop (Ctrl-C, SIGTERM, a failed write, a closed stdout) says how to
continue with --resume, even before the first checkpoint.
"""
import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

from mxnet import gluon, init
from mxnet.base import MXNetError

from ..runs import checkpoint
from ..backend import fastops
from ..training import engine, schedules, ways
from ..training.losses import LabelSmoothingLoss
from .. import data as gdata
from ..data.augment import make_augment
from ..runs.config import TrainConfig
from ..training.amp import enable_amp
from ..training.devices import get_ctxs
from ..training.seeding import seed_everything
from ..errors import CheckpointError, ConfigError, DivergedError, TraceError, WriteError
from ..durable import writing
from ..models import model_info
from ..models.arguments import build_model
from ..runs.record import RECORD_FILE, RunRecord, config_from_dict, read_record, write_record

__all__ = ['run', 'load_run_data', 'lr_scheduler', 'resume_config', 'RESUMABLE_CHANGES']

# the fields a resumed run may change; the rest must match the checkpoint
RESUMABLE_CHANGES = ('epochs', 'lr', 'ctx', 'data_dir', 'hybridize')


def load_run_data(cfg: TrainConfig, ctx, info=None):
    """(train_iter, test_iter) for a config, padded and scaled as the model's record asks."""
    info = info or model_info(cfg.model)
    train_split, test_split = gdata.load_dataset(cfg.dataset, cfg.data_dir)
    if cfg.limit is not None and cfg.limit > len(train_split.labels):
        raise ConfigError(f'--limit {cfg.limit} is larger than the {len(train_split.labels):,} '
                          f'training examples of {cfg.dataset}', field='--limit')
    kw = dict(ctx=ctx, resize=cfg.resize, pad=info.pad, value_range=info.value_range)
    return (gdata.ArrayIter(train_split, cfg.batch_size, shuffle=True, seed=cfg.seed,
                            limit=cfg.limit, **kw),
            gdata.ArrayIter(test_split, cfg.batch_size, **kw))


def lr_scheduler(cfg: TrainConfig, steps_per_epoch: int):
    """The per-update schedule of `cfg.lr_schedule` ('cosine': warm-up then cosine), or None."""
    if cfg.lr_schedule == 'constant':
        return None
    # the paper's steps, scaled to --lr (papers/lecun1998-lenet5.md)
    if cfg.lr_schedule == 'lecun1998':
        return schedules.EpochSteps(cfg.lr, steps_per_epoch)
    return schedules.WarmupCosine(cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                               warmup_steps=round(cfg.warmup * steps_per_epoch))


def _training_loss(cfg: TrainConfig, info):
    """Label-smoothed cross-entropy if asked, else the model's own loss (LeNet-5's RBF distance),
    else the book's softmax cross-entropy."""
    if cfg.label_smoothing:
        return LabelSmoothingLoss(cfg.label_smoothing)
    return (info.loss or gluon.loss.SoftmaxCrossEntropyLoss)()


def run(cfg: TrainConfig, log=print, resume: bool = False, progress=None,
        on_trace=None, overwrite: bool = False) -> RunRecord:
    """Train `cfg.model` as configured into the run folder `cfg.out`; returns the run record.

    A checkpoint is written after every epoch; resume=True continues the run there from its
    latest checkpoint (build cfg with `resume_config`), or from epoch 1 when it stopped before
    its first. SIGTERM stops like Ctrl-C. A folder another live run is writing is refused, as is
    a resume with no epochs left to train, and a new run into a folder holding a run's results
    unless overwrite=True (which deletes those results first).
    progress: per-epoch bars for the engine (train.py passes
    gluon_cnn.training.progress.epoch_bars()).
    on_trace(table): receives the layer table at the input size the data has (train.py --trace).
    """
    with contextlib.ExitStack() as held:  # the run folder's lock, released however run ends
        return _run(cfg, log, resume, progress, on_trace, held, overwrite)


def _run(cfg: TrainConfig, log, resume: bool, progress, on_trace, held,
         overwrite: bool = False) -> RunRecord:
    """`run`'s body; held: an ExitStack that keeps the run folder locked until run returns."""
    cfg.validate()
    if resume and not cfg.out:
        raise ConfigError('resume=True needs cfg.out, the run folder to continue')
    if cfg.out and not resume and not overwrite:
        _refuse_results(Path(cfg.out))  # before any work: the user's finished run comes first
    ctxs = get_ctxs(cfg.ctx)  # several: data parallelism over them (gluon_cnn.training.ways)
    ctx = ctxs[0]
    # one device, several, or workers: dist_* and horovod block until every role is up
    way = ways.for_run(ctxs, cfg.kvstore, cfg.widen, cfg.hybridize, cfg.fast_ops)
    if cfg.fast_ops and not fastops.load():
        log(f'note: --fast-ops: {fastops.reason()}; training with MXNet\'s own operators')
    if way.rank != 0:  # rank 0 alone prints and writes the run folder; all ranks train
        log, progress = (lambda *a: None), None
    enable_amp(cfg.amp)  # before the net is built: AMP rewrites MXNet's operator namespaces
    info = model_info(cfg.model)
    net = build_model(cfg.model, cfg.model_kwargs)
    ckpt = _resume_point(Path(cfg.out)) if resume else None  # refuse a bad one before any work
    if ckpt is not None:
        _check_epochs_left(Path(cfg.out), ckpt, cfg.epochs)
    seed_everything(cfg.seed)
    train_iter, test_iter = load_run_data(cfg, ctx, info)
    layers = _check_input(net, cfg, info)
    if on_trace:
        on_trace(str(layers))
    # after the checks above, so a refused run leaves no empty folder
    out = Path(cfg.out) if cfg.out else default_out(cfg, create=way.rank == 0)
    cfg = cfg.replace(out=str(out))
    if way.rank == 0:
        _prepare_out(out)
        held.enter_context(_lock_run_folder(out))
        if not resume:
            _clear_results(out) if overwrite else _refuse_results(out, locked=True)
    history = list(ckpt.history) if ckpt is not None else []
    record = RunRecord(cfg, history)
    if way.rank == 0:  # first: from here on every stop can be continued with --resume
        if resume and not _record_readable(out):
            log(f'note: rebuilding {out / RECORD_FILE} from '
                f'{ckpt.path if ckpt else "the saved settings"}')
        with writing(out / RECORD_FILE):
            write_record(record)

    def save(h):
        with writing(out / checkpoint.SUBDIR / f'epoch-{len(h):04d}', MXNetError):
            checkpoint.save_checkpoint(out, net, trainer, h, train_iter.rng,
                                       config=dataclasses.asdict(cfg))
        with writing(out / RECORD_FILE):
            write_record(dataclasses.replace(record, history=list(h)))

    with _sigterm_as_interrupt(), _explain_stop(out, cfg.lr):
        # A parameter's own initializer (LeNet-5's +-2.4/fan_in) always wins over this default;
        # 'model' falls back to Gluon's own default, Uniform(0.07), instead of the book's Xavier.
        net.initialize(init.Xavier() if cfg.init == 'xavier' else init.Uniform(), ctx=ctxs)
        trainer = engine.make_trainer(net, cfg.optimizer, cfg.lr, cfg.wd,
                                      lr_scheduler(cfg, len(train_iter)), way)
        if ckpt is not None:  # parameters, optimizer states, shuffle RNG as after that epoch
            checkpoint.restore(ckpt, net, trainer, train_iter.rng, ctxs)
            if ckpt.note:
                log(f'note: {ckpt.note}')
            log(f'resuming {out} after epoch {ckpt.epoch} of {cfg.epochs}')
        elif resume:
            log(f'resuming {out} from epoch 1 of {cfg.epochs} (it stopped before its first '
                f'checkpoint)')
        log(f'training {cfg.model} on {train_iter.num_examples:,} {cfg.dataset} examples, '
            f'{way}: {cfg.settings()}')
        augment = make_augment(cfg.augment, fill=info.value_range[0])
        history = engine.train(net, train_iter, test_iter, _training_loss(cfg, info), trainer,
                               cfg.epochs, way, history=history, augment=augment,
                               seed=cfg.seed, on_epoch=log,
                               on_checkpoint=save if way.rank == 0 else None, progress=progress)
    record = dataclasses.replace(record, history=history)
    if way.rank != 0:
        return record
    from ..viz.figures import plot_curves, save as save_png  # matplotlib only when it is needed
    title = f'{cfg.model}, lr {cfg.lr}, batch {cfg.batch_size}'
    with _explain_stop(out, cfg.lr):  # a failed write says what is intact, how to finish
        with writing(out / RECORD_FILE):
            write_record(record)
        with writing(out / 'curves.png'):
            save_png(plot_curves(history, title=title), out / 'curves.png')
        _save_final_params(net, out / 'model.params')  # last: it marks the run finished
    log(f'saved {out / "model.params"} and {out / RECORD_FILE}')
    log(f'saved {out / "curves.png"}')
    _export_graph(net, out, info.data_shape(cfg.resize), ctx, log)
    return record


def _export_graph(net, out: Path, shape: tuple, ctx, log):
    """model-symbol.json and model-0000.params for graph viewers, after the run is finished."""
    from ..runs.export import EXPORT_PARAMS, SYMBOL_FILE, export_symbol
    why_not = export_symbol(net, out, shape, ctx)
    log(f'no graph export: {why_not}' if why_not else
        f'saved {out / SYMBOL_FILE} and {out / EXPORT_PARAMS} (python -m gluon_cnn.viz graph '
        f'--run {out})')


def _save_final_params(net, path: Path):
    """net.save_parameters, atomically: a model.params there is always complete."""
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    try:
        with writing(path, MXNetError):
            net.save_parameters(str(tmp))
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_epochs_left(out: Path, ckpt, epochs: int):
    """Refuse a resume with nothing to do, before anything is written. At epochs done and no
    model.params newer than the checkpoint, the run stopped while writing its outputs: allowed,
    it writes them."""
    params = out / 'model.params'
    written = (ckpt.path / 'meta.json').stat().st_mtime
    finished = params.exists() and params.stat().st_mtime >= written
    if epochs < ckpt.epoch or (epochs == ckpt.epoch and finished):
        raise ConfigError(f'--resume {out}: the run has done {ckpt.epoch} epochs already, so '
                          f'--epochs {epochs} leaves nothing to train; pass --epochs '
                          f'{ckpt.epoch + 1} or more to train on', field='--epochs', path=out)


@contextlib.contextmanager
def _lock_run_folder(out: Path, write_pid: bool = True):
    """Hold an exclusive flock on DIR/.lock while this run writes DIR; a second run there is
    refused. The kernel drops the lock when the process ends, however it ends: never stale.
    write_pid=False only probes: the lock is free now, or a ConfigError names its holder."""
    with open(out / '.lock', 'a+') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or '?'
            raise ConfigError(f'--out {out} is in use by a live run (pid {pid}); wait for it to '
                              f'end, or pass another --out', field='--out', path=out) from None
        if write_pid:
            f.truncate(0)  # the holder's pid, for the message above ('a+' appends at 0 now)
            f.write(f'{os.getpid()}\n')
            f.flush()
        yield


def default_out(cfg: TrainConfig, root='runs', create: bool = True) -> Path:
    """runs/<model>-<YYYYmmdd-HHMMSS>, or with -2, -3... the first name free; created here with
    an exclusive mkdir, so two runs started in the same second never share a folder."""
    stem = Path(root) / f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not create:
        return stem
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f'{stem.parent}: cannot create run folders there '
                          f'({e.strerror or e}); pass --out DIR') from None
    for n in range(1, 10_000):
        out = stem if n == 1 else stem.with_name(f'{stem.name}-{n}')
        try:
            out.mkdir()
            return out
        except FileExistsError:
            continue
        except OSError as e:
            raise ConfigError(f'--out {out}: cannot write there ({e.strerror or e})',
                              field='--out', path=out) from None
    raise ConfigError(f'{stem}-*: 10,000 run folders this second; pass --out DIR')


# what a run leaves in its folder that a new run would overwrite
RESULTS = ('model.params', RECORD_FILE, 'curves.png', checkpoint.SUBDIR, 'model-symbol.json',
           'model-0000.params')


def _results_in(out: Path) -> str:
    """What of a run's results `out` holds ('model.params, 3 epochs'), or '' when nothing that a
    new run would lose (no folder, or a run stopped before its first epoch)."""
    found = []
    if (out / 'model.params').is_file():
        found.append('model.params')
    if checkpoint.has_checkpoints(out):
        epoch = checkpoint.latest_epoch(out)
        found.append(f'checkpoint epoch {epoch}' if epoch else 'checkpoints')
    if (out / RECORD_FILE).is_file():
        try:
            done = len(read_record(out).history)
        except ConfigError:
            found.append(f'an unreadable {RECORD_FILE}')
        else:
            if done:
                found.append(f'{done} epoch{"s" * (done != 1)} in {RECORD_FILE}')
    return ', '.join(found)


def _refuse_results(out: Path, locked: bool = False):
    """A new run into a folder holding a run's results is refused, naming --resume and
    --overwrite; a folder a live run holds is refused as in use (unless we hold it: locked)."""
    if not locked and (out / '.lock').is_file():
        with contextlib.ExitStack() as probe:  # taken and dropped at once: is a live run there?
            probe.enter_context(_lock_run_folder(out, write_pid=False))
    found = _results_in(out)
    if found:
        done = checkpoint.latest_epoch(out)
        if (out / 'model.params').is_file():
            what, go_on = 'a finished run', f'train it further with --resume {out} --epochs ' \
                f'{(done or 0) + 1}'
        else:
            what, go_on = 'an unfinished run', f'continue it with --resume {out}'
        raise ConfigError(f'--out {out} holds {what} ({found}); {go_on}, or pass --overwrite '
                          f'to start over there, or another --out', field='--out', path=out)


def _clear_results(out: Path):
    """--overwrite: delete the results of the run there (the new run holds the folder's lock)."""
    for name in RESULTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _parses(record_file: Path) -> bool:
    """Whether the record file is there and a JSON object with a "config" object."""
    try:
        data = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get('config'), dict)


def _record_readable(out: Path) -> bool:
    try:
        read_record(out)
        return True
    except ConfigError:
        return False


def _resume_point(out: Path):
    """The checkpoint to resume `out` from, or None to start at epoch 1: allowed only when the
    run stopped before its first checkpoint, with no epochs recorded."""
    if checkpoint.has_checkpoints(out):
        return checkpoint.load_checkpoint(out)
    if not out.is_dir():
        raise CheckpointError(f'--resume {out}: no such directory', path=out)
    if not (out / RECORD_FILE).is_file():
        raise CheckpointError(f'--resume {out}: no checkpoint there and no {RECORD_FILE}, so no '
                              f'run to continue (a run writes {RECORD_FILE} as it starts and a '
                              f'checkpoint at the end of each epoch)', path=out)
    done = len(read_record(out).history)
    if done:
        raise CheckpointError(f'--resume {out}: {RECORD_FILE} records {done} epochs but no '
                              f'checkpoint is there ({out / checkpoint.SUBDIR} is missing); '
                              f'start over with --out {out} --overwrite', path=out)
    return None


def _check_input(net, cfg: TrainConfig, info):
    """The net's trace at the data's input size; an input it cannot take (AlexNet on 28x28) is
    refused, naming the layer and what it needs, and --resize only when resizing would fit."""
    from ..trace import trace  # symbolic shapes only: the net's parameters stay untouched
    shape = info.data_shape(cfg.resize)
    try:
        return trace(net, shape)
    except TraceError as e:
        why = str(e).splitlines()[0]
    side = info.input_shape[-1]
    fix = ''
    if shape != info.data_shape(side):
        try:
            trace(net, info.data_shape(side))
            fix = f'; pass --resize {side}, its input size in {info.source}'
        except TraceError:
            pass
    if not fix and cfg.model_kwargs:
        fix = '; check --model-kwargs (a kernel or a depth too large for this input?)'
    raise ConfigError(f'{cfg.model} cannot take {shape[-2]}x{shape[-1]} inputs ({why}){fix}',
                      field='--resize' if fix.startswith('; pass --resize') or not cfg.model_kwargs
                      else '--model-kwargs')


def resume_config(run_dir, overrides: dict) -> TrainConfig:
    """The saved config of the run in run_dir, with `overrides` of the fields a resumed run may
    change. Its checkpoint must be intact (or an older one: see checkpoint.load_checkpoint),
    or the run must have stopped before its first; a missing or damaged metrics.json is rebuilt
    from the checkpoint's copy of the config."""
    run_dir = Path(run_dir)
    ckpt = _resume_point(run_dir)  # refuse a folder without a good checkpoint first
    try:
        saved = dataclasses.asdict(read_record(run_dir).config)
    except ConfigError as e:
        if ckpt is None or _parses(run_dir / RECORD_FILE):  # a value to fix, not a lost file
            raise
        if ckpt.config is None:
            raise ConfigError(f'{run_dir / RECORD_FILE} is missing or damaged and {ckpt.path} '
                              f'is older than checkpoints that keep the config; restore '
                              f'{RECORD_FILE} by hand or start over with --overwrite') from e
        where = ckpt.path / 'meta.json'
        saved = dataclasses.asdict(config_from_dict(ckpt.config, where))
    saved['out'] = str(run_dir)
    fixed = sorted(k for k, v in overrides.items()
                   if k not in RESUMABLE_CHANGES and saved.get(k) != v)
    if fixed:
        flags = ', '.join('--' + k.replace('_', '-') for k in fixed)
        allowed = ', '.join('--' + k.replace('_', '-') for k in RESUMABLE_CHANGES)
        raise ConfigError(f'--resume continues {run_dir} as it was configured; {flags} cannot '
                          f'change (only {allowed} can)', field=flags.split(', ')[0], path=run_dir)
    return TrainConfig(**{**saved, **overrides})


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While training, SIGTERM (kill, a job scheduler) raises KeyboardInterrupt like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():  # signals reach it only
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt('SIGTERM')
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _explain_stop(out: Path, lr: float):
    """Add to a divergence, an interrupt or a closed stdout where the last good checkpoint is and
    how to go on."""
    try:
        yield
    except BrokenPipeError:  # `train.py | head`: the run stops; stderr says how to continue
        raise BrokenPipeError(f'stdout closed; {_last_checkpoint(out)}') from None
    except DivergedError as e:
        raise e.again(f'{e}; {_last_checkpoint(out, f" --lr {lr / 10:g}")}') from None
    except WriteError as e:
        raise e.again(f'{e}; {_last_checkpoint(out)}') from None
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(f'{str(e) or "Ctrl-C"}; {_last_checkpoint(out)}') from None


def _last_checkpoint(out: Path, flags: str = '') -> str:
    epoch = checkpoint.latest_epoch(out)
    if epoch is None and not (out / RECORD_FILE).is_file():
        return f'nothing was saved yet; run the same command again (--out {out} is still free)'
    if epoch is None:
        return (f'no checkpoint yet (one is written at the end of each epoch); continue with '
                f'python train.py --resume {out}, which starts from epoch 1 with the saved '
                f'settings')
    return (f'the last checkpoint is epoch {epoch} in {out / checkpoint.SUBDIR}; continue with '
            f'python train.py --resume {out}{flags}')


def _prepare_out(out: Path):
    """Create --out, or fail with a ConfigError saying why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / '.write-test'
        probe.write_text('')
        probe.unlink()
    except OSError as e:
        raise ConfigError(f'--out {out}: cannot write there ({e.strerror or e})', field='--out',
                          path=out) from None
