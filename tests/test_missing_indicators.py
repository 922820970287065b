"""data.missing_indicators: a 0/1 input per numeric column with holes in training, made inside the model from the
raw cells, so train, evaluate, predict, serve and an export all see the same flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import invoke, train_json


def table(path: Path) -> Path:
    """'yes' exactly where income is missing (and on a tenth of the rest): only a flag can tell."""
    rng = np.random.default_rng(0)
    lines = ["income,age,label"]
    for _ in range(400):
        hole = rng.random() < 0.3
        label = "yes" if hole or rng.random() < 0.1 else "no"
        income = "" if hole else f"{rng.normal(50, 10):.2f}"
        lines.append(f"{income},{int(rng.integers(18, 80))},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def config(root: Path, flags: bool, extra: str = "") -> Path:
    table(root / "t.csv")
    path = root / f"c-{flags}.yaml"
    path.write_text(
        f"data: {{path: t.csv, target: label, missing: median, missing_indicators: {str(flags).lower()}{extra}}}\n"
        "model: {layers: [{units: 16, activation: relu}]}\ntraining: {epochs: 40, plots: false}\n"
    )
    return path


def test_flags_are_appended_for_the_columns_with_holes_in_training(tmp_path):
    from dlcli.config.load import load_config
    from dlcli.data.load import load

    data = load(load_config(config(tmp_path, True)))
    assert data.info.indicators == [0] and data.info.input_shape == (3,)
    assert len(data.info.fill) == 2  # the fill is the columns'; the flags are never missing
    x = data.x_train
    assert set(np.unique(x[:, 2])) == {0.0, 1.0} and not np.isnan(x).any()
    plain = load(load_config(config(tmp_path, False)))
    assert plain.info.indicators == [] and plain.info.input_shape == (2,)


def test_flags_need_a_table_and_rows_in_memory(tmp_path, mnist_npz):
    (tmp_path / "a.yaml").write_text(
        f"data: {{path: {mnist_npz}, missing: zero, missing_indicators: true}}\ntraining: {{epochs: 1}}\n"
    )
    result = invoke("train", tmp_path / "a.yaml", "--output-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "data.missing_indicators flags the columns of a table" in result.stderr
    streamed = config(tmp_path, True, ", streaming: true")
    result = invoke("validate", streamed)
    assert result.exit_code == 2 and "a streamed file does not say in time" in result.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("flags")
    return {flags: train_json(root / "runs", config(root, flags)) for flags in (False, True)}, root


@pytest.mark.slow
def test_a_flag_lets_the_network_see_what_a_fill_hides_and_every_path_agrees(runs, tmp_path):
    import dlcli

    (plain, _), (flagged, metrics) = runs[0][False], runs[0][True]
    assert metrics["accuracy"] > json.loads((plain / "metrics.json").read_text())["accuracy"] + 0.15
    assert json.loads((flagged / "environment.json").read_text())["data"]["indicators"] == [0]
    assert "missing_indicators: true" in (flagged / "config.yaml").read_text()  # retraining the file keeps it
    again = json.loads(invoke("evaluate", flagged, "--json").stdout)["metrics"]
    assert again["accuracy"] == metrics["accuracy"] and again["loss"] == pytest.approx(metrics["loss"], abs=1e-6)
    predicted = dlcli.load(flagged).predict([{"income": None, "age": 30}, {"income": 55.0, "age": 30}], proba=True)
    assert predicted["prediction"].tolist() == ["yes", "no"]
    from fastapi.testclient import TestClient

    from dlcli.serve import create_app

    with TestClient(create_app(flagged)) as client:
        served = client.post("/v1/predict", json={"rows": [{"income": None, "age": 30}, {"income": "", "age": 30}]})
    assert served.status_code == 200 and served.json()["predictions"] == ["yes", "yes"]


@pytest.mark.slow
def test_a_flagged_model_exports_and_matches_predict_on_rows_with_holes(runs, tmp_path):
    flagged = runs[0][True][0]
    result = invoke("export", flagged, "--format", "onnx", "-o", tmp_path / "onnx")
    assert result.exit_code == 0, result.output
    check = json.loads((tmp_path / "onnx" / "export.json").read_text())["check"]
    assert check["passed"] and check["hole_cells"] > 0
