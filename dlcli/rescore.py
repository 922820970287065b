"""``dlcli evaluate``: reload a complete run's model and score it on its test split or on other data.

Split from ``pipeline`` (which trains); shares ``test_split`` and the
fingerprint check with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlcli import data, runs
from dlcli.config import EXTENSIONS, load_config
from dlcli.errors import DataError, warn


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
        check_fingerprint(run_path, dataset.info)
        if labels is not None and dataset.info.classes != labels:
            raise DataError(
                f"the data's classes {dataset.info.classes[:10]} differ from the run's labels.json {labels[:10]}"
            )
    import_tensorflow(device)
    if not whole_file:
        x, y = test_split(dataset, config)

    from dlcli.evaluate import evaluate as score  # noqa: PLC0415

    net = runs.load_model(run_path / runs.MODEL, policy=config.training.mixed_precision)
    return score(net, x, y, config, labels)


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


def check_fingerprint(run_path: Path, info, *, strict: bool = False) -> None:
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
        if strict:
            raise DataError(f"{what} since the run started; resuming would train on other data. Train a new run")
        warn(f"{what} since training; the test split is not the one the run was scored on")
