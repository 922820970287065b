"""One Keras model that averages the outputs of several trained networks with the same inputs (a fold ensemble).

Each network keeps its own layers and weights (its own normalization
statistics, vocabularies and target scale); the ensemble feeds every one the
same inputs and averages what they output: probabilities for classes, values
in the target's units for regression. Plain Keras layers only, so it saves,
exports, serves and reloads as any dlcli model does.
"""

from __future__ import annotations


def average(networks: list, name: str):
    """A model whose output is the mean of ``networks``' outputs on the same inputs (renamed ``fold_<i>``)."""
    import keras

    first = networks[0]
    structure = first.input if isinstance(first, keras.Model) and not isinstance(first, keras.Sequential) else None
    if isinstance(structure, dict):
        inputs = {key: _like(keras, tensor, key) for key, tensor in structure.items()}
    else:
        tensors = [_like(keras, t, t.name) for t in networks[0].inputs]
        inputs = tensors[0] if len(tensors) == 1 else tensors
    outputs = []
    for i, network in enumerate(networks):
        network.name = f"fold_{i}"
        outputs.append(network(inputs))
    averaged = keras.layers.Average(name="fold_average", dtype="float32")(outputs)
    return keras.Model(inputs=inputs, outputs=averaged, name=name)


def _like(keras, tensor, name: str):
    """A new input with ``tensor``'s shape and dtype."""
    return keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=name)
