"""The run directory's files: write every file atomically, read them back (``run.Run`` owns the directory).

Every file is written to a hidden temporary name in the same directory and
renamed into place, so a crash leaves either the old file, the new file or a
stray temporary, never a file that looks complete but is not. ``run.json`` is
written first (``running``) and last (``complete``); readers trust only a run
whose ``run.json`` says ``complete``.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlcli.errors import RunDirError, writing

CONFIG = "config.yaml"
MODEL = "model.keras"
LABELS = "labels.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
ENVIRONMENT = "environment.json"
RUN = "run.json"
CHECKPOINTS = "checkpoints"


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    The rename alone protects against a crash of this process; ``durable``
    also syncs to disk, against a crash of the machine (skipped for the
    per-epoch progress files, which are rewritten constantly).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with writing(path), open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        with writing(path):
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # also when the folder is missing
            tmp.unlink()


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: Path, obj: Any, *, durable: bool = True) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n", durable=durable)


def now() -> str:
    """The time now, as run.json records times."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def history_csv(history: dict[str, list[float]]) -> str | None:
    """history.csv's text as Keras's CSVLogger writes it (epochs from 1), or None when no epoch was logged."""
    keys = list(history)
    rows = len(history[keys[0]]) if keys else 0
    if not rows:
        return None
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", *keys])
    for i in range(rows):
        writer.writerow([i + 1, *(float(history[k][i]) for k in keys)])
    return buf.getvalue()


def in_container() -> bool:
    """Docker writes ``/.dockerenv`` into every container, Podman ``/run/.containerenv``."""
    return Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()


def permission_fix(path: Path, exc: OSError) -> str:
    """For a permission error creating ``path``: who owns the parent, who we are, and the fix."""
    getuid = getattr(os, "getuid", None)  # POSIX only
    if exc.errno not in (errno.EACCES, errno.EPERM) or getuid is None:
        return ""
    parent = next((p for p in Path(path).absolute().parents if p.exists()), Path(path).parent)
    owner = ""
    with contextlib.suppress(OSError):
        owner = f" belongs to uid {parent.stat().st_uid} and"
    if in_container():
        # A directory that `docker run -v` creates on the host belongs to root, whatever --user says.
        fix = f'create the host directory yourself (mkdir -p) and run the container with --user "$(id -u):$(id -g)", or make {parent} writable'
    else:
        fix = f"make {parent} writable, or choose another --output-dir"
    return f"; {parent}{owner} uid {getuid()} cannot write to it: {fix}"


def load_model(path: Path, *, compile: bool = True, policy: str | None = None):
    """A saved ``.keras`` file, with dlcli's serializable objects (the warmup schedule) registered.

    ``policy`` is the run's mixed-precision policy: a mixed-float16 model's
    optimizer (a loss-scale wrapper) only reloads its state under it.
    """
    import keras

    from dlcli import layers  # noqa: F401 - registers dlcli>FillMissing and dlcli>CanonicalCategory
    from dlcli.model import schedules  # noqa: F401 - registers dlcli>Warmup
    from dlcli.model.build import precision

    try:
        with precision(policy):
            return keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # a damaged or foreign file: say which
        raise RunDirError(f"{path}: cannot load the model: {type(exc).__name__}: {str(exc)[:200]}") from None


class Timer:
    """Named wall-clock timings, in seconds."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = round(time.perf_counter() - t0, 3)

    def total(self) -> float:
        return round(time.perf_counter() - self._start, 3)


# -- reading a run back ---------------------------------------------------------------------


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: missing; this run directory is incomplete") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); the run directory is damaged") from None


def read_json_object(path: Path) -> dict:
    """``read_json`` of a file that must hold a JSON object (run.json, metrics.json, ...)."""
    value = read_json(path)
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(value).__name__}; the run directory is damaged")
    return value


def read_json_if_present(path: Path, default=None) -> Any:
    """``read_json(path)``, or ``default`` when the file is absent (labels.json of a regression run)."""
    return read_json(path) if Path(path).exists() else default


def read_state(run: Path) -> dict:
    """run.json of a run directory, or a RunDirError that says why ``run`` is not one."""
    if not run.exists():
        raise RunDirError(f"{run}: no such run directory")
    if not run.is_dir():
        raise RunDirError(f"{run}: not a directory; give the run directory that `dlcli train` printed")
    if not (run / RUN).exists():
        raise RunDirError(f"{run}: no {RUN}; not a dlcli run directory")
    return read_json_object(run / RUN)


def complete_run(path: str | Path) -> Path:
    """The path of a complete run directory, or a RunDirError that says what is wrong."""
    complete_state(path)
    return Path(path)


def complete_state(path: str | Path) -> dict:
    """run.json of a complete run directory, or a RunDirError that says what is wrong."""
    run = Path(path)
    state = read_state(run)
    status = state.get("status")
    if status != "complete":
        epochs = f" after {state.get('epochs_done', 0)} of {state.get('epochs_planned', '?')} epochs"
        raise RunDirError(f"{run}: run is {status}{epochs}, not complete; its model is not trusted")
    for name in (CONFIG, MODEL, METRICS):
        if not (run / name).exists():
            raise RunDirError(f"{run}: {name} is missing although run.json says complete; the directory was altered")
    return state
