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

from dlcli import names, pipeline, tracking
from dlcli.config.load import load_config
from dlcli.errors import DlcliError, Interrupted
from dlcli.runs import store
from dlcli.sweep import space
from dlcli.sweep.study import owner

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
    import optuna

    path = setup.run_dir(trial.number)
    reporter = Reporter(trial, setup.logged_metric)
    try:
        metrics = _train(trial, setup, path, reporter, continued)
    except Interrupted:
        raise
    except DlcliError as exc:
        return _fail(study, trial, exc.lines()[-1])
    except Exception as exc:  # a sampled combination Keras refuses outside fit
        return _fail(study, trial, f"{type(exc).__name__}: {pipeline.summary(exc)}")
    value = metrics.get(setup.logged_metric)
    if reporter.stopped_at is not None:
        run = store.Run(path)
        run.state = store.read_state(path)
        run.update(status="pruned", pruned_at_epoch=reporter.stopped_at)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return f"trial {trial.number}: pruned at epoch {reporter.stopped_at} ({setup.sweep.metric} {value:.4g})"
    if value is None or not math.isfinite(value):
        return _fail(study, trial, f"{setup.sweep.metric} is {value} after training")
    study.tell(trial, float(value))
    return f"trial {trial.number}: {setup.sweep.metric} {value:.4g}"


class Reporter:
    """The metric of each epoch to Optuna; True (stop) when the pruner gives up on the trial."""

    def __init__(self, trial, metric: str):
        self.trial = trial
        self.metric = metric
        self.stopped_at: int | None = None

    def __call__(self, epoch: int, logs: dict) -> bool:
        value = logs.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return False
        if epoch not in self.trial.storage.get_trial(self.trial._trial_id).intermediate_values:
            self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.stopped_at = epoch
            return True
        return False


def _train(trial, setup: Setup, path: Path, reporter: Reporter, continued: bool) -> dict:
    from dlcli.training.callbacks import EpochReport

    callback = EpochReport(reporter)
    state = store.read_json_if_present(path / store.RUN) if continued else None
    if state is not None and state.get("status") in ("complete", "pruned"):  # finished; the study was not told
        if state.get("status") == "pruned":
            reporter.stopped_at = state.get("pruned_at_epoch")
        return store.read_json_if_present(path / store.METRICS, {})
    if state is not None:
        _, metrics = pipeline.resume(path, verbose=0, callbacks=[callback])
        return metrics
    if path.exists():  # killed before its run.json: start it over
        shutil.rmtree(path)
    config = load_config(setup.config_path, trial.user_attrs["overrides"])
    config = config.copy_with(sweep=None, name=f"{setup.name}-trial-{trial.number}")
    config, parent_run_id = tracking.for_trial(config, setup.sweep_dir)
    _, metrics = pipeline.train(
        config, run_dir=path, verbose=0, callbacks=[callback], score_test=False, parent_run_id=parent_run_id
    )
    return metrics


def _fail(study, trial, reason: str) -> str:
    import optuna

    trial.set_user_attr("reason", reason)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return f"trial {trial.number}: failed: {reason}"
