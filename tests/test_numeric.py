"""``data.numeric``: how the model scales numbers, from the training split only, inside the model.

``standard`` is Keras's ``Normalization`` with the mean and variance; ``robust`` (RealMLP's) centres on the
median, divides by the interquartile range and clips smoothly to about [-3, 3], so one huge value cannot dominate.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcli.data.statistics import robust_stats
from tests.conftest import invoke, train_json


def test_robust_statistics_are_the_median_and_the_interquartile_range():
    x = np.array([[1.0, 5.0, 7.0], [2.0, 5.0, 7.0], [3.0, 5.0, 7.0], [4.0, 5.0, 7.0], [100.0, 9.0, 7.0]], np.float32)
    centre, variance = robust_stats(x, None)
    np.testing.assert_allclose(centre, [3.0, 5.0, 7.0])
    # column 0: IQR 4 - 2 = 2; column 1: IQR 0, half its range (9 - 5) / 2 = 2; column 2: constant, only centred
    np.testing.assert_allclose(variance, [4.0, 4.0, 1.0])
    scaled_centre, scaled_variance = robust_stats(x, 0.5)
    np.testing.assert_allclose(scaled_centre, centre * 0.5)
    np.testing.assert_allclose(scaled_variance, [1.0, 1.0, 1.0])  # spreads halved; a constant stays 1


def test_smooth_clip_is_the_identity_near_zero_and_bounded_far_away(tmp_path):
    import keras

    from dlcli.layers import SmoothClip

    layer = SmoothClip()
    got = keras.ops.convert_to_numpy(layer(np.array([[0.0, 0.3, 3.0, -1e6]], np.float32)))
    np.testing.assert_allclose(got[0, :3], [0.0, 0.3 / np.sqrt(1.01), 3 / np.sqrt(2)], rtol=1e-6)
    assert -3.0 <= got[0, 3] < -2.99
    model = keras.Sequential([keras.Input((4,)), SmoothClip(limit=2.0, name="clip")])
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.get_layer("clip").limit == 2.0


def table(path, rows: int = 200) -> None:
    rng = np.random.default_rng(0)
    income = rng.lognormal(10, 1, rows)
    income[:3] = [1e9, 2e9, 5e9]  # outliers that would squash every other value under standard scaling
    age = rng.integers(18, 80, rows)
    label = np.where(np.log(income) + age / 40 > 11.2, "yes", "no")
    lines = ["income,age,label"] + [f"{i:.2f},{a},{y}" for i, a, y in zip(income, age, label, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_a_robust_run_keeps_the_median_and_clips_inside_the_model(tmp_path, write):
    import keras

    from dlcli.model.columns import trained_part
    from dlcli.runs import store

    table(tmp_path / "t.csv")
    config = write(
        "c.yaml", "data: {path: t.csv, target: label, numeric: robust}\ntraining: {epochs: 3, plots: false}\n"
    )
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    assert [line.split()[:2] for line in checked.stdout.splitlines() if line.startswith(("normalize", "clip"))] == [
        ["normalize", "Normalization"],
        ["clip", "SmoothClip"],
    ]
    run, _ = train_json(tmp_path / "runs", config)
    model = trained_part(store.load_model(run / "model.keras"))
    layers = [type(layer).__name__ for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert layers[:2] == ["Normalization", "SmoothClip"]  # (an ensemble's averaging model lists its input too)
    from dlcli.config.load import load_config
    from dlcli.data import load as data

    train_split = data.load(load_config(config)).x_train
    np.testing.assert_allclose(np.ravel(model.get_layer("normalize").mean), np.median(train_split, axis=0), rtol=1e-5)
    predicted = invoke("predict", run, tmp_path / "t.csv")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads((run / "environment.json").read_text())["data"]["features"] == ["income", "age"]
    import yaml

    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["numeric"] == "robust"
    keras.backend.clear_session()


def test_numeric_auto_settles_to_standard_for_an_explicit_network(tmp_path, write):
    table(tmp_path / "t.csv")
    config = write("c.yaml", "data: {path: t.csv, target: label}\nmodel: {layers: [{units: 8}]}\n")
    shown = invoke("config", "show", config)
    assert "numeric: standard" in shown.stdout  # settled, as the run saves it
    checked = invoke("validate", config)
    assert checked.exit_code == 0 and "SmoothClip" not in checked.stdout


@pytest.mark.parametrize("kind", ["robust", "quantile"])
def test_robust_scaling_of_a_streamed_file_is_a_located_error(tmp_path, write, kind):
    table(tmp_path / "t.csv")
    config = write("c.yaml", f"data: {{path: t.csv, target: label, numeric: {kind}, streaming: true}}\n")
    for command in ("validate", "train"):
        result = invoke(command, config, *(["--output-dir", tmp_path / "runs"] if command == "train" else []))
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"{config}:1:") and f"data.numeric: {kind} scaling needs the training split's" in line


@pytest.mark.slow  # multi-process: each export is checked in a fresh process
@pytest.mark.parametrize(("fmt", "kind"), [("savedmodel", "robust"), ("onnx", "robust"), ("onnx", "quantile"),
                                           ("litert", "quantile")])  # fmt: skip
def test_a_robust_model_exports_and_matches_predict(tmp_path, write, fmt, kind):
    table(tmp_path / "t.csv")
    config = write(
        "c.yaml", f"data: {{path: t.csv, target: label, numeric: {kind}}}\ntraining: {{epochs: 2, plots: false}}\n"
    )
    run, _ = train_json(tmp_path / "runs", config)
    result = invoke("export", run, "--format", fmt, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output


# -- the quantile transform -----------------------------------------------------------------------------------


def test_quantile_scores_follow_scikit_learns_quantile_transformer_inside_the_tails():
    from sklearn.preprocessing import QuantileTransformer

    from dlcli.data.statistics import quantile_stats
    from dlcli.layers import QuantileNormal

    rng = np.random.default_rng(0)
    x = np.stack([rng.lognormal(size=3000), rng.normal(5, 2, size=3000)], axis=1).astype("float32")
    knots, scores = quantile_stats(x, None)
    assert knots.shape == scores.shape == (2, 100)  # rows // 30 knots
    ours = np.asarray(QuantileNormal(knots.tolist(), scores.tolist())(x))
    theirs = QuantileTransformer(n_quantiles=100, output_distribution="normal").fit(x).transform(x)
    inside = (np.abs(theirs) < 2).all(axis=1)  # scikit-learn pins its extremes to +-5.2
    np.testing.assert_allclose(ours[inside], theirs[inside], atol=0.02)  # it averages two interpolations
    assert (np.diff(ours[np.argsort(x[:, 0]), 0]) >= -1e-6).all()  # monotone
    assert abs(float(np.median(ours[:, 1]))) < 0.02 and 0.9 < float(ours[:, 1].std()) < 1.1


def test_quantile_ties_and_constants_keep_their_order_and_scale():
    from dlcli.data.statistics import quantile_stats
    from dlcli.layers import QuantileNormal

    x = np.array([[0.0, 7.0]] * 80 + [[1.0, 7.0]] * 15 + [[2.0, 7.0]] * 5, dtype="float32")
    knots, scores = quantile_stats(x, None)
    out = np.asarray(QuantileNormal(knots.tolist(), scores.tolist())(np.array([[0, 7], [1, 7], [2, 7], [9, 7]],
                                                                              dtype="float32")))  # fmt: skip
    assert out[0, 0] < out[1, 0] < out[2, 0] == out[3, 0]  # three values, in order; beyond the last is the last
    assert np.isfinite(out).all() and (out[:, 1] == 0).all()  # a constant feature is 0


def test_a_quantile_run_validates_to_its_model_and_predicts(tmp_path, write):
    table(tmp_path / "t.csv")
    config = write(
        "c.yaml", "data: {path: t.csv, target: label, numeric: quantile}\ntraining: {epochs: 2, plots: false}\n"
    )
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    assert "QuantileNormal" in checked.stdout and "Normalization" not in checked.stdout
    run, _ = train_json(tmp_path / "runs", config)
    assert invoke("predict", run, tmp_path / "t.csv").exit_code == 0


# -- periodic embeddings (PLR) ---------------------------------------------------------------------------------


def test_a_periodic_embedding_has_the_shape_and_weights_its_spec_says():
    import keras

    from dlcli.layers import PeriodicEmbedding

    for lite, weights in ((False, 3 * 4 + 3 * 8 * 5 + 3 * 5), (True, 3 * 4 + 8 * 5 + 3 * 5)):
        layer = PeriodicEmbedding(frequencies=4, dim=5, sigma=0.5, lite=lite, seed=1)
        out = keras.ops.convert_to_numpy(layer(np.zeros((2, 3), np.float32)))
        assert out.shape == (2, 15) and layer.count_params() == weights
        assert (out >= 0).all()  # ReLU
        again = PeriodicEmbedding.from_config(layer.get_config())
        assert (again.frequencies, again.dim, again.sigma, again.lite) == (4, 5, 0.5, lite)


def test_a_plr_run_validates_to_its_model_trains_exports_and_predicts(tmp_path, write):
    from dlcli.model.columns import trained_part
    from dlcli.runs import store

    table(tmp_path / "t.csv")
    config = write(
        "c.yaml",
        "data: {path: t.csv, target: label, numeric: robust}\n"
        "model: {layers: [{units: 8}], numeric_embedding: {frequencies: 6, dim: 4}}\n"
        "training: {epochs: 2, plots: false}\n",
    )
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    row = next(line.split() for line in checked.stdout.splitlines() if line.startswith("periodic"))
    assert row == ["periodic", "PeriodicEmbedding", "(None,", "8)", "116"]  # 2*6 + 2*12*4 + 2*4 weights
    run, _ = train_json(tmp_path / "runs", config)
    model = trained_part(store.load_model(run / "model.keras"))
    assert model.get_layer("periodic").count_params() == 116
    predicted = invoke("predict", run, tmp_path / "t.csv", "--proba")
    assert predicted.exit_code == 0, predicted.output


def test_numeric_embedding_true_is_the_default_periodic_embedding(tmp_path, write):
    table(tmp_path / "t.csv")
    config = write("c.yaml", "data: {path: t.csv, target: label}\nmodel: {numeric_embedding: true}\n")
    import yaml

    shown = yaml.safe_load(invoke("config", "show", config).stdout)
    assert shown["model"]["numeric_embedding"] == {"type": "periodic", "frequencies": 24, "dim": 16, "sigma": 0.1,
                                                   "lite": False}  # fmt: skip
