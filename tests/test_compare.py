"""``dlcli compare``: differing config keys as dotted paths, metrics, epochs, best epoch and times, for runs and
sweep trials; unfinished runs say their status; bad paths are one-line exit-2 errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dlcli.runs.compare import Compared, best_epoch, differing, flatten, pick_monitor, short_names, status, to_json
from tests.conftest import XOR_RUN, invoke, train_json

pytestmark = pytest.mark.slow  # multi-run: compare needs several runs

SWEEP = """\
sweep:
  metric: val_accuracy
  trials: 2
  sampler: {name: tpe, seed: 0}
  pruner: none
  params:
    optimizer.learning_rate: {float: [1.0e-3, 1.0e-1], log: true}
    model.layers[0].units: {int: [4, 16]}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two runs of the same config, one with a larger learning rate and a narrower first layer."""
    root = tmp_path_factory.mktemp("runs")
    config = root / "xs.yaml"
    config.write_text(XOR_RUN)
    first, _ = train_json(root / "out", config)
    second, _ = train_json(root / "out", config, "optimizer.learning_rate=0.05", "model.layers[0].units=4")
    return first, second


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A sweep of two trials of two epochs."""
    pytest.importorskip("optuna")
    root = tmp_path_factory.mktemp("sweep")
    config = root / "xs.yaml"
    config.write_text(XOR_RUN + SWEEP)
    result = invoke("sweep", config, "--output-dir", root / "out")
    assert result.exit_code == 0, result.output
    return root / "out" / "xs"


def compare_json(*paths) -> dict:
    result = invoke("compare", *paths, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_two_runs_show_only_the_keys_that_differ_and_their_test_metrics(runs):
    first, second = runs
    result = invoke("compare", first, second)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["config", first.name, second.name]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if line.strip()}
    assert rows["optimizer.learning_rate"] == ["0.01", "0.05"]
    assert rows["model.layers[0].units"] == ["8", "4"]
    assert "training.epochs" not in rows and "data.source" not in rows
    text = result.stdout
    for label in ("status", "test accuracy", "test loss", "epochs", "best epoch (val_loss, min)", "training seconds"):
        assert label in text


def test_json_shape(runs):
    first, second = runs
    out = compare_json(first, second)
    assert out["runs"] == [first.name, second.name]
    assert out["paths"] == [str(first), str(second)]
    assert out["status"] == ["complete", "complete"]
    assert out["config"] == {"optimizer.learning_rate": [0.01, 0.05], "model.layers[0].units": [8, 4]}
    assert set(out["metrics"]) == {"test"}
    assert len(out["metrics"]["test"]["accuracy"]) == 2
    assert out["epochs"] == [2, 2] and out["epochs_planned"] == [2, 2]
    assert out["monitor"] == "val_loss" and out["mode"] == "min"
    history = (first / "history.csv").read_text().splitlines()
    losses = [float(row.split(",")[-1]) for row in history[1:]]
    assert out["best_epoch"][0] == losses.index(min(losses)) + 1
    assert out["best_value"][0] == pytest.approx(min(losses))
    assert all(isinstance(s, float) and s > 0 for s in out["seconds"] + out["wall_seconds"])


def test_sweep_trials_compare_with_validation_metrics(sweep):
    trials = [sweep / "trials" / "0", sweep / "trials" / "1"]
    out = compare_json(*trials)
    assert out["runs"] == ["trials/0", "trials/1"]
    assert {"optimizer.learning_rate", "model.layers[0].units", "name"} <= set(out["config"])
    assert set(out["metrics"]["validation"]) == {"accuracy", "loss"}
    best = json.loads((sweep / "best" / "test_metrics.json").read_text())
    scored = out["metrics"]["test"]["accuracy"]
    assert scored[best["trial"]] == pytest.approx(best["metrics"]["accuracy"])
    assert scored[1 - best["trial"]] is None
    text = invoke("compare", *trials).stdout
    assert "validation accuracy" in text and text.splitlines()[0].split() == ["config", "trials/0", "trials/1"]


def test_a_run_and_a_trial_side_by_side(runs, sweep):
    out = compare_json(runs[0], sweep / "trials" / "0")
    assert out["config"]["name"] == ["xs", "xs-trial-0"]
    assert out["metrics"]["validation"]["accuracy"][0] is None


def test_an_interrupted_run_says_so_and_a_missing_key_shows_a_dash(runs, tmp_path):
    first, second = runs
    cut = shutil.copytree(second, tmp_path / second.name)
    state = json.loads((cut / "run.json").read_text())
    state.update(status="interrupted", epochs_done=1, timings_s={}, epoch_seconds=[0.5])
    (cut / "run.json").write_text(json.dumps(state))
    (cut / "history.csv").write_text("\n".join((cut / "history.csv").read_text().splitlines()[:2]) + "\n")
    (cut / "metrics.json").unlink()
    config = (cut / "config.yaml").read_text().replace("  noise: 0.1\n", "")
    (cut / "config.yaml").write_text(config)
    out = compare_json(first, cut)
    assert out["status"] == ["complete", "interrupted (1/2 epochs)"]
    assert out["config"]["data.noise"] == [0.1, None]
    assert out["best_epoch"][1] == 1 and out["seconds"][1] == 0.5
    assert out["metrics"]["test"]["accuracy"][1] is None
    text = invoke("compare", first, cut).stdout
    assert "interrupted (1/2 epochs)" in text
    noise = next(line for line in text.splitlines() if line.startswith("data.noise"))
    assert noise.split()[1:] == ["0.1", "-"]


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda tmp: tmp / "nope", "no such run directory"),
        (lambda tmp: (tmp / "file.txt", (tmp / "file.txt").write_text("x"))[0], "not a directory"),
        (lambda tmp: (tmp / "empty", (tmp / "empty").mkdir())[0], "not a dlcli run directory"),
        (lambda tmp: (tmp / "sw", (tmp / "sw" / "trials").mkdir(parents=True))[0], "compare its trials"),
        (lambda tmp: (tmp / "failed", (tmp / "failed").mkdir(), (tmp / "failed" / "run.json").write_text(
            '{"status": "failed"}'))[0], "no config.yaml (the run is failed)"),
    ],
)  # fmt: skip
def test_bad_paths_are_one_line_exit_2_naming_the_path(runs, tmp_path, make, expected):
    bad = make(tmp_path)
    result = invoke("compare", runs[0], bad)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert str(bad) in result.stderr and expected in result.stderr and "Traceback" not in result.stderr
    as_json = invoke("compare", runs[0], bad, "--json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.exit_code == 2 and expected in error["message"] and error["file"] == str(bad)


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_runs(runs, count):
    result = invoke("compare", *runs[:count])
    assert result.exit_code == 2 and "two or more run directories" in result.stderr
    as_json = invoke("compare", *runs[:count], "--json")
    assert json.loads(as_json.stdout)["error"]["exit_code"] == 2


def test_the_same_run_twice(runs):
    result = invoke("compare", runs[0], f"{runs[0]}/")
    assert result.exit_code == 2 and "given twice" in result.stderr


def test_flatten_and_differing():
    config = {"optimizer": {"learning_rate": 0.1}, "model": {"layers": [{"units": 4}, {"units": 2}]}, "metrics": ["a"]}
    assert flatten(config) == {
        "optimizer.learning_rate": 0.1,
        "model.layers[0].units": 4,
        "model.layers[1].units": 2,
        "metrics": ["a"],
    }
    other = {"optimizer.learning_rate": 0.1, "model.layers[0].units": 8, "metrics": ["a"]}
    assert differing([flatten(config), other]) == {"model.layers[0].units": [4, 8], "model.layers[1].units": [2, None]}
    third = {"optimizer.learning_rate": 0.1, "seed": 1}  # a key some runs lack goes after its predecessor
    assert list(differing([other, flatten(config), third])) == [
        "seed", "model.layers[0].units", "model.layers[1].units", "metrics"
    ]  # fmt: skip


def test_short_names_grow_until_unique():
    assert short_names([Path("a/runs/x"), Path("b/runs/x"), Path("s/trials/3")]) == ["a/runs/x", "b/runs/x", "trials/3"]
    assert short_names([Path("one/trials/0"), Path("two/trials/0")]) == ["one/trials/0", "two/trials/0"]


def run_with(history: dict, **config) -> Compared:
    return Compared(path=Path("r"), state={}, config=config, history=history)


def test_the_best_epoch_follows_early_stopping_then_val_loss_then_loss():
    watched = run_with(
        {"val_loss": [0.5, 0.4], "val_accuracy": [0.7, 0.6]}, **{"training.early_stopping.monitor": "val_accuracy"}
    )
    plain = run_with({"loss": [0.4, 0.3], "val_loss": [0.3, 0.2], "val_accuracy": [0.5, 0.9]})
    assert pick_monitor([watched, plain]) == ("val_accuracy", "max")
    assert best_epoch(watched.history["val_accuracy"], "max") == (1, 0.7)
    assert pick_monitor([plain, run_with({"val_loss": [1.0]})]) == ("val_loss", "min")
    assert pick_monitor([plain, run_with({"loss": [1.0]})]) == ("loss", "min")
    assert pick_monitor([run_with({}), run_with({})]) == (None, "min")
    assert best_epoch([float("nan"), 2.0, 1.0, 1.0], "min") == (3, 1.0)


def test_json_is_strict():
    assert json.loads(to_json({"metrics": {"test": {"loss": [float("nan"), 0.5]}}})) == {
        "metrics": {"test": {"loss": [None, 0.5]}}
    }


@pytest.mark.parametrize(
    "state, shown",
    [
        ({"status": "complete", "stopped_early": True}, "complete (stopped early)"),
        ({"status": "pruned", "pruned_at_epoch": 3, "epochs_done": 3, "epochs_planned": 9}, "pruned at epoch 3"),
        ({"status": "failed", "epochs_done": 1, "epochs_planned": 5}, "failed (1/5 epochs)"),
        ({"status": "running", "epochs_done": 0, "epochs_planned": 5}, "running (0/5 epochs)"),
    ],
)
def test_status_says_how_far_a_run_got(state, shown):
    assert status(state) == shown
