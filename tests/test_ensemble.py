"""model.ensemble (TabM-mini): k members sharing the hidden layers, each trained on its own loss; the saved model
predicts their mean and passes predict, evaluate, resume, export and plain-Keras loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import invoke, train_json

CITIES = ["paris", "lyon", "nice", "lille"]


def table(path: Path, n: int = 240, *, regression: bool = False) -> Path:
    rng = np.random.default_rng(1)
    lines = ["age,income,city," + ("spend" if regression else "churn")]
    for i in range(n):
        age, income, city = int(rng.integers(18, 80)), rng.normal(50, 15), CITIES[i % 4]
        if regression:
            target = f"{income * 2 + age * 0.5 + (city == 'nice') * 20 + rng.normal(0, 3):.3f}"
        else:
            target = "yes" if (age < 40) + (income < 45) + (city == "nice") >= 2 else "no"
        lines.append(f"{age},{income:.2f},{city},{target}")
    path.write_text("\n".join(lines) + "\n")
    return path


def config(root: Path, *, regression: bool = False, extra: str = "") -> Path:
    table(root / "t.csv", regression=regression)
    target = "spend" if regression else "churn"
    (root / "c.yaml").write_text(
        f"name: ens\nseed: 0\ndata: {{path: t.csv, target: {target}}}\n"
        "model: {layers: [{units: 16, activation: relu}, {units: 16, activation: relu}], ensemble: {members: 4}}\n"
        f"training: {{epochs: 4, plots: false{extra}}}\n"
    )
    return root / "c.yaml"


# -- the pieces ---------------------------------------------------------------------------------------


def test_each_member_sees_the_row_through_its_own_sign_adapter():
    from dlcli.layers import EnsembleInput

    layer = EnsembleInput(5, seed=3)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    out = np.asarray(layer(x))
    adapter = np.asarray(layer.adapter)
    assert out.shape == (2, 5, 3) and set(np.unique(adapter)) <= {-1.0, 1.0}
    np.testing.assert_allclose(out, x[:, None, :] * adapter[None])


@pytest.mark.parametrize(
    ("loss", "y_true", "shape"),
    [
        ("binary_crossentropy", np.array([0.0, 1.0, 1.0]), (3, 4, 1)),
        ("sparse_categorical_crossentropy", np.array([0, 2, 1]), (3, 4, 3)),
        ("mse", np.array([0.5, -1.0, 2.0]), (3, 4, 1)),
    ],
)
def test_the_member_loss_is_the_mean_of_each_members_own_loss(loss, y_true, shape):
    import keras

    from dlcli.layers import MemberLoss

    rng = np.random.default_rng(0)
    y_pred = rng.uniform(0.05, 0.95, size=shape).astype("float32")
    if loss.startswith("sparse"):
        y_pred = y_pred / y_pred.sum(axis=-1, keepdims=True)
    plain = keras.losses.get(loss)
    by_hand = np.mean(
        [
            np.asarray(plain(y_true if loss.startswith("sparse") else y_true[:, None], y_pred[:, m]))
            for m in range(shape[1])
        ],
        axis=0,
    )
    wrapped = MemberLoss(loss)
    assert float(wrapped(y_true, y_pred)) == pytest.approx(float(by_hand.mean()), rel=1e-5)
    weights = np.array([1.0, 0.0, 2.0])
    assert float(wrapped(y_true, y_pred, sample_weight=weights)) == pytest.approx(
        float((by_hand * weights).sum() / 3), rel=1e-5
    )
    again = keras.losses.deserialize(keras.losses.serialize(wrapped))
    assert float(again(y_true, y_pred)) == pytest.approx(float(wrapped(y_true, y_pred)))


def test_a_member_metric_scores_the_members_mean():
    import keras

    from dlcli.layers import MemberMetric

    y_pred = np.array([[[0.9], [0.3]], [[0.2], [0.4]]], dtype="float32")  # means 0.6 and 0.3
    metric = MemberMetric(keras.metrics.BinaryAccuracy(name="accuracy"))
    metric.update_state(np.array([[1.0], [0.0]]), y_pred)
    assert metric.name == "accuracy" and float(metric.result()) == 1.0
    mae = MemberMetric("mae")
    mae.update_state(np.array([[0.6], [0.0]]), y_pred)
    assert float(mae.result()) == pytest.approx(0.15)


def test_members_must_be_two_or_more(tmp_path):
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text().replace("members: 4", "members: 1"))
    result = invoke("validate", cfg)
    assert result.exit_code == 2 and "model.ensemble.members" in result.stderr and "c.yaml:" in result.stderr


def test_validate_shows_the_members_in_the_layer_table(tmp_path):
    result = invoke("validate", config(tmp_path))
    assert result.exit_code == 0, result.output
    assert "EnsembleInput" in result.stdout and "(None, 4, 16)" in result.stdout
    assert "MemberDense (sigmoid)" in result.stdout and "(None, 4, 1)" in result.stdout


# -- a run ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ens_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    run, metrics = train_json(root / "runs", config(root))
    return root, run, metrics


@pytest.mark.slow
def test_the_saved_model_predicts_the_members_mean_and_evaluate_agrees(ens_run):
    import keras
    import pandas as pd

    import dlcli
    import dlcli.layers  # noqa: F401 - registers the ensemble's layers for plain Keras

    root, run, metrics = ens_run
    model = keras.models.load_model(run / "model.keras")
    assert tuple(model.outputs[0].shape) == (None, 1)
    inner = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    members = keras.Model(inner.inputs, inner.get_layer("output").output)
    rows = pd.read_csv(root / "t.csv").drop(columns=["churn"]).head(30)
    loaded = dlcli.load(run)
    probabilities = loaded.predict(rows, proba=True)["p_yes"].to_numpy()
    from dlcli.data.features import input_name

    x = {"numeric": rows[["age", "income"]].to_numpy("float32"),
         input_name("city"): np.asarray(rows["city"].to_numpy(str)).reshape(-1, 1)}  # fmt: skip
    each = np.asarray(members({k: keras.ops.convert_to_tensor(v) for k, v in x.items()}))
    assert each.shape == (30, 4, 1) and np.ptp(each, axis=1).max() > 1e-4  # the members differ
    np.testing.assert_allclose(each.mean(axis=1).reshape(-1), probabilities, atol=1e-6)
    result = invoke("evaluate", run, "--json")
    again = json.loads(result.stdout)["metrics"]
    assert again["loss"] == pytest.approx(metrics["loss"], abs=1e-6)
    assert again["accuracy"] == metrics["accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_the_ensemble_exports_and_passes_the_check(ens_run, tmp_path, fmt):
    root, run, metrics = ens_run
    result = invoke("export", run, "--format", fmt, "-o", tmp_path / fmt)
    assert result.exit_code == 0, result.output
    check = json.loads((tmp_path / fmt / "export.json").read_text())["check"]
    assert check["passed"]


@pytest.mark.slow
def test_an_interrupted_ensemble_resumes_to_the_same_weights(tmp_path, signal_at):
    # no deterministic: true: TensorFlow's op determinism, once on, stays on for the rest of this process
    cfg = config(tmp_path, extra=", checkpoint_every_seconds: 0")
    whole, _ = train_json(tmp_path / "whole", cfg)
    signal_at(epoch=2, step=1)
    stopped = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--quiet")
    assert stopped.exit_code == 130, stopped.output
    run = next((tmp_path / "runs").iterdir())
    assert invoke("train", "--resume", run, "--quiet").exit_code == 0
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "complete"
    assert state["weights_sha256"] == json.loads((whole / "run.json").read_text())["weights_sha256"]


@pytest.mark.slow
def test_a_regression_ensemble_predicts_in_the_targets_units_and_cross_validates(tmp_path):
    cfg = config(tmp_path, regression=True, extra=", epochs: 30, cross_validation: {folds: 2}")
    cfg.write_text(
        cfg.read_text().replace("epochs: 4, ", "").replace("target: spend}", "target: spend, scale_target: true}")
    )
    run, metrics = train_json(tmp_path / "runs", cfg)
    assert metrics["r2"] > 0.5 and metrics["cv_r2"] > 0.5
    assert (run / "folds" / "1" / "model.keras").exists()
