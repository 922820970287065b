"""A run has one owner: ``runs.run.Run`` is the only writer of run.json, and its status is one enum.

Proved two ways: statically (no other module's code writes a file named by ``RUN`` or "run.json") and by
watching every write of run.json while runs complete, are interrupted and resumed, fail, are pruned by a
sweep and are tracked in MLflow.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from dlcli.runs import store
from dlcli.runs.run import Run, Status, shown, status_of
from dlcli.training.observer import Observer
from tests.conftest import CONFIGS, XOR_RUN, invoke, train_json
from tests.test_layout import MODULES

OWNER = "dlcli.runs.run"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


# -- the status -----------------------------------------------------------------------------------


def test_status_is_read_back_from_run_json_including_the_states_never_written():
    here = platform.node()
    assert status_of({"status": "complete"}) is Status.COMPLETE
    assert status_of({"status": "complete", "stopped_early": True}) is Status.STOPPED_EARLY
    assert status_of({"status": "pruned", "pruned_at_epoch": 2}) is Status.PRUNED
    assert status_of({"status": "running", "pid": dead_pid(), "hostname": here}) is Status.KILLED
    assert status_of({"status": "running", "pid": dead_pid(), "hostname": "elsewhere"}) is Status.RUNNING  # its host
    assert status_of({"status": "running", "pid": os.getpid(), "hostname": here}) is Status.RUNNING  # this process
    assert status_of({"status": "running", "pid": os.getppid(), "hostname": here}) is Status.RUNNING
    assert status_of({"status": "something new"}) is None
    assert [s.finished for s in Status] == [False, True, True, False, False, True, False]
    assert shown({"status": "complete", "stopped_early": True}) == "complete"
    assert shown({"status": "running", "pid": dead_pid(), "hostname": here}) == "killed"
    assert shown({}) is None


def test_the_lifecycle_methods_move_the_status_and_nothing_else_can(tmp_path):
    run = Run.at(tmp_path / "r")
    run.begin("r", 3)
    assert run.status is Status.RUNNING and run.state["epochs_planned"] == 3 and run.state["score_test"] is True
    run.epoch_done(1, 0.5)
    run.interrupt(timings={"fit": 1.0})
    assert Run.open(run.path).status is Status.INTERRUPTED
    again = Run.open(run.path)
    again.resume(1, keras="3")
    assert again.status is Status.RUNNING and again.state["resumed"][0]["from_epoch"] == 1
    again.epoch_done(2, 0.5)
    assert again.complete(weights_sha256="x", timings={}) is Status.STOPPED_EARLY  # 2 of 3 epochs
    assert json.loads((run.path / store.RUN).read_text())["status"] == "complete"

    pruned = Run.at(tmp_path / "p")
    pruned.begin("p", 3)
    pruned.epoch_done(1, 0.1)
    pruned.prune_at(1)
    assert pruned.complete(weights_sha256="x", timings={}) is Status.PRUNED
    assert Run.open(pruned.path).state["pruned_at_epoch"] == 1

    with pytest.raises(ValueError, match="lifecycle"):
        run.write_json(store.RUN, {"status": "complete"})
    with pytest.raises(ValueError, match="begin, resume, complete"):
        run.record(status="complete")


def test_no_module_but_the_owner_writes_run_json():
    """Every call that writes a file (atomic writes, open, write_text, json.dump) and names RUN or "run.json"."""
    writers = {"atomic_write_json", "atomic_write_text", "atomic_write_bytes", "write_text", "write_bytes", "dump"}
    found = []
    for name, path in MODULES.items():
        if name in (OWNER, "dlcli.runs.store"):  # the owner, and the atomic writers it calls
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            opened_for_writing = func == "open" and any(
                isinstance(a, ast.Constant) and isinstance(a.value, str) and set(a.value) & set("wax")
                for a in node.args
            )
            if func not in writers and not opened_for_writing:
                continue
            named = [n for n in ast.walk(node) if _names_run_json(n)]
            if named:
                found.append(f"{name}:{node.lineno}")
    assert not found, f"run.json written outside {OWNER}: {found}"
    owner_source = inspect.getsource(sys.modules["dlcli.runs.run"])
    assert owner_source.count("store.atomic_write_json(self.path / store.RUN") == 1  # one place writes it


def _names_run_json(node) -> bool:
    if isinstance(node, ast.Constant) and node.value == "run.json":
        return True
    return (isinstance(node, ast.Name) and node.id == "RUN") or (isinstance(node, ast.Attribute) and node.attr == "RUN")


@pytest.fixture
def writers(monkeypatch):
    """The set of modules that write run.json directly (the first frame outside store.py) while the test runs."""
    seen: set[str] = set()
    original = store.atomic_write_bytes

    def watched(path, data, *, durable=True):
        if Path(path).name == store.RUN:
            frame = sys._getframe(1)
            while frame is not None and frame.f_globals.get("__name__") == "dlcli.runs.store":
                frame = frame.f_back
            seen.add(frame.f_globals.get("__name__") if frame is not None else "?")
        return original(path, data, durable=durable)

    monkeypatch.setattr(store, "atomic_write_bytes", watched)
    return seen


@pytest.mark.slow  # multi-run
def test_runs_that_complete_are_interrupted_resume_and_fail_write_run_json_only_through_their_run(
    writers, write, tmp_path, signal_at, monkeypatch
):
    config = write("xs.yaml", XOR_RUN.replace("epochs: 2", "epochs: 3"))
    done = invoke("train", config, "--output-dir", tmp_path / "a", "--quiet")
    assert done.exit_code == 0, done.output

    signal_at(1, 0)  # Ctrl-C in the second epoch
    cut = invoke("train", config, "--output-dir", tmp_path / "b", "--quiet")
    assert cut.exit_code == 130, cut.output
    (run,) = (tmp_path / "b").iterdir()
    assert json.loads((run / store.RUN).read_text())["status"] == "interrupted"
    resumed = invoke("train", "--resume", run, "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert status_of(json.loads((run / store.RUN).read_text())) is Status.COMPLETE

    diverging = write("nan.yaml", XOR_RUN.replace("learning_rate: 0.01", "learning_rate: 1.0e+30"))
    failed = invoke("train", diverging, "--output-dir", tmp_path / "c", "--quiet")
    assert failed.exit_code == 1
    (bad,) = (tmp_path / "c").iterdir()
    assert json.loads((bad / store.RUN).read_text())["status"] == "failed"

    mlflow_store = tmp_path / "mlruns.db"
    monkeypatch.chdir(tmp_path)  # MLflow's default artefact root (./mlruns) goes here
    tracked = invoke(
        "train", config, "--output-dir", tmp_path / "d", "--quiet", "--mlflow", f"sqlite:///{mlflow_store}"
    )
    assert tracked.exit_code == 0, tracked.output
    (traced,) = (tmp_path / "d").iterdir()
    assert json.loads((traced / store.RUN).read_text())["mlflow"]["run_id"]
    assert writers == {OWNER}


def test_a_pruned_sweep_trial_ends_pruned_through_its_run(writers, write, tmp_path):
    """The trial's observer asks the Run to end pruned; the sweep never writes run.json itself."""
    optuna = pytest.importorskip("optuna")
    from dlcli.sweep import trial as trials

    config = write(
        "s.yaml",
        XOR_RUN.replace("epochs: 2", "epochs: 4")
        + "sweep: {metric: val_accuracy, trials: 1, params: {optimizer.learning_rate: {float: [0.001, 0.01]}}}\n",
    )
    from dlcli.config.load import load_config

    sweep = load_config(config).sweep
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    setup = trials.Setup(config_path=config, sweep_dir=tmp_path / "sw", sweep=sweep, name="sw")
    trial = trials.new(study, setup)
    said = trials.run(study, trial, setup)
    assert said.startswith("trial 0: pruned at epoch 1"), said
    state = json.loads((setup.run_dir(0) / store.RUN).read_text())
    assert (state["status"], state["pruned_at_epoch"], state["epochs_done"]) == ("pruned", 1, 1)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert writers == {OWNER}


def test_runs_lists_a_run_whose_process_is_gone_as_killed(tmp_path):
    run = Run.at(tmp_path / "runs" / "k-1")
    run.begin("k", 5)
    state = json.loads((run.path / store.RUN).read_text())
    state.update(pid=dead_pid(), hostname=platform.node())  # as a kill -9 leaves it
    (run.path / store.RUN).write_text(json.dumps(state))
    listed = invoke("runs", tmp_path / "runs", "--json")
    assert listed.exit_code == 0, listed.output
    assert [r["status"] for r in json.loads(listed.stdout)] == ["killed"]


# -- observers ------------------------------------------------------------------------------------


class Heard(Observer):
    """An observer that writes down what it hears, with the run's status at that moment."""

    def __init__(self):
        self.events = []

    def started(self, run, plan):
        self.events.append(("started", run.status.value, plan.start.resumed))

    def callbacks(self, run, plan):
        import keras

        events = self.events

        class Epochs(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                events.append(("epoch", epoch + 1))

        return [Epochs()]

    def finished(self, run, plan, metrics):
        self.events.append(("finished", run.status.value, sorted(metrics)[:1]))

    def failed(self, run, plan, error):
        self.events.append(("failed", run.status.value, type(error).__name__))


def test_an_observer_hears_the_start_every_epoch_and_the_end_in_order(write, tmp_path):
    from dlcli.config.load import load_config
    from dlcli.training import plan, runner

    heard = Heard()
    planned = plan.new_run(load_config(write("xs.yaml", XOR_RUN)), plan.Where.under(tmp_path / "runs"))
    path, metrics = runner.run(planned, [heard])
    assert heard.events == [
        ("started", "running", False),
        ("epoch", 1),
        ("epoch", 2),
        ("finished", "complete", ["accuracy"]),
    ]
    assert path.parent == tmp_path / "runs" and "accuracy" in metrics


def test_an_observer_hears_a_failure_after_the_run_says_so_and_the_error_goes_on(write, tmp_path):
    from dlcli.config.load import load_config
    from dlcli.errors import TrainingError
    from dlcli.training import plan, runner

    heard = Heard()
    config = load_config(write("nan.yaml", XOR_RUN.replace("learning_rate: 0.01", "learning_rate: 1.0e+30")))
    with pytest.raises(TrainingError, match="diverged"):
        runner.run(plan.new_run(config, plan.Where.exactly(tmp_path / "r")), [heard])
    assert heard.events[0] == ("started", "running", False)
    assert heard.events[-1] == ("failed", "failed", "TrainingError")


def test_loss_metrics_optimizer_and_statistics_are_made_once_per_run(monkeypatch, tmp_path):
    """From the config once (training.compile.objectives, data.statistics.of), then reused: by the model that
    trains, the raw-column model saved (a churn table has categories, so it is a second model) and the loop."""
    from dlcli.data import statistics
    from dlcli.training import compile as compiled

    made = {"loss": 0, "metrics": 0, "optimizer": 0, "statistics": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            made[name] += 1
            return real(*args, **kwargs)

        return wrapper

    for name, attr in (("loss", "make_loss"), ("metrics", "make_metrics"), ("optimizer", "make_optimizer")):
        monkeypatch.setattr(compiled, attr, counting(name, getattr(compiled, attr)))
    monkeypatch.setattr(statistics, "of", counting("statistics", statistics.of))
    config = CONFIGS / "churn_csv.yaml"
    run, _ = train_json(tmp_path / "runs", config, "training.epochs=2", "training.plots=false",
                        "training.class_weight=balanced")  # fmt: skip
    assert made == {"loss": 1, "metrics": 1, "optimizer": 1, "statistics": 1}
    assert json.loads((run / store.RUN).read_text())["status"] == "complete"
