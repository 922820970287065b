"""``dlcli sweep CONFIG``: check everything, open the study, run the workers, then write what the sweep found.

The parent never imports TensorFlow while trials run: it validates the
``sweep:`` block against the config and its data (no trial starts on a bad
path, range or metric), creates or joins the study, hands trials left running
by dead workers to the new workers, starts ``--workers`` processes, passes a
Ctrl-C or SIGTERM on to them, and waits. Then it writes the leaderboard,
``best/`` and plots, and scores the best trial on the test split once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from dlcli import tracking
from dlcli.config.load import load_config
from dlcli.errors import ConfigError, Interrupted, TrainingError, writing
from dlcli.log import note
from dlcli.sweep import board, space, study, worker


@dataclass
class Outcome:
    """What a finished sweep reports."""

    sweep_dir: Path
    info: dict
    trials: list[dict]
    best: dict | None = None
    test_metrics: dict | None = None
    plots: list[Path] = field(default_factory=list)


def check(config_path, storage_url: str | None):
    """The config with a valid ``sweep:`` block, checked against its data without TensorFlow."""
    from dlcli.training.plan import without_tensorflow

    study.import_optuna()
    config = load_config(config_path)
    if config.sweep is None:
        raise ConfigError(
            f"{config_path}: no sweep: block; add one, e.g. sweep: {{metric: val_loss, trials: 20, params: "
            "{optimizer.learning_rate: {float: [1.0e-4, 1.0e-1], log: true}}}"
        )
    _, probe = without_tensorflow(config.copy_with(sweep=None))
    space.check(config, probe.task, probe.n_classes, probe.target_spread)
    study.check_sampler(config.sweep.sampler.name, config.where(("sweep", "sampler", "name")))
    study.check_storage(storage_url)
    return config


def run(config_path, *, workers: int = 1, storage_url: str | None = None, output_dir="sweeps",
        mlflow_uri: str | None = None) -> Outcome:  # fmt: skip
    """Run (or continue) the sweep to its budget; Interrupted (exit 130) on Ctrl-C, TrainingError if a worker died.

    With ``tracking.mlflow`` (or ``mlflow_uri``) the sweep is one MLflow run and its trials are its children.
    """
    config = tracking.with_uri(check(config_path, storage_url), mlflow_uri)
    tracking.check(config)
    study.import_optuna()  # a missing dlcli[sweep] is exit 2 before anything is written
    sweep_dir = Path(output_dir) / config.name
    with writing(sweep_dir):
        sweep_dir.mkdir(parents=True, exist_ok=True)
    direction, metric = config.sweep.resolved_direction(), config.sweep.metric
    info = study.record(sweep_dir, Path(config_path), storage_url, config.name, direction, metric)
    parent = tracking.start_sweep(config, sweep_dir)
    with tracking.mirrored(parent):
        outcome = _search(config_path, config, sweep_dir, info, storage_url, workers)
    tracking.finish_sweep(parent, outcome)
    return outcome


def _search(config_path, config, sweep_dir: Path, info: dict, storage_url, workers: int) -> Outcome:
    """Open the study, run the workers to the budget, write the leaderboard; score the best trial once."""
    sweep, optuna = config.sweep, study.import_optuna()
    direction = sweep.resolved_direction()
    the_study = optuna.create_study(
        study_name=info["study"], storage=study.storage(info["storage"], sweep_dir), direction=direction,
        sampler=study.sampler(sweep, config.seed), pruner=study.pruner(sweep), load_if_exists=True,
    )  # fmt: skip
    left = study.stale(the_study)
    for t in left:
        note(f"trial {t.number} was left running by a worker that is gone; it continues from its run directory")
    budget = study.budget(sweep)
    remaining = None if budget is None else max(0, budget - len(the_study.get_trials(deepcopy=False)))
    wanted = workers if remaining is None else min(workers, remaining + len(left))
    codes = _run_workers(config_path, sweep_dir, sweep, budget, wanted, [t._trial_id for t in left]) if wanted else {}
    found = board.rows(the_study, sweep_dir, info)
    top = board.write(sweep_dir, found, info)
    if codes.get("interrupted"):
        done = sum(r["state"] in ("complete", "pruned", "fail") for r in found)
        raise Interrupted(
            f"interrupted: {done} trial(s) finished{f' of {budget}' if budget else ''}; "
            f"{sweep_dir} keeps the study; run the same command again to continue"
        )
    crashed = {i: c for i, c in codes.items() if i != "interrupted" and c not in (0, 130)}
    if crashed:
        which = ", ".join(f"worker {i} exited with {c}" for i, c in crashed.items())
        raise TrainingError(f"{which}; run the same command again to continue its trial ({sweep_dir})")
    outcome = Outcome(sweep_dir, info, found, top)
    if top is not None:
        outcome.test_metrics = board.score_best(sweep_dir, top)
    outcome.plots, skipped = board.plots(the_study, sweep_dir)
    for reason in skipped:
        note(f"plot skipped: {reason}")
    return outcome


def _threads(workers: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


def _run_workers(config_path, sweep_dir: Path, sweep, budget, workers: int, adoptable: list[int]) -> dict:
    """Start the workers, pass signals on, wait; {worker index: exit code, "interrupted": bool}."""
    context = multiprocessing.get_context("spawn")
    handed = context.Queue()
    for trial_id in adoptable:
        handed.put(trial_id)
    deadline = None if sweep.timeout_seconds is None else time.time() + sweep.timeout_seconds
    threads = _threads(workers)
    note(f"sweep {sweep_dir}: {workers} worker(s), {threads} CPU thread(s) each")
    procs = []
    for index in range(workers):
        job = worker.Job(index, str(Path(config_path).resolve()), str(sweep_dir.resolve()), threads, budget, deadline)
        procs.append(context.Process(target=worker.start, args=(job, handed), name=f"dlcli-sweep-{index}"))
    stopped = []

    def forward(signum, frame):
        stopped.append(signum)
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGINT)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc in procs:
            if not stopped:
                proc.start()
        while any(p.is_alive() for p in procs):
            for proc in procs:
                proc.join(0.2)
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        handed.close()
    codes: dict = {i: p.exitcode for i, p in enumerate(procs) if p.exitcode is not None}
    codes["interrupted"] = bool(stopped)
    return codes
