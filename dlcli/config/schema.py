"""The config file as pydantic models: what each key may hold, defaults filled in, names checked.

Pure: validating a config imports no TensorFlow. ``data:`` is a union of the
sources' own models (``dlcli.data.sources``), discriminated by ``source``
(inferred from the extension of ``path`` when left out).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from dlcli import names
from dlcli.config.base import Strict, at_least_one, check_activation, check_name
from dlcli.config.sections import ScheduleConfig, TrackingConfig, TrainingConfig
from dlcli.config.sweep import SweepConfig
from dlcli.config.upgrade import CONFIG_VERSION
from dlcli.config.yamlpos import Located, format_path
from dlcli.data import sources


def _source_of(value: Any) -> str | None:
    """The source a ``data:`` value names (the union's tag), or None."""
    if isinstance(value, BaseModel):
        return getattr(value, "source", None)
    if isinstance(value, dict):
        source = value.get("source")
        return source if isinstance(source, str) else None if source is None else str(source)
    return None


DataConfig = Annotated[
    Union[tuple(Annotated[model, Tag(name)] for name, model in sources.CONFIGS.items())],  # noqa: UP007 - built at run time
    Discriminator(_source_of),
]


class RegularizerConfig(Strict):
    l1: float = Field(0.0, ge=0, description="L1 penalty factor.")
    l2: float = Field(0.0, ge=0, description="L2 penalty factor.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        if value in ("l1", "l2"):
            return {value: 0.01}  # Keras's default factor for the name alone
        if value == "l1_l2":
            return {"l1": 0.01, "l2": 0.01}
        return value

    @model_validator(mode="after")
    def _some(self):
        if not (self.l1 or self.l2):
            raise ValueError("give l1 and/or l2 above 0, e.g. {l2: 0.0001}")
        return self


class LayerConfig(Strict):
    type: Literal["dense"] = Field("dense", description="Layer type.")
    units: int = Field(gt=0, description="Number of units.")
    activation: str | None = Field("relu", description="A Keras activation name.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout rate after the layer.")
    kernel_initializer: str = Field("glorot_uniform", description="A Keras initializer name for the weights.")
    kernel_regularizer: RegularizerConfig | None = Field(
        None, description="Weight penalty: {l1: 1e-5}, {l2: 1e-4} or both (l1 / l2 alone: Keras's 0.01)."
    )
    batch_norm: bool = Field(False, description="BatchNormalization between the weights and the activation.")

    _activation = field_validator("activation")(classmethod(lambda cls, v: check_activation(v)))

    @field_validator("kernel_initializer")
    @classmethod
    def _initializer(cls, value):
        return check_name("initializer", value, names.INITIALIZERS)


class OutputConfig(Strict):
    units: int | Literal["auto"] = Field("auto", description="Output units; auto follows the task.")
    activation: str | None = Field("auto", description="Output activation; auto follows the task.")

    _positive = field_validator("units")(classmethod(lambda cls, v: at_least_one(v)))

    @field_validator("activation")
    @classmethod
    def _activation(cls, value):
        return value if value == "auto" else check_activation(value)


OutputField = Annotated[
    Annotated[Literal["auto"], Tag("<auto>")] | Annotated[OutputConfig, Tag("<mapping>")],
    Discriminator(lambda v: "<auto>" if v == "auto" or not isinstance(v, (dict, BaseModel)) else "<mapping>"),
]


def _default_layers() -> list[LayerConfig]:
    return [LayerConfig(units=64), LayerConfig(units=64)]


class NumericEmbeddingConfig(Strict):
    """Periodic embeddings of the numeric features (PLR, Gorishniy et al. 2022): per feature, cos and sin of
    2*pi*c*x at trainable frequencies c drawn from N(0, sigma), a linear map to dim, ReLU."""

    type: Literal["periodic"] = Field("periodic", description="periodic: PLR embeddings.")
    frequencies: int = Field(24, gt=0, description="Frequencies per feature (k).")
    dim: int = Field(16, gt=0, description="Embedding size per feature.")
    sigma: float | list[float] = Field(
        0.1,
        description="Std of the frequencies' initial values (on scaled inputs); or [low, high]: each frequency's "
        "std log-spaced between the two, slow and fast waves for every feature.",
    )
    lite: bool = Field(False, description="One linear map shared by every feature (PLR-lite) instead of one each.")

    @field_validator("sigma")
    @classmethod
    def _sigma(cls, value):
        values = value if isinstance(value, list) else [value]
        if len(values) not in (1, 2) or any(v <= 0 for v in values) or values != sorted(values):
            raise ValueError(f"a std above 0, or [low, high] with 0 < low <= high; got {value!r}")
        return value


class EnsembleConfig(Strict):
    """A parameter-efficient ensemble (TabM-mini, Gorishniy et al. 2024): the hidden layers shared by every member,
    a per-member multiplicative adapter before them and a per-member output layer; each member trains on its own
    loss and the saved model predicts their mean."""

    members: int = Field(8, ge=2, le=64, description="Ensemble members (k).")


class ModelConfig(Strict):
    layers: list[LayerConfig] = Field(default_factory=_default_layers, description="Hidden layers, in order.")
    output: OutputField = Field("auto", description="auto, or {units, activation}.")
    numeric_embedding: NumericEmbeddingConfig | None = Field(
        None, description="Embed each numeric feature before the layers: {type: periodic, frequencies, dim, sigma}."
    )
    ensemble: EnsembleConfig | None = Field(
        None, description="k members sharing the hidden layers, each with its own adapter and output: {members: 8}."
    )

    @field_validator("numeric_embedding", "ensemble", mode="before")
    @classmethod
    def _embedding_shorthand(cls, value):
        return {} if value is True else (None if value is False else value)


class NamedSpec(BaseModel):
    """``{name: ..., **params}``: params go to the Keras constructor unchanged."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def params(self) -> dict:
        return dict(self.model_extra or {})


def _loss_check(value: str) -> str:
    return check_name("loss", value, names.LOSSES)


def _optimizer_check(value: str) -> str:
    return check_name("optimizer", value, names.OPTIMIZERS, lower=True)


def _metric_check(value: str) -> str:
    return check_name("metric", value, names.METRICS + names.DLCLI_METRICS)


class LossSpec(NamedSpec):
    _known = field_validator("name")(classmethod(lambda cls, v: _loss_check(v)))


class OptimizerSpec(NamedSpec):
    name: str = "adam"
    learning_rate: float | None = Field(None, gt=0)
    clipnorm: float | None = Field(None, gt=0, description="Clip each gradient to this L2 norm.")
    clipvalue: float | None = Field(None, gt=0, description="Clip each gradient element to [-v, v].")
    global_clipnorm: float | None = Field(None, gt=0, description="Clip all gradients together to this L2 norm.")
    schedule: ScheduleConfig | None = Field(None, description="A learning-rate schedule starting at learning_rate.")

    _known = field_validator("name")(classmethod(lambda cls, v: _optimizer_check(v)))

    @model_validator(mode="after")
    def _one_clip(self):
        given = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} are both set; Keras clips gradients one way, keep one")
        return self


class MetricSpec(NamedSpec):
    _known = field_validator("name")(classmethod(lambda cls, v: _metric_check(v)))


def _pick(value: Any) -> str:
    """Which branch a ``auto | name | {name: ...}`` value is, so errors come from that branch only."""
    if isinstance(value, (dict, BaseModel)):
        return "<mapping>"
    if value == "auto":
        return "<auto>"
    if isinstance(value, list):
        return "<list>"
    return "<name>"


def _named(spec: type[NamedSpec], check, *, auto: bool = False):
    """``name | {name: ..., **params}`` (and ``auto`` when allowed), names checked in place."""
    branches = [Annotated[str, AfterValidator(check), Tag("<name>")], Annotated[spec, Tag("<mapping>")]]
    if auto:
        branches.append(Annotated[Literal["auto"], Tag("<auto>")])
    return Annotated[Union[tuple(branches)], Discriminator(_pick)]  # noqa: UP007 - built at run time


MetricsField = Annotated[
    Annotated[Literal["auto"], Tag("<auto>")] | Annotated[list[_named(MetricSpec, _metric_check)], Tag("<list>")],
    Discriminator(lambda v: "<list>" if isinstance(v, list) else "<auto>"),
]


class Config(Strict):
    """A whole config file, validated, with every default filled in."""

    config_version: Literal[CONFIG_VERSION] = Field(
        CONFIG_VERSION, description="The version of the config language; dlcli upgrades older ones."
    )
    name: str | None = Field(None, description="Run name; default: the config file's stem.")
    seed: int = Field(0, ge=0, description="Seed for splits, weights and shuffling.")
    task: Literal["auto", "classification", "binary", "multiclass", "regression"] = Field(
        "auto", description="Inferred from the target unless given."
    )
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: _named(LossSpec, _loss_check, auto=True) = Field(
        "auto", description="auto, a Keras loss name, or {name, ...}."
    )
    optimizer: _named(OptimizerSpec, _optimizer_check) = Field(
        default_factory=lambda: OptimizerSpec(name="adam", learning_rate=0.001),
        description="A Keras optimizer name or {name, learning_rate, ...}.",
    )
    metrics: MetricsField = Field(
        "auto", description="Keras metric names; accuracy (classification) or mae (regression) always reported."
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    sweep: SweepConfig | None = Field(
        None, description="Hyperparameter search for dlcli sweep; dlcli train ignores it."
    )
    tracking: TrackingConfig | None = Field(
        None, description="Experiment tracking: where runs are logged besides their run directory."
    )

    _origin: Located | None = PrivateAttr(None)

    @field_validator("data", mode="before")
    @classmethod
    def _infer_source(cls, value):
        if isinstance(value, dict) and "source" not in value and isinstance(value.get("path"), str):
            suffix = sources.file_suffix(value["path"])
            if suffix in sources.EXTENSIONS:
                value = {**value, "source": sources.EXTENSIONS[suffix]}
        return value

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value):
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value):
            raise ValueError(
                f"'{value}' cannot name a run directory; use letters, digits, '.', '_' and '-' (at most 100)"
            )
        return value

    @field_validator("optimizer", mode="after")
    @classmethod
    def _optimizer_spec(cls, value):
        return OptimizerSpec(name=value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _settle_missing(self):
        """``data.missing: auto`` is settled before any data is read (the data layer never sees auto)."""
        if self.data.missing == "auto":
            from dlcli.config import recipe

            self.data = self.data.model_copy(update={"missing": recipe.missing(self)})
        return self

    def where(self, path: tuple, *, key: bool = False) -> str:
        """``FILE:LINE:COL`` of a key path's value (``key``: of the key) in the file this config came from."""
        return self._origin.where(path, key=key) if self._origin is not None else "config"

    def problem(self, path: tuple, message: str) -> str:
        """A located one-line error about ``path``."""
        return f"{self.where(path)}: {format_path(path)}: {message}"

    def with_origin(self, origin: Located | None) -> Config:
        self._origin = origin
        return self

    def copy_with(self, **updates) -> Config:
        """A copy with some top-level values replaced, keeping where the config came from."""
        return self.model_copy(update=updates).with_origin(self._origin)

    def dump(self) -> dict:
        """The config as plain data, ready for YAML (None values dropped; ``data:`` keys in their usual order)."""
        out = self.model_dump(mode="json", exclude_none=True)
        out["data"] = {k: out["data"][k] for k in sources.KEY_ORDER if k in out["data"]}
        return out
