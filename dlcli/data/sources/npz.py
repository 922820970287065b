"""``source: npz``: NumPy archives in Keras's ``mnist.npz`` layout (x_train, y_train, x_test, y_test) or x, y.

The array helpers here (opening, checking a features/labels pair) serve ``npy`` too.
"""

from __future__ import annotations

import zipfile
import zlib
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from dlcli.data import target
from dlcli.data.base import Probe, RawData
from dlcli.data.sources.base import SourceConfig
from dlcli.errors import DataError

NAME = "npz"
EXTENSIONS = (".npz",)
LAYOUTS = (("x_train", "y_train"), ("x", "y"))


class NpzConfig(SourceConfig):
    FILES: ClassVar[tuple[str, ...]] = ("path", "test_path")

    source: Literal["npz"] = "npz"
    path: str = Field(description="The .npz archive; relative to the config file.", examples=["data/train.npz"])
    test_path: str | None = Field(None, description="Held-out test archive (x, y); replaces test_split.")


CONFIG = NpzConfig


def _layout(keys, path) -> tuple[str, str]:
    for x_key, y_key in LAYOUTS:
        if x_key in keys and y_key in keys:
            return x_key, y_key
    found = ", ".join(sorted(keys)) or "no arrays"
    raise DataError(f"{path}: expected arrays x_train, y_train (optionally x_test, y_test) or x, y; found {found}")


def open_archive(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc}); save one with numpy.savez") from None


def _header(archive, key):
    """(shape, dtype) of one member without reading its data."""
    try:
        with archive.zip.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(fh)
        return shape, dtype
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise DataError(
            f"{archive.fid.name if hasattr(archive.fid, 'name') else 'npz'}: array '{key}' is damaged ({exc})"
        ) from None


def probe(config) -> Probe:
    from dlcli.data.prepare import infer_task

    path = config.data.path
    with open_archive(path) as archive:
        x_key, y_key = _layout(archive.files, path)
        shape, _ = _header(archive, x_key)
        y = archive[y_key]  # labels are small; the features stay on disk
    task = infer_task(config.task, np.ravel(y) if y.ndim == 2 and y.shape[1] == 1 else y, path)
    n_classes = len(np.unique(y)) if task != "regression" else None
    spread = target.spread(y) if task == "regression" else None
    return Probe(input_shape=tuple(shape[1:]), task=task, n_classes=n_classes, rows=shape[0], target_spread=spread)


def _array(archive, key, path) -> np.ndarray:
    try:
        return archive[key]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DataError(f"{path}: array '{key}' is damaged ({exc}); save the archive again") from None
    except ValueError as exc:
        raise DataError(
            f"{path}: array '{key}' cannot be read without pickle ({exc}); store plain numeric arrays"
        ) from None


def read(config) -> RawData:
    path = config.data.path
    with open_archive(path) as archive:
        x_key, y_key = _layout(archive.files, path)
        x, y = _array(archive, x_key, path), _array(archive, y_key, path)
        x_test = y_test = None
        if "x_test" in archive.files and "y_test" in archive.files:
            x_test, y_test = _array(archive, "x_test", path), _array(archive, "y_test", path)
    files = [path]
    if config.data.test_path:
        test_path = config.data.test_path
        with open_archive(test_path) as archive:
            tx, ty = _layout(archive.files, test_path)
            x_test, y_test = _array(archive, tx, test_path), _array(archive, ty, test_path)
        files.append(config.data.test_path)
    check_pair(x, y, path, x_key, y_key)
    if x_test is not None:
        check_pair(x_test, y_test, path, "x_test", "y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{path}: x_test rows have shape {x_test.shape[1:]} but {x_key} rows have {x.shape[1:]}")
    return RawData(x=x, y=y, x_test=x_test, y_test=y_test, files=files, target_label=f"{path}:{y_key}")


def check_pair(x, y, path, x_key, y_key) -> None:
    """Features and labels that can train: numbers, one row per label, at least one row."""
    if x.ndim < 2:
        raise DataError(f"{path}: '{x_key}' has shape {x.shape}; expected one row per sample, e.g. (n, features)")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: '{x_key}' has dtype {x.dtype}; features must be numbers")
    if len(x) != len(y):
        raise DataError(f"{path}: '{x_key}' has {len(x)} rows but '{y_key}' has {len(y)}; they must match")
    if len(x) == 0:
        raise DataError(f"{path}: '{x_key}' has no rows")
    if y.ndim > 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise DataError(f"{path}: '{y_key}' has shape {y.shape}; expected one label or value per row, shape (n,)")


def inputs_shape_checked(x: np.ndarray, path: str, what: str, shape: tuple) -> np.ndarray:
    """Rows to predict on as float32, after checking they have the shape the model takes."""
    if tuple(x.shape[1:]) != tuple(shape):
        raise DataError(f"{path}: {what}rows have shape {tuple(x.shape[1:])}; the model takes {tuple(shape)}")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what}has dtype {x.dtype}; features must be numbers")
    return x.astype(np.float32, copy=False)


def read_inputs(path: str, schema) -> np.ndarray:
    """The rows of an archive to predict on: its array ``x`` (or ``x_test``, ``x_train``, or its only array)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    with archive:
        keys = archive.files
        key = next((k for k in ("x", "x_test", "x_train") if k in keys), keys[0] if len(keys) == 1 else None)
        if key is None:
            raise DataError(f"{path}: expected an array named x (or a single array); found {', '.join(keys)}")
        x = archive[key]
    return inputs_shape_checked(x, path, f"'{key}' ", schema.input_shape)


def scoring_data(path: str, trained, schema) -> dict:
    """The ``data:`` keys that score a trained run on every row of the archive at ``path``."""
    return {"source": NAME, "path": path}
