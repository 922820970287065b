"""Issue 14: what Keras accepts, dlcli accepts.

A one-hot loss (``categorical_crossentropy``, the ``to_categorical`` recipe) on
class labels: dlcli one-hots them. Squared error on one sigmoid unit: trains,
with a warning. More output units than the integer labels need: label k on unit
k. Fewer units than classes stays a located error (exit 2).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import CONFIGS, assert_same_metrics, invoke, train_json

pytestmark = pytest.mark.slow  # multi-run: losses compared with their sparse and plain-Keras twins

SHORT = "training.epochs=3"


def plain_model(run):
    import keras

    return keras.models.load_model(str(run / "model.keras"))


# -- item 1: one-hot losses ------------------------------------------------------------------------


def test_the_tutorial_config_trains_and_scores_again_identically(tmp_path):
    run, metrics = train_json(tmp_path, CONFIGS / "digits_onehot.yaml", SHORT)
    assert json.loads((run / "labels.json").read_text()) == list(range(10))
    assert metrics["accuracy"] > 0.8
    assert len(metrics["confusion_matrix"]["matrix"]) == 10
    saved = (run / "config.yaml").read_text()
    assert "name: categorical_crossentropy" in saved and "label_smoothing: 0.1" in saved

    again = invoke("evaluate", run, "--json")
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], metrics)

    # model.keras is the tutorial's model: compiled with categorical_crossentropy on one-hot targets
    import keras

    from dlcli.data import load as data
    from dlcli.data.features import model_inputs
    from dlcli.runs.saved import open_run

    model = plain_model(run)
    assert "categorical_crossentropy" in str(model.loss).lower().replace(
        "categoricalcrossentropy", "categorical_crossentropy"
    )
    saved_run = open_run(run)
    test = data.load(saved_run.config.config)
    one_hot = keras.utils.to_categorical(test.y_test, 10)
    plain = model.evaluate(model_inputs(test.x_test, saved_run.inputs), one_hot, verbose=0, return_dict=True)
    assert plain["loss"] == pytest.approx(metrics["loss"], rel=1e-5)
    assert plain["accuracy"] == pytest.approx(metrics["accuracy"])

    import pandas as pd

    import dlcli

    frame = dlcli.load(run).predict(pd.DataFrame(test.x_test, columns=test.info.feature_names))
    assert (
        frame["prediction"].astype(int).tolist()
        == model.predict(model_inputs(test.x_test, saved_run.inputs), verbose=0).argmax(axis=1).tolist()
    )


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "kl_divergence", "categorical_focal_crossentropy"])
def test_a_one_hot_loss_learns_as_the_sparse_one_does(tmp_path, loss):
    """Same network, same seed: the one-hot loss and sparse crossentropy reach the same accuracy."""
    base = CONFIGS / "digits_onehot.yaml"
    _, one_hot = train_json(tmp_path / "a", base, SHORT, f"loss={loss}")
    _, sparse = train_json(tmp_path / "b", base, SHORT, "loss=sparse_categorical_crossentropy")
    assert one_hot["accuracy"] > 0.8
    if loss == "categorical_crossentropy":  # the same loss on other targets: the same updates, to rounding
        assert one_hot["accuracy"] == pytest.approx(sparse["accuracy"], abs=0.02)
        assert one_hot["loss"] == pytest.approx(sparse["loss"], rel=1e-3)


def test_one_hot_targets_in_keras_fit_and_streamed(tmp_path, write):
    csv = write(
        "iris.csv",
        "a,b,c,d,species\n" + "".join(f"{r[0]},{r[1]},{r[2]},{r[3]},s{t}\n" for r, t in _iris()),
    )
    config = write(
        "iris.yaml",
        f"data: {{path: {csv}, target: species, normalize: true, streaming: true}}\n"
        "loss: categorical_crossentropy\nmetrics: [accuracy, categorical_accuracy]\n"
        "optimizer: {name: adam, learning_rate: 0.01}\ntraining: {epochs: 10}\n",
    )
    run, metrics = train_json(tmp_path / "runs", config)
    assert metrics["accuracy"] > 0.7
    assert metrics["categorical_accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    again = invoke("evaluate", run, "--json")
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], metrics)


def test_a_one_hot_loss_with_class_weights(tmp_path):
    """dlcli's loop weighs one-hot rows by their class (Keras's loops: test_distribute, mirrored and two workers)."""
    _, metrics = train_json(tmp_path, CONFIGS / "digits_onehot.yaml", SHORT, "training.class_weight=balanced")
    assert metrics["accuracy"] > 0.8


def test_a_one_hot_loss_over_one_sigmoid_unit_is_a_located_error(write):
    config = write(
        "b.yaml",
        "data: {source: sklearn, name: breast_cancer}\nloss: categorical_crossentropy\nmodel: {output: {units: 1}}\n",
    )
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert "b.yaml:2:7: loss: 'categorical_crossentropy' compares one-hot rows" in result.stderr


def test_a_one_hot_loss_on_a_binary_target_makes_output_auto_two_softmax_units(write, tmp_path):
    """What the to_categorical script does for two classes: Dense(2, softmax) + categorical_crossentropy."""
    config = write(
        "b.yaml",
        "data: {source: sklearn, name: breast_cancer}\nloss: categorical_crossentropy\n"
        "model: {layers: [{units: 16}]}\ntraining: {epochs: 10, plots: false}\n",
    )
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    assert "output     Dense (softmax)  (None, 2)" in checked.stdout
    run, metrics = train_json(tmp_path / "runs", config)
    assert metrics["accuracy"] > 0.85
    assert json.loads((run / "labels.json").read_text()) == ["malignant", "benign"]


def test_sparse_metrics_with_a_one_hot_loss_are_located_errors(write):
    config = write(
        "d.yaml",
        "data: {source: sklearn, name: digits}\nloss: categorical_crossentropy\n"
        "metrics: [accuracy, sparse_categorical_accuracy]\n",
    )
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert "d.yaml:3:21: metrics[1]: 'sparse_categorical_accuracy' reads class indices" in result.stderr


def _iris():
    from sklearn.datasets import load_iris

    iris = load_iris()
    return zip(iris.data, iris.target, strict=True)


# -- item 2: squared error on one sigmoid unit -----------------------------------------------------


def test_squared_error_on_a_sigmoid_unit_trains_a_binary_task_with_a_warning(tmp_path):
    result = invoke("train", CONFIGS / "xor_mse.yaml", "--output-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning == [
        f"{CONFIGS / 'xor_mse.yaml'}:17:7: loss: warning: 'mean_squared_error' on one sigmoid unit trains "
        "(classic backprop), but binary_crossentropy is the usual choice for a 0/1 target"
    ] or warning[0].endswith("binary_crossentropy is the usual choice for a 0/1 target")
    payload = json.loads(result.stdout)
    metrics = payload["metrics"]
    assert metrics["accuracy"] > 0.85
    assert np.array(metrics["confusion_matrix"]["matrix"]).shape == (2, 2)
    run = tmp_path / payload["run_dir"].split("/")[-1]
    assert json.loads((run / "labels.json").read_text()) == [0, 1]
    assert "task: binary" in (run / "config.yaml").read_text()


def test_squared_error_on_a_linear_binary_output_stays_an_error(write):
    config = write(
        "x.yaml",
        "data: {source: synthetic, name: xor}\nmodel: {output: {units: 1, activation: linear}}\nloss: mse\n",
    )
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert "x.yaml:3:7: loss: 'mse' is a regression loss but the target has classes (binary)" in result.stderr


# -- item 3: more output units than classes ---------------------------------------------------------


@pytest.fixture
def digits_without_3(tmp_path, write):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target != 3
    np.save(tmp_path / "x.npy", digits.data[keep].astype(np.float32))
    np.save(tmp_path / "y.npy", digits.target[keep])

    def config(output: str):
        return write(
            "absent.yaml",
            "seed: 0\ndata: {source: npy, path: x.npy, y_path: y.npy, normalize: true}\n"
            f"model:\n  output: {output}\ntraining: {{epochs: 5}}\n",
        )

    return config


def test_more_units_than_classes_keeps_label_k_on_unit_k(tmp_path, digits_without_3):
    config = digits_without_3("{units: 10, activation: softmax}")
    result = invoke("train", config, "--output-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    assert (
        f"{config}:4:19: model.output.units: warning: 10 units for 9 classes; label(s) 3 never occur. "
        "Unit k stays label k (labels.json lists 0..9); the absent label(s) are never a training target"
    ) in result.stderr
    payload = json.loads(result.stdout)
    run, metrics = tmp_path / "runs" / payload["run_dir"].split("/")[-1], payload["metrics"]
    assert json.loads((run / "labels.json").read_text()) == list(range(10))
    matrix = np.array(metrics["confusion_matrix"]["matrix"])
    assert matrix.shape == (10, 10) and matrix[3].sum() == 0
    assert metrics["per_class"]["3"]["support"] == 0
    assert metrics["accuracy"] > 0.85 and metrics["macro_recall"] > 0.85  # the absent class is not averaged in

    # plain Keras predicts the user's own label numbers
    x, y = np.load(tmp_path / "x.npy"), np.load(tmp_path / "y.npy")
    predicted = plain_model(run).predict(x, verbose=0).argmax(axis=1)
    assert 3 not in set(predicted) or (predicted == 3).mean() < 0.01
    assert (predicted == y).mean() > 0.9

    again = invoke("evaluate", run, "--json")
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], metrics)

    import dlcli

    frame = dlcli.load(run).predict(str(tmp_path / "x.npy"), proba=True)
    assert frame["prediction"].astype(int).tolist() == predicted.tolist()
    assert [c for c in frame.columns if c.startswith("p_")] == [f"p_{k}" for k in range(10)]


def test_validate_agrees_with_train_on_units_beyond_the_labels(digits_without_3):
    config = digits_without_3("{units: 10, activation: softmax}")
    result = invoke("validate", config)
    assert result.exit_code == 0, result.output
    assert f"{config}:4:19: model.output.units: warning: 10 units for 9 classes" in result.stderr
    assert "(multiclass, input (64,), 10 classes)" in result.stdout


def test_fewer_units_than_classes_stays_a_located_error(digits_without_3):
    config = digits_without_3("{units: 8, activation: softmax}")
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert (
        f"{config}:4:19: model.output.units: the target has 9 classes but the output has 8 units; set units: 9 or auto"
        in result.stderr
    )


def test_auto_output_still_counts_the_classes_present(tmp_path, digits_without_3):
    config = digits_without_3("auto")
    result = invoke("train", config, "--output-dir", tmp_path / "runs", "--json", "--set", "training.epochs=1")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    run = tmp_path / "runs" / json.loads(result.stdout)["run_dir"].split("/")[-1]
    assert json.loads((run / "labels.json").read_text()) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_labels_that_do_not_start_at_zero_keep_the_exact_count_rule(write, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.repeat([5, 7, 9], 20))
    config = write("s.yaml", "data: {source: npy, path: x.npy, y_path: y.npy}\nmodel: {output: {units: 4}}\n")
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert "the target has 3 classes but the output has 4 units" in result.stderr


def test_a_streamed_file_keeps_label_k_on_unit_k(tmp_path, write):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 3], 100)  # no 2
    x = rng.normal(size=(300, 2)) + labels[:, None] * 3.0
    rows = "".join(f"{a:.4f},{b:.4f},{k}\n" for (a, b), k in zip(x, labels, strict=True))
    csv = write("blobs.csv", "a,b,label\n" + rows)
    config = write(
        "s.yaml",
        f"data: {{path: {csv}, target: label, streaming: true}}\nmodel:\n  output: {{units: 4}}\n"
        "optimizer: {name: adam, learning_rate: 0.05}\ntraining: {epochs: 10}\n",
    )
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    assert "model.output.units: warning: 4 units for 3 classes; label(s) 2 never occur" in checked.stderr
    run, metrics = train_json(tmp_path / "runs", config)
    assert json.loads((run / "labels.json").read_text()) == [0, 1, 2, 3]
    assert metrics["accuracy"] > 0.9 and metrics["per_class"]["2"]["support"] == 0
