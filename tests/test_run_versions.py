"""A run directory works on its own, and keeps working: runs written by earlier dlcli versions load,
predict as they did and are upgraded to today's config language (``tests/fixtures/runs_v0``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from dlcli.config import upgrade
from dlcli.errors import ConfigError
from tests.conftest import ACROSS_MACHINES, CONFIGS, assert_same_metrics, assert_same_predictions, invoke, train_json

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runs_v0"
CHURN = "churn-v0-20261128-170005"
IRIS = "iris-v0-20261128-170011"


@pytest.fixture
def v0(tmp_path):
    """copy(name) -> a copy of a version-0 run directory, away from the repository."""

    def copy(name: str) -> Path:
        target = tmp_path / "shipped" / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


def test_the_fixtures_are_version_0():
    for name in (CHURN, IRIS):
        saved = yaml.safe_load((FIXTURES / name / "config.yaml").read_text())
        assert "config_version" not in saved
        assert saved["data"]["unseen"] == "oov"  # v0 wrote every data key for every source


@pytest.mark.parametrize(("name", "rows"), [(CHURN, CONFIGS / "data" / "churn.csv"), (IRIS, FIXTURES / "iris_x.npz")])
def test_a_version_0_run_predicts_the_same_classes_and_probabilities_as_it_did(v0, tmp_path, name, rows):
    run = v0(name)
    out = tmp_path / "p.csv"
    result = invoke("predict", run, rows, "--proba", "-o", out)
    assert result.exit_code == 0, result.output
    assert_same_predictions(out.read_text(), (FIXTURES / f"{name}.predictions.csv").read_text())


def test_predictions_from_another_machine_may_differ_in_float_noise_but_never_in_class_or_shape():
    want = "prediction,p_no,p_yes\nno,0.770877,0.229123\nyes,0.1,0.9\n"
    assert_same_predictions("prediction,p_no,p_yes\nno,0.770876,0.229124\nyes,0.1,0.9\n", want)  # the EPYC case
    for wrong in (
        "prediction,p_no,p_yes\nyes,0.770877,0.229123\nyes,0.1,0.9\n",  # another class
        "prediction,p_no,p_yes\nno,0.7709,0.2291\nyes,0.1,0.9\n",  # 2.3e-5 off: not float noise
        "prediction,p_no,p_yes\nno,0.770877,0.229123\n",  # a row lost
        "prediction,p_yes,p_no\nno,0.229123,0.770877\nyes,0.9,0.1\n",  # columns swapped
    ):
        with pytest.raises(AssertionError):
            assert_same_predictions(wrong, want)
    with pytest.raises(AssertionError):  # numeric class ids are labels too
        assert_same_predictions("prediction,p\n1,0.5\n", "prediction,p\n2,0.5\n")
    assert_same_predictions("prediction\n3.1400001\n", "prediction\n3.14\n")  # a regression value is a number


def test_a_version_0_config_is_upgraded_when_the_run_loads(v0):
    from dlcli.runs.saved import open_run

    run = open_run(v0(IRIS))
    dumped = run.config.dump()
    assert dumped["config_version"] == upgrade.CONFIG_VERSION
    assert "unseen" not in dumped["data"] and "streaming" not in dumped["data"]  # sklearn takes neither
    assert (run.config.task, run.config.output.units, run.config.loss.name) == (
        "multiclass",
        3,
        "sparse_categorical_crossentropy",
    )
    churn = open_run(v0(CHURN))
    assert churn.config.data.unseen == "oov" and churn.config.data.embedding == {"city": 3}
    assert churn.inputs.categorical == ["city", "plan"] and churn.inputs.fill is not None


def test_a_version_0_run_whose_data_is_still_there_evaluates_as_it_did(v0):
    run = v0(IRIS)
    result = invoke("evaluate", run, "--json")
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "metrics.json").read_text())  # written on another machine
    assert_same_metrics(json.loads(result.stdout)["metrics"], saved, abs_tol=ACROSS_MACHINES)


def test_evaluate_says_when_the_runs_data_is_gone_and_how_to_score_other_data(v0):
    run = v0(CHURN)
    gone = run.parent / "gone" / "churn.csv"  # where it was trained: /tmp/v0src, gone too (but not guaranteed)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("/tmp/v0src/churn.csv", str(gone)))
    result = invoke("evaluate", run)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert f"{gone} is gone" in line and f"dlcli evaluate {run} --data FILE" in line
    assert "Traceback" not in result.output


def test_evaluate_scores_every_row_of_a_file_with_the_training_columns(v0):
    run = v0(CHURN)
    result = invoke("evaluate", run, "--data", CONFIGS / "data" / "churn.csv", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert sum(c["support"] for c in metrics["per_class"].values()) == 600
    assert 0.5 < metrics["accuracy"] <= 1.0


def test_report_and_runs_work_on_version_0_runs(v0):
    run = v0(CHURN)
    v0(IRIS)
    result = invoke("report", run)
    assert result.exit_code == 0, result.output
    assert (run / "plots" / "learning_curves.png").is_file() and (run / "plots" / "confusion_matrix.png").is_file()
    listed = invoke("runs", run.parent, "--json")
    assert [r["run"] for r in json.loads(listed.stdout)] == [CHURN, IRIS]


# -- the moved run directory (the defect this layout fixes) -----------------------------------------


def test_a_run_directory_moved_away_from_its_data_still_predicts(tmp_path, monkeypatch):
    work = tmp_path / "project"
    (work / "data").mkdir(parents=True)
    shutil.copy(CONFIGS / "data" / "churn.csv", work / "data" / "churn.csv")
    config = work / "churn.yaml"
    config.write_text((CONFIGS / "churn_csv.yaml").read_text())
    monkeypatch.chdir(work)
    run, _ = train_json(work / "runs", config, "training.epochs=3", "training.plots=false")
    before = invoke("predict", run, CONFIGS / "data" / "churn.csv", "--proba")
    assert before.exit_code == 0, before.output

    shipped = tmp_path / "elsewhere" / run.name
    shutil.copytree(run, shipped)
    shutil.rmtree(work)  # the training file, the config and the original run are gone
    monkeypatch.chdir(tmp_path)

    after = invoke("predict", shipped, CONFIGS / "data" / "churn.csv", "--proba")
    assert after.exit_code == 0, after.output
    assert after.stdout == before.stdout
    gone = invoke("evaluate", shipped)
    assert gone.exit_code == 2 and "--data FILE" in gone.stderr and len(gone.stderr.splitlines()) == 1
    scored = invoke("evaluate", shipped, "--data", CONFIGS / "data" / "churn.csv", "--json")
    assert scored.exit_code == 0, scored.output


# -- the upgrade function ------------------------------------------------------------------------------


def test_a_key_renamed_in_a_later_version_is_upgraded_not_rejected(monkeypatch):
    def rename(data: dict) -> dict:  # a pretend version 2 that renamed training.epochs to training.max_epochs
        training = data.get("training", {})
        if "epochs" in training:
            training["max_epochs"] = training.pop("epochs")
        return data

    later = upgrade.CONFIG_VERSION + 1
    monkeypatch.setattr(upgrade, "CONFIG_VERSION", later)
    monkeypatch.setitem(upgrade.STEPS, later - 1, rename)
    old = {"config_version": later - 1, "data": {"source": "sklearn", "name": "iris"}, "training": {"epochs": 3}}
    assert upgrade.upgrade(old, where="c.yaml") == {
        "config_version": later,
        "data": {"source": "sklearn", "name": "iris"},
        "training": {"max_epochs": 3},
    }
    v0 = {"data": {"source": "sklearn", "name": "iris", "unseen": "oov"}, "training": {"epochs": 3}}
    assert upgrade.upgrade(v0, where="c.yaml", assumed=0)["training"] == {"max_epochs": 3}


@pytest.mark.parametrize(
    ("version", "fragment"),
    [(99, "99 was written by a newer dlcli"), ("one", "expected a whole number >= 0; got 'one'"), (-1, ">= 0")],
)
def test_a_config_version_dlcli_cannot_read_is_a_located_error(write, version, fragment):
    path = write("c.yaml", f"config_version: {version}\ndata: {{source: sklearn, name: iris}}\n")
    result = invoke("validate", path)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{path}:1:17: config_version: ") and fragment in line


def test_a_user_config_is_in_todays_language_unless_it_says_otherwise(write):
    from dlcli.config.load import load_config

    text = "data: {source: sklearn, name: iris, unseen: oov}\n"
    with pytest.raises(ConfigError, match="data.unseen: not used by source 'sklearn'; remove it"):
        load_config(write("new.yaml", text))
    old = load_config(write("old.yaml", "config_version: 0\n" + text))
    assert old.config_version == upgrade.CONFIG_VERSION and "unseen" not in old.dump()["data"]
    assert load_config(write("now.yaml", "config_version: 1\ndata: {source: sklearn, name: iris}\n")).seed == 0


def test_a_saved_config_of_version_0_trains_again_as_its_header_promises(tmp_path):
    saved = FIXTURES / IRIS / "config.yaml"
    assert saved.read_text().startswith("# Resolved by dlcli")
    result = invoke("validate", saved)
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(invoke("config", "show", saved).stdout)
    assert shown["config_version"] == upgrade.CONFIG_VERSION and "unseen" not in shown["data"]


def test_version_0_keys_it_refused_stay_refused():
    v0 = {"data": {"source": "sklearn", "name": "iris", "path": "x.csv", "unseen": "oov", "categorical": ["a"]}}
    assert upgrade.upgrade(v0, where="c.yaml", assumed=0)["data"] == {
        "source": "sklearn",
        "name": "iris",
        "path": "x.csv",
        "scale_target": False,  # version 2's default (auto) would change what a version-1 config trains
        "numeric": "standard",  # version 3's default (auto) may scale robustly; version 2 standardized
        "missing": "error",  # version 3 fills holes for the recommended network; version 2 refused them
    }


def test_a_run_config_set_back_to_auto_by_hand_resolves_with_the_runs_own_facts(v0, tmp_path):
    run = v0(IRIS)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("loss: sparse_categorical_crossentropy", "loss: auto"))
    out = tmp_path / "p.csv"
    result = invoke("predict", run, FIXTURES / "iris_x.npz", "--proba", "-o", out)
    assert result.exit_code == 0, result.output
    assert_same_predictions(out.read_text(), (FIXTURES / f"{IRIS}.predictions.csv").read_text())


def test_the_data_gone_hint_fits_the_source(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(60, 3)).astype("float32"))
    np.save(tmp_path / "y.npy", rng.integers(0, 2, 60))
    config = tmp_path / "pair.yaml"
    config.write_text("data: {source: npy, path: x.npy, y_path: y.npy}\ntraining: {epochs: 1, plots: false}\n")
    run, _ = train_json(tmp_path / "runs", config)
    (tmp_path / "y.npy").unlink()
    result = invoke("evaluate", run)
    assert result.exit_code == 2
    assert f"y.npy is gone; score other data with: dlcli evaluate {run} --data CONFIG.yaml" in result.stderr
