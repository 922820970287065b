"""``run(plan, observers)``: the one path every run takes (train, resume, a sweep's trial, a fold).

Open the run directory (a new one, or the resumed one), tell the observers,
fit from the plan's start epoch with dlcli's callbacks and theirs, score,
save, and end the run through its ``Run``: complete, interrupted or failed,
``run.json`` truthful on every way out.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dlcli.errors import DlcliError, Interrupted, TrainingError
from dlcli.log import note, warn
from dlcli.runs import checkpoints, store
from dlcli.runs.run import Run
from dlcli.training.observer import Observer, Observers
from dlcli.training.plan import Plan


def run(plan: Plan, observers: Iterable[Observer] = ()) -> tuple[Path | None, dict]:
    """Run ``plan`` with ``observers`` watching; (the run directory, its metrics).

    A worker of a multi-worker run that is not the chief trains in a scratch
    folder and returns (None, metrics): the chief writes the run directory.
    """
    attached = Observers(observers)
    scratch = None if plan.placement.chief else tempfile.mkdtemp(prefix="dlcli-worker-")
    try:
        current = _open(plan, scratch)
        attached.started(current, plan)
        try:
            metrics = _fit_score_save(current, plan, attached)
        except BaseException as exc:
            attached.failed(current, plan, exc)
            raise
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if scratch is not None:
        note(
            f"dlcli: {plan.placement.worker} finished; weights sha256 {current.state.get('weights_sha256')}; "
            "the chief writes the run directory"
        )
        return None, metrics
    attached.finished(current, plan, metrics)
    return current.path, metrics


def _open(plan: Plan, scratch: str | None) -> Run:
    """The run's directory, running: a new one with its config, labels and environment, or the resumed one."""
    config = plan.config
    if plan.start.resumed:
        from dlcli.training.keras_internals import keras_version

        current = Run(plan.where.path, plan.start.state)
        current.resume(plan.start.epoch, keras=keras_version(), execution=plan.execution.record())
        return current
    if scratch is not None:  # another worker keeps its state in a scratch folder
        current = Run.create(scratch, config.name)
    elif plan.where.path is not None:
        current = Run.at(plan.where.path)
    else:
        current = Run.create(plan.where.output_dir, config.name)
    current.write_config(config)
    if plan.dataset.info.classes is not None:
        current.write_json(store.LABELS, plan.dataset.info.classes)
    current.write_json(store.ENVIRONMENT, plan.environment())
    current.begin(config.name, config.training.epochs, score_test=plan.score_test)
    if plan.dataset.info.fold is not None:
        current.record(fold={k: plan.dataset.info.fold[k] for k in ("index", "of")})
    return current


def _fit_score_save(current: Run, plan: Plan, attached: Observers) -> dict:
    """Fit with dlcli's callbacks and the observers' watching, then score and save; every way out leaves
    run.json truthful."""
    from dlcli.scoring import score
    from dlcli.training import callbacks
    from dlcli.training.fit import fit

    config, dataset, timer, net = plan.config, plan.dataset, plan.timer, plan.model
    current.running_here()
    configured = callbacks.configured(config, current.path, plan.start.callbacks)
    resume_state = None
    stop = None
    try:
        with callbacks.graceful_stop() as stop:
            watching, resume_state = callbacks.run_callbacks(
                current, stop, configured, every_seconds=config.training.checkpoint_every_seconds,
                history=plan.start.history,
            )  # fmt: skip
            with timer("fit"):
                fit(
                    net, dataset, config, plan.execution, plan.objectives,
                    callbacks=[*watching, *attached.callbacks(current, plan)], initial_epoch=plan.start.epoch,
                    strategy=plan.placement.strategy,
                )  # fmt: skip
        if stop.diverged:
            resume_state.save()
            epoch, step, loss = stop.diverged
            kept = f"; the last good epoch ({resume_state.saved_epochs}) is in {current.path / store.CHECKPOINTS}"
            raise TrainingError(
                f"training diverged: loss is {loss} at epoch {epoch}, step {step}"
                f"{kept if resume_state.saved_epochs > 0 else ''}; lower optimizer.learning_rate, clip gradients "
                "(optimizer.clipnorm) or check the data"
            )
        if stop:
            resume_state.save()
            raise KeyboardInterrupt
        if plan.execution.loop == "multi_worker":
            from dlcli.training import multiworker

            net = multiworker.local_copy(net, config, plan.objectives)
        net = _predicting(net, plan)
        with timer("evaluate"):
            if plan.score_test:
                metrics = score(net, *dataset.test(), config, dataset.info.classes)
            else:  # a sweep's trial: chosen on validation, the best one alone is scored on the test split
                metrics = {k: v[-1] for k, v in resume_state.history.items() if k.startswith("val_") and v}
        with timer("save"):
            current.save_model(_saved_model(net, plan))
            current.write_json(store.METRICS, metrics)
    except KeyboardInterrupt:
        if resume_state is not None:  # a second Ctrl-C, or one after fit: keep the last completed epoch
            stop.epoch_cut = True
            resume_state.save()
        current.interrupt(timings=timer.times)
        done = current.state.get("epochs_done", 0)
        kept = resume_state.saved_epochs if resume_state is not None else 0
        hint = f"; resume with: dlcli train --resume {current.path}" if kept > 0 or done == 0 else ""
        said = f", all {kept} kept in {current.path / store.CHECKPOINTS}" if kept == done and kept > 0 else ""
        if 0 < kept < done:
            said = f"; the checkpoint keeps {kept}"
        raise Interrupted(
            f"interrupted after {done} epoch(s){said}; {current.path} is marked interrupted{hint}"
        ) from None
    except DlcliError as exc:
        current.fail(str(exc), timings=timer.times)
        raise
    except Exception as exc:
        if resume_state is not None:
            with contextlib.suppress(Exception):
                stop.epoch_cut = True
                resume_state.save()
        current.fail(f"{type(exc).__name__}: {exc}", timings=timer.times)
        raise TrainingError(
            f"training failed: {type(exc).__name__}: {summary(exc)} ({current.path} is marked failed)"
        ) from exc
    current.complete(weights_sha256=weights_sha256(net), timings={**timer.times, "total": timer.total()})
    checkpoints.clear(current.path)
    if config.training.plots:
        write_plots(current, timer)
    return metrics


def _predicting(net, plan: Plan):
    """``net`` as it predicts: an ensemble's members averaged (``model.ensemble``), compiled with the run's own
    loss and metrics; any other model as it is."""
    if not plan.objectives.members:
        return net
    from dlcli.model.build import averaged, precision
    from dlcli.training.compile import compile_like

    with precision(plan.config.training.mixed_precision):
        model = averaged(net)
        compile_like(model, net, plan.objectives)
    return model


def _saved_model(net, plan: Plan):
    """What ``model.keras`` holds: the trained model behind one input per raw column (tables), compiled as trained."""
    from dlcli.model.build import precision
    from dlcli.model.columns import raw_model, schema_of
    from dlcli.training.compile import compile_like

    with precision(plan.config.training.mixed_precision):  # compiled as trained: mixed float16 scales the loss
        saved = raw_model(net, schema_of(plan.dataset.info))
        if saved is not net:
            compile_like(saved, net, plan.objectives)
    return saved


def weights_sha256(model) -> str:
    """sha256 over the model's weights in order: equal hashes mean bit-identical models."""
    import hashlib

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


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


def write_plots(current: Run, timer) -> None:
    """plots/ for a complete run; a plotting failure is a warning, the run stays complete."""
    from dlcli import report

    try:
        with timer("plots"):
            report.write_plots(current.path)
    except Exception as exc:  # the trained run must not be lost to a plotting problem
        warn(
            f"{current.path}: plots not written ({type(exc).__name__}: {summary(exc)}); "
            f"retry with: dlcli report {current.path}"
        )
