"""Phase two: a validated ``Config`` resolved against its data into a ``ResolvedConfig`` with no ``auto`` left.

``resolve`` runs the checks that need the data's task and classes, then fills
task, output layer, loss and metrics. Code after resolution reads the typed
fields (``task``, ``output``, ``loss``, ``metrics``, ``optimizer``) and never
looks at an ``auto`` or a bare name again. ``saved`` rebuilds the same object
from a run directory's config, where every value is already explicit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dlcli import names
from dlcli.config import recipe
from dlcli.config.checks import check_against_data, from_logits, loss_name
from dlcli.config.schema import (
    Config,
    EnsembleConfig,
    LayerConfig,
    LossSpec,
    NumericEmbeddingConfig,
    OptimizerSpec,
    OutputConfig,
)
from dlcli.config.sections import EarlyStoppingConfig
from dlcli.errors import ConfigError
from dlcli.log import warn

Task = Literal["binary", "multiclass", "regression"]
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Output:
    """The output layer: its units and activation."""

    units: int
    activation: str


@dataclass(frozen=True)
class Named:
    """A Keras loss or metric by its name, with the parameters for its constructor."""

    name: str
    params: dict = field(default_factory=dict)

    @property
    def from_logits(self) -> bool:
        return bool(self.params.get("from_logits"))

    @classmethod
    def of(cls, value) -> Named:
        """From a config value: a name, or ``{name: ..., **params}``."""
        return cls(value, {}) if isinstance(value, str) else cls(value.name, value.params)


@dataclass(frozen=True)
class ResolvedConfig:
    """A config with every ``auto`` settled for its data; ``config`` is what the run directory saves."""

    config: Config
    task: Task
    output: Output
    loss: Named
    metrics: tuple[Named, ...]
    scale_target_reason: str = ""  # why data.scale_target is on or off (settled from auto, or as the file says)

    @property
    def one_hot(self) -> bool:
        """Does the loss want one-hot targets (``categorical_crossentropy``, ``kl_divergence``, ...)?

        dlcli's labels are class indices; they are one-hot encoded where they meet Keras.
        """
        return self.task != "regression" and names.snake(self.loss.name) in names.CATEGORICAL_LOSSES

    @property
    def scales_target(self) -> bool:
        """Does the model end in a ``target_scale`` layer (a regression with ``data.scale_target`` on)?"""
        return self.task == "regression" and self.data.scale_target is True

    @property
    def optimizer(self) -> OptimizerSpec:
        return self.config.optimizer  # always a spec: Config turns a bare name into one

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def data(self):
        return self.config.data

    @property
    def model(self):
        return self.config.model

    @property
    def training(self):
        return self.config.training

    def where(self, path: tuple) -> str:
        """``FILE:LINE:COL`` of a key path in the config file."""
        return self.config.where(path)

    def problem(self, path: tuple, message: str) -> str:
        """A located one-line error about ``path`` of the config file."""
        return self.config.problem(path, message)

    def dump(self) -> dict:
        """The resolved config as plain data (``config.yaml``, ``dlcli config show``)."""
        return self.config.dump()


def resolve(config: Config, task: str, n_classes: int | None, target_spread: float | None = None, *,
            rows: int | None = None, streamed: bool = False) -> ResolvedConfig:  # fmt: skip
    """``config`` with task, output, loss, metrics and ``data.scale_target`` made explicit for this data.

    ``target_spread`` is the std of every target value of the data file (regression), which settles
    ``scale_target: auto``; a config that leaves out its layers gets the recommended network for the keys it
    leaves out (``recipe``), some of them from the data's ``rows`` and whether it is ``streamed``. Runs the
    data-dependent checks first: errors raise ConfigError (all of them at once), warnings are printed.
    """
    recommended = recipe.recommended(config)
    config = settle(config, rows=rows, streamed=streamed)
    problems = check_against_data(config, task, n_classes)
    errors = [config.problem(p.path, p.message) for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(errors)
    for p in problems:
        warn(config.problem(p.path, f"warning: {p.message}"))
    out = config.model.output
    units = None if out == "auto" or out.units == "auto" else out.units
    activation = None if out == "auto" or out.activation == "auto" else out.activation
    if activation is None and task != "regression" and from_logits(config.loss):
        activation = "linear"  # the loss applies softmax / sigmoid itself
    if task == "regression":
        units, activation = units or 1, activation or "linear"
    elif task == "binary":  # a categorical loss one-hots over the units: two softmax units, not one sigmoid
        units = units or (2 if activation == "softmax" or loss_name(config.loss) in names.CATEGORICAL_LOSSES else 1)
        activation = activation or ("sigmoid" if units == 1 else "softmax")
    else:
        units, activation = units or n_classes, activation or "softmax"
    loss = config.loss
    if loss == "auto":
        if task == "regression":
            loss = "mean_squared_error"
        else:
            name = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
            loss = LossSpec(name=name, from_logits=True) if activation == "linear" else name
    metrics = config.metrics
    if metrics == "auto":
        metrics = ["mae"] if task == "regression" else ["accuracy"]
    model = config.model.model_copy(update={"output": OutputConfig(units=units, activation=activation)})
    stopping = config.training.early_stopping
    restores_best = stopping is not None and stopping.restore_best_weights
    on, reason = scale_target(
        config.data.scale_target, task, target_spread, recommended=recommended, restores_best=restores_best
    )
    numeric = "standard" if config.data.numeric == "auto" else config.data.numeric
    data = config.data.model_copy(update={"scale_target": on, "numeric": numeric})
    filled = config.copy_with(task=task, model=model, loss=loss, metrics=metrics, data=data)
    return _typed(filled, reason)


def settle(config: Config, *, rows: int | None, streamed: bool = False) -> Config:
    """``config`` with the recommended network's value (``recipe``) for every key it leaves out; ``config`` itself
    when it spells out its layers."""
    if not recipe.recommended(config):
        return config

    model_updates = {"layers": [LayerConfig(**layer) for layer in recipe.LAYERS]}
    if "numeric_embedding" not in config.model.model_fields_set and recipe.is_table(config):
        model_updates["numeric_embedding"] = NumericEmbeddingConfig(**recipe.NUMERIC_EMBEDDING)
    if "ensemble" not in config.model.model_fields_set and recipe.is_table(config):
        model_updates["ensemble"] = EnsembleConfig(**recipe.ENSEMBLE)
    model = config.model.model_copy(update=model_updates)
    training_set = config.training.model_fields_set
    training_updates = {}
    if "epochs" not in training_set:
        training_updates["epochs"] = recipe.MAX_EPOCHS
    if "batch_size" not in training_set:
        training_updates["batch_size"] = recipe.batch_size(rows)
    if "early_stopping" not in training_set and config.data.validates:
        training_updates["early_stopping"] = EarlyStoppingConfig(patience=recipe.PATIENCE, restore_best_weights=True)
    training = config.training.model_copy(update=training_updates)
    updates = {"model": model, "training": training}
    if "optimizer" not in config.model_fields_set:
        updates["optimizer"] = OptimizerSpec(**recipe.OPTIMIZER)
    data_updates = {}
    if config.data.numeric == "auto" and config.data.normalize and not streamed and recipe.is_table(config):
        data_updates["numeric"] = "robust"
    if data_updates:
        updates["data"] = config.data.model_copy(update=data_updates)
    return config.copy_with(**updates)


def scale_target(setting: bool | str, task: str, spread: float | None, *, recommended: bool = False,
                 restores_best: bool = False) -> tuple[bool, str]:  # fmt: skip
    """(on, why) for ``data.scale_target``: only a regression target is scaled. ``auto`` scales it for the
    recommended network and for any network whose early stopping keeps its best epoch (training fast on a
    standardized target cannot then overfit unseen); a network spelled out without early stopping trains on the
    target as Keras would. (``benchmarks/quality.py``: the tutorial network with early stopping, standardized:
    R^2 0.924 / 0.864 on ames / concrete against 0.827 / 0.462 raw; without it, the issue's diabetes config falls
    from 0.53 to 0.15 standardized.)"""
    if task != "regression":
        return False, "the target holds classes"
    if setting != "auto":
        return bool(setting), f"data.scale_target: {str(setting).lower()}"
    std = "" if spread is None else f", target std {spread:.4g}"
    if recommended:
        return True, f"auto: the recommended network learns a standardized target{std}"
    if restores_best:
        return True, f"auto: early stopping keeps the best epoch{std}"
    return False, "auto: a network spelled out without early stopping learns the target as it is, as Keras would"


def saved(
    config: Config, source: str = "config.yaml", *, task: str | None = None, n_classes: int | None = None
) -> ResolvedConfig:
    """The ``ResolvedConfig`` of a run directory's config, whose values dlcli saved explicit.

    A value set back to ``auto`` by hand is resolved with the ``task`` and
    ``n_classes`` the run recorded; without them it is an error.
    """
    out = config.model.output
    explicit = config.task in TASKS and out != "auto" and "auto" not in (out.units, out.activation)
    if explicit and "auto" not in (config.loss, config.metrics):
        return _typed(config)
    known = config.task if config.task in TASKS else task
    if known not in TASKS:
        raise ConfigError(
            f"{source}: task, model.output, loss or metrics is auto and the run recorded no task to resolve it "
            "with; the run directory was altered"
        )
    return resolve(config, known, n_classes)


def _typed(config: Config, scale_target_reason: str = "") -> ResolvedConfig:
    out = config.model.output
    return ResolvedConfig(
        config=config,
        task=config.task,
        output=Output(int(out.units), out.activation),
        loss=Named.of(config.loss),
        metrics=tuple(Named.of(m) for m in config.metrics),
        scale_target_reason=scale_target_reason or f"data.scale_target: {str(config.data.scale_target).lower()}",
    )
