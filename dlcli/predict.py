"""``dlcli predict``: raw rows in (CSV / NPZ), one prediction per row out (CSV)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np

from dlcli import runs
from dlcli.errors import DataError, UsageError

BATCH = 4096


def read_input(path: str, env_data: dict) -> np.ndarray:
    """Rows to predict on, as float32 with the training input shape."""
    suffix = Path(path).suffix.lower()
    if not Path(path).exists():
        raise DataError(f"{path}: file not found")
    shape = tuple(env_data.get("input_shape") or ())
    if suffix in (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq"):
        features = env_data.get("features")
        if not features:
            raise DataError(f"{path}: this model was not trained on a table; give an .npz with an array 'x'")
        from dlcli.data.table import read_features  # noqa: PLC0415

        vocab = env_data.get("vocab") or {}
        return read_features(
            path,
            features,
            env_data.get("target"),
            env_data.get("fill"),
            list(vocab),
            vocab,
            env_data.get("unseen", "oov"),
        )
    if suffix == ".npz":
        try:
            archive = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
        with archive:
            keys = archive.files
            key = next((k for k in ("x", "x_test", "x_train") if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise DataError(f"{path}: expected an array named x (or a single array); found {', '.join(keys)}")
            x = archive[key]
        if tuple(x.shape[1:]) != shape:
            raise DataError(f"{path}: '{key}' rows have shape {tuple(x.shape[1:])}; the model takes {shape}")
        if x.dtype.kind not in "biuf":
            raise DataError(f"{path}: '{key}' has dtype {x.dtype}; features must be numbers")
        return x.astype(np.float32, copy=False)
    if suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npy file ({exc})") from None
        if tuple(x.shape[1:]) != shape:
            raise DataError(f"{path}: rows have shape {tuple(x.shape[1:])}; the model takes {shape}")
        return x.astype(np.float32, copy=False)
    raise DataError(f"{path}: give a .csv, .tsv, .parquet, .npz or .npy file")


def probabilities(outputs: np.ndarray, activation: str) -> np.ndarray:
    """Class probabilities (n, classes) from the output layer: logits go through sigmoid / softmax."""
    out = outputs.reshape(len(outputs), -1).astype(np.float64)
    if out.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-out[:, 0])) if activation in ("linear", "tanh") else out[:, 0]
        return np.column_stack([1.0 - p, p])
    if activation != "softmax":
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return out


def predict(run_dir: str | Path, input_path: str, output: str | None, *, device: str = "auto",
            proba: bool = False) -> int:  # fmt: skip
    """Write predictions for every row of ``input_path`` to ``output`` (or stdout); returns the row count.

    With ``proba`` (classification only), one ``p_<class>`` column per class
    follows the prediction. Rows go through the model and out to the file in
    batches of ``BATCH``.
    """
    from dlcli.config import load_config  # noqa: PLC0415
    from dlcli.data.prepare import take  # noqa: PLC0415
    from dlcli.device import import_tensorflow  # noqa: PLC0415
    from dlcli.model import model_inputs, predicted_classes  # noqa: PLC0415

    run_path = runs.open_run(run_dir)
    config = load_config(run_path / runs.CONFIG)
    labels = runs.read_json_if_present(run_path / runs.LABELS)
    if proba and labels is None:
        raise UsageError(f"{run_path}: --proba needs a classifier; this run predicts values (regression)")
    env = runs.read_json_if_present(run_path / runs.ENVIRONMENT, {})
    env_data = {**env.get("data", {}), "target": config.data.target, "unseen": config.data.unseen}
    x = read_input(input_path, env_data)
    import_tensorflow(device)

    model = runs.load_model(run_path / runs.MODEL, compile=False)  # predicting needs no optimizer
    activation = config.model.output.activation
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["prediction", *([f"p_{c}" for c in labels] if proba else [])])
    with _sink(output) as sink:
        sink.write(buf.getvalue())
        rows = len(x["numeric"]) if isinstance(x, dict) else len(x)
        for start in range(0, rows, BATCH):
            out = np.asarray(model.predict_on_batch(model_inputs(take(x, slice(start, start + BATCH)))))
            buf.seek(0)
            buf.truncate()
            if labels is None:
                for value in out.reshape(len(out), -1)[:, 0]:
                    writer.writerow([repr(float(value))])
            elif proba:
                probs = probabilities(out, activation)
                for idx, row in zip(predicted_classes(out, activation), probs, strict=True):
                    writer.writerow([labels[int(idx)], *(f"{v:.6g}" for v in row)])
            else:
                for idx in predicted_classes(out, activation):
                    writer.writerow([labels[int(idx)]])
            sink.write(buf.getvalue())
    return rows


@contextlib.contextmanager
def _sink(output: str | None):
    if output is None or output == "-":
        yield sys.stdout
        return
    target = Path(output)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
