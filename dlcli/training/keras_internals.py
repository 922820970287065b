"""Every place dlcli's compiled loop (``fastloop``) relies on Keras beyond its documented API, and the
Keras versions it is tested with.

On another Keras version ``version_problem`` says so, and training runs in
Keras's own ``fit`` with ``steps_per_execution`` instead (``execution.choose``).
Each function below is one touch point; ``tests/test_loop.py`` pins their
behaviour on the tested versions.
"""

from __future__ import annotations

import contextlib

TESTED = ("3.15",)  # major.minor versions of Keras the compiled loop is tested with


def keras_version() -> str:
    import keras

    return keras.__version__


def version_problem() -> str | None:
    """Why the compiled loop cannot run on this Keras (a version it is not tested with), or None."""
    version = keras_version()
    if ".".join(version.split(".")[:2]) in TESTED:
        return None
    return f"dlcli's compiled loop is tested with Keras {', '.join(TESTED)}, not {version}"


def take_over_training(model, train_function, first_batch) -> None:
    """Make ``model.fit`` run ``train_function`` once per element of the dataset it is given.

    1. ``steps_per_execution`` is an attribute Keras's fit reads to count the
       batches each call consumes; it must be 1 or a model compiled for Keras's
       loop (a checkpoint of a run that used it) would end each epoch early.
    2. ``_symbolic_build`` (private) builds what Keras builds on its first step:
       metrics, the compiled loss and the optimizer's slots.
    3. Keras's fit calls ``make_train_function``, which keeps a
       ``train_function`` already set, then calls it with the iterator.
    """
    model.steps_per_execution = 1
    try:
        model._symbolic_build(data_batch=first_batch)
    except RuntimeError as exc:  # Keras wraps what failed ("Unable to automatically build the model")
        failed = exc.__cause__ or exc.__context__
        if failed is None:
            raise
        raise failed from None
    model.train_function = train_function


def release(model) -> None:
    """Let go of the compiled loop (and its copy of the training split); Keras makes its own again if asked."""
    model.train_function = None


@contextlib.contextmanager
def philox_dropout(model, jit: bool):
    """While tracing for XLA (dlcli's loop runs on CPUs): Keras's Dropout layers draw with Philox, named.

    Keras calls ``stateless_dropout`` with TensorFlow's ``auto_select``
    algorithm; XLA lowers it to the same Philox bits as Philox named
    explicitly, but ~28x slower on CPU (1.2 ms against 42 us for a 32x128
    mask, benchmarks/profile_step.py). The masks are bit for bit the ones
    Keras's own XLA step draws (XLA's Philox bits differ from TensorFlow's
    kernels', with or without this). The override lives on the layer
    instances only while a step is traced, so saved models hold Keras's own
    ``Dropout``. It reads the layer's ``rate``, ``noise_shape`` and
    ``seed_generator`` and casts the seed as Keras's TensorFlow backend does.
    """
    import keras

    layers = [layer for layer in model.layers if type(layer) is keras.layers.Dropout] if jit else []
    for layer in layers:
        layer.call = _philox_call(layer)
    try:
        yield
    finally:
        for layer in layers:
            del layer.call


def _philox_call(layer):
    import tensorflow as tf

    keras_call = type(layer).call.__get__(layer)

    def call(inputs, training=False):
        if not training or layer.rate == 0 or layer.noise_shape is not None:
            return keras_call(inputs, training=training)
        seed = layer.seed_generator.next()
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as Keras casts it
        return tf.nn.experimental.stateless_dropout(inputs, rate=layer.rate, seed=seed, rng_alg="philox")

    return call
