"""Each export format written from a run's model, through Keras's own ``model.export``.

- ``savedmodel``: the model as saved, raw named columns in (strings for
  categorical columns, float32 with NaN holes for numbers): ``serving_default``
  is what TF Serving calls.
- ``litert`` and ``onnx``: a copy of the model that shares its weights
  (``portable``) with two changes the formats need. Categorical columns come
  in as int32 vocabulary indices, because the string steps (strip, hole,
  lookup) are not LiteRT built-in ops (they need the Flex delegate, which the
  LiteRT runtime lacks) and tf2onnx 1.17 converts neither ``StringStrip`` nor
  Keras's lookup tables; ``preprocessing.json`` then says how a cell becomes
  its index. ``Normalization`` becomes the same arithmetic on constants:
  Keras keeps its mean and variance as captured tensors, which tf2onnx turns
  into extra required model inputs. NaN filling and normalization stay inside.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlcli.data import cells
from dlcli.data.features import InputSchema, input_name
from dlcli.export.reference import ASCII_SPACE
from dlcli.model.columns import trained_part
from dlcli.model.specs import TARGET_SCALE

FILES = {"litert": "model.tflite", "onnx": "model.onnx"}
KERAS_FORMAT = {"savedmodel": "tf_saved_model", "litert": "litert", "onnx": "onnx"}
PREPROCESSING = "preprocessing.json"


def write(fmt: str, model, schema: InputSchema, target: Path) -> dict:
    """Write ``model`` in ``fmt`` under ``target`` (a directory); what export.json says of the model written."""
    import tensorflow as tf

    target.mkdir(parents=True, exist_ok=True)
    if fmt == "savedmodel":
        model.export(str(target), format="tf_saved_model", verbose=False)
        return {"takes": "raw columns: numbers as float32 (NaN is a hole), categories as strings"}
    exported = portable(model, schema)
    _call_once(exported, model)  # Keras exports only a model that has been called
    options = {}
    if fmt == "litert":  # built-in ops only: the LiteRT runtime has no Flex delegate
        options["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    exported.export(str(target / FILES[fmt]), format=KERAS_FORMAT[fmt], verbose=False, **options)
    if not schema.vocab:
        return {"takes": "raw columns: numbers as float32 (NaN is a hole)" if schema.columns else "the feature array"}
    spec = preprocessing(schema, inside_model(model, schema))
    (target / PREPROCESSING).write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return {
        "takes": "numbers as float32 (NaN is a hole), categories as int32 vocabulary indices",
        "preprocessing": PREPROCESSING,
        "why": f"{fmt} cannot hold the string steps (strip, holes, lookup); {PREPROCESSING} says how a cell "
        "becomes its index, and dlcli/export/reference.py reads it",
    }


def preprocessing(schema: InputSchema, inside: dict) -> dict:
    """What ``reference.model_inputs`` needs: each input's column, kind and, for categories, the vocabulary."""
    inputs = []
    for column in schema.features:
        entry = {"name": schema.columns[column], "column": column}
        if column in schema.vocab:
            values, names = cells.number_categories(schema.vocab[column])
            vocabulary = list(schema.vocab[column])
            entry.update(kind="category", dtype="int32", shape=[None, 1], vocabulary=vocabulary, unknown_index=0,
                         number_values=values, number_names=names)  # fmt: skip
        else:
            entry.update(kind="number", dtype="float32", shape=[None, 1])
        inputs.append(entry)
    return {
        "format": "dlcli-preprocessing/1",
        "about": "The model takes one (rows, 1) input per column: numbers as float32 (NaN is a hole, filled inside "
        "the model), categories as int32 (1 + position in the vocabulary, 0 for a category not seen in "
        "training). A category cell is stripped; a hole is missing_as; a number is matched by value. With holes "
        "false (no fill: data.missing error or drop) a hole is refused, as dlcli predict refuses it.",
        "inputs": inputs,
        "holes": schema.fill is not None,  # false: trained with data.missing error or drop, so no fill
        "unseen": schema.unseen,
        "cells": {
            "strip": ASCII_SPACE,
            "missing": list(cells.MISSING_TEXT),
            "missing_as": cells.MISSING_CATEGORY,
            "booleans": {word: float(value) for word, value in cells.BOOLEANS.items()},
            "number": cells.NUMBER,
        },
        "inside_model": inside,
    }


def inside_model(model, schema: InputSchema) -> dict:
    """The numeric steps the exported model applies itself, for reference: fill, rescaling, normalization, and
    target_scale on its output."""
    import keras

    numeric = schema.numeric_columns
    steps = {
        "about": "applied by the model, in this order, to the numeric columns; do not apply them again",
        "columns": numeric,
        "fill": None if schema.fill is None else [float(v) for v in schema.fill],
    }
    for layer in trained_part(model).layers:
        if isinstance(layer, keras.layers.Rescaling) and layer.name == TARGET_SCALE:
            steps[TARGET_SCALE] = {
                "scale": layer.scale,
                "offset": layer.offset,
                "formula": "output * scale + offset: the network's last step, so predictions are in the target's units",
            }
        elif isinstance(layer, keras.layers.Rescaling):
            steps["rescaling"] = {"scale": layer.scale, "offset": layer.offset}
        elif isinstance(layer, keras.layers.Normalization):
            steps["normalization"] = {
                "mean": np.ravel(layer.mean).astype(float).tolist(),
                "variance": np.ravel(layer.variance).astype(float).tolist(),
                "formula": "(x - mean) / max(sqrt(variance), 1e-7)",
            }
    return steps


def portable(model, schema: InputSchema | None = None):
    """A copy of ``model`` that shares its weights and that LiteRT and ONNX can hold (see the module docstring)."""
    import keras

    from dlcli.layers import CanonicalCategory

    trained = trained_part(model)
    if trained is model:
        return keras.models.clone_model(model, clone_function=_portable_layer)
    inputs = _input(trained)
    if isinstance(inputs, dict) and any(t.dtype == "string" for t in inputs.values()):
        vocab = {input_name(column): list(values) for column, values in (schema.vocab if schema else {}).items()}
        core = _index_model(keras, trained, vocab)
    else:
        core = keras.models.clone_model(trained, clone_function=_portable_layer)

    def outer(layer):
        if layer is trained:
            return core
        if isinstance(layer, CanonicalCategory):
            return keras.layers.Identity(name=layer.name)
        return layer

    columns = {name: _index_input(keras, t, name) for name, t in _input(model).items()}
    return keras.models.clone_model(model, input_tensors=columns, clone_function=outer)


def _index_model(keras, network, vocab: dict[str, list]):
    """``network`` taking int32 vocabulary indices (1 + position in ``vocab``, the run's vocabularies; 0 unknown)
    for its string inputs.

    A network whose lookups hold other vocabularies (a fold of a cross-validated run learnt its own) gets the
    indices translated to its own first; a fold ensemble gets each of its networks so.
    """
    indices = {name: _index_input(keras, t, name) for name, t in _input(network).items()}
    if any(isinstance(layer, keras.Model) for layer in network.layers):  # a fold ensemble: one per network

        def clone(layer):
            return _index_model(keras, layer, vocab) if isinstance(layer, keras.Model) else _portable_layer(layer)

        return keras.models.clone_model(network, input_tensors=indices, clone_function=clone)
    core = keras.models.clone_model(network, input_tensors=indices, clone_function=_portable_layer)
    core.name = f"{network.name}_indexed"
    tables = {}
    for layer in network.layers:
        if isinstance(layer, keras.layers.StringLookup):
            name = layer.input.name
            own = {word: i for i, word in enumerate(layer.get_vocabulary())}  # 0 is the OOV token
            table = [0] + [own.get(word, 0) for word in vocab.get(name, [])]
            if table != list(range(len(table))):
                tables[name] = table
    if not tables:
        return core
    fed = {name: _index_input(keras, t, name) for name, t in _input(network).items()}
    remap = _remap()
    translated = {
        name: remap(tables[name], name=f"{network.name}_{name}_indices")(t) if name in tables else t
        for name, t in fed.items()
    }
    return keras.Model(inputs=fed, outputs=core(translated), name=network.name)


_REMAP = []


def _remap():
    """A layer that looks each index up in a constant table (the run's index -> a network's own)."""
    if _REMAP:
        return _REMAP[0]
    import keras

    class Remap(keras.layers.Layer):
        def __init__(self, table, **kwargs):
            super().__init__(**kwargs)
            self.table = np.asarray(table, dtype=np.int32)

        def call(self, x):
            table = keras.ops.convert_to_tensor(self.table, dtype="int32")
            return keras.ops.take(table, keras.ops.cast(x, "int32"), axis=0)

        def compute_output_shape(self, input_shape):
            return input_shape

    _REMAP.append(Remap)
    return Remap


def _call_once(exported, model) -> None:
    """Call ``exported`` on one row of zeros shaped like ``model``'s inputs (strings as their indices)."""
    import tensorflow as tf

    def zeros(tensor):
        return tf.zeros([1, *tensor.shape[1:]], dtype="int32" if tensor.dtype == "string" else tensor.dtype)

    given = _input(model)
    exported({name: zeros(t) for name, t in given.items()} if isinstance(given, dict) else zeros(given))


def _input(model):
    """A model's input tensor, or its dict of named inputs (a Sequential that was never called has only ``inputs``)."""
    import keras

    return model.inputs[0] if isinstance(model, keras.Sequential) else model.input


def _index_input(keras, tensor, name: str):
    """A new input like ``tensor``; a string input becomes an int32 one (vocabulary indices)."""
    dtype = "int32" if tensor.dtype == "string" else tensor.dtype
    return keras.Input(shape=tensor.shape[1:], dtype=dtype, name=name)


def _portable_layer(layer):
    import keras

    if isinstance(layer, keras.layers.Normalization) and not layer.invert:
        return _constant_normalization()(layer.mean, layer.variance, name=layer.name)
    if isinstance(layer, keras.layers.StringLookup):
        if layer.num_oov_indices != 1 or layer.mask_token is not None:
            raise ValueError(f"{layer.name}: a lookup with {layer.num_oov_indices} OOV indices or a mask token")
        if layer.output_mode == "one_hot":
            return keras.layers.CategoryEncoding(layer.vocabulary_size(), output_mode="one_hot", name=layer.name)
        if layer.output_mode == "int":
            return keras.layers.Identity(name=layer.name)
        raise ValueError(f"{layer.name}: lookup output {layer.output_mode!r} has no index form")
    return layer


_CONSTANT_NORMALIZATION = []


def _constant_normalization():
    """Keras's ``Normalization`` arithmetic with its statistics as constants of the traced graph."""
    if _CONSTANT_NORMALIZATION:
        return _CONSTANT_NORMALIZATION[0]
    import keras
    import tensorflow as tf

    class ConstantNormalization(keras.layers.Layer):
        def __init__(self, mean, variance, **kwargs):
            super().__init__(**kwargs)
            self.mean = np.asarray(mean, dtype=np.float32)  # as Keras keeps them: float32, broadcast shape
            self.variance = np.asarray(variance, dtype=np.float32)

        def call(self, x):
            mean = tf.cast(tf.constant(self.mean), x.dtype)
            std = tf.maximum(tf.sqrt(tf.cast(tf.constant(self.variance), x.dtype)), keras.backend.epsilon())
            return (x - mean) / std

        def compute_output_shape(self, input_shape):
            return input_shape

    _CONSTANT_NORMALIZATION.append(ConstantNormalization)
    return ConstantNormalization
