"""Build the Keras model that ``specs.layers`` describes, under the run's dtype policy."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from dlcli.config.resolve import ResolvedConfig
from dlcli.data.base import DataInfo
from dlcli.data.features import FEATURES, NUMERIC, input_name
from dlcli.data.statistics import Statistics
from dlcli.model import specs as layer_specs


def build(config: ResolvedConfig, info: DataInfo, statistics: Statistics):
    """Input -> [Flatten] -> [Rescaling] -> [Normalization] -> hidden Dense (+Dropout) -> output -> [target_scale].

    Every number a preprocessing layer holds comes from ``statistics`` (the
    training split's, computed in ``data.statistics``) and is saved inside the
    model: the normalization's mean and variance, and the training targets'
    mean and std when the target is scaled. A table with categorical columns
    gets a functional model instead: one string input per column through a
    ``StringLookup`` (one-hot or embedding), concatenated with the numeric input.
    """
    import keras

    specs = layer_specs.layers(config, info.input_shape, {c: len(v) for c, v in statistics.vocab.items()})
    if statistics.vocab:
        return _functional(keras, config, info.input_shape, statistics, specs)
    model = keras.Sequential(name=_name(config))
    model.add(keras.Input(shape=info.input_shape, name=FEATURES))
    for spec in specs:
        model.add(_layer(keras, spec, config, statistics))
    return model


def _name(config) -> str:
    return config.name.replace(".", "_")


def _layer(keras, spec, config, statistics: Statistics):
    """The Keras layer for one numeric-path spec."""
    if spec.kind == "target_scale":  # float32 like the output; a plain Rescaling loads without dlcli
        mean, std = statistics.target
        return keras.layers.Rescaling(scale=std, offset=mean, name=spec.name, dtype="float32")
    if spec.kind == "flatten":
        return keras.layers.Flatten(name=spec.name)
    if spec.kind == "rescaling":
        return keras.layers.Rescaling(spec.scale, name=spec.name)
    if spec.kind == "normalization":
        mean, var = statistics.normalization
        return keras.layers.Normalization(mean=np.ravel(mean).tolist(), variance=np.ravel(var).tolist(), name=spec.name)
    if spec.kind == "quantile":
        from dlcli.layers import QuantileNormal

        knots, scores = statistics.quantiles
        return QuantileNormal(knots.tolist(), scores.tolist(), name=spec.name)
    if spec.kind == "smooth_clip":
        from dlcli.layers import SmoothClip

        return SmoothClip(name=spec.name)
    if spec.kind == "periodic":
        from dlcli.layers import PeriodicEmbedding

        plr = config.model.numeric_embedding
        return PeriodicEmbedding(plr.frequencies, plr.dim, plr.sigma, plr.lite, seed=config.seed, name=spec.name)
    if spec.kind == "dropout":
        return keras.layers.Dropout(spec.rate, seed=config.seed, name=spec.name)
    if spec.kind == "ensemble_input":
        from dlcli.layers import EnsembleInput

        return EnsembleInput(spec.units, seed=config.seed, name=spec.name)
    if spec.kind == "member_dense":
        from dlcli.layers import MemberDense

        return MemberDense(spec.units, activation=spec.activation, name=spec.name, dtype="float32")
    if spec.kind == "batch_norm":
        return keras.layers.BatchNormalization(name=spec.name)
    if spec.kind == "activation":
        return keras.layers.Activation(keras.activations.get(spec.activation), name=spec.name)
    # The output layer computes in float32 even under a mixed-precision policy.
    dtype = "float32" if spec.name == "output" else None
    return keras.layers.Dense(
        spec.units,
        activation=keras.activations.get(spec.activation),
        kernel_initializer=keras.initializers.get(spec.initializer),
        kernel_regularizer=keras.regularizers.L1L2(*spec.regularizer) if spec.regularizer else None,
        use_bias=spec.use_bias,
        name=spec.name,
        dtype=dtype,
    )


def _functional(keras, config, shape: tuple[int, ...], statistics: Statistics, specs):
    inputs: dict = {}  # keyed by input name, as Keras matches dict inputs by name
    parts = []
    numeric = None
    if math.prod(shape):
        numeric = inputs[NUMERIC] = keras.Input(shape=shape, name=NUMERIC)
    hidden = None
    for spec in specs:
        if spec.kind == "flatten" and spec.column:  # an embedding's (1, dim) rows as (dim,)
            parts.append(_layer(keras, spec, config, statistics)(parts.pop()))
        elif spec.kind in ("flatten", "rescaling", "normalization", "quantile", "smooth_clip", "periodic"):
            numeric = _layer(keras, spec, config, statistics)(numeric)
        elif spec.kind == "lookup":
            column = spec.column
            tensor = inputs[input_name(column)] = keras.Input(shape=(1,), dtype="string", name=input_name(column))
            mode = "int" if spec_has_embedding(specs, column) else "one_hot"
            lookup = keras.layers.StringLookup(
                vocabulary=statistics.vocab[column], num_oov_indices=1, output_mode=mode, name=spec.name
            )
            parts.append(lookup(tensor))
        elif spec.kind == "embedding":
            parts.append(keras.layers.Embedding(spec_input_dim(specs, spec), spec.units, name=spec.name)(parts.pop()))
        elif spec.kind == "concatenate":
            hidden = keras.layers.Concatenate(name=spec.name)(([numeric] if numeric is not None else []) + parts)
        else:
            hidden = _layer(keras, spec, config, statistics)(hidden)
    return keras.Model(inputs=inputs, outputs=hidden, name=_name(config))


def averaged(model):
    """The model that predicts for one whose output is an ensemble's members' (``model.ensemble``): their mean,
    through the same layers."""
    import keras

    from dlcli.layers import MemberMean

    inputs = model.inputs[0] if isinstance(model, keras.Sequential) else model.input
    return keras.Model(inputs, MemberMean(name="member_mean", dtype="float32")(model.outputs[0]), name=model.name)


def spec_has_embedding(specs, column: str) -> bool:
    return any(s.kind == "embedding" and s.column == column for s in specs)


def spec_input_dim(specs, embedding_spec) -> int:
    """Buckets of the lookup that feeds ``embedding_spec``."""
    return next(s.units for s in specs if s.kind == "lookup" and s.column == embedding_spec.column)


@contextlib.contextmanager
def precision(policy: str | None):
    """Keras's global dtype policy set to ``policy`` (a mixed-precision name, or None for float32) within the block.

    Layers keep the policy they were made under, so models are built (and
    mixed-float16 models reloaded) inside this block.
    """
    import keras

    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy or "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)
