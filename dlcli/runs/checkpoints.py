"""Resume state on disk: ``checkpoints/epoch-NNNN.keras`` (model + optimizer) and ``checkpoints/state.json``.

``state.json`` names the model file and carries what Keras does not save:
the seed generators' states (Dropout's masks), the configured callbacks'
counters, early stopping's best weights (a side ``.npz``) and the history so
far. It is written after the model, so a kill between the two leaves the
previous pair intact.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from dlcli.errors import writing
from dlcli.runs import store

STATE = "state.json"
BEST = "best.keras"
EARLY_STOPPING_BEST = "early_stopping_best"


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


def seed_states(model) -> list:
    """Seed-generator states: in ``model.variables`` but not in ``model.weights``, and not saved by Keras."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def write(run, model, snap: Snapshot) -> None:
    """``epoch-NNNN.keras`` (through ``run``, a ``runs.run.Run``), then ``state.json`` pointing at it, then older
    model files removed."""
    folder = run.path / store.CHECKPOINTS
    with writing(folder):
        folder.mkdir(exist_ok=True)
    name = f"epoch-{snap.epochs_done:04d}.keras"
    run.save_model(model, Path(store.CHECKPOINTS) / name)
    es_file = None
    if snap.es_best_weights is not None:
        es_file = f"{EARLY_STOPPING_BEST}-{snap.epochs_done:04d}.npz"
        tmp = folder / f".{es_file}.tmp-{os.getpid()}.npz"
        try:
            with writing(folder / es_file):
                np.savez(tmp, *snap.es_best_weights)
                os.replace(tmp, folder / es_file)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    state = {
        "epochs_done": snap.epochs_done,
        "model": name,
        "seed_states": [v.numpy().tolist() for v in seed_states(model)],
        "history": snap.history,
        "callbacks": snap.callbacks,
        "early_stopping_best": es_file,
        "saved_at": store.now(),
    }
    store.atomic_write_json(folder / STATE, state)
    for old in folder.glob("epoch-*.keras"):
        if old.name != name:
            old.unlink(missing_ok=True)
    for old in folder.glob(f"{EARLY_STOPPING_BEST}-*.npz"):
        if old.name != es_file:
            old.unlink(missing_ok=True)


def load(run_path: Path, mixed_precision: str | None = None):
    """(model with optimizer and RNG state, state dict) of the newest checkpoint, or None when there is none."""
    folder = run_path / store.CHECKPOINTS
    state_path = folder / STATE
    if not state_path.exists():
        return None
    state = store.read_json(state_path)
    model = store.load_model(folder / state["model"], policy=mixed_precision)
    for var, value in zip(seed_states(model), state.get("seed_states") or [], strict=False):
        var.assign(np.asarray(value, dtype=var.dtype))
    if state.get("early_stopping_best"):
        with np.load(folder / state["early_stopping_best"]) as saved:
            best = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        state.setdefault("callbacks", {}).setdefault("early_stopping", {})["best_weights"] = best
    return model, state


def clear(run_path: Path) -> None:
    """Remove the resume state of a run that completed (best.keras stays)."""
    folder = run_path / store.CHECKPOINTS
    for pattern in (STATE, "epoch-*.keras", f"{EARLY_STOPPING_BEST}-*.npz"):
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
