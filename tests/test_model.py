"""model.build follows plan.layers exactly; preprocessing statistics come from the training split."""

from __future__ import annotations

import numpy as np
import pytest

from dlcli.config.load import load_config_text
from dlcli.config.resolve import resolve
from dlcli.data import load as data
from dlcli.data import statistics
from dlcli.data.statistics import normalization_stats
from dlcli.model import specs as layer_specs
from dlcli.model.build import build
from dlcli.model.head import predicted_classes
from dlcli.training.compile import compile_model, make_loss, make_metrics, make_optimizer, objectives


def resolved(text: str, **kw):
    config = load_config_text(text, "c.yaml", **kw)
    ds = data.load(config)
    return resolve(config, ds.info.task, ds.info.n_classes), ds


def test_digits_model_matches_the_plan():
    config, ds = resolved(
        "data: {source: sklearn, name: digits}\nmodel: {layers: [{units: 64}, {units: 64, dropout: 0.2}]}\n"
    )
    model = build(config, ds.info, statistics.of(ds, config))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Normalization", "Dense", "Dense", "Dropout", "Dense"]
    specs = layer_specs.layers(config, ds.info.input_shape)
    assert [s.name for s in specs] == [layer.name for layer in model.layers]
    assert model.count_params() == sum(s.params for s in specs) == 64 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert model.layers[-1].units == 10
    assert model.layers[-1].get_config()["activation"] == "softmax"


def test_normalization_uses_training_statistics_only():
    config, ds = resolved("data: {source: sklearn, name: wine}\n")
    model = build(config, ds.info, statistics.of(ds, config))
    norm = model.get_layer("normalize")
    mean, var = normalization_stats(ds.x_train, None)
    np.testing.assert_allclose(np.ravel(norm.mean), mean, rtol=1e-5)
    np.testing.assert_allclose(np.ravel(norm.variance), var, rtol=1e-5)
    full = np.concatenate([ds.x_train, ds.x_val, ds.x_test]).astype(np.float64).mean(axis=0)
    assert not np.allclose(mean, full)


def test_constant_feature_is_centred_not_blown_up():
    x = np.zeros((10, 3), dtype=np.float32)
    x[:, 1] = np.arange(10)
    mean, var = normalization_stats(x, None)
    assert var[0] == 1.0 and var[2] == 1.0 and var[1] == pytest.approx(8.25)


def test_binary_and_regression_outputs():
    config, ds = resolved("data: {source: sklearn, name: breast_cancer}\n")
    model = build(config, ds.info, statistics.of(ds, config))
    out = model.get_layer("output")
    assert out.units == 1 and out.get_config()["activation"] == "sigmoid"
    config, ds = resolved("data: {source: sklearn, name: diabetes}\n")
    model = build(config, ds.info, statistics.of(ds, config))
    out = model.get_layer("output")  # the recommended network then scales back to the target's units
    assert out.units == 1 and out.get_config()["activation"] == "linear"


def test_keras_round_trip_keeps_predictions(tmp_path):
    import keras

    config, ds = resolved("data: {source: sklearn, name: iris}\n")
    model = build(config, ds.info, statistics.of(ds, config))
    compile_model(model, objectives(config, 1))
    model.fit(ds.x_train, ds.y_train, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(ds.x_test, verbose=0), again.predict(ds.x_test, verbose=0))


def test_loss_with_parameters_goes_through_keras():
    config, _ = resolved(
        "data: {source: sklearn, name: iris}\nmodel: {output: {activation: linear}}\n"
        "loss: {name: sparse_categorical_crossentropy, from_logits: true}\n"
    )
    loss = make_loss(config)
    assert type(loss).__name__ == "SparseCategoricalCrossentropy" and loss.get_config()["from_logits"] is True


def test_bad_loss_parameter_is_a_config_error():
    from dlcli.errors import ConfigError

    config, _ = resolved(
        "data: {source: sklearn, name: iris}\nloss: {name: sparse_categorical_crossentropy, form_logits: true}\n"
    )
    with pytest.raises(ConfigError, match="rejects these parameters"):
        make_loss(config)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop", "adamw", "lamb"])
def test_optimizers_resolve(name):
    config, _ = resolved(f"data: {{source: sklearn, name: iris}}\noptimizer: {{name: {name}, learning_rate: 0.05}}\n")
    opt = make_optimizer(config)
    assert type(opt).__name__.lower() == name
    assert float(opt.learning_rate) == pytest.approx(0.05)


def test_accuracy_follows_the_output():
    config, _ = resolved("data: {source: sklearn, name: breast_cancer}\nmodel: {output: {activation: linear}}\n")
    (acc,) = make_metrics(config)
    assert type(acc).__name__ == "BinaryAccuracy" and acc.threshold == 0.0
    config, _ = resolved("data: {source: sklearn, name: iris}\n")
    (acc,) = make_metrics(config)
    assert type(acc).__name__ == "SparseCategoricalAccuracy"
    config, _ = resolved("data: {source: sklearn, name: breast_cancer}\nmetrics: [accuracy, {name: auc, curve: PR}]\n")
    acc, auc = make_metrics(config)
    assert type(acc).__name__ == "BinaryAccuracy" and acc.threshold == 0.5 and auc.curve.name == "PR"


def test_predicted_classes():
    assert predicted_classes(np.array([[0.1, 0.9], [0.8, 0.2]]), "softmax").tolist() == [1, 0]
    assert predicted_classes(np.array([[0.7], [0.2]]), "sigmoid").tolist() == [1, 0]
    assert predicted_classes(np.array([[0.7], [-0.2]]), "linear").tolist() == [1, 0]
