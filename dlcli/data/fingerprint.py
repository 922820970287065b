"""Fingerprints of the data a run trained on: sha256 of its files (hashed while pandas parses) or of its arrays."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

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


def of(data_config, *, files: list[str], arrays: tuple = (), rows: int, columns: list[str] | None,
       streaming: bool = False) -> dict[str, Any]:  # fmt: skip
    """What environment.json records of the data: files by their bytes, in-memory data by its arrays."""
    out: dict[str, Any] = {"source": data_config.source, "name": data_config.name_or_none}
    if streaming:
        out = {"source": data_config.source, "streaming": True}
    out["files"] = {f: {"sha256": sha256_file(f), "bytes": os.path.getsize(f)} for f in files}
    out["arrays_sha256"] = None if files else sha256_arrays(*arrays)
    out["rows"] = rows
    out["columns"] = columns
    return out


def changes(saved: dict, now: dict) -> list[str]:
    """What differs between a recorded fingerprint and the data's now: changed file names, or "the data"."""
    changed = [
        f
        for f, meta in now["files"].items()
        if saved.get("files", {}).get(f, {}).get("sha256") not in (None, meta["sha256"])
    ]
    if not changed and saved.get("arrays_sha256") not in (None, now.get("arrays_sha256")):
        changed = ["the data"]
    return changed


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
