"""The Python face of dlcli: ``dlcli.load(run)`` -> ``Run`` with ``predict`` and ``evaluate``.

::

    import dlcli
    run = dlcli.load("runs/churn-20261128-183407")
    run.predict(df)                  # DataFrame: prediction (+ p_<class> with proba=True)
    run.predict("new.csv", proba=True, keep=["id"])
    run.evaluate(df_with_target)     # {"loss": ..., "accuracy": ...}
    run.config, run.metrics, run.labels, run.features

Importing dlcli imports no TensorFlow; the first ``predict`` or ``evaluate`` does.
Bad input raises ``dlcli.DataError`` (a ``ValueError``) naming the row and column.
"""

from __future__ import annotations

from pathlib import Path

from dlcli.errors import DataError, UsageError
from dlcli.runs import store
from dlcli.runs.saved import open_run


class Run:
    """A complete run directory, ready to predict with."""

    def __init__(self, path: str | Path, device: str = "auto"):
        from dlcli.predict import Predictor

        self._saved = open_run(path)
        self._predictor = Predictor(self._saved, device)

    def __repr__(self) -> str:
        return f"dlcli.Run({str(self.path)!r}, task={self.task!r})"

    @property
    def path(self) -> Path:
        return self._saved.path

    @property
    def config(self) -> dict:
        """The run's resolved config, as in its config.yaml."""
        return self._saved.config.config.dump()

    @property
    def task(self) -> str:
        return self._saved.config.task

    @property
    def labels(self) -> list | None:
        """Classes in output order (None for regression)."""
        return self._saved.labels

    @property
    def features(self) -> list[str] | None:
        """The feature columns the model takes (None for array data)."""
        return self._saved.inputs.features

    @property
    def metrics(self) -> dict:
        """The test metrics written at training (metrics.json)."""
        return store.read_json_if_present(self.path / store.METRICS, {})

    @property
    def model(self):
        """The Keras model (raw named columns in, for a table)."""
        return self._predictor.model

    def predict(self, data, *, proba: bool = False, keep=(), skip_bad_rows: bool = False):
        """A DataFrame of predictions for ``data``: a DataFrame, a dict of columns, a list of row dicts or a file path.

        ``prediction`` is a class name or a value; ``proba=True`` adds
        ``p_<class>`` columns; ``keep`` copies input columns; with
        ``skip_bad_rows`` a row that cannot be predicted gets an empty
        prediction and its reason in ``error`` instead of raising.
        """
        return self._predictor.frame(data, proba=proba, keep=keep, skip_bad_rows=skip_bad_rows,
                                     skip_hint="skip_bad_rows=True")  # fmt: skip

    def evaluate(self, data=None, *, target: str | None = None) -> dict:
        """Test metrics on ``data``: rows with the target column, a data file, or a config; its own test split by default.

        ``target`` names the target column of in-memory rows when the run's
        config has none (a scikit-learn or array source).
        """
        from dlcli.evaluate import evaluate_run, score_rows

        if data is None or isinstance(data, (str, Path)):
            return evaluate_run(self.path, data_arg=None if data is None else str(data), device=self._predictor.device)
        from dlcli.data.newrows import frame_of

        frame = frame_of(data)
        target = target or self._saved.inputs.target
        if target is None:
            raise DataError("evaluate: this run's config names no target column; pass target='COLUMN'")
        if target not in frame.columns:
            raise DataError(f"evaluate needs the target column {target!r} in the rows")
        return score_rows(self._saved, frame, target=target, device=self._predictor.device)


def load(path: str | Path, *, device: str = "auto") -> Run:
    """The run directory at ``path`` (complete), to predict and evaluate with."""
    if not Path(path).is_dir():
        raise UsageError(f"{path}: not a run directory")
    return Run(path, device)
