"""``source: sklearn``: scikit-learn's bundled datasets, offline, small, known shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from dlcli.data.base import Probe, RawData
from dlcli.data.sources.base import SourceConfig, known_name

NAME = "sklearn"
EXTENSIONS: tuple[str, ...] = ()
# name -> (features, task, classes); lets ``validate`` answer without importing scikit-learn.
DATASETS = {
    "iris": (4, "multiclass", 3),
    "digits": (64, "multiclass", 10),
    "wine": (13, "multiclass", 3),
    "breast_cancer": (30, "binary", 2),
    "diabetes": (10, "regression", None),
}
# regression name -> population std of its target (data.scale_target: auto), checked against the data by the tests
TARGET_SPREAD = {"diabetes": 77.006}
ROWS = {"iris": 150, "digits": 1797, "wine": 178, "breast_cancer": 569, "diabetes": 442}  # checked by the tests too


class SklearnConfig(SourceConfig):
    source: Literal["sklearn"] = "sklearn"
    name: str = Field(description="Dataset: " + ", ".join(DATASETS) + ".", examples=["digits"])

    _known = field_validator("name")(classmethod(lambda cls, v: known_name(NAME, v, DATASETS)))


CONFIG = SklearnConfig


def probe(config) -> Probe:
    features, task, classes = DATASETS[config.data.name]
    return Probe(
        input_shape=(features,), task=task, n_classes=classes, rows=ROWS[config.data.name],
        target_spread=TARGET_SPREAD.get(config.data.name),
    )  # fmt: skip


def read(config) -> RawData:
    import sklearn.datasets  # only when the data is really needed: it costs a second

    bunch = getattr(sklearn.datasets, f"load_{config.data.name}")()
    names = getattr(bunch, "target_names", None)
    class_names = None
    if names is not None and DATASETS[config.data.name][1] != "regression":
        class_names = {i: n.item() if hasattr(n, "item") else str(n) for i, n in enumerate(names)}
    feature_names = [str(f) for f in getattr(bunch, "feature_names", [])] or None
    return RawData(
        x=bunch.data,
        y=bunch.target,
        feature_names=feature_names,
        class_names=class_names,
        target_label=f"sklearn {config.data.name} target",
    )
