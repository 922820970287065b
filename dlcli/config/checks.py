"""Cross-field checks on a config, each a named function that returns problems (no TensorFlow).

``check_config`` runs the ones that need only the file (``file_checks``);
``check_against_data`` runs the ones that need the data's task and classes.
Errors stop the run; warnings are printed and training goes on.
"""

from __future__ import annotations

from dlcli import names
from dlcli.config.file_checks import (  # noqa: F401 - the file checks are named here too, beside the data checks
    FILE_CHECKS,
    MONITORED,
    Problem,
    check_config,
    cross_validation_fits,
    early_stopping_monitor,
    monitors,
    regression_output,
    schedule_with_plateau,
    steps_per_execution_under_mirrored,
    table_columns,
    warning,
)


def loss_name(loss) -> str | None:
    """The snake-case name of a configured loss (``None`` for auto)."""
    if loss == "auto":
        return None
    raw = loss if isinstance(loss, str) else loss.name
    return names.snake(raw)


# regression losses that still train one sigmoid unit on a 0/1 target (classic backprop); others are refused
ERRORS_ON_A_PROBABILITY = {"mean_squared_error", "mse", "mean_absolute_error", "mae"}


def _sigmoid_unit(config) -> bool:
    """Is the output one sigmoid unit (explicitly, or by ``auto`` for a binary target)?"""
    out = config.model.output
    if out == "auto":
        return not from_logits(config.loss)
    return out.units in ("auto", 1) and out.activation in ("auto", "sigmoid") and not from_logits(config.loss)


def loss_matches_task(config, task: str, n_classes: int | None = None) -> list[Problem]:
    """A classification loss on a continuous target, or the reverse, cannot train."""
    name = loss_name(config.loss)
    if name is None:
        return []
    if task == "regression" and name in names.BINARY_LOSSES | names.SPARSE_LOSSES | names.CATEGORICAL_LOSSES:
        return [
            Problem(
                ("loss",),
                f"'{name}' is a classification loss but the target is continuous (regression); "
                "use mean_squared_error or mean_absolute_error, or set task",
            )
        ]
    if task == "binary" and name in ERRORS_ON_A_PROBABILITY and _sigmoid_unit(config):
        return [
            warning(
                ("loss",),
                f"'{name}' on one sigmoid unit trains (classic backprop), but binary_crossentropy is the usual "
                "choice for a 0/1 target",
            )
        ]
    if task != "regression" and name in names.REGRESSION_LOSSES:
        return [
            Problem(("loss",), f"'{name}' is a regression loss but the target has classes ({task}); use loss: auto")
        ]
    if task == "multiclass" and name in names.BINARY_LOSSES:
        return [
            Problem(
                ("loss",),
                f"'{name}' scores one sigmoid unit but the target has {n_classes or 'several'} classes; "
                "use sparse_categorical_crossentropy or loss: auto",
            )
        ]
    return []


def one_hot_loss_on_binary(config, task: str, n_classes: int | None = None) -> list[Problem]:
    """A categorical loss is one-hot over the output units: one sigmoid unit has nothing to one-hot."""
    name = loss_name(config.loss)
    if task == "binary" and name in names.CATEGORICAL_LOSSES and _units(config, task, n_classes) == 1:
        return [
            Problem(
                ("loss",),
                f"'{name}' compares one-hot rows over the output units but the output has 1 unit; "
                "use binary_crossentropy, or output: {units: 2, activation: softmax}",
            )
        ]
    return []


def output_units_match(config, task: str, n_classes: int | None) -> list[Problem]:
    """Explicit output units must fit the number of classes."""
    out = config.model.output
    if out == "auto" or out.units == "auto":
        return []
    if task == "regression" and out.units != 1:
        return [Problem(("model", "output", "units"), f"regression predicts one value; set units: 1 (got {out.units})")]
    if task == "multiclass" and n_classes is not None and out.units != n_classes:
        return [
            Problem(
                ("model", "output", "units"),
                f"the target has {n_classes} classes but the output has {out.units} units; set units: {n_classes} or auto",
            )
        ]
    if task == "binary" and out.units not in (1, 2):
        return [
            Problem(
                ("model", "output", "units"), f"a binary target needs 1 unit (sigmoid) or 2 (softmax), got {out.units}"
            )
        ]
    return []


def _units(config, task: str, n_classes: int | None) -> int | None:
    out = config.model.output
    if out != "auto" and out.units != "auto":
        return out.units
    if task == "regression":
        return 1
    if task == "binary":
        softmax = out != "auto" and out.activation == "softmax"
        return 2 if softmax or loss_name(config.loss) in names.CATEGORICAL_LOSSES else 1
    return n_classes


def output_activation_matches(config, task: str, n_classes: int | None) -> list[Problem]:
    """softmax over one unit, sigmoid over many classes, softmax with binary crossentropy."""
    out = config.model.output
    if out == "auto" or out.activation == "auto" or task == "regression":
        return []
    units = _units(config, task, n_classes)
    if out.activation == "softmax" and units == 1:
        return [
            Problem(
                ("model", "output", "activation"),
                "softmax over 1 unit always outputs 1.0; use sigmoid for a binary target",
            )
        ]
    name = loss_name(config.loss)
    if out.activation == "softmax" and name in names.BINARY_LOSSES and units and units > 1:
        return [
            Problem(
                ("loss",), f"'{name}' with a softmax output over {units} units; use sparse_categorical_crossentropy"
            )
        ]
    if out.activation == "sigmoid" and units and units > 1 and task == "multiclass":
        return [
            Problem(
                ("model", "output", "activation"),
                f"sigmoid scores {units} classes independently; use softmax for one class per row",
            )
        ]
    return []


def from_logits(loss) -> bool:
    """Does a configured loss say ``from_logits: true``?"""
    return not isinstance(loss, str) and bool((loss.model_extra or {}).get("from_logits"))


def logits_match_loss(config, task: str, n_classes: int | None) -> list[Problem]:
    """A linear (logits) output needs ``from_logits: true``; a softmax/sigmoid output should not have it."""
    out = config.model.output
    name = loss_name(config.loss)
    if out == "auto" or out.activation == "auto" or name is None or task == "regression":
        return []
    if out.activation == "linear" and not from_logits(config.loss):
        return [
            Problem(
                ("loss",),
                f"the output activation is linear (logits) but '{name}' expects probabilities; "
                f"write loss: {{name: {name}, from_logits: true}}",
            )
        ]
    if out.activation in ("softmax", "sigmoid") and from_logits(config.loss):
        return [
            warning(
                ("loss", "from_logits"),
                f"the output already applies {out.activation}, so from_logits: true applies it twice; "
                "remove from_logits or make the output linear",
            )
        ]
    return []


def _metric_names(config):
    if config.metrics == "auto":
        return []
    return [(i, names.snake(m if isinstance(m, str) else m.name)) for i, m in enumerate(config.metrics)]


def metrics_match_task(config, task: str, n_classes: int | None) -> list[Problem]:
    """Metrics that crash on this task's labels are errors; those that run but mean nothing, warnings."""
    units = _units(config, task, n_classes)
    kind = "regression" if task == "regression" else ("binary" if units == 1 else "classes")
    out: list[Problem] = []
    one_hot = kind == "classes" and loss_name(config.loss) in names.CATEGORICAL_LOSSES
    for i, name in _metric_names(config):
        path = ("metrics", i)
        if one_hot and name in names.SPARSE_METRICS:
            out.append(
                Problem(path, f"'{name}' reads class indices but '{loss_name(config.loss)}' trains on one-hot "
                        "targets; use accuracy or categorical_accuracy")
            )  # fmt: skip
        elif one_hot and name in names.ONE_HOT_METRICS:
            continue  # the targets are one-hot
        elif kind == "regression":
            if name not in names.REGRESSION_METRICS:
                out.append(Problem(path, f"'{name}' needs classes but the target is continuous; use mae, rmse or r2"))
        elif name in names.METRICS_FAILING[kind]:
            fix = "accuracy" if kind == "classes" else "accuracy, auc, precision or recall"
            out.append(
                Problem(
                    path,
                    f"'{name}' cannot score this output ({_kind_text(kind, units)}) with class-index labels; use {fix}",
                )
            )
        elif name in names.METRICS_MEANINGLESS[kind]:
            out.append(warning(path, f"'{name}' runs but means little here ({_kind_text(kind, units)}); use accuracy"))
    return out


def logged_names(config, task: str) -> list[str]:
    """What Keras logs per epoch for this config: loss and each compiled metric (plus val_* with validation)."""
    if config.metrics == "auto":
        metrics = ["mae"] if task == "regression" else ["accuracy"]
    else:
        metrics = [m if isinstance(m, str) else m.name for m in config.metrics]
    keras_logged = ["loss", *(names.logged_as(m) for m in metrics if m not in names.DLCLI_METRICS)]
    return keras_logged + ([f"val_{m}" for m in keras_logged] if config.data.validates else [])


def monitors_are_logged(config, task: str, n_classes: int | None) -> list[Problem]:
    """A monitor Keras never logs would make early stopping or a checkpoint silently do nothing.

    Aliases count (``val_mae`` is logged as ``val_mean_absolute_error``; the callbacks get the logged name).
    """
    logged = logged_names(config, task)
    out = []
    for path, monitor in monitors(config):
        known = names.monitor_logged_as(monitor)
        if known not in logged and not (known.startswith("val_") and known[4:] in logged):
            out.append(
                Problem(
                    path,
                    f"'{monitor}' is not logged by this training{names.did_you_mean(monitor, logged)}; "
                    f"logged: {', '.join(logged)}",
                )
            )
    return out


def class_weight_fits_task(config, task: str, n_classes: int | None) -> list[Problem]:
    """Class weights need classes."""
    if config.training.class_weight is not None and task == "regression":
        return [Problem(("training", "class_weight"), "weights classes, but the target is continuous; remove it")]
    return []


def scale_target_fits_task(config, task: str, n_classes: int | None) -> list[Problem]:
    """``scale_target: true`` standardizes a regression target; classes are left alone."""
    if config.data.scale_target is True and task != "regression":
        return [warning(("data", "scale_target"), f"scales a regression target, but the task is {task}; ignored")]
    return []


def _kind_text(kind: str, units) -> str:
    return "one sigmoid unit" if kind == "binary" else f"{units} classes"


DATA_CHECKS = (
    loss_matches_task,
    one_hot_loss_on_binary,
    output_units_match,
    output_activation_matches,
    logits_match_loss,
    metrics_match_task,
    monitors_are_logged,
    class_weight_fits_task,
    scale_target_fits_task,
)


def check_against_data(config, task: str, n_classes: int | None) -> list[Problem]:
    """Every check that needs the data's task and number of classes."""
    return [p for check in DATA_CHECKS for p in check(config, task, n_classes)]
