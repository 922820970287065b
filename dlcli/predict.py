"""Predictions from a run directory: ``Predictor`` (rows in, a DataFrame out) and ``dlcli predict`` (files).

The output has the ``--keep`` columns, ``prediction`` (a class name, or a
value for regression), ``p_<class>`` per class with ``proba``, and, with
``skip_bad_rows``, an ``error`` column: a row that could not be predicted has
an empty prediction and its reason there. Needs nothing but the run directory.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from pathlib import Path

import numpy as np

from dlcli.data import newrows, sources, tablefile
from dlcli.data.features import model_inputs, rows, take
from dlcli.errors import DataError, UsageError, writing
from dlcli.model.head import predicted_classes, probabilities
from dlcli.runs.saved import SavedRun, open_run

BATCH = 4096
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REFUSED = (".json", ".xlsx", ".xls", ".feather", ".arrow", ".npz", ".npy")  # formats a reader would expect to parse


class Predictor:
    """A run's model behind one compiled function, and the rows-to-DataFrame path around it."""

    def __init__(self, run: SavedRun, device: str = "auto"):
        self.run = run
        self.device = device
        self._model = None
        self._call = None

    @property
    def model(self):
        if self._model is None:
            from dlcli.device import import_tensorflow

            tf = import_tensorflow(self.device)
            self._model = self.run.load_model(compile=False)  # predicting needs no optimizer
            model = self._model
            self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return self._model

    def outputs(self, x) -> np.ndarray:
        """The model's raw outputs (n, units) for in-memory features, in batches through one compiled function."""
        self.model  # noqa: B018 - loads the model and makes the compiled function
        total = rows(x)
        if total == 0:
            return np.zeros((0, self.run.config.output.units), dtype=np.float32)
        parts = []
        for start in range(0, total, BATCH):
            batch = model_inputs(take(x, slice(start, start + BATCH)), self.run.inputs)
            parts.append(np.asarray(self._call(batch)))
        out = np.concatenate(parts)
        return out.reshape(len(out), -1)

    def columns(self, out: np.ndarray, proba: bool) -> dict:
        """{"prediction": ..., "p_<class>": ...} of raw outputs."""
        labels = self.run.labels
        if labels is None:
            return {"prediction": out[:, 0].astype(np.float64)}
        activation = self.run.config.output.activation
        names = np.array(labels, dtype=object)
        cols = {"prediction": names[predicted_classes(out, activation)]}
        if proba:
            probs = probabilities(out, activation)
            cols.update({f"p_{c}": probs[:, i] for i, c in enumerate(labels)})
        return cols

    def frame(self, data, *, proba: bool = False, keep=(), skip_bad_rows: bool = False, label: str | None = None,
              skip_hint: str = "--skip-bad-rows"):  # fmt: skip
        """Predictions for ``data`` (path, DataFrame, dict of columns, row dicts) as a DataFrame, one row per input row."""
        import pandas as pd

        if proba and self.run.labels is None:
            raise UsageError(f"{self.run.path}: --proba needs a classifier; this run predicts values (regression)")
        got = rows_of(data, self.run.inputs, keep=keep, skip_bad_rows=skip_bad_rows, label=label, skip_hint=skip_hint,
                      dialect=tablefile.dialect(self.run.config.data))  # fmt: skip
        predicted = self.columns(self.outputs(got.x), proba)
        out = {c: got.kept[c] for c in keep}
        for name, values in predicted.items():
            if got.ok.all():
                out[name] = values
            else:
                full = np.full(got.total, None if values.dtype == object else np.nan, dtype=values.dtype)
                full[got.ok] = values
                whole = values.dtype == object and all(isinstance(v, int) for v in values)
                out[name] = pd.array(full, dtype="Int64") if whole else full  # integer classes stay integers
        if skip_bad_rows:
            out["error"] = np.array(["" if e is None else e for e in got.errors], dtype=object)
        result = pd.DataFrame(out)
        result.attrs["unseen"] = got.unseen  # categorical column -> rows with a category training never saw
        return result


def rows_of(data, schema, *, keep=(), skip_bad_rows=False, label=None, skip_hint="--skip-bad-rows", dialect=None):
    """``newrows.Rows`` of a file (by its extension's source; a CSV read with ``dialect``) or of in-memory rows."""
    if not isinstance(data, (str, Path)):
        return newrows.read(data, schema, keep=keep, skip_bad_rows=skip_bad_rows, label=label, skip_hint=skip_hint)
    path = str(data)
    if not Path(path).exists():
        raise DataError(f"{path}: file not found")
    module = sources.input_reader(path)
    if sources.is_table(module.NAME):
        options = (dialect or {}) if module.NAME == "csv" else {}
        return module.read_inputs(path, schema, keep=keep, skip_bad_rows=skip_bad_rows, skip_hint=skip_hint, **options)
    if keep:
        raise DataError(f"{path}: --keep needs a table (CSV, TSV, Parquet); an array file has no columns")
    return newrows.of_array(module.read_inputs(path, schema))


def predict(run_dir: str | Path, input_path: str, output: str | None, *, device: str = "auto", proba: bool = False,
            keep=(), skip_bad_rows: bool = False) -> dict:  # fmt: skip
    """Write predictions for every row of ``input_path`` to ``output`` (stdout: CSV).

    Returns what ``--json`` prints: rows read, predicted and skipped, and per
    categorical column the rows whose category training never saw.
    """
    fmt = output_format(output)
    run = open_run(run_dir)
    frame = Predictor(run, device).frame(input_path, proba=proba, keep=keep, skip_bad_rows=skip_bad_rows)
    write(frame, output, fmt, regression=run.labels is None)
    skipped = int((frame["error"] != "").sum()) if skip_bad_rows else 0
    return {
        "output": output,
        "rows": len(frame),
        "predicted": len(frame) - skipped,
        "skipped": skipped,
        "unseen": frame.attrs.get("unseen", {}),
    }


def output_format(output: str | None) -> str:
    if output is None or output == "-":
        return "csv"
    suffix = Path(output).suffix.lower()
    if suffix in REFUSED:
        raise UsageError(
            f"{output}: predictions are written as .csv, .tsv, .parquet or .jsonl (JSON lines), chosen by the "
            "extension; any other name gets CSV"
        )
    return FORMATS.get(suffix, "csv")


def write(frame, output: str | None, fmt: str, *, regression: bool) -> None:
    """``frame`` to ``output`` in ``fmt``; a file appears only when complete."""
    if fmt in ("csv", "tsv"):
        with _sink(output) as sink:
            _write_text(frame, sink, "\t" if fmt == "tsv" else ",", regression)
        return
    with _sink(output, binary=True) as sink:
        if fmt == "parquet":
            frame.to_parquet(sink, index=False)
        else:
            sink.write(frame.to_json(orient="records", lines=True).encode())


def _write_text(frame, sink, delimiter: str, regression: bool) -> None:
    """CSV/TSV: values as repr (regression), probabilities to 6 significant digits, a skipped row's cells empty."""
    import pandas as pd

    writer = csv.writer(sink, delimiter=delimiter, lineterminator="\n")
    writer.writerow(list(frame.columns))

    def blank(v) -> bool:  # a skipped row's cell: None, pandas's NA or NaN
        return v is None or v is pd.NA or (isinstance(v, float) and v != v)

    formats = []
    for name in frame.columns:
        if name.startswith("p_") or (name == "prediction" and regression):
            fmt = "{:.6g}".format if name.startswith("p_") else (lambda v: repr(float(v)))
            formats.append(lambda v, fmt=fmt: "" if blank(v) else fmt(v))
        else:
            formats.append(lambda v: "" if blank(v) else v)
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([f(v) for f, v in zip(formats, row, strict=True)])


@contextlib.contextmanager
def _sink(output: str | None, binary: bool = False):
    if output is None or output == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    target = Path(output)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with writing(target), open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8", newline="") as fh:
            yield fh
        with writing(target):
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):  # also when the folder is missing
            tmp.unlink()
