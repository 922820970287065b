"""``source: keras``: Keras's downloadable datasets.

A file already in Keras's cache (``$KERAS_HOME/datasets``, default
``~/.keras/datasets``) is read directly and never handed to Keras: Keras
deletes a cached ``mnist.npz`` whose hash differs when its re-download fails.
Only a missing file is downloaded through ``keras.datasets``, with a short
network timeout, so an offline machine fails in seconds with a message that
says where to put the file.
"""

from __future__ import annotations

import os
import socket
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from dlcli.data.base import Probe, RawData
from dlcli.data.sources.base import SourceConfig, known_name
from dlcli.errors import DataError

NAME = "keras"
EXTENSIONS: tuple[str, ...] = ()

# name -> (input shape, task, classes, cached file or folder, how to get it)
DATASETS = {
    "mnist": ((28, 28), "multiclass", 10, "mnist.npz"),
    "fashion_mnist": ((28, 28), "multiclass", 10, "fashion-mnist"),
    "cifar10": ((32, 32, 3), "multiclass", 10, "cifar-10-batches-py"),
    "cifar100": ((32, 32, 3), "multiclass", 100, "cifar-100-python"),
    "boston_housing": ((13,), "regression", None, "boston_housing.npz"),
}
# regression name -> population std of its target (median value in $1000s; data.scale_target: auto leaves it alone)
TARGET_SPREAD = {"boston_housing": 9.188}
ROWS = {"mnist": 70_000, "fashion_mnist": 70_000, "cifar10": 60_000, "cifar100": 60_000, "boston_housing": 506}
TIMEOUT_S = 10.0


class KerasConfig(SourceConfig):
    source: Literal["keras"] = "keras"
    name: str = Field(description="Dataset: " + ", ".join(DATASETS) + ".", examples=["mnist"])

    _known = field_validator("name")(classmethod(lambda cls, v: known_name(NAME, v, DATASETS)))


CONFIG = KerasConfig


def cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def probe(config) -> Probe:
    shape, task, classes, _ = DATASETS[config.data.name]
    return Probe(
        input_shape=shape, task=task, n_classes=classes, rows=ROWS[config.data.name],
        target_spread=TARGET_SPREAD.get(config.data.name),
    )  # fmt: skip


def _read_npz(path: Path, name: str) -> RawData:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if name == "boston_housing":
                return RawData(x=archive["x"], y=archive["y"], files=[str(path)], target_label=f"keras {name}")
            return RawData(
                x=archive["x_train"], y=archive["y_train"], x_test=archive["x_test"], y_test=archive["y_test"],
                files=[str(path)], target_label=f"keras {name}",
            )  # fmt: skip
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path}: cannot read the cached {name} file ({exc}); move it away and let dlcli download it again, "
            f"or point source: npz at a good copy"
        ) from None


def _download(name: str):
    """``keras.datasets.<name>.load_data()`` with a socket timeout; returns ((x, y), (x_test, y_test))."""
    from dlcli.device import filtered_stderr

    with filtered_stderr():  # importing Keras imports TensorFlow, with its CUDA start-up noise
        import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)
    try:
        return getattr(keras.datasets, name).load_data()
    finally:
        socket.setdefaulttimeout(previous)


def read(config) -> RawData:
    name = config.data.name
    cached = cache_dir() / DATASETS[name][3]
    if cached.suffix == ".npz" and cached.exists():
        return _read_npz(cached, name)
    try:
        (x, y), (x_test, y_test) = _download(name)
    except Exception as exc:  # network errors come as many types (URLError, OSError, Exception)
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"keras dataset '{name}': download failed ({reason}); offline, copy the file Keras would "
            f"download to {cached}, or save the arrays with numpy.savez and use source: npz, path: FILE"
        ) from None
    if cached.suffix == ".npz" and cached.exists():
        # Read what was just cached, so this run and every later one see the same arrays and split.
        return _read_npz(cached, name)
    return RawData(x=x, y=np.ravel(y), x_test=x_test, y_test=np.ravel(y_test), target_label=f"keras {name}")
