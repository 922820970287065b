"""The layer table of a resolved config, without TensorFlow.

``layers`` lists every layer with its output shape and parameter count;
``model.build`` turns exactly this list into Keras layers, so ``validate``'s
table and the trained model cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlcli.config.resolve import ResolvedConfig
from dlcli.text import table as text_table

TARGET_SCALE = "target_scale"  # the layer that scales a standardized regression output back to the target's units


@dataclass(frozen=True)
class LayerSpec:
    kind: str  # flatten | rescaling | normalization | smooth_clip | lookup | embedding | concatenate | dense
    # | batch_norm | activation | dropout | target_scale | ensemble_input | member_dense
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
            "smooth_clip": "SmoothClip",
            "periodic": "PeriodicEmbedding",
            "lookup": "StringLookup",
            "embedding": "Embedding",
            "concatenate": "Concatenate",
            "dense": "Dense",
            "batch_norm": "BatchNormalization",
            "activation": "Activation",
            "dropout": "Dropout",
            "target_scale": "Rescaling",
            "ensemble_input": "EnsembleInput",
            "quantile": "QuantileNormal",
            "member_dense": "MemberDense",
        }[self.kind]


def layers(
    config: ResolvedConfig, input_shape: tuple[int, ...], vocab_sizes: dict[str, int] | None = None
) -> list[LayerSpec]:
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
    if width and config.data.normalize and config.data.numeric == "quantile":
        specs.append(LayerSpec("quantile", "quantile", (None, width)))
    elif width and config.data.normalize:
        specs.append(LayerSpec("normalization", "normalize", (None, width)))
        if config.data.numeric == "robust":
            specs.append(LayerSpec("smooth_clip", "clip", (None, width)))
    periodic = config.model.numeric_embedding
    if width and periodic is not None:
        k, dim = periodic.frequencies, periodic.dim
        weights = width * k + (2 * k * dim if periodic.lite else width * 2 * k * dim) + width * dim
        specs.append(LayerSpec("periodic", "periodic", (None, width * dim), weights, units=dim))
        width *= dim
    embedding = getattr(config.data, "embedding", None) or {}
    for i, (column, size) in enumerate((vocab_sizes or {}).items(), start=1):
        buckets = size + 1  # the categories seen in training plus one out-of-vocabulary bucket
        if column in embedding:
            dim = embedding[column]
            specs.append(LayerSpec("lookup", f"lookup_{i}", (None, 1), column=column, units=buckets))
            specs.append(LayerSpec("embedding", f"embed_{i}", (None, 1, dim), buckets * dim, units=dim, column=column))
            specs.append(LayerSpec("flatten", f"embed_{i}_flat", (None, dim), column=column))
            width += dim
        else:
            specs.append(LayerSpec("lookup", f"onehot_{i}", (None, buckets), column=column, units=buckets))
            width += buckets
    if vocab_sizes:
        specs.append(LayerSpec("concatenate", "concat", (None, width)))
    ensemble = config.model.ensemble
    members = ensemble.members if ensemble is not None else None
    if members:  # every row becomes k rows, one per member, each through its own adapter
        specs.append(LayerSpec("ensemble_input", "members", (None, members, width), members * width, units=members))
    many = (members,) if members else ()
    for i, layer in enumerate(config.model.layers, start=1):
        reg = layer.kernel_regularizer
        norm = layer.batch_norm  # Dense without bias -> BatchNormalization (its beta is the bias) -> activation
        specs.append(
            LayerSpec(
                "dense",
                f"hidden_{i}",
                (None, *many, layer.units),
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
            specs.append(LayerSpec("batch_norm", f"batch_norm_{i}", (None, *many, layer.units), 4 * layer.units))
            specs.append(
                LayerSpec(
                    "activation", f"activation_{i}", (None, *many, layer.units), activation=layer.activation or "linear"
                )
            )
        width = layer.units
        if layer.dropout:
            specs.append(LayerSpec("dropout", f"dropout_{i}", (None, *many, width), rate=layer.dropout))
    out = config.output
    kind, weights = ("member_dense", members * (width * out.units + out.units)) if members else ("dense", None)
    weights = weights if weights is not None else width * out.units + out.units
    specs.append(LayerSpec(kind, "output", (None, *many, out.units), weights, out.units, out.activation))
    if config.scales_target:  # the output times the training targets' std, plus their mean: the user's units
        specs.append(LayerSpec("target_scale", TARGET_SCALE, (None, *many, out.units)))
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
    body = text_table(rows, ("layer", "type", "output shape", "params"), right=(3,), rule=True)
    return f"{body}\ntotal params: {sum(s.params for s in specs):,}"
