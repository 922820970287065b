"""``dlcli sweep``: the sweep: block checked like the rest of the config, trials as runs, workers, resume, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import invoke

pytestmark = pytest.mark.slow  # multi-process: sweeps run worker processes

pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[1]

BASE = """\
name: {name}
seed: 0
data: {{source: synthetic, name: xor, n_samples: {n}, validation_split: 0.2, test_split: 0.2}}
model:
  layers: [{{units: 8}}]
optimizer: {{name: adam, learning_rate: 0.01}}
training: {{epochs: {epochs}, batch_size: {batch}, plots: false, checkpoint_every_seconds: 0, steps_per_execution: 1}}
sweep:
  metric: val_accuracy
  trials: {trials}
  sampler: {{name: tpe, seed: 0}}
  pruner: none
  params:
    optimizer.learning_rate: {{float: [1.0e-3, 1.0e-1], log: true}}
    model.layers[0].units: {{int: [4, 16]}}
"""


def config(tmp_path, *, name="xs", trials=4, epochs=3, n=200, batch=32, text=None) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text or BASE.format(name=name, trials=trials, epochs=epochs, n=n, batch=batch))
    return path


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}


def dlcli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "dlcli", *map(str, args)],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def start(*args, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", *map(str, args)], cwd=cwd, env=env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def status(sweep_dir) -> dict:
    result = invoke("sweep", "status", sweep_dir, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def wait_for_epochs(sweep_dir: Path, epochs: int, timeout: float = 120) -> dict:
    """run.json of the first trial that is running with ``epochs`` epochs done."""
    end = time.time() + timeout
    while time.time() < end:
        for path in (sweep_dir / "trials").glob("*/run.json"):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if state.get("status") == "running" and state.get("epochs_done", 0) >= epochs:
                return state
        time.sleep(0.2)
    raise AssertionError(f"no trial reached {epochs} epochs in {timeout} s")


# -- end to end ------------------------------------------------------------------------------------


def test_a_sweep_with_two_workers_end_to_end(tmp_path):
    path = config(tmp_path, trials=4)
    done = dlcli("sweep", path, "--workers", "2", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sweep_dir = tmp_path / "out" / "xs"
    assert done.stdout.strip().splitlines()[-1] == str(sweep_dir)
    assert "test metrics of the best trial" in done.stdout and "2 worker(s)" in done.stderr
    for name in ("sweep.json", "study.journal", "leaderboard.csv", "leaderboard.json", "best/trial.json"):
        assert (sweep_dir / name).is_file(), name
    found = status(sweep_dir)
    numbers = [t["number"] for t in found["trials"]]
    assert sorted(numbers) == [0, 1, 2, 3]  # one study, each number once, exactly the budget
    assert {t["state"] for t in found["trials"]} == {"complete"}
    assert set(found["trials"][0]) >= {"number", "state", "value", "params", "run_dir"}
    for trial in found["trials"]:
        run = Path(trial["run_dir"])
        assert run == sweep_dir / "trials" / str(trial["number"])
        assert json.loads((run / "run.json").read_text())["status"] == "complete"
        metrics = json.loads((run / "metrics.json").read_text())
        assert "val_accuracy" in metrics and "accuracy" not in metrics  # scored on validation, not on the test split
    best = found["best"]
    assert best["value"] == max(t["value"] for t in found["trials"])
    assert (sweep_dir / "best" / "run").resolve() == Path(best["run_dir"]).resolve()
    tested = json.loads((sweep_dir / "best" / "test_metrics.json").read_text())
    assert tested["trial"] == best["number"] and tested["split"] == "test" and "accuracy" in tested["metrics"]
    assert best["test_metrics"] == tested["metrics"]
    assert sorted(p.name for p in (sweep_dir / "plots").glob("*.png")) == [
        "optimization_history.png", "parallel_coordinate.png", "param_importances.png",
    ]  # fmt: skip
    table = invoke("sweep", "status", sweep_dir)
    assert table.exit_code == 0 and "val_accuracy" in table.stdout and "model.layers[0].units" in table.stdout
    board = json.loads((sweep_dir / "leaderboard.json").read_text())
    assert board[0]["number"] == best["number"]

    # the recorded --set arguments train the trial's config again
    from dlcli.config.load import load_config

    trial = found["trials"][1]
    again = load_config(path, trial["overrides"]).copy_with(sweep=None).dump()
    saved = yaml.safe_load((Path(trial["run_dir"]) / "config.yaml").read_text())
    assert saved["model"]["layers"] == again["model"]["layers"]
    assert (
        saved["optimizer"]["learning_rate"]
        == again["optimizer"]["learning_rate"]
        == trial["params"]["optimizer.learning_rate"]
    )
    assert saved["training"] == {**saved["training"], **again["training"]}
    assert trial["train_command"].startswith(f"dlcli train {path} --set ")

    # running it again continues the study: the budget is used, nothing runs twice
    stamps = {p: p.stat().st_mtime for p in (sweep_dir / "trials").glob("*/run.json")}
    rerun = dlcli("sweep", path, "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert len(status(sweep_dir)["trials"]) == 4
    assert stamps == {p: p.stat().st_mtime for p in (sweep_dir / "trials").glob("*/run.json")}


def test_pruned_and_failed_trials_are_recorded_and_the_sweep_goes_on(tmp_path):
    text = (
        BASE.format(name="pf", trials=2, epochs=3, n=200, batch=32)
        .replace("  pruner: none\n", "  pruner: {name: threshold, upper: 0.0}\n")
        .replace("  sampler: {name: tpe, seed: 0}\n", "  sampler: grid\n")
    )
    text = text.split("  params:\n")[0] + "  params:\n    model.layers[0].activation: {choice: [relu, threshold]}\n"
    done = dlcli("sweep", config(tmp_path, name="pf", text=text), "--output-dir", tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    trials = {t["params"]["model.layers[0].activation"]: t for t in status(tmp_path / "pf")["trials"]}
    assert trials["relu"]["state"] == "pruned" and trials["relu"]["epochs"] == 1
    assert json.loads((Path(trials["relu"]["run_dir"]) / "run.json").read_text())["status"] == "pruned"
    assert trials["threshold"]["state"] == "fail"
    assert "threshold() missing 2 required positional arguments" in trials["threshold"]["reason"]
    assert "failed: " in done.stderr and "pruned at epoch 1" in done.stderr


def test_ctrl_c_stops_the_sweep_with_130_and_a_rerun_finishes_it(tmp_path):
    path = config(tmp_path, name="cc", trials=2, epochs=20, n=1000, batch=4)
    proc = start("sweep", path, "--output-dir", tmp_path, cwd=tmp_path)
    wait_for_epochs(tmp_path / "cc", 2)
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.time() - t0 < 15 and "run the same command again" in err
    left = status(tmp_path / "cc")["trials"]
    assert [t["state"] for t in left] == ["running"]
    assert json.loads((tmp_path / "cc" / "trials" / "0" / "run.json").read_text())["status"] == "interrupted"
    again = dlcli("sweep", path, "--output-dir", tmp_path, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "trial 0 was left running" in again.stderr
    found = status(tmp_path / "cc")["trials"]
    assert [(t["number"], t["state"]) for t in found] == [(0, "complete"), (1, "complete")]
    run = json.loads((tmp_path / "cc" / "trials" / "0" / "run.json").read_text())
    assert run["epochs_done"] == 20 and run["resumed"][0]["from_epoch"] >= 2  # continued from its checkpoint


def test_a_killed_worker_leaves_a_running_trial_the_next_run_continues(tmp_path):
    path = config(tmp_path, name="kw", trials=2, epochs=20, n=1000, batch=4)
    proc = start("sweep", path, "--output-dir", tmp_path, cwd=tmp_path)
    running = wait_for_epochs(tmp_path / "kw", 2)
    os.kill(running["pid"], signal.SIGKILL)  # the worker training the trial, not the sweep
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "worker 0 exited with -9" in err
    assert [t["state"] for t in status(tmp_path / "kw")["trials"]] == ["running"]
    again = dlcli("sweep", path, "--output-dir", tmp_path, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    found = status(tmp_path / "kw")["trials"]
    assert [(t["number"], t["state"]) for t in found] == [(0, "complete"), (1, "complete")]  # none lost, none twice
    assert json.loads((tmp_path / "kw" / "trials" / "0" / "run.json").read_text())["resumed"]


def test_an_sqlite_storage_url_is_used_and_recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    path = config(tmp_path, name="sq", trials=2, epochs=2)
    done = dlcli("sweep", path, "--storage", url, "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sweep_dir = tmp_path / "out" / "sq"
    assert json.loads((sweep_dir / "sweep.json").read_text())["storage"] == url
    assert not (sweep_dir / "study.journal").exists() and (tmp_path / "study.db").is_file()
    found = status(sweep_dir)
    assert found["storage"] == url and len(found["trials"]) == 2
    other = invoke("sweep", path, "--storage", f"sqlite:///{tmp_path / 'other.db'}", "--output-dir", tmp_path / "out")
    assert other.exit_code == 2 and "give the same --storage" in other.stderr


# -- refused before anything runs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("model.layers[0].units: {int: [4, 16]}", "model.layer[0].units: {int: [4, 16]}"),
         "xs.yaml:15:5: sweep.params.model.layer[0].units: unknown key 'layer' under model (did you mean 'layers'?)"),
        (("metric: val_accuracy", "metric: val_acuracy"),
         "xs.yaml:9:11: sweep.metric: 'val_acuracy' is not logged on the validation split (did you mean 'val_accuracy'?)"),
        (("{name: tpe, seed: 0}", "{name: tpee}"),
         "sweep.sampler.name: expected one of tpe, random, grid, gp, cmaes, qmc; got 'tpee' (did you mean 'tpe'?)"),
        (("pruner: none", "pruner: medain"), "sweep.pruner: expected one of median, hyperband"),
        (("{int: [4, 16]}", "{int: [16, 4]}"), "a range needs low < high; got [16, 4]"),
        (("{float: [1.0e-3, 1.0e-1], log: true}", "{float: [0.0, 1.0e-1], log: true}"), "log: true needs low > 0"),
        (("{int: [4, 16]}", "{int: [0, 16]}"), "the value 0 does not fit: model.layers[0].units: must be > 0; got 0"),
        (("validation_split: 0.2", "validation_split: 0.0"), "trials are compared on the validation split"),
        (("trials: 4", "timeout: soon"), "expected a duration such as 90s, 30m or 2h"),
    ],
)  # fmt: skip
def test_config_errors_are_located_one_liners_and_nothing_is_created(tmp_path, edit, expected):
    path = config(tmp_path)
    path.write_text(path.read_text().replace(*edit))
    result = invoke("sweep", path, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_sweep_json_errors_and_status_of_a_non_sweep(tmp_path):
    result = invoke("sweep", "status", tmp_path, "--json")
    assert result.exit_code == 2 and "no sweep.json" in json.loads(result.stdout)["error"]["message"]
    plain = tmp_path / "plain.yaml"
    plain.write_text("data: {source: synthetic, name: xor}\n")
    result = invoke("sweep", plain)
    assert result.exit_code == 2 and "no sweep: block" in result.stderr


def test_missing_extras_are_named(tmp_path, monkeypatch):
    path = config(tmp_path)
    drivers = ("psycopg", "psycopg2")  # either serves a plain postgresql:// URL
    for driver in drivers:
        monkeypatch.setitem(sys.modules, driver, None)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in drivers else real(name, *a))
    result = invoke("sweep", path, "--storage", "postgresql://u:secret@localhost/db", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2 and "pip install 'dlcli[postgres]'" in result.stderr
    assert "secret" not in result.stderr and "postgresql://u:***@localhost/db" in result.stderr  # never printed
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = invoke("sweep", path, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2 and "pip install 'dlcli[sweep]'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_train_ignores_the_sweep_block_and_says_so(tmp_path):
    path = config(tmp_path, epochs=1)
    result = invoke("train", path, "--output-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    assert "dlcli train ignores it" in result.stderr and "xs.yaml:8:" in result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    assert "sweep" not in yaml.safe_load((run / "config.yaml").read_text())


def test_the_example_sweep_config_is_valid():
    from dlcli.sweep.runner import check

    config = check(ROOT / "configs" / "digits_sweep.yaml", None)
    assert config.sweep.trials >= 10 and config.sweep.pruner.name == "median"


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("postgresql://u:secret@db.example:5432/s", "postgresql://u:***@db.example:5432/s"),
        ("postgresql+psycopg2://u:p%40ss@h/s", "postgresql+psycopg2://u:***@h/s"),
        ("postgresql://u@h/s", "postgresql://u@h/s"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_a_storage_url_is_printed_without_its_password(url, printed):
    from dlcli.log import without_password

    assert without_password(url) == printed


def test_a_plain_postgresql_url_names_the_installed_driver(monkeypatch):
    import importlib.util

    from dlcli.sweep import study

    installed = {"psycopg": None, "psycopg2": object()}  # only psycopg2, as on an older machine
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: installed.get(name))
    assert study._driver_url("postgresql://u@h/s") == "postgresql+psycopg2://u@h/s"
    assert study._driver_url("postgresql+psycopg://u@h/s") == "postgresql+psycopg://u@h/s"
