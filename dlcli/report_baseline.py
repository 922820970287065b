"""Where a run's model stands, for its HTML report: a gradient-boosting baseline and permutation importance.

- **Baseline.** scikit-learn's ``HistGradientBoostingClassifier`` /
  ``Regressor`` with its default settings (native categories, the run's
  seed) is fitted on the run's own training split and scored on the same
  test rows as the network, with the same metrics.
- **Permutation importance.** Each feature column of the test split is
  shuffled in turn (5 times, seeded) and the network scored again; the drop in
  accuracy (classes) or R² (regression) is what the network owes that column.

Both rebuild the data as ``dlcli evaluate`` does. Large or streamed data is
left out with a note, never a long wait: a report is written in seconds.
"""

from __future__ import annotations

import time

import numpy as np

from dlcli.data.features import NUMERIC

MAX_CELLS = 5_000_000  # training rows x features above which the baseline is not fitted for a report
MAX_FEATURES = 100  # columns at most for permutation importance
MAX_CATEGORIES = 255  # HistGradientBoosting's native categories; a wider column goes in as its codes
REPEATS = 5


def yardsticks(run, dataset, outputs: np.ndarray, predictor) -> dict:
    """{"baseline": ..., "importance": ...}: each a result, or {"missing": why it is not shown}."""
    return {"baseline": baseline(run, dataset, outputs), "importance": importance(run, dataset, predictor)}


def _metrics(config, y, outputs=None, *, proba=None, values=None) -> dict:
    """The metrics the comparison shows (``scoring.of_outputs``'s, and ROC AUC for two classes), from a network's
    outputs or from a baseline's probabilities / values."""
    from dlcli.model.head import predicted_classes, probabilities
    from dlcli.report import classification
    from dlcli.scoring import of_outputs

    y = np.asarray(y).reshape(-1)
    if config.task == "regression":
        found = of_outputs(values if values is not None else outputs, y, config)
        return {name: found[name] for name in ("r2", "mae", "rmse")}
    if proba is None:
        proba = probabilities(outputs, config.output.activation)
        pred = predicted_classes(outputs, config.output.activation)
    else:
        pred = np.argmax(proba, axis=1)
    macro_f1 = classification(y, pred, list(range(proba.shape[1])))["macro_f1"]
    out = {"accuracy": float(np.mean(pred == y)), "macro_f1": macro_f1}
    if proba.shape[1] == 2 and len(np.unique(y)) == 2:
        from dlcli.report_figures import roc_curve

        out["roc_auc"] = roc_curve(y, proba[:, 1])[2]
    return out


def frame(x, facts: dict, *, categories: dict | None = None):
    """The features as a pandas frame: numbers as float, each category column a pandas ``Categorical`` over
    ``categories`` (the training split's; a wider column than HistGradientBoosting takes goes in as codes)."""
    import pandas as pd

    if not isinstance(x, dict):
        flat = np.asarray(x).reshape(len(x), -1)
        names = facts.get("features") or [f"feature {j}" for j in range(flat.shape[1])]
        return pd.DataFrame(flat, columns=names[: flat.shape[1]])
    vocab = facts.get("vocab") or {}
    numeric_names = [c for c in facts.get("features") or () if c not in vocab]
    columns = {name: x[NUMERIC][:, j] for j, name in enumerate(numeric_names)} if NUMERIC in x else {}
    for column in vocab:
        values = np.asarray(x[column]).reshape(-1).astype(str)
        if categories is None:
            columns[column] = values
            continue
        known = categories[column]
        coded = pd.Categorical(values, categories=known)
        columns[column] = coded if len(known) <= MAX_CATEGORIES else coded.codes.astype(float)
    ordered = [c for c in facts.get("features") or () if c in columns]
    return pd.DataFrame({c: columns[c] for c in ordered})


def baseline(run, dataset, outputs: np.ndarray) -> dict:
    """Gradient boosting with defaults on the run's training split, and both models' metrics on the test rows."""
    config, facts = run.config, run.data_facts
    if dataset is None:
        return {"missing": "the data is not there to fit a baseline on"}
    cells = dataset.rows("train") * int(np.prod(facts.get("input_shape") or [1]))
    if cells > MAX_CELLS:
        return {"missing": f"{cells:,} training cells; a baseline for data this large is left out of the report"}
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x_train = dataset.x_train
    categories = {c: sorted(set(np.asarray(x_train[c]).reshape(-1).astype(str))) for c in facts.get("vocab") or {}}
    train = frame(x_train, facts, categories=categories)
    test = frame(dataset.x_test, facts, categories=categories)
    kind = HistGradientBoostingRegressor if config.task == "regression" else HistGradientBoostingClassifier
    model = kind(categorical_features="from_dtype", random_state=config.seed)
    started = time.perf_counter()
    model.fit(train, np.asarray(dataset.y_train).reshape(-1))
    seconds = time.perf_counter() - started
    y = np.asarray(dataset.y_test).reshape(-1)
    if config.task == "regression":
        theirs = _metrics(config, y, values=model.predict(test))
    else:
        proba = np.zeros((len(test), max(config.output.units, 2)))
        proba[:, model.classes_.astype(int)] = model.predict_proba(test)
        theirs = _metrics(config, y, proba=proba)
    return {
        "model": f"{kind.__name__} (scikit-learn's defaults{', native categories' if categories else ''}, "
        f"random_state {config.seed})",
        "train_rows": int(len(train)),
        "test_rows": int(len(test)),
        "seconds": round(seconds, 2),
        "network": _metrics(config, y, outputs),
        "baseline": theirs,
    }


class _Network:
    """The run's model as scikit-learn's ``permutation_importance`` sees an estimator: ``score(frame, y)``."""

    def __init__(self, run, predictor, layout):
        self.run, self.predictor, self.layout = run, predictor, layout

    def fit(self, *args):  # never fitted here; permutation_importance only scores
        return self

    def score(self, table, y) -> float:
        if self.layout is None:
            x = table.to_numpy(dtype=np.float32).reshape((len(table), *self.run.data_facts["input_shape"]))
        else:
            numeric_names, vocab = self.layout
            x = {column: table[column].to_numpy().astype(str) for column in vocab}
            if numeric_names:
                x[NUMERIC] = table[numeric_names].to_numpy(dtype=np.float32)
        metric = "r2" if self.run.config.task == "regression" else "accuracy"
        return _metrics(self.run.config, y, self.predictor.outputs(x))[metric]


def importance(run, dataset, predictor) -> dict:
    """The drop in the network's test accuracy (or R²) when each feature column is shuffled."""
    facts = run.data_facts
    if dataset is None:
        return {"missing": "the data is not there to shuffle"}
    test = frame(dataset.x_test, facts)
    if test.shape[1] > MAX_FEATURES:
        return {"missing": f"{test.shape[1]} feature columns; permutation importance is shown for at most "
                           f"{MAX_FEATURES}"}  # fmt: skip
    from sklearn.inspection import permutation_importance

    vocab = facts.get("vocab") or {}
    layout = None
    if isinstance(dataset.x_test, dict):
        layout = ([c for c in facts.get("features") or () if c not in vocab], list(vocab))
    network = _Network(run, predictor, layout)
    y = np.asarray(dataset.y_test).reshape(-1)
    found = permutation_importance(
        network, test, y, scoring=lambda est, table, truth: est.score(table, truth), n_repeats=REPEATS,
        random_state=run.config.seed,
    )  # fmt: skip
    order = np.argsort(-found.importances_mean, kind="stable")
    return {
        "metric": "r2" if run.config.task == "regression" else "accuracy",
        "repeats": REPEATS,
        "features": [
            {
                "feature": str(test.columns[j]),
                "drop": float(found.importances_mean[j]),
                "std": float(found.importances_std[j]),
            }
            for j in order
        ],  # fmt: skip
    }
