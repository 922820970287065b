"""One trial: its sampled config trained as an ordinary run in ``trials/<n>/``, the study told how it ended.

The trial reports its metric to Optuna after every epoch and stops when the
pruner gives up on it; its run directory is then marked ``pruned``. A config
that does not validate or a training that fails (a NaN loss) makes the trial
FAIL with its one-line reason. An interrupted trial stays RUNNING, its run
directory resumable: the next start of the sweep continues it (``adopt``).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from dlcli import names, tracking
from dlcli.config.load import load_config
from dlcli.errors import DlcliError, Interrupted
from dlcli.runs import store
from dlcli.runs.run import Status, status_of
from dlcli.sweep import space
from dlcli.sweep.study import owner
from dlcli.training.observer import Observer
from dlcli.training.runner import summary

TRIALS = "trials"


@dataclass
class Setup:
    """What every trial of a sweep shares."""

    config_path: Path
    sweep_dir: Path
    sweep: object  # the config's SweepConfig
    name: str

    @property
    def logged_metric(self) -> str:
        if self.sweep.metric.startswith("cv_"):  # a cross-validated run's metrics.json names it so
            return self.sweep.metric
        return names.monitor_logged_as(self.sweep.metric)

    def run_dir(self, number: int) -> Path:
        return self.sweep_dir / TRIALS / str(number)


def new(study, setup: Setup):
    """Ask the study for a trial, sample it, and record its owner, overrides and run directory."""
    trial = study.ask()
    trial.set_user_attr("owner", owner())
    overrides = space.suggest(trial, setup.sweep.params)
    trial.set_user_attr("overrides", overrides)
    trial.set_user_attr("run_dir", str(Path(TRIALS) / str(trial.number)))
    return trial


def adopt(study, frozen):
    """Take over a running trial whose worker is gone; it continues where its run directory stopped."""
    import optuna

    trial = optuna.trial.Trial(study, frozen._trial_id)
    trial.set_user_attr("owner", owner())
    trial.set_user_attr("continued", int(frozen.user_attrs.get("continued", 0)) + 1)
    return trial


def run(study, trial, setup: Setup, *, continued: bool = False) -> str:
    """Train ``trial``'s config (or continue its run) and tell the study how it ended; a one-line summary.

    Raises Interrupted with the trial left RUNNING (and its run directory resumable).
    """
    told = TrialObserver(study, trial, setup)
    try:
        _train(trial, setup, told, continued)
    except Interrupted:
        raise
    except DlcliError as exc:  # the config, the data or the training
        told.fail(exc.lines()[-1])
    except Exception as exc:  # a sampled combination Keras refuses outside fit
        told.fail(f"{type(exc).__name__}: {summary(exc)}")
    return told.summary


class TrialObserver(Observer):
    """A trial's run, watched for the study: each epoch's metric reported to Optuna, the run pruned (through
    ``Run.prune_at``) when the pruner gives up on it, and the study told how the run ended."""

    def __init__(self, study, trial, setup: Setup):
        self.study, self.trial, self.setup = study, trial, setup
        self.summary: str | None = None

    def callbacks(self, run, plan) -> list:
        from dlcli.training.callbacks import EpochReport

        return [EpochReport(Reporter(self.trial, self.setup.logged_metric, run))]

    def finished(self, run, plan, metrics: dict) -> None:
        self.tell(metrics, run.pruned_at)

    def failed(self, run, plan, error: BaseException) -> None:
        if isinstance(error, (Interrupted, KeyboardInterrupt)):
            return  # the trial stays RUNNING; the next start of the sweep continues its run
        self.fail(error.lines()[-1] if isinstance(error, DlcliError) else f"{type(error).__name__}: {summary(error)}")

    def tell(self, metrics: dict, pruned_at: int | None) -> None:
        """The study told the trial's value (or that it was pruned, or failed without a finite value)."""
        import optuna

        if self.summary is not None:
            return
        name, value = self.setup.sweep.metric, metrics.get(self.setup.logged_metric)
        if pruned_at is not None:
            self.study.tell(self.trial, state=optuna.trial.TrialState.PRUNED)
            self.summary = f"trial {self.trial.number}: pruned at epoch {pruned_at} ({name} {value:.4g})"
        elif value is None or not math.isfinite(value):
            self.fail(f"{name} is {value} after training")
        else:
            self.study.tell(self.trial, float(value))
            self.summary = f"trial {self.trial.number}: {name} {value:.4g}"

    def fail(self, reason: str) -> None:
        """The study told the trial FAILED, with its one-line reason."""
        import optuna

        if self.summary is not None:
            return
        self.trial.set_user_attr("reason", reason)
        self.study.tell(self.trial, state=optuna.trial.TrialState.FAIL)
        self.summary = f"trial {self.trial.number}: failed: {reason}"


class Reporter:
    """The metric of each epoch to Optuna; True (stop) when the pruner gives up on the trial, whose run then ends
    pruned."""

    def __init__(self, trial, metric: str, run=None):
        self.trial = trial
        self.metric = metric
        self.run = run

    def __call__(self, epoch: int, logs: dict) -> bool:
        value = logs.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return False
        if epoch not in self.trial.storage.get_trial(self.trial._trial_id).intermediate_values:
            self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            if self.run is not None:
                self.run.prune_at(epoch)
            return True
        return False


def _train(trial, setup: Setup, told: TrialObserver, continued: bool) -> None:
    from dlcli.observers.mlflow import Mlflow
    from dlcli.training import crossval, plan, runner

    path = setup.run_dir(trial.number)
    state = store.read_json_if_present(path / store.RUN) if continued else None
    status = status_of(state) if state is not None else None
    if status is not None and status.finished:  # finished; the study was not told
        pruned_at = state.get("pruned_at_epoch") if status is Status.PRUNED else None
        told.tell(store.read_json_if_present(path / store.METRICS, {}), pruned_at)
        return
    if state is not None and "cross_validation" in state:
        _run, metrics = crossval.resume(path, observers=[Mlflow()])
        told.tell(metrics, None)
        return
    if state is not None:
        runner.run(plan.resume(path), [told, Mlflow()])
        return
    if path.exists():  # killed before its run.json: start it over
        shutil.rmtree(path)
    config = load_config(setup.config_path, trial.user_attrs["overrides"])
    config = config.copy_with(sweep=None, name=f"{setup.name}-trial-{trial.number}")
    config, parent_run_id = tracking.for_trial(config, setup.sweep_dir)
    tracked = Mlflow(config, parent_run_id=parent_run_id)
    if config.training.cross_validation is not None:  # judged once, by the folds' mean; no pruning between folds
        _run, metrics = crossval.run(config, plan.Where.exactly(path), observers=[tracked], score_test=False)
        told.tell(metrics, None)
        return
    runner.run(plan.new_run(config, plan.Where.exactly(path), score_test=False), [told, tracked])
