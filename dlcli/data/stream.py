"""CSV files larger than memory: one pandas pass for checks and statistics, then tf.data.

The pass reads the file in chunks, checks every cell (with line numbers, as
the in-memory reader does), assigns each row to train / validation / test
by a seeded hash of its row number, and accumulates the normalization
statistics and classes of the training rows only. Training then streams the
file with ``TextLineDataset`` -> batch -> ``decode_csv`` (batch-then-decode),
applying the same hash so every row lands in the same split every time.
Categorical columns (declared, or all text in the first chunk) get their
vocabulary from the training rows of the same pass; in the stream they are
read as text, stripped, with missing cells as the missing category. Numeric
columns that held a hole, a missing-value word or true/false are read as text
and converted the way the pass converted them; clean ones are decoded as
floats directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from dlcli.data import cells, fingerprint
from dlcli.data.base import DataInfo
from dlcli.data.features import NUMERIC, input_name
from dlcli.data.formats.csv import csv_errors, csv_options, separator
from dlcli.data.splits import split_codes, split_codes_tf
from dlcli.data.table import categorical_columns, categories, numbers
from dlcli.data.tablefile import columns, compression, dialect, located_header
from dlcli.data.target import Moments
from dlcli.data.target import facts as target_facts
from dlcli.errors import DataError
from dlcli.log import warn

CHUNK_ROWS = 200_000
CHUNK_LINES = 8192  # lines decoded per decode_csv call
SHUFFLE_CHUNKS = 8  # chunks mixed at a time when shuffling (rows are also shuffled within a chunk)
MAX_CATEGORIES = 100_000  # per categorical column; more is an identifier, not a category


@dataclass
class StreamData:
    """What the pass learned; ``dataset(split)`` streams a split as batches."""

    path: str
    sep: str
    features: list[str]  # numeric feature columns, in the order of the model's numeric input
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
    categorical: list[str] = field(default_factory=list)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    text_columns: set[str] = field(default_factory=set)  # numeric columns decoded as text, then converted
    decimal: str = "."
    target_holes: bool = False  # some rows have no target: read it as text and leave those rows out
    info: DataInfo = field(repr=False, default=None)

    streamed: ClassVar[bool] = True

    def rows(self, which: str) -> int:
        """Rows in the ``train``, ``validation`` or ``test`` split."""
        return self.splits[which]

    def test(self):
        """(a dataset of feature batches with labels, the labels in the same order) of the test split."""
        return self.dataset("test", 4096), self.labels("test")

    def dataset(self, which: str, batch_size: int, *, shuffle: bool = False, with_labels: bool = True):
        """A ``tf.data.Dataset`` of (features, label) batches for ``which`` (train | validation | test)."""
        import tensorflow as tf

        code = {"train": 0, "validation": 1, "test": 2}[which]
        seed, test, val = self.seed, self.test_split, self.validation_split
        used = sorted(self.column_index[c] for c in [*self.features, *self.categorical, self.target])
        position = {index: k for k, index in enumerate(used)}
        at = {c: position[self.column_index[c]] for c in [*self.features, *self.categorical, self.target]}
        fill = self.fill if self.fill is not None else np.full(len(self.features), np.nan)
        fill_of = dict(zip(self.features, fill, strict=True))
        by_index = {i: c for c, i in self.column_index.items()}
        defaults = []
        for index in used:
            name = by_index[index]
            if name in fill_of and name not in self.text_columns:
                defaults.append(tf.constant(float(fill_of[name]), tf.float32))
            elif name == self.target and self.task == "regression" and not self.target_holes:
                defaults.append(tf.constant(np.nan, tf.float32))
            else:
                defaults.append(tf.constant("", tf.string))
        table = None
        if self.task != "regression":
            keys = tf.constant([str(c) for c in self.classes])
            table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(self.classes), dtype=tf.int32)), -1
            )

        def decode(index, lines):
            # Batch-then-decode: a whole chunk of lines at once, then keep this split's rows.
            cols = tf.io.decode_csv(lines, record_defaults=defaults, field_delim=self.sep, select_cols=used)
            keep = tf.equal(split_codes_tf(tf, index, seed, test, val), code)
            y = cols[at[self.target]]
            if self.target_holes:  # read as text: a row without a target is in no split
                y = tf.strings.strip(y)
                keep &= ~cells.tf_is_missing(tf, y)
                if table is None:
                    y = cells.tf_numbers(tf, y, 0.0, self.decimal)
            numeric = [
                cells.tf_numbers(tf, cols[at[c]], float(fill_of[c]), self.decimal)
                if c in self.text_columns
                else cols[at[c]]
                for c in self.features
            ]
            x = tf.stack(numeric, axis=1) if numeric else tf.zeros([tf.shape(lines)[0], 0])
            if table is not None:
                y = table.lookup(tf.strings.strip(y))
            if self.categorical:
                x = {NUMERIC: x} if self.features else {}
                for c in self.categorical:
                    values, names = cells.number_categories(self.vocab.get(c, ()))
                    x[input_name(c)] = tf.expand_dims(cells.tf_categories(tf, cols[at[c]], values, names), 1)
            x = tf.nest.map_structure(lambda t: tf.boolean_mask(t, keep), x)
            y = tf.boolean_mask(y, keep)
            if shuffle:
                order = tf.random.shuffle(tf.range(tf.shape(y)[0]), seed=seed)
                x = tf.nest.map_structure(lambda t: tf.gather(t, order), x)
                y = tf.gather(y, order)
            return x, y

        def number_rows(count, lines):
            # Row numbers as pandas counts them (blank lines skipped), carried from chunk to chunk.
            filled = tf.strings.length(tf.strings.strip(lines)) > 0
            index = count + tf.cumsum(tf.cast(filled, tf.int64)) - 1
            return count + tf.reduce_sum(tf.cast(filled, tf.int64)), (
                tf.boolean_mask(index, filled),
                tf.boolean_mask(lines, filled),
            )

        gzip = "GZIP" if compression(self.path) == ".gz" else ""
        lines = tf.data.TextLineDataset(self.path, compression_type=gzip).skip(1).batch(CHUNK_LINES)
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


def _reader(path: str, usecols: list[str], text: list[str] = (), dialect_=None, **kwargs):
    """pandas.read_csv of ``usecols`` (header names compared stripped, as ``header`` gives them), ``text`` as str."""
    import pandas as pd

    options = csv_options(path, **(dialect_ or {}))
    raw = {str(c).strip(): c for c in pd.read_csv(path, nrows=0, **options).columns}
    rename = {raw[c]: c for c in usecols}
    frames = pd.read_csv(path, usecols=list(rename), dtype={raw[c]: str for c in text}, **options, **kwargs)
    if "chunksize" not in kwargs:
        return frames.rename(columns=rename)
    return (chunk.rename(columns=rename) for chunk in frames)


class _Categories:
    """Each categorical column's categories: the training rows' vocabulary, and where other splits first differ."""

    def __init__(self, path: str, columns: list[str]):
        self.path = path
        self.train: dict[str, set] = {c: set() for c in columns}
        self.other: dict[str, dict] = {c: {} for c in columns}  # category -> first line, validation/test rows

    def add(self, column: str, values: np.ndarray, codes: np.ndarray, lines: np.ndarray) -> None:
        seen = self.train[column]
        seen.update(np.unique(values[codes == 0]).tolist())
        rest = self.other[column]
        if len(rest) <= MAX_CATEGORIES:
            unique, first = np.unique(values[codes != 0], return_index=True)
            for value, k in zip(unique.tolist(), first, strict=True):
                rest.setdefault(value, int(lines[codes != 0][k]))
        if len(seen) > MAX_CATEGORIES:
            raise DataError(
                f"{self.path}: categorical column '{column}' has more than {MAX_CATEGORIES:,} categories; "
                f"an identifier is not a feature: leave it out with data.exclude: [{column}]"
            )

    def vocab(self, unseen: str) -> dict[str, list[str]]:
        for column, rest in self.other.items():
            new = sorted((line, value) for value, line in rest.items() if value not in self.train[column])
            if new and unseen == "error":
                line, value = new[0]
                raise DataError(
                    f"{self.path}: column '{column}', line {line}: category {value!r} is not in the training split "
                    "(data.unseen: error); use data.unseen: oov to give it its own bucket"
                )
        return {column: sorted(seen) for column, seen in self.train.items()}


def scan(config) -> StreamData:
    """The one pass over the file: checks, split sizes, training-split statistics, classes and vocabularies."""
    import pandas as pd

    data = config.data
    path = data.path
    if data.missing_indicators:
        raise DataError(
            f"{config.where(('data', 'missing_indicators'))}: data.missing_indicators flags the training split's "
            "columns with holes, which a streamed file does not say in time; set streaming: false"
        )
    if data.normalize and data.numeric in ("robust", "quantile"):
        raise DataError(
            f"{config.where(('data', 'numeric'))}: data.numeric: {data.numeric} scaling needs the training split's "
            "quantiles, "
            "which a streamed file does not keep; use numeric: standard, or streaming: false"
        )
    options = dialect(data)
    head = located_header(config, path)
    target, features = columns(config, head, path)
    if compression(path) not in (None, ".gz"):
        raise DataError(
            f"{config.where(('data', 'streaming'))}: data.streaming: {path}: a {compression(path)} file cannot be "
            "streamed (tf.data reads plain and gzip text); set data.streaming: false, or recompress it with gzip"
        )
    if data.missing == "drop":
        raise DataError(
            f"{path}: data.missing: drop cannot be streamed (the splits are fixed before reading); "
            "use mean | median | zero, or set data.streaming: false"
        )
    with csv_errors(path):
        categorical = categorical_columns(config, _reader(path, features, (), options, nrows=CHUNK_ROWS), features)
        numeric = [c for c in features if c not in categorical]
        n = len(numeric)
        total, total_sq, count = np.zeros(n), np.zeros(n), np.zeros(n)
        text_columns: set[str] = set()
        vocabularies = _Categories(path, categorical)
        targets: set = set()
        whole_target, train_target = Moments(), Moments()  # data.scale_target
        splits = {"train": 0, "validation": 0, "test": 0}
        row0, holes, hole_lines = 0, 0, []
        reader = _reader(path, [*features, target], [*categorical, target], options, chunksize=CHUNK_ROWS)
        for chunk in reader:
            lines = chunk.index.to_numpy() + 2
            where = ("line", lines)
            codes = split_codes(np.arange(row0, row0 + len(chunk)), config.seed, data.test_split, data.validation_split)
            row0 += len(chunk)
            y = chunk[target]
            empty = y.isna().to_numpy()
            if empty.any():
                hole_lines += lines[empty][: 3 - len(hole_lines)].tolist()
                holes += int(empty.sum())
                codes = np.where(empty, -1, codes)  # in no split
                y = y[~empty]
            if len(targets) <= 10_000:
                targets.update(str(v).strip() for v in y.unique())
            y_numbers = _numbers_of(y, options["decimal"])
            whole_target.add_array(y_numbers)
            train_target.add_array(y_numbers[codes[~empty] == 0])
            x = np.empty((len(chunk), n))
            for j, col in enumerate(numeric):
                column = chunk[col]
                x[:, j] = numbers(column, path, col, where, data.missing, options["decimal"])
                if (
                    options["decimal"] == ","  # decode_csv reads only the point
                    or not pd.api.types.is_numeric_dtype(column)
                    or pd.api.types.is_bool_dtype(column)
                    or column.isna().any()
                ):
                    text_columns.add(col)
            for col in categorical:
                vocabularies.add(col, categories(chunk[col], path, col, where, data.missing), codes, lines)
            train = x[codes == 0]
            with np.errstate(invalid="ignore"):
                total += np.nansum(train, axis=0)
                total_sq += np.nansum(train**2, axis=0)
            count += np.sum(~np.isnan(train), axis=0)
            for code, name in ((0, "train"), (1, "validation"), (2, "test")):
                splits[name] += int(np.sum(codes == code))
    if row0 == 0:
        raise DataError(f"{path}: has a header but no data rows")
    if data.missing == "median" and count.sum() < splits["train"] * n:
        warn(f"{path}: streaming fills missing values with the training mean (a median needs the data in memory)")
    from dlcli.data.prepare import units_beyond_labels
    from dlcli.data.task import decide, listed, missing_targets

    label = f"{path}: column '{target}'"
    if holes == row0:
        raise DataError(f"{path}: target column '{target}' is empty in every row")
    missing_targets(config, label, holes, listed("line", hole_lines, holes))
    y_values = cells.typed(np.array(sorted(targets), dtype=object), options["decimal"])
    task, reason = decide(config.task, y_values, label)
    classes = None if task == "regression" else [v.item() if hasattr(v, "item") else v for v in y_values]
    units = units_beyond_labels(config, np.asarray(y_values), task)
    if units is not None:
        classes = list(range(units))  # label k on output unit k
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
    vocab = vocabularies.vocab(data.unseen)
    stream = StreamData(
        path=path, sep=separator(path, options["delimiter"]), features=numeric, target=target, column_index={c: head.index(c) for c in head},
        task=task, classes=classes, mean=mean, var=var, fill=fill, seed=config.seed, test_split=data.test_split,
        validation_split=data.validation_split, splits=splits, categorical=categorical, vocab=vocab,
        text_columns=text_columns, decimal=options["decimal"], target_holes=holes > 0,
    )  # fmt: skip
    stream.info = DataInfo(
        task=task,
        task_reason=reason,
        input_shape=(n,),
        classes=classes,
        feature_names=features,
        splits=splits,
        fingerprint=fingerprint.of(data, files=[path], rows=row0, columns=features, streaming=True),
        fill=None if fill is None else [float(v) for v in fill],
        vocab=vocab,
        **target_facts(task, whole_target, train_target),
    )
    return stream


def _numbers_of(column, decimal: str) -> np.ndarray:
    """A target column's cells as float64, NaN where a cell is not a number (a class name)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return cells.numbers(column, decimal)[0]
