"""MLflow tracking (``dlcli[mlflow]``): a local sqlite store, a real ``mlflow server``, a server that is down."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import invoke

pytestmark = pytest.mark.slow  # an MLflow server, and tracked runs

pytest.importorskip("mlflow", reason="MLflow is not installed: pip install 'dlcli[mlflow]' (make test installs it)")

CONFIG = """\
name: tracked
seed: 3
data: {source: sklearn, name: iris}
model: {layers: [{units: 8}]}
optimizer: {name: adam, learning_rate: 0.01}
training: {epochs: 3, batch_size: 32, checkpoint_every_seconds: 0}
"""


def _run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _train(tmp_path, *extra, config=CONFIG):
    path = tmp_path / "tracked.yaml"
    path.write_text(config)
    result = invoke("train", path, "--quiet", "--output-dir", tmp_path / "runs", *extra)
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_logged(client, run_id: str, run_dir: Path) -> None:
    """What one tracked run holds in MLflow: params, each epoch's metrics, test metrics, tags, artefacts."""
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    params, tags = run.data.params, run.data.tags
    assert params["optimizer.learning_rate"] == "0.01"
    assert params["model.layers.0.units"] == "8"
    assert params["data.source"] == "sklearn" and params["training.epochs"] == "3"
    assert tags["dlcli.run_dir"] == str(run_dir.resolve())
    assert tags["dlcli.seed"] == "3"
    assert tags["tensorflow.version"].startswith("2.21") and tags["keras.version"].startswith("3.")
    environment = json.loads((run_dir / "environment.json").read_text())["data"]
    fingerprint = json.loads(tags["dlcli.data_fingerprint"])
    assert fingerprint["arrays_sha256"] == environment["arrays_sha256"] and fingerprint["name"] == "iris"
    history = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(run_id, "accuracy")] == [1, 2, 3]
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(saved["accuracy"])
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "model.keras", "metrics.json", "history.csv", "run.json", "plots"} <= names
    assert {a.path for a in client.list_artifacts(run_id, "plots")}


def test_sqlite_store_gets_params_epoch_metrics_tags_and_artefacts(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow's default artefact root (./mlruns) goes here
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = CONFIG + f"tracking: {{mlflow: {{uri: '{uri}', experiment: iris-runs}}}}\n"
    result = _train(tmp_path, config=config)
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "warning" not in result.stderr
    assert len(result.stdout.strip().splitlines()) == 1  # MLflow's own "View run" lines stay off stdout
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    recorded = _run_json(run_dir)["mlflow"]
    assert recorded["experiment"] == "iris-runs" and recorded["uri"] == uri
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("iris-runs")
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_id == recorded["run_id"]
    assert found.info.run_name == run_dir.name
    _check_logged(client, recorded["run_id"], run_dir)


def test_mlflow_flag_overrides_the_config_and_is_saved(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'flag.db'}"
    result = _train(tmp_path, "--mlflow", uri)
    assert result.exit_code == 0, result.stderr[-2000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert f"uri: {uri}" in (run_dir / "config.yaml").read_text()
    run_id = _run_json(run_dir)["mlflow"]["run_id"]
    assert MlflowClient(tracking_uri=uri).get_run(run_id).info.experiment_id is not None


@pytest.fixture
def mlflow_server(tmp_path):
    """A real ``mlflow server`` on a free loopback port, stopped by its pid afterwards."""
    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    if not Path(exe).exists():
        pytest.skip("the mlflow command (full mlflow package) is not installed")
    port = _free_port()
    home = tmp_path / "server"
    home.mkdir()
    log = (home / "server.log").open("w")
    cmd = [exe, "server", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:  # the server's own process group (uvicorn and a job runner are its children)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_a_real_mlflow_server_gets_the_run(tmp_path, mlflow_server, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    result = _train(tmp_path, "--mlflow", mlflow_server)
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "warning" not in result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    run_id = _run_json(run_dir)["mlflow"]["run_id"]
    request = urllib.request.Request(
        f"{mlflow_server}/api/2.0/mlflow/runs/get?run_id={run_id}", headers={"Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        run = json.load(response)["run"]
    assert run["info"]["status"] == "FINISHED" and run["info"]["run_name"] == run_dir.name
    assert {p["key"] for p in run["data"]["params"]} >= {"optimizer.learning_rate", "model.layers.0.units"}
    assert "test_accuracy" in {m["key"] for m in run["data"]["metrics"]}
    _check_logged(MlflowClient(tracking_uri=mlflow_server), run_id, run_dir)


def test_a_server_that_is_down_costs_one_warning_and_no_run(tmp_path):
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    result = _train(tmp_path, "--mlflow", f"http://127.0.0.1:{port}")
    took = time.monotonic() - started
    assert result.exit_code == 0, result.stderr[-2000:]
    warnings = [line for line in result.stderr.splitlines() if "MLflow" in line and "warning" in line]
    assert len(warnings) == 1, result.stderr
    assert f"127.0.0.1:{port}" in warnings[0] and "the run directory is complete" in warnings[0]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    state = _run_json(run_dir)
    assert state["status"] == "complete" and "mlflow" not in state
    for name in ("config.yaml", "model.keras", "metrics.json", "history.csv"):
        assert (run_dir / name).is_file()
    assert took < 60


@pytest.mark.parametrize(
    "tracking, message",
    [
        ("tracking: {mlflow: {uri: [1, 2]}}", "tracking.mlflow.uri"),
        ("tracking: {mlflow: {uri: 'sqlite:///x.db', experimnt: a}}", "experimnt"),
        ("tracking: {mlflw: {uri: 'sqlite:///x.db'}}", "mlflw"),
        ("tracking: {mlflow: {experiment: a}}", "tracking.mlflow.uri"),
    ],
)
def test_bad_tracking_configs_are_located_exit_2(tmp_path, tracking, message):
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG + tracking + "\n")
    result = invoke("validate", path)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()[:1]
    assert line.startswith(f"{path}:7:") and message in line, result.stderr


def test_without_mlflow_installed_the_extra_is_named(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    result = _train(tmp_path, "--mlflow", "sqlite:///x.db")
    assert result.exit_code == 2
    assert "pip install 'dlcli[mlflow]'" in result.stderr and "tracking.mlflow" in result.stderr
    assert not (tmp_path / "runs").exists()


SWEEP = """\
name: tracked-sweep
seed: 0
data: {source: synthetic, name: xor, n_samples: 200, validation_split: 0.2, test_split: 0.2}
model: {layers: [{units: 8}]}
optimizer: {name: adam, learning_rate: 0.01}
training: {epochs: 2, batch_size: 32, plots: false, checkpoint_every_seconds: 0, steps_per_execution: 1}
sweep:
  metric: val_accuracy
  trials: 2
  sampler: {name: random, seed: 0}
  pruner: none
  params:
    model.layers[0].units: {int: [4, 16]}
"""


def test_a_sweep_is_one_parent_run_with_its_trials_as_children(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'sweep.db'}"
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    result = invoke("sweep", path, "--output-dir", tmp_path / "sweeps", "--mlflow", uri)
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "warning" not in result.stderr
    sweep_dir = tmp_path / "sweeps" / "tracked-sweep"
    parent_id = json.loads((sweep_dir / "mlflow.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert "best_val_accuracy" in parent.data.metrics and "test_accuracy" in parent.data.metrics
    assert parent.data.params["sweep.trials"] == "2"
    assert {"leaderboard.csv", "best"} <= {a.path for a in client.list_artifacts(parent_id)}
    children = client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(c.info.run_name for c in children) == ["tracked-sweep-trial-0", "tracked-sweep-trial-1"]
    for child in children:
        run_dir = Path(child.data.tags["dlcli.run_dir"])
        assert run_dir.parent == (sweep_dir / "trials").resolve()
        assert json.loads((run_dir / "run.json").read_text())["mlflow"]["run_id"] == child.info.run_id
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")] == [1, 2]
        units = json.loads((run_dir / "run.json").read_text())
        assert child.data.params["model.layers.0.units"] in (sweep_dir / "leaderboard.csv").read_text()
        assert units["status"] == "complete"


def test_a_password_in_the_uri_is_never_printed(tmp_path):
    uri = f"http://user:s3cret@127.0.0.1:{_free_port()}"
    result = _train(tmp_path, "--mlflow", uri)
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "s3cret" not in result.stderr + result.stdout and "user:***@127.0.0.1" in result.stderr


def test_an_interrupted_run_is_killed_in_mlflow_and_resume_goes_on_in_the_same_run(tmp_path, monkeypatch, signal_at):
    from mlflow import MlflowClient

    from dlcli.training.callbacks import StopOnSignal

    monkeypatch.chdir(tmp_path)
    original = StopOnSignal.on_train_batch_end
    signal_at(1, 0)  # Ctrl-C in the second epoch
    uri = f"sqlite:///{tmp_path / 'resume.db'}"
    result = _train(tmp_path, "--mlflow", uri)
    assert result.exit_code == 130, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    run_id = _run_json(run_dir)["mlflow"]["run_id"]
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(run_id).info.status == "KILLED"
    monkeypatch.setattr(StopOnSignal, "on_train_batch_end", original)
    resumed = invoke("train", "--resume", run_dir, "--quiet")
    assert resumed.exit_code == 0, resumed.stderr[-2000:]
    assert _run_json(run_dir)["mlflow"]["run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and "test_accuracy" in run.data.metrics
    assert sorted({m.step for m in client.get_metric_history(run_id, "val_loss")}) == [1, 2, 3]
