"""The output layer's meaning, in one place: which activation gives logits, the decision threshold,
class indices and probabilities from the output values. Plain numpy, no TensorFlow."""

from __future__ import annotations

import numpy as np

LOGIT_ACTIVATIONS = ("linear", "tanh")  # one unit of these is a score around 0, not a probability


def threshold(activation: str) -> float:
    """Where one output unit splits the two classes: 0 for a logit (linear, tanh), 0.5 for a probability."""
    return 0.0 if activation in LOGIT_ACTIVATIONS else 0.5


def predicted_classes(outputs: np.ndarray, activation: str) -> np.ndarray:
    """Class indices from the output layer's values."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return np.argmax(outputs, axis=1)
    return (outputs.reshape(-1) > threshold(activation)).astype(np.int64)


def probabilities(outputs: np.ndarray, activation: str) -> np.ndarray:
    """Class probabilities (n, classes) from the output layer: logits go through sigmoid / softmax."""
    out = outputs.reshape(len(outputs), -1).astype(np.float64)
    if out.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-out[:, 0])) if activation in LOGIT_ACTIVATIONS else out[:, 0]
        return np.column_stack([1.0 - p, p])
    if activation != "softmax":
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return out


def one_hot(y: np.ndarray, units: int) -> np.ndarray:
    """Class indices -> one-hot float32 rows of ``units`` columns (the targets of a categorical loss)."""
    out = np.zeros((len(y), units), np.float32)
    out[np.arange(len(y)), np.asarray(y).reshape(-1).astype(np.int64)] = 1.0
    return out


def keras_targets(y, config):
    """``y`` (class indices) as the config's loss wants them: one-hot for a categorical loss, else unchanged."""
    return one_hot(y, config.output.units) if y is not None and config.one_hot else y
