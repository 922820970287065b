"""Build the ``keras.Sequential`` that ``plan.layers`` describes."""

from __future__ import annotations

import numpy as np

from dlcli import plan
from dlcli.data import DataInfo
from dlcli.data.prepare import normalization_stats


def build(config, info: DataInfo, x_train: np.ndarray):
    """Input -> [Flatten] -> [Rescaling] -> [Normalization] -> hidden Dense (+Dropout) -> output.

    ``config`` must be resolved (``plan.resolve``); the normalization
    statistics come from ``x_train`` only and are saved inside the model.
    """
    import keras  # noqa: PLC0415

    model = keras.Sequential(name=config.name.replace(".", "_"))
    model.add(keras.Input(shape=info.input_shape, name="features"))
    for spec in plan.layers(config, info.input_shape):
        if spec.kind == "flatten":
            model.add(keras.layers.Flatten(name=spec.name))
        elif spec.kind == "rescaling":
            model.add(keras.layers.Rescaling(spec.scale, name=spec.name))
        elif spec.kind == "normalization":
            mean, var = normalization_stats(x_train, config.data.scale)
            model.add(keras.layers.Normalization(mean=mean.tolist(), variance=var.tolist(), name=spec.name))
        elif spec.kind == "dropout":
            model.add(keras.layers.Dropout(spec.rate, seed=config.seed, name=spec.name))
        else:
            activation = keras.activations.get(spec.activation)
            # The output layer computes in float32 even under a mixed-precision policy.
            dtype = "float32" if spec.name == "output" else None
            initializer = keras.initializers.get(spec.initializer)
            model.add(
                keras.layers.Dense(
                    spec.units, activation=activation, kernel_initializer=initializer, name=spec.name, dtype=dtype
                )
            )
    return model


def predicted_classes(outputs: np.ndarray, activation: str) -> np.ndarray:
    """Class indices from the output layer's values."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return np.argmax(outputs, axis=1)
    flat = outputs.reshape(-1)
    threshold = 0.0 if activation in ("linear", "tanh") else 0.5
    return (flat > threshold).astype(np.int64)
