"""The Keras layers dlcli's saved models use beyond Keras's own: registered and serializable.

Keras has no layer that fills missing numbers, writes categories one way or
clips smoothly, so a ``model.keras`` whose table had holes or categorical
columns, or whose numbers are scaled robustly (``data.numeric: robust``), holds these.
Load it after importing this module (which registers them)::

    import keras
    import dlcli.layers  # noqa: F401
    model = keras.models.load_model("runs/x/model.keras")

A model that needs none of them (numeric columns, no fill, standard scaling) loads without dlcli.
``model.export()`` turns them into plain TensorFlow ops, so the exported
SavedModel needs nothing but TensorFlow.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dlcli.data import cells


@keras.saving.register_keras_serializable(package="dlcli")
class FillMissing(keras.layers.Layer):
    """NaN in column j becomes ``values[j]``: the fill the training split gave (``data.missing: mean | median | zero``)."""

    def __init__(self, values, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.values = [float(v) for v in values]

    def call(self, x):
        fill = tf.constant(self.values, dtype=x.dtype)
        return tf.where(tf.math.is_nan(x), fill, x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "values": self.values}


@keras.saving.register_keras_serializable(package="dlcli")
class CanonicalCategory(keras.layers.Layer):
    """A categorical column's cells written as in training: stripped, holes one category, numbers by value.

    ``missing`` are the cells that are a hole (the empty string, ``nan``,
    ``None``, ...), all read as ``missing_as``. A cell that is a number equal
    to one of ``values`` becomes that category's name, so ``3.0``, ``3.00``
    and ``3`` all reach the category ``3``.
    """

    def __init__(self, values=(), names=(), missing=cells.MISSING_TEXT, missing_as=cells.MISSING_CATEGORY, **kwargs):
        kwargs["dtype"] = "string"
        super().__init__(**kwargs)
        self.values = [float(v) for v in values]
        self.names = [str(n) for n in names]
        self.missing = [str(m) for m in missing]
        self.missing_as = str(missing_as)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def call(self, x):
        return cells.tf_categories(tf, x, self.values, self.names, self.missing, self.missing_as)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "values": self.values,
            "names": self.names,
            "missing": self.missing,
            "missing_as": self.missing_as,
        }


@keras.saving.register_keras_serializable(package="dlcli")
class SmoothClip(keras.layers.Layer):
    """``x / sqrt(1 + (x / limit)^2)``: about ``x`` near 0, never beyond ``±limit`` (RealMLP's smooth clipping,
    after robust scaling, so that a rare huge value cannot dominate a layer)."""

    def __init__(self, limit: float = 3.0, **kwargs):
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, x):
        return x / keras.ops.sqrt(1.0 + keras.ops.square(x / self.limit))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


@keras.saving.register_keras_serializable(package="dlcli")
class PeriodicEmbedding(keras.layers.Layer):
    """Gorishniy et al. 2022's PLR embeddings of numeric features: for feature j, ``cos`` and ``sin`` of
    ``2*pi*c_j*x_j`` at ``frequencies`` trainable frequencies ``c_j`` (initially drawn from N(0, sigma); with
    ``sigma = [low, high]`` each frequency's std log-spaced between the two, so every feature starts with slow and
    fast waves and the linear map picks what fits, with no sigma to tune per dataset), a linear map
    to ``dim`` (one per feature, or one shared when ``lite``) and ReLU. Input (batch, n); output (batch, n * dim)."""

    def __init__(self, frequencies: int = 24, dim: int = 16, sigma: float | list = 0.1, lite: bool = False,
                 seed: int | None = None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.frequencies, self.dim, self.lite, self.seed = int(frequencies), int(dim), bool(lite), seed
        self.sigma = [float(v) for v in sigma] if isinstance(sigma, (list, tuple)) else float(sigma)

    def scales(self):
        """The std each frequency starts from: ``sigma``, or log-spaced from ``sigma[0]`` to ``sigma[1]``."""
        import numpy as np

        if isinstance(self.sigma, list):
            return np.geomspace(self.sigma[0], self.sigma[1], self.frequencies).astype("float32")
        return np.full(self.frequencies, self.sigma, dtype="float32")

    def build(self, input_shape):
        n, k = int(input_shape[-1]), self.frequencies
        self.coefficients = self.add_weight(
            name="frequencies", shape=(n, k), initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed)
        )
        self.coefficients.assign(self.coefficients * self.scales())
        bound = 1.0 / (2 * k) ** 0.5  # as a linear layer of 2k inputs starts
        uniform = keras.initializers.RandomUniform(-bound, bound, seed=None if self.seed is None else self.seed + 1)
        self.kernel = self.add_weight(
            name="kernel", shape=(2 * k, self.dim) if self.lite else (n, 2 * k, self.dim), initializer=uniform
        )
        uniform = keras.initializers.RandomUniform(-bound, bound, seed=None if self.seed is None else self.seed + 2)
        self.bias = self.add_weight(name="bias", shape=(n, self.dim), initializer=uniform)

    def call(self, x):
        ops = keras.ops
        angles = 2.0 * 3.141592653589793 * ops.expand_dims(x, -1) * self.coefficients  # (batch, n, k)
        periodic = ops.concatenate([ops.cos(angles), ops.sin(angles)], axis=-1)  # (batch, n, 2k)
        if self.lite:
            mapped = ops.matmul(periodic, self.kernel)
        else:
            mapped = ops.einsum("bnk,nkd->bnd", periodic, self.kernel)
        out = ops.relu(mapped + self.bias)
        return ops.reshape(out, (-1, ops.shape(x)[-1] * self.dim))

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        return (input_shape[0], None if n is None else n * self.dim)

    def get_config(self):
        return {**super().get_config(), "frequencies": self.frequencies, "dim": self.dim, "sigma": self.sigma,
                "lite": self.lite, "seed": self.seed}  # fmt: skip


@keras.saving.register_keras_serializable(package="dlcli")
class EnsembleInput(keras.layers.Layer):
    """TabM-mini's entry (Gorishniy et al. 2024): each row copied for ``members`` ensemble members, member i's copy
    multiplied by its own adapter ``r_i`` (initially random signs), so the shared layers after it see k views of
    the row. Input (batch, n); output (batch, members, n)."""

    def __init__(self, members: int = 8, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.members, self.seed = int(members), seed

    def build(self, input_shape):
        signs = keras.initializers.RandomUniform(-1.0, 1.0, seed=self.seed)
        self.adapter = self.add_weight(name="adapter", shape=(self.members, int(input_shape[-1])), initializer=signs)
        self.adapter.assign(keras.ops.sign(self.adapter) + keras.ops.cast(self.adapter == 0, self.adapter.dtype))

    def call(self, x):
        return keras.ops.expand_dims(x, 1) * self.adapter

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.members, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "members": self.members, "seed": self.seed}


@keras.saving.register_keras_serializable(package="dlcli")
class MemberDense(keras.layers.Layer):
    """One dense output layer per ensemble member: (batch, members, n) -> (batch, members, units)."""

    def __init__(self, units: int, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = int(units), keras.activations.get(activation)

    def build(self, input_shape):
        members, n = int(input_shape[1]), int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(members, n, self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(members, self.units), initializer="zeros")

    def call(self, x):
        return self.activation(keras.ops.einsum("bkn,knu->bku", x, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="dlcli")
class MemberMean(keras.layers.Layer):
    """The ensemble's prediction: the mean of its members' outputs. (batch, members, units) -> (batch, units)."""

    def call(self, x):
        return keras.ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])


@keras.saving.register_keras_serializable(package="dlcli")
class MemberLoss(keras.losses.Loss):
    """``loss`` of every ensemble member on its own prediction, averaged over the members (each member trains
    as its own network would; TabM). y_pred (batch, members, ...), y_true as the plain loss takes it."""

    def __init__(self, loss, name: str | None = None, reduction="sum_over_batch_size", dtype=None):
        self.inner = keras.losses.get(loss)
        super().__init__(name=name or _name_of(self.inner), reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        ops = keras.ops
        members = ops.shape(y_pred)[1]
        truth = ops.expand_dims(y_true, 1)
        truth = ops.broadcast_to(truth, (ops.shape(truth)[0], members, *ops.shape(truth)[2:]))
        flat_true = ops.reshape(truth, (-1, *ops.shape(truth)[2:]))
        flat_pred = ops.reshape(y_pred, (-1, *ops.shape(y_pred)[2:]))
        if len(flat_pred.shape) == len(flat_true.shape) + 1 and flat_pred.shape[-1] == 1:
            flat_true = ops.expand_dims(flat_true, -1)  # (n,) labels against (n, 1) outputs: one value per row
        inner = self.inner.call if isinstance(self.inner, keras.losses.Loss) else self.inner
        per = inner(flat_true, flat_pred)
        return ops.mean(ops.reshape(per, (ops.shape(y_pred)[0], members)), axis=1)

    def get_config(self):
        return {**super().get_config(), "loss": keras.losses.serialize(self.inner)}


@keras.saving.register_keras_serializable(package="dlcli")
class MemberMetric(keras.metrics.Metric):
    """``metric`` of the ensemble's prediction (the members' mean), under the metric's own name."""

    def __init__(self, metric, name: str | None = None, dtype=None):
        inner = keras.metrics.get(metric)
        if not isinstance(inner, keras.metrics.Metric):
            inner = keras.metrics.MeanMetricWrapper(inner, name=getattr(inner, "__name__", "metric"))
        super().__init__(name=name or inner.name, dtype=dtype)
        self.inner = inner

    def update_state(self, y_true, y_pred, sample_weight=None):
        return self.inner.update_state(y_true, keras.ops.mean(y_pred, axis=1), sample_weight=sample_weight)

    def result(self):
        return self.inner.result()

    def reset_state(self):
        self.inner.reset_state()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "metric": keras.metrics.serialize(self.inner)}


def _name_of(loss) -> str:
    return getattr(loss, "name", None) or getattr(loss, "__name__", "loss")


@keras.saving.register_keras_serializable(package="dlcli")
class QuantileNormal(keras.layers.Layer):
    """Each number mapped to a standard normal score through its feature's training quantiles, piecewise linearly
    (``data.numeric: quantile``): below the first knot the first score, above the last the last.
    ``knots`` and ``scores`` are (features, k), each row increasing."""

    def __init__(self, knots, scores, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.knots = [[float(v) for v in row] for row in knots]
        self.scores = [[float(v) for v in row] for row in scores]

    def call(self, x):
        ops = keras.ops
        knots = ops.convert_to_tensor(self.knots, dtype=x.dtype)  # (n, k)
        scores = ops.convert_to_tensor(self.scores, dtype=x.dtype)
        widths = knots[:, 1:] - knots[:, :-1]
        flat = ops.cast(widths > 0, x.dtype)
        slopes = (scores[:, 1:] - scores[:, :-1]) / ops.where(widths > 0, widths, ops.ones_like(widths)) * flat
        along = ops.minimum(ops.maximum(ops.expand_dims(x, -1) - knots[:, :-1], 0.0), widths)  # (batch, n, k-1)
        return scores[:, 0] + ops.sum(along * slopes, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "knots": self.knots, "scores": self.scores}


@keras.saving.register_keras_serializable(package="dlcli")
class MissingFlags(keras.layers.Layer):
    """1.0 where column ``columns[i]`` holds a hole (NaN), else 0.0 (``data.missing_indicators``).
    Input (batch, n); output (batch, len(columns))."""

    def __init__(self, columns, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]

    def call(self, x):
        picked = tf.gather(x, self.columns, axis=1)
        return tf.cast(tf.math.is_nan(picked), x.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.columns))

    def get_config(self):
        return {**super().get_config(), "columns": self.columns}
