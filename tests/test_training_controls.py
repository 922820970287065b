"""Training controls: schedules, clipping, regularizers, batch norm, class weights, callbacks, precision, determinism.

Config mistakes are located errors (exit 2); the Keras objects dlcli builds are checked against Keras itself;
short trainings on iris check what lands in the run directory.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcli.config.load import load_config_text
from dlcli.config.resolve import resolve
from dlcli.config.sections import ScheduleConfig
from dlcli.data import load as data
from dlcli.data import statistics
from dlcli.errors import ConfigError
from dlcli.model import specs as layer_specs
from dlcli.runs import store as runs
from dlcli.training import compile as train
from tests.conftest import ROOT, invoke, train_json

IRIS = "data: {source: sklearn, name: iris}\n"
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
SMALL = IRIS + "model: {layers: [{units: 8}]}\noptimizer: {name: adam, learning_rate: 0.01}\n"


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
    """A test that fails mid-run must not leave a mixed-precision policy to the tests after it."""
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].mixed_precision.set_global_policy("float32")


def load(text: str):
    return load_config_text(text, "x.yaml")


def resolved(text: str):
    """(config resolved for its data, dataset) for in-memory sklearn data."""
    config = load(text)
    dataset = data.load(config)
    return resolve(config, dataset.info.task, dataset.info.n_classes), dataset


def lr_at(schedule, step: int) -> float:
    import keras

    return float(keras.ops.convert_to_numpy(schedule(step)))


# -- config errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("optimizer:\n  schedule: {name: exponential_decay}\n", "3:13: optimizer.schedule",
         "exponential_decay needs decay_rate, e.g. {name: exponential_decay, decay_rate: 0.9}"),
        ("optimizer:\n  schedule: {name: piecewise_constant, boundaries: [10, 20], values: [0.1, 0.01]}\n",
         "3:13: optimizer.schedule",
         "piecewise_constant needs one more value than boundaries; got 2 boundaries and 2 values"),
        ("optimizer:\n  schedule: {name: piecewise_constant, boundaries: [10], values: [0.1, 0.01, 0.001]}\n",
         "3:13: optimizer.schedule",
         "piecewise_constant needs one more value than boundaries; got 1 boundaries and 3 values"),
        ("optimizer:\n  schedule: {name: piecewise_constant, boundaries: [20, 10], values: [0.1, 0.01, 0.001]}\n",
         "3:13: optimizer.schedule", "boundaries must increase, got [20, 10]"),
        ("optimizer:\n  schedule: {name: piecewise_constant, boundaries: [10, 10], values: [0.1, 0.01, 0.001]}\n",
         "3:13: optimizer.schedule", "boundaries must increase, got [10, 10]"),
        ("optimizer:\n  schedule: {name: piecewise_constant}\n", "3:13: optimizer.schedule",
         "piecewise_constant needs boundaries and values"),
        ("optimizer:\n  schedule: {name: cosine_decay, boundaries: [10], values: [1, 2]}\n",
         "3:13: optimizer.schedule", "boundaries and values belong to piecewise_constant"),
        ("optimizer:\n  schedule: {name: constant}\n", "3:13: optimizer.schedule",
         "constant is a warmup-only schedule; give warmup_steps, or leave the schedule out"),
        ("optimizer:\n  schedule: {name: cosine_decay, decay_steps: 0}\n", "3:47: optimizer.schedule.decay_steps",
         "must be at least 1, got 0"),
        ("optimizer: {name: adam, clipnorm: 1.0, global_clipnorm: 1.0}\n", "2:12: optimizer",
         "clipnorm and global_clipnorm are both set; Keras clips gradients one way, keep one"),
        ("optimizer: {name: sgd, clipvalue: 0}\n", "2:35: optimizer.clipvalue", "must be > 0.0; got 0"),
        ("model:\n  layers:\n    - {units: 8, kernel_regularizer: {l2: -0.1}}\n",
         "4:43: model.layers[0].kernel_regularizer.l2", "must be >= 0.0; got -0.1"),
        ("model:\n  layers:\n    - {units: 8, kernel_regularizer: {}}\n", "4:38: model.layers[0].kernel_regularizer",
         "give l1 and/or l2 above 0, e.g. {l2: 0.0001}"),
        ("model:\n  layers:\n    - {units: 8, kernel_regularizer: {l1: 0, l2: 0}}\n",
         "4:38: model.layers[0].kernel_regularizer", "give l1 and/or l2 above 0"),
        ("training:\n  class_weight: {setosa: 0}\n", "3:17: training.class_weight",
         "weights must be > 0, got {'setosa': 0.0}"),
        ("training:\n  class_weight: {setosa: 1.0, virginica: -2}\n", "3:17: training.class_weight",
         "weights must be > 0, got {'virginica': -2.0}"),
        ("training:\n  class_weight: {}\n", "3:17: training.class_weight",
         "an empty mapping; give {class: weight, ...} or balanced"),
    ],
    ids=[
        "exponential-without-decay_rate", "piecewise-values-short", "piecewise-values-long",
        "piecewise-decreasing", "piecewise-repeated", "piecewise-empty", "boundaries-outside-piecewise",
        "constant-without-warmup", "decay_steps-zero", "clipnorm-and-global", "clipvalue-zero",
        "l2-negative", "regularizer-empty", "regularizer-zero", "class-weight-zero", "class-weight-negative",
        "class-weight-empty",
    ],
)  # fmt: skip
def test_config_errors_are_located(write, text, where, message):
    config = write("c.yaml", IRIS + text)
    result = invoke("validate", config)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{config}:{where}: {message}"), line


def test_config_error_is_a_config_error_with_exit_code_2():
    with pytest.raises(ConfigError) as info:
        load(IRIS + "optimizer: {name: adam, schedule: {name: exponential_decay}}\n")
    assert info.value.exit_code == 2
    assert info.value.problems == [
        "x.yaml:2:35: optimizer.schedule: exponential_decay needs decay_rate, e.g. {name: exponential_decay, "
        "decay_rate: 0.9}"
    ]


def test_regularizer_shorthands_take_keras_default_factors():
    config = load(
        IRIS + "model:\n  layers: [{units: 4, kernel_regularizer: l2}, {units: 4, kernel_regularizer: l1_l2}]"
    )
    first, second = (layer.kernel_regularizer for layer in config.model.layers)
    assert (first.l1, first.l2) == (0.0, 0.01)
    assert (second.l1, second.l2) == (0.01, 0.01)


# -- errors found when the model is built ----------------------------------------------------------


WARMUP_ERROR = (
    "optimizer.schedule.warmup_steps: {warmup} warmup steps but training has only {total} "
    "({epochs} epochs x {steps} steps); lower warmup_steps"
)


@pytest.mark.parametrize(("warmup", "fails"), [(20, True), (21, True), (19, False)])
def test_warmup_must_be_shorter_than_training(warmup, fails):
    config, _ = resolved(
        IRIS + f"optimizer:\n  schedule: {{name: cosine_decay, warmup_steps: {warmup}}}\ntraining: {{epochs: 4}}\n"
    )
    if not fails:
        assert train.make_optimizer(config, steps_per_epoch=5) is not None
        return
    with pytest.raises(ConfigError) as info:
        train.make_optimizer(config, steps_per_epoch=5)
    assert info.value.exit_code == 2
    (problem,) = info.value.problems
    assert problem == "x.yaml:3:48: " + WARMUP_ERROR.format(warmup=warmup, total=20, epochs=4, steps=5)


def test_warmup_too_long_stops_train_before_a_run_directory(write, tmp_path):
    # iris: 150 rows -> 120 after the test split -> 108 after validation: 4 steps of 32, 8 in two epochs
    config = write("c.yaml", SMALL.replace("learning_rate: 0.01", "schedule: {name: constant, warmup_steps: 8}")
                   + "training: {epochs: 2}\n")  # fmt: skip
    result = invoke("train", config, "--output-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"{config}:3:66: " + WARMUP_ERROR.format(warmup=8, total=8, epochs=2, steps=4)
    assert not list((tmp_path / "runs").glob("*"))


def test_class_weight_for_an_unknown_class_lists_the_classes(write, tmp_path):
    config = write("c.yaml", SMALL + "training:\n  epochs: 1\n  class_weight: {setosa: 2, virginca: 3}\n")
    result = invoke("train", config, "--output-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"{config}:6:17: training.class_weight: no class 'virginca' in the data (did you mean 'virginica'?); "
        "classes: setosa, versicolor, virginica"
    )
    assert not list((tmp_path / "runs").glob("*"))


def test_a_build_error_does_not_leave_the_mixed_precision_policy_behind(write, tmp_path):
    import keras

    config = write("c.yaml", SMALL + "training: {epochs: 1, mixed_precision: mixed_float16, class_weight: {x: 2}}\n")
    result = invoke("train", config, "--output-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert keras.mixed_precision.global_policy().name == "float32"


# -- optimizer: clipping and schedules -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("clipnorm: 1.5", {"clipnorm": 1.5, "clipvalue": None, "global_clipnorm": None}),
        ("clipvalue: 0.5", {"clipnorm": None, "clipvalue": 0.5, "global_clipnorm": None}),
        ("global_clipnorm: 2.0", {"clipnorm": None, "clipvalue": None, "global_clipnorm": 2.0}),
    ],
)
def test_make_optimizer_passes_gradient_clipping(params, expected):
    config, _ = resolved(IRIS + f"optimizer: {{name: sgd, learning_rate: 0.05, {params}}}\n")
    optimizer = train.make_optimizer(config, steps_per_epoch=3)
    assert {key: getattr(optimizer, key) for key in expected} == expected
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.05)


@pytest.mark.parametrize("clips", ["clipnorm: 1.0, clipvalue: 0.5", "global_clipnorm: 1.0, clipvalue: 0.5"])
def test_two_kinds_of_clipping_are_rejected_when_the_config_loads(clips):
    with pytest.raises(ConfigError) as info:
        load(IRIS + f"optimizer: {{name: adam, {clips}}}\n")
    assert info.value.problems[0].startswith("x.yaml:2:12: optimizer: ")


def test_make_optimizer_schedule_spans_every_training_step():
    import keras

    config, _ = resolved(
        IRIS + "optimizer:\n  name: adam\n  learning_rate: 0.02\n  schedule: {name: cosine_decay, warmup_steps: 5}\n"
        "training: {epochs: 3}\n"
    )
    optimizer = train.make_optimizer(config, steps_per_epoch=10)
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["decay_steps"] == 25  # auto: 3 epochs x 10 steps, less the warmup
    assert schedule["config"]["warmup_steps"] == 5
    assert schedule["config"]["warmup_target"] == pytest.approx(0.02)
    assert isinstance(optimizer, keras.optimizers.Adam)


def test_schedule_starts_from_the_optimizer_default_learning_rate():
    config, _ = resolved(IRIS + "optimizer: {name: sgd, schedule: {name: exponential_decay, decay_rate: 0.5}}\n")
    optimizer = train.make_optimizer(config, steps_per_epoch=4)
    assert optimizer.get_config()["learning_rate"]["config"]["initial_learning_rate"] == pytest.approx(0.01)


def make(total_steps: int, learning_rate: float = 0.1, **spec):
    from dlcli.model import schedules

    return schedules.make(ScheduleConfig(**spec), learning_rate, total_steps)


@pytest.mark.parametrize(
    ("spec", "steps", "expected"),
    [
        ({"name": "exponential_decay", "decay_rate": 0.5, "decay_steps": 10}, [0, 5, 10, 20, 30],
         [0.1, 0.1 * 0.5**0.5, 0.05, 0.025, 0.0125]),
        ({"name": "exponential_decay", "decay_rate": 0.5, "decay_steps": 10, "staircase": True}, [0, 9, 10, 19, 20],
         [0.1, 0.1, 0.05, 0.05, 0.025]),
        ({"name": "exponential_decay", "decay_rate": 0.5}, [0, 100], [0.1, 0.05]),  # auto: one decay over training
        ({"name": "cosine_decay"}, [0, 25, 50, 100, 150], [0.1, 0.1 * (1 + 0.5**0.5) / 2, 0.05, 0.0, 0.0]),
        ({"name": "cosine_decay", "alpha": 0.1}, [0, 50, 100], [0.1, 0.055, 0.01]),
        ({"name": "cosine_decay", "decay_steps": 40}, [0, 20, 40, 100], [0.1, 0.05, 0.0, 0.0]),
        ({"name": "piecewise_constant", "boundaries": [10, 20], "values": [1.0, 0.5, 0.25]},
         [0, 10, 11, 20, 21, 1000], [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]),
    ],
)  # fmt: skip
def test_schedule_values(spec, steps, expected):
    schedule = make(100, **spec)
    assert [lr_at(schedule, s) for s in steps] == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_cosine_decay_with_warmup_rises_then_decays_over_the_remaining_steps():
    schedule = make(100, name="cosine_decay", warmup_steps=10)
    assert schedule.decay_steps == 90  # auto: every step after the warmup
    values = [lr_at(schedule, s) for s in (0, 5, 10, 55, 100, 120)]
    assert values == pytest.approx([0.0, 0.05, 0.1, 0.05, 0.0, 0.0], abs=1e-7)


def test_constant_with_warmup_is_a_linear_ramp_then_the_learning_rate():
    schedule = make(100, name="constant", warmup_steps=4)
    ramp = [lr_at(schedule, s) for s in range(4)]
    assert ramp == pytest.approx([0.025, 0.05, 0.075, 0.1])  # from ~0 (lr / warmup) up to lr
    assert [lr_at(schedule, s) for s in (4, 5, 50, 99, 10_000)] == pytest.approx([0.1] * 5)


def test_warmup_hands_over_to_the_schedule_shifted_by_the_warmup():
    schedule = make(30, name="exponential_decay", decay_rate=0.5, warmup_steps=10)
    assert schedule.after.decay_steps == 20  # auto: total minus warmup
    assert lr_at(schedule, 0) == pytest.approx(0.01)
    assert lr_at(schedule, 9) == pytest.approx(0.1)
    assert lr_at(schedule, 10) == pytest.approx(0.1)  # the decay starts at its own step 0
    assert lr_at(schedule, 20) == pytest.approx(0.1 * 0.5**0.5)
    assert lr_at(schedule, 30) == pytest.approx(0.05)


def test_piecewise_constant_with_warmup_ramps_to_its_first_value():
    schedule = make(100, learning_rate=0.123, name="piecewise_constant", boundaries=[5], values=[1.0, 0.1],
                    warmup_steps=10)  # fmt: skip
    assert [lr_at(schedule, s) for s in (0, 4, 9, 10, 15, 16)] == pytest.approx([0.1, 0.5, 1.0, 1.0, 1.0, 0.1])


def test_a_model_with_a_warmup_schedule_reloads(tmp_path):
    import keras

    from dlcli.model import schedules
    from dlcli.model.build import build

    config, ds = resolved(
        SMALL.replace("learning_rate: 0.01", "learning_rate: 0.01, schedule: {name: constant, warmup_steps: 10}")
        + "training: {epochs: 2, batch_size: 16}\n"
    )
    net = build(config, ds.info, statistics.of(ds, config))
    train.compile_model(net, train.objectives(config, 7))
    net.fit(ds.x_train, ds.y_train, batch_size=16, epochs=1, verbose=0)  # 108 rows: 7 steps
    net.save(tmp_path / "m.keras")
    again = runs.load_model(tmp_path / "m.keras")
    saved = again.optimizer.get_config()["learning_rate"]
    assert (saved["class_name"], saved["registered_name"]) == ("Warmup", "dlcli>Warmup")
    schedule = keras.saving.deserialize_keras_object(saved)
    assert isinstance(schedule, schedules.Warmup) and schedule.warmup_steps == 10
    assert int(again.optimizer.iterations.numpy()) == 7
    assert float(again.optimizer.learning_rate.numpy()) == pytest.approx(0.01 * 8 / 10)  # mid-warmup
    assert float(net.optimizer.learning_rate.numpy()) == pytest.approx(0.01 * 8 / 10)
    np.testing.assert_allclose(again.predict(ds.x_test, verbose=0), net.predict(ds.x_test, verbose=0), rtol=1e-6)


# -- class weights -------------------------------------------------------------------------------------


def weight_config(spec: str):
    return load(IRIS + f"training: {{class_weight: {spec}}}\n")


def test_balanced_class_weights_are_n_over_k_times_count():
    y = np.array([0, 0, 0, 1, 2, 2])
    weights = train.class_weights(weight_config("balanced"), IRIS_CLASSES, y)
    assert weights == pytest.approx({0: 6 / (3 * 3), 1: 6 / (3 * 1), 2: 6 / (3 * 2)})
    per_class_total = [weights[c] * int((y == c).sum()) for c in range(3)]
    assert per_class_total == pytest.approx([2.0, 2.0, 2.0])  # every class weighs the same in total


def test_balanced_class_weights_of_an_absent_class_are_one():
    weights = train.class_weights(weight_config("balanced"), ["a", "b", "c", "d"], np.array([[0], [0], [1], [1]]))
    assert weights == pytest.approx({0: 0.5, 1: 0.5, 2: 1.0, 3: 1.0})


def test_class_weights_by_class_name():
    weights = train.class_weights(weight_config("{virginica: 3, setosa: 0.5}"), IRIS_CLASSES, np.array([0, 1, 2]))
    assert weights == {0: 0.5, 1: 1.0, 2: 3.0}


def test_class_weights_by_integer_label():
    config = load("data: {source: sklearn, name: digits}\ntraining: {class_weight: {0: 2, 9: 0.25}}\n")
    weights = train.class_weights(config, list(range(10)), np.arange(10))
    assert weights == {0: 2.0, **{i: 1.0 for i in range(1, 9)}, 9: 0.25}


def test_no_class_weight_is_none():
    assert train.class_weights(load(IRIS), IRIS_CLASSES, np.array([0, 1])) is None


def test_unknown_class_name_raises_a_located_config_error():
    config = load(IRIS + "training:\n  class_weight: {Setosa: 2}\n")
    with pytest.raises(ConfigError) as info:
        train.class_weights(config, IRIS_CLASSES, np.array([0, 1, 2]))
    assert info.value.problems == [
        "x.yaml:3:17: training.class_weight: no class 'Setosa' in the data (did you mean 'setosa'?); "
        "classes: setosa, versicolor, virginica"
    ]


# -- batch_norm and kernel_regularizer: the plan, validate's table and the built model ----------------


BN_REG = """\
data: {source: sklearn, name: iris}
model:
  layers:
    - {units: 16, batch_norm: true, kernel_regularizer: {l1: 0.001, l2: 0.01}, dropout: 0.1}
    - {units: 8, activation: tanh, kernel_regularizer: l2}
    - {units: 6, activation: null, batch_norm: true}
"""


def test_batch_norm_plan_is_dense_without_bias_then_batch_norm_then_activation():
    config, _ = resolved(BN_REG)
    specs = layer_specs.layers(config, (4,))
    assert [(s.name, s.keras_type, s.activation, s.params, s.use_bias) for s in specs] == [
        ("normalize", "Normalization", None, 0, True),
        ("hidden_1", "Dense", "linear", 4 * 16, False),
        ("batch_norm_1", "BatchNormalization", None, 4 * 16, True),
        ("activation_1", "Activation", "relu", 0, True),
        ("dropout_1", "Dropout", None, 0, True),
        ("hidden_2", "Dense", "tanh", 16 * 8 + 8, True),
        ("hidden_3", "Dense", "linear", 8 * 6, False),
        ("batch_norm_3", "BatchNormalization", None, 4 * 6, True),
        ("activation_3", "Activation", "linear", 0, True),
        ("output", "Dense", "softmax", 6 * 3 + 3, True),
    ]
    assert [s.regularizer for s in specs if s.kind == "dense"] == [(0.001, 0.01), (0.0, 0.01), None, None]


def test_batch_norm_and_regularizer_model_matches_the_plan():
    import keras

    from dlcli.model.build import build

    config, ds = resolved(BN_REG)
    specs = layer_specs.layers(config, ds.info.input_shape)
    net = build(config, ds.info, statistics.of(ds, config))
    assert [layer.name for layer in net.layers] == [s.name for s in specs]
    assert [type(layer).__name__ for layer in net.layers] == [s.keras_type for s in specs]
    assert net.count_params() == sum(s.params for s in specs) == 64 + 64 + 136 + 48 + 24 + 21
    for spec in specs:
        assert net.get_layer(spec.name).count_params() == spec.params, spec.name

    first = net.get_layer("hidden_1")
    assert first.use_bias is False and first.bias is None
    assert first.get_config()["activation"] == "linear"
    assert isinstance(first.kernel_regularizer, keras.regularizers.L1L2)
    assert first.kernel_regularizer.get_config() == pytest.approx({"l1": 0.001, "l2": 0.01})
    second = net.get_layer("hidden_2")
    assert second.use_bias is True
    assert second.kernel_regularizer.get_config() == pytest.approx({"l1": 0.0, "l2": 0.01})
    assert net.get_layer("output").kernel_regularizer is None
    assert net.get_layer("activation_1").get_config()["activation"] == "relu"

    w1, w2 = first.kernel.numpy(), second.kernel.numpy()
    expected = [0.001 * np.abs(w1).sum() + 0.01 * np.square(w1).sum(), 0.01 * np.square(w2).sum()]
    assert [float(loss) for loss in net.losses] == pytest.approx(expected, rel=1e-5)

    train.compile_model(net, train.objectives(config, 1))
    x, y = ds.x_train[:32], ds.y_train[:32]
    data_loss = float(net.compute_loss(x, y, net(x, training=False), training=False))  # includes the penalty
    plain = float(keras.losses.SparseCategoricalCrossentropy()(y, net(x, training=False)))
    assert data_loss == pytest.approx(plain + sum(expected), rel=1e-5)


def test_validate_table_counts_batch_norm_and_regularized_layers_like_keras(write):
    from dlcli.model.build import build

    config_path = write("c.yaml", BN_REG)
    result = invoke("validate", config_path)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[3:-1]}
    assert "BatchNormalization" in rows["batch_norm_1"] and rows["batch_norm_1"].endswith(" 64")
    assert "Activation (relu)" in rows["activation_1"]
    assert "Dense (linear)" in rows["hidden_1"] and rows["hidden_1"].endswith(" 64")
    config, ds = resolved(BN_REG)
    assert (
        result.stdout.splitlines()[-1]
        == f"total params: {build(config, ds.info, statistics.of(ds, config)).count_params():,}"
    )


def test_batch_norm_in_a_model_with_categorical_inputs(tmp_path):
    from dlcli.model.build import build

    rows = "\n".join(f"{i % 7},{'abc'[i % 3]},{'xy'[i % 2]},{i % 2}" for i in range(60))
    (tmp_path / "t.csv").write_text("n,c1,c2,y\n" + rows + "\n")
    text = (
        "data: {path: t.csv, target: y, embedding: {c1: 2}}\n"
        "model: {layers: [{units: 5, batch_norm: true, kernel_regularizer: {l2: 0.001}}]}\n"
    )
    config = load_config_text(text, "c.yaml", base_dir=tmp_path)
    ds = data.load(config)
    config = resolve(config, ds.info.task, ds.info.n_classes)
    specs = layer_specs.layers(config, ds.info.input_shape, {c: len(v) for c, v in ds.info.vocab.items()})
    net = build(config, ds.info, statistics.of(ds, config))
    assert net.count_params() == sum(s.params for s in specs)
    assert net.get_layer("hidden_1").use_bias is False
    assert type(net.get_layer("batch_norm_1")).__name__ == "BatchNormalization"
    assert len(net.losses) == 1


# -- short trainings ---------------------------------------------------------------------------------


def history(run: Path) -> dict[str, list[float]]:
    with open(run / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {key: [float(row[key]) for row in rows] for key in rows[0]}


def test_reduce_lr_on_plateau_logs_and_lowers_the_learning_rate(write, tmp_path):
    # min_delta far above any change in val_loss: every epoch after the first is a plateau
    config = write(
        "c.yaml",
        SMALL + "training:\n  epochs: 4\n  batch_size: 16\n"
        "  reduce_lr_on_plateau: {patience: 0, factor: 0.5, min_delta: 100}\n",
    )
    run, _ = train_json(tmp_path / "runs", config)
    rates = history(run)["learning_rate"]
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.0025])  # each row: the rate the epoch trained with
    assert all(later < earlier for earlier, later in zip(rates[1:], rates[2:], strict=False))
    assert json.loads((run / "run.json").read_text())["epochs_done"] == 4


def test_reduce_lr_on_plateau_respects_min_lr(write, tmp_path):
    config = write(
        "c.yaml",
        SMALL + "training:\n  epochs: 4\n  batch_size: 16\n"
        "  reduce_lr_on_plateau: {monitor: loss, patience: 0, factor: 0.1, min_delta: 100, min_lr: 0.0005}\n",
    )
    run, _ = train_json(tmp_path / "runs", config)
    assert history(run)["learning_rate"] == pytest.approx([0.01, 0.01, 0.001, 0.0005])


def test_checkpoint_keeps_the_best_model(write, tmp_path):
    config = write("c.yaml", SMALL + "training: {epochs: 3, batch_size: 16, checkpoint: true}\n")
    run, _ = train_json(tmp_path / "runs", config)
    best = run / "checkpoints" / "best.keras"
    assert best.is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras"]  # no temporaries, no resume state
    model = runs.load_model(best)
    final = runs.load_model(run / "model.keras")
    assert [w.shape for w in model.get_weights()] == [w.shape for w in final.get_weights()]
    _, ds = resolved(SMALL)
    assert model.predict(ds.x_test[:5], verbose=0).shape == (5, 3)


def test_checkpoint_by_a_maximised_metric(write, tmp_path):
    config = write(
        "c.yaml", SMALL + "training: {epochs: 2, batch_size: 16, checkpoint: {monitor: val_accuracy, mode: max}}\n"
    )
    run, _ = train_json(tmp_path / "runs", config)
    assert runs.load_model(run / "checkpoints" / "best.keras") is not None


def test_tensorboard_writes_event_files(write, tmp_path):
    config = write("c.yaml", SMALL + "training: {epochs: 2, batch_size: 16, tensorboard: true}\n")
    result = invoke("train", config, "--output-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.stderr[-1000:]
    run = Path(json.loads(result.stdout)["run_dir"])
    events = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    assert {p.parent.name for p in events} >= {"train", "validation"}


def test_balanced_class_weight_trains(write, tmp_path):
    config = write("c.yaml", SMALL + "training: {epochs: 2, batch_size: 16, class_weight: balanced}\n")
    run, metrics = train_json(tmp_path / "runs", config)
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert "class_weight: balanced" in (run / "config.yaml").read_text()


def test_mixed_float16_trains_with_a_float32_output(write, tmp_path):
    import keras

    config = write("c.yaml", SMALL + "training: {epochs: 2, batch_size: 16, mixed_precision: mixed_float16}\n")
    run, metrics = train_json(tmp_path / "runs", config)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert np.isfinite(metrics["loss"])
    from dlcli.model.columns import trained_part

    model = trained_part(runs.load_model(run / "model.keras", compile=False))
    assert model.get_layer("output").dtype_policy.compute_dtype == "float32"
    assert model.get_layer("hidden_1").dtype_policy.compute_dtype == "float16"
    assert model.get_layer("hidden_1").kernel.dtype == "float32"  # variables stay float32
    assert model.predict(np.zeros((2, 4), np.float32), verbose=0).dtype == np.float32


# -- determinism -------------------------------------------------------------------------------------


def weights_sha256(model_path: Path) -> str:
    """The saved model's weights hashed as run.json's weights_sha256 is."""
    from dlcli.runs import store as runs
    from dlcli.training import runner

    return runner.weights_sha256(runs.load_model(model_path, compile=False))


@pytest.mark.slow  # multi-run
def test_deterministic_runs_give_identical_weights(write, tmp_path):
    config = write(
        "c.yaml",
        IRIS + "seed: 3\nmodel: {layers: [{units: 16, dropout: 0.3, batch_norm: true}, {units: 8}]}\n"
        "training: {epochs: 3, batch_size: 16, deterministic: true}\n",
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}
    # op determinism is process-wide: each run in its own process (all at once, to save time);
    # the third run has another seed, to show that the hash does see a different training
    command = [sys.executable, "-m", "dlcli", "train", str(config), "--json", "--quiet", "--output-dir"]
    procs = [
        subprocess.Popen(
            [*command, str(tmp_path / f"runs{i}"), *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, extra in enumerate([(), (), ("--set", "seed=4")])
    ]
    hashes = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        run = Path(json.loads(out)["run_dir"])
        hashes.append(weights_sha256(run / "model.keras"))
        chosen = json.loads((run / "environment.json").read_text())["execution"]
        assert chosen["jit_compile"] is False and "deterministic: true" in chosen["jit_compile_reason"]
    first, second, other_seed = hashes
    assert first == second, f"weights differ between two deterministic runs: {first} != {second}"
    assert other_seed != first, f"seed 4 gave the same weights as seed 3: {first}"
