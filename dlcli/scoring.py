"""Test metrics of a trained model: Keras's loss and metrics plus accuracy, or mae / rmse / r2."""

from __future__ import annotations

import numpy as np

from dlcli.config.resolve import ResolvedConfig
from dlcli.data.features import model_inputs, tf_column_inputs
from dlcli.model.head import keras_targets, predicted_classes
from dlcli.report import classification
from dlcli.text import table

EVAL_BATCH = 1024
# Keras's long metric names for the ones dlcli always computes itself on the test split.
SAME_AS = {"mean_absolute_error": "mae", "root_mean_squared_error": "rmse", "r2_score": "r2"}


def score(model, x, y: np.ndarray, config: ResolvedConfig, classes: list | None = None, inputs=None) -> dict:
    """Metrics on (x, y); classification always has ``accuracy``, regression ``mae``, ``rmse``, ``r2``.

    ``x`` may also be a ``tf.data.Dataset`` of (features, label) batches, with
    ``y`` its labels in the same order (a streamed test split). Classification
    adds per-class precision / recall / F1 and the confusion matrix (``report``)
    after the scalar metrics; ``classes`` names them. ``inputs`` is the
    ``InputSchema`` of a saved model that takes raw columns.
    """
    if hasattr(x, "element_spec"):
        if inputs is not None and inputs.columns:
            x = x.map(lambda features, label: (tf_column_inputs(features, inputs), label))
        if config.one_hot:
            import tensorflow as tf

            x = x.map(lambda features, label: (features, tf.one_hot(label, config.output.units)))
        results = model.evaluate(x, verbose=0, return_dict=True)
        outputs = np.asarray(model.predict(x, verbose=0))
    else:
        x = model_inputs(x, inputs)
        results = model.evaluate(x, keras_targets(y, config), batch_size=EVAL_BATCH, verbose=0, return_dict=True)
        outputs = np.asarray(model.predict(x, batch_size=EVAL_BATCH, verbose=0))
    metrics = {"loss": float(results.pop("loss")), **of_outputs(outputs, y, config, classes, report=False)}
    for key, value in results.items():
        if key not in metrics and SAME_AS.get(key) not in metrics and np.ndim(value) == 0:
            metrics[key] = float(value)
    if config.task != "regression":
        metrics.update(_report(outputs, y, config, classes))
    return metrics


def of_outputs(outputs, y, config: ResolvedConfig, classes: list | None = None, *, report: bool = True) -> dict:
    """dlcli's own metrics of a model's ``outputs`` for labels ``y``: accuracy (and, with ``report``, the
    per-class report and confusion matrix), or mae, rmse and r2."""
    outputs = np.asarray(outputs)
    if config.task == "regression":
        pred = outputs.reshape(-1).astype(np.float64)
        truth = np.asarray(y, dtype=np.float64).reshape(-1)
        err = pred - truth
        ss_tot = float(np.sum((truth - truth.mean()) ** 2))
        return {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        }
    pred = predicted_classes(outputs, config.output.activation)
    metrics = {"accuracy": float(np.mean(pred == np.asarray(y).reshape(-1)))}
    return {**metrics, **_report(outputs, y, config, classes)} if report else metrics


def _report(outputs, y, config: ResolvedConfig, classes: list | None) -> dict:
    pred = predicted_classes(np.asarray(outputs), config.output.activation)
    n = max(config.output.units, 2)
    names = classes if classes is not None and len(classes) == n else [str(i) for i in range(n)]
    return classification(np.asarray(y).reshape(-1), pred, names)


def scalars(metrics: dict) -> dict[str, float]:
    """The single-number metrics (what the tables print), without the per-class report."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def format_table(metrics: dict) -> str:
    """A two-column table of the single-number metrics."""
    return table([(k, f"{v:.6g}") for k, v in scalars(metrics).items()])
