"""The ``sweep:`` section: what ``dlcli sweep`` searches over, how, and for how long (pure pydantic).

Each entry of ``params`` maps a config key path (as ``--set`` writes it) to a
range or a list of choices. Whether the path exists in the config language is
checked by ``dlcli.sweep.space`` against the config this section sits in.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dlcli.config.base import Strict

SAMPLERS = ("tpe", "random", "grid", "gp", "cmaes", "qmc")
PRUNERS = ("median", "hyperband", "successive_halving", "threshold", "none")
# Metrics where more is better; every other metric (loss, mae, mse, ...) is minimized.
HIGHER_IS_BETTER = ("accuracy", "auc", "precision", "recall", "r2", "f1", "iou", "top_k")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


def seconds(value: str | float | int) -> float:
    """``30m`` -> 1800.0; a bare number is seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"expected a duration such as 90s, 30m or 2h; got {value!r}")
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2] or "s"]


class SamplerConfig(Strict):
    name: Literal[SAMPLERS] = Field("tpe", description="tpe | random | grid | gp | cmaes | qmc (Optuna's samplers).")
    seed: int | None = Field(None, ge=0, description="Seed of the sampler; default: the config's seed.")


class PrunerConfig(Strict):
    name: Literal[PRUNERS] = Field(
        "median", description="median | hyperband | successive_halving | threshold | none (Optuna's pruners)."
    )
    warmup_epochs: int = Field(0, ge=0, description="Epochs a trial trains before it may be pruned.")
    startup_trials: int = Field(5, ge=0, description="median: trials that finish unpruned before pruning starts.")
    lower: float | None = Field(None, description="threshold: prune a trial whose metric falls below this.")
    upper: float | None = Field(None, description="threshold: prune a trial whose metric rises above this.")

    @model_validator(mode="after")
    def _bounds(self):
        if self.name == "threshold" and self.lower is None and self.upper is None:
            raise ValueError("the threshold pruner needs lower and/or upper, e.g. {name: threshold, upper: 1.0}")
        if self.name != "threshold" and (self.lower is not None or self.upper is not None):
            raise ValueError("lower and upper belong to the threshold pruner")
        return self


class ParamConfig(Strict):
    """One searched key: ``{float: [lo, hi]}``, ``{int: [lo, hi]}`` or ``{choice: [a, b, ...]}``."""

    float_: list[float] | None = Field(None, alias="float", description="A float range [low, high].")
    int_: list[int] | None = Field(None, alias="int", description="A whole-number range [low, high].")
    choice: list[Any] | None = Field(None, description="Values to choose from (numbers, names, lists, mappings).")
    log: bool = Field(False, description="Sample the range on a log scale (low > 0).")
    step: float | None = Field(None, gt=0, description="Sample the range in steps of this size.")

    model_config = {**Strict.model_config, "populate_by_name": True}

    @model_validator(mode="after")
    def _one_kind(self):
        given = [k for k, v in (("float", self.float_), ("int", self.int_), ("choice", self.choice)) if v is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of float: [low, high], int: [low, high] or choice: [...]; got {given or 'none'}"
            )
        if self.choice is not None:
            if not self.choice:
                raise ValueError("choice: needs at least one value")
            if self.log or self.step is not None:
                raise ValueError("log and step belong to a float or int range, not to choice")
            return self
        low_high = self.float_ if self.float_ is not None else self.int_
        if len(low_high) != 2:
            raise ValueError(f"a range is [low, high]; got {low_high}")
        low, high = low_high
        if not low < high:
            raise ValueError(f"a range needs low < high; got [{low}, {high}]")
        if self.log and low <= 0:
            raise ValueError(f"log: true needs low > 0; got [{low}, {high}]")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined (Optuna samples a log range continuously)")
        return self

    @property
    def kind(self) -> str:
        return "choice" if self.choice is not None else ("int" if self.int_ is not None else "float")

    def edges(self) -> list:
        """The values a sample can take at its extremes: both ends of a range, every choice."""
        if self.choice is not None:
            return list(self.choice)
        return list(self.int_ if self.int_ is not None else self.float_)


class SweepConfig(Strict):
    """Hyperparameter search for ``dlcli sweep`` (ignored by ``dlcli train``)."""

    metric: str = Field("val_loss", description="What Keras logs on the validation split, e.g. val_accuracy.")
    direction: Literal["auto", "minimize", "maximize"] = Field(
        "auto", description="auto: maximize accuracy-like metrics, minimize losses and errors."
    )
    trials: int | None = Field(None, gt=0, description="Trials in the whole study (across runs and machines).")
    timeout: str | float | None = Field(None, description="Stop starting trials after this long, e.g. 30m, 2h.")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    params: dict[str, ParamConfig] = Field(description="Config key path (as --set writes it) -> range or choices.")

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _name_alone(cls, value):
        return {"name": value} if isinstance(value, str) else value

    @field_validator("timeout")
    @classmethod
    def _duration(cls, value):
        if value is not None and seconds(value) <= 0:
            raise ValueError(f"must be above 0; got {value!r}")
        return value

    @field_validator("params")
    @classmethod
    def _some(cls, value):
        if not value:
            raise ValueError("name at least one key to search, e.g. optimizer.learning_rate: {float: [1.0e-4, 0.1]}")
        return value

    @model_validator(mode="after")
    def _budget(self):
        if self.trials is None and self.timeout is None and self.sampler.name != "grid":
            raise ValueError("give trials: N and/or timeout: DURATION (e.g. trials: 40, timeout: 30m)")
        return self

    @property
    def timeout_seconds(self) -> float | None:
        return None if self.timeout is None else seconds(self.timeout)

    def resolved_direction(self) -> str:
        """minimize or maximize, from the metric's name when ``direction`` is auto."""
        if self.direction != "auto":
            return self.direction
        name = self.metric.removeprefix("val_").lower()
        return "maximize" if any(word in name for word in HIGHER_IS_BETTER) else "minimize"
