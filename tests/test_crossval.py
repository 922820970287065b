"""k-fold cross-validation: folds dealt out right, one parent run owning its folds, out-of-fold results, the fold
ensemble as model.keras (predict, evaluate, serve's loader, export), resume at the fold, sweeps on cv_ metrics."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import invoke, train_json

CITIES = ["paris", "lyon", "nice", "lille"]


def table_csv(path: Path, n: int = 150, *, regression: bool = False) -> Path:
    """Numbers with holes, a city (embedded) with a category on two rows only, a plan (one-hot), a customer id
    shared by three rows, and churn (or spend)."""
    rng = np.random.default_rng(3)
    lines = ["age,income,city,plan,customer," + ("spend" if regression else "churn")]
    for i in range(n):
        age, income = int(rng.integers(18, 80)), rng.normal(50, 15)
        city = "rareville" if i in (5, 77) else CITIES[i % 4]
        plan = ["basic", "plus", "pro"][int(rng.integers(3))]
        if regression:
            target = f"{income * 2 + age * 0.5 + (plan == 'pro') * 20 + rng.normal(0, 3):.3f}"
        else:
            target = "yes" if (age < 40) + (plan == "basic") + (city == "nice") >= 2 else "no"
        cells = [str(age), "" if i % 9 == 4 else f"{income:.2f}", city, plan, f"c{i // 3}", target]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def config(root: Path, *, folds: int = 3, extra: str = "", regression: bool = False, data_extra: str = "") -> Path:
    table_csv(root / "t.csv", regression=regression)
    target = "spend" if regression else "churn"
    (root / "c.yaml").write_text(
        f"name: cv\nseed: 0\n"
        f"data: {{path: t.csv, target: {target}, exclude: [customer], missing: median, embedding: {{city: 2}}{data_extra}}}\n"
        "model: {layers: [{units: 16, activation: relu}]}\n"
        f"training: {{epochs: 3, plots: false, cross_validation: {{folds: {folds}{extra}}}}}\n"
    )
    return root / "c.yaml"


# -- folds dealt out ---------------------------------------------------------------------------------


def test_folds_cover_every_row_once_stratified_and_seeded():
    from dlcli.data.splits import folds

    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    which = folds(y, 5, seed=1, stratify=True)
    assert sorted(np.bincount(which)) == [20] * 5
    for c in range(3):  # each class spread evenly: 12, 6 and 2 rows of it per fold
        assert set(np.bincount(which[y == c], minlength=5)) == {len(y[y == c]) // 5}
    assert (folds(y, 5, seed=1, stratify=True) == which).all()
    assert not (folds(y, 5, seed=2, stratify=True) == which).all()


def test_a_group_stays_in_one_fold_and_folds_stay_balanced():
    from dlcli.data.splits import folds

    rng = np.random.default_rng(0)
    groups = np.array([f"g{g}" for g in rng.integers(0, 40, size=400)])
    which = folds(np.zeros(400, dtype=int), 4, seed=0, stratify=False, groups=groups)
    for g in np.unique(groups):
        assert len(set(which[groups == g])) == 1
    sizes = np.bincount(which)
    assert sizes.max() - sizes.min() <= max(np.unique(groups, return_counts=True)[1])


def test_too_few_groups_or_rows_for_the_folds_is_a_data_error():
    from dlcli.data.splits import folds
    from dlcli.errors import DataError

    with pytest.raises(DataError, match="2 group\\(s\\) cannot fill 3 folds"):
        folds(np.zeros(6, dtype=int), 3, seed=0, stratify=False, groups=np.array(list("aabbab")))
    with pytest.raises(DataError, match="4 training rows cannot fill 5 folds"):
        folds(np.zeros(4, dtype=int), 5, seed=0, stratify=False)


# -- config errors: exit 2, located ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ("cross_validation: {folds: 1}", "folds"),
        ("{cross_validation: {folds: 3}, distribution: mirrored}", "does not run with distribution: mirrored"),
        ("cross_validation: {folds: 3, group: churn}", "'churn' is the target"),
    ],
)
def test_bad_cross_validation_settings_are_located_errors(tmp_path, training, message):
    table_csv(tmp_path / "t.csv")
    body = training if training.startswith("{") else "{" + training + "}"
    (tmp_path / "c.yaml").write_text(f"data: {{path: t.csv, target: churn}}\ntraining: {body}\n")
    result = invoke("validate", tmp_path / "c.yaml")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "c.yaml:" in result.stderr


def test_a_group_column_not_in_the_file_names_the_closest(tmp_path):
    table_csv(tmp_path / "t.csv")
    (tmp_path / "c.yaml").write_text(
        "data: {path: t.csv, target: churn}\ntraining: {cross_validation: {folds: 3, group: custommer}}\n"
    )
    result = invoke("train", tmp_path / "c.yaml", "--output-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "no column 'custommer'" in result.stderr and "did you mean 'customer'" in result.stderr
    assert "Traceback" not in result.output


def test_a_group_on_a_named_dataset_is_refused(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "data: {source: sklearn, name: iris}\ntraining: {cross_validation: {folds: 3, group: id}}\n"
    )
    result = invoke("validate", tmp_path / "c.yaml")
    assert result.exit_code == 2 and "has no columns; remove group" in result.stderr


def test_streaming_with_cross_validation_is_refused(tmp_path):
    table_csv(tmp_path / "t.csv")
    (tmp_path / "c.yaml").write_text(
        "data: {path: t.csv, target: churn, streaming: true}\ntraining: {cross_validation: {folds: 3}}\n"
    )
    result = invoke("validate", tmp_path / "c.yaml")
    assert result.exit_code == 2 and "needs the rows in memory" in result.stderr


# -- a cross-validated run end to end ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv")
    run, metrics = train_json(root / "runs", config(root, extra=", group: customer"))
    return root, run, metrics


@pytest.mark.slow
def test_one_parent_owns_a_complete_run_per_fold(cv_run):
    root, run, metrics = cv_run
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "complete" and state["cross_validation"] == {"folds": 3} and state["folds_done"] == 3
    for i in range(3):
        fold = json.loads((run / "folds" / str(i) / "run.json").read_text())
        assert fold["status"] == "complete" and fold["fold"] == {"index": i, "of": 3}
    for name in ("config.yaml", "labels.json", "environment.json", "metrics.json", "model.keras",
                 "cross_validation.json", "oof_predictions.csv"):  # fmt: skip
        assert (run / name).exists(), name


@pytest.mark.slow
def test_out_of_fold_rows_are_every_training_row_once_scored_by_the_network_that_never_saw_them(cv_run):
    root, run, metrics = cv_run
    oof = pd.read_csv(run / "oof_predictions.csv")
    table = pd.read_csv(root / "t.csv")
    summary = json.loads((run / "cross_validation.json").read_text())
    test_rows = json.loads((run / "environment.json").read_text())["data"]["splits"]["test"]
    assert len(oof) == len(table) - test_rows and oof["row"].is_unique
    assert oof["target"].tolist() == table["churn"].iloc[oof["row"]].tolist()
    # groups: one customer's rows are all in one fold
    customers = table["customer"].iloc[oof["row"]].to_numpy()
    assert all(oof["fold"][customers == c].nunique() == 1 for c in np.unique(customers))
    # the pooled accuracy is that of the file; each fold's metrics.json scores its own rows
    assert summary["out_of_fold"]["accuracy"] == pytest.approx((oof["target"] == oof["prediction"]).mean())
    for i in range(3):
        own = oof[oof["fold"] == i]
        fold_metrics = json.loads((run / "folds" / str(i) / "metrics.json").read_text())
        assert fold_metrics["accuracy"] == pytest.approx((own["target"] == own["prediction"]).mean())
        assert summary["per_fold"][i]["accuracy"] == fold_metrics["accuracy"]
    accuracies = [m["accuracy"] for m in summary["per_fold"]]
    assert metrics["cv_accuracy"] == pytest.approx(np.mean(accuracies))
    assert metrics["cv_accuracy_std"] == pytest.approx(np.std(accuracies))
    np.testing.assert_allclose(oof[["p_no", "p_yes"]].sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_model_keras_averages_the_fold_networks(cv_run):
    """On rows without holes (a hole is filled with the whole training data's median first, where a fold alone
    would use its own)."""
    import dlcli

    root, run, metrics = cv_run
    rows = pd.read_csv(root / "t.csv").drop(columns=["churn", "customer"]).dropna().head(40)
    ensemble = dlcli.load(run).predict(rows, proba=True)
    folds = [dlcli.load(run / "folds" / str(i)).predict(rows, proba=True) for i in range(3)]
    mean = sum(f[["p_no", "p_yes"]].to_numpy() for f in folds) / 3
    np.testing.assert_allclose(ensemble[["p_no", "p_yes"]].to_numpy(), mean, atol=1e-6)


@pytest.mark.slow
def test_the_test_split_is_scored_once_by_the_ensemble_and_evaluate_agrees(cv_run):
    root, run, metrics = cv_run
    result = invoke("evaluate", run, "--json")
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)["metrics"]
    for key in ("loss", "accuracy"):
        assert again[key] == pytest.approx(metrics[key], abs=1e-6)
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]


@pytest.mark.slow
def test_predict_and_report_read_the_parent_as_any_run(cv_run, tmp_path):
    root, run, metrics = cv_run
    out = tmp_path / "p.csv"
    result = invoke("predict", run, root / "t.csv", "-o", out, "--proba")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 150
    assert invoke("report", run, "--html").exit_code == 0
    assert (run / "report.html").exists()


@pytest.mark.slow
def test_the_ensemble_exports_to_onnx_with_each_folds_own_vocabulary(cv_run, tmp_path):
    """'rareville' is on two rows, so some fold never saw it: its lookup has another vocabulary than the run's,
    and the exported indices are translated for it (the check compares with predict in a fresh process)."""
    root, run, metrics = cv_run
    vocabularies = []
    for i in range(3):
        data = json.loads((run / "folds" / str(i) / "environment.json").read_text())["data"]
        vocabularies.append(data["vocab"]["city"])
    assert any("rareville" not in v for v in vocabularies)
    result = invoke("export", run, "--format", "onnx", "-o", tmp_path / "onnx")
    assert result.exit_code == 0, result.output
    check = json.loads((tmp_path / "onnx" / "export.json").read_text())["check"]
    assert check["passed"] and check["max_abs_difference_overall"] <= 1e-5


@pytest.mark.slow
def test_a_regression_run_reports_cv_r2_and_out_of_fold_values(tmp_path):
    run, metrics = train_json(tmp_path / "runs", config(tmp_path, regression=True, folds=2))
    oof = pd.read_csv(run / "oof_predictions.csv")
    assert list(oof.columns) == ["row", "fold", "target", "prediction"]
    summary = json.loads((run / "cross_validation.json").read_text())
    err = oof["prediction"] - oof["target"]
    r2 = 1 - (err**2).sum() / ((oof["target"] - oof["target"].mean()) ** 2).sum()
    assert summary["out_of_fold"]["r2"] == pytest.approx(r2, abs=1e-4)
    assert {"cv_r2", "cv_r2_std", "cv_mae", "r2"} <= set(metrics)


# -- resume at the fold -------------------------------------------------------------------------------------


@pytest.fixture
def interrupt_fold(monkeypatch):
    """interrupt_fold(n): SIGINT during epoch 2 of the n-th fold (0-based) this process trains."""
    from dlcli.training.callbacks import StopOnSignal

    original = StopOnSignal.on_train_batch_end
    seen = []

    def arm(n: int):
        def patched(self, batch, logs=None):
            if self.epoch == 1 and batch == 0:
                seen.append(True)
                if len(seen) == n + 1:
                    os.kill(os.getpid(), signal.SIGINT)
                    deadline = time.monotonic() + 10
                    while not self.stop and time.monotonic() < deadline:
                        time.sleep(0.001)
            return original(self, batch, logs)

        monkeypatch.setattr(StopOnSignal, "on_train_batch_end", patched)

    return arm


@pytest.mark.slow
def test_resume_keeps_complete_folds_resumes_the_stopped_one_and_matches_an_unbroken_run(tmp_path, interrupt_fold):
    cfg = config(tmp_path, data_extra=", validation_split: 0.2")
    # no training.deterministic: TensorFlow's op determinism, once on, stays on for the rest of this process
    whole, whole_metrics = train_json(tmp_path / "whole", cfg)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupt_fold(1)
    result = invoke("train", cfg, "--output-dir", tmp_path / "broken")
    assert result.exit_code == 130 or result.exit_code != 0
    broken = next((tmp_path / "broken").iterdir())
    assert json.loads((broken / "run.json").read_text())["status"] == "interrupted"
    assert json.loads((broken / "folds/0/run.json").read_text())["status"] == "complete"
    assert json.loads((broken / "folds/1/run.json").read_text())["status"] == "interrupted"
    assert not (broken / "folds/2").exists()
    assert f"dlcli train --resume {broken}" in result.stderr and result.stderr.count("--resume") == 1
    assert "interrupted in fold 2/3" in result.stderr
    # the data changed since: resuming would train the other folds on other rows
    import shutil

    shutil.copytree(broken, tmp_path / "copy")
    original = (tmp_path / "t.csv").read_text()
    (tmp_path / "t.csv").write_text(original.replace(",c0,", ",c0x,", 1))
    refused = invoke("train", "--resume", tmp_path / "copy")
    assert refused.exit_code == 2 and "changed since the run started" in refused.stderr
    (tmp_path / "t.csv").write_text(original)
    first = (broken / "folds/0/model.keras").stat().st_mtime_ns
    resumed = invoke("train", "--resume", broken, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert "fold 1/3: complete" in resumed.stderr + resumed.stdout
    assert (broken / "folds/0/model.keras").stat().st_mtime_ns == first
    metrics = json.loads(resumed.stdout)["metrics"]
    for key in ("accuracy", "cv_accuracy", "cv_loss"):
        assert metrics[key] == pytest.approx(whole_metrics[key], abs=1e-6), key
    assert (broken / "oof_predictions.csv").read_text() == (whole / "oof_predictions.csv").read_text()


def test_a_complete_parent_is_not_resumed(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": "complete", "cross_validation": {"folds": 3}}))
    result = invoke("train", "--resume", run)
    assert result.exit_code == 2 and "already complete" in result.stderr


# -- sweeps on the cross-validated metric ---------------------------------------------------------------------


def test_a_sweep_with_cross_validation_needs_a_cv_metric(tmp_path):
    cfg = config(tmp_path)
    sweep = "sweep: {metric: val_accuracy, trials: 2, params: {optimizer.learning_rate: {float: [0.001, 0.01]}}}\n"
    cfg.write_text(cfg.read_text() + sweep)
    result = invoke("sweep", cfg, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()
    assert (
        "c.yaml:" in result.stderr and "a cv_ metric" in result.stderr and "did you mean 'cv_accuracy'" in result.stderr
    )


def test_a_cv_metric_without_cross_validation_is_refused(tmp_path):
    table_csv(tmp_path / "t.csv")
    (tmp_path / "c.yaml").write_text(
        "data: {path: t.csv, target: churn}\n"
        "sweep: {metric: cv_accuracy, trials: 2, params: {optimizer.learning_rate: {float: [0.001, 0.01]}}}\n"
    )
    result = invoke("sweep", tmp_path / "c.yaml", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2 and "has no training.cross_validation" in result.stderr


@pytest.mark.slow
def test_a_sweep_ranks_trials_by_the_cross_validated_metric(tmp_path):
    cfg = config(tmp_path, folds=2)
    cfg.write_text(
        cfg.read_text()
        + "sweep: {metric: cv_accuracy, trials: 2, params: {optimizer.learning_rate: {float: [0.001, 0.01]}}}\n"
    )
    result = invoke("sweep", cfg, "--output-dir", tmp_path / "sweeps", "--workers", "1")
    assert result.exit_code == 0, result.output
    sweep_dir = next((tmp_path / "sweeps").iterdir())
    board = json.loads((sweep_dir / "leaderboard.json").read_text())
    assert [t["state"] for t in board] == ["complete", "complete"]
    for entry in board:
        trial = Path(entry["run_dir"])
        metrics = json.loads((trial / "metrics.json").read_text())
        assert "accuracy" not in metrics  # the test split waits for the best trial
        assert entry["value"] == metrics["cv_accuracy"]
        assert (trial / "folds" / "1" / "model.keras").exists()
    assert board[0]["value"] >= board[1]["value"]
    best = json.loads((sweep_dir / "best" / "test_metrics.json").read_text())
    assert best["trial"] == board[0]["number"] and "accuracy" in best["metrics"]


@pytest.mark.slow
def test_serve_answers_with_the_ensembles_predictions(cv_run):
    from fastapi.testclient import TestClient

    import dlcli
    from dlcli.serve import create_app

    root, run, metrics = cv_run
    frame = pd.read_csv(root / "t.csv").drop(columns=["churn", "customer"]).head(12)
    rows = json.loads(frame.to_json(orient="records"))
    with TestClient(create_app(run, max_rows=50)) as client:
        got = client.post("/v1/predict", json={"rows": rows, "proba": True})
    assert got.status_code == 200, got.text
    want = dlcli.load(run).predict(frame, proba=True)
    assert got.json()["predictions"] == want["prediction"].tolist()
    np.testing.assert_allclose([p["yes"] for p in got.json()["probabilities"]], want["p_yes"], atol=1e-6)


@pytest.mark.slow
def test_train_prints_the_fold_table_before_the_test_metrics_and_the_run_last(tmp_path):
    cfg = config(tmp_path, folds=2)
    shown = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--set", "training.epochs=1")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.index("cross-validation, 2 folds") < out.index("test metrics:")
    assert (
        "folds: mean ± std" in out and "out of fold" in out and out.strip().splitlines()[-1].startswith(str(tmp_path))
    )
    quiet = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--set", "training.epochs=1", "--quiet")
    assert quiet.exit_code == 0 and "cross-validation" not in quiet.stdout
    assert len(quiet.stdout.strip().splitlines()) == 1
    assert quiet.stderr.count("missing values filled") == 1  # said once, not once per fold
