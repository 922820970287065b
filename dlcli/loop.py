"""In-memory training in compiled chunks: one call into TensorFlow runs ``steps_per_execution`` optimizer steps.

Keras's own multi-step loop pulls every batch from a ``tf.data`` iterator and
launches one compiled step per batch; on a 2-core CPU that machinery costs
more than the arithmetic of a small network. Here the whole training split
stays in one tensor, each epoch has a permutation keyed by (seed, epoch), and
one ``tf.function`` (XLA-compiled when ``jit_compile`` is chosen) runs a
``tf.while_loop`` of up to ``steps`` training steps, gathering each batch by
index inside the loop. The step itself is Keras's ``model.train_step``
unchanged (loss, regularization, clipping, loss scaling, metrics), and
``model.fit`` still drives epochs, callbacks, validation and history: it only
iterates over call numbers instead of batches. The last, smaller batch of an
epoch (when the batch size does not divide the rows) is one step of its own.
"""

from __future__ import annotations

import contextlib
import math
import time

from dlcli.errors import warn

# Measured on the 2-core CPU (benchmarks/, FACTS.md). Keras's loop (streamed or mirrored data): 32 steps per
# execution halve its per-step overhead with identical updates.
KERAS_AUTO_STEPS = 32
# dlcli's loop: a call costs ~0.5-3 ms beyond its steps, so aim for calls of ~0.25 s (short enough that Ctrl-C,
# divergence and checkpoint_every_seconds are noticed promptly); a step's time is estimated from ~6 FLOPs per
# weight per sample at a conservative 100 GFLOP/s, plus 0.1 ms.
CALL_SECONDS = 0.25
ESTIMATE_FLOPS = 100e9
STEP_FLOOR_SECONDS = 1e-4
# XLA compiles the loop in ~1 s and then saves ~0.4 ms a step for small networks (784-128-10 at batch 32:
# 0.55 -> 0.18 ms); for big steps both run near the matmul peak. Worth it from ~2,000 steps.
XLA_MIN_STEPS = 2000
# Keras's loop under XLA: slower with Dropout (auto_select RNG), and worth compiling only for big steps.
KERAS_XLA_MIN_BATCH = 256
KERAS_XLA_MIN_STEP_FLOPS = 100e6


def execution(config, steps_per_epoch: int, *, params: int, in_memory: bool = True, gpu: bool = False,
              no_xla: str | None = None) -> dict:  # fmt: skip
    """The training loop, ``steps_per_execution`` and ``jit_compile`` for this model and device, with reasons.

    ``params`` (the model's weight count) estimates a step's work; ``no_xla``
    says why the model cannot be XLA-compiled (e.g. its string lookups), if so.
    dlcli's own loop trains in-memory data on one CPU; streamed data,
    ``mirrored`` and GPUs go through Keras's loop (on a GPU, dlcli's loop
    would need the training split in GPU memory, and it is measured on CPUs only).
    """
    training = config.training
    ours = in_memory and training.distribution == "none" and not gpu
    step_flops = 6 * params * training.batch_size
    steps, steps_why = _steps(training, steps_per_epoch, step_flops, ours)
    if no_xla is not None:
        jit = False
        jit_why = f"{'given true, but ' if training.jit_compile is True else ''}no XLA: {no_xla}"
    elif training.jit_compile != "auto":
        jit, jit_why = bool(training.jit_compile), "given"
    elif training.distribution != "none":
        jit, jit_why = False, "auto: no XLA under tf.distribute (as Keras decides)"
    elif gpu:
        jit, jit_why = True, "auto on a GPU: XLA (as Keras decides for GPUs)"
    elif ours:
        total = steps_per_epoch * training.epochs
        jit = total >= XLA_MIN_STEPS
        jit_why = f"auto: {'XLA' if jit else 'no XLA'}, {total} training steps " + (
            f">= {XLA_MIN_STEPS} repay compiling" if jit else f"< {XLA_MIN_STEPS} do not repay compiling"
        )
    else:
        jit, jit_why = _keras_loop_jit(config, step_flops)
    return {
        "loop": "dlcli" if ours else "keras",
        "steps_per_execution": steps,
        "steps_per_execution_reason": steps_why,
        "jit_compile": jit,
        "jit_compile_reason": jit_why,
    }


def _steps(training, steps_per_epoch: int, step_flops: float, ours: bool) -> tuple[int, str]:
    if training.steps_per_execution != "auto":
        return training.steps_per_execution, "given"
    if training.distribution == "mirrored":
        return 1, "auto: 1 under mirrored (Keras 3.15's multi-step loop fails under MirroredStrategy)"
    if not ours:
        steps = max(1, min(KERAS_AUTO_STEPS, steps_per_epoch))
        return steps, f"auto: {KERAS_AUTO_STEPS} steps per call (capped at the {steps_per_epoch} steps of an epoch)"
    step_seconds = step_flops / ESTIMATE_FLOPS + STEP_FLOOR_SECONDS
    wanted = max(1, math.ceil(CALL_SECONDS / step_seconds))
    steps = min(wanted, steps_per_epoch)
    return steps, (
        f"auto: ~{CALL_SECONDS} s of work per call at ~{step_seconds * 1e3:.2g} ms a step is {wanted} steps"
        + (f", capped at the {steps_per_epoch} steps of an epoch" if steps < wanted else "")
    )


def _keras_loop_jit(config, step_flops: float) -> tuple[bool, str]:
    if any(layer.dropout for layer in config.model.layers):
        return False, "auto: no XLA, the model has Dropout (Keras's loop draws its masks slowly under XLA on CPU)"
    if step_flops < KERAS_XLA_MIN_STEP_FLOPS:
        return False, f"auto: no XLA, ~{step_flops / 1e6:.0f} MFLOP per step is too little to repay compiling"
    if config.training.batch_size >= KERAS_XLA_MIN_BATCH:
        return True, f"auto: XLA, no Dropout and batch_size >= {KERAS_XLA_MIN_BATCH}"
    return False, f"auto: no XLA, batch_size < {KERAS_XLA_MIN_BATCH} (too little work per step to gain)"


def no_xla_reason(config, model) -> str | None:
    """Why ``model`` cannot be XLA-compiled: op determinism (as Keras decides), or layers that do not support it."""
    if config.training.deterministic:
        return "deterministic: true (Keras keeps XLA off under op determinism)"
    blocking = sorted({type(layer).__name__ for layer in model.layers if not layer.supports_jit})
    return f"the model's {', '.join(blocking)} layers do not support XLA" if blocking else None


class CompiledEpochs:
    """The training split, its per-epoch order, and the compiled calls that train on it.

    ``dataset`` is what ``model.fit`` iterates (call numbers), ``callback()``
    sets the epoch's order before Keras starts the epoch, and ``install()``
    makes the model's ``train_function`` these calls.
    """

    def __init__(self, model, x, y, *, batch_size: int, seed: int, steps: int, jit: bool, class_weight=None):
        import numpy as np  # noqa: PLC0415
        import tensorflow as tf  # noqa: PLC0415

        from dlcli.model import model_inputs  # noqa: PLC0415

        self.model, self.batch, self.seed, self.steps, self.jit = model, batch_size, seed, steps, jit
        self.features = tf.nest.map_structure(tf.convert_to_tensor, model_inputs(x))
        self.labels = tf.convert_to_tensor(y)
        self.weights = None
        if class_weight:
            table = np.array([class_weight[i] for i in range(len(class_weight))], dtype=np.float32)
            labels = np.asarray(y)
            index = labels.argmax(axis=1) if labels.ndim > 1 and labels.shape[1] > 1 else labels.reshape(len(labels))
            self.weights = tf.constant(table[index.astype(np.int64)])
        self.rows = int(self.labels.shape[0])
        self.full = self.rows // batch_size  # full batches per epoch
        self.chunks = -(-self.full // steps)
        self.calls = self.chunks + (1 if self.rows % batch_size else 0)
        self.order = tf.Variable(tf.range(self.rows, dtype=tf.int64), trainable=False, name="dlcli_epoch_order")
        self.compiled = False  # set once the first chunk has run (and XLA, if chosen, compiled)
        options = tf.data.Options()
        # Keras starts an iterator every epoch; with tf.data's autotuning on, that start stalled for ~1.5 s in
        # most epochs of a long run (measured on 784-1024-1024-10: 3.3 s epochs became 5 s). Call numbers need none.
        options.autotune.enabled = False
        self.dataset = tf.data.Dataset.range(self.calls).with_options(options)
        self._chunk = tf.function(self._run_chunk, jit_compile=jit, reduce_retracing=True)
        self._tail = tf.function(self._run_tail)  # once an epoch: not worth an XLA compile of its own

    def set_epoch(self, epoch: int) -> None:
        """This epoch's order of the training rows: a stateless shuffle keyed by (seed, epoch)."""
        import tensorflow as tf  # noqa: PLC0415

        key = tf.constant([self.seed, epoch], dtype=tf.int64)
        self.order.assign(tf.random.experimental.index_shuffle(tf.range(self.rows, dtype=tf.int64), key, self.rows - 1))

    def _data(self):
        """The training split, passed to the compiled calls as arguments (a captured tensor would be a constant)."""
        return self.features, self.labels, self.weights

    @staticmethod
    def _batch(data, rows):
        import tensorflow as tf  # noqa: PLC0415

        features, labels, weights = data
        batch = (tf.nest.map_structure(lambda t: tf.gather(t, rows), features), tf.gather(labels, rows))
        return (*batch, tf.gather(weights, rows)) if weights is not None else batch

    def _run_chunk(self, data, first, count):
        """``count`` training steps on full batches ``first``, ``first + 1``, ... of this epoch's order."""
        import tensorflow as tf  # noqa: PLC0415

        def body(step):
            rows = tf.slice(self.order, tf.reshape(step * self.batch, [1]), [self.batch])  # static size, for XLA
            with _xla_dropout(self.model, self.jit):
                self.model.train_step(self._batch(data, rows))
            return (step + 1,)

        tf.while_loop(lambda step: step < first + count, body, (first,))
        return self.model.get_metrics_result()

    def _run_tail(self, data):
        """One training step on the epoch's last rows (fewer than a batch)."""
        self.model.train_step(self._batch(data, self.order[self.full * self.batch :]))
        return self.model.get_metrics_result()

    def train_function(self, iterator):
        """What ``model.fit`` calls once per element of ``dataset``: one chunk of steps, or the tail step."""
        import tensorflow as tf  # noqa: PLC0415

        call = int(next(iterator))
        if call >= self.chunks:
            return self._tail(self._data())
        first = call * self.steps
        args = self._data(), tf.constant(first, tf.int64), tf.constant(min(self.steps, self.full - first), tf.int64)
        if not self.jit or self.compiled:
            return self._chunk(*args)
        try:  # the first call compiles; nothing has run if XLA refuses the model
            logs = self._chunk(*args)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as exc:
            if "XLA" not in str(exc) and "compil" not in str(exc):
                raise
            self.jit = False
            self._chunk = tf.function(self._run_chunk, reduce_retracing=True)
            warn(
                f"XLA could not compile this model ({str(exc).strip().splitlines()[0][:160]}); training without it "
                "(set training.jit_compile: false to skip the attempt)"
            )
            logs = self._chunk(*args)
        self.compiled = True
        return logs

    def install(self) -> None:
        """Build what Keras builds on its first step (metrics, loss, optimizer slots), then take over training.

        Keras must see one call as one step: a model compiled for Keras's loop
        (e.g. a checkpoint of a run that used it) would otherwise hand over
        ``steps_per_execution`` call numbers per call and end the epoch early.
        """
        self.model.steps_per_execution = 1
        try:
            self.model._symbolic_build(data_batch=self._batch(self._data(), self.order[: self.batch]))  # noqa: SLF001
        except RuntimeError as exc:  # Keras wraps what failed ("Unable to automatically build the model")
            failed = exc.__cause__ or exc.__context__
            if failed is None:
                raise
            raise failed from None
        self.model.train_function = self.train_function

    def progress(self, epochs: int):
        """Keras's ``verbose=2`` epoch lines, counting optimizer steps (Keras's own would count calls)."""
        import keras  # noqa: PLC0415

        steps = -(-self.rows // self.batch)  # the full batches and the short last one

        class EpochLines(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                print(f"Epoch {epoch + 1}/{epochs}")
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                took = time.perf_counter() - self.start
                per = took / steps
                per_step = f"{per * 1e3:.0f}ms/step" if per >= 1e-3 else f"{per * 1e6:.0f}us/step"
                values = [f"{k}: {v:.4f}" if abs(v) > 1e-3 else f"{k}: {v:.4e}" for k, v in (logs or {}).items()]
                print(" - ".join([f"{steps}/{steps}", f"{took:.0f}s", per_step, *values]), flush=True)

        return EpochLines()

    def callback(self):
        """A Keras callback that sets the epoch's order before Keras starts the epoch."""
        import keras  # noqa: PLC0415

        epochs = self

        class SetEpochOrder(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                epochs.set_epoch(epoch)

        return SetEpochOrder()


@contextlib.contextmanager
def _xla_dropout(model, jit: bool):
    """While tracing for XLA (dlcli's loop runs on CPUs): Keras's Dropout layers draw with Philox, named.

    Keras calls ``stateless_dropout`` with TensorFlow's ``auto_select``
    algorithm; XLA lowers it to the same Philox bits as Philox named
    explicitly, but ~28x slower on CPU (1.2 ms against 42 us for a 32x128
    mask, benchmarks/profile_step.py). The masks are bit for bit the ones
    Keras's own XLA step draws (XLA's Philox bits differ from TensorFlow's
    kernels', with or without this). The override lives on the layer
    instances only while a step is traced, so saved models hold Keras's own
    ``Dropout``.
    """
    import keras  # noqa: PLC0415

    layers = [layer for layer in model.layers if type(layer) is keras.layers.Dropout] if jit else []
    for layer in layers:
        layer.call = _philox_call(layer)
    try:
        yield
    finally:
        for layer in layers:
            del layer.call


def _philox_call(layer):
    import tensorflow as tf  # noqa: PLC0415

    keras_call = type(layer).call.__get__(layer)

    def call(inputs, training=False):
        if not training or layer.rate == 0 or layer.noise_shape is not None:
            return keras_call(inputs, training=training)
        seed = layer.seed_generator.next()
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as Keras casts it
        return tf.nn.experimental.stateless_dropout(inputs, rate=layer.rate, seed=seed, rng_alg="philox")

    return call
