"""A worker process: imports TensorFlow once, then runs trial after trial of the shared study.

Workers are started by ``dlcli.sweep.runner`` with the spawn method (TensorFlow
is not fork-safe). Each takes its share of the CPU threads before TensorFlow
starts, dies with its parent (Linux), and sits in its own process group so
that a Ctrl-C reaches the parent alone, which passes it on once. Between
trials it clears Keras's state. A stop request ends the trial running after
its current step (it stays RUNNING, resumable) and starts no new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import queue
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOCK = ".ask.lock"


@dataclass
class Job:
    """What the parent tells a worker (picklable)."""

    index: int
    config_path: str
    sweep_dir: str
    threads: int
    budget: int | None
    deadline: float | None  # time.time() after which no trial starts


def start(job: Job, adoptable) -> None:
    """The worker's entry point: the process exits 0 when the budget is used, 130 when stopped."""
    _die_with_parent()
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = str(job.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(max(1, min(2, job.threads)))
    sys.exit(_loop(job, adoptable, stopping))


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the parent dies (a kill -9 of the sweep leaves no orphan training)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _loop(job: Job, adoptable, stopping: list) -> int:
    from dlcli.config.load import load_config
    from dlcli.device import import_tensorflow
    from dlcli.errors import Interrupted
    from dlcli.log import note
    from dlcli.sweep import study as studies
    from dlcli.sweep import trial as trials

    tf = import_tensorflow("auto")
    import keras

    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(job.threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, job.threads)))
    config = load_config(job.config_path)
    sweep_dir = Path(job.sweep_dir)
    study, _ = studies.open_recorded(sweep_dir, config.sweep)
    # Workers, and runs that continue a study, each draw their own samples: same seed, same first samples.
    seed = (config.sweep.sampler.seed if config.sweep.sampler.seed is not None else config.seed) + 7919 * job.index
    study.sampler = studies.sampler(config.sweep, seed + 104729 * len(study.get_trials(deepcopy=False)))
    setup = trials.Setup(Path(job.config_path), sweep_dir, config.sweep, config.name)
    while not stopping:
        trial, continued = _next(study, setup, job, adoptable)
        if trial is None:
            return 0
        started = time.perf_counter()
        try:
            line = trials.run(study, trial, setup, continued=continued)
        except Interrupted:
            note(f"worker {job.index}: trial {trial.number} interrupted; it continues when the sweep runs again")
            return 130
        note(f"{line} [{time.perf_counter() - started:.1f} s, worker {job.index}]")
        keras.backend.clear_session()
        gc.collect()
    return 130


def _next(study, setup, job: Job, adoptable):
    """(trial, continued): a trial left running by a dead worker first, else a new one within the budget."""
    from dlcli.sweep import trial as trials

    try:
        trial_id = adoptable.get_nowait()
    except queue.Empty:
        trial_id = None
    if trial_id is not None:
        return trials.adopt(study, study._storage.get_trial(trial_id)), True
    if job.deadline is not None and time.time() >= job.deadline:
        return None, False
    with open(Path(job.sweep_dir) / LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # counting and asking is one step for this host's workers
        if job.budget is not None and len(study.get_trials(deepcopy=False)) >= job.budget:
            return None, False
        return trials.new(study, setup), False
