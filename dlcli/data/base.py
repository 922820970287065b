"""The shapes data takes on its way from a source to the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass
class RawData:
    """What a source reads: features, target and, when the source has one, a given test split."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    feature_names: list[str] | None = None
    class_names: dict[Any, str] | None = None  # label value -> display name (sklearn's target_names)
    files: list[str] = field(default_factory=list)
    target_label: str = "target"
    categorical: list[str] = field(default_factory=list)  # x is a dict {"numeric": ..., column: ...} when set
    unseen: str = "oov"  # a category of the validation or test split missing from training: oov | error
    groups: np.ndarray | None = None  # per row of x: the cross-validation group (training.cross_validation.group)


@dataclass
class Probe:
    """What ``validate`` needs to know about the data, read without loading it all."""

    input_shape: tuple[int, ...]
    task: str | None  # binary | multiclass | regression, or None when unknown
    n_classes: int | None
    rows: int | None = None
    vocab_sizes: dict[str, int] = field(default_factory=dict)  # categorical column -> categories (tables)
    task_reason: str | None = None  # why the task is what it is (task.decide), for validate to print
    target_spread: float | None = None  # regression: population std of every target value (data.scale_target)
    streamed: bool = False  # read from disk with tf.data as train will (data.streaming)


@dataclass
class DataInfo:
    """Facts about the data that the model, the run directory and predict need."""

    task: str
    input_shape: tuple[int, ...]
    classes: list | None
    feature_names: list[str] | None
    splits: dict[str, int]
    fingerprint: dict[str, Any]
    fill: list[float] | None = None  # per-feature values for missing cells (data.missing: mean | median | zero)
    vocab: dict[str, list[str]] = field(default_factory=dict)  # categorical column -> categories seen in training
    task_reason: str | None = None  # why the task is what it is (task.decide), for environment.json
    target_spread: float | None = None  # regression: population std of every target value of the data file
    target_stats: tuple[float, float] | None = None  # regression: (mean, std) of the training split's targets
    fold: dict | None = None  # a cross-validation fold's data: {index, of, rows}; its test split is the held-out fold
    indicators: list[int] = field(default_factory=list)  # numeric columns flagged (data.missing_indicators)

    @property
    def n_classes(self) -> int | None:
        return len(self.classes) if self.classes is not None else None

    @property
    def rows(self) -> int:
        """Every labelled row of the data, all splits together (the recipe's batch size comes from it); for a
        fold, the whole data's, so every fold resolves as the whole run does."""
        return self.fold["rows"] if self.fold else sum(self.splits.values())


@dataclass
class Dataset:
    """Train, validation and test arrays plus their ``DataInfo``.

    ``stream.StreamData`` (a CSV streamed from disk) offers the same split
    interface: ``streamed``, ``info``, ``rows``, ``labels`` and ``test``.
    """

    streamed: ClassVar[bool] = False

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    info: DataInfo
    test_rows: np.ndarray | None = None  # the test split's rows, as positions among the data's labelled rows

    def rows(self, which: str) -> int:
        """Rows in the ``train``, ``validation`` or ``test`` split."""
        labels = self.labels(which)
        return 0 if labels is None else len(labels)

    def labels(self, which: str) -> np.ndarray | None:
        """The labels of one split."""
        return {"train": self.y_train, "validation": self.y_val, "test": self.y_test}[which]

    def test(self):
        """(features, labels) of the test split, as the scoring step takes them."""
        return self.x_test, self.y_test
