"""Build the Keras model that ``specs.layers`` describes, under the run's dtype policy."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from dlcli.config.resolve import ResolvedConfig
from dlcli.data import target
from dlcli.data.base import DataInfo
from dlcli.data.features import FEATURES, NUMERIC, input_name
from dlcli.data.prepare import normalization_stats
from dlcli.log import note
from dlcli.model import specs as layer_specs


def build(config: ResolvedConfig, info: DataInfo, x_train, stats=None):
    """Input -> [Flatten] -> [Rescaling] -> [Normalization] -> hidden Dense (+Dropout) -> output -> [target_scale].

    The normalization statistics come from ``x_train`` only (or are given as
    ``stats`` = (mean, variance) of the raw training features, for streamed
    data) and are saved inside the model; so are the training targets' mean
    and std (``info.target_stats``) when the target is scaled. A table with categorical columns
    gets a functional model instead: one string input per column through a
    ``StringLookup`` (one-hot or embedding), concatenated with the numeric input.
    """
    import keras

    specs = layer_specs.layers(config, info.input_shape, {c: len(v) for c, v in info.vocab.items()})
    if config.scales_target:
        note(target.announcement(config, info))
    if stats is None:
        stats = normalization_stats(x_train, config.data.scale) if config.data.normalize else (None, None)
    elif config.data.scale is not None:  # streamed stats are of the raw values; Rescaling runs first
        stats = (stats[0] * config.data.scale, stats[1] * config.data.scale**2)
    if info.vocab:
        return _functional(keras, config, info, stats, specs)
    model = keras.Sequential(name=_name(config))
    model.add(keras.Input(shape=info.input_shape, name=FEATURES))
    for spec in specs:
        model.add(_layer(keras, spec, config, stats, info))
    return model


def _name(config) -> str:
    return config.name.replace(".", "_")


def _layer(keras, spec, config, stats, info):
    """The Keras layer for one numeric-path spec."""
    if spec.kind == "target_scale":  # float32 like the output; a plain Rescaling loads without dlcli
        mean, std = info.target_stats
        return keras.layers.Rescaling(scale=std, offset=mean, name=spec.name, dtype="float32")
    if spec.kind == "flatten":
        return keras.layers.Flatten(name=spec.name)
    if spec.kind == "rescaling":
        return keras.layers.Rescaling(spec.scale, name=spec.name)
    if spec.kind == "normalization":
        mean, var = stats
        return keras.layers.Normalization(mean=np.ravel(mean).tolist(), variance=np.ravel(var).tolist(), name=spec.name)
    if spec.kind == "dropout":
        return keras.layers.Dropout(spec.rate, seed=config.seed, name=spec.name)
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


def _functional(keras, config, info: DataInfo, stats, specs):
    inputs: dict = {}  # keyed by input name, as Keras matches dict inputs by name
    parts = []
    numeric = None
    if math.prod(info.input_shape):
        numeric = inputs[NUMERIC] = keras.Input(shape=info.input_shape, name=NUMERIC)
    hidden = None
    for spec in specs:
        if spec.kind == "flatten" and spec.column:  # an embedding's (1, dim) rows as (dim,)
            parts.append(_layer(keras, spec, config, stats, info)(parts.pop()))
        elif spec.kind in ("flatten", "rescaling", "normalization"):
            numeric = _layer(keras, spec, config, stats, info)(numeric)
        elif spec.kind == "lookup":
            column = spec.column
            tensor = inputs[input_name(column)] = keras.Input(shape=(1,), dtype="string", name=input_name(column))
            mode = "int" if spec_has_embedding(specs, column) else "one_hot"
            lookup = keras.layers.StringLookup(
                vocabulary=info.vocab[column], num_oov_indices=1, output_mode=mode, name=spec.name
            )
            parts.append(lookup(tensor))
        elif spec.kind == "embedding":
            parts.append(keras.layers.Embedding(spec_input_dim(specs, spec), spec.units, name=spec.name)(parts.pop()))
        elif spec.kind == "concatenate":
            hidden = keras.layers.Concatenate(name=spec.name)(([numeric] if numeric is not None else []) + parts)
        else:
            hidden = _layer(keras, spec, config, stats, info)(hidden)
    return keras.Model(inputs=inputs, outputs=hidden, name=_name(config))


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
