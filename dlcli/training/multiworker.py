"""The training loop for several machines (``training.distribution: multi_worker``).

Keras 3's ``model.fit`` fails under ``MultiWorkerMirroredStrategy`` in TF 2.21
("Attempt to convert a value (PerReplica...)", keras-team/keras#20585), so
``fit`` below is a loop over ``strategy.run`` on the same Keras model, driving
the same Keras callbacks (early stopping, plateau, best checkpoint) and dlcli's
run callbacks. Every worker computes the same validation metrics, so every
worker stops at the same epoch; only the chief writes the run directory
(``distribution`` decides who is the chief, and makes the strategy).
"""

from __future__ import annotations


def fit(model, dataset, config, strategy, objectives, *, callbacks, initial_epoch: int):
    """Train ``model`` (built under ``strategy``) with ``strategy.run``, as ``model.fit`` would; returns None.

    The loss and metrics are the run's ``objectives`` (the loss unreduced, averaged over the global batch here;
    the metrics as this loop's own copies); in-memory data only (``distribution.check_data``)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from dlcli.data.features import model_inputs
    from dlcli.model.head import keras_targets
    from dlcli.training.execution import steps_per_epoch
    from dlcli.training.shuffle import EpochShuffle

    epochs, batch = config.training.epochs, config.training.batch_size
    steps = steps_per_epoch(dataset, config)
    shuffle = EpochShuffle(dataset.x_train, keras_targets(dataset.y_train, config), batch, config.seed)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    distributed = strategy.experimental_distribute_dataset(shuffle.dataset.with_options(options))
    loss_fn = objectives.per_sample_loss()  # averaged over the global batch below
    weights, class_weight = None, objectives.class_weight
    if class_weight:
        weights = tf.constant([class_weight[i] for i in range(len(class_weight))], tf.float32)
    with strategy.scope():
        tracked = [keras.metrics.Mean(name="loss"), *_metric_objects(keras, objectives.training_metrics())]

    def step(x, y):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            per_sample = tf.reshape(tf.cast(loss_fn(y, out), tf.float32), [-1])
            if weights is not None:
                index = tf.argmax(y, axis=-1) if config.one_hot else y  # one-hot targets of a categorical loss
                per_sample = per_sample * tf.gather(weights, tf.reshape(tf.cast(index, tf.int32), [-1]))
            loss = tf.nn.compute_average_loss(per_sample)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        tracked[0].update_state(per_sample)
        for metric in tracked[1:]:
            metric.update_state(y, out)

    @tf.function
    def distributed_step(it):
        strategy.run(step, args=next(it))

    x_val = model_inputs(dataset.x_val) if dataset.x_val is not None else None
    callback_list = keras.callbacks.CallbackList(
        callbacks, model=model, epochs=epochs, steps=steps, verbose=0, add_history=False, add_progbar=False
    )
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for metric in tracked:
            metric.reset_state()
        callback_list.on_epoch_begin(epoch)
        shuffle.epoch.assign(epoch)
        iterator = iter(distributed)  # this epoch's permutation
        for index in range(steps):
            distributed_step(iterator)
            callback_list.on_train_batch_end(index, {"loss": float(tracked[0].result())})
            if model.stop_training:
                break
        logs = {m.name: float(m.result()) for m in tracked}
        if x_val is not None:
            logs.update(
                _validation(model, loss_fn, tracked[1:], x_val, keras_targets(dataset.y_val, config), keras, np)
            )
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()


def local_copy(model, config, objectives):
    """The trained model rebuilt outside the strategy, compiled the same way, for evaluating and saving.

    Keras's evaluate and predict fail under MultiWorkerMirroredStrategy as fit
    does; the copy has the same weights and optimizer state.
    """
    import keras

    from dlcli.model.build import precision
    from dlcli.training.compile import compile_model, copy_optimizer

    with precision(config.training.mixed_precision):
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
        # Keras's loop; a copy of the run's optimizer (its schedule too), built here, then given its state
        compile_model(plain, objectives, metrics=objectives.fresh_metrics(), optimizer=copy_optimizer(model.optimizer))
        for mine, theirs in zip(plain.optimizer.variables, model.optimizer.variables, strict=True):
            mine.assign(theirs.numpy())  # the optimizer's state too, so model.keras can train on
    return plain


def _metric_objects(keras, metrics):
    """Metric objects (functions such as ``mean_absolute_error`` wrapped as Keras's compile does)."""
    out = []
    for metric in metrics:
        if isinstance(metric, keras.metrics.Metric):
            out.append(metric.from_config(metric.get_config()))
        else:
            out.append(keras.metrics.MeanMetricWrapper(metric, name=metric.__name__))
    return out


def _validation(model, loss_fn, metrics, x, y, keras, np, batch: int = 1024) -> dict:
    """``val_*`` logs, computed locally (the same on every worker, so all stop at the same epoch)."""
    fresh = [m.from_config(m.get_config()) for m in metrics]
    total, count = 0.0, 0
    rows = len(y)
    for start in range(0, rows, batch):
        part = slice(start, start + batch)
        xs = {k: v[part] for k, v in x.items()} if isinstance(x, dict) else x[part]
        out = model(xs, training=False)
        values = np.asarray(loss_fn(y[part], out)).reshape(-1)
        total += float(values.sum())
        count += len(values)
        for metric in fresh:
            metric.update_state(y[part], out)
    logs = {"val_loss": total / max(count, 1)}
    logs.update({f"val_{m.name}": float(m.result()) for m in fresh})
    return logs
