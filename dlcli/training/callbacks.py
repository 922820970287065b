"""The callbacks a dlcli run trains with, one concern each.

From the config, Keras's own, able to take back their counters on resume:
``EarlyStopping``, ``ReduceLROnPlateau``, ``BestModel`` (``ModelCheckpoint``
into ``checkpoints/best.keras``) and ``TensorBoard``.

Around them, for what Keras lacks (``run_callbacks``):

- ``StopOnSignal``: SIGINT / SIGTERM stop training after the current call;
- ``StopOnNaN``: a non-finite loss stops it, remembering the epoch and optimizer step;
- ``HistoryLog``: Keras's ``CSVLogger`` appending history.csv, one row per completed epoch;
- ``RunProgress``: run.json's epochs done and epoch times;
- ``EpochReport``: each epoch's logs to a function that may stop training (a sweep's pruning);
- ``ResumeState``: a snapshot of every completed epoch (weights, optimizer, seed
  generators, callback counters), written to ``checkpoints/`` every
  ``checkpoint_every_seconds`` and whenever training stops early.

An epoch cut short by a signal or a NaN does not count: Keras still ends it
(validation, ``on_epoch_end``), but no file records it.
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

from dlcli import names
from dlcli.errors import writing
from dlcli.runs import checkpoints, store
from dlcli.runs.run import Run


class StopRequest:
    """Why training stops mid-epoch: a signal (``signal``) or a non-finite loss (``diverged``).

    A second SIGINT interrupts as soon as Python runs again. Python handles
    signals between bytecodes, so both wait for the call into TensorFlow that
    is running (``steps_per_execution`` steps) to return.
    """

    def __init__(self):
        self.signal: str | None = None
        self.diverged: tuple[int, int, float] | None = None  # (epoch, step, loss), 1-based
        self.epoch_cut = False  # the current epoch was cut short: it does not count

    def __bool__(self) -> bool:
        return self.signal is not None

    def cut(self) -> bool:
        """Was the epoch that is ending cut short (stopped before its last step)?

        Only ``StopOnSignal`` decides it, when it stops training mid-epoch: an
        epoch whose every step ran counts even if the signal came during its
        last call or its validation, so every epoch line printed complete is
        in history.csv and in the checkpoint. The callbacks at an epoch's end
        (history.csv, run.json, the resume state) therefore agree.
        """
        return self.epoch_cut


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


# -- the config's callbacks ----------------------------------------------------------------------


class _Resumable:
    """Mixin: Keras resets a callback's counters in ``on_train_begin``; put the saved ones back after.

    The counters are the Keras callback's own attributes (``STATE``), read and set by name.
    """

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
    stop: StopRequest | None = None  # set by run_callbacks: an epoch cut short is not a candidate

    def __init__(self, folder: Path, **kwargs):
        self.final = folder / checkpoints.BEST
        super().__init__(str(folder / f".best.tmp-{os.getpid()}.keras"), save_best_only=True, **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        if self.stop is not None and self.stop.cut():
            return
        with writing(self.final):
            super().on_epoch_end(epoch, logs)
            if os.path.exists(self.filepath):
                os.replace(self.filepath, self.final)


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return float(np.asarray(value))


def configured(config, run_path: Path, restored: dict | None = None) -> dict:
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
        folder = run_path / store.CHECKPOINTS
        with writing(folder):
            folder.mkdir(exist_ok=True)
        out["checkpoint"] = BestModel(folder, monitor=names.monitor_logged_as(best.monitor), mode=best.mode)
    for key, callback in out.items():
        callback.restored = restored.get(key)
    if training.tensorboard:
        out["tensorboard"] = keras.callbacks.TensorBoard(log_dir=str(run_path / "tensorboard"))
    return out


# -- what Keras lacks ----------------------------------------------------------------------------


class StopOnSignal(keras.callbacks.Callback):
    """Stop after the current call when SIGINT or SIGTERM arrived; an epoch stopped before its last step is cut short."""

    def __init__(self, stop: StopRequest):
        super().__init__()
        self.stop = stop
        self.epoch = 0  # the epoch running (the tests' signal injections key on it)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.stop.epoch_cut = False

    def on_train_batch_end(self, batch, logs=None):
        if self.stop:
            steps = (self.params or {}).get("steps")  # calls per epoch as Keras counts them (None: unknown)
            if steps is None or batch + 1 < steps:
                self.stop.epoch_cut = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stop:  # came during the last call or the validation: this epoch counts, no next one starts
            self.model.stop_training = True


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras's TerminateOnNaN, remembering where: the epoch and the optimizer step (1-based), for the message.

    Keras's own prints the batch index, which under dlcli's loop counts calls
    of many steps; this one counts optimizer steps, and says nothing itself.
    """

    def __init__(self, stop: StopRequest):
        super().__init__()
        self.stop = stop
        self.epoch = 0
        self.first_step = 0  # optimizer.iterations when this epoch began

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.first_step = _steps_done(self.model)

    def on_batch_end(self, batch, logs=None):
        if self.stop:  # stopping for a signal already: the run is interrupted, not diverged
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.stop.diverged = (self.epoch + 1, _steps_done(self.model) - self.first_step, float(loss))
            self.stop.epoch_cut = True
            self.model.stop_training = True


def _steps_done(model) -> int:
    return int(model.optimizer.iterations.numpy())  # .numpy(): a MirroredVariable has no __int__


class HistoryLog(keras.callbacks.CSVLogger):
    """Keras's CSVLogger appending to history.csv: epochs counted from 1, as the progress lines count them,
    columns in the order Keras logs them, and no row for an epoch cut short.

    The file is opened at the first completed epoch (Keras opens it when
    training begins), so a run that fails in its first epoch has no empty history.csv.
    """

    def __init__(self, path: Path, stop: StopRequest):
        super().__init__(str(path), append=True)
        self.stop = stop

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        if self.stop.cut():
            return
        if self.csv_file is None:
            super().on_train_begin()
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if self.keys is None:
            self.keys = list(logs)  # else CSVLogger sorts them and adds val_* columns of "NA" without validation
        super().on_epoch_end(epoch + 1, logs)


class RunProgress(keras.callbacks.Callback):
    """run.json's ``epochs_done`` and ``epoch_seconds`` after each completed epoch."""

    def __init__(self, run: Run, stop: StopRequest):
        super().__init__()
        self.run = run
        self.stop = stop
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.stop.cut():
            return
        self.run.epoch_done(epoch + 1, time.perf_counter() - self.start)


class ResumeState(keras.callbacks.Callback):
    """Keeps a snapshot of each completed epoch; writes it every ``every_seconds`` and on ``save()``."""

    def __init__(self, run: Run, stop: StopRequest, config_callbacks: dict, *, every_seconds: float,
                 history: dict | None = None):  # fmt: skip
        super().__init__()
        self.run = run
        self.stop = stop
        self.config_callbacks = config_callbacks
        self.every = every_seconds
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.snapshot: checkpoints.Snapshot | None = None
        self.saved_epochs = -1
        self.last_save = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if self.stop.cut():
            return
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        es = self.config_callbacks.get("early_stopping")
        self.snapshot = checkpoints.Snapshot(
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
        if self.stop.epoch_cut:
            snap.restore(self.model)
        checkpoints.write(self.run, self.model, snap)
        self.saved_epochs = snap.epochs_done
        self.last_save = time.monotonic()


class EpochReport(keras.callbacks.Callback):
    """Hands each epoch's logs to ``report(epoch, logs)`` (epochs from 1); a True answer stops training there.

    A sweep reports its metric to the study this way, and stops a trial the pruner gives up on.
    """

    def __init__(self, report):
        super().__init__()
        self.report = report
        self.stopped_at: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        if self.report(epoch + 1, dict(logs or {})):
            self.stopped_at = epoch + 1
            self.model.stop_training = True


def run_callbacks(run: Run, stop: StopRequest, config_callbacks: dict, *, every_seconds: float,
                  history: dict | None = None) -> tuple[list, ResumeState]:  # fmt: skip
    """dlcli's callbacks around the config's, in the order they must run, and the one that writes resume state.

    Resuming (``history`` given), history.csv is rewritten to the checkpoint's
    epochs first, so epochs trained after the checkpoint are not logged twice.
    """
    if history is not None:
        run.write_history(history)
    for callback in config_callbacks.values():
        if isinstance(callback, BestModel):
            callback.stop = stop
    resume = ResumeState(run, stop, config_callbacks, every_seconds=every_seconds, history=history)
    ours = [StopOnSignal(stop), StopOnNaN(stop)]
    after = [HistoryLog(run.path / store.HISTORY, stop), RunProgress(run, stop), resume]
    return [*ours, *config_callbacks.values(), *after], resume
