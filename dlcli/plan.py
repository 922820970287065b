"""From a config and the data's shape to the model, without TensorFlow.

``resolve`` fills the ``auto`` values (task, output layer, loss, metrics) once
the data is known; ``layers`` lists every layer with its output shape and
parameter count. ``model.build`` turns exactly this list into Keras layers, so
``validate``'s table and the trained model cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlcli.checks import _from_logits, check_against_data
from dlcli.config import Config, LossSpec, OutputConfig
from dlcli.errors import ConfigError, warn


@dataclass(frozen=True)
class LayerSpec:
    kind: str  # flatten | rescaling | normalization | lookup | embedding | concatenate | dense | batch_norm
    # | activation | dropout
    name: str
    output_shape: tuple
    params: int = 0
    units: int | None = None
    activation: str | None = None
    rate: float | None = None
    scale: float | None = None
    initializer: str = "glorot_uniform"
    column: str | None = None  # the categorical column a lookup / embedding encodes
    regularizer: tuple[float, float] | None = None  # (l1, l2) kernel penalty
    use_bias: bool = True

    @property
    def keras_type(self) -> str:
        return {
            "flatten": "Flatten",
            "rescaling": "Rescaling",
            "normalization": "Normalization",
            "lookup": "StringLookup",
            "embedding": "Embedding",
            "concatenate": "Concatenate",
            "dense": "Dense",
            "batch_norm": "BatchNormalization",
            "activation": "Activation",
            "dropout": "Dropout",
        }[self.kind]


def resolve(config: Config, task: str, n_classes: int | None) -> Config:
    """``config`` with task, output, loss and metrics made explicit for this data.

    Runs the data-dependent checks first: errors raise ConfigError (all of
    them at once), warnings are printed.
    """
    problems = check_against_data(config, task, n_classes)
    errors = [config.problem(p.path, p.message) for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(errors)
    for p in problems:
        warn(config.problem(p.path, f"warning: {p.message}"))
    out = config.model.output
    units = None if out == "auto" or out.units == "auto" else out.units
    activation = None if out == "auto" or out.activation == "auto" else out.activation
    if activation is None and task != "regression" and _from_logits(config.loss):
        activation = "linear"  # the loss applies softmax / sigmoid itself
    if task == "regression":
        units, activation = units or 1, activation or "linear"
    elif task == "binary":
        units = units or (2 if activation == "softmax" else 1)
        activation = activation or ("sigmoid" if units == 1 else "softmax")
    else:
        units, activation = units or n_classes, activation or "softmax"
    output = OutputConfig(units=units, activation=activation)
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
    model = config.model.model_copy(update={"output": output})
    resolved = config.model_copy(update={"task": task, "model": model, "loss": loss, "metrics": metrics})
    resolved._origin = config._origin
    return resolved


def layers(config: Config, input_shape: tuple[int, ...], vocab_sizes: dict[str, int] | None = None) -> list[LayerSpec]:
    """Every layer after the inputs, in order, for a resolved config.

    ``vocab_sizes`` (categorical column -> categories seen in training) adds a
    lookup (one-hot, or an embedding when ``data.embedding`` names the column)
    per column and a concatenation with the numeric features.
    """
    specs: list[LayerSpec] = []
    width = math.prod(input_shape)
    if len(input_shape) > 1:
        specs.append(LayerSpec("flatten", "flatten", (None, width)))
    if width and config.data.scale is not None:
        specs.append(LayerSpec("rescaling", "scale", (None, width), scale=config.data.scale))
    if width and config.data.normalize:
        specs.append(LayerSpec("normalization", "normalize", (None, width)))
    embedding = config.data.embedding or {}
    for i, (column, size) in enumerate((vocab_sizes or {}).items(), start=1):
        buckets = size + 1  # the categories seen in training plus one out-of-vocabulary bucket
        if column in embedding:
            dim = embedding[column]
            specs.append(LayerSpec("lookup", f"lookup_{i}", (None, 1), column=column, units=buckets))
            specs.append(LayerSpec("embedding", f"embed_{i}", (None, dim), buckets * dim, units=dim, column=column))
            width += dim
        else:
            specs.append(LayerSpec("lookup", f"onehot_{i}", (None, buckets), column=column, units=buckets))
            width += buckets
    if vocab_sizes:
        specs.append(LayerSpec("concatenate", "concat", (None, width)))
    for i, layer in enumerate(config.model.layers, start=1):
        reg = layer.kernel_regularizer
        norm = layer.batch_norm  # Dense without bias -> BatchNormalization (its beta is the bias) -> activation
        specs.append(
            LayerSpec(
                "dense",
                f"hidden_{i}",
                (None, layer.units),
                width * layer.units + (0 if norm else layer.units),
                layer.units,
                "linear" if norm else (layer.activation or "linear"),
                initializer=layer.kernel_initializer,
                regularizer=(reg.l1, reg.l2) if reg else None,
                use_bias=not norm,
            )
        )
        if norm:
            # gamma and beta train; the moving mean and variance do not (Keras counts all four)
            specs.append(LayerSpec("batch_norm", f"batch_norm_{i}", (None, layer.units), 4 * layer.units))
            specs.append(
                LayerSpec("activation", f"activation_{i}", (None, layer.units), activation=layer.activation or "linear")
            )
        width = layer.units
        if layer.dropout:
            specs.append(LayerSpec("dropout", f"dropout_{i}", (None, width), rate=layer.dropout))
    out = config.model.output
    specs.append(
        LayerSpec("dense", "output", (None, out.units), width * out.units + out.units, out.units, out.activation)
    )
    return specs


def table(specs: list[LayerSpec], input_shape: tuple[int, ...]) -> str:
    """The layer table ``validate`` prints (like Keras's summary)."""
    rows = [("input", "Input", str((None, *input_shape)), "0")] if math.prod(input_shape) else []
    for s in specs:
        if s.kind == "lookup":
            rows.append((f"input {s.column}", "Input (string)", "(None, 1)", "0"))
        detail = f"{s.keras_type}"
        if s.activation:
            detail += f" ({s.activation})"
        if s.rate is not None:
            detail += f" ({s.rate:g})"
        rows.append((s.name, detail, str(s.output_shape), f"{s.params:,}"))
    header = ("layer", "type", "output shape", "params")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]

    def line(row):
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    total = sum(s.params for s in specs)
    out = [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    out.append(f"total params: {total:,}")
    return "\n".join(out)
