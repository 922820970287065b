"""``Run``: one run directory and its lifecycle, the only writer of ``run.json``.

A run's status changes only through the methods below; everything else
(callbacks, observers, the sweep) asks the ``Run`` or reads ``run.json``::

    begin ──> running ──> complete | stopped early | pruned      (``complete``)
                 │   └──> interrupted                              (``interrupt``; ``resume`` -> running)
                 └──────> failed                                   (``fail``; ``resume`` -> running)

``killed`` is never written: a process killed with SIGKILL writes nothing,
so a run that says ``running`` while its process on this host is gone is read
back as killed (``status_of``). On disk a run that stopped early is
``complete`` with ``stopped_early: true`` (its model is complete and trusted,
as runs of every earlier dlcli say); ``status_of`` reads it back as
``STOPPED_EARLY``.
"""

from __future__ import annotations

import contextlib
import enum
import os
import platform
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from dlcli.config.upgrade import SAVED_HEADER
from dlcli.errors import RunDirError, writing
from dlcli.runs import store


class Status(str, enum.Enum):
    """What a run is, or how it ended."""

    RUNNING = "running"
    COMPLETE = "complete"
    STOPPED_EARLY = "stopped_early"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    PRUNED = "pruned"
    KILLED = "killed"

    @property
    def finished(self) -> bool:
        """A run that ended with a saved, trusted model (its metrics are final)."""
        return self in (Status.COMPLETE, Status.STOPPED_EARLY, Status.PRUNED)


def alive(pid) -> bool:
    """Is process ``pid`` of this machine running (and not this process)?"""
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status_of(state: dict) -> Status | None:
    """The status a ``run.json`` says, with ``killed`` for a running run whose process on this host is gone
    (a run.json naming this very process is running: it is us)."""
    written = state.get("status")
    try:
        status = Status(written)
    except ValueError:
        return None
    if status is Status.COMPLETE and state.get("stopped_early"):
        return Status.STOPPED_EARLY
    if status is Status.RUNNING and state.get("hostname", platform.node()) == platform.node():
        pid = state.get("pid")
        if isinstance(pid, int) and pid > 0 and pid != os.getpid() and not alive(pid):
            return Status.KILLED
    return status


def shown(state: dict) -> str | None:
    """The status word ``dlcli runs``, ``compare`` and the report print: ``complete`` (also when it stopped early),
    ``killed``, ... (as written when dlcli does not know it)."""
    status = status_of(state)
    if status is None:
        return state.get("status")
    return Status.COMPLETE.value if status is Status.STOPPED_EARLY else status.value


class Run:
    """A run directory being written: its files, and ``run.json`` through the lifecycle methods only."""

    def __init__(self, path: str | Path, state: dict | None = None):
        self.path = Path(path)
        self.state: dict[str, Any] = dict(state or {})
        self._pruned_at: int | None = None

    # -- where it lives ---------------------------------------------------------------------------

    @classmethod
    def create(cls, output_dir: str | Path, name: str) -> Run:
        """``OUTPUT_DIR/<name>-<YYYYmmdd-HHMMSS>``, with a suffix if that exists already."""
        root = Path(output_dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot(root, "create the output directory", exc) from None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            path = root / (f"{name}-{stamp}" if attempt == 1 else f"{name}-{stamp}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise _cannot(path, "create the run directory", exc) from None
            return cls(path)
        raise RunDirError(f"{root}: too many runs named {name}-{stamp}")

    @classmethod
    def at(cls, path: str | Path) -> Run:
        """A new run directory at exactly ``path`` (a sweep's ``trials/<n>``); its parents are made."""
        path = Path(path)
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            raise RunDirError(f"{path}: already exists; a new run needs a new directory") from None
        except OSError as exc:
            raise _cannot(path, "create the run directory", exc) from None
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """An existing run directory, to go on with (``--resume``)."""
        return cls(path, store.read_state(Path(path)))

    @property
    def status(self) -> Status | None:
        return status_of(self.state)

    # -- its files other than run.json --------------------------------------------------------------

    def write_text(self, name: str, text: str, *, durable: bool = True) -> None:
        self._not_run_json(name)
        store.atomic_write_text(self.path / name, text, durable=durable)

    def write_json(self, name: str, obj: Any, *, durable: bool = True) -> None:
        self._not_run_json(name)
        store.atomic_write_json(self.path / name, obj, durable=durable)

    @staticmethod
    def _not_run_json(name: str | Path) -> None:
        if Path(name) == Path(store.RUN):
            raise ValueError("run.json changes only through the Run's lifecycle methods")

    def write_config(self, config) -> None:
        self.write_text(store.CONFIG, SAVED_HEADER + yaml.safe_dump(config.dump(), sort_keys=False))

    def write_history(self, history: dict[str, list[float]], *, durable: bool = True) -> None:
        """history.csv as Keras's CSVLogger writes it (``training.callbacks.HistoryLog`` appends to it);
        no history, no file."""
        text = store.history_csv(history)
        if text is None:
            (self.path / store.HISTORY).unlink(missing_ok=True)
            return
        self.write_text(store.HISTORY, text, durable=durable)

    def save_model(self, model, name: str | Path = store.MODEL) -> None:
        """``model.keras`` (or ``name``) via a temporary ``.keras`` file (Keras insists on the suffix)."""
        final = self.path / name
        tmp = final.parent / f".{final.stem}.tmp-{os.getpid()}.keras"
        try:
            with writing(final):
                model.save(tmp)
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, final)
        finally:
            with contextlib.suppress(OSError):  # also when the folder is missing
                tmp.unlink()

    # -- the lifecycle: the only writers of run.json --------------------------------------------------

    def _write(self, *, durable: bool = True, **fields) -> None:
        self.state.update(fields)
        self.state["updated_at"] = store.now()
        store.atomic_write_json(self.path / store.RUN, self.state, durable=durable)

    def begin(self, name: str, epochs_planned: int, *, score_test: bool = True) -> None:
        """A new run starts: ``running``, in this process on this host."""
        self._write(
            status=Status.RUNNING.value,
            name=name,
            started_at=store.now(),
            finished_at=None,
            epochs_planned=epochs_planned,
            epochs_done=0,
            stopped_early=False,
            pid=os.getpid(),
            timings_s={},
            error=None,
            score_test=score_test,
        )

    def resume(self, from_epoch: int, **facts) -> None:
        """An interrupted, failed or killed run goes on from ``from_epoch``: ``running`` again, the resume recorded."""
        resumed = {"at": store.now(), "from_epoch": from_epoch, **facts}
        self._write(
            status=Status.RUNNING.value, epochs_done=from_epoch, error=None, finished_at=None,
            resumed=[*self.state.get("resumed", []), resumed],
        )  # fmt: skip

    def running_here(self) -> None:
        """Training starts in this process on this host (what ``killed`` is judged by)."""
        self._write(pid=os.getpid(), hostname=platform.node())

    def record(self, **facts) -> None:
        """Facts about the run that are not its status (the MLflow run it is mirrored to, ...)."""
        if {"status", "epochs_done", "finished_at"} & set(facts):
            raise ValueError("the status changes only through begin, resume, complete, interrupt and fail")
        self._write(**facts)

    def epoch_done(self, epochs_done: int, seconds: float) -> None:
        """One more epoch completed (rewritten every epoch, so not synced to disk)."""
        times = [*self.state.get("epoch_seconds", [])[: epochs_done - 1], round(seconds, 4)]
        self._write(epochs_done=epochs_done, epoch_seconds=times, durable=False)

    def fold_done(self, folds_done: int, epochs_done: int) -> None:
        """A cross-validated run's fold is complete (``epochs_done``: the most any fold trained)."""
        self._write(folds_done=folds_done, epochs_done=epochs_done)

    def prune_at(self, epoch: int) -> None:
        """A sweep's pruner gave up on the run at ``epoch``: it ends ``pruned`` when ``complete`` is called."""
        self._pruned_at = epoch

    @property
    def pruned_at(self) -> int | None:
        return self._pruned_at

    def complete(self, *, weights_sha256: str, timings: dict) -> Status:
        """The model and metrics are saved: ``complete`` (``stopped_early`` when it did not train every epoch),
        or ``pruned`` when a pruner stopped it."""
        stopped_early = self.state.get("epochs_done", 0) < self.state.get("epochs_planned", 0)
        ended = Status.COMPLETE if self._pruned_at is None else Status.PRUNED
        pruned = {} if self._pruned_at is None else {"pruned_at_epoch": self._pruned_at}
        self._write(
            weights_sha256=weights_sha256, status=ended.value, finished_at=store.now(), stopped_early=stopped_early,
            timings_s=timings, **pruned,
        )  # fmt: skip
        return self.status

    def interrupt(self, *, timings: dict) -> None:
        """Ctrl-C or SIGTERM: ``interrupted``, resumable from its checkpoint."""
        self._write(status=Status.INTERRUPTED.value, finished_at=store.now(), timings_s=timings)

    def fail(self, error: str, *, timings: dict) -> None:
        """Training failed: ``failed``, with the reason."""
        self._write(status=Status.FAILED.value, finished_at=store.now(), error=error, timings_s=timings)


def _cannot(path: Path, what: str, exc: OSError) -> RunDirError:
    error = RunDirError(f"{path}: cannot {what}: {exc.strerror}{store.permission_fix(path, exc)}")
    error.path = str(path)
    return error
