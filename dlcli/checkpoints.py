"""What makes a run resumable and trustworthy while it trains.

- ``callbacks``: Keras's EarlyStopping, ReduceLROnPlateau, ModelCheckpoint
  and TensorBoard from the config, each able to take back its state on resume.
- ``Keeper`` (the last callback): after every *completed* epoch it appends
  to history.csv, updates run.json, and keeps an in-memory snapshot of the
  model, optimizer, RNG and callback state; it writes that snapshot to
  ``checkpoints/`` every ``training.checkpoint_every_seconds`` and whenever
  training stops early (signal, NaN, error). It stops training after the
  current step on SIGINT / SIGTERM and on a NaN or infinite loss.
- ``load``: the newest checkpoint, for ``dlcli train --resume``.

Checkpoint files: ``checkpoints/epoch-NNNN.keras`` (model + optimizer) and
``checkpoints/state.json`` naming it; the state is written after the model,
so a kill between the two leaves the previous pair intact.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from pathlib import Path

import keras
import numpy as np

from dlcli import names, runs

STATE = "state.json"
BEST = "best.keras"
EARLY_STOPPING_BEST = "early_stopping_best.npz"


class _Resumable:
    """Mixin: Keras resets a callback's counters in ``on_train_begin``; put the saved ones back after."""

    STATE: tuple[str, ...] = ()
    restored: dict | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for key, value in (self.restored or {}).items():
            setattr(self, key, value)

    def state(self) -> dict:
        return {key: _plain(getattr(self, key, None)) for key in self.STATE}


class EarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    STATE = ("wait", "best", "best_epoch", "stopped_epoch")


class ReduceLROnPlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    STATE = ("wait", "best", "cooldown_counter")


class BestModel(_Resumable, keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint(save_best_only) into a temporary name, renamed into place: never a half-written best.keras."""

    STATE = ("best",)
    keeper: Keeper | None = None  # set by Keeper: an epoch it marks cut short is not a candidate

    def __init__(self, folder: Path, **kwargs):
        self.final = folder / BEST
        super().__init__(str(folder / f".best.tmp-{os.getpid()}.keras"), save_best_only=True, **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        if self.keeper is not None and (self.keeper.partial or self.keeper.stop):
            return  # Keras still validates and ends an epoch cut short by a signal or a NaN
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final)


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return float(np.asarray(value))


def callbacks(config, run_path: Path, restored: dict | None = None) -> dict:
    """The config's Keras callbacks by section name, with saved state when resuming."""
    training = config.training
    restored = restored or {}
    out: dict = {}
    es = training.early_stopping
    if es is not None:
        out["early_stopping"] = EarlyStopping(
            monitor=names.monitor_logged_as(es.monitor),
            patience=es.patience,
            min_delta=es.min_delta,
            mode=es.mode,
            restore_best_weights=es.restore_best_weights,
        )
    plateau = training.reduce_lr_on_plateau
    if plateau is not None:
        out["reduce_lr_on_plateau"] = ReduceLROnPlateau(
            monitor=names.monitor_logged_as(plateau.monitor),
            factor=plateau.factor,
            patience=plateau.patience,
            min_delta=plateau.min_delta,
            cooldown=plateau.cooldown,
            min_lr=plateau.min_lr,
            mode=plateau.mode,
        )
    best = training.checkpoint
    if best is not None:
        folder = run_path / runs.CHECKPOINTS
        folder.mkdir(exist_ok=True)
        out["checkpoint"] = BestModel(folder, monitor=names.monitor_logged_as(best.monitor), mode=best.mode)
    for key, callback in out.items():
        callback.restored = restored.get(key)
    if training.tensorboard:
        out["tensorboard"] = keras.callbacks.TensorBoard(log_dir=str(run_path / "tensorboard"))
    return out


# -- signals -----------------------------------------------------------------------------------


class StopRequest:
    """Set by SIGINT / SIGTERM while training; a second SIGINT interrupts as soon as Python runs again.

    Python handles signals between bytecodes, so both wait for the call into
    TensorFlow that is running (``steps_per_execution`` steps) to return.
    """

    def __init__(self):
        self.signal: str | None = None

    def __bool__(self) -> bool:
        return self.signal is not None


@contextlib.contextmanager
def graceful_stop():
    """Within the block, SIGINT and SIGTERM ask training to stop after the current call (of one or more steps)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):
        if request and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.signal = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


# -- the keeper -----------------------------------------------------------------------------


class Snapshot:
    """Values of the model's and optimizer's variables (seed-generator states included) at an epoch end."""

    def __init__(self, model, epochs_done: int, history: dict, callback_states: dict, es_best_weights):
        self.epochs_done = epochs_done
        self.model_values = [v.numpy() for v in model.variables]
        self.optimizer_values = [v.numpy() for v in model.optimizer.variables]
        self.history = {k: list(v) for k, v in history.items()}
        self.callbacks = callback_states
        self.es_best_weights = es_best_weights

    def restore(self, model) -> None:
        for var, value in zip(model.variables, self.model_values, strict=True):
            var.assign(value)
        for var, value in zip(model.optimizer.variables, self.optimizer_values, strict=True):
            var.assign(value)


def _seed_states(model) -> list:
    """Seed-generator states: in ``model.variables`` but not in ``model.weights``, and not saved by Keras."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class Keeper(keras.callbacks.Callback):
    """History, run.json and checkpoints after each completed epoch; stops on a signal or a non-finite loss."""

    def __init__(self, run: runs.Run, stop: StopRequest, config_callbacks: dict, *, every_seconds: float,
                 history: dict | None = None):  # fmt: skip
        super().__init__()
        self.run = run
        self.stop = stop
        self.config_callbacks = config_callbacks
        self.every = every_seconds
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.snapshot: Snapshot | None = None
        self.saved_epochs = -1
        self.last_save = time.monotonic()
        self.epoch = 0
        self.epoch_first_step = 0  # optimizer.iterations when this epoch began
        self.epoch_start = time.perf_counter()
        self.partial = False  # this epoch was cut short: it does not count
        self.diverged: tuple[int, int, float] | None = None  # (epoch, step, loss), 1-based
        for callback in config_callbacks.values():
            if isinstance(callback, BestModel):
                callback.keeper = self

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.partial = False
        self.epoch_start = time.perf_counter()
        self.epoch_first_step = self._steps_done()

    def on_train_batch_end(self, batch, logs=None):
        if self.stop:
            self.partial = True
            self.model.stop_training = True
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = self._steps_done() - self.epoch_first_step  # a call may run many steps
            self.diverged = (self.epoch + 1, step, float(loss))
            self.partial = True
            self.model.stop_training = True

    def _steps_done(self) -> int:
        return int(self.model.optimizer.iterations.numpy())  # .numpy(): a MirroredVariable has no __int__

    def on_epoch_end(self, epoch, logs=None):
        if self.partial or self.stop:
            self.partial = True
            return
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.run.write_history(self.history, durable=False)
        seconds = [*self.run.state.get("epoch_seconds", [])[:epoch], round(time.perf_counter() - self.epoch_start, 4)]
        self.run.update(epochs_done=epoch + 1, epoch_seconds=seconds, durable=False)
        es = self.config_callbacks.get("early_stopping")
        self.snapshot = Snapshot(
            self.model,
            epoch + 1,
            self.history,
            {k: c.state() for k, c in self.config_callbacks.items() if hasattr(c, "state")},
            getattr(es, "best_weights", None),
        )
        if time.monotonic() - self.last_save >= self.every:
            self.save()

    def save(self) -> None:
        """Write the latest snapshot to checkpoints/ (restoring it into the model first if the model moved on)."""
        snap = self.snapshot
        if snap is None or snap.epochs_done == self.saved_epochs:
            return
        if self.partial:
            snap.restore(self.model)
        write(self.run, self.model, snap)
        self.saved_epochs = snap.epochs_done
        self.last_save = time.monotonic()


def write(run: runs.Run, model, snap: Snapshot) -> None:
    """``epoch-NNNN.keras``, then ``state.json`` pointing at it, then older model files removed."""
    folder = run.path / runs.CHECKPOINTS
    folder.mkdir(exist_ok=True)
    name = f"epoch-{snap.epochs_done:04d}.keras"
    run.save_model(model, Path(runs.CHECKPOINTS) / name)
    es_file = None
    if snap.es_best_weights is not None:
        es_file = f"{EARLY_STOPPING_BEST.removesuffix('.npz')}-{snap.epochs_done:04d}.npz"
        tmp = folder / f".{es_file}.tmp-{os.getpid()}.npz"
        np.savez(tmp, *snap.es_best_weights)
        os.replace(tmp, folder / es_file)
    seeds = [v.numpy().tolist() for v in _seed_states(model)]
    state = {
        "epochs_done": snap.epochs_done,
        "model": name,
        "seed_states": seeds,
        "history": snap.history,
        "callbacks": snap.callbacks,
        "early_stopping_best": es_file,
        "saved_at": runs._now(),
    }
    runs.atomic_write_json(folder / STATE, state)
    for old in folder.glob("epoch-*.keras"):
        if old.name != name:
            old.unlink(missing_ok=True)
    for old in folder.glob(f"{EARLY_STOPPING_BEST.removesuffix('.npz')}-*.npz"):
        if old.name != es_file:
            old.unlink(missing_ok=True)


def load(run_path: Path, mixed_precision: str | None = None):
    """(model with optimizer and RNG state, state dict) of the newest checkpoint, or None when there is none."""
    folder = run_path / runs.CHECKPOINTS
    state_path = folder / STATE
    if not state_path.exists():
        return None
    state = runs.read_json(state_path)
    model = runs.load_model(folder / state["model"], policy=mixed_precision)
    seeds = _seed_states(model)
    for var, value in zip(seeds, state.get("seed_states") or [], strict=False):
        var.assign(np.asarray(value, dtype=var.dtype))
    if state.get("early_stopping_best"):
        with np.load(folder / state["early_stopping_best"]) as saved:
            best = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        state.setdefault("callbacks", {}).setdefault("early_stopping", {})["best_weights"] = best
    return model, state


def clear(run_path: Path) -> None:
    """Remove the resume state of a run that completed (best.keras stays)."""
    folder = run_path / runs.CHECKPOINTS
    for pattern in (STATE, "epoch-*.keras", f"{EARLY_STOPPING_BEST.removesuffix('.npz')}-*.npz"):
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
