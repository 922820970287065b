"""``Mlflow``: a run mirrored to MLflow while it trains, when its config asks (``tracking.mlflow``).

Started with the run (a new MLflow run, a child of a sweep's parent run, or,
resuming, the MLflow run recorded in run.json), each epoch's logs as metrics,
then the test metrics and the run directory's files, FINISHED; KILLED on
Ctrl-C, FAILED on a failure. Only the chief of a multi-worker run tracks.
MLflow failing never fails the run (``tracking.Tracker``).
"""

from __future__ import annotations

from dlcli import tracking
from dlcli.errors import Interrupted
from dlcli.training.observer import Observer


class Mlflow(Observer):
    """Tracks the run in MLflow if its config has ``tracking.mlflow``; inert otherwise.

    Given the ``config`` of a new run, a config that asks for MLflow without the extra installed is an exit 2
    right away, before anything is written (a resumed run, given none, warns and goes on untracked).
    """

    def __init__(self, config=None, *, parent_run_id: str | None = None):
        if config is not None:
            tracking.check(config)
        self.parent_run_id = parent_run_id
        self.tracker = tracking.Tracker(None)

    def started(self, run, plan) -> None:
        config = plan.config.config
        if plan.start.resumed:
            self.tracker = tracking.reopen_for_run(config, run)
            return
        self.tracker = tracking.start_for_run(
            config, run, plan.environment(), parent_run_id=self.parent_run_id, chief=plan.placement.chief
        )

    def callbacks(self, run, plan) -> list:
        if not self.tracker.active:
            return []
        from dlcli.training.callbacks import EpochReport

        return [EpochReport(self.tracker.log_epoch)]

    def finished(self, run, plan, metrics: dict) -> None:
        tracking.finish(self.tracker, run.path, metrics)

    def failed(self, run, plan, error: BaseException) -> None:
        self.tracker.end("KILLED" if isinstance(error, (Interrupted, KeyboardInterrupt)) else "FAILED")
