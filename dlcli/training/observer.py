"""``Observer``: the one interface through which anything watches a run, instead of a keyword per caller.

``runner.run(plan, observers)`` attaches observers to one run and calls, in
the order the observers were given:

- ``started(run, plan)``: the run directory exists with its config and
  environment, and ``run.json`` says running (a new run, or a resumed one:
  ``plan.start.resumed``);
- ``callbacks(run, plan)``: Keras callbacks to watch the fit, called once right
  after ``started``; Keras calls them after dlcli's own (signal, NaN, history,
  run.json, resume state), so an epoch they see is already kept;
- ``finished(run, plan, metrics)``: the model, metrics and plots are saved and
  the status is final (complete, stopped early, or pruned);
- ``failed(run, plan, error)``: the run ended interrupted (``error`` is
  ``Interrupted``) or failed, and ``run.json`` says so; the error is raised on after.

An observer never writes ``run.json``: it asks the ``Run`` (``run.prune_at``,
``run.record``) or stops training the Keras way (``model.stop_training``).
Observers of a multi-worker run hear every worker; ``plan.placement.chief``
says whether this one writes the run directory. dlcli's own: ``observers.progress``
(epoch lines), ``observers.mlflow`` (tracking), ``sweep.trial`` (a trial's
pruning and the study's bookkeeping).
"""

from __future__ import annotations

from collections.abc import Iterable


class Observer:
    """Watches one run; override what you need (each default does nothing)."""

    def started(self, run, plan) -> None:
        """The run directory is written and the run is running."""

    def callbacks(self, run, plan) -> list:
        """Keras callbacks for the fit."""
        return []

    def finished(self, run, plan, metrics: dict) -> None:
        """The run ended with its model saved: complete, stopped early or pruned."""

    def failed(self, run, plan, error: BaseException) -> None:
        """The run ended interrupted or failed; ``error`` is raised on after every observer has heard it."""


class Observers(Observer):
    """Several observers as one: each event to each, in order."""

    def __init__(self, observers: Iterable[Observer] = ()):
        self.all = list(observers)

    def started(self, run, plan) -> None:
        for observer in self.all:
            observer.started(run, plan)

    def callbacks(self, run, plan) -> list:
        return [callback for observer in self.all for callback in observer.callbacks(run, plan)]

    def finished(self, run, plan, metrics: dict) -> None:
        for observer in self.all:
            observer.finished(run, plan, metrics)

    def failed(self, run, plan, error: BaseException) -> None:
        for observer in self.all:
            observer.failed(run, plan, error)
