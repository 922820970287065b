"""The steps of ``train`` and ``evaluate`` in order: data -> model -> fit -> metrics -> run directory."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from dlcli import __version__, data, distribute, plan, runs
from dlcli.config import load_config
from dlcli.errors import ConfigError, DlcliError, Interrupted, RunDirError, TrainingError, warn
from dlcli.rescore import check_fingerprint, test_split


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


def environment(tf, config, info, device: str, strategy=None, execution: dict | None = None) -> dict:
    """What environment.json records: versions, devices, seed, data fingerprint."""
    from importlib.metadata import version  # noqa: PLC0415

    import keras  # noqa: PLC0415

    from dlcli.device import describe  # noqa: PLC0415

    return {
        "dlcli": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "scikit_learn": version("scikit-learn"),
        "device_requested": device,
        "devices": describe(tf),
        "seed": config.seed,
        "data": {
            **info.fingerprint,
            "splits": info.splits,
            "input_shape": list(info.input_shape),
            "features": info.feature_names,
            "task": info.task,
            "missing": config.data.missing,
            "fill": info.fill,
            "vocab": info.vocab,
        },
        "execution": execution or {},
        "distribution": {
            "strategy": config.training.distribution,
            "replicas": strategy.num_replicas_in_sync if strategy is not None else 1,
            "worker": distribute.worker_name(config),
        },
        "argv": sys.argv,
    }


def train(config, *, output_dir: str | Path = "runs", device: str | None = None, verbose: int = 2):
    """Train ``config`` into a new run directory; returns (run path, test metrics)."""
    from dlcli.device import prepare_environment  # noqa: PLC0415

    timer = runs.Timer()
    device = device or config.training.device
    _quiet_determinism(config)
    prepare_environment(device)
    if device != config.training.device:
        config = config.model_copy(update={"training": config.training.model_copy(update={"device": device})})
    with timer("load_data"):
        dataset = data.load(config)
    info = dataset.info
    resolved = plan.resolve(config, info.task, info.n_classes)
    distribute.check_data(resolved, dataset)
    tf, strategy = _start_tensorflow(resolved, device, timer)
    with timer("build"):
        net, chosen = _build(resolved, info, dataset, strategy)
        weights = _class_weights(resolved, info, dataset)
    _check_tensorboard(resolved)
    chief = distribute.is_chief(resolved)
    # Only the chief writes the run directory; another worker keeps its state in a scratch folder.
    root = output_dir if chief else tempfile.mkdtemp(prefix="dlcli-worker-")
    run = runs.Run.create(root, resolved.name)
    run.write_config(resolved)
    if info.classes is not None:
        run.write_json(runs.LABELS, info.classes)
    run.write_json(runs.ENVIRONMENT, environment(tf, resolved, info, device, strategy, chosen))
    run.start(resolved, resolved.training.epochs)
    try:
        path, metrics = _fit_and_finish(
            run, net, dataset, resolved, timer, chosen, class_weight=weights, verbose=verbose, strategy=strategy
        )
    finally:
        if not chief:
            shutil.rmtree(root, ignore_errors=True)
    if not chief:
        print(
            f"dlcli: {distribute.worker_name(resolved)} finished; weights sha256 {run.state.get('weights_sha256')}; "
            "the chief writes the run directory",
            file=sys.stderr,
        )
        return None, metrics
    return path, metrics


def _build(config, info, dataset, strategy=None):
    """(the compiled model, its execution choices) for a resolved config; normalization from the training split."""
    from dlcli import model, train  # noqa: PLC0415

    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with runs.precision(config.training.mixed_precision), scope:  # layers keep the policy they were made under
        if hasattr(dataset, "dataset"):  # streamed: statistics came from the pass over the file
            net = model.build(config, info, None, stats=(dataset.mean, dataset.var))
        else:
            net = model.build(config, info, dataset.x_train)
        chosen = train.choose_execution(net, config, dataset, gpu=_on_gpu())
        train.compile_model(net, config, chosen, train.steps_per_epoch(dataset, config))
    return net, chosen


def _on_gpu() -> bool:
    import tensorflow as tf  # noqa: PLC0415 - imported by now

    return bool(tf.config.list_logical_devices("GPU"))


def resume(run_dir: str | Path, *, device: str | None = None, verbose: int = 2):
    """Continue an interrupted (or failed, or killed) run in its own directory; returns (run path, metrics)."""
    from dlcli.device import prepare_environment  # noqa: PLC0415

    run_path = Path(run_dir)
    state = _resumable_state(run_path)
    config = load_config(run_path / runs.CONFIG)
    timer = runs.Timer()
    device = device or config.training.device
    _quiet_determinism(config)
    prepare_environment(device)
    with timer("load_data"):
        dataset = data.load(config)
    info = dataset.info
    check_fingerprint(run_path, info, strict=True)
    resolved = plan.resolve(config, info.task, info.n_classes)
    _tf, strategy = _start_tensorflow(resolved, device, timer)
    from dlcli import checkpoints, train  # noqa: PLC0415

    if not distribute.is_chief(resolved):
        raise RunDirError(f"{run_path}: only the chief resumes a multi-worker run; start the other workers fresh")
    with timer("build"):
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            saved = checkpoints.load(run_path, resolved.training.mixed_precision)
        if saved is None:  # stopped before its first checkpoint: start over, in the same directory
            net, saved_state = _build(resolved, info, dataset, strategy)[0], {}
        else:
            net, saved_state = saved
        chosen = train.choose_execution(net, resolved, dataset, gpu=_on_gpu())  # as the run chose (environment.json)
        weights = _class_weights(resolved, info, dataset)
    _check_tensorboard(resolved)
    run = runs.Run(run_path)
    run.state = state
    done = saved_state.get("epochs_done", 0)
    run.update(
        status="running", epochs_done=done, error=None, finished_at=None,
        resumed=[*state.get("resumed", []), {"at": runs._now(), "from_epoch": done}],
    )  # fmt: skip
    return _fit_and_finish(
        run, net, dataset, resolved, timer, chosen, class_weight=weights, verbose=verbose, strategy=strategy,
        initial_epoch=done, history=saved_state.get("history"), restored=saved_state.get("callbacks"),
    )  # fmt: skip


def _check_tensorboard(config) -> None:
    """``training.tensorboard`` needs the tensorboard package, which TensorFlow no longer installs."""
    from importlib.util import find_spec  # noqa: PLC0415

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
    state = runs.read_state(run_path)
    status = state.get("status")
    if status == "complete":
        raise RunDirError(
            f"{run_path}: run is already complete ({state.get('epochs_done')} epochs); nothing to resume. "
            "Train the config again for a new run"
        )
    same_host = state.get("hostname", platform.node()) == platform.node()
    if status == "running" and same_host and _alive(state.get("pid")):
        raise RunDirError(f"{run_path}: run is still running (pid {state.get('pid')}); stop it before resuming")
    return state


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quiet_determinism(config) -> None:
    """Under op determinism TF 2.21 logs a bogus C++ error for every parallel tf.data map
    ("NodeDef mentions attribute use_unbounded_threadpool ... Unknown attributes will be ignored");
    TensorFlow's real errors still arrive as Python exceptions."""
    if config.training.deterministic and "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _start_tensorflow(config, device: str, timer):
    """Import TensorFlow for ``device``: the distribution strategy first (before any op), seeds, determinism.

    Returns (tf, strategy or None).
    """
    from dlcli.device import import_tensorflow  # noqa: PLC0415

    with timer("import_tensorflow"):
        tf = import_tensorflow(device, cpu_devices=config.training.cpu_devices)
    strategy = distribute.strategy(tf, config)
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(config.seed)
    if config.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    return tf, strategy


def _class_weights(config, info, dataset):
    from dlcli import train  # noqa: PLC0415

    if config.training.class_weight is None:
        return None
    y_train = dataset.labels("train") if hasattr(dataset, "dataset") else dataset.y_train
    return train.class_weights(config, info.classes, y_train)


def _fit_and_finish(run, net, dataset, resolved, timer, execution, *, class_weight, verbose, strategy=None, initial_epoch=0,
                    history=None, restored=None):  # fmt: skip
    """Fit with the keeper watching, then evaluate and save; every way out leaves run.json truthful."""
    from dlcli import checkpoints, evaluate, train  # noqa: PLC0415

    run.update(pid=os.getpid(), hostname=platform.node())
    configured = checkpoints.callbacks(resolved, run.path, restored)
    keeper = None
    try:
        with checkpoints.graceful_stop() as stop:
            keeper = checkpoints.Keeper(
                run, stop, configured, every_seconds=resolved.training.checkpoint_every_seconds, history=history
            )
            if resolved.training.distribution == "multi_worker":
                fit = functools.partial(distribute.fit, strategy=strategy)
            else:
                fit = functools.partial(train.fit, execution=execution)
            with timer("fit"):
                fit(
                    net, dataset, resolved, callbacks=[*configured.values(), keeper], initial_epoch=initial_epoch,
                    class_weight=class_weight, verbose=verbose,
                )  # fmt: skip
        if keeper.diverged:
            keeper.save()
            epoch, step, loss = keeper.diverged
            kept = f"; the last good epoch ({keeper.saved_epochs}) is in {run.path / runs.CHECKPOINTS}"
            raise TrainingError(
                f"training diverged: loss is {loss} at epoch {epoch}, step {step}"
                f"{kept if keeper.saved_epochs > 0 else ''}; lower optimizer.learning_rate, clip gradients "
                "(optimizer.clipnorm) or check the data"
            )
        if stop:
            keeper.save()
            raise KeyboardInterrupt
        if resolved.training.distribution == "multi_worker":
            net = distribute.local_copy(net, resolved, train.steps_per_epoch(dataset, resolved))
        with timer("evaluate"):
            metrics = evaluate.evaluate(net, *test_split(dataset, resolved), resolved, dataset.info.classes)
        with timer("save"):
            run.save_model(net)
            run.write_json(runs.METRICS, metrics)
    except KeyboardInterrupt:
        if keeper is not None:  # a second Ctrl-C, or one after fit: keep the last completed epoch
            keeper.partial = True
            keeper.save()
        run.update(status="interrupted", finished_at=runs._now(), timings_s=timer.times)
        done = run.state.get("epochs_done", 0)
        saved = keeper is not None and keeper.saved_epochs > 0
        hint = f"; resume with: dlcli train --resume {run.path}" if saved or done == 0 else ""
        raise Interrupted(f"interrupted after {done} epoch(s); {run.path} is marked interrupted{hint}") from None
    except DlcliError as exc:
        run.update(status="failed", finished_at=runs._now(), error=str(exc), timings_s=timer.times)
        raise
    except Exception as exc:
        if keeper is not None:
            with contextlib.suppress(Exception):
                keeper.partial = True
                keeper.save()
        run.update(
            status="failed", finished_at=runs._now(), error=f"{type(exc).__name__}: {exc}", timings_s=timer.times
        )
        raise TrainingError(
            f"training failed: {type(exc).__name__}: {summary(exc)} ({run.path} is marked failed)"
        ) from exc
    stopped_early = run.state.get("epochs_done", 0) < resolved.training.epochs
    run.update(
        weights_sha256=weights_sha256(net),
        status="complete",
        finished_at=runs._now(),
        stopped_early=stopped_early,
        timings_s={**timer.times, "total": timer.total()},
    )
    checkpoints.clear(run.path)
    if resolved.training.plots:
        _plots(run, timer)
    return run.path, metrics


def weights_sha256(model) -> str:
    """sha256 over the model's weights in order: equal hashes mean bit-identical models."""
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def _plots(run, timer) -> None:
    """plots/ for a complete run; a plotting failure is a warning, the run stays complete."""
    from dlcli import report  # noqa: PLC0415

    try:
        with timer("plots"):
            report.write_plots(run.path)
    except Exception as exc:  # noqa: BLE001 - the trained run must not be lost to a plotting problem
        warn(
            f"{run.path}: plots not written ({type(exc).__name__}: {summary(exc)}); retry with: dlcli report {run.path}"
        )


__all__ = ["environment", "resume", "train"]
