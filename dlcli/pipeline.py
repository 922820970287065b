"""The steps of ``train`` and ``evaluate`` in order: data -> model -> fit -> metrics -> run directory."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np

from dlcli import __version__, data, plan, runs
from dlcli.config import EXTENSIONS, load_config
from dlcli.errors import DataError, DlcliError, Interrupted, RunDirError, TrainingError, warn


def summary(exc: BaseException) -> str:
    """One informative line of an exception (TensorFlow's start with "Graph execution error:")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Graph execution error") and len(lines) > 1:
        details = [
            line for line in lines[1:] if not line.startswith(("File ", "Detected at node", "[[", "Stack trace"))
        ]
        return (details[-1] if details else lines[-1])[:300]
    return lines[0][:300]


def environment(tf, config, info, device: str) -> dict:
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
        "argv": sys.argv,
    }


def _progress_callback(run: runs.Run):
    """A Keras callback that rewrites history.csv and run.json after every epoch."""
    import keras  # noqa: PLC0415

    class RunProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history: dict[str, list[float]] = {}

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            run.write_history(self.history, durable=False)
            run.update(epochs_done=epoch + 1, durable=False)

    return RunProgress()


def train(config, *, output_dir: str | Path = "runs", device: str | None = None, verbose: int = 2):
    """Train ``config`` into a new run directory; returns (run path, test metrics)."""
    from dlcli.device import import_tensorflow, prepare_environment  # noqa: PLC0415

    timer = runs.Timer()
    device = device or config.training.device
    prepare_environment(device)
    if device != config.training.device:
        config = config.model_copy(update={"training": config.training.model_copy(update={"device": device})})
    with timer("load_data"):
        dataset = data.load(config)
    info = dataset.info
    resolved = plan.resolve(config, info.task, info.n_classes)
    with timer("import_tensorflow"):
        tf = import_tensorflow(device)
    import keras  # noqa: PLC0415

    from dlcli import evaluate, model, train  # noqa: PLC0415

    keras.utils.set_random_seed(config.seed)
    with timer("build"):
        if hasattr(dataset, "dataset"):  # streamed: statistics came from the pass over the file
            net = model.build(resolved, info, None, stats=(dataset.mean, dataset.var))
        else:
            net = model.build(resolved, info, dataset.x_train)
        train.compile_model(net, resolved)
    run = runs.Run.create(output_dir, resolved.name)
    run.write_config(resolved)
    if info.classes is not None:
        run.write_json(runs.LABELS, info.classes)
    run.write_json(runs.ENVIRONMENT, environment(tf, resolved, info, device))
    run.start(resolved, resolved.training.epochs)
    progress = _progress_callback(run)
    try:
        with timer("fit"):
            history = train.fit(net, dataset, resolved, extra_callbacks=[progress], verbose=verbose)
        losses = history.history.get("loss", [])
        if losses and not np.all(np.isfinite(losses)):
            bad = int(np.flatnonzero(~np.isfinite(losses))[0]) + 1
            raise TrainingError(
                f"training diverged: loss is {losses[bad - 1]} at epoch {bad}; lower optimizer.learning_rate or check the data"
            )
        with timer("evaluate"):
            metrics = evaluate.evaluate(net, *test_split(dataset, resolved), resolved)
        with timer("save"):
            run.write_history(progress.history)
            run.save_model(net)
            run.write_json(runs.METRICS, metrics)
    except KeyboardInterrupt:
        run.update(status="interrupted", finished_at=runs._now(), timings_s=timer.times)
        raise Interrupted(
            f"interrupted after {run.state.get('epochs_done', 0)} epoch(s); {run.path} is marked interrupted"
        ) from None
    except DlcliError as exc:
        run.update(status="failed", finished_at=runs._now(), error=str(exc), timings_s=timer.times)
        raise
    except Exception as exc:
        run.update(
            status="failed", finished_at=runs._now(), error=f"{type(exc).__name__}: {exc}", timings_s=timer.times
        )
        raise TrainingError(
            f"training failed: {type(exc).__name__}: {summary(exc)} ({run.path} is marked failed)"
        ) from exc
    stopped_early = len(progress.history.get("loss", [])) < resolved.training.epochs
    run.update(
        status="complete",
        finished_at=runs._now(),
        stopped_early=stopped_early,
        timings_s={**timer.times, "total": timer.total()},
    )
    return run.path, metrics


def test_split(dataset, config):
    """(x, y) of the test split: arrays, or a streamed dataset and its labels."""
    if hasattr(dataset, "dataset"):
        return dataset.dataset("test", 4096), dataset.labels("test")
    return dataset.x_test, dataset.y_test


def _eval_config(run_path: Path, data_arg: str | None):
    """The run's resolved config, with its data replaced by ``--data`` when given."""
    config = load_config(run_path / runs.CONFIG)
    if data_arg is None:
        return config, False
    source = Path(data_arg)
    if source.suffix.lower() in (".yaml", ".yml"):
        other = load_config(source)
        return config.model_copy(update={"data": other.data}), False
    kind = EXTENSIONS.get(source.suffix.lower())
    if kind not in ("csv", "parquet", "npz"):
        raise DataError(f"{data_arg}: --data takes a config (.yaml) or a data file (.csv, .tsv, .parquet, .npz)")
    if not source.exists():
        raise DataError(f"{data_arg}: file not found")
    if kind != config.data.source and {kind, config.data.source} != {"csv", "parquet"}:
        raise DataError(
            f"{data_arg}: the run was trained on {config.data.source} data; give a .{config.data.source} file"
        )
    env = runs.read_json_if_present(run_path / runs.ENVIRONMENT, {})
    trained_categorical = list((env.get("data") or {}).get("vocab") or {}) or None
    new_data = config.data.model_copy(
        update={
            "source": kind,
            "path": str(source.resolve()),
            "test_path": None,
            "validation_path": None,
            "categorical": trained_categorical,
        }
    )
    return config.model_copy(update={"data": new_data}), True


def evaluate(run_dir: str | Path, *, data_arg: str | None = None, device: str = "auto") -> dict[str, float]:
    """Reload a run's model and score it on its own test split (or on ``data_arg``)."""
    from dlcli.device import import_tensorflow, prepare_environment  # noqa: PLC0415

    prepare_environment(device)
    run_path = runs.open_run(run_dir)
    config, whole_file = _eval_config(run_path, data_arg)
    labels = runs.read_json_if_present(run_path / runs.LABELS)
    if whole_file:
        from dlcli.data.prepare import fill  # noqa: PLC0415

        x, y = _score_whole_file(data.read(config), config, labels)
        x = fill(x, runs.read_json_if_present(run_path / runs.ENVIRONMENT, {}).get("data", {}).get("fill"))
    else:
        dataset = data.load(config)
        _check_fingerprint(run_path, dataset.info)
        if labels is not None and dataset.info.classes != labels:
            raise DataError(
                f"the data's classes {dataset.info.classes[:10]} differ from the run's labels.json {labels[:10]}"
            )
    import_tensorflow(device)
    if not whole_file:
        x, y = test_split(dataset, config)
    import keras  # noqa: PLC0415

    from dlcli.evaluate import evaluate as score  # noqa: PLC0415

    try:
        net = keras.saving.load_model(run_path / runs.MODEL)
    except Exception as exc:  # a damaged or foreign file: say which
        raise RunDirError(
            f"{run_path / runs.MODEL}: cannot load the model: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    return score(net, x, y, config)


def _score_whole_file(raw, config, labels):
    """All rows of a file as one evaluation set, labels encoded as in training."""
    from dlcli.data.prepare import numeric, with_numeric  # noqa: PLC0415

    x = with_numeric(raw.x, numeric(raw.x).astype(np.float32, copy=False))
    y = np.ravel(raw.y)
    if raw.x_test is not None:
        if isinstance(x, dict):
            x = {k: np.concatenate([v, raw.x_test[k]]) for k, v in x.items()}
        else:
            x = np.concatenate([x, raw.x_test.astype(np.float32, copy=False)])
        y = np.concatenate([y, np.ravel(raw.y_test)])
    if config.task == "regression":
        return x, y.astype(np.float32)
    index = {str(v): i for i, v in enumerate(labels or [])}
    unknown = sorted({str(v) for v in y} - set(index))
    if unknown:
        raise DataError(
            f"{config.data.path}: labels {unknown[:5]} were not seen in training (classes: {list(index)[:10]})"
        )
    return x, np.array([index[str(v)] for v in y], dtype=np.int32)


def _check_fingerprint(run_path: Path, info) -> None:
    env_path = run_path / runs.ENVIRONMENT
    if not env_path.exists():
        warn(f"{env_path}: missing; cannot tell whether the data changed since training")
        return
    saved = runs.read_json(env_path).get("data", {})
    changed = [
        f
        for f, meta in info.fingerprint["files"].items()
        if saved.get("files", {}).get(f, {}).get("sha256") not in (None, meta["sha256"])
    ]
    arrays_changed = saved.get("arrays_sha256") not in (None, info.fingerprint.get("arrays_sha256"))
    if changed or arrays_changed:
        what = f"{', '.join(changed)} changed" if changed else "the data changed"
        warn(f"{what} since training; the test split is not the one the run was scored on")


__all__ = ["environment", "evaluate", "train"]
