"""A whole training run, from a config to a finished run folder: the application layer.

config -> data -> model -> trainer -> run folder -> signals -> resume -> plots, in that order, in
`run`. Training itself is `gluon_cnn.training.engine`'s; this module decides what to train and
where its results go. A run folder holds:

    DIR/metrics.json      the run record: config and per-epoch history (gluon_cnn.runs.record)
    DIR/checkpoints/      one checkpoint per epoch, the two newest kept (gluon_cnn.runs.checkpoint)
    DIR/model.params      the final parameters (net.save_parameters), written last: the run is done
    DIR/curves.png        loss and accuracy per epoch, as the book's Animator draws them
    DIR/model-symbol.json, DIR/model-0000.params   the graph for viewers (gluon_cnn.runs.export)
    DIR/.lock             held (flock) by the live run, so that a second run there is refused
"""
import contextlib
import dataclasses
import fcntl
import os
import signal
import threading
import time
from pathlib import Path

from mxnet import gluon, init
from mxnet.base import MXNetError

from ..runs import checkpoint
from ..mx import fastops
from ..training import engine, schedules, ways
from ..training.losses import LabelSmoothingLoss
from .. import data as gdata
from ..data.augment import make_augment
from ..runs.config import TrainConfig
from ..training.amp import enable_amp
from ..training.devices import get_ctxs
from ..training.seeding import seed_everything
from ..errors import ConfigError, DivergedError, TraceError, WriteError
from ..runs.files import writing
from ..models import get_model, model_info
from ..runs.record import RECORD_FILE, RunRecord, read_record, write_record

__all__ = ['run', 'load_run_data', 'lr_scheduler', 'resume_config', 'RESUMABLE_CHANGES']

# the fields a resumed run may change; the rest must match the checkpoint
RESUMABLE_CHANGES = ('epochs', 'lr', 'ctx', 'data_dir', 'hybridize')


def load_run_data(cfg: TrainConfig, ctx, info=None):
    """(train_iter, test_iter) for a config, padded and scaled as the model's record asks."""
    info = info or model_info(cfg.model)
    train_split, test_split = gdata.load_dataset(cfg.dataset, cfg.data_dir)
    if cfg.limit is not None and cfg.limit > len(train_split.labels):
        raise ConfigError(f'--limit {cfg.limit} is larger than the {len(train_split.labels):,} '
                          f'training examples of {cfg.dataset}')
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
        on_trace=None) -> RunRecord:
    """Train `cfg.model` as configured into the run folder `cfg.out`; returns the run record.

    A checkpoint is written after every epoch; resume=True continues the run there from its
    latest checkpoint (build cfg with `resume_config`). SIGTERM stops like Ctrl-C. A folder
    another live run is writing is refused, as is a resume with no epochs left to train.
    progress: per-epoch bars for the engine (train.py passes
    gluon_cnn.training.progress.epoch_bars()).
    on_trace(table): receives the layer table at the input size the data has (train.py --trace).
    """
    with contextlib.ExitStack() as held:  # the run folder's lock, released however run ends
        return _run(cfg, log, resume, progress, on_trace, held)


def _run(cfg: TrainConfig, log, resume: bool, progress, on_trace, held) -> RunRecord:
    """`run`'s body; held: an ExitStack that keeps the run folder locked until run returns."""
    cfg.validate()
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
    net = get_model(cfg.model, **cfg.model_kwargs)
    out = Path(cfg.out) if cfg.out else default_out(cfg)
    cfg = cfg.replace(out=str(out))
    ckpt = checkpoint.load_checkpoint(out) if resume else None  # refuse a bad one before any work
    if ckpt is not None:
        _check_epochs_left(out, ckpt, cfg.epochs)
    seed_everything(cfg.seed)
    train_iter, test_iter = load_run_data(cfg, ctx, info)
    layers = _check_input(net, cfg, info)
    if on_trace:
        on_trace(str(layers))
    if way.rank == 0:
        _prepare_out(out)  # after the checks above, so a refused run leaves no empty folder
        held.enter_context(_lock_run_folder(out))
    # A parameter's own initializer (LeNet-5's +-2.4/fan_in) always wins over this default; 'model'
    # falls back to Gluon's own default, Uniform(0.07), instead of the book's Xavier.
    net.initialize(init.Xavier() if cfg.init == 'xavier' else init.Uniform(), ctx=ctxs)
    trainer = engine.make_trainer(net, cfg.optimizer, cfg.lr, cfg.wd,
                                  lr_scheduler(cfg, len(train_iter)), way)
    history = []
    if ckpt is not None:  # parameters, optimizer states and the shuffle RNG as after that epoch
        checkpoint.restore(ckpt, net, trainer, train_iter.rng, ctxs)
        history = ckpt.history
        log(f'resuming {out} after epoch {ckpt.epoch} of {cfg.epochs}')
    log(f'training {cfg.model} on {train_iter.num_examples:,} {cfg.dataset} examples, {way}: '
        f'{cfg.settings()}')
    augment = make_augment(cfg.augment, fill=info.value_range[0])
    record = RunRecord(cfg, history)
    if way.rank == 0:
        with writing(out / RECORD_FILE):
            write_record(record)

    def save(h):
        with writing(out / checkpoint.SUBDIR / f'epoch-{len(h):04d}', MXNetError):
            checkpoint.save_checkpoint(out, net, trainer, h, train_iter.rng)
        with writing(out / RECORD_FILE):
            write_record(dataclasses.replace(record, history=list(h)))

    with _sigterm_as_interrupt(), _explain_stop(out, cfg.lr):
        history = engine.train(net, train_iter, test_iter, _training_loss(cfg, info), trainer,
                               cfg.epochs, way, history=history, augment=augment, seed=cfg.seed,
                               on_epoch=log, on_checkpoint=save if way.rank == 0 else None,
                               progress=progress)
    record = dataclasses.replace(record, history=history)
    if way.rank != 0:
        return record
    from ..viz.figures import plot_curves, save as save_png  # matplotlib only when it is needed
    title = f'{cfg.model}, lr {cfg.lr}, batch {cfg.batch_size}'
    with _explain_stop(out, cfg.lr):  # a failed write says what is intact and how to finish
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
                          f'{ckpt.epoch + 1} or more to train on')


@contextlib.contextmanager
def _lock_run_folder(out: Path):
    """Hold an exclusive flock on DIR/.lock while this run writes DIR; a second run there is
    refused. The kernel drops the lock when the process ends, however it ends: never stale."""
    with open(out / '.lock', 'a+') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or '?'
            raise ConfigError(f'--out {out} is in use by a live run (pid {pid}); wait for it to '
                              f'end, or pass another --out') from None
        f.truncate(0)  # the holder's pid, for the message above ('a+' appends at 0 now)
        f.write(f'{os.getpid()}\n')
        f.flush()
        yield


def default_out(cfg: TrainConfig) -> Path:
    return Path('runs') / f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def _check_input(net, cfg: TrainConfig, info):
    """The net's trace at the data's input size; an input it cannot take (AlexNet on 28x28) is
    refused, naming the layer and the fix."""
    from ..trace import trace  # symbolic shapes only: the net's parameters stay untouched
    shape = info.data_shape(cfg.resize)
    try:
        return trace(net, shape)
    except TraceError as e:
        where = f'{e.layer} ({e.layer_type})' if e.layer else 'the net'
        raise ConfigError(f'{cfg.model} cannot take {shape[-2]}x{shape[-1]} inputs ({where} '
                          f'refuses them); pass --resize {info.input_shape[-1]}, its input size '
                          f'in {info.source}') from None


def resume_config(run_dir, overrides: dict) -> TrainConfig:
    """The saved config of the run in run_dir, with `overrides` of the fields a resumed run may
    change; a checkpoint must be there."""
    checkpoint.load_checkpoint(run_dir)  # refuse a folder without a good checkpoint first
    saved = dataclasses.asdict(read_record(run_dir).config)
    saved['out'] = str(run_dir)
    fixed = sorted(k for k, v in overrides.items()
                   if k not in RESUMABLE_CHANGES and saved.get(k) != v)
    if fixed:
        flags = ', '.join('--' + k.replace('_', '-') for k in fixed)
        allowed = ', '.join('--' + k.replace('_', '-') for k in RESUMABLE_CHANGES)
        raise ConfigError(f'--resume continues {run_dir} as it was configured; {flags} cannot '
                          f'change (only {allowed} can)')
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
    """Add to a divergence or an interrupt where the last good checkpoint is and how to go on."""
    try:
        yield
    except DivergedError as e:
        raise DivergedError(f'{e}; {_last_checkpoint(out, f" --lr {lr / 10:g}")}') from None
    except WriteError as e:
        raise WriteError(f'{e}; {_last_checkpoint(out)}') from None
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(f'{str(e) or "Ctrl-C"}; {_last_checkpoint(out)}') from None


def _last_checkpoint(out: Path, flags: str = '') -> str:
    epoch = checkpoint.latest_epoch(out)
    if epoch is None:
        return 'no checkpoint yet (one is written at the end of each epoch)'
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
        raise ConfigError(f'--out {out}: cannot write there ({e.strerror or e})') from None
