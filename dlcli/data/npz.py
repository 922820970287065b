"""NumPy arrays: ``.npz`` archives in Keras's ``mnist.npz`` layout (x_train, y_train, x_test,
y_test) or x, y; and ``.npy`` pairs (``path`` for the features, ``y_path`` for the labels)."""

from __future__ import annotations

import zipfile
import zlib

import numpy as np

from dlcli.data.base import Probe, RawData
from dlcli.errors import DataError

LAYOUTS = (("x_train", "y_train"), ("x", "y"))


def _layout(keys, path) -> tuple[str, str]:
    for x_key, y_key in LAYOUTS:
        if x_key in keys and y_key in keys:
            return x_key, y_key
    found = ", ".join(sorted(keys)) or "no arrays"
    raise DataError(f"{path}: expected arrays x_train, y_train (optionally x_test, y_test) or x, y; found {found}")


def _open(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc}); save one with numpy.savez") from None


def _header(archive, key):
    """(shape, dtype) of one member without reading its data."""
    try:
        return _read_header(archive, key)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise DataError(
            f"{archive.fid.name if hasattr(archive.fid, 'name') else 'npz'}: array '{key}' is damaged ({exc})"
        ) from None


def _read_header(archive, key):
    with archive.zip.open(f"{key}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(fh)
    return shape, dtype


def _npy(path: str, what: str, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file of {what} ({exc}); save one with numpy.save") from None


def probe(config) -> Probe:
    path = config.data.path
    if config.data.source == "npy":
        x = _npy(path, "features", mmap=True)  # header only; the data stays on disk
        y = _npy(config.data.y_path, "labels")
        from dlcli.data.prepare import infer_task  # noqa: PLC0415

        _check_pair(x, y, path, "features", config.data.y_path)
        task = infer_task(config.task, np.ravel(y), config.data.y_path)
        return Probe(tuple(x.shape[1:]), task, len(np.unique(y)) if task != "regression" else None, rows=len(x))
    with _open(path) as archive:
        x_key, y_key = _layout(archive.files, path)
        shape, _ = _header(archive, x_key)
        y = archive[y_key]  # labels are small; the features stay on disk
    from dlcli.data.prepare import infer_task  # noqa: PLC0415

    task = infer_task(config.task, np.ravel(y) if y.ndim == 2 and y.shape[1] == 1 else y, path)
    n_classes = len(np.unique(y)) if task != "regression" else None
    return Probe(input_shape=tuple(shape[1:]), task=task, n_classes=n_classes, rows=shape[0])


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
    if config.data.source == "npy":
        x, y = _npy(path, "features"), _npy(config.data.y_path, "labels")
        _check_pair(x, y, path, "features", config.data.y_path)
        return RawData(x=x, y=y, files=[path, config.data.y_path], target_label=config.data.y_path)
    with _open(path) as archive:
        x_key, y_key = _layout(archive.files, path)
        x, y = _array(archive, x_key, path), _array(archive, y_key, path)
        x_test = y_test = None
        if "x_test" in archive.files and "y_test" in archive.files:
            x_test, y_test = _array(archive, "x_test", path), _array(archive, "y_test", path)
    files = [path]
    if config.data.test_path:
        test_path = config.data.test_path
        with _open(test_path) as archive:
            tx, ty = _layout(archive.files, test_path)
            x_test, y_test = _array(archive, tx, test_path), _array(archive, ty, test_path)
        files.append(config.data.test_path)
    _check_pair(x, y, path, x_key, y_key)
    if x_test is not None:
        _check_pair(x_test, y_test, path, "x_test", "y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{path}: x_test rows have shape {x_test.shape[1:]} but {x_key} rows have {x.shape[1:]}")
    return RawData(x=x, y=y, x_test=x_test, y_test=y_test, files=files, target_label=f"{path}:{y_key}")


def _check_pair(x, y, path, x_key, y_key) -> None:
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
