"""model.keras takes raw named columns: holes filled and categories written as in training, inside the model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CONFIGS, invoke, train_json

COLUMNS = ["tenure_months", "monthly_fee", "city", "plan", "support_calls"]


def holed_churn(path):
    """configs/data/churn.csv with holes in numbers and categories, and support_calls written as 3.0."""
    frame = pd.read_csv(CONFIGS / "data" / "churn.csv")
    frame.loc[::13, "tenure_months"] = np.nan
    frame.loc[::17, "city"] = None
    frame["support_calls"] = frame["support_calls"].astype(float)
    frame.loc[::19, "support_calls"] = np.nan
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory):
    """Churn with holes (missing: mean), support_calls declared categorical."""
    tmp = tmp_path_factory.mktemp("churn")
    holed_churn(tmp / "churn.csv")
    config = tmp / "churn.yaml"
    config.write_text(
        "name: churn\nseed: 0\n"
        "data: {path: churn.csv, target: churn, categorical: [support_calls], embedding: {city: 3}, missing: mean}\n"
        "model: {layers: [{units: 16}]}\ntraining: {epochs: 4, plots: false}\n"
    )
    run, _ = train_json(tmp / "runs", config)
    return run, tmp / "churn.csv"


def dlcli_proba(run, data) -> np.ndarray:
    result = invoke("predict", run, data, "--proba")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()[1:]
    return np.array([float(line.split(",")[2]) for line in lines])


def run_python(code: str) -> str:
    """``code`` in a fresh interpreter (its last line of output returned)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_run_records_one_named_input_per_column(churn_run):
    run, _ = churn_run
    data = json.loads((run / "environment.json").read_text())["data"]
    assert data["inputs"] == {c: c for c in COLUMNS}
    with __import__("zipfile").ZipFile(run / "model.keras") as saved:
        config = json.loads(saved.read("config.json"))["config"]
    names = {layer["class_name"] for layer in config["layers"]}
    assert {"FillMissing", "CanonicalCategory", "InputLayer"} <= names


@pytest.mark.slow  # multi-process: plain Keras in a fresh process
def test_plain_keras_predicts_raw_columns_as_dlcli_predict_does(churn_run, tmp_path):
    """astype-style strings ('3.0', 'nan'), NaN numbers and padded text: the model itself reads them."""
    run, data = churn_run
    expected = dlcli_proba(run, data)
    code = f"""
import numpy as np, pandas as pd, keras
import dlcli.layers
model = keras.models.load_model({str(run / "model.keras")!r})  # safe mode
df = pd.read_csv({str(data)!r})
x = {{c: np.asarray(df[c], dtype=str) if c in ("city", "plan", "support_calls") else df[c].to_numpy("float32")
      for c in {COLUMNS!r}}}
x["city"] = np.char.add("  ", x["city"])
print(list(np.asarray(model(x))[:, 0]))
"""
    got = np.array(json.loads(run_python(code).replace("np.float32(", "").replace(")", "")))
    assert np.max(np.abs(got - expected)) < 1e-6


def test_categories_are_read_as_in_training(churn_run):
    run, _ = churn_run
    import dlcli

    model = dlcli.load(run).model
    base = {"tenure_months": np.array([[30.0]], "float32"), "monthly_fee": np.array([[50.0]], "float32"),
            "plan": np.array([["pro"]]), "city": np.array([["nice"]])}  # fmt: skip
    out = {
        text: float(np.asarray(model({**base, "support_calls": np.array([[text]])}))[0, 0])
        for text in ("3", "3.0", " 3.00 ", "nan", "None", "", "(missing)")
    }
    assert out["3"] == out["3.0"] == out[" 3.00 "]
    assert out["nan"] == out["None"] == out[""] == out["(missing)"] != out["3"]
    holes = {"tenure_months": np.array([[np.nan]], "float32")}
    filled = json.loads((run / "environment.json").read_text())["data"]["fill"][0]
    same = {"tenure_months": np.array([[filled]], "float32")}
    assert float(np.asarray(model({**base, **holes, "support_calls": np.array([["3"]])}))[0, 0]) == pytest.approx(
        float(np.asarray(model({**base, **same, "support_calls": np.array([["3"]])}))[0, 0]), abs=1e-7
    )


@pytest.mark.slow  # multi-process: a fresh process without dlcli
def test_the_layers_must_be_registered_and_a_numeric_model_needs_no_dlcli(churn_run, tmp_path):
    run, _ = churn_run
    refused = subprocess.run(
        [sys.executable, "-c", f"import keras; keras.models.load_model({str(run / 'model.keras')!r})"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0 and "Could not locate class 'CanonicalCategory'" in refused.stderr
    plain, _ = train_json(tmp_path, CONFIGS / "iris_csv.yaml", "training.epochs=2", "training.plots=false")
    code = f"""
import sys, numpy as np, keras
model = keras.models.load_model({str(plain / "model.keras")!r})
x = {{name: np.array([[5.0]], "float32") for name in ("sepal_length", "sepal_width", "petal_length", "petal_width")}}
assert "dlcli" not in sys.modules
print(np.asarray(model(x)).shape)
"""
    assert run_python(code) == "(1, 3)"


def test_column_names_that_are_not_input_names_are_made_safe():
    from dlcli.data.features import column_inputs

    names = column_inputs(["sepal length (cm)", "2nd", "a b", "a-b", "A_B", "ok"])
    assert names == {
        "sepal length (cm)": "sepal_length_cm",
        "2nd": "c_2nd",
        "a b": "a_b",
        "a-b": "a-b",
        "A_B": "A_B_2",
        "ok": "ok",
    }


def test_a_column_named_like_the_run_trains_and_saves(tmp_path):
    rows = "\n".join(f"{i % 7},{'abc'[i % 3]},{i % 2}" for i in range(60))
    (tmp_path / "t.csv").write_text("n,c,y\n" + rows + "\n")
    (tmp_path / "c.yaml").write_text("name: c\ndata: {path: t.csv, target: y}\nmodel: {layers: [{units: 4}]}\n")
    run, _ = train_json(tmp_path / "runs", tmp_path / "c.yaml", "training.epochs=1", "training.plots=false")
    result = invoke("evaluate", run)
    assert result.exit_code == 0, result.output


def test_an_array_run_keeps_its_one_input(tmp_path, mnist_npz):
    config = tmp_path / "m.yaml"
    config.write_text(f"data: {{source: npz, path: {mnist_npz}}}\nmodel: {{layers: [{{units: 8}}]}}\n")
    run, _ = train_json(tmp_path / "runs", config, "training.epochs=1", "training.plots=false")
    assert json.loads((run / "environment.json").read_text())["data"]["inputs"] is None
