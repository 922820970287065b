"""``Progress``: one line per epoch on stdout while a run trains, as Keras's ``verbose=2`` prints them.

Each loop gets its lines from here (Keras itself is told to print nothing):
Keras's own ``ProgbarLogger`` for Keras's ``fit``; for dlcli's compiled loop
the same line counting optimizer steps (Keras's would count calls of many
steps), and ``stopped at call k/n of epoch E; this epoch is not kept`` for an
epoch a signal cut short; for the multi-worker loop ``Epoch E/N - name: value``.
"""

from __future__ import annotations

import time

from dlcli.training.observer import Observer


class Progress(Observer):
    """Epoch lines at ``level`` 2 (``train`` without ``--quiet``); nothing at 0."""

    def __init__(self, level: int = 2):
        self.level = level

    def callbacks(self, run, plan) -> list:
        if not self.level:
            return []
        epochs = plan.config.training.epochs
        if plan.execution.loop == "dlcli":
            steps = -(-plan.dataset.rows("train") // plan.config.training.batch_size)  # the short last batch too
            return [_compiled_loop_lines(epochs, steps)]
        if plan.execution.loop == "multi_worker":
            return [_worker_lines(epochs)]
        return [_keras_lines(self.level)]


def _keras_lines(level: int):
    """Keras's own progress logger, at ``level`` whatever ``fit`` was told."""
    import keras

    class KerasLines(keras.callbacks.ProgbarLogger):
        def set_params(self, params):
            super().set_params({**params, "verbose": level})

    return KerasLines()


def _compiled_loop_lines(epochs: int, steps: int):
    """Keras's ``verbose=2`` epoch lines for dlcli's loop, counting optimizer steps."""
    import keras

    class EpochLines(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            print(f"Epoch {epoch + 1}/{epochs}")
            self.start = time.perf_counter()
            self.calls = 0

        def on_train_batch_end(self, batch, logs=None):
            self.calls = batch + 1

        def on_epoch_end(self, epoch, logs=None):
            took = time.perf_counter() - self.start
            calls = (self.params or {}).get("steps")
            if calls and getattr(self, "calls", calls) < calls:  # stopped by a signal: say so, not 41/41
                print(f"stopped at call {self.calls}/{calls} of epoch {epoch + 1}; this epoch is not kept", flush=True)
                return
            per = took / steps
            per_step = f"{per * 1e3:.0f}ms/step" if per >= 1e-3 else f"{per * 1e6:.0f}us/step"
            values = [f"{k}: {v:.4f}" if abs(v) > 1e-3 else f"{k}: {v:.4e}" for k, v in (logs or {}).items()]
            print(" - ".join([f"{steps}/{steps}", f"{took:.0f}s", per_step, *values]), flush=True)

    return EpochLines()


def _worker_lines(epochs: int):
    """``Epoch E/N - name: value ...`` after each epoch of the multi-worker loop."""
    import keras

    class WorkerLines(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            shown = " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
            print(f"Epoch {epoch + 1}/{epochs} - {shown}", flush=True)

    return WorkerLines()
