"""dlcli's compiled training loop: the same batches and updates as Keras's fit, faster; XLA with Keras's Dropout."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from dlcli.config.load import load_config_text
from dlcli.config.resolve import resolve
from dlcli.data import load as data
from dlcli.data import statistics
from dlcli.training import execution, fastloop, keras_internals
from dlcli.training.compile import compile_model, objectives
from dlcli.training.execution import Execution, steps_per_epoch
from dlcli.training.fit import fit
from tests.conftest import CONFIGS, train_json

pytestmark = pytest.mark.slow  # multi-run: each test trains the same model in two loops and compares them

# iris: 120 training rows; batch 7 leaves a last batch of 1 row in every epoch
IRIS = (
    "seed: 3\ndata: {{source: sklearn, name: iris, validation_split: 0.0}}\n"
    "model: {{layers: [{{units: 16}}, {{units: 8, dropout: {dropout}}}]}}\n"
    "optimizer: {{name: adam, learning_rate: 0.01}}\n"
    "training: {{epochs: {epochs}, batch_size: {batch}{training}}}\n"
)


def fitted(*, loop_name="dlcli", steps=4, jit=False, dropout=0.0, epochs=3, batch=7, training="", optimizer=None):
    """A model trained by training.fit.fit with the given execution; (model, history)."""
    import keras

    from dlcli.model import build

    text = IRIS.format(dropout=dropout, epochs=epochs, batch=batch, training=training)
    if optimizer:
        text = text.replace("name: adam", f"name: {optimizer}")
    config = load_config_text(text, "c.yaml")
    dataset = data.load(config)
    info = dataset.info
    resolved = resolve(config, info.task, info.n_classes)
    keras.utils.set_random_seed(resolved.seed)
    net = build.build(resolved, info, statistics.of(dataset, resolved))
    chosen = Execution(loop_name, steps, jit)
    made = objectives(resolved, steps_per_epoch(dataset, resolved), classes=info.classes, y_train=dataset.y_train)
    compile_model(net, made, chosen)
    history = fit(net, dataset, resolved, chosen, made)
    assert net.train_function is None or loop_name == "keras"  # dlcli's loop lets go of its copy of the data
    return net, history.history


def assert_same_weights(a, b, **tolerance):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        if tolerance:
            np.testing.assert_allclose(x, y, **tolerance)
        else:
            np.testing.assert_array_equal(x, y)


def test_dlcli_loop_makes_exactly_the_updates_keras_fit_makes():
    """Same order of rows, same batches (the last one of 1 row), same steps: the same weights to the bit."""
    ours, ours_history = fitted(loop_name="dlcli", steps=4)
    keras_fit, keras_history = fitted(loop_name="keras", steps=1)
    assert_same_weights(ours, keras_fit)
    assert ours_history == keras_history
    assert int(ours.optimizer.iterations.numpy()) == 3 * 18  # ceil(120 / 7) steps an epoch, the tail included


def test_a_model_compiled_for_keras_loop_still_trains_every_step():
    """A checkpoint from Keras's loop carries steps_per_execution 32 in its compile config."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=32)
    x, y = np.ones((100, 2), np.float32), np.ones(100, np.float32)
    epochs = fastloop.CompiledEpochs(model, x, y, batch_size=10, seed=0, steps=3, jit=False)
    epochs.install()
    model.fit(epochs.dataset, epochs=2, verbose=0, shuffle=False, callbacks=[epochs.callback()])
    assert int(model.optimizer.iterations.numpy()) == 2 * 10


def test_an_optimizer_that_copies_the_weights_when_built_trains_the_same_in_both_loops():
    """schedulefreeadamw copies the weights in build(): built at compile, not inside a traced step."""
    ours, _ = fitted(optimizer="schedulefreeadamw")
    keras_fit, _ = fitted(loop_name="keras", steps=1, optimizer="schedulefreeadamw")
    assert_same_weights(ours, keras_fit)


def test_a_model_xla_refuses_trains_without_it_and_says_so(capsys):
    import keras
    import tensorflow as tf

    class HostCopy(keras.layers.Layer):  # numpy_function: runs on the host, not compilable by XLA
        def call(self, x):
            out = tf.numpy_function(lambda a: a, [x], tf.float32)
            out.set_shape(x.shape)
            return out

    model = keras.Sequential([keras.Input((3,)), HostCopy(), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((40, 3), np.float32), np.ones(40, np.float32)
    epochs = fastloop.CompiledEpochs(model, x, y, batch_size=8, seed=0, steps=2, jit=True)
    epochs.install()
    model.fit(epochs.dataset, epochs=2, verbose=0, shuffle=False, callbacks=[epochs.callback()])
    assert int(model.optimizer.iterations.numpy()) == 2 * 5 and epochs.jit is False
    assert "XLA could not compile this model" in capsys.readouterr().err


def test_a_layer_that_fails_to_build_shows_its_own_error():
    import keras
    import pytest

    class Broken(keras.layers.Layer):
        def call(self, x):
            raise TypeError("this layer cannot take its input")

    model = keras.Sequential([keras.layers.Dense(2), Broken()])
    model.compile("sgd", "mse")
    epochs = fastloop.CompiledEpochs(
        model, np.ones((8, 3), np.float32), np.ones(8), batch_size=4, seed=0, steps=1, jit=False
    )
    with pytest.raises(TypeError, match="this layer cannot take its input"):
        epochs.install()


def test_steps_per_call_change_speed_not_updates():
    one, _ = fitted(steps=1)
    for steps in (5, 17):  # 17: every full batch of an epoch in one call
        assert_same_weights(fitted(steps=steps)[0], one)


def test_class_weight_weighs_the_same_in_both_loops():
    training = ", class_weight: {setosa: 5.0, versicolor: 1.0, virginica: 0.5}"
    ours, _ = fitted(training=training)
    keras_fit, _ = fitted(loop_name="keras", steps=1, training=training)
    assert_same_weights(ours, keras_fit)
    plain, _ = fitted()
    assert not np.array_equal(ours.get_weights()[0], plain.get_weights()[0])


def test_xla_loop_draws_the_dropout_masks_keras_draws_under_xla():
    """Against Keras's own XLA step (batch 8: no short last batch, which dlcli runs without XLA)."""
    ours, ours_history = fitted(jit=True, dropout=0.5, epochs=4, batch=8)
    keras_xla, keras_history = fitted(loop_name="keras", steps=1, jit=True, dropout=0.5, epochs=4, batch=8)
    assert_same_weights(ours, keras_xla, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours_history["loss"], keras_history["loss"], rtol=1e-4)
    # the tolerance tells masks apart: the graph loop draws with TensorFlow's kernels, other bits than XLA's
    graph, _ = fitted(jit=False, dropout=0.5, epochs=4, batch=8)
    assert not np.allclose(graph.get_weights()[2], ours.get_weights()[2], rtol=1e-4, atol=1e-5)


def test_xla_loop_makes_the_graph_loop_updates_to_float_rounding():
    graph, _ = fitted(jit=False)
    xla, _ = fitted(jit=True)
    assert_same_weights(xla, graph, rtol=1e-4, atol=1e-5)


def test_philox_override_draws_the_bits_keras_draws_under_xla_and_leaves_the_layer_as_it_was():
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dropout(0.3, seed=11)])
    layer = model.layers[0]
    x = tf.ones((16, 64))
    start = layer.seed_generator.state.numpy()

    def draws(override: bool):
        layer.seed_generator.state.assign(start)

        @tf.function(jit_compile=True)
        def three():
            with keras_internals.philox_dropout(model, jit=override):
                assert ("call" in vars(layer)) is override
                return [layer(x, training=True) for _ in range(3)]

        return [t.numpy() for t in three()]

    keras_masks, ours = draws(False), draws(True)
    assert "call" not in vars(layer)
    for a, b in zip(ours, keras_masks, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(keras_masks[0], keras_masks[1])
    with keras_internals.philox_dropout(model, jit=True):
        np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())


def test_each_epoch_is_a_permutation_keyed_by_seed_and_epoch():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((50, 2), np.float32), np.zeros(50, np.float32)
    epochs = fastloop.CompiledEpochs(model, x, y, batch_size=8, seed=5, steps=3, jit=False)
    assert (epochs.full, epochs.chunks, epochs.calls) == (6, 2, 3)  # 6 full batches in 2 calls, then 2 rows
    orders = []
    for epoch in (0, 1, 0):
        epochs.set_epoch(epoch)
        orders.append(epochs.order.numpy().copy())
    assert sorted(orders[0]) == list(range(50))
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[0], orders[2])


def test_a_run_records_the_loop_and_saves_keras_own_dropout(tmp_path):
    run, metrics = train_json(
        tmp_path, CONFIGS / "iris.yaml", "training.jit_compile=true", "training.epochs=3", "training.plots=false",
        "model.layers[0].dropout=0.2",
    )  # fmt: skip
    chosen = json.loads((run / "environment.json").read_text())["execution"]
    assert chosen["loop"] == "dlcli" and chosen["jit_compile"] is True and chosen["jit_compile_reason"] == "given"
    assert metrics["accuracy"] > 0.5
    with zipfile.ZipFile(run / "model.keras") as saved:
        layers = json.loads(saved.read("config.json"))["config"]["layers"]
    trained = [layer for layer in layers if layer["name"] == "trained"]  # inside the raw-column model
    layers = trained[0]["config"]["layers"] if trained else layers
    dropout = [layer for layer in layers if layer["class_name"] == "Dropout"]
    assert dropout and all(layer["module"] == "keras.layers" for layer in dropout)


def test_string_lookups_train_without_xla_and_say_why(tmp_path):
    rows = "\n".join(f"{i % 7},{'abc'[i % 3]},{i % 2}" for i in range(90))
    (tmp_path / "t.csv").write_text("n,c,y\n" + rows + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {path: t.csv, target: y}\nmodel: {layers: [{units: 8}]}\ntraining: {epochs: 2}\n")
    run, _ = train_json(tmp_path / "runs", cfg, "training.jit_compile=true", "training.plots=false")
    chosen = json.loads((run / "environment.json").read_text())["execution"]
    assert chosen["loop"] == "dlcli" and chosen["jit_compile"] is False
    assert "StringLookup" in chosen["jit_compile_reason"] and chosen["jit_compile_reason"].startswith("given true")


def test_determinism_and_string_lookups_keep_xla_off():
    """Op determinism is process-wide, so this asks the rule; test_training_controls runs it in a child process."""
    import keras

    config = load_config_text(IRIS.format(dropout=0, epochs=1, batch=8, training=", deterministic: true"), "c.yaml")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert "deterministic: true" in execution.no_xla_reason(config, plain)
    config = load_config_text(IRIS.format(dropout=0, epochs=1, batch=8, training=""), "c.yaml")
    assert execution.no_xla_reason(config, plain) is None
    lookup = keras.Sequential([keras.Input((1,), dtype="string"), keras.layers.StringLookup(vocabulary=["a", "b"])])
    assert execution.no_xla_reason(config, lookup) == "the model's StringLookup layers do not support XLA"


def test_epoch_lines_count_optimizer_steps_not_calls(tmp_path):
    from tests.conftest import invoke

    result = invoke(
        "train", CONFIGS / "iris.yaml", "--set", "training.epochs=2", "--set", "training.plots=false",
        "--set", "training.steps_per_execution=4", "--output-dir", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:1] == ["Epoch 1/2"] and "Epoch 2/2" in lines
    progress = [line for line in lines if line.startswith("15/15 - ")]  # iris: 120 rows / batch 8 (4 calls an epoch)
    assert len(progress) == 2 and all("/step - accuracy: " in line and " - loss: " in line for line in progress)
