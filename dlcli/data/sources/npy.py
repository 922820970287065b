"""``source: npy``: a pair of ``.npy`` files, ``path`` for the features and ``y_path`` for the labels."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from dlcli.data import target
from dlcli.data.base import Probe, RawData
from dlcli.data.sources.base import SourceConfig
from dlcli.data.sources.npz import check_pair, inputs_shape_checked
from dlcli.errors import DataError

NAME = "npy"
EXTENSIONS = (".npy",)


class NpyConfig(SourceConfig):
    FILES: ClassVar[tuple[str, ...]] = ("path", "y_path")

    source: Literal["npy"] = "npy"
    path: str = Field(description="The features (.npy); relative to the config file.", examples=["data/x.npy"])
    y_path: str = Field(description="The labels (.npy), one per row of path.", examples=["data/y.npy"])


CONFIG = NpyConfig


def load_array(path: str, what: str, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file of {what} ({exc}); save one with numpy.save") from None


def probe(config) -> Probe:
    from dlcli.data.prepare import infer_task

    path, y_path = config.data.path, config.data.y_path
    x = load_array(path, "features", mmap=True)  # header only; the data stays on disk
    y = load_array(y_path, "labels")
    check_pair(x, y, path, "features", y_path)
    task = infer_task(config.task, np.ravel(y), y_path)
    regression = task == "regression"
    return Probe(
        tuple(x.shape[1:]), task, None if regression else len(np.unique(y)), rows=len(x),
        target_spread=target.spread(y) if regression else None,
    )  # fmt: skip


def read(config) -> RawData:
    path, y_path = config.data.path, config.data.y_path
    x, y = load_array(path, "features"), load_array(y_path, "labels")
    check_pair(x, y, path, "features", y_path)
    return RawData(x=x, y=y, files=[path, y_path], target_label=y_path)


def read_inputs(path: str, schema) -> np.ndarray:
    """The rows of a ``.npy`` file to predict on."""
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from None
    return inputs_shape_checked(x, path, "", schema.input_shape)
