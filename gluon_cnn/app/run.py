"""A whole training run, from a config to a finished run folder: the application layer.

config -> runtime -> data -> model -> run folder -> trainer -> resume -> train -> outputs, in that
order, in `run`. Training itself is `gluon_cnn.training.engine`'s; the run folder, resuming and
how a run stops are `gluon_cnn.runs`' (folder, resume, stops); this module decides what to train
and where its results go.
"""
import contextlib
import dataclasses
from pathlib import Path
from typing import Optional

from mxnet import gluon, init
from mxnet.base import MXNetError

from .. import data as gdata
from ..backend import fastops
from ..data.augment import make_augment
from ..durable import writing
from ..errors import ConfigError, TraceError
from ..models import model_info
from ..models.arguments import build_model
from ..runs import checkpoint, folder
from ..runs.config import TrainConfig
from ..runs.record import METRICS_FILE, RunRecord, write_record
from ..runs.resume import (RESUMABLE_CHANGES, check_epochs_left, record_readable, resume_config,
                           resume_point)
from ..runs.stops import explain_stop, sigterm_as_interrupt
from ..training import engine, runtime as runtimes, schedules
from ..training.amp import check_amp, enable_amp
from ..training.compute import compute_for
from ..training.devices import get_ctxs
from ..training.losses import LabelSmoothingLoss
from ..training.progress import no_bars
from ..training.seeding import seed_everything

__all__ = ['run', 'load_run_data', 'lr_scheduler', 'resume_config', 'RESUMABLE_CHANGES']


def load_run_data(cfg: TrainConfig, ctx, info=None):
    """(train_iter, test_iter) for a config, padded and scaled as the model's record asks."""
    info = info or model_info(cfg.model)
    train_split, test_split = gdata.load_dataset(cfg.dataset, cfg.data_dir)
    for flag, limit, split, which in (('--limit', cfg.limit, train_split, 'training'),
                                      ('--limit-test', cfg.limit_test, test_split, 'test')):
        if limit is not None and limit > len(split.labels):
            raise ConfigError(f'{flag} {limit} is larger than the {len(split.labels):,} '
                              f'{which} examples of {cfg.dataset}', field=flag)
    kw = dict(ctx=ctx, resize=cfg.resize, pad=info.pad, value_range=info.value_range)
    return (gdata.ArrayIter(train_split, cfg.batch_size, shuffle=True, seed=cfg.seed,
                            limit=cfg.limit, **kw),
            gdata.ArrayIter(test_split, cfg.batch_size, limit=cfg.limit_test, **kw))


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


def run(cfg: TrainConfig, log=print, resume: bool = False, progress=no_bars,
        on_trace=None, overwrite: bool = False) -> Optional[RunRecord]:
    """Train `cfg.model` as configured into the run folder `cfg.out`; returns the run record
    (None in a worker process that does not lead: it trains, and prints and writes nothing).

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
         overwrite: bool = False) -> Optional[RunRecord]:
    """`run`'s body; held: an ExitStack that keeps the run folder locked until run returns."""
    cfg.validate()
    if resume and not cfg.out:
        raise ConfigError('resume=True needs cfg.out, the run folder to continue')
    if cfg.out and not resume and not overwrite:
        folder.refuse_results(Path(cfg.out))  # before any work: the user's finished run first
    check_amp(cfg.amp)                   # and a precision this CPU cannot run
    # where the steps run and what computes them, decided once; dist_* and horovod block here
    # until every role is up
    ctxs = get_ctxs(cfg.ctx)
    runtime = runtimes.for_run(ctxs, cfg.kvstore, compute_for(cfg.fast_ops, cfg.widen), cfg.widen,
                               cfg.hybridize)
    if cfg.fast_ops and not fastops.load():
        why = fastops.reason().removeprefix('fastops: ')
        log(f'note: the fused operators are off ({why}); training with MXNet\'s own operators '
            '(--no-fast-ops: no attempt, no note)')
    if not runtime.leads:  # the leader alone prints and writes the run folder; all ranks train
        log, progress = (lambda *a: None), no_bars
    enable_amp(cfg.amp)  # before the net is built: AMP rewrites MXNet's operator namespaces
    info = model_info(cfg.model)
    net = build_model(cfg.model, cfg.model_kwargs)
    ckpt = resume_point(Path(cfg.out)) if resume else None  # refuse a bad one before any work
    if ckpt is not None:
        check_epochs_left(Path(cfg.out), ckpt, cfg.epochs)
    seed_everything(cfg.seed)
    train_iter, test_iter = load_run_data(cfg, runtime.ctx, info)
    layers = _check_input(net, cfg, info)
    if on_trace:
        on_trace(str(layers))
    # after the checks above, so a refused run leaves no empty folder
    out = Path(cfg.out) if cfg.out else folder.default_out(cfg, create=runtime.leads)
    cfg = cfg.replace(out=str(out))
    history = list(ckpt.history) if ckpt is not None else []
    record = RunRecord(cfg, history)
    if runtime.leads:  # from here on every stop can be continued with --resume
        folder.prepare_out(out)
        held.enter_context(folder.lock_run_folder(out))
        if not resume:
            folder.clear_results(out) if overwrite else folder.refuse_results(out, locked=True)
        if resume and not record_readable(out):
            log(f'note: rebuilding {out / METRICS_FILE} from '
                f'{ckpt.path if ckpt else "the saved settings"}')
        with writing(out / METRICS_FILE):
            write_record(record)

    def save(h):
        with writing(out / checkpoint.SUBDIR / f'epoch-{len(h):04d}', MXNetError):
            checkpoint.save_checkpoint(out, net, trainer, h, train_iter.rng,
                                       config=dataclasses.asdict(cfg))
        with writing(out / METRICS_FILE):
            write_record(dataclasses.replace(record, history=list(h)))

    with sigterm_as_interrupt(), explain_stop(out, cfg.lr):
        # A parameter's own initializer (LeNet-5's +-2.4/fan_in) always wins over this default;
        # 'model' falls back to Gluon's own default, Uniform(0.07), instead of the book's Xavier.
        net.initialize(init.Xavier() if cfg.init == 'xavier' else init.Uniform(), ctx=ctxs)
        trainer = engine.make_trainer(net, cfg.optimizer, cfg.lr, cfg.wd,
                                      lr_scheduler(cfg, len(train_iter)), runtime)
        if ckpt is not None:  # parameters, optimizer states, shuffle RNG as after that epoch
            checkpoint.restore(ckpt, net, trainer, train_iter.rng, ctxs)
            if ckpt.note:
                log(f'note: {ckpt.note}')
            log(f'resuming {out} after epoch {ckpt.epoch} of {cfg.epochs}')
        elif resume:
            log(f'resuming {out} from epoch 1 of {cfg.epochs} (it stopped before its first '
                f'checkpoint)')
        log(f'training {cfg.model} on {train_iter.num_examples:,} {cfg.dataset} examples, '
            f'{runtime}: {cfg.settings()}')
        augment = make_augment(cfg.augment, fill=info.value_range[0])
        history = engine.train(net, train_iter, test_iter, _training_loss(cfg, info), trainer,
                               cfg.epochs, runtime, history=history, augment=augment,
                               seed=cfg.seed, on_epoch=log,
                               on_checkpoint=save if runtime.leads else None, progress=progress)
    record = dataclasses.replace(record, history=history)
    if not runtime.leads:
        return None
    from ..viz.plots import plot_curves, save as save_png  # matplotlib only when it is needed
    title = f'{cfg.model}, lr {cfg.lr}, batch {cfg.batch_size}'
    with explain_stop(out, cfg.lr):  # a failed write says what is intact, how to finish
        with writing(out / METRICS_FILE):
            write_record(record)
        with writing(out / 'curves.png'):
            save_png(plot_curves(history, title=title), out / 'curves.png')
        folder.save_final_params(net, out / 'model.params')  # last: it marks the run finished
    log(f'saved {out / "model.params"} and {out / METRICS_FILE}')
    log(f'saved {out / "curves.png"}')
    _export_graph(net, out, info.data_shape(cfg.resize), runtime.ctx, log)
    return record


def _export_graph(net, out: Path, shape: tuple, ctx, log):
    """model-symbol.json and model-0000.params for graph viewers, after the run is finished."""
    from ..runs.export import EXPORT_PARAMS, SYMBOL_FILE, export_symbol
    why_not = export_symbol(net, out, shape, ctx)
    log(f'no graph export: {why_not}' if why_not else
        f'saved {out / SYMBOL_FILE} and {out / EXPORT_PARAMS} (python -m gluon_cnn.viz graph '
        f'--run {out})')


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
