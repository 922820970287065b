"""Cross-field checks on a config, each a named function that returns problems.

``check_config`` runs the ones that need only the file; ``check_against_data``
runs the ones that need the data's task and classes. Errors stop the run;
warnings are printed and training goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlcli import names


@dataclass(frozen=True)
class Problem:
    path: tuple
    message: str


def source_fields(config) -> list[Problem]:
    """Each data source gets the keys it needs and no keys it would ignore."""
    from dlcli.config import SKLEARN_DATASETS  # noqa: PLC0415

    data = config.data
    out: list[Problem] = []
    needs = {"sklearn": ("name",), "csv": ("path", "target"), "npz": ("path",)}[data.source]
    for key in needs:
        if getattr(data, key) is None:
            example = {"name": "name: digits", "path": "path: data/train.csv", "target": "target: label"}[key]
            out.append(Problem(("data", key), f"source '{data.source}' needs '{key}' (e.g. {example})"))
    ignored = {
        "sklearn": ("path", "target", "features", "test_path"),
        "csv": ("name",),
        "npz": ("name", "target", "features"),
    }[data.source]
    for key in ignored:
        if getattr(data, key) is not None:
            out.append(Problem(("data", key), f"not used by source '{data.source}'; remove it"))
    if data.source == "sklearn" and data.name is not None and data.name not in SKLEARN_DATASETS:
        hint = names.did_you_mean(data.name, SKLEARN_DATASETS)
        out.append(
            Problem(
                ("data", "name"), f"unknown sklearn dataset '{data.name}'{hint}; one of {', '.join(SKLEARN_DATASETS)}"
            )
        )
    if data.source == "csv" and data.features and data.target in data.features:
        out.append(Problem(("data", "features"), f"lists the target '{data.target}'; a target is not a feature"))
    return out


def early_stopping_monitor(config) -> list[Problem]:
    """A ``val_*`` monitor needs a validation split."""
    es = config.training.early_stopping
    if es is not None and es.monitor.startswith("val_") and config.data.validation_split == 0:
        return [
            Problem(
                ("training", "early_stopping", "monitor"),
                f"'{es.monitor}' needs validation data but data.validation_split is 0; "
                "set validation_split (e.g. 0.1) or monitor 'loss'",
            )
        ]
    return []


def regression_output(config) -> list[Problem]:
    """A regression target cannot come out of softmax or sigmoid."""
    out = config.model.output
    if config.task == "regression" and out != "auto" and out.activation in ("softmax", "sigmoid", "log_softmax"):
        return [
            Problem(
                ("model", "output", "activation"),
                f"'{out.activation}' bounds the output, but task is regression; use linear",
            )
        ]
    return []


FILE_CHECKS = (source_fields, early_stopping_monitor, regression_output)


def check_config(config) -> list[Problem]:
    """Every check that needs only the config."""
    return [p for check in FILE_CHECKS for p in check(config)]


def loss_name(loss) -> str | None:
    """The snake-case name of a configured loss (``None`` for auto)."""
    if loss == "auto":
        return None
    raw = loss if isinstance(loss, str) else loss.name
    return names.snake(raw)


def loss_matches_task(config, task: str, n_classes: int | None = None) -> list[Problem]:
    """A classification loss on a continuous target, or the reverse, cannot train."""
    name = loss_name(config.loss)
    if name is None:
        return []
    if task == "regression" and name in names.BINARY_LOSSES | names.SPARSE_LOSSES | names.CATEGORICAL_LOSSES:
        return [
            Problem(
                ("loss",),
                f"'{name}' is a classification loss but the target is continuous (regression); use mse or mae, or set task",
            )
        ]
    if task != "regression" and name in names.REGRESSION_LOSSES:
        return [
            Problem(("loss",), f"'{name}' is a regression loss but the target has classes ({task}); use loss: auto")
        ]
    if name in names.CATEGORICAL_LOSSES and task != "regression":
        return [
            Problem(
                ("loss",),
                f"'{name}' expects one-hot labels but dlcli gives class indices; "
                "use sparse_categorical_crossentropy (same loss, integer labels)",
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
    if task == "multiclass" and out.units != n_classes:
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


def output_activation_matches(config, task: str, n_classes: int | None) -> list[Problem]:
    """softmax over one unit, or sigmoid over many classes, cannot learn the target."""
    out = config.model.output
    if out == "auto" or out.activation == "auto" or task == "regression":
        return []
    if out.units != "auto":
        units = out.units
    elif task == "binary":
        units = 2 if out.activation == "softmax" else 1
    else:
        units = n_classes
    if out.activation == "softmax" and units == 1:
        return [
            Problem(
                ("model", "output", "activation"),
                "softmax over 1 unit always outputs 1.0; use sigmoid for a binary target",
            )
        ]
    name = loss_name(config.loss)
    if out.activation == "softmax" and name in names.BINARY_LOSSES and units > 1:
        return [
            Problem(
                ("loss",), f"'{name}' with a softmax output over {units} units; use sparse_categorical_crossentropy"
            )
        ]
    if out.activation == "sigmoid" and units > 1 and task == "multiclass":
        return [
            Problem(
                ("model", "output", "activation"),
                f"sigmoid scores {units} classes independently; use softmax for one class per row",
            )
        ]
    return []


DATA_CHECKS = (loss_matches_task, output_units_match, output_activation_matches)


def check_against_data(config, task: str, n_classes: int | None) -> list[Problem]:
    """Every check that needs the data's task and number of classes."""
    return [p for check in DATA_CHECKS for p in check(config, task, n_classes)]
