"""The shapes data takes on its way from a source to the model."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Probe:
    """What ``validate`` needs to know about the data, read without loading it all."""

    input_shape: tuple[int, ...]
    task: str | None  # binary | multiclass | regression, or None when unknown
    n_classes: int | None
    rows: int | None = None
    vocab_sizes: dict[str, int] = field(default_factory=dict)  # categorical column -> categories (tables)


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

    @property
    def n_classes(self) -> int | None:
        return len(self.classes) if self.classes is not None else None


@dataclass
class Dataset:
    """Train, validation and test arrays plus their ``DataInfo``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    info: DataInfo


_HASHING: dict = {}  # (path, size, mtime) -> Future of its sha256, started by hash_in_background


def _key(path) -> tuple:
    stat = os.stat(path)
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def hash_in_background(paths) -> None:
    """Start hashing ``paths`` on a thread, to overlap with parsing; ``sha256_file`` collects the result.

    hashlib and file reads release the GIL, so the hash of a large file costs
    little extra wall time next to pandas's parser.
    """
    global _POOL
    for path in paths:
        if not path or not os.path.isfile(path):
            continue
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlcli-sha256")
        key = _key(path)
        if key not in _HASHING:
            _HASHING[key] = _POOL.submit(_sha256, path)


_POOL: ThreadPoolExecutor | None = None


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file: from the background hash when one was started for this very file, else now."""
    future = _HASHING.pop(_key(path), None)
    return future.result() if future is not None else _sha256(path)


def _sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_arrays(*arrays) -> str:
    """Hex sha256 over arrays' dtypes, shapes and bytes (None skipped; dicts by sorted key)."""
    digest = hashlib.sha256()
    flat = []
    for arr in arrays:
        if isinstance(arr, dict):
            for key in sorted(arr):
                digest.update(key.encode())
                flat.append(arr[key])
        else:
            flat.append(arr)
    for arr in flat:
        if arr is None:
            continue
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        if arr.dtype.kind in "OUS":
            digest.update("\x1f".join(map(str, arr.ravel())).encode())
        else:
            digest.update(arr.tobytes())
    return digest.hexdigest()
