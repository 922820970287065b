"""``dlcli evaluate``: reload a complete run's model and score it on its test split, or on other data.

The test split is rebuilt from the run's saved config and seed, from the data
files it recorded; when those are gone, ``--data FILE`` scores every row of a
file with the training columns instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlcli.config.load import load_config
from dlcli.data import fingerprint, sources
from dlcli.data.features import numeric, with_numeric
from dlcli.data.load import load as load_data
from dlcli.data.load import read as read_data
from dlcli.data.tablefile import OtherDecimalMark
from dlcli.errors import DataError
from dlcli.log import warn
from dlcli.runs.saved import SavedRun, open_run


def evaluate_run(run_dir: str | Path, *, data_arg: str | None = None, device: str = "auto") -> dict[str, float]:
    """Reload a run's model and score it on its own test split (or on ``data_arg``: a config or a data file)."""
    from dlcli.device import import_tensorflow, prepare_environment
    from dlcli.scoring import score

    prepare_environment(device)
    run = open_run(run_dir)
    config = run.config
    if data_arg is None:
        _data_still_there(run)
        test = own_test_split(run, config.config)
    elif Path(data_arg).suffix.lower() in (".yaml", ".yml"):
        other = load_config(data_arg)
        test = own_test_split(run, config.config.copy_with(data=other.data))
    else:
        test = _whole_file(run, data_arg)
    import_tensorflow(device)  # before a streamed test split builds its tf.data pipeline
    x, y = test()
    return score(run.load_model(), x, y, config, run.labels, run.inputs)


def _data_still_there(run: SavedRun) -> None:
    gone = [path for path in run.config.data.files().values() if not Path(path).is_file()]
    if gone:
        if hasattr(sources.module(run.config.data.source), "scoring_data"):  # a file with the training columns
            instead = f"score a file with the training columns instead: dlcli evaluate {run.path} --data FILE"
        else:
            instead = f"score other data with: dlcli evaluate {run.path} --data CONFIG.yaml (its data: section)"
        raise DataError(f"{run.path}: the run's data {gone[0]} is gone; {instead}")


def own_test_split(run: SavedRun, config, *, holes: bool = False):
    """The test split of ``config``'s data, rebuilt with the run's seed and checked against the run.

    Returns a function that gives (features, labels): a streamed split builds its tf.data pipeline then.
    With ``holes``, an in-memory split's numeric holes stay NaN (raw rows, as a file to predict has them).
    """
    return own_data(run, config, holes=holes).test


def own_data(run: SavedRun, config, *, holes: bool = False):
    """The data of ``config`` split with the run's seed (``own_test_split``'s), checked against the run."""
    holes = holes or bool(run.inputs.indicators)  # a model that flags holes must see them (it fills them itself)
    dataset = load_data(config, test_holes=holes)
    changed = fingerprint.changes(run.data_facts, dataset.info.fingerprint)
    if changed:
        warn(f"{', '.join(changed)} changed since training; the test split is not the one the run was scored on")
    if run.labels is not None and dataset.info.classes != run.labels:
        raise DataError(
            f"the data's classes {dataset.info.classes[:10]} differ from the run's labels.json {run.labels[:10]}"
        )
    return dataset


def _whole_file(run: SavedRun, data_arg: str):
    """Every row of a data file as one evaluation set, labels encoded as in training (a function giving them)."""
    trained = run.config.data
    module = sources.for_file(data_arg, "scoring_data")
    if module is None:
        raise DataError(f"{data_arg}: --data takes a config (.yaml) or a data file ({sources.readable_files()})")
    if not Path(data_arg).exists():
        raise DataError(f"{data_arg}: file not found")
    kind = module.NAME
    if not (kind == trained.source or sources.is_table(kind) and sources.is_table(trained.source)):
        raise DataError(f"{data_arg}: the run was trained on {trained.source} data; give a .{trained.source} file")
    keys = module.scoring_data(str(Path(data_arg).resolve()), trained, run.inputs)
    config = run.config.config.copy_with(data=module.CONFIG.model_validate(keys))
    from dlcli.data.prepare import fill

    try:
        raw = read_data(config)
    except OtherDecimalMark as exc:
        trained_mark = getattr(trained, "decimal", ".")
        words = {".": "a decimal point", ",": "a decimal comma"}
        other = "," if trained_mark == "." else "."
        raise DataError(
            f"{str(exc).rsplit('; set data.decimal', 1)[0]}; the run reads numbers written with "
            f"{words[trained_mark]}, as it was trained (data.decimal: {trained_mark!r}); to score a file written with "
            f'{words[other]}, give --data a config.yaml with data: {{path: {data_arg}, decimal: "{other}"}}'
        ) from None
    x, y = _all_rows(raw, run)
    filled = fill(x, run.inputs.fill)
    return lambda: (filled, y)


def _all_rows(raw, run: SavedRun):
    x = with_numeric(raw.x, numeric(raw.x).astype(np.float32, copy=False))
    y = np.ravel(raw.y)
    if raw.x_test is not None:
        if isinstance(x, dict):
            x = {k: np.concatenate([v, raw.x_test[k]]) for k, v in x.items()}
        else:
            x = np.concatenate([x, raw.x_test.astype(np.float32, copy=False)])
        y = np.concatenate([y, np.ravel(raw.y_test)])
    return x, target_indices(y, run, raw.files[0] if raw.files else "the data")


def target_indices(y, run: SavedRun, label: str) -> np.ndarray:
    """Target values as the model is scored on them: float32 values, or class indices in labels.json's order."""
    y = np.asarray(y)
    if run.config.task == "regression":
        return y.astype(np.float32)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # 1.0 read from a column with holes is the class 1
    index = {str(v): i for i, v in enumerate(run.labels or [])}
    unknown = sorted({str(v) for v in y} - set(index))
    if unknown:
        raise DataError(f"{label}: labels {unknown[:5]} were not seen in training (classes: {list(index)[:10]})")
    return np.array([index[str(v)] for v in y], dtype=np.int32)


def score_rows(run: SavedRun, frame, *, target: str | None = None, device: str = "auto") -> dict:
    """Test metrics of a run's model on a DataFrame holding the feature columns and the target (``target``)."""
    from dlcli.data.newrows import check
    from dlcli.device import import_tensorflow
    from dlcli.scoring import score

    target = target or run.inputs.target
    rows = frame.dropna(subset=[target]).reset_index(drop=True)
    if len(rows) < len(frame):
        warn(f"dropped {len(frame) - len(rows)} row(s) without a target value")
    if len(rows) == 0:
        raise DataError(f"no row has a value in the target column {target!r}")
    label = "the rows"
    features = rows.drop(columns=[target])  # not named as an ignored column
    got = check(features, ("row", rows.index.to_numpy()), label, run.inputs, skip_hint="cleaning those rows")
    y = target_indices(rows[target].to_numpy(), run, f"{label}: column {target!r}")
    import_tensorflow(device)
    return score(run.load_model(), got.x, y, run.config, run.labels, run.inputs)
