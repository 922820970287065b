"""The layer plan ``validate`` prints and ``model.build`` follows: layers, shapes, parameter counts."""

from __future__ import annotations

import pytest

from dlcli.config.load import load_config_text
from dlcli.config.resolve import resolve
from dlcli.model import specs as layer_specs


def resolved(text: str, task: str = "multiclass", n_classes: int | None = 10):
    return resolve(load_config_text(text, "x.yaml"), task, n_classes)


def kinds(specs) -> list[str]:
    return [s.kind for s in specs]


DIGITS_MLP = """\
data: {source: sklearn, name: digits}
model:
  layers:
    - {units: 64, activation: relu}
    - {units: 64, activation: relu, dropout: 0.2}
"""


def test_digits_mlp_layers_and_params():
    specs = layer_specs.layers(resolved(DIGITS_MLP), (64,))
    assert [(s.name, s.kind, s.output_shape, s.params) for s in specs] == [
        ("normalize", "normalization", (None, 64), 0),
        ("hidden_1", "dense", (None, 64), 64 * 64 + 64),
        ("hidden_2", "dense", (None, 64), 64 * 64 + 64),
        ("dropout_2", "dropout", (None, 64), 0),
        ("output", "dense", (None, 10), 64 * 10 + 10),
    ]
    assert sum(s.params for s in specs) == 8970
    assert specs[-1].activation == "softmax"
    assert specs[3].rate == 0.2


def test_table_for_digits_mlp():
    specs = layer_specs.layers(resolved(DIGITS_MLP), (64,))
    lines = layer_specs.table(specs, (64,)).splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "params"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["input", "Input", "(None,", "64)", "0"]
    body = {line.split()[0]: line for line in lines[3:-1]}
    assert list(body) == ["normalize", "hidden_1", "hidden_2", "dropout_2", "output"]
    assert "Normalization" in body["normalize"]
    assert "Dense (relu)" in body["hidden_1"] and body["hidden_1"].endswith("4,160")
    assert "Dropout (0.2)" in body["dropout_2"] and body["dropout_2"].endswith(" 0")
    assert "Dense (softmax)" in body["output"] and body["output"].endswith("650")
    assert lines[-1] == "total params: 8,970"


def test_table_columns_line_up():
    specs = layer_specs.layers(resolved(DIGITS_MLP), (64,))
    lines = layer_specs.table(specs, (64,)).splitlines()[:-1]
    assert len({len(line) for line in lines}) == 1


CLASSIC = "model: {layers: [{units: 64}, {units: 64}]}\n"  # the network dlcli's earlier default was


def test_image_input_is_flattened_first():
    specs = layer_specs.layers(resolved("data: {source: sklearn, name: digits}\n" + CLASSIC), (28, 28))
    assert specs[0].kind == "flatten"
    assert specs[0].output_shape == (None, 784)
    assert specs[2].params == 784 * 64 + 64
    table = layer_specs.table(specs, (28, 28))
    assert "(None, 28, 28)" in table
    assert "Flatten" in table


def test_flat_input_has_no_flatten():
    assert "flatten" not in kinds(layer_specs.layers(resolved("data: {source: sklearn, name: digits}\n"), (64,)))


def test_scale_adds_rescaling_before_normalization():
    config = resolved("data: {source: sklearn, name: digits, scale: 0.00392156862745098}\n")
    specs = layer_specs.layers(config, (28, 28))
    assert kinds(specs)[:3] == ["flatten", "rescaling", "normalization"]
    assert specs[1].scale == pytest.approx(1 / 255)
    assert "Rescaling" in layer_specs.table(specs, (28, 28))


def test_no_scale_no_rescaling_and_normalize_off():
    specs = layer_specs.layers(resolved("data: {source: sklearn, name: digits, normalize: false}\n" + CLASSIC), (64,))
    assert kinds(specs) == ["dense", "dense", "dense"]


def test_mnist_tutorial_network():
    text = """\
data: {source: sklearn, name: digits, normalize: false, scale: 0.00392156862745098, validation_split: 0}
model:
  layers: [{units: 128, activation: relu, dropout: 0.2}]
  output: {units: 10, activation: linear}
loss: {name: sparse_categorical_crossentropy, from_logits: true}
"""
    specs = layer_specs.layers(resolved(text), (28, 28))
    assert kinds(specs) == ["flatten", "rescaling", "dense", "dropout", "dense"]
    assert sum(s.params for s in specs) == 101_770  # the TensorFlow beginner tutorial's count
    assert "Dense (linear)" in layer_specs.table(specs, (28, 28))


@pytest.mark.parametrize(
    ("task", "n_classes", "units", "activation"),
    [("binary", 2, 1, "sigmoid"), ("regression", None, 1, "linear"), ("multiclass", 3, 3, "softmax")],
)
def test_output_layer_follows_the_task(task, n_classes, units, activation):
    config = resolved("data: {source: sklearn, name: iris}\nmodel: {layers: [{units: 8}]}\n", task, n_classes)
    out = layer_specs.layers(config, (4,))[-1]
    assert (out.name, out.units, out.activation, out.params) == ("output", units, activation, 8 * units + units)


def test_dropout_rows_follow_their_layer():
    text = """\
data: {source: sklearn, name: iris, normalize: false}
model:
  layers:
    - {units: 16, dropout: 0.5}
    - {units: 8}
    - {units: 4, activation: tanh, dropout: 0.1}
"""
    specs = layer_specs.layers(resolved(text, "multiclass", 3), (4,))
    assert [(s.name, s.rate) for s in specs] == [
        ("hidden_1", None),
        ("dropout_1", 0.5),
        ("hidden_2", None),
        ("hidden_3", None),
        ("dropout_3", 0.1),
        ("output", None),
    ]
    assert specs[1].output_shape == (None, 16)
    assert sum(s.params for s in specs) == (4 * 16 + 16) + (16 * 8 + 8) + (8 * 4 + 4) + (4 * 3 + 3)
    table = layer_specs.table(specs, (4,))
    assert "Dropout (0.5)" in table and "Dropout (0.1)" in table and "Dense (tanh)" in table


def test_hidden_layer_without_activation_is_linear():
    config = resolved(
        "data: {source: sklearn, name: iris}\nmodel: {layers: [{units: 5, activation: null}]}\n", "multiclass", 3
    )
    assert layer_specs.layers(config, (4,))[1].activation == "linear"


def test_no_hidden_layers_is_a_linear_model():
    config = resolved("data: {source: sklearn, name: diabetes}\nmodel: {layers: []}\n", "regression", None)
    specs = layer_specs.layers(config, (10,))
    assert kinds(specs) == ["normalization", "dense"]
    assert specs[-1].params == 11


def test_keras_type_names():
    specs = layer_specs.layers(resolved("data: {source: sklearn, name: digits, scale: 0.5}\n" + CLASSIC), (8, 8))
    assert [s.keras_type for s in specs] == ["Flatten", "Rescaling", "Normalization", "Dense", "Dense", "Dense"]
