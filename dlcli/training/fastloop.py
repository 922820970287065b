"""dlcli's compiled training loop: one call into TensorFlow runs ``steps_per_execution`` optimizer steps.

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
Where this relies on Keras's internals is gathered in ``keras_internals``.
"""

from __future__ import annotations

from dlcli.data.features import model_inputs
from dlcli.log import warn
from dlcli.training import keras_internals
from dlcli.training.shuffle import epoch_order


class CompiledEpochs:
    """The training split, its per-epoch order, and the compiled calls that train on it.

    ``dataset`` is what ``model.fit`` iterates (call numbers), ``callback()``
    sets the epoch's order before Keras starts the epoch, and ``install()``
    makes the model's ``train_function`` these calls.
    """

    def __init__(self, model, x, y, *, batch_size: int, seed: int, steps: int, jit: bool, class_weight=None):
        import numpy as np
        import tensorflow as tf

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
        import tensorflow as tf

        self.order.assign(epoch_order(tf, self.seed, epoch, self.rows))

    def _data(self):
        """The training split, passed to the compiled calls as arguments (a captured tensor would be a constant)."""
        return self.features, self.labels, self.weights

    @staticmethod
    def _batch(data, rows):
        import tensorflow as tf

        features, labels, weights = data
        batch = (tf.nest.map_structure(lambda t: tf.gather(t, rows), features), tf.gather(labels, rows))
        return (*batch, tf.gather(weights, rows)) if weights is not None else batch

    def _run_chunk(self, data, first, count):
        """``count`` training steps on full batches ``first``, ``first + 1``, ... of this epoch's order."""
        import tensorflow as tf

        def body(step):
            rows = tf.slice(self.order, tf.reshape(step * self.batch, [1]), [self.batch])  # static size, for XLA
            with keras_internals.philox_dropout(self.model, self.jit):
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
        import tensorflow as tf

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
        keras_internals.take_over_training(
            self.model, self.train_function, self._batch(self._data(), self.order[: self.batch])
        )

    def callback(self):
        """A Keras callback that sets the epoch's order before Keras starts the epoch."""
        import keras

        epochs = self

        class SetEpochOrder(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                epochs.set_epoch(epoch)

        return SetEpochOrder()
