"""Cross-field checks that need only the config file, each a named function that returns problems (no TensorFlow).

``check_config`` runs them; ``checks.check_against_data`` runs the ones
that need the data's task and classes as well. Errors stop the run;
warnings are printed and training goes on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: tuple
    message: str
    severity: str = "error"  # error: cannot train correctly; warning: trains, but probably not as meant


def warning(path: tuple, message: str) -> Problem:
    return Problem(path, message, "warning")


def table_columns(config) -> list[Problem]:
    """A table's target is not a feature; the columns to encode are features."""
    data = config.data
    if not hasattr(data, "target"):
        return []
    out: list[Problem] = []
    if data.features and data.target in data.features:
        out.append(Problem(("data", "features"), f"lists the target '{data.target}'; a target is not a feature"))
    for key in ("categorical", "embedding"):
        for column in getattr(data, key) or ():
            if column == data.target:
                out.append(
                    Problem(
                        ("data", key, column) if key == "embedding" else ("data", key),
                        f"names the target '{column}'; only features are encoded",
                    )
                )
            elif data.features is not None and column not in data.features:
                out.append(Problem(("data", key), f"'{column}' is not in data.features"))
    return out


MONITORED = ("early_stopping", "reduce_lr_on_plateau", "checkpoint")


def monitors(config):
    """(path, monitor) of every training section that watches a metric."""
    for key in MONITORED:
        section = getattr(config.training, key)
        if section is not None:
            yield ("training", key, "monitor"), section.monitor


def early_stopping_monitor(config) -> list[Problem]:
    """A ``val_*`` monitor (early stopping, reduce-LR, checkpoint) needs validation data."""
    if config.data.validates:
        return []
    return [
        Problem(
            path,
            f"'{monitor}' needs validation data but data.validation_split is 0; "
            "set validation_split (e.g. 0.1) or monitor 'loss'",
        )
        for path, monitor in monitors(config)
        if monitor.startswith("val_")
    ]


def steps_per_execution_under_mirrored(config) -> list[Problem]:
    """Keras 3.15's multi-step training loop fails under MirroredStrategy ("You must feed a value for placeholder")."""
    training = config.training
    if training.distribution == "mirrored" and isinstance(training.steps_per_execution, int):
        if training.steps_per_execution > 1:
            return [
                Problem(
                    ("training", "steps_per_execution"),
                    "must be 1 (or auto) with distribution: mirrored; Keras's multi-step loop fails under "
                    "MirroredStrategy",
                )
            ]
    return []


def schedule_with_plateau(config) -> list[Problem]:
    """ReduceLROnPlateau sets the learning rate, which a schedule owns: Keras refuses the pair mid-training."""
    spec = config.optimizer
    if config.training.reduce_lr_on_plateau is not None and getattr(spec, "schedule", None) is not None:
        return [
            Problem(
                ("training", "reduce_lr_on_plateau"),
                "cannot lower a learning rate that optimizer.schedule sets; use one of the two",
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


def cross_validation_fits(config) -> list[Problem]:
    """Folds are trained one after another on in-memory rows, each in this process; a group is a table column."""
    cv = config.training.cross_validation
    if cv is None:
        return []
    out: list[Problem] = []
    if config.training.distribution != "none":
        out.append(
            Problem(
                ("training", "cross_validation"),
                f"trains its folds one after another in this process; it does not run with distribution: "
                f"{config.training.distribution}. Remove one of the two",
            )
        )
    if getattr(config.data, "streaming", False) is True:
        out.append(
            Problem(
                ("data", "streaming"),
                "cross_validation needs the rows in memory to assign them to folds; set streaming: false",
            )
        )
    if cv.group is not None:
        if not hasattr(config.data, "target"):
            out.append(
                Problem(
                    ("training", "cross_validation", "group"),
                    f"names a column, and data from source '{config.data.source}' has no columns; remove group",
                )
            )
        elif cv.group == config.data.target:
            out.append(
                Problem(
                    ("training", "cross_validation", "group"),
                    f"'{cv.group}' is the target; group rows by another column",
                )
            )
    return out


FILE_CHECKS = (
    table_columns,
    early_stopping_monitor,
    schedule_with_plateau,
    steps_per_execution_under_mirrored,
    regression_output,
    cross_validation_fits,
)


def check_config(config) -> list[Problem]:
    """Every check that needs only the config."""
    return [p for check in FILE_CHECKS for p in check(config)]
