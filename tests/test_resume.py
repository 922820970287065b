"""Interrupt, resume and divergence: whichever way training ends, the run directory tells the truth.

Real signals go to a real ``dlcli train`` process for the end-to-end checks
(SIGTERM, SIGINT); the cheaper checks raise SIGINT inside this process from
within training, at a chosen epoch and step, so they do not depend on timing.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CONFIGS, ROOT, invoke

pytestmark = pytest.mark.slow  # multi-run: runs interrupted and resumed, in this process and in others

# Slow enough per epoch (batch 8, two 128-unit layers with dropout) that polling run.json
# sees epoch 2 end well before epoch 8 does; reduce_lr_on_plateau(patience 1) has state to carry over.
DIGITS = """\
name: digits-resume
seed: 0
data: {source: sklearn, name: digits}
model:
  layers:
    - {units: 128, dropout: 0.2}
    - {units: 128, dropout: 0.2}
optimizer: {name: adam, learning_rate: 0.001}
training:
  epochs: 8
  batch_size: 8
  checkpoint_every_seconds: 0
  reduce_lr_on_plateau: {patience: 1}
"""

IRIS_EPOCHS = 6


def iris_config(data_path: Path, every: float = 0, **training) -> str:
    """A small CSV config (fast); ``training`` entries are added to the training section.

    Early stopping (restore_best_weights) and a learning rate that halves after every epoch whose
    val_loss did not rise: both carry state that a resume must restore.
    """
    extra = "".join(f"  {key}: {value}\n" for key, value in training.items())
    return f"""\
name: iris-resume
seed: 0
data: {{source: csv, path: {data_path}, target: species}}
model:
  layers:
    - {{units: 16, dropout: 0.1}}
optimizer: {{name: adam, learning_rate: 0.01}}
training:
  epochs: {IRIS_EPOCHS}
  batch_size: 8
  steps_per_execution: 1            # the callbacks see every step, so signals land on exact steps
  checkpoint_every_seconds: {every}
  early_stopping: {{patience: 50}}
  reduce_lr_on_plateau: {{monitor: val_loss, mode: max, patience: 0}}
{extra}"""


# -- helpers -----------------------------------------------------------------------------------


def read_run(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def history_rows(run: Path) -> list[list[str]]:
    with open(run / "history.csv", newline="") as fh:
        return list(csv.reader(fh))[1:]


def read_column(run: Path, name: str) -> list[str]:
    with open(run / "history.csv", newline="") as fh:
        return [row[name] for row in csv.DictReader(fh)]


def weights_sha256(model_path: Path) -> str:
    """The saved model's weights hashed as run.json's weights_sha256 is."""
    from dlcli.runs import store as runs
    from dlcli.training import runner

    return runner.weights_sha256(runs.load_model(model_path, compile=False))


def outcome(run: Path) -> dict:
    """What must not depend on whether training was interrupted."""
    return {
        "history": (run / "history.csv").read_text(),
        "metrics": json.loads((run / "metrics.json").read_text()),
        "weights": weights_sha256(run / "model.keras"),
    }


def only_run(out: Path) -> Path:
    found = [p.parent for p in out.glob("*/run.json")]
    assert len(found) == 1, found
    return found[0]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def set_run_json(run: Path, **fields) -> None:
    state = read_run(run)
    state.update(fields)
    (run / "run.json").write_text(json.dumps(state))


def assert_interrupted(run: Path) -> int:
    """The interrupted run's invariants; returns its completed epochs."""
    state = read_run(run)
    assert state["status"] == "interrupted"
    done = state["epochs_done"]
    assert 0 < done < state["epochs_planned"]
    saved = json.loads((run / "checkpoints" / "state.json").read_text())
    assert saved["epochs_done"] == done
    assert (run / "checkpoints" / f"epoch-{done:04d}.keras").is_file()
    assert [p.name for p in (run / "checkpoints").glob("epoch-*.keras")] == [f"epoch-{done:04d}.keras"]
    assert len(history_rows(run)) == done  # the epoch cut short is not in the history
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()
    return done


def assert_resume_state_cleared(run: Path) -> None:
    folder = run / "checkpoints"
    assert not (folder / "state.json").exists()
    assert not list(folder.glob("epoch-*.keras"))
    assert not list(folder.glob("early_stopping_best*"))


def copy_iris(folder: Path) -> Path:
    target = folder / "iris.csv"
    target.write_text((CONFIGS / "data" / "iris.csv").read_text())
    return target


@pytest.fixture
def iris_csv(tmp_path) -> Path:
    return copy_iris(tmp_path)


@pytest.fixture(scope="module")
def iris_plain_run(tmp_path_factory) -> Path:
    """The base iris config trained without interruption (read only: tests share it)."""
    folder = tmp_path_factory.mktemp("iris-plain")
    cfg = folder / "iris.yaml"
    cfg.write_text(iris_config(copy_iris(folder)))
    assert invoke("train", cfg, "--output-dir", folder / "runs", "--quiet").exit_code == 0
    run = only_run(folder / "runs")
    rates = [float(v) for v in read_column(run, "learning_rate")]
    assert len(set(rates)) > 2, rates  # the plateau schedule really moved: its state matters on resume
    return run


@pytest.fixture(scope="module")
def iris_expected(iris_plain_run) -> dict:
    """What every interrupted-and-resumed run of the base iris config must end with (the data path does not enter it)."""
    return outcome(iris_plain_run)


@pytest.fixture
def interrupted_iris(tmp_path, iris_csv, signal_at) -> Path:
    """An iris run stopped by SIGINT during its third epoch: two epochs done and checkpointed."""
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv))
    assert signal_at(epoch=2, step=1) is not None
    result = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 130, result.output
    run = only_run(tmp_path / "runs")
    assert read_run(run)["epochs_done"] == 2
    return run


# -- a real process, a real signal ---------------------------------------------------------


@pytest.fixture(scope="module")
def digits_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("digits") / "digits.yaml"
    path.write_text(DIGITS)
    return path


@pytest.fixture(scope="module")
def uninterrupted(digits_config, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("uninterrupted")
    result = invoke("train", digits_config, "--output-dir", out, "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run(out)
    assert read_run(run)["epochs_done"] == 8
    assert_resume_state_cleared(run)
    return outcome(run)


def wait_for_epochs(out: Path, child: subprocess.Popen, epochs: int, timeout: float = 180) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(f"dlcli train ended (rc {child.returncode}) before epoch {epochs}")
        for path in out.glob("*/run.json"):
            try:
                if json.loads(path.read_text()).get("epochs_done", 0) >= epochs:
                    return path.parent
            except (OSError, json.JSONDecodeError):
                pass  # written atomically, but tolerate a reader race anyway
        time.sleep(0.02)
    pytest.fail(f"no run reached epoch {epochs} within {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_run_resumes_to_the_uninterrupted_result(tmp_path, digits_config, uninterrupted, sig):
    out = tmp_path / "runs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "dlcli", "train", str(digits_config), "--output-dir", str(out), "--quiet"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        try:
            run = wait_for_epochs(out, child, 2)
            child.send_signal(sig)
            rc = child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    message = stderr_path.read_text()
    assert rc == 130, message
    assert f"resume with: dlcli train --resume {run}" in message
    assert "Traceback" not in message
    done = assert_interrupted(run)

    result = invoke("train", "--resume", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(run)  # the same directory, not a new one
    assert [p.name for p in out.iterdir()] == [run.name]
    state = read_run(run)
    assert state["status"] == "complete" and state["epochs_done"] == 8 and state["error"] is None
    assert [r["from_epoch"] for r in state["resumed"]] == [done]
    assert state["resumed"][0]["execution"]["loop"] == "dlcli" and state["resumed"][0]["keras"].startswith("3.")
    assert_resume_state_cleared(run)
    assert outcome(run) == uninterrupted


# -- resuming: what is refused -----------------------------------------------------------------


def test_resume_refuses_a_complete_run(iris_plain_run):
    run = iris_plain_run
    before = (run / "run.json").read_text()
    result = invoke("train", "--resume", run)
    assert result.exit_code == 2
    assert "already complete" in result.stderr
    assert (run / "run.json").read_text() == before


@pytest.mark.parametrize("extra", [["CONFIG"], ["--set", "training.epochs=3"]], ids=["config", "set"])
def test_resume_takes_no_config_and_no_overrides(tmp_path, iris_csv, extra):
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv))
    args = [cfg if a == "CONFIG" else a for a in extra]
    result = invoke("train", *args, "--resume", tmp_path)
    assert result.exit_code == 2
    assert "--resume" in result.stderr and "no CONFIG" in result.stderr


def test_resume_of_a_missing_or_foreign_directory(tmp_path):
    missing = invoke("train", "--resume", tmp_path / "nope")
    assert missing.exit_code == 2 and "no such run directory" in missing.stderr
    foreign = invoke("train", "--resume", tmp_path)
    assert foreign.exit_code == 2 and "not a dlcli run directory" in foreign.stderr


def test_resume_refuses_a_run_whose_data_changed(interrupted_iris, iris_csv):
    assert_interrupted(interrupted_iris)
    before = (interrupted_iris / "run.json").read_text()
    lines = iris_csv.read_text().splitlines()
    lines[1] = lines[1].replace("5.1", "5.2", 1)
    iris_csv.write_text("\n".join(lines) + "\n")
    result = invoke("train", "--resume", interrupted_iris)
    assert result.exit_code == 2
    assert "changed since the run started" in result.stderr
    assert (interrupted_iris / "run.json").read_text() == before  # the refusal touched nothing


def test_resume_refuses_a_run_that_is_still_running(interrupted_iris):
    set_run_json(interrupted_iris, status="running", pid=os.getppid(), hostname=platform.node())
    before = (interrupted_iris / "run.json").read_text()
    result = invoke("train", "--resume", interrupted_iris)
    assert result.exit_code == 2
    assert "still running" in result.stderr and str(os.getppid()) in result.stderr
    assert (interrupted_iris / "run.json").read_text() == before


def test_a_killed_run_is_refused_by_evaluate_and_predict_but_resumes(interrupted_iris, iris_csv):
    # kill -9 leaves run.json "running" with a pid that no longer exists
    set_run_json(interrupted_iris, status="running", pid=dead_pid(), hostname=platform.node())
    evaluated = invoke("evaluate", interrupted_iris)
    assert evaluated.exit_code == 2
    assert "run is running after 2 of 6 epochs" in evaluated.stderr
    predicted = invoke("predict", interrupted_iris, iris_csv)
    assert predicted.exit_code == 2 and "not complete" in predicted.stderr

    result = invoke("train", "--resume", interrupted_iris, "--quiet")
    assert result.exit_code == 0, result.output
    state = read_run(interrupted_iris)
    assert state["status"] == "complete" and state["epochs_done"] == IRIS_EPOCHS
    assert state["pid"] == os.getpid()
    assert [r["from_epoch"] for r in state["resumed"]] == [2]
    assert len(history_rows(interrupted_iris)) == IRIS_EPOCHS
    assert_resume_state_cleared(interrupted_iris)
    assert invoke("evaluate", interrupted_iris).exit_code == 0


def test_in_process_interrupt_and_resume_match_an_uninterrupted_run(tmp_path, iris_csv, signal_at, iris_expected):
    """The subprocess test's guarantee when the checkpoint is written only because of the signal."""
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv, every=3600))  # no checkpoint at epoch ends: the snapshot is restored

    signal_at(epoch=3, step=4)
    stopped = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    assert stopped.exit_code == 130, stopped.output
    run = only_run(tmp_path / "runs")
    assert assert_interrupted(run) == 3
    assert (run / "checkpoints" / "early_stopping_best-0003.npz").is_file()
    resumed = invoke("train", "--resume", run, "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert outcome(run) == iris_expected


def test_interrupted_before_the_first_checkpoint_starts_over_in_the_same_directory(
    tmp_path, iris_csv, signal_at, iris_expected
):
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv))
    signal_at(epoch=0, step=3)
    stopped = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    assert stopped.exit_code == 130
    run = only_run(tmp_path / "runs")
    assert "interrupted after 0 epoch(s)" in stopped.stderr
    assert f"resume with: dlcli train --resume {run}" in stopped.stderr
    state = read_run(run)
    assert state["status"] == "interrupted" and state["epochs_done"] == 0
    assert not (run / "checkpoints" / "state.json").exists()
    assert not (run / "model.keras").exists()

    resumed = invoke("train", "--resume", run, "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.strip().splitlines()[-1] == str(run)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run.name]
    state = read_run(run)
    assert state["status"] == "complete" and state["epochs_done"] == IRIS_EPOCHS
    assert [r["from_epoch"] for r in state["resumed"]] == [0]
    assert outcome(run) == iris_expected


def test_interrupted_twice_resumed_twice(tmp_path, iris_csv, signal_at, iris_expected):
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv))
    signal_at(epoch=1, step=2)
    assert invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet").exit_code == 130
    run = only_run(tmp_path / "runs")
    assert assert_interrupted(run) == 1
    signal_at(epoch=4, step=6)  # during the resumed run
    again = invoke("train", "--resume", run, "--quiet")
    assert again.exit_code == 130 and f"resume with: dlcli train --resume {run}" in again.stderr
    assert assert_interrupted(run) == 4
    assert [r["from_epoch"] for r in read_run(run)["resumed"]] == [1]
    assert invoke("train", "--resume", run, "--quiet").exit_code == 0
    state = read_run(run)
    assert state["status"] == "complete" and [r["from_epoch"] for r in state["resumed"]] == [1, 4]
    assert outcome(run) == iris_expected


def test_a_second_ctrl_c_stops_at_once_and_the_run_stays_resumable(tmp_path, iris_csv, monkeypatch, iris_expected):
    from dlcli.training.callbacks import StopOnSignal

    original = StopOnSignal.on_train_batch_end
    fired = []

    def twice(self, batch, logs=None):
        if not fired and self.epoch == 3 and batch == 4:
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)
            while not self.stop:
                time.sleep(0.001)
            os.kill(os.getpid(), signal.SIGINT)  # raises KeyboardInterrupt here, inside training
            time.sleep(5)
            pytest.fail("the second Ctrl-C did not interrupt")
        return original(self, batch, logs)

    monkeypatch.setattr(StopOnSignal, "on_train_batch_end", twice)
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv))
    stopped = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    assert stopped.exit_code == 130, stopped.output
    run = only_run(tmp_path / "runs")
    assert assert_interrupted(run) == 3  # every epoch was checkpointed (checkpoint_every_seconds: 0)
    monkeypatch.undo()
    assert invoke("train", "--resume", run, "--quiet").exit_code == 0
    assert outcome(run) == iris_expected


# -- divergence ------------------------------------------------------------------------------


def test_a_diverging_run_fails_and_keeps_its_last_good_epoch(tmp_path, write):
    cfg = write(
        "diverge.yaml",
        "name: diverge\n"  # tuned on the raw target: scaled, the same SGD step diverges in another epoch
        "data: {source: sklearn, name: diabetes, normalize: false, scale_target: false}\n"
        "model: {layers: [{units: 64}]}\n"
        "optimizer: {name: sgd, learning_rate: 10.0}\n"
        "training: {epochs: 5}\n",  # default checkpoint_every_seconds: written because training stopped
    )
    result = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1
    run = only_run(tmp_path / "runs")
    found = re.search(r"training diverged: loss is (\S+) at epoch (\d+), step (\d+)", result.stderr)
    assert found, result.stderr
    loss, epoch, step = found.group(1), int(found.group(2)), int(found.group(3))
    assert not math.isfinite(float(loss)) and step >= 1
    good = epoch - 1
    assert good >= 1, "the repro should diverge after a good epoch"
    assert f"the last good epoch ({good}) is in {run / 'checkpoints'}" in result.stderr

    state = read_run(run)
    assert state["status"] == "failed" and state["epochs_done"] == good
    assert "training diverged" in state["error"]
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epochs_done"] == good
    checkpoint = run / "checkpoints" / f"epoch-{good:04d}.keras"
    assert checkpoint.is_file()
    from dlcli.runs import store as runs

    weights = runs.load_model(checkpoint, compile=False).get_weights()
    assert all(np.isfinite(w).all() for w in weights)  # the checkpoint is the good epoch, not the inf step
    assert len(history_rows(run)) == good


def test_a_run_that_fails_in_its_first_epoch_leaves_no_history_file(tmp_path, write):
    cfg = write(
        "diverge.yaml",
        "data: {source: sklearn, name: diabetes, normalize: false}\n"
        "optimizer: {name: sgd, learning_rate: 1.0e+12}\ntraining: {epochs: 3}\n",
    )
    result = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1 and "at epoch 1" in result.stderr, result.stderr
    run = only_run(tmp_path / "runs")
    assert read_run(run)["epochs_done"] == 0
    assert not (run / "history.csv").exists()
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()

    evaluated = invoke("evaluate", run)
    assert evaluated.exit_code == 2 and "run is failed" in evaluated.stderr
    np.savez(tmp_path / "rows.npz", x=np.zeros((3, 10), np.float32))
    predicted = invoke("predict", run, tmp_path / "rows.npz")
    assert predicted.exit_code == 2 and "run is failed" in predicted.stderr


# -- a completed run ---------------------------------------------------------------------------


def assert_complete_without_resume_state(run: Path) -> None:
    state = read_run(run)
    assert state["status"] == "complete" and state["epochs_done"] == IRIS_EPOCHS and "resumed" not in state
    assert len(history_rows(run)) == IRIS_EPOCHS
    assert (run / "model.keras").is_file() and (run / "metrics.json").is_file()


def test_a_completed_run_keeps_no_resume_state(iris_plain_run):
    assert_complete_without_resume_state(iris_plain_run)
    assert not (iris_plain_run / "checkpoints").exists()  # every epoch was checkpointed, then all removed


def test_a_completed_run_keeps_only_its_best_checkpoint(tmp_path, iris_csv):
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv, checkpoint="{monitor: val_loss}"))
    assert invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet").exit_code == 0
    run = only_run(tmp_path / "runs")
    assert_complete_without_resume_state(run)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras"]


# -- the run callbacks, directly ------------------------------------------------------------------


class Keeper:
    """dlcli's run callbacks (signal, NaN, history, run.json, resume state), driven by hand as Keras's fit
    drives them; ``partial``, ``diverged``, ``saved_epochs`` and ``save`` are what the pipeline reads."""

    def __init__(self, run, model, every_seconds: float):
        import keras

        from dlcli.training import callbacks

        self.stop = callbacks.StopRequest()
        found, self.resume = callbacks.run_callbacks(run, self.stop, {}, every_seconds=every_seconds)
        self.callbacks = keras.callbacks.CallbackList(found, model=model)
        self.callbacks.on_train_begin()

    def on_epoch_begin(self, epoch):
        self.callbacks.on_epoch_begin(epoch)

    def on_train_batch_end(self, batch, logs):
        self.callbacks.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs):
        self.callbacks.on_epoch_end(epoch, logs)

    def save(self):
        self.resume.save()

    @property
    def partial(self) -> bool:
        return self.stop.epoch_cut

    @property
    def diverged(self):
        return self.stop.diverged

    @property
    def saved_epochs(self) -> int:
        return self.resume.saved_epochs


@pytest.fixture
def keeper_parts(tmp_path):
    import keras

    from dlcli.runs.run import Run

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    run = Run(tmp_path)
    run.begin("keeper", 10)

    def make(every_seconds: float = 0):
        keeper = Keeper(run, model, every_seconds)
        return keeper, keeper.stop

    return model, run, make


def one_epoch(keeper, epoch: int, loss: float, steps: int = 2) -> None:
    keeper.on_epoch_begin(epoch)
    for step in range(steps):
        keeper.on_train_batch_end(step, {"loss": loss})
    keeper.on_epoch_end(epoch, {"loss": loss})


def test_keeper_ignores_an_epoch_cut_short_by_a_signal(keeper_parts, tmp_path):
    model, run, make = keeper_parts
    keeper, stop = make()
    one_epoch(keeper, 0, 1.0)
    assert history_rows(tmp_path) == [["1", "1.0"]]
    assert read_run(tmp_path)["epochs_done"] == 1
    assert json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epochs_done"] == 1

    stop.signal = "SIGTERM"
    keeper.on_epoch_begin(1)
    keeper.on_train_batch_end(0, {"loss": 0.5})
    assert model.stop_training and keeper.partial
    keeper.on_epoch_end(1, {"loss": 0.5})
    keeper.save()
    assert history_rows(tmp_path) == [["1", "1.0"]]
    assert read_run(tmp_path)["epochs_done"] == 1
    assert keeper.saved_epochs == 1
    assert [p.name for p in (tmp_path / "checkpoints").glob("epoch-*.keras")] == ["epoch-0001.keras"]


def test_keeper_saves_the_last_completed_epoch_not_the_weights_after_it(keeper_parts, tmp_path):
    model, run, make = keeper_parts
    keeper, stop = make(every_seconds=3600)  # nothing written at epoch ends
    one_epoch(keeper, 0, 1.0)
    assert not (tmp_path / "checkpoints" / "state.json").exists()
    at_epoch_end = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1.0 for w in at_epoch_end])  # the steps of epoch 2 before the signal
    stop.signal = "SIGINT"
    keeper.on_epoch_begin(1)
    keeper.on_train_batch_end(0, {"loss": 0.9})
    keeper.on_epoch_end(1, {"loss": 0.9})
    keeper.save()
    assert json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epochs_done"] == 1
    from dlcli.runs import store as runs

    saved = runs.load_model(tmp_path / "checkpoints" / "epoch-0001.keras", compile=False).get_weights()
    for got, want in zip(saved, at_epoch_end, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_keeper_stops_on_a_non_finite_loss(keeper_parts, tmp_path, bad):
    model, run, make = keeper_parts
    keeper, _ = make()
    one_epoch(keeper, 0, 1.0)
    keeper.on_epoch_begin(1)
    model.optimizer.iterations.assign_add(32)  # one call of 32 steps
    keeper.on_train_batch_end(0, {"loss": 0.8})
    model.optimizer.iterations.assign_add(32)
    keeper.on_train_batch_end(1, {"loss": bad})
    assert model.stop_training
    assert keeper.diverged[:2] == (2, 64)  # 1-based epoch; the steps of this epoch so far, not the calls
    keeper.on_epoch_end(1, {"loss": bad})
    assert history_rows(tmp_path) == [["1", "1.0"]]
    assert read_run(tmp_path)["epochs_done"] == 1


def test_best_checkpoint_is_never_a_cut_short_epoch(tmp_path, iris_csv, signal_at):
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv, checkpoint="{monitor: val_loss}"))
    signal_at(epoch=2, step=12)  # near the end of the third epoch (14 steps)
    assert invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet").exit_code == 130
    run = only_run(tmp_path / "runs")
    assert assert_interrupted(run) == 2
    losses = [float(v) for v in read_column(run, "val_loss")]
    assert losses[1] < losses[0]  # epoch 2 is the best completed epoch...
    saved = json.loads((run / "checkpoints" / "state.json").read_text())
    assert saved["callbacks"]["checkpoint"]["best"] == losses[1]  # ...and the resume state says so
    assert weights_sha256(run / "checkpoints" / "best.keras") == weights_sha256(
        run / "checkpoints" / "epoch-0002.keras"
    )


def test_ctrl_c_during_the_final_evaluation_keeps_the_trained_epochs(tmp_path, iris_csv, monkeypatch):
    from dlcli import scoring

    original = scoring.score
    fired = []

    def interrupted(*args, **kwargs):
        if not fired:
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # no graceful handler any more: KeyboardInterrupt
            time.sleep(5)
        return original(*args, **kwargs)

    monkeypatch.setattr(scoring, "score", interrupted)
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(iris_config(iris_csv, every=30))  # the default: nothing written yet in a 1 s run
    # After training dlcli puts back the handler it found: Python's own, unless the suite was started in the
    # background of a script, whose shell makes SIGINT ignored (as it does for any `cmd &`). Start from Python's.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stopped = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stopped.exit_code == 130
    run = only_run(tmp_path / "runs")
    assert read_run(run)["status"] == "interrupted" and read_run(run)["epochs_done"] == IRIS_EPOCHS
    assert "resume with" in stopped.stderr
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epochs_done"] == IRIS_EPOCHS


def test_a_signal_and_a_non_finite_loss_in_one_call_is_an_interruption(keeper_parts, tmp_path):
    model, run, make = keeper_parts
    keeper, stop = make()
    one_epoch(keeper, 0, 1.0)
    stop.signal = "SIGINT"
    keeper.on_epoch_begin(1)
    keeper.on_train_batch_end(0, {"loss": float("nan")})
    assert model.stop_training and keeper.partial
    assert keeper.diverged is None  # resumable, as the Keeper decided: the signal came first


def test_a_signal_between_the_callbacks_at_an_epoch_end_does_not_split_them():
    """history.csv, run.json and the resume state count an epoch alike, even if SIGINT lands among them."""
    from dlcli.training.callbacks import StopRequest

    stop = StopRequest()
    assert stop.cut() is False  # the first callback at epoch 2's end: not cut
    stop.signal = "SIGINT"  # ... the signal arrives here ...
    assert stop.cut() is False and not stop.epoch_cut  # the later callbacks agree: epoch 2 counts


def test_only_an_epoch_stopped_before_its_last_step_is_cut():
    """A signal during an epoch's last call (or its validation) keeps that epoch and starts no other."""
    from types import SimpleNamespace

    from dlcli.training.callbacks import StopOnSignal, StopRequest

    stop = StopRequest()
    callback = StopOnSignal(stop)
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.set_params({"steps": 4})
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(0)
    stop.signal = "SIGINT"
    callback.on_train_batch_end(3)  # the epoch's last call
    assert not stop.cut() and callback.model.stop_training
    callback.on_epoch_begin(1)
    stop.signal = None
    callback.model.stop_training = False
    callback.on_train_batch_end(0)
    stop.signal = "SIGTERM"
    callback.on_train_batch_end(1)  # two of four calls: cut
    assert stop.cut() and callback.model.stop_training
    callback.on_epoch_begin(2)
    stop.signal = None
    callback.model.stop_training = False
    callback.on_train_batch_end(3)
    stop.signal = "SIGINT"  # after the last call, during validation
    callback.on_epoch_end(2)
    assert not stop.cut() and callback.model.stop_training


def test_every_epoch_printed_complete_is_kept_after_ctrl_c(tmp_path):
    """Short epochs (one call each), SIGINT at a random moment: printed lines = history = run.json = checkpoint."""
    config = tmp_path / "long.yaml"
    config.write_text(
        "name: long\ndata: {source: sklearn, name: digits}\nmodel: {layers: [{units: 16}]}\n"
        "training: {epochs: 400, plots: false}\n"
    )
    out = tmp_path / "runs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    with open(tmp_path / "stdout.txt", "w") as stdout, open(tmp_path / "stderr.txt", "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "dlcli", "train", str(config), "--output-dir", str(out)],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
        )  # fmt: skip
        try:
            wait_for_epochs(out, child, 5)  # warmed up; then Ctrl-C as soon as a later epoch is seen, mid-epoch
            run = wait_for_epochs(out, child, 8)
            child.send_signal(signal.SIGINT)
            assert child.wait(timeout=120) == 130
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    printed = [line for line in (tmp_path / "stdout.txt").read_text().splitlines() if " - val_loss: " in line]
    done = assert_interrupted(run)
    assert len(printed) == done
    message = (tmp_path / "stderr.txt").read_text()
    assert f"interrupted after {done} epoch(s), all {done} kept in {run / 'checkpoints'}" in message, message
