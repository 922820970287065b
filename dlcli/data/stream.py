"""CSV files larger than memory: one pandas pass for checks and statistics, then tf.data.

The pass reads the file in chunks, checks every cell (with line numbers, as
the in-memory reader does), assigns each row to train / validation / test
by a seeded hash of its row number, and accumulates the normalization
statistics and classes of the training rows only. Training then streams the
file with ``TextLineDataset`` -> batch -> ``decode_csv`` (batch-then-decode),
applying the same hash so every row lands in the same split every time.
Numeric feature columns only; categorical columns need the in-memory path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcli.data.base import DataInfo, sha256_file
from dlcli.data.table import MISSING_TEXT, _sep, _typed, columns, header, numbers
from dlcli.errors import DataError, warn

THRESHOLD_BYTES = 1 << 30  # streaming: auto streams files above 1 GiB
CHUNK_ROWS = 200_000
HASH_MULT = 2654435761
HASH_MOD = 1 << 32
CHUNK_LINES = 8192  # lines decoded per decode_csv call
SHUFFLE_CHUNKS = 8  # chunks mixed at a time when shuffling (rows are also shuffled within a chunk)


def wanted(config) -> bool:
    """Stream this config's data? (``streaming: true``, or ``auto`` and a CSV above the threshold)."""
    data = config.data
    if data.source != "csv" or data.streaming is False:
        return False
    if data.streaming is True:
        return True
    return os.path.getsize(data.path) > THRESHOLD_BYTES


def _offset(seed: int) -> int:
    """A seed-dependent rotation of the hash, computed with Python's unbounded ints."""
    return (seed * 0x9E3779B1 + 0x5BD1E995) % HASH_MOD


def split_codes(index: np.ndarray, seed: int, test: float, val: float) -> np.ndarray:
    """0 train, 1 validation, 2 test for each row number: a seeded hash, the same in numpy and TF."""
    u = ((index.astype(np.int64) * HASH_MULT + _offset(seed)) % HASH_MOD) / HASH_MOD
    return np.where(u < test, 2, np.where(u < test + (1 - test) * val, 1, 0)).astype(np.int8)


def _split_codes_tf(tf, index, seed: int, test: float, val: float):
    u = tf.cast(tf.math.floormod(index * HASH_MULT + _offset(seed), HASH_MOD), tf.float64) / HASH_MOD
    return tf.where(u < test, 2, tf.where(u < test + (1 - test) * val, 1, 0))


@dataclass
class StreamData:
    """What the pass learned; ``dataset(split)`` streams a split as batches."""

    path: str
    sep: str
    features: list[str]
    target: str
    column_index: dict[str, int]
    task: str
    classes: list | None
    mean: np.ndarray
    var: np.ndarray
    fill: np.ndarray | None
    seed: int
    test_split: float
    validation_split: float
    splits: dict[str, int]
    info: DataInfo = field(repr=False, default=None)

    def dataset(self, which: str, batch_size: int, *, shuffle: bool = False, with_labels: bool = True):
        """A ``tf.data.Dataset`` of (features, label) batches for ``which`` (train | validation | test)."""
        import tensorflow as tf  # noqa: PLC0415

        code = {"train": 0, "validation": 1, "test": 2}[which]
        seed, test, val = self.seed, self.test_split, self.validation_split
        used = sorted(self.column_index[c] for c in [*self.features, self.target])
        position = {index: k for k, index in enumerate(used)}
        target_at = position[self.column_index[self.target]]
        feature_at = [position[self.column_index[c]] for c in self.features]
        fill = self.fill if self.fill is not None else np.full(len(self.features), np.nan)
        by_index = {i: c for c, i in self.column_index.items()}
        defaults = []
        for index in used:
            if index == self.column_index[self.target]:
                regression = self.task == "regression"
                defaults.append(tf.constant(np.nan, tf.float32) if regression else tf.constant("", tf.string))
            else:
                defaults.append(tf.constant(float(fill[self.features.index(by_index[index])]), tf.float32))
        table = None
        if self.task != "regression":
            keys = tf.constant([str(c) for c in self.classes])
            table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(self.classes), dtype=tf.int32)), -1
            )

        def decode(index, lines):
            # Batch-then-decode: a whole chunk of lines at once, then keep this split's rows.
            cols = tf.io.decode_csv(lines, record_defaults=defaults, field_delim=self.sep, select_cols=used)
            keep = tf.equal(_split_codes_tf(tf, index, seed, test, val), code)
            x = tf.boolean_mask(tf.stack([cols[k] for k in feature_at], axis=1), keep)
            y = tf.boolean_mask(cols[target_at], keep)
            if table is not None:
                y = table.lookup(tf.strings.strip(y))
            if shuffle:
                order = tf.random.shuffle(tf.range(tf.shape(y)[0]), seed=seed)
                x, y = tf.gather(x, order), tf.gather(y, order)
            return x, y

        def number_rows(count, lines):
            # Row numbers as pandas counts them (blank lines skipped), carried from chunk to chunk.
            filled = tf.strings.length(tf.strings.strip(lines)) > 0
            index = count + tf.cumsum(tf.cast(filled, tf.int64)) - 1
            return count + tf.reduce_sum(tf.cast(filled, tf.int64)), (
                tf.boolean_mask(index, filled),
                tf.boolean_mask(lines, filled),
            )

        lines = tf.data.TextLineDataset(self.path).skip(1).batch(CHUNK_LINES)
        chunks = lines.scan(tf.constant(0, tf.int64), number_rows).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        if shuffle:
            chunks = chunks.shuffle(SHUFFLE_CHUNKS, seed=seed, reshuffle_each_iteration=True)
        batches = chunks.rebatch(batch_size)
        steps = -(-self.splits[which] // batch_size)
        batches = batches.apply(tf.data.experimental.assert_cardinality(steps))
        if not with_labels:
            batches = batches.map(lambda x, y: x)
        return batches.prefetch(tf.data.AUTOTUNE)

    def labels(self, which: str) -> np.ndarray:
        """The labels of one split, in stream order (small: one value per row)."""
        out = [y.numpy() for _, y in self.dataset(which, 65_536)]
        return np.concatenate(out) if out else np.array([])


def scan(config) -> StreamData:
    """The one pass over the file: checks, split sizes, training-split statistics and classes."""
    import pandas as pd  # noqa: PLC0415

    data = config.data
    path = data.path
    head = header(path)
    target, features = columns(config, head, path)
    if data.missing == "drop":
        raise DataError(
            f"{path}: data.missing: drop cannot be streamed (the splits are fixed before reading); "
            "use mean | median | zero, or set data.streaming: false"
        )
    if data.categorical or data.embedding:
        raise DataError(
            f"{path}: streaming reads numeric feature columns only; set data.streaming: false for categories"
        )
    n = len(features)
    total = np.zeros(n)
    total_sq = np.zeros(n)
    count = np.zeros(n)
    missing_seen = False
    targets: set = set()
    splits = {"train": 0, "validation": 0, "test": 0}
    row0 = 0
    reader = pd.read_csv(path, sep=_sep(path), usecols=[*features, target], chunksize=CHUNK_ROWS, skipinitialspace=True,
                         na_values=list(MISSING_TEXT), keep_default_na=False, encoding="utf-8-sig")  # fmt: skip
    try:
        for chunk in reader:
            lines = chunk.index.to_numpy() + 2
            codes = split_codes(np.arange(row0, row0 + len(chunk)), config.seed, data.test_split, data.validation_split)
            row0 += len(chunk)
            x = np.empty((len(chunk), n))
            for j, col in enumerate(features):
                x[:, j] = numbers(chunk[col], path, col, ("line", lines), data.missing)
            missing_seen = missing_seen or bool(np.isnan(x).any())
            y = chunk[target]
            if y.isna().any():
                raise DataError(
                    f"{path}: target column '{target}' is empty at line {lines[np.flatnonzero(y.isna().to_numpy())[0]]}"
                )
            if len(targets) <= 10_000:
                targets.update(str(v).strip() for v in y.unique())
            train = x[codes == 0]
            with np.errstate(invalid="ignore"):
                total += np.nansum(train, axis=0)
                total_sq += np.nansum(train**2, axis=0)
            count += np.sum(~np.isnan(train), axis=0)
            for code, name in ((0, "train"), (1, "validation"), (2, "test")):
                splits[name] += int(np.sum(codes == code))
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{path}: {str(exc).strip()}; every row needs the same number of fields as the header"
        ) from None
    if row0 == 0:
        raise DataError(f"{path}: has a header but no data rows")
    if data.missing == "median" and missing_seen:
        warn(f"{path}: streaming fills missing values with the training mean (a median needs the data in memory)")
    from dlcli.data.prepare import infer_task  # noqa: PLC0415

    y_values = _typed(np.array(sorted(targets), dtype=object))
    task = infer_task(config.task, y_values, f"{path}: column '{target}'")
    classes = None if task == "regression" else [v.item() if hasattr(v, "item") else v for v in y_values]
    safe = np.maximum(count, 1)
    mean = total / safe
    var = np.maximum(total_sq / safe - mean**2, 0.0)
    var[var <= 1e-12] = 1.0
    fill = None
    if data.missing in ("mean", "median"):
        fill = mean.copy()
    elif data.missing == "zero":
        fill = np.zeros(n)
    if splits["train"] == 0 or splits["test"] == 0:
        raise DataError(f"{path}: {row0} rows leave an empty train or test split; more data or another split")
    stream = StreamData(
        path=path, sep=_sep(path), features=features, target=target, column_index={c: head.index(c) for c in head},
        task=task, classes=classes, mean=mean, var=var, fill=fill, seed=config.seed, test_split=data.test_split,
        validation_split=data.validation_split, splits=splits,
    )  # fmt: skip
    stream.info = DataInfo(
        task=task,
        input_shape=(n,),
        classes=classes,
        feature_names=features,
        splits=splits,
        fingerprint={
            "source": "csv",
            "streaming": True,
            "files": {path: {"sha256": sha256_file(path), "bytes": Path(path).stat().st_size}},
            "arrays_sha256": None,
            "rows": row0,
            "columns": features,
        },
        fill=None if fill is None else [float(v) for v in fill],
    )
    return stream
