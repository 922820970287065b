"""dlcli.load(run): predict and evaluate from Python; and dlcli predict on real files (--keep, formats, bad rows)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CONFIGS, invoke, train_json
from tests.test_raw_model import holed_churn

FEATURES = ["tenure_months", "monthly_fee", "city", "plan", "support_calls"]


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    data = holed_churn(tmp / "churn.csv")
    config = tmp / "churn.yaml"
    config.write_text(
        "name: churn\ndata: {path: churn.csv, target: churn, missing: mean}\n"
        "model: {layers: [{units: 8}]}\ntraining: {epochs: 3, plots: false}\n"
    )
    run, metrics = train_json(tmp / "runs", config)
    return run, data, metrics


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """iris from CSV with data.missing: error: a hole cannot be predicted."""
    return train_json(tmp_path_factory.mktemp("strict"), CONFIGS / "iris_csv.yaml", "training.epochs=2")[0]


@pytest.mark.slow  # multi-process: a fresh Python shows what importing dlcli imports
def test_import_dlcli_is_light_and_load_is_too(churn):
    run, _, _ = churn
    code = f"import sys, dlcli; r = dlcli.load({str(run)!r}); r.labels; r.metrics; r.config; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_every_shape_of_rows_gives_the_same_predictions(churn):
    import dlcli

    run_dir, data, metrics = churn
    run = dlcli.load(run_dir)
    frame = pd.read_csv(data)
    by_frame = run.predict(frame, proba=True)
    assert list(by_frame.columns) == ["prediction", "p_no", "p_yes"] and len(by_frame) == len(frame)
    by_path = run.predict(str(data), proba=True)
    by_dict = run.predict({c: frame[c].tolist() for c in FEATURES}, proba=True)
    by_rows = run.predict(frame[FEATURES].head(5).to_dict("records"), proba=True)
    pd.testing.assert_frame_equal(by_frame, by_path)
    pd.testing.assert_frame_equal(by_frame, by_dict)
    pd.testing.assert_frame_equal(by_frame.head(5), by_rows)
    one = run.predict(frame[FEATURES].iloc[0].to_dict())
    assert one["prediction"].tolist() == by_frame["prediction"].head(1).tolist()
    assert run.labels == ["no", "yes"] and run.task == "binary" and run.features == FEATURES
    assert run.metrics["accuracy"] == metrics["accuracy"] and run.config["data"]["target"] == "churn"


def test_evaluate_on_a_frame_matches_the_cli_on_the_file(churn):
    import dlcli

    run_dir, data, _ = churn
    from_frame = dlcli.load(run_dir).evaluate(pd.read_csv(data))
    result = invoke("evaluate", run_dir, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    from_file = json.loads(result.stdout)["metrics"]
    assert from_frame["accuracy"] == pytest.approx(from_file["accuracy"])
    assert from_frame["loss"] == pytest.approx(from_file["loss"], abs=1e-6)


def test_bad_rows_raise_with_row_and_column_or_are_skipped(churn):
    import dlcli

    run = dlcli.load(churn[0])
    rows = [
        {"tenure_months": 3, "monthly_fee": 20.5, "city": "nice", "plan": "pro", "support_calls": 1},
        {"tenure_months": "many", "monthly_fee": 20.5, "city": "nice", "plan": "pro", "support_calls": 1},
    ]
    with pytest.raises(dlcli.DataError, match=r"column 'tenure_months', row 1: 'many' is not a number.*skip_bad_rows"):
        run.predict(rows)
    with pytest.raises(dlcli.DataError, match="missing column.*monthly_fee"):
        run.predict([{k: v for k, v in rows[0].items() if k != "monthly_fee"}])
    out = run.predict(rows, skip_bad_rows=True, proba=True)
    assert out["error"].tolist() == ["", "column 'tenure_months': 'many' is not a number"]
    assert out["prediction"].iloc[0] in ("no", "yes") and pd.isna(out["prediction"].iloc[1])
    assert np.isnan(out["p_yes"].iloc[1])
    with pytest.raises(dlcli.DataError, match="cannot read rows from a int"):
        run.predict(3)


def test_predict_keeps_ids_as_written_and_names_ignored_columns(churn, tmp_path):
    run, data, _ = churn
    frame = pd.read_csv(data).head(4)
    frame.insert(0, "id", ["007", "008", "009", "010"])
    frame["note"] = "x"
    frame.to_csv(tmp_path / "new.csv", index=False)
    result = invoke("predict", run, tmp_path / "new.csv", "--keep", "id")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "id,prediction" and [line.split(",")[0] for line in lines[1:]] == ["007", "008", "009", "010"]
    assert "ignoring column(s) note: not features of the model" in result.stderr
    result = invoke("predict", run, tmp_path / "new.csv", "--keep", "nope")
    assert result.exit_code == 2 and "no column(s) nope to --keep" in result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_predict_writes_the_format_its_extension_names(churn, tmp_path, suffix):
    run, data, _ = churn
    out = tmp_path / f"p{suffix}"
    result = invoke("predict", run, data, "--proba", "-o", out)
    assert result.exit_code == 0, result.output
    read = {
        ".csv": pd.read_csv,
        ".tsv": lambda p: pd.read_csv(p, sep="\t"),
        ".parquet": pd.read_parquet,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }[suffix](out)
    assert list(read.columns) == ["prediction", "p_no", "p_yes"] and len(read) == 600
    assert set(read["prediction"]) <= {"no", "yes"}
    assert np.allclose(read["p_no"] + read["p_yes"], 1, atol=1e-5)
    assert not list(tmp_path.glob(".*tmp*"))


def test_predict_refuses_an_output_a_reader_would_misparse(churn, tmp_path):
    run, data, _ = churn
    result = invoke("predict", run, data, "-o", tmp_path / "p.json")
    assert result.exit_code == 2 and ".jsonl (JSON lines)" in result.stderr
    assert not (tmp_path / "p.json").exists()


def test_a_bad_row_stops_with_line_and_column_or_is_skipped(strict, tmp_path):
    (tmp_path / "x.csv").write_text(
        "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n1,,3,4\n6,3,abc,2\n"
    )
    result = invoke("predict", strict, tmp_path / "x.csv")
    assert result.exit_code == 2
    assert "x.csv: column 'sepal_width' has missing values at line 3 (2 row(s) like it)" in result.stderr
    assert "--skip-bad-rows" in result.stderr
    result = invoke("predict", strict, tmp_path / "x.csv", "--skip-bad-rows", "-o", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    assert "2 row(s) could not be predicted" in result.stderr and "1 predictions written" in result.stderr
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "prediction,error"
    assert lines[1].endswith(",") and lines[1].split(",")[0] in ("setosa", "versicolor", "virginica")
    assert lines[2] == ",column 'sepal_width': missing value"
    assert lines[3] == ",column 'petal_length': 'abc' is not a number"


def test_a_run_without_a_target_name_evaluates_rows_with_target_given(tmp_path):
    """scikit-learn's iris: column names with spaces and brackets, classes by name, the target named by the caller."""
    import sklearn.datasets

    import dlcli

    run_dir, metrics = train_json(tmp_path, CONFIGS / "iris.yaml", "training.epochs=3", "training.plots=false")
    run = dlcli.load(run_dir)
    bunch = sklearn.datasets.load_iris(as_frame=True)
    frame = bunch.frame.assign(target=[bunch.target_names[i] for i in bunch.target])
    assert run.features == list(bunch.feature_names)
    assert len(run.predict(frame)) == 150
    with pytest.raises(dlcli.DataError, match="pass target='COLUMN'"):
        run.evaluate(frame)
    scored = run.evaluate(frame, target="target")
    assert 0 <= scored["accuracy"] <= 1 and set(scored) >= {"loss", "accuracy"}


def test_predict_counts_categories_never_seen_in_training(churn, tmp_path):
    import dlcli

    run, data, _ = churn
    frame = pd.read_csv(data).head(5)
    frame.loc[[0, 3], "city"] = "atlantis"
    frame.loc[1, "plan"] = "platinum"
    frame.loc[2, "city"] = None  # a hole is not a new category
    frame.to_csv(tmp_path / "new.csv", index=False)
    result = invoke("predict", run, tmp_path / "new.csv")
    assert result.exit_code == 0, result.output
    assert "categories not seen in training, predicted as an unknown category: city 2 row(s), plan 1 row(s)" in (
        result.stderr
    )
    assert dlcli.load(run).predict(frame).attrs["unseen"] == {"city": 2, "plan": 1}


def test_predict_json_summarises_rows_skipped_and_unseen(churn, tmp_path):
    run, data, _ = churn
    frame = pd.read_csv(data).head(6)
    frame.loc[[0, 3], "city"] = "atlantis"
    frame["tenure_months"] = frame["tenure_months"].astype(object)
    frame.loc[4, "tenure_months"] = "soon"
    frame.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "p.csv"
    result = invoke("predict", run, tmp_path / "new.csv", "-o", out, "--skip-bad-rows", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {"output": str(out), "rows": 6, "predicted": 5, "skipped": 1, "unseen": {"city": 2}}
    result = invoke("predict", run, tmp_path / "new.csv", "--json")
    assert result.exit_code == 2 and "predict --json needs -o FILE" in result.stderr
    assert json.loads(result.stdout)["error"]["exit_code"] == 2
