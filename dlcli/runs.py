"""The run directory: create it, write every file atomically, load it back.

Every file is written to a hidden temporary name in the same directory and
renamed into place, so a crash leaves either the old file, the new file or a
stray temporary, never a file that looks complete but is not. ``run.json`` is
written first (``running``) and last (``complete``); readers trust only a run
whose ``run.json`` says ``complete``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import RunDirError

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
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: Path, obj: Any, *, durable: bool = True) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n", durable=durable)


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


class Run:
    """A run directory being written by ``train``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.state: dict[str, Any] = {}

    @classmethod
    def create(cls, output_dir: str | Path, name: str) -> Run:
        """``OUTPUT_DIR/<name>-<YYYYmmdd-HHMMSS>``, with a suffix if that exists already."""
        root = Path(output_dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"{root}: cannot create the output directory: {exc.strerror}") from None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            path = root / (f"{name}-{stamp}" if attempt == 1 else f"{name}-{stamp}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunDirError(f"{path}: cannot create the run directory: {exc.strerror}") from None
            return cls(path)
        raise RunDirError(f"{root}: too many runs named {name}-{stamp}")

    def write_text(self, name: str, text: str, *, durable: bool = True) -> None:
        atomic_write_text(self.path / name, text, durable=durable)

    def write_json(self, name: str, obj: Any, *, durable: bool = True) -> None:
        atomic_write_json(self.path / name, obj, durable=durable)

    def write_config(self, config) -> None:
        header = "# Resolved by dlcli: every default filled in. `dlcli train` on this file repeats the run.\n"
        self.write_text(CONFIG, header + yaml.safe_dump(config.dump(), sort_keys=False))

    def update(self, *, durable: bool = True, **fields) -> None:
        """Merge ``fields`` into run.json and rewrite it."""
        self.state.update(fields)
        self.state["updated_at"] = _now()
        self.write_json(RUN, self.state, durable=durable)

    def start(self, config, epochs_planned: int) -> None:
        self.update(
            status="running",
            name=config.name,
            started_at=_now(),
            finished_at=None,
            epochs_planned=epochs_planned,
            epochs_done=0,
            stopped_early=False,
            pid=os.getpid(),
            timings_s={},
            error=None,
        )

    def write_history(self, history: dict[str, list[float]], *, durable: bool = True) -> None:
        keys = list(history)
        rows = len(history[keys[0]]) if keys else 0
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for i in range(rows):
            writer.writerow([i + 1, *(repr(float(history[k][i])) for k in keys)])
        self.write_text(HISTORY, buf.getvalue(), durable=durable)

    def save_model(self, model, name: str | Path = MODEL) -> None:
        """``model.keras`` (or ``name``) via a temporary ``.keras`` file (Keras insists on the suffix)."""
        final = self.path / name
        tmp = final.parent / f".{final.stem}.tmp-{os.getpid()}.keras"
        try:
            model.save(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@contextlib.contextmanager
def precision(policy: str | None):
    """Keras's global dtype policy set to ``policy`` (a mixed-precision name, or None for float32) within the block."""
    import keras  # noqa: PLC0415

    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy or "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def load_model(path: Path, *, compile: bool = True, policy: str | None = None):  # noqa: A002 - Keras's keyword
    """A saved ``.keras`` file, with dlcli's serializable objects (the warmup schedule) registered.

    ``policy`` is the run's mixed-precision policy: a mixed-float16 model's
    optimizer (a loss-scale wrapper) only reloads its state under it.
    """
    import keras  # noqa: PLC0415

    from dlcli import schedules  # noqa: F401, PLC0415 - registers dlcli>Warmup

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


def open_run(path: str | Path) -> Path:
    """The path of a complete run directory, or a RunDirError that says what is wrong."""
    run = Path(path)
    state = read_state(run)
    status = state.get("status")
    if status != "complete":
        epochs = f" after {state.get('epochs_done', 0)} of {state.get('epochs_planned', '?')} epochs"
        raise RunDirError(f"{run}: run is {status}{epochs}, not complete; its model is not trusted")
    for name in (CONFIG, MODEL, METRICS):
        if not (run / name).exists():
            raise RunDirError(f"{run}: {name} is missing although run.json says complete; the directory was altered")
    return run


def list_runs(root: str | Path) -> list[dict]:
    """One summary per run directory under ``root`` (those with a run.json), oldest first."""
    root = Path(root)
    if not root.is_dir():
        raise RunDirError(f"{root}: no such directory; give the --output-dir that `dlcli train` used")
    out = []
    for path in sorted(p for p in root.iterdir() if (p / RUN).is_file()):
        try:
            state = read_json_object(path / RUN)
            metrics = read_json_object(path / METRICS) if (path / METRICS).exists() else {}
        except RunDirError as exc:
            out.append({"run": path.name, "path": str(path), "status": "damaged", "error": str(exc)})
            continue
        main = next((k for k in ("accuracy", "r2") if isinstance(metrics.get(k), (int, float))), None)
        out.append(
            {
                "run": path.name,
                "path": str(path),
                "name": state.get("name"),
                "started_at": state.get("started_at"),
                "status": state.get("status"),
                "epochs_done": state.get("epochs_done"),
                "epochs_planned": state.get("epochs_planned"),
                "metric": main,
                "value": metrics.get(main) if main else None,
                "loss": metrics.get("loss") if isinstance(metrics.get("loss"), (int, float)) else None,
            }
        )
    out.sort(key=lambda r: (r.get("started_at") or "", r["run"]))
    return out


def format_runs(rows: list[dict]) -> str:
    """The runs as an aligned table."""
    header = ("run", "started", "status", "epochs", "test metric")
    table = [header]
    for r in rows:
        started = (r.get("started_at") or "")[:19].replace("T", " ")
        epochs = f"{r.get('epochs_done', '?')}/{r.get('epochs_planned', '?')}" if r["status"] != "damaged" else ""
        metric = f"{r['metric']} {r['value']:.4f}" if r.get("metric") and r.get("value") is not None else ""
        table.append((r["run"], started, r["status"], epochs, metric))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table)
