"""``training.distribution``: TensorFlow's own strategies, and the training loop for several machines.

- ``mirrored``: ``tf.distribute.MirroredStrategy`` over this machine's GPUs
  (or, without GPUs, over ``training.cpu_devices`` logical CPUs); Keras's
  ``model.fit`` runs under it unchanged.
- ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy``, configured
  by the standard ``TF_CONFIG``. Keras 3's ``model.fit`` fails under it in TF
  2.21 ("Attempt to convert a value (PerReplica...)", keras-team/keras#20585),
  so ``fit`` below is a loop over ``strategy.run`` on the same Keras model,
  driving the same Keras callbacks (early stopping, plateau, best checkpoint)
  and dlcli's run callbacks. Every worker computes the same validation metrics, so
  every worker stops at the same epoch; only the chief writes the run
  directory.
"""

from __future__ import annotations

import json
import os

from dlcli.errors import ConfigError


def tf_config() -> dict | None:
    """The parsed ``TF_CONFIG``, or None when it is not set."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG: not valid JSON ({exc.msg} at character {exc.pos})") from None
    shape = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("cluster"), dict)
        or not isinstance(value.get("task"), dict)
    ):
        raise ConfigError(f"TF_CONFIG: needs a cluster mapping and a task mapping, e.g. {shape}")
    task = value["task"]
    kind, index = task.get("type"), task.get("index")
    members = value["cluster"].get(kind) if isinstance(kind, str) else None
    whole = isinstance(index, int) and not isinstance(index, bool)
    if not isinstance(members, list) or not whole or not 0 <= index < len(members):
        raise ConfigError(f"TF_CONFIG: task {kind!r} index {index!r} is not in the cluster {value['cluster']}")
    return value


def is_chief(config) -> bool:
    """Does this process write the run directory? (always, unless it is a non-chief worker of a cluster)"""
    if config.training.distribution != "multi_worker":
        return True
    spec = tf_config()
    if spec is None:
        return True
    task = spec["task"]
    if "chief" in spec["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def worker_name(config) -> str:
    spec = tf_config() if config.training.distribution == "multi_worker" else None
    return "the only worker" if spec is None else f"{spec['task']['type']} {spec['task']['index']}"


def strategy(tf, config):
    """The strategy for ``training.distribution`` (None for none); call right after importing TensorFlow."""
    kind = config.training.distribution
    if kind == "none":
        return None
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if tf_config() is None:
        raise ConfigError(
            config.problem(
                ("training", "distribution"),
                "multi_worker needs TF_CONFIG (the cluster and this worker's task); Kubeflow's TFJob sets it, "
                "see deploy/ and the README",
            )
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def check_data(config, dataset) -> None:
    """multi_worker trains on in-memory data (the stream's shuffle buffer is not sharded)."""
    if config.training.distribution == "multi_worker" and dataset.streamed:
        raise ConfigError(
            config.problem(("training", "distribution"), "multi_worker reads in-memory data; set data.streaming: false")
        )


def fit(model, dataset, config, strategy, *, callbacks, initial_epoch: int, class_weight, verbose: int):
    """Train ``model`` (built under ``strategy``) with ``strategy.run``, as ``model.fit`` would; returns None."""
    import keras
    import numpy as np
    import tensorflow as tf

    from dlcli.data.features import model_inputs
    from dlcli.model.head import keras_targets
    from dlcli.training.compile import make_loss, make_metrics
    from dlcli.training.execution import steps_per_epoch
    from dlcli.training.shuffle import EpochShuffle

    check_data(config, dataset)
    epochs, batch = config.training.epochs, config.training.batch_size
    steps = steps_per_epoch(dataset, config)
    shuffle = EpochShuffle(dataset.x_train, keras_targets(dataset.y_train, config), batch, config.seed)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    distributed = strategy.experimental_distribute_dataset(shuffle.dataset.with_options(options))
    loss_fn = make_loss(config)
    if isinstance(loss_fn, keras.losses.Loss):
        loss_fn.reduction = None  # per-sample values; averaged over the global batch below
    weights = None
    if class_weight:
        weights = tf.constant([class_weight[i] for i in range(len(class_weight))], tf.float32)
    with strategy.scope():
        tracked = [keras.metrics.Mean(name="loss"), *_metric_objects(keras, make_metrics(config))]

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
        if verbose:
            shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {shown}", flush=True)
        if model.stop_training:
            break
    callback_list.on_train_end()


def local_copy(model, config, steps_per_epoch: int):
    """The trained model rebuilt outside the strategy, compiled the same way, for evaluating and saving.

    Keras's evaluate and predict fail under MultiWorkerMirroredStrategy as fit
    does; the copy has the same weights and optimizer state.
    """
    import keras

    from dlcli.model.build import precision
    from dlcli.training.compile import compile_model

    with precision(config.training.mixed_precision):
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
        compile_model(plain, config, steps_per_epoch=steps_per_epoch)  # Keras's loop; builds the optimizer too
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
