"""Compile and fit: Keras names resolved through Keras's own registries, callbacks, seeds."""

from __future__ import annotations

from dlcli import names
from dlcli.errors import ConfigError


def _params(spec) -> dict:
    return dict(spec.model_extra or {}) if not isinstance(spec, str) else {}


def make_loss(config):
    """The Keras loss for a resolved config's ``loss`` (a name or ``{name, **params}``)."""
    import keras  # noqa: PLC0415

    loss = config.loss
    if isinstance(loss, str):
        return keras.losses.get(loss)
    found = keras.losses.get(loss.name)
    if isinstance(found, keras.losses.Loss):
        cls_name = type(found).__name__
    else:
        classes = {names.snake(c): c for c in names.LOSSES if c[0].isupper() and not c.isupper()}
        cls_name = classes.get(found.__name__)
        if cls_name is None:
            raise ConfigError(
                config.problem(("loss", "name"), f"'{loss.name}' takes no parameters; write loss: {loss.name}")
            )
    try:
        return keras.losses.get({"class_name": cls_name, "config": _params(loss)})
    except (TypeError, ValueError) as exc:
        raise ConfigError(config.problem(("loss",), f"{cls_name} rejects these parameters: {_short(exc)}")) from None


def make_optimizer(config, steps_per_epoch: int = 1):
    """The Keras optimizer for ``optimizer``: clipping, and a schedule over ``epochs * steps_per_epoch`` steps."""
    import keras  # noqa: PLC0415

    spec = config.optimizer
    params = _params(spec)
    if spec.learning_rate is not None:
        params["learning_rate"] = spec.learning_rate
    for key in ("clipnorm", "clipvalue", "global_clipnorm"):
        if getattr(spec, key) is not None:
            params[key] = getattr(spec, key)
    try:
        optimizer = _optimizer(keras, spec.name, params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            config.problem(("optimizer",), f"{spec.name} rejects these parameters: {_short(exc)}")
        ) from None
    if spec.schedule is None:
        return optimizer
    from dlcli import schedules  # noqa: PLC0415

    start = float(keras.ops.convert_to_numpy(optimizer.learning_rate))  # given, or the optimizer's default
    total = steps_per_epoch * config.training.epochs
    if spec.schedule.warmup_steps >= total:
        raise ConfigError(
            config.problem(
                ("optimizer", "schedule", "warmup_steps"),
                f"{spec.schedule.warmup_steps} warmup steps but training has only {total} "
                f"({config.training.epochs} epochs x {steps_per_epoch} steps); lower warmup_steps",
            )
        )
    return _optimizer(keras, spec.name, {**params, "learning_rate": schedules.make(spec.schedule, start, total)})


def _optimizer(keras, name: str, params: dict):
    """A Keras optimizer by name (``lamb`` is built from its class, see ``names``)."""
    if name in names.OPTIMIZERS_NOT_IN_GET:
        return getattr(keras.optimizers, name.capitalize())(**params)
    return keras.optimizers.get({"class_name": name, "config": params})


def make_metrics(config) -> list:
    """Keras metrics for training progress; ``accuracy`` follows the output layer."""
    import keras  # noqa: PLC0415

    out = config.model.output
    metrics = []
    for i, item in enumerate(config.metrics):
        name = item if isinstance(item, str) else item.name
        if name in names.DLCLI_METRICS:
            continue  # computed by evaluate.py on the test split
        if name == "accuracy" and config.task != "regression":
            if out.units == 1:
                threshold = 0.0 if out.activation in ("linear", "tanh") else 0.5
                metrics.append(keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold))
            else:
                metrics.append(keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
            continue
        found = keras.metrics.get(name)
        params = _params(item)
        if isinstance(found, keras.metrics.Metric):  # a fresh object named as monitors expect (not auc_1)
            params.setdefault("name", names.logged_as(name))
        if params:
            try:
                found = type(found)(**params)
            except TypeError as exc:
                raise ConfigError(
                    config.problem(("metrics", i), f"{name} rejects these parameters: {_short(exc)}")
                ) from None
        metrics.append(found)
    return metrics


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


def choose_execution(model, config, dataset, gpu: bool = False) -> dict:
    """How ``model`` trains on ``dataset`` here: the loop, ``steps_per_execution`` and ``jit_compile`` (loop.py)."""
    from dlcli import loop  # noqa: PLC0415

    return loop.execution(
        config, steps_per_epoch(dataset, config), params=model.count_params(),
        in_memory=not hasattr(dataset, "dataset"), gpu=gpu, no_xla=loop.no_xla_reason(config, model),
    )  # fmt: skip


def compile_model(model, config, execution: dict | None = None, steps_per_epoch: int = 1) -> None:
    """Compile ``model`` with the config's loss, optimizer and metrics, and the ``execution`` chosen for it.

    Without ``execution``: Keras's loop, one step per call, no XLA. Under
    dlcli's loop Keras sees one call as one step and runs only evaluation, so
    its own ``steps_per_execution`` is 1 and its ``jit_compile`` is Keras's
    ``auto`` (no XLA on a CPU).
    """
    execution = execution or {"loop": "keras", "steps_per_execution": 1, "jit_compile": False}
    ours = execution["loop"] == "dlcli"
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=make_loss(config),
        metrics=make_metrics(config),
        steps_per_execution=1 if ours else execution["steps_per_execution"],
        jit_compile="auto" if ours else execution["jit_compile"],
    )
    # Built now, not while Keras traces its first step: an optimizer whose build copies the weights
    # (schedulefreeadamw) would otherwise have that copy traced into every step.
    model.optimizer.build(model.trainable_variables)


def steps_per_epoch(dataset, config) -> int:
    """Optimizer steps in one pass over the training split."""
    rows = dataset.splits["train"] if hasattr(dataset, "dataset") else len(dataset.y_train)
    return max(1, -(-rows // config.training.batch_size))


def class_weights(config, classes: list, y_train) -> dict[int, float] | None:
    """``training.class_weight`` as Keras takes it: {class index: weight}.

    ``balanced`` is n / (k * count) over the training split (every class
    then weighs the same in total); a mapping names classes as labels.json does.
    """
    import numpy as np  # noqa: PLC0415

    spec = config.training.class_weight
    if spec is None:
        return None
    if spec == "balanced":
        counts = np.bincount(np.asarray(y_train).ravel(), minlength=len(classes)).astype(float)
        return {i: float(counts.sum() / (len(classes) * c)) if c else 1.0 for i, c in enumerate(counts)}
    index = {str(c): i for i, c in enumerate(classes)}
    unknown = [k for k in spec if str(k) not in index]
    if unknown:
        raise ConfigError(
            config.problem(
                ("training", "class_weight"),
                f"no class {unknown[0]!r} in the data{names.did_you_mean(str(unknown[0]), list(index))}; "
                f"classes: {', '.join(list(index)[:20])}",
            )
        )
    weights = {i: 1.0 for i in range(len(classes))}
    weights.update({index[str(k)]: float(w) for k, w in spec.items()})
    return weights


class EpochShuffle:
    """One epoch of training batches, a permutation keyed by (seed, epoch); ``epoch`` is set before each epoch.

    The key is a variable read when an iterator starts, so Keras's fresh
    iterator per epoch gets that epoch's order: a stateless shuffle, and a run
    resumed at epoch k sees exactly the batches the uninterrupted run saw.
    Each epoch is its own finite dataset, so ``steps_per_execution`` never
    runs into the next epoch's batches. The epoch's rows are gathered once,
    then sliced into batches: gathering batch by batch in tf.data's threads
    cost 20% of the training speed at batch 1024 on 2 cores (the price is one
    transient copy of the training split).
    """

    def __init__(self, x, y, batch_size: int, seed: int):
        import tensorflow as tf  # noqa: PLC0415

        from dlcli.model import model_inputs  # noqa: PLC0415

        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="dlcli_epoch")
        features = tf.nest.map_structure(tf.convert_to_tensor, model_inputs(x))
        labels = tf.convert_to_tensor(y)
        rows = int(labels.shape[0])
        steps = -(-rows // batch_size)

        def epoch_rows(_):
            key = tf.stack([tf.constant(seed, tf.int64), self.epoch.read_value()])
            index = tf.random.experimental.index_shuffle(tf.range(rows, dtype=tf.int64), key, rows - 1)
            shuffled = tf.nest.map_structure(lambda t: tf.gather(t, index), features), tf.gather(labels, index)
            return tf.data.Dataset.from_tensor_slices(shuffled).batch(batch_size)

        batches = tf.data.Dataset.range(1).flat_map(epoch_rows)
        self.dataset = batches.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)

    def callback(self):
        """A Keras callback that sets the epoch before Keras starts the epoch's iterator."""
        import keras  # noqa: PLC0415

        shuffle = self

        class SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                shuffle.epoch.assign(epoch)

        return SetEpoch()


def fit(model, dataset, config, execution: dict, *, callbacks=(), initial_epoch: int = 0, class_weight=None,
        verbose: int = 2):  # fmt: skip
    """``model.fit`` on the training split from ``initial_epoch``, validating on the validation split.

    In-memory data on one device trains in dlcli's compiled loop
    (``loop.CompiledEpochs``); streamed data and ``mirrored`` in Keras's.
    """
    from dlcli.model import model_inputs  # noqa: PLC0415

    batch = config.training.batch_size
    common = {
        "epochs": config.training.epochs,
        "initial_epoch": initial_epoch,
        "callbacks": list(callbacks),
        "shuffle": False,  # the batches come shuffled (in-memory: per epoch; streamed: in a buffer)
        "verbose": verbose,
    }
    if hasattr(dataset, "dataset"):  # streamed from disk
        validation = dataset.dataset("validation", batch) if dataset.splits["validation"] else None
        train = dataset.dataset("train", batch, shuffle=True)
        return model.fit(train, validation_data=validation, class_weight=class_weight, **common)
    validation = None
    if dataset.x_val is not None:
        validation = (model_inputs(dataset.x_val), dataset.y_val)
    common["validation_batch_size"] = max(batch, 1024)
    if execution["loop"] == "dlcli":
        from dlcli.loop import CompiledEpochs  # noqa: PLC0415

        epochs = CompiledEpochs(
            model, dataset.x_train, dataset.y_train, batch_size=batch, seed=config.seed,
            steps=execution["steps_per_execution"], jit=execution["jit_compile"], class_weight=class_weight,
        )  # fmt: skip
        epochs.install()
        lines = [epochs.progress(config.training.epochs)] if verbose else []
        common["callbacks"] = [*lines, epochs.callback(), *common["callbacks"]]
        common["verbose"] = 0  # Keras's own lines would count calls as steps
        try:
            return model.fit(epochs.dataset, validation_data=validation, **common)
        finally:
            model.train_function = None  # lets the loop's copy of the training split go before evaluation
    shuffle = EpochShuffle(dataset.x_train, dataset.y_train, batch, config.seed)
    common["callbacks"] = [shuffle.callback(), *common["callbacks"]]
    return model.fit(shuffle.dataset, validation_data=validation, class_weight=class_weight, **common)
