"""``dlcli.names`` against Keras's own registries, so a Keras upgrade cannot drift silently.

The only test module that imports Keras (and with it TensorFlow).
"""

from __future__ import annotations

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import pytest  # noqa: E402

from dlcli import names  # noqa: E402

keras = pytest.importorskip("keras")

from keras.src import activations, initializers, losses, metrics, optimizers  # noqa: E402

# Registry names Keras cannot build from the name alone: the constructor has a required argument
# (recall=, precision=, sensitivity=, specificity=, value=). names.py excludes them; these tests
# notice when Keras starts building them from a name.
METRICS_NEEDING_ARGS = (
    "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "precision_at_recall", "recall_at_precision", "sensitivity_at_specificity", "specificity_at_sensitivity",
)  # fmt: skip
INITIALIZERS_NEEDING_ARGS = ("Constant", "constant")


def registry(module) -> set[str]:
    return set(module.ALL_OBJECTS_DICT)


# -- the lists match the registries --------------------------------------------------------------


def test_activations_are_the_registry():
    assert set(names.ACTIVATIONS) == registry(activations)


def test_losses_are_the_registry_less_excluded():
    assert set(names.LOSSES) == registry(losses) - set(names.LOSS_EXCLUDED)
    assert set(names.LOSS_EXCLUDED) <= registry(losses)


def test_optimizers_are_the_registry_less_excluded_plus_ours():
    keras_names = {n.lower() for n in registry(optimizers)}
    assert set(names.OPTIMIZERS) - set(names.OPTIMIZERS_NOT_IN_GET) == keras_names - set(names.OPTIMIZER_EXCLUDED)
    assert set(names.OPTIMIZER_EXCLUDED) <= keras_names
    assert not set(names.OPTIMIZERS_NOT_IN_GET) & keras_names


def test_metrics_are_the_registry_less_excluded():
    assert set(names.METRICS) == registry(metrics) - set(names.METRIC_EXCLUDED)
    assert set(names.METRIC_EXCLUDED) <= registry(metrics)


def test_initializers_are_the_registry_less_excluded():
    assert set(names.INITIALIZERS) == registry(initializers) - set(names.INITIALIZER_EXCLUDED)
    assert set(names.INITIALIZER_EXCLUDED) <= registry(initializers)


@pytest.mark.parametrize("listing", ["ACTIVATIONS", "LOSSES", "OPTIMIZERS", "METRICS", "INITIALIZERS", "DLCLI_METRICS"])
def test_lists_have_no_duplicates(listing):
    values = getattr(names, listing)
    assert len(values) == len(set(values))


def test_dlcli_metrics_do_not_shadow_keras():
    assert not set(names.DLCLI_METRICS) & registry(metrics)


# -- every name resolves through Keras -----------------------------------------------------------


@pytest.mark.parametrize("name", names.ACTIVATIONS)
def test_activation_resolves(name):
    assert callable(keras.activations.get(name))


@pytest.mark.parametrize("name", names.LOSSES)
def test_loss_resolves(name):
    assert keras.losses.get(name) is not None


@pytest.mark.parametrize("name", [n for n in names.OPTIMIZERS if n not in names.OPTIMIZERS_NOT_IN_GET])
def test_optimizer_resolves(name):
    assert isinstance(keras.optimizers.get(name), keras.optimizers.Optimizer)


@pytest.mark.parametrize("name", [n for n in names.METRICS if n not in METRICS_NEEDING_ARGS])
def test_metric_resolves(name):
    assert keras.metrics.get(name) is not None


@pytest.mark.parametrize("name", METRICS_NEEDING_ARGS)
def test_metric_needing_args_cannot_be_built_from_its_name(name):
    with pytest.raises(TypeError, match="required"):
        keras.metrics.get(name)


def test_metrics_all_build_from_a_name():
    assert not set(METRICS_NEEDING_ARGS) & set(names.METRICS)


def test_initializers_all_build_from_a_name():
    assert not set(INITIALIZERS_NEEDING_ARGS) & set(names.INITIALIZERS)


@pytest.mark.parametrize("name", [n for n in names.INITIALIZERS if n not in INITIALIZERS_NEEDING_ARGS])
def test_initializer_resolves(name):
    assert keras.initializers.get(name) is not None


@pytest.mark.parametrize("name", INITIALIZERS_NEEDING_ARGS)
def test_initializer_needing_args_cannot_be_built_from_its_name(name):
    with pytest.raises(KeyError):
        keras.initializers.get(name)


def test_lamb_is_built_from_its_class_because_get_does_not_know_it():
    assert isinstance(keras.optimizers.Lamb(), keras.optimizers.Optimizer)
    # When this stops raising, Keras fixed get("lamb"): drop "lamb" from OPTIMIZERS_NOT_IN_GET.
    with pytest.raises(ValueError):
        keras.optimizers.get("lamb")


# -- loss kinds used by the cross-field checks --------------------------------------------------


@pytest.mark.parametrize("kind", ["BINARY_LOSSES", "SPARSE_LOSSES", "CATEGORICAL_LOSSES", "REGRESSION_LOSSES"])
def test_loss_kinds_are_known_snake_names(kind):
    group = getattr(names, kind)
    assert group <= set(names.LOSSES)
    assert all(n == names.snake(n) for n in group)


def test_loss_kinds_do_not_overlap():
    groups = [names.BINARY_LOSSES, names.SPARSE_LOSSES, names.CATEGORICAL_LOSSES, names.REGRESSION_LOSSES]
    assert sum(len(g) for g in groups) == len(set().union(*groups))


@pytest.mark.parametrize("name", [n for n in names.LOSSES if n != n.lower()])
def test_snake_of_a_loss_class_is_its_function_name(name):
    assert names.snake(name) in names.LOSSES


@pytest.mark.parametrize("name", [n for n in names.METRICS if n != n.lower()])
def test_snake_of_a_metric_class_is_its_function_name(name):
    assert names.snake(name) in names.METRICS


# -- snake and did_you_mean ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MeanSquaredError", "mean_squared_error"),
        ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
        ("KLDivergence", "kl_divergence"),
        ("BinaryIoU", "binary_io_u"),
        ("SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"),
        ("R2Score", "r2_score"),
        ("AUC", "auc"),
        ("MSE", "mse"),
        ("KLD", "kld"),
        ("CTC", "ctc"),
        ("mse", "mse"),
        ("already_snake", "already_snake"),
    ],
)
def test_snake(name, expected):
    assert names.snake(name) == expected


@pytest.mark.parametrize(
    ("name", "choices", "expected"),
    [
        ("rleu", names.ACTIVATIONS, " (did you mean 'relu'?)"),
        ("sofmax", names.ACTIVATIONS, " (did you mean 'softmax'?)"),
        ("ADAM", names.OPTIMIZERS, " (did you mean 'adam'?)"),
        ("rmsprob", names.OPTIMIZERS, " (did you mean 'rmsprop'?)"),
        ("acuracy", names.METRICS, " (did you mean 'accuracy'?)"),
        ("traner", ["name", "data", "model", "training"], " (did you mean 'training'?)"),
        ("relu", names.ACTIVATIONS, ""),
        ("zzzzzz", names.ACTIVATIONS, ""),
        ("x", [], ""),
    ],
)
def test_did_you_mean(name, choices, expected):
    assert names.did_you_mean(name, choices) == expected


def test_closest_keeps_the_registry_spelling():
    assert names.closest("meansquarederror", names.LOSSES) == "MeanSquaredError"
    assert names.closest("nothing-like-it", names.LOSSES) is None
