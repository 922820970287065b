"""``train`` and ``resume``, step by step: data -> resolved config -> model -> fit -> test metrics -> run directory."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli import tracking
from dlcli.config.load import load_saved
from dlcli.config.resolve import ResolvedConfig, resolve
from dlcli.data import fingerprint
from dlcli.data.load import load as load_data
from dlcli.errors import ConfigError, DataError, DlcliError, Interrupted, RunDirError, TrainingError
from dlcli.log import note, warn
from dlcli.model.columns import raw_model, schema_of
from dlcli.runs import checkpoints, record, store
from dlcli.training import multiworker


def summary(exc: BaseException) -> str:
    """One informative line of an exception (TensorFlow's start with "Graph execution error:", Keras's layer
    errors with "Exception encountered when calling ...", then the cause in ANSI bold)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    if lines[0].startswith("Exception encountered when calling") and len(lines) > 1:
        return f"{lines[0].removeprefix('Exception encountered when calling ').rstrip('.')}: {lines[1]}"[:300]
    if lines[0].startswith("Graph execution error") and len(lines) > 1:
        details = [
            line for line in lines[1:] if not line.startswith(("File ", "Detected at node", "[[", "Stack trace"))
        ]
        return (details[-1] if details else lines[-1])[:300]
    return lines[0][:300]


@dataclass
class Session:
    """What the start-up of ``train`` and ``resume`` gives: the data, the resolved config, TensorFlow."""

    dataset: object
    config: ResolvedConfig
    device: str
    tf: object
    strategy: object
    timer: store.Timer


def _start(config, device: str | None, *, saved_run: Path | None = None) -> Session:
    """The shared start-up: environment, data (checked against a resumed run's), resolution, TensorFlow."""
    from dlcli.device import import_tensorflow, prepare_environment

    timer = store.Timer()
    device = device or config.training.device
    if config.training.deterministic and "tensorflow" not in sys.modules:
        # Under op determinism TF 2.21 logs a bogus C++ error for every parallel tf.data map ("NodeDef mentions
        # attribute use_unbounded_threadpool ..."); TensorFlow's real errors still arrive as Python exceptions.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    prepare_environment(device)
    with timer("load_data"):
        dataset = load_data(config)
    info = dataset.info
    if saved_run is not None:
        _same_data(saved_run, info)
    resolved = resolve(config, info.task, info.n_classes, info.target_spread)
    multiworker.check_data(resolved, dataset)
    with timer("import_tensorflow"):
        tf = import_tensorflow(device, cpu_devices=resolved.training.cpu_devices)
    strategy = multiworker.strategy(tf, resolved)  # before any op
    import keras

    keras.utils.set_random_seed(resolved.seed)
    if resolved.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    return Session(dataset, resolved, device, tf, strategy, timer)


def _same_data(run_path: Path, info) -> None:
    saved = store.read_json_if_present(run_path / store.ENVIRONMENT, {}).get("data", {})
    changed = fingerprint.changes(saved, info.fingerprint)
    if changed:
        raise DataError(
            f"{', '.join(changed)} changed since the run started; resuming would train on other data. Train a new run"
        )


def train(config, *, output_dir: str | Path = "runs", device: str | None = None, verbose: int = 2,
          run_dir: str | Path | None = None, callbacks=(), score_test: bool = True, parent_run_id: str | None = None):  # fmt: skip
    """Train ``config`` into a new run directory; returns (run path, test metrics).

    ``run_dir`` names the directory exactly (a sweep's trial) instead of one made under ``output_dir``;
    ``callbacks`` watch the fit after dlcli's own; without ``score_test`` the test split is left unscored
    and metrics.json holds the last epoch's validation metrics. With ``tracking.mlflow`` configured the run is
    mirrored to MLflow (a child of ``parent_run_id`` when given); MLflow failing never fails the run.
    """
    if device is not None and device != config.training.device:
        config = config.copy_with(training=config.training.model_copy(update={"device": device}))
    tracking.check(config)
    session = _start(config, device)
    resolved, info = session.config, session.dataset.info
    with session.timer("build"):
        net, execution = _build(session)
        weights = _class_weights(resolved, session.dataset)
    _check_tensorboard(resolved)
    chief = multiworker.is_chief(resolved)
    # Only the chief writes the run directory; another worker keeps its state in a scratch folder.
    root = output_dir if chief else tempfile.mkdtemp(prefix="dlcli-worker-")
    run = store.Run.at(run_dir) if run_dir is not None and chief else store.Run.create(root, resolved.name)
    run.write_config(resolved)
    if info.classes is not None:
        run.write_json(store.LABELS, info.classes)
    environment = record.environment(session, execution)
    run.write_json(store.ENVIRONMENT, environment)
    run.start(resolved, resolved.training.epochs)
    run.update(score_test=score_test)
    tracker = tracking.start_for_run(resolved.config, run, environment, parent_run_id=parent_run_id, chief=chief)
    try:
        with tracking.mirrored(tracker):
            path, metrics = _fit_and_finish(
                run, net, session, execution, class_weight=weights, verbose=verbose,
                extra=[*callbacks, *tracking.callbacks(tracker)],
            )  # fmt: skip
    finally:
        if not chief:
            shutil.rmtree(root, ignore_errors=True)
    if not chief:
        note(
            f"dlcli: {multiworker.worker_name(resolved)} finished; weights sha256 {run.state.get('weights_sha256')}; "
            "the chief writes the run directory"
        )
        return None, metrics
    tracking.finish(tracker, path, metrics)
    return path, metrics


def resume(run_dir: str | Path, *, device: str | None = None, verbose: int = 2, callbacks=()):
    """Continue an interrupted (or failed, or killed) run in its own directory; returns (run path, metrics)."""
    run_path = Path(run_dir)
    state = _resumable_state(run_path)
    session = _start(load_saved(run_path / store.CONFIG), device, saved_run=run_path)
    resolved = session.config
    if not multiworker.is_chief(resolved):
        raise RunDirError(f"{run_path}: only the chief resumes a multi-worker run; start the other workers fresh")
    with session.timer("build"):
        scope = session.strategy.scope() if session.strategy is not None else contextlib.nullcontext()
        with scope:
            saved = checkpoints.load(run_path, resolved.training.mixed_precision)
        if saved is None:  # stopped before its first checkpoint: start over, in the same directory
            (net, execution), saved_state = _build(session), {}
        else:
            net, saved_state = saved
            execution = _execution(session, net)  # chosen again: this Keras may not be the run's first
        weights = _class_weights(resolved, session.dataset)
    _check_tensorboard(resolved)
    run = store.Run(run_path)
    run.state = state
    done = saved_state.get("epochs_done", 0)
    from dlcli.training.keras_internals import keras_version

    resumed = {"at": store.now(), "from_epoch": done, "keras": keras_version(), "execution": execution.record()}
    run.update(
        status="running", epochs_done=done, error=None, finished_at=None,
        resumed=[*state.get("resumed", []), resumed],
    )  # fmt: skip
    tracker = tracking.reopen_for_run(resolved.config, run)
    with tracking.mirrored(tracker):
        path, metrics = _fit_and_finish(
            run, net, session, execution, class_weight=weights, verbose=verbose, initial_epoch=done,
            history=saved_state.get("history") or {}, restored=saved_state.get("callbacks"),
            extra=[*callbacks, *tracking.callbacks(tracker)],
        )  # fmt: skip
    tracking.finish(tracker, path, metrics)
    return path, metrics


def _build(session: Session):
    """(the compiled model, its execution) for the session; normalization from the training split."""
    from dlcli.model.build import build, precision
    from dlcli.training.compile import compile_model
    from dlcli.training.execution import steps_per_epoch

    config, dataset = session.config, session.dataset
    scope = session.strategy.scope() if session.strategy is not None else contextlib.nullcontext()
    with precision(config.training.mixed_precision), scope:  # layers keep the policy they were made under
        if dataset.streamed:  # statistics came from the pass over the file
            net = build(config, dataset.info, None, stats=(dataset.mean, dataset.var))
        else:
            net = build(config, dataset.info, dataset.x_train)
        execution = _execution(session, net)
        compile_model(net, config, execution, steps_per_epoch(dataset, config))
    return net, execution


def _execution(session: Session, net):
    from dlcli.training import execution

    chosen = execution.for_model(
        net, session.config, session.dataset, gpu=bool(session.tf.config.list_logical_devices("GPU"))
    )
    if chosen.fallback:
        warn(f"{chosen.fallback}; training with Keras's fit, {chosen.steps_per_execution} steps per call")
    return chosen


def _check_tensorboard(config) -> None:
    """``training.tensorboard`` needs the tensorboard package, which TensorFlow no longer installs."""
    from importlib.util import find_spec

    if config.training.tensorboard and find_spec("tensorboard") is None:
        raise ConfigError(
            config.problem(
                ("training", "tensorboard"),
                "the tensorboard package is not installed; pip install tensorboard (or dlcli[tensorboard]), "
                "or set tensorboard: false",
            )
        )


def _resumable_state(run_path: Path) -> dict:
    """run.json of a run that may be resumed, or the error that says why not."""
    state = store.read_state(run_path)
    status = state.get("status")
    if status == "complete":
        raise RunDirError(
            f"{run_path}: run is already complete ({state.get('epochs_done')} epochs); nothing to resume. "
            "Train the config again for a new run"
        )
    same_host = state.get("hostname", platform.node()) == platform.node()
    if status == "running" and same_host and alive(state.get("pid")):
        raise RunDirError(f"{run_path}: run is still running (pid {state.get('pid')}); stop it before resuming")
    return state


def alive(pid) -> bool:
    """Is process ``pid`` of this machine running (and not this process)?"""
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _class_weights(config, dataset):
    from dlcli.training.compile import class_weights

    if config.training.class_weight is None:
        return None
    return class_weights(config, dataset.info.classes, dataset.labels("train"))


def _saved_model(net, info, resolved):
    """What ``model.keras`` holds: the trained model behind one input per raw column (tables), compiled as trained."""
    from dlcli.model.build import precision
    from dlcli.training.compile import compile_like

    with precision(resolved.training.mixed_precision):  # compiled as trained: mixed float16 scales the loss
        saved = raw_model(net, schema_of(info))
        if saved is not net:
            compile_like(saved, net, resolved)
    return saved


def _fit_and_finish(run, net, session: Session, execution, *, class_weight, verbose, initial_epoch=0, history=None,
                    restored=None, extra=()):  # fmt: skip
    """Fit with dlcli's callbacks watching, then score and save; every way out leaves run.json truthful."""
    from dlcli.scoring import score
    from dlcli.training import callbacks
    from dlcli.training.execution import steps_per_epoch
    from dlcli.training.fit import fit

    resolved, dataset, timer = session.config, session.dataset, session.timer
    run.update(pid=os.getpid(), hostname=platform.node())
    configured = callbacks.configured(resolved, run.path, restored)
    resume_state = None
    stop = None
    try:
        with callbacks.graceful_stop() as stop:
            watching, resume_state = callbacks.run_callbacks(
                run, stop, configured, every_seconds=resolved.training.checkpoint_every_seconds, history=history
            )
            with timer("fit"):
                fit(
                    net, dataset, resolved, execution, callbacks=[*watching, *extra], initial_epoch=initial_epoch,
                    class_weight=class_weight, verbose=verbose, strategy=session.strategy,
                )  # fmt: skip
        if stop.diverged:
            resume_state.save()
            epoch, step, loss = stop.diverged
            kept = f"; the last good epoch ({resume_state.saved_epochs}) is in {run.path / store.CHECKPOINTS}"
            raise TrainingError(
                f"training diverged: loss is {loss} at epoch {epoch}, step {step}"
                f"{kept if resume_state.saved_epochs > 0 else ''}; lower optimizer.learning_rate, clip gradients "
                "(optimizer.clipnorm) or check the data"
            )
        if stop:
            resume_state.save()
            raise KeyboardInterrupt
        if execution.loop == "multi_worker":
            net = multiworker.local_copy(net, resolved, steps_per_epoch(dataset, resolved))
        with timer("evaluate"):
            if run.state.get("score_test", True):
                metrics = score(net, *dataset.test(), resolved, dataset.info.classes)
            else:  # a sweep's trial: chosen on validation, the best one alone is scored on the test split
                metrics = {k: v[-1] for k, v in resume_state.history.items() if k.startswith("val_") and v}
        with timer("save"):
            run.save_model(_saved_model(net, dataset.info, resolved))
            run.write_json(store.METRICS, metrics)
    except KeyboardInterrupt:
        if resume_state is not None:  # a second Ctrl-C, or one after fit: keep the last completed epoch
            stop.epoch_cut = True
            resume_state.save()
        run.update(status="interrupted", finished_at=store.now(), timings_s=timer.times)
        done = run.state.get("epochs_done", 0)
        kept = resume_state.saved_epochs if resume_state is not None else 0
        hint = f"; resume with: dlcli train --resume {run.path}" if kept > 0 or done == 0 else ""
        said = f", all {kept} kept in {run.path / store.CHECKPOINTS}" if kept == done and kept > 0 else ""
        if 0 < kept < done:
            said = f"; the checkpoint keeps {kept}"
        raise Interrupted(f"interrupted after {done} epoch(s){said}; {run.path} is marked interrupted{hint}") from None
    except DlcliError as exc:
        run.update(status="failed", finished_at=store.now(), error=str(exc), timings_s=timer.times)
        raise
    except Exception as exc:
        if resume_state is not None:
            with contextlib.suppress(Exception):
                stop.epoch_cut = True
                resume_state.save()
        run.update(
            status="failed", finished_at=store.now(), error=f"{type(exc).__name__}: {exc}", timings_s=timer.times
        )
        raise TrainingError(
            f"training failed: {type(exc).__name__}: {summary(exc)} ({run.path} is marked failed)"
        ) from exc
    stopped_early = run.state.get("epochs_done", 0) < resolved.training.epochs
    run.update(
        weights_sha256=weights_sha256(net),
        status="complete",
        finished_at=store.now(),
        stopped_early=stopped_early,
        timings_s={**timer.times, "total": timer.total()},
    )
    checkpoints.clear(run.path)
    if resolved.training.plots:
        _plots(run, timer)
    return run.path, metrics


def weights_sha256(model) -> str:
    """sha256 over the model's weights in order: equal hashes mean bit-identical models."""
    import hashlib

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def _plots(run, timer) -> None:
    """plots/ for a complete run; a plotting failure is a warning, the run stays complete."""
    from dlcli import report

    try:
        with timer("plots"):
            report.write_plots(run.path)
    except Exception as exc:  # the trained run must not be lost to a plotting problem
        warn(
            f"{run.path}: plots not written ({type(exc).__name__}: {summary(exc)}); retry with: dlcli report {run.path}"
        )
