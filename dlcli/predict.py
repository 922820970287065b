"""``dlcli predict``: raw rows in (a table or arrays), one prediction per row out (CSV)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np

from dlcli.data import sources
from dlcli.data.features import model_inputs, rows, take
from dlcli.errors import DataError, UsageError
from dlcli.model.head import predicted_classes, probabilities
from dlcli.runs.saved import open_run

BATCH = 4096


def read_input(path: str, schema):
    """Rows to predict on, checked against what the model takes (an ``InputSchema``)."""
    if not Path(path).exists():
        raise DataError(f"{path}: file not found")
    module = sources.for_file(path, "read_inputs")
    if module is None:
        raise DataError(f"{path}: give a .csv, .tsv, .parquet, .npz or .npy file")
    return module.read_inputs(path, schema)


def predict(run_dir: str | Path, input_path: str, output: str | None, *, device: str = "auto",
            proba: bool = False) -> int:  # fmt: skip
    """Write predictions for every row of ``input_path`` to ``output`` (or stdout); returns the row count.

    With ``proba`` (classification only), one ``p_<class>`` column per class
    follows the prediction. Rows go through the model and out to the file in
    batches of ``BATCH``. Needs nothing but the run directory.
    """
    from dlcli.device import import_tensorflow

    run = open_run(run_dir)
    labels = run.labels
    if proba and labels is None:
        raise UsageError(f"{run.path}: --proba needs a classifier; this run predicts values (regression)")
    x = read_input(input_path, run.inputs)
    import_tensorflow(device)
    model = run.load_model(compile=False)  # predicting needs no optimizer
    activation = run.config.output.activation
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["prediction", *([f"p_{c}" for c in labels] if proba else [])])
    with _sink(output) as sink:
        sink.write(buf.getvalue())
        total = rows(x)
        for start in range(0, total, BATCH):
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
    return total


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
