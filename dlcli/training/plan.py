"""A ``Plan``: everything one run needs, decided once, before anything is written.

Built from a config for a new run (``new_run``) or from a run directory to go
on with (``resume``), in the same steps: the environment, the data (for a
resumed run: checked against the data it started on), the resolved config,
the distribution, the statistics the model keeps, the model (built, or loaded
from the checkpoint), its objectives (loss, metrics, optimizer, class weights)
and the loop that trains it. ``runner.run`` runs any plan.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dlcli.config.load import load_saved
from dlcli.config.resolve import ResolvedConfig, resolve
from dlcli.data import fingerprint, statistics
from dlcli.data.load import load as load_data
from dlcli.errors import ConfigError, DataError, RunDirError
from dlcli.log import note, warn
from dlcli.runs import checkpoints, store
from dlcli.runs.run import Status, alive, status_of
from dlcli.training import distribution
from dlcli.training.compile import Objectives
from dlcli.training.distribution import Placement
from dlcli.training.execution import Execution


@dataclass(frozen=True)
class Where:
    """Where a run lives: a new directory under ``output_dir`` named after the run, or exactly ``path``."""

    output_dir: Path = Path("runs")
    path: Path | None = None

    @classmethod
    def under(cls, output_dir: str | Path) -> Where:
        return cls(output_dir=Path(output_dir))

    @classmethod
    def exactly(cls, path: str | Path) -> Where:
        """A run directory at exactly ``path`` (a sweep's trial, a fold); it must not exist yet."""
        return cls(path=Path(path))


@dataclass
class Start:
    """Where training starts: epoch 0 of a new run, or a resumed run's checkpoint (its epoch, history and the
    configured callbacks' counters) with the run's ``run.json`` as it was."""

    epoch: int = 0
    history: dict | None = None
    callbacks: dict | None = None
    state: dict | None = None  # run.json of the run being resumed

    @property
    def resumed(self) -> bool:
        return self.state is not None


@dataclass
class Plan:
    """One run, decided: config, data, statistics, model, objectives, loop, placement and where it lives."""

    config: ResolvedConfig
    dataset: object  # data.base.Dataset or data.stream.StreamData
    statistics: statistics.Statistics | None  # None when the model came from a checkpoint (it holds them)
    placement: Placement
    model: object  # the Keras model that trains, compiled
    objectives: Objectives
    execution: Execution
    where: Where
    start: Start = field(default_factory=Start)
    score_test: bool = True  # else metrics.json holds the last epoch's validation metrics (a sweep's trial)
    timer: store.Timer = field(default_factory=store.Timer)
    _environment: dict | None = field(default=None, repr=False)

    @property
    def steps_per_epoch(self) -> int:
        from dlcli.training.execution import steps_per_epoch

        return steps_per_epoch(self.dataset, self.config)

    def environment(self) -> dict:
        """What environment.json records of this run (worked out once)."""
        if self._environment is None:
            from dlcli.training.record import environment

            self._environment = environment(self)
        return self._environment


def new_run(
    config, where: Where = Where(), *, device: str | None = None, score_test: bool = True, fold: int | None = None,
    raw=None,
) -> Plan:  # fmt: skip
    """The plan of a new run of ``config`` (a ``Config``), living at ``where`` (``device`` overrides
    ``training.device``); ``score_test=False`` keeps the test split unscored (a sweep's trial). ``fold`` is one
    fold of a cross-validated run (its data from ``raw``, read once for every fold)."""
    if device is not None and device != config.training.device:
        config = config.copy_with(training=config.training.model_copy(update={"device": device}))
    timer = store.Timer()
    resolved, dataset, placement = _start_up(config, timer, fold=fold, raw=raw)
    with timer("build"):
        stats = statistics.of(dataset, resolved)
        model, execution, objectives = _build(resolved, dataset, stats, placement)
    _check_tensorboard(resolved)
    return Plan(resolved, dataset, stats, placement, model, objectives, execution, where, Start(), score_test, timer)


def resume(run_dir: str | Path, *, device: str | None = None) -> Plan:
    """The plan that continues an interrupted (or failed, or killed) run in its own directory from its checkpoint
    (from epoch 0 when it stopped before its first one); the config is the one saved in it."""
    from dlcli.model.build import precision
    from dlcli.training.compile import objectives as make_objectives

    run_path = Path(run_dir)
    state = resumable_state(run_path)
    timer = store.Timer()
    fold = (state.get("fold") or {}).get("index")
    resolved, dataset, placement = _start_up(
        load_saved(run_path / store.CONFIG), timer, device, saved_run=run_path, fold=fold
    )
    if not placement.chief:
        raise RunDirError(f"{run_path}: only the chief resumes a multi-worker run; start the other workers fresh")
    with timer("build"):
        with placement.scope():
            saved = checkpoints.load(run_path, resolved.training.mixed_precision)
        stats = None  # the checkpoint's model holds them
        if saved is None:  # stopped before its first checkpoint: start over, in the same directory
            stats = statistics.of(dataset, resolved)
            model, execution, objectives = _build(resolved, dataset, stats, placement)
            start = Start(0, {}, None, state)
        else:
            model, saved_state = saved
            with precision(resolved.training.mixed_precision):
                objectives = make_objectives(
                    resolved, 0, classes=dataset.info.classes, y_train=_train_labels(resolved, dataset),
                    optimizer=model.optimizer,
                )  # fmt: skip
            execution = _execution(resolved, dataset, model, placement)  # chosen again: Keras may differ
            start = Start(saved_state.get("epochs_done", 0), saved_state.get("history") or {},
                          saved_state.get("callbacks"), state)  # fmt: skip
    _check_tensorboard(resolved)
    where = Where.exactly(run_path)
    score_test = state.get("score_test", True)
    return Plan(resolved, dataset, stats, placement, model, objectives, execution, where, start, score_test, timer)


def without_tensorflow(config):
    """(resolved config, probe): ``config`` resolved as ``train`` will resolve it, against its data probed
    without TensorFlow (``validate``, ``config show``, a sweep's checks)."""
    from dlcli.data.load import probe as probe_data

    probe = probe_data(config)
    resolved = resolve(
        config, probe.task, probe.n_classes, probe.target_spread, rows=probe.rows, streamed=probe.streamed
    )
    return resolved, probe


def _start_up(
    config, timer: store.Timer, device: str | None = None, *, saved_run: Path | None = None, fold=None, raw=None
):  # fmt: skip
    """(resolved config, data, placement): the environment, the data (one fold's with ``fold``), resolution,
    TensorFlow and its seed."""
    from dlcli.device import prepare_environment

    device = device or config.training.device
    if config.training.deterministic and "tensorflow" not in sys.modules:
        # Under op determinism TF 2.21 logs a bogus C++ error for every parallel tf.data map ("NodeDef mentions
        # attribute use_unbounded_threadpool ..."); TensorFlow's real errors still arrive as Python exceptions.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    prepare_environment(device)
    with timer("load_data"):
        dataset = load_data(config, fold=fold, raw=raw)
    info = dataset.info
    if saved_run is not None:
        same_data(saved_run, info)
    resolved = resolve(config, info.task, info.n_classes, info.target_spread, rows=info.rows, streamed=dataset.streamed)
    distribution.check_data(resolved, dataset)
    with timer("import_tensorflow"):
        placement = distribution.place(resolved, device)  # the strategy before any op
    import keras

    keras.utils.set_random_seed(resolved.seed)
    if resolved.training.deterministic:
        placement.tf.config.experimental.enable_op_determinism()
    return resolved, dataset, placement


def _build(config: ResolvedConfig, dataset, stats, placement: Placement):
    """(the compiled model, its execution, its objectives): layers from the statistics, under the run's dtype
    policy and strategy."""
    from dlcli.model.build import build, precision
    from dlcli.training.compile import compile_model
    from dlcli.training.compile import objectives as make_objectives
    from dlcli.training.execution import steps_per_epoch

    if config.scales_target:
        from dlcli.data import target

        note(target.announcement(config, dataset.info))
    with precision(config.training.mixed_precision), placement.scope():  # layers keep the policy they were made under
        model = build(config, dataset.info, stats)
        execution = _execution(config, dataset, model, placement)
        objectives = make_objectives(
            config, steps_per_epoch(dataset, config), classes=dataset.info.classes,
            y_train=_train_labels(config, dataset),
        )  # fmt: skip
        compile_model(model, objectives, execution)
    return model, execution, objectives


def _train_labels(config, dataset):
    return dataset.labels("train") if config.training.class_weight is not None else None


def _execution(config, dataset, model, placement: Placement) -> Execution:
    from dlcli.training import execution

    chosen = execution.for_model(model, config, dataset, gpu=placement.gpu)
    if chosen.fallback:
        warn(f"{chosen.fallback}; training with Keras's fit, {chosen.steps_per_execution} steps per call")
    return chosen


def same_data(run_path: Path, info) -> None:
    saved = store.read_json_if_present(run_path / store.ENVIRONMENT, {}).get("data", {})
    changed = fingerprint.changes(saved, info.fingerprint)
    if changed:
        raise DataError(
            f"{', '.join(changed)} changed since the run started; resuming would train on other data. Train a new run"
        )


def _check_tensorboard(config) -> None:
    """``training.tensorboard`` needs the tensorboard package, which TensorFlow no longer installs."""
    from importlib.util import find_spec

    if config.training.tensorboard and find_spec("tensorboard") is None:
        raise ConfigError(
            config.problem(
                ("training", "tensorboard"),
                "the tensorboard package is not installed; pip install tensorboard (or dlcli[tensorboard]), "
                "or set tensorboard: false",
            )
        )


def resumable_state(run_path: Path) -> dict:
    """run.json of a run that may be resumed, or the error that says why not."""
    state = store.read_state(run_path)
    status = status_of(state)
    if status is not None and status.finished and status is not Status.PRUNED:
        raise RunDirError(
            f"{run_path}: run is already complete ({state.get('epochs_done')} epochs); nothing to resume. "
            "Train the config again for a new run"
        )
    same_host = state.get("hostname", platform.node()) == platform.node()
    if status is Status.RUNNING and same_host and alive(state.get("pid")):
        raise RunDirError(f"{run_path}: run is still running (pid {state.get('pid')}); stop it before resuming")
    return state
