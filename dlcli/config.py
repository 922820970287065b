"""The config language: pydantic models of the YAML file, and ``load_config``.

Phase one (this module) is pure: it validates the file, fills defaults and
checks names against ``dlcli.names`` without importing TensorFlow. Phase two
(``resolve``) fills the ``auto`` values once the data's task is known.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from dlcli import names
from dlcli.errors import ConfigError, warn
from dlcli.sections import (  # noqa: F401 - EarlyStoppingConfig and TrainingConfig re-exported
    EarlyStoppingConfig,
    ScheduleConfig,
    Strict,
    TrainingConfig,
    at_least_one,
)
from dlcli.yamlpos import Located, apply_overrides, format_path, load_yaml, read_config_text

SOURCES = ("sklearn", "csv", "parquet", "npz", "npy", "keras", "synthetic")
SKLEARN_DATASETS = ("iris", "digits", "wine", "breast_cancer", "diabetes")
TASKS = ("auto", "classification", "binary", "multiclass", "regression")


def _check_activation(value: str | None) -> str:
    if value is None:
        return "linear"
    if value not in names.ACTIVATIONS:
        raise ValueError(f"unknown activation '{value}'{names.did_you_mean(value, names.ACTIVATIONS)}")
    return value


def _check_name(kind: str, value: str, choices, *, lower: bool = False) -> str:
    key = value.lower() if lower else value
    if key not in choices:
        raise ValueError(f"unknown {kind} '{value}'{names.did_you_mean(value, choices)}")
    return key


EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".tab": "csv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet", ".npz": "npz", ".npy": "npy",
}  # fmt: skip
MISSING_POLICIES = ("error", "drop", "mean", "median", "zero")


class DataConfig(Strict):
    source: Literal["sklearn", "csv", "parquet", "npz", "npy", "keras", "synthetic"] = Field(
        description="Where the data comes from; inferred from the extension of path when left out."
    )
    name: str | None = Field(None, description="Dataset name for source sklearn, keras or synthetic.")
    path: str | None = Field(None, description="Data file for csv / parquet / npz / npy; relative to the config file.")
    target: str | None = Field(None, description="Target column for csv / parquet.")
    features: list[str] | None = Field(None, description="Feature columns for csv / parquet; default: all but target.")
    y_path: str | None = Field(None, description="Labels file (.npy) for source npy; path holds the features.")
    validation_path: str | None = Field(
        None, description="Validation file in the same format; replaces validation_split."
    )
    test_path: str | None = Field(None, description="Held-out test file in the same format; replaces test_split.")
    test_split: float = Field(0.2, gt=0, lt=1, description="Fraction held out for the test metrics.")
    validation_split: float = Field(0.1, ge=0, lt=1, description="Fraction of the rest used for validation.")
    normalize: bool = Field(True, description="Standardize inputs with a layer saved inside the model.")
    scale: float | None = Field(
        None, gt=0, description="Multiply inputs by this first (e.g. 0.00392156862745098 = 1/255)."
    )
    categorical: list[str] | None = Field(
        None, description="Columns to encode as categories although they hold numbers; text columns always are."
    )
    embedding: dict[str, int] | None = Field(
        None, description="Categorical column -> embedding size; other categorical columns are one-hot encoded."
    )
    unseen: Literal["oov", "error"] = Field(
        "oov", description="A category not seen in training: oov (its own bucket) or error."
    )
    streaming: bool | Literal["auto"] = Field(
        "auto", description="Stream a CSV from disk with tf.data (auto: files above 1 GiB)."
    )
    missing: Literal["error", "drop", "mean", "median", "zero"] = Field(
        "error", description="Missing feature values: error, drop the rows, or fill from the training split."
    )
    n_samples: int | None = Field(None, gt=0, le=10_000_000, description="Rows for source synthetic (default 1000).")
    noise: float | None = Field(None, ge=0, description="Noise for source synthetic (default 0.1).")
    seed: int | None = Field(None, ge=0, description="Seed for generating synthetic data; default: the run's seed.")

    @model_validator(mode="before")
    @classmethod
    def _infer_source(cls, value):
        if isinstance(value, dict) and "source" not in value and isinstance(value.get("path"), str):
            suffix = Path(value["path"]).suffix.lower()
            if suffix in EXTENSIONS:
                value = {**value, "source": EXTENSIONS[suffix]}
        return value

    @model_validator(mode="after")
    def _synthetic_defaults(self):
        if self.source == "synthetic":
            from dlcli.data.synthetic import DEFAULT_NOISE, DEFAULT_SAMPLES  # noqa: PLC0415

            if self.n_samples is None:
                self.n_samples = DEFAULT_SAMPLES
            if self.noise is None:
                self.noise = DEFAULT_NOISE
        return self

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, value, info):
        from dlcli.checks import _dataset_names  # noqa: PLC0415

        source = info.data.get("source")
        known = _dataset_names(source) if source else ()
        if value is not None and known and value not in known:
            hint = names.did_you_mean(value, known)
            raise ValueError(f"unknown {source} dataset '{value}'{hint}; one of {', '.join(known)}")
        return value

    @field_validator("embedding")
    @classmethod
    def _embedding_sizes(cls, value):
        for column, size in (value or {}).items():
            if not isinstance(size, int) or size < 1:
                raise ValueError(f"{column}: embedding size must be a whole number >= 1, got {size!r}")
        return value

    @field_validator("features", "categorical")
    @classmethod
    def _features_unique(cls, value):
        if value is not None:
            if not value:
                raise ValueError("an empty list; leave 'features' out to use every column but the target")
            dupes = sorted({f for f in value if value.count(f) > 1})
            if dupes:
                raise ValueError(f"column(s) listed twice: {', '.join(dupes)}")
        return value


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

    _activation = field_validator("activation")(classmethod(lambda cls, v: _check_activation(v)))

    @field_validator("kernel_initializer")
    @classmethod
    def _initializer(cls, value):
        return _check_name("initializer", value, names.INITIALIZERS)


class OutputConfig(Strict):
    units: int | Literal["auto"] = Field("auto", description="Output units; auto follows the task.")
    activation: str | None = Field("auto", description="Output activation; auto follows the task.")

    _positive = field_validator("units")(classmethod(lambda cls, v: at_least_one(v)))

    @field_validator("activation")
    @classmethod
    def _activation(cls, value):
        return value if value == "auto" else _check_activation(value)


OutputField = Annotated[
    Annotated[Literal["auto"], Tag("<auto>")] | Annotated[OutputConfig, Tag("<mapping>")],
    Discriminator(lambda v: "<auto>" if v == "auto" or not isinstance(v, (dict, BaseModel)) else "<mapping>"),
]


def _default_layers() -> list[LayerConfig]:
    return [LayerConfig(units=64), LayerConfig(units=64)]


class ModelConfig(Strict):
    layers: list[LayerConfig] = Field(default_factory=_default_layers, description="Hidden layers, in order.")
    output: OutputField = Field("auto", description="auto, or {units, activation}.")


class NamedSpec(BaseModel):
    """``{name: ..., **params}``: params go to the Keras constructor unchanged."""

    model_config = ConfigDict(extra="allow")
    name: str


class LossSpec(NamedSpec):
    @field_validator("name")
    @classmethod
    def _known(cls, value):
        return _check_name("loss", value, names.LOSSES)


class OptimizerSpec(NamedSpec):
    name: str = "adam"
    learning_rate: float | None = Field(None, gt=0)
    clipnorm: float | None = Field(None, gt=0, description="Clip each gradient to this L2 norm.")
    clipvalue: float | None = Field(None, gt=0, description="Clip each gradient element to [-v, v].")
    global_clipnorm: float | None = Field(None, gt=0, description="Clip all gradients together to this L2 norm.")
    schedule: ScheduleConfig | None = Field(None, description="A learning-rate schedule starting at learning_rate.")

    @model_validator(mode="after")
    def _one_clip(self):
        given = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} are both set; Keras clips gradients one way, keep one")
        return self

    @field_validator("name")
    @classmethod
    def _known(cls, value):
        return _check_name("optimizer", value, names.OPTIMIZERS, lower=True)


class MetricSpec(NamedSpec):
    @field_validator("name")
    @classmethod
    def _known(cls, value):
        return _check_name("metric", value, names.METRICS + names.DLCLI_METRICS)


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


def _loss_check(value: str) -> str:
    return _check_name("loss", value, names.LOSSES)


def _optimizer_check(value: str) -> str:
    return _check_name("optimizer", value, names.OPTIMIZERS, lower=True)


def _metric_check(value: str) -> str:
    return _check_name("metric", value, names.METRICS + names.DLCLI_METRICS)


MetricsField = Annotated[
    Annotated[Literal["auto"], Tag("<auto>")] | Annotated[list[_named(MetricSpec, _metric_check)], Tag("<list>")],
    Discriminator(lambda v: "<list>" if isinstance(v, list) else "<auto>"),
]


class Config(Strict):
    """A whole config file, validated, with every default filled in."""

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

    _origin: Located | None = PrivateAttr(None)

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

    def where(self, path: tuple) -> str:
        """``FILE:LINE:COL`` of a key path in the file this config came from (or ``config``)."""
        return self._origin.where(path) if self._origin is not None else "config"

    def problem(self, path: tuple, message: str) -> str:
        """A located one-line error about ``path``."""
        return f"{self.where(path)}: {format_path(path)}: {message}"

    def dump(self) -> dict:
        """The config as plain data, ready for YAML (None values dropped)."""
        return self.model_dump(mode="json", exclude_none=True)


# -- loading ---------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override and validate a config file; every problem found is raised at once."""
    source = str(path)
    located = load_yaml(read_config_text(path), source)
    return config_from_located(located, overrides, base_dir=Path(path).resolve().parent, stem=Path(path).stem)


def load_config_text(text: str, source: str, overrides=(), base_dir: Path | None = None, stem="config") -> Config:
    """Like :func:`load_config` for text that is not in a file (the embedded example)."""
    return config_from_located(load_yaml(text, source), overrides, base_dir=base_dir or Path.cwd(), stem=stem)


def config_from_located(located: Located, overrides, *, base_dir: Path, stem: str) -> Config:
    if not isinstance(located.data, dict):
        what = "a list" if isinstance(located.data, list) else f"the value {_show(located.data)}"
        raise ConfigError(
            f"{located.where(())}: a config is a mapping of keys (data, model, training, ...), got {what}"
        )
    apply_overrides(located, list(overrides))
    try:
        config = Config.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, located)) from None
    from dlcli.checks import check_config  # noqa: PLC0415 - checks imports this module

    problems = check_config(config)
    errors = [f"{located.where(p.path)}: {format_path(p.path)}: {p.message}" for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(errors)
    for p in problems:
        warn(f"{located.where(p.path)}: {format_path(p.path)}: warning: {p.message}")
    updates: dict[str, Any] = {}
    if config.name is None:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "run"
        updates["name"] = safe
    data_updates = _resolve_paths(config.data, base_dir, located)
    if data_updates:
        updates["data"] = config.data.model_copy(update=data_updates)
    config = config.model_copy(update=updates) if updates else config
    config._origin = located
    return config


def _resolve_paths(data: DataConfig, base_dir: Path, located: Located) -> dict:
    """Relative data paths: the config file's folder first, then the working directory."""
    out = {}
    for key in ("path", "y_path", "validation_path", "test_path"):
        value = getattr(data, key)
        if value is None:
            continue
        p = Path(value).expanduser()
        candidates = [p] if p.is_absolute() else [base_dir / p, Path.cwd() / p]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            where = located.where(("data", key))
            tried = " or ".join(dict.fromkeys(str(c.resolve()) for c in candidates))
            hint = _download_hint(p.name)
            raise ConfigError(f"{where}: data.{key}: file not found: '{value}' (looked for {tried}); {hint}")
        if found.is_dir():
            raise ConfigError(f"{located.where(('data', key))}: data.{key}: '{value}' is a directory; give a file")
        out[key] = str(found.resolve())
    return out


def _download_hint(filename: str) -> str:
    keras_files = {"mnist.npz": "mnist", "boston_housing.npz": "boston_housing"}
    if filename in keras_files:
        name = keras_files[filename]
        return f'download it once with: python -c "import keras; keras.datasets.{name}.load_data()" (saves ~/.keras/datasets/{filename})'
    return "fix the path"


# -- turning pydantic errors into located one-liners -------------------------------------------


def _describe(exc: ValidationError, located: Located) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], located.data)
        message = _message(err, path)
        key = err["type"] == "extra_forbidden"
        lines.append(f"{located.where(path, key=key)}: {format_path(path) or '(top level)'}: {message}")
    return list(dict.fromkeys(lines))


def _data_path(loc, data) -> tuple:
    """Drop pydantic's union tags from ``loc``, keeping the parts that exist in the data."""
    path = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part in fields_at(tuple(path)):
            path.append(part)  # a missing key
            node = None
    return tuple(path)


def _message(err: dict, path: tuple) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = fields_at(path[:-1])
        hint = names.did_you_mean(str(path[-1]), allowed) if allowed else ""
        listing = f"; allowed: {', '.join(allowed)}" if allowed and not hint else ""
        return f"unknown key '{path[-1]}'{hint}{listing}"
    if kind == "missing":
        return "required key is missing" + _missing_hint(path)
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if options == ["auto"]:
            other = "a list of metric names" if path[-1:] == ("metrics",) else "a mapping {units, activation}"
            return f"expected auto or {other}; got {_show(value)}"
        hint = names.did_you_mean(str(value), options) if isinstance(value, str) else ""
        return f"expected one of {', '.join(options)}; got {_show(value)}{hint}"
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        return msg
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        keys = fields_at(path)
        if keys == ["name"] or "name" in keys and path and path[-1] in ("loss", "optimizer"):
            return f"expected a name or a mapping {{name: ..., ...}}; got {_show(value)}"
        listing = f" with keys {', '.join(keys)}" if keys else ""
        return f"expected a mapping{listing}; got {_show(value)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"expected a name or a mapping {{name: ..., ...}}; got {_show(value)}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        what = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "string": "a string",
            "list": "a list",
            "dict": "a mapping",
        }
        base = kind.split("_")[0]
        return f"expected {what.get(base, base)}; got {_show(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound}; got {_show(value)}"
    return f"{err['msg']}; got {_show(value)}"


def _show(value) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _missing_hint(path: tuple) -> str:
    if path == ("data",):
        return "; say where the data comes from, e.g. data: {source: sklearn, name: digits}"
    if path == ("data", "source"):
        return f"; one of {', '.join(SOURCES)}, or a path ending in {', '.join(sorted(set(EXTENSIONS)))}"
    if path[-1:] == ("units",):
        return "; give the number of units, e.g. {units: 64}"
    return ""


def fields_at(path: tuple) -> list[str]:
    """The keys allowed at ``path`` in a config (empty when not a section)."""
    model: Any = Config
    for part in path:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) else None
        if field is None:
            return []
        model = _find_model(field.annotation)
        if model is None:
            return []
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _find_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _find_model(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    if origin is Annotated:
        return _find_model(annotation.__origin__)
    return None


def schema() -> dict:
    """JSON Schema of the config file, for editors, with Keras's names as completions."""
    out = Config.model_json_schema()
    _any_of(out)
    defs = out["$defs"]
    activations = list(names.ACTIVATIONS)
    _enum(defs["LayerConfig"]["properties"]["activation"], activations)
    _enum(defs["LayerConfig"]["properties"]["kernel_initializer"], list(names.INITIALIZERS))
    _enum(defs["OutputConfig"]["properties"]["activation"], ["auto", *activations])
    from dlcli.data.keras_datasets import DATASETS  # noqa: PLC0415
    from dlcli.data.synthetic import SHAPES  # noqa: PLC0415

    _enum(defs["DataConfig"]["properties"]["name"], [*SKLEARN_DATASETS, *DATASETS, *SHAPES])
    # source may be left out when path's extension says it (inferred before validation)
    defs["DataConfig"]["required"] = [r for r in defs["DataConfig"].get("required", []) if r != "source"]
    defs["LayerConfig"]["properties"]["kernel_regularizer"]["anyOf"].append(
        {"enum": ["l1", "l2", "l1_l2"], "description": "Keras's factor 0.01"}
    )
    for key in ("early_stopping", "reduce_lr_on_plateau", "checkpoint"):
        defs["TrainingConfig"]["properties"][key]["anyOf"].append(
            {"type": "boolean", "description": "true: the defaults; false: off"}
        )
    for key, spec, values in (
        ("loss", "LossSpec", names.LOSSES),
        ("optimizer", "OptimizerSpec", names.OPTIMIZERS),
        ("metrics", "MetricSpec", names.METRICS + names.DLCLI_METRICS),
    ):
        _enum(out["properties"][key], list(values))
        _enum(defs[spec]["properties"]["name"], list(values))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dlcli config",
        **{k: v for k, v in out.items() if k != "title"},
    }


def _any_of(node) -> None:
    """Editors reject a value that matches two ``oneOf`` branches ("auto" is also a string)."""
    if isinstance(node, dict):
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        node.pop("discriminator", None)
        for value in node.values():
            _any_of(value)
    elif isinstance(node, list):
        for value in node:
            _any_of(value)


def _enum(node: dict, values: list[str]) -> None:
    """Give the free-string branches of ``node`` (and of list items) the valid names."""
    if node.get("type") == "string" and "const" not in node and "enum" not in node:
        node["enum"] = values
    for branch in node.get("anyOf", []):
        _enum(branch, values)
    if isinstance(node.get("items"), dict):
        _enum(node["items"], values)
