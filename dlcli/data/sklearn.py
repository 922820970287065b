"""scikit-learn's bundled datasets: offline, small, known shapes."""

from __future__ import annotations

from dlcli.data.base import Probe, RawData

# name -> (features, task, classes); lets ``validate`` answer without importing scikit-learn.
SHAPES = {
    "iris": (4, "multiclass", 3),
    "digits": (64, "multiclass", 10),
    "wine": (13, "multiclass", 3),
    "breast_cancer": (30, "binary", 2),
    "diabetes": (10, "regression", None),
}


def probe(config) -> Probe:
    features, task, classes = SHAPES[config.data.name]
    return Probe(input_shape=(features,), task=task, n_classes=classes)


def read(config) -> RawData:
    import sklearn.datasets  # noqa: PLC0415 - only when the data is really needed

    bunch = getattr(sklearn.datasets, f"load_{config.data.name}")()
    names = getattr(bunch, "target_names", None)
    class_names = None
    if names is not None and SHAPES[config.data.name][1] != "regression":
        class_names = {i: n.item() if hasattr(n, "item") else str(n) for i, n in enumerate(names)}
    feature_names = [str(f) for f in getattr(bunch, "feature_names", [])] or None
    return RawData(
        x=bunch.data,
        y=bunch.target,
        feature_names=feature_names,
        class_names=class_names,
        target_label=f"sklearn {config.data.name} target",
    )
