"""Keras names as plain data, so validation never imports TensorFlow.

``tests/test_names.py`` compares every list with Keras's own registries, so a
Keras upgrade that adds or removes a name fails the suite instead of drifting.
Resolution at build time still goes through Keras (``keras.activations.get``...).
"""

from __future__ import annotations

import difflib
import os

# keras.activations.get: every key of keras.src.activations.ALL_OBJECTS_DICT.
ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid",
    "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid",
    "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink",
    "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
)  # fmt: skip

# keras.losses.get: the registry less its abstract bases ("Loss", "LossFunctionWrapper").
LOSSES = (
    "BCE", "BinaryCrossentropy", "BinaryFocalCrossentropy", "CTC",
    "CategoricalCrossentropy", "CategoricalFocalCrossentropy", "CategoricalHinge",
    "Circle", "CosineSimilarity", "Dice", "Hinge", "Huber", "KLD", "KLDivergence",
    "LogCosh", "MAE", "MAPE", "MSE", "MSLE", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError",
    "Poisson", "SparseCategoricalCrossentropy", "SquaredHinge", "Tversky", "bce",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "circle",
    "cosine_similarity", "ctc", "dice", "hinge", "huber", "kl_divergence", "kld",
    "log_cosh", "mae", "mape", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "mse", "msle", "poisson",
    "sparse_categorical_crossentropy", "squared_hinge", "tversky",
)  # fmt: skip
LOSS_EXCLUDED = ("Loss", "LossFunctionWrapper")

# keras.optimizers.get (case-insensitive), less the wrappers that need another
# optimizer as an argument. "lamb" is ours: keras.optimizers.Lamb exists but
# keras.optimizers.get("lamb") raises in Keras 3.15, so dlcli builds it from the class.
OPTIMIZERS = (
    "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "ftrl", "lamb",
    "lion", "muon", "nadam", "rmsprop", "schedulefreeadamw", "sgd",
)  # fmt: skip
OPTIMIZER_EXCLUDED = ("lossscaleoptimizer", "multioptimizer", "optimizer", "optimizermap")
OPTIMIZERS_NOT_IN_GET = ("lamb",)

# keras.metrics.get: the registry less abstract bases and metrics that cannot be
# built from a name alone (they need num_classes, target_class_ids, recall, ...).
METRICS = (
    "AUC", "Accuracy", "BCE", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU",
    "CategoricalAccuracy", "CategoricalCrossentropy", "CategoricalHinge",
    "ConcordanceCorrelation", "CosineSimilarity", "F1Score", "FBetaScore",
    "FalseNegatives", "FalsePositives", "Hinge", "KLDivergence", "LogCoshError",
    "MAE", "MAPE", "MSE", "MSLE", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredError", "MeanSquaredLogarithmicError", "PearsonCorrelation",
    "Poisson", "Precision", "R2Score", "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy", "SquaredHinge",
    "TopKCategoricalAccuracy", "TrueNegatives", "TruePositives", "accuracy", "auc",
    "bce", "binary_accuracy", "binary_crossentropy", "binary_io_u",
    "categorical_accuracy", "categorical_crossentropy", "categorical_hinge",
    "concordance_correlation", "cosine_similarity", "f1_score", "f_beta_score",
    "false_negatives", "false_positives", "hinge", "kl_divergence", "log_cosh_error",
    "mae", "mape", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "mse", "msle",
    "pearson_correlation", "poisson", "precision", "r2_score",
    "recall", "root_mean_squared_error",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy",
    "squared_hinge", "top_k_categorical_accuracy",
    "true_negatives", "true_positives",
)  # fmt: skip
METRIC_EXCLUDED = (
    "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "precision_at_recall", "recall_at_precision", "sensitivity_at_specificity", "specificity_at_sensitivity",
    "Mean", "MeanIoU", "MeanMetricWrapper", "Metric", "IoU", "OneHotIoU",
    "OneHotMeanIoU", "Sum", "io_u", "mean", "mean_io_u", "mean_metric_wrapper",
    "metric", "one_hot_io_u", "one_hot_mean_io_u", "sum",
)  # fmt: skip
# How Keras logs a metric given by these names (a function's __name__ or a class's default name);
# every other metric is logged under ``snake(name)``.
METRIC_LOGGED_AS = {
    "bce": "binary_crossentropy", "f_beta_score": "fbeta_score", "log_cosh_error": "logcosh",
    "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error", "mse": "mean_squared_error",
    "msle": "mean_squared_logarithmic_error",
}  # fmt: skip


def logged_as(metric: str) -> str:
    """The history / monitor name Keras gives a metric named ``metric`` in a config."""
    key = snake(metric)
    return METRIC_LOGGED_AS.get(key, key)


def monitor_logged_as(monitor: str) -> str:
    """A monitor as Keras logs it: ``val_mae`` -> ``val_mean_absolute_error``; loss stays loss."""
    prefix = "val_" if monitor.startswith("val_") else ""
    name = monitor[len(prefix) :]
    return prefix + (name if name == "loss" else logged_as(name))


# Metrics dlcli computes itself on the test split (always reported for their task).
DLCLI_METRICS = ("rmse", "r2")

# keras.initializers.get: the registry less abstract bases and those needing arguments.
INITIALIZERS = (
    "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
    "IdentityInitializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal",
    "OrthogonalInitializer", "RandomNormal", "RandomUniform", "STFT",
    "STFTInitializer", "TruncatedNormal", "VarianceScaling", "Zeros",
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity",
    "lecun_normal", "lecun_uniform", "normal", "one", "ones", "orthogonal",
    "random_normal", "random_uniform", "stft", "truncated_normal", "uniform",
    "variance_scaling", "zero", "zeros",
)  # fmt: skip
# "constant" needs a value: keras.initializers.get("constant") raises KeyError('value').
INITIALIZER_EXCLUDED = ("Constant", "Initializer", "constant", "initializer")

# Which loss names are which kind; used by the cross-field checks.
BINARY_LOSSES = {"binary_crossentropy", "bce", "binary_focal_crossentropy", "hinge", "squared_hinge"}
SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
CATEGORICAL_LOSSES = {
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "kld",
    "kl_divergence",
}
REGRESSION_LOSSES = {
    "mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "log_cosh",
    "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
    "poisson", "cosine_similarity",
}  # fmt: skip


# Metric names (snake case) by the task they can score, measured with Keras 3.15 on
# class-index labels: which crash in fit, which run but mean nothing.
REGRESSION_METRICS = {
    "mae", "mse", "rmse", "r2", "mape", "msle", "mean_absolute_error", "mean_squared_error",
    "root_mean_squared_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "r2_score", "log_cosh_error", "cosine_similarity", "poisson", "pearson_correlation",
    "concordance_correlation",
}  # fmt: skip
SPARSE_METRICS = {"sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "sparse_categorical_crossentropy"}
# Score one-hot targets: meaningless on class indices, right with a categorical loss (dlcli one-hots the labels).
ONE_HOT_METRICS = _ONE_HOT = {
    "categorical_accuracy",
    "top_k_categorical_accuracy",
    "categorical_crossentropy",
    "categorical_hinge",
    "kl_divergence",
    "kld",
}
METRICS_FAILING = {
    # one sigmoid unit, labels 0/1
    "binary": {"f1_score", "f_beta_score", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
               "r2_score", "pearson_correlation", "concordance_correlation"},
    # softmax over the classes, labels 0..k-1
    "classes": {"auc", "precision", "recall", "f1_score", "f_beta_score", "binary_accuracy", "binary_io_u",
                "true_positives", "true_negatives", "false_positives", "false_negatives", "hinge", "squared_hinge",
                "binary_crossentropy", "bce"} | REGRESSION_METRICS,
}  # fmt: skip
METRICS_MEANINGLESS = {
    "binary": (_ONE_HOT | {"sparse_categorical_accuracy", "sparse_categorical_crossentropy"} | REGRESSION_METRICS)
    - METRICS_FAILING["binary"],
    "classes": _ONE_HOT - {"f1_score"},
}


def snake(name: str) -> str:
    """Keras class name -> function name (``MeanSquaredError`` -> ``mean_squared_error``)."""
    aliases = {"BCE": "bce", "KLD": "kld", "MAE": "mae", "MAPE": "mape", "MSE": "mse", "MSLE": "msle", "CTC": "ctc"}
    if name in aliases:
        return aliases[name]
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def closest(name: str, choices) -> str | None:
    """The closest valid spelling of ``name`` among ``choices``, or None."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return lowered[name.lower()]
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    if matches:
        # difflib's ratio prefers 'adamax' for 'adma'; a swap of two letters is one edit.
        return lowered[min(matches, key=lambda c: (edit_distance(name.lower(), c), matches.index(c)))]
    # A shared start of three letters or more is a good sign too ("traner" -> "training").
    prefix = {c: len(os.path.commonprefix([name.lower(), c])) for c in lowered}
    best = max(prefix.values(), default=0)
    winners = [c for c, n in prefix.items() if n == best]
    if best >= 3 and len(winners) > 1:  # "traner": "training" is nearer than "tracking"
        distance = {c: edit_distance(name.lower(), c) for c in winners}
        winners = [c for c in winners if distance[c] == min(distance.values())]
    return lowered[winners[0]] if best >= 3 and len(winners) == 1 else None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance where swapping two neighbouring letters counts as one edit."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def did_you_mean(name: str, choices) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    guess = closest(name, choices)
    return f" (did you mean '{guess}'?)" if guess and guess != name else ""
