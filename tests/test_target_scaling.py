"""``data.scale_target``: a regression target standardized for training and scaled back inside the model.

The decision of ``auto`` is the same in ``validate`` and ``train`` (the layer table is the model's), the
layer's numbers are the training split's, and everything downstream (history, test metrics, predict, the
Python API, serve, export, resume) stays in the target's units.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from dlcli.data import target
from tests.conftest import CONFIGS, invoke, train_json
from tests.test_resume import only_run, read_run

FEATURES = ["length", "depth", "kind"]


def table(path: Path, rows: int = 240, scale: float = 800.0, offset: float = 4200.0, seed: int = 0) -> Path:
    """A small regression table: two numbers and a text column; the target is ``offset + scale * signal``."""
    rng = np.random.default_rng(seed)
    length, depth = rng.normal(size=rows), rng.normal(size=rows)
    kind = rng.choice(["a", "b", "c"], size=rows)
    signal = 0.8 * length - 0.5 * depth + np.select([kind == "a", kind == "b"], [0.6, -0.4], 0.0)
    y = offset + scale * (signal + rng.normal(0, 0.2, rows))
    lines = ["length,depth,kind,y"] + [
        f"{a:.3f},{b:.3f},{k},{v:.2f}" for a, b, k, v in zip(length, depth, kind, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def config(folder: Path, data: str = "", epochs: int = 12, name: str = "grams", csv: str = "t.csv",
           stopping: bool = True) -> Path:  # fmt: skip
    """A spelled-out network; with ``stopping``, early stopping that keeps the best epoch (so auto scales)."""
    path = folder / f"{name}.yaml"
    early = ", early_stopping: {patience: 100}" if stopping else ""
    path.write_text(
        f"name: {name}\nseed: 0\ntask: regression\n"
        f"data: {{path: {csv}, target: y{data}}}\n"
        "model: {layers: [{units: 32, activation: relu}]}\n"
        "optimizer: {name: adam, learning_rate: 0.01}\n"
        f"metrics: [mae]\ntraining: {{epochs: {epochs}, batch_size: 32, plots: false{early}}}\n"
    )
    return path


def validated_layers(path: Path, *sets: str) -> list[tuple[str, str]]:
    """(layer name, Keras type) of the rows validate prints, inputs left out."""
    args = [arg for s in sets for arg in ("--set", s)]
    result = invoke("validate", path, *args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layer ")) + 2  # after the header and rule
    rows = [line.split() for line in lines[start:] if line and not line.startswith("total")]
    return [(r[0], r[1]) for r in rows if r[0] != "input"]


def model_layers(run: Path) -> list[tuple[str, str]]:
    """(layer name, Keras type) of the trained network inside model.keras (raw-column wrapper left out)."""
    import keras

    from dlcli.model.columns import trained_part

    net = trained_part(keras.saving.load_model(run / "model.keras"))
    return [
        (layer.name, type(layer).__name__) for layer in net.layers if not isinstance(layer, keras.layers.InputLayer)
    ]


@pytest.fixture(scope="module")
def grams(tmp_path_factory):
    """(folder, scaled run, unscaled run) on the same table, its target in the thousands."""
    folder = tmp_path_factory.mktemp("grams")
    table(folder / "t.csv")
    scaled, _ = train_json(folder / "runs", config(folder))
    plain, _ = train_json(folder / "runs", config(folder, ", scale_target: false", name="plain"))
    return folder, scaled, plain


def test_auto_scales_the_target_when_early_stopping_keeps_the_best_epoch_and_validate_shows_the_layers(grams):
    folder, run, _ = grams
    shown = validated_layers(folder / "grams.yaml")
    assert shown[-2:] == [("output", "Dense"), ("target_scale", "Rescaling")]
    assert model_layers(run) == shown
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["scale_target"] is True and saved["config_version"] == 3


def test_the_layer_holds_the_training_splits_mean_and_std_and_environment_records_why(grams):
    import keras

    from dlcli.data.load import load
    from dlcli.model.columns import trained_part
    from dlcli.runs.saved import open_run

    folder, run, _ = grams
    layer = trained_part(keras.saving.load_model(run / "model.keras")).get_layer("target_scale")
    y_train = load(open_run(run).config.config).y_train.astype(np.float64)
    assert layer.offset == pytest.approx(y_train.mean()) and layer.scale == pytest.approx(y_train.std())
    record = json.loads((run / "environment.json").read_text())["data"]["target_scale"]
    assert record["mean"] == pytest.approx(layer.offset) and record["std"] == pytest.approx(layer.scale)
    whole = np.loadtxt(folder / "t.csv", delimiter=",", skiprows=1, usecols=3)
    assert record["reason"] == f"auto: early stopping keeps the best epoch, target std {whole.std():.4g}"


def test_train_says_once_that_the_target_is_scaled_and_why(tmp_path):
    table(tmp_path / "t.csv", rows=120)
    result = invoke("train", config(tmp_path, epochs=1), "--output-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "target scaling" in line]
    assert len(said) == 1 and "auto: early stopping keeps the best epoch" in said[0]
    assert "data.scale_target: false" in said[0]


def test_history_and_test_metrics_are_in_the_targets_units(grams):
    _, scaled, plain = grams
    metrics = json.loads((scaled / "metrics.json").read_text())
    assert 20 < metrics["mae"] < 400 and metrics["r2"] > 0.5  # grams: noise is 160 g, the target's std ~800 g
    history = np.genfromtxt(scaled / "history.csv", delimiter=",", names=True)
    assert history["mean_absolute_error"][-1] == pytest.approx(metrics["mae"], rel=1.0)
    assert history["loss"][0] > 1e4  # squared grams, not squared standard deviations
    unscaled = json.loads((plain / "metrics.json").read_text())
    assert metrics["r2"] > unscaled["r2"]  # the same epochs: the scaled target has trained, the raw one not yet


def test_predictions_are_in_the_targets_units_everywhere(grams, tmp_path):
    import dlcli

    folder, run, _ = grams
    y = np.loadtxt(folder / "t.csv", delimiter=",", skiprows=1, usecols=3)
    out = tmp_path / "p.csv"
    result = invoke("predict", run, folder / "t.csv", "-o", out)
    assert result.exit_code == 0, result.output
    predicted = np.genfromtxt(out, delimiter=",", names=True)["prediction"]
    assert abs(predicted.mean() - y.mean()) < 0.1 * y.std()  # near 4200 g, not near 0
    assert np.corrcoef(predicted, y)[0, 1] > 0.8
    import pandas as pd

    frame = pd.read_csv(folder / "t.csv").drop(columns="y")
    np.testing.assert_allclose(np.ravel(dlcli.load(run).predict(frame[:20])), predicted[:20], rtol=1e-5)


def test_serve_answers_in_the_targets_units(grams):
    pytest.importorskip("fastapi")
    import pandas as pd
    from fastapi.testclient import TestClient

    from dlcli.serve import create_app

    folder, run, _ = grams
    rows = pd.read_csv(folder / "t.csv").drop(columns="y")[:5].to_dict(orient="records")
    with TestClient(create_app(run)) as client:
        got = client.post("/v1/predict", json={"rows": rows})
    assert got.status_code == 200, got.text
    assert all(1000 < value < 8000 for value in np.ravel(got.json()["predictions"]))


@pytest.mark.slow  # multi-process: each export is checked in a fresh process
@pytest.mark.parametrize("fmt", ["savedmodel", "onnx"])
def test_export_keeps_the_scaling_and_matches_predict(grams, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    _, run, _ = grams
    result = invoke("export", run, "--format", fmt, "-o", tmp_path / fmt)
    assert result.exit_code == 0, result.output  # export reloads the artefact in its runtime and compares
    if fmt == "onnx":
        inside = json.loads((tmp_path / fmt / "preprocessing.json").read_text())["inside_model"]
        assert "rescaling" not in inside and inside["target_scale"]["scale"] > 100


def test_auto_leaves_the_target_of_a_network_without_early_stopping_alone(tmp_path):
    """Explicit values mean what Keras means: a spelled-out network without early stopping learns the raw target."""
    table(tmp_path / "t.csv", rows=120)
    path = config(tmp_path, epochs=1, stopping=False)
    assert "target_scale" not in dict(validated_layers(path))
    run, _ = train_json(tmp_path / "runs", path)
    assert "target_scale" not in dict(model_layers(run))
    assert json.loads((run / "environment.json").read_text())["data"]["target_scale"] is None
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["scale_target"] is False


def test_the_issues_diabetes_config_trains_on_the_raw_target():
    """R^2 0.53 (seed 7) raw, 0.15 standardized: 150 epochs at 0.01 with no early stopping overfit a scaled target."""
    from dlcli.config.load import load_config_text
    from dlcli.config.resolve import resolve

    text = (
        "name: diabetes\nseed: 7\ndata: {source: sklearn, name: diabetes, test_split: 0.2, normalize: true}\n"
        "model: {layers: [{units: 16, activation: relu}]}\noptimizer: {name: adam, learning_rate: 0.01}\n"
        "training: {epochs: 150, batch_size: 32}\n"
    )
    resolved = resolve(load_config_text(text, "d.yaml"), "regression", None, 77.0)
    assert resolved.data.scale_target is False and "as Keras would" in resolved.scale_target_reason
    recommended = resolve(load_config_text("data: {source: sklearn, name: diabetes}\n", "r.yaml"), "regression", None)
    assert recommended.data.scale_target is True


def test_false_turns_it_off_and_true_turns_it_on_whatever_the_std(tmp_path):
    table(tmp_path / "big.csv", rows=60)
    table(tmp_path / "small.csv", rows=60, scale=1.0, offset=0.0)
    assert "target_scale" not in dict(validated_layers(config(tmp_path, ", scale_target: false", csv="big.csv")))
    assert "target_scale" in dict(validated_layers(config(tmp_path, ", scale_target: true", csv="small.csv")))


def test_an_unknown_value_is_a_located_config_error(tmp_path):
    table(tmp_path / "t.csv", rows=30)
    result = invoke("validate", config(tmp_path, ", scale_target: yes-please"))
    assert result.exit_code == 2
    assert "data.scale_target" in result.stderr and "yes-please" in result.stderr
    assert "Traceback" not in result.output


def test_classification_ignores_it_and_warns_when_it_is_asked_for(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text("data: {source: sklearn, name: iris, scale_target: true}\ntraining: {epochs: 1, plots: false}\n")
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    assert "target_scale" not in result.stdout
    assert f"{path}:1:51: data.scale_target: warning: scales a regression target" in result.stderr


def test_array_sources_build_it_in_the_sequential_model(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", (50_000 + 20_000 * x[:, 0]).astype(np.float32))
    path = tmp_path / "dollars.yaml"
    path.write_text("data: {source: npy, path: x.npy, y_path: y.npy}\ntraining: {epochs: 2, plots: false}\n")
    shown = validated_layers(path)
    run, metrics = train_json(tmp_path / "runs", path)
    assert model_layers(run) == shown and shown[-1] == ("target_scale", "Rescaling")
    assert metrics["mae"] > 100  # dollars


def test_sklearn_diabetes_is_scaled_and_its_probe_constant_is_its_data():
    from sklearn.datasets import load_diabetes

    from dlcli.data.sources import sklearn

    spread = target.spread(load_diabetes().target)
    assert sklearn.TARGET_SPREAD["diabetes"] == pytest.approx(spread, abs=1e-3)
    assert ("target_scale", "Rescaling") in validated_layers(CONFIGS / "diabetes.yaml")


def test_auto_follows_early_stopping_on_any_source(tmp_path):
    path = tmp_path / "linear.yaml"
    path.write_text("data: {source: synthetic, name: linear, n_samples: 200}\nmodel: {layers: [{units: 8}]}\n")
    assert "target_scale" not in dict(validated_layers(path))
    assert "target_scale" in dict(validated_layers(path, "training.early_stopping.patience=5"))
    assert "target_scale" not in dict(
        validated_layers(
            path, "training.early_stopping.patience=5", "training.early_stopping.restore_best_weights=false"
        )
    )


def test_streaming_computes_the_same_decision_and_the_training_splits_numbers(tmp_path):
    import keras

    from dlcli.data import stream
    from dlcli.data.splits import split_codes
    from dlcli.model.columns import trained_part

    table(tmp_path / "t.csv", rows=200)
    path = config(tmp_path, ", streaming: true", epochs=2, name="streamed")
    shown = validated_layers(path)
    run, metrics = train_json(tmp_path / "runs", path)
    assert model_layers(run) == shown and shown[-1] == ("target_scale", "Rescaling")
    y = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1, usecols=3)
    train = y[split_codes(np.arange(len(y)), 0, 0.2, 0.1) == 0]
    layer = trained_part(keras.saving.load_model(run / "model.keras")).get_layer("target_scale")
    assert layer.offset == pytest.approx(train.mean()) and layer.scale == pytest.approx(train.std())
    assert metrics["mae"] > 20 and stream.CHUNK_ROWS > len(y)


def test_the_csv_and_parquet_probes_measure_what_train_measures(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    from dlcli.config.load import load_config
    from dlcli.data.load import load, probe

    table(tmp_path / "t.csv", rows=150)
    pd.read_csv(tmp_path / "t.csv").to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        loaded = load_config(config(tmp_path, csv=name))
        assert probe(loaded).target_spread == pytest.approx(load(loaded).info.target_spread, rel=1e-9)


def test_moments_match_numpy_for_big_values_close_together():
    rng = np.random.default_rng(0)
    values = 1e7 + rng.normal(0, 0.05, 5000)
    one_by_one = target.Moments()
    for v in values:
        one_by_one.add(v)
    assert one_by_one.std == pytest.approx(values.std(), rel=1e-6)
    assert target.Moments().add_array(values).std == pytest.approx(values.std(), rel=1e-6)
    assert target.stats(target.Moments().add_array([5.0, 5.0])) == (5.0, 1.0)  # a constant target is only shifted


@pytest.mark.slow  # multi-run: interrupted, then resumed
def test_resume_rebuilds_nothing_and_keeps_the_layer(tmp_path, signal_at):
    table(tmp_path / "t.csv", rows=120)
    path = config(tmp_path, epochs=4)
    text = path.read_text().replace("plots: false}", "plots: false, checkpoint_every_seconds: 0}")
    path.write_text(text.replace("batch_size: 32", "batch_size: 8, steps_per_execution: 1"))
    assert signal_at(epoch=2, step=1) is not None
    result = invoke("train", path, "--output-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 130, result.output
    run = only_run(tmp_path / "runs")
    resumed = invoke("train", "--resume", run, "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert read_run(run)["status"] == "complete"
    assert [name for name, _ in model_layers(run)][-1] == "target_scale"
    assert json.loads((run / "metrics.json").read_text())["mae"] > 20


def test_a_version_1_run_config_keeps_its_unscaled_target(tmp_path, grams):
    from dlcli.runs.saved import open_run

    _, _, plain = grams
    old = tmp_path / plain.name
    shutil.copytree(plain, old)
    saved = yaml.safe_load((old / "config.yaml").read_text())
    saved["config_version"] = 1
    del saved["data"]["scale_target"]
    (old / "config.yaml").write_text(yaml.safe_dump(saved))
    run = open_run(old)
    assert run.config.data.scale_target is False and not run.config.scales_target
    assert invoke("evaluate", old).exit_code == 0
