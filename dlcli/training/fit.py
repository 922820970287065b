"""The one way dlcli trains a model: ``fit`` runs the loop an ``Execution`` chose, with the run's ``Objectives``.

- ``dlcli``: in-memory data in dlcli's compiled loop (``fastloop``), driven by Keras's ``fit``;
- ``keras``: Keras's ``fit`` on the same per-epoch shuffle (``shuffle``), or on a streamed file;
- ``multi_worker``: a ``strategy.run`` loop for MultiWorkerMirroredStrategy (``multiworker``).

Every loop starts at ``initial_epoch``, validates on the validation split
after each epoch and drives the same Keras callbacks.
"""

from __future__ import annotations

from dlcli.data.features import model_inputs
from dlcli.model.head import keras_targets
from dlcli.training.execution import Execution


def fit(model, dataset, config, execution: Execution, objectives, *, callbacks=(), initial_epoch: int = 0,
        strategy=None):  # fmt: skip
    """Train ``model`` on the training split from ``initial_epoch`` to ``training.epochs``.

    Keras prints nothing itself: progress lines come from the callbacks given
    (``observers.progress``). Returns Keras's ``History`` (None from the multi-worker loop).
    """
    class_weight = objectives.class_weight
    if execution.loop == "multi_worker":
        from dlcli.training import multiworker

        return multiworker.fit(
            model, dataset, config, strategy, objectives, callbacks=list(callbacks), initial_epoch=initial_epoch
        )
    batch = config.training.batch_size
    common = {
        "epochs": config.training.epochs,
        "initial_epoch": initial_epoch,
        "callbacks": list(callbacks),
        "shuffle": False,  # the batches come shuffled (in-memory: per epoch; streamed: in a buffer)
        "verbose": 0,
    }
    if dataset.streamed:
        validation = dataset.dataset("validation", batch) if dataset.rows("validation") else None
        train = dataset.dataset("train", batch, shuffle=True)
        if config.one_hot:
            train, validation = (_one_hot(d, config.output.units) for d in (train, validation))
        return model.fit(train, validation_data=validation, class_weight=class_weight, **common)
    validation = None
    if dataset.x_val is not None:
        validation = (model_inputs(dataset.x_val), keras_targets(dataset.y_val, config))
    common["validation_batch_size"] = max(batch, 1024)
    if execution.loop == "dlcli":
        return _compiled(model, dataset, config, execution, validation, class_weight, common)
    from dlcli.training.shuffle import EpochShuffle

    shuffle = EpochShuffle(dataset.x_train, keras_targets(dataset.y_train, config), batch, config.seed)
    common["callbacks"] = [shuffle.callback(), *common["callbacks"]]
    return model.fit(shuffle.dataset, validation_data=validation, class_weight=class_weight, **common)


def _compiled(model, dataset, config, execution: Execution, validation, class_weight, common: dict):
    from dlcli.training import keras_internals
    from dlcli.training.fastloop import CompiledEpochs

    epochs = CompiledEpochs(
        model, dataset.x_train, keras_targets(dataset.y_train, config), batch_size=config.training.batch_size, seed=config.seed,
        steps=execution.steps_per_execution, jit=execution.jit_compile, class_weight=class_weight,
    )  # fmt: skip
    epochs.install()
    common["callbacks"] = [epochs.callback(), *common["callbacks"]]
    try:
        return model.fit(epochs.dataset, validation_data=validation, **common)
    finally:
        keras_internals.release(model)  # lets the loop's copy of the training split go before evaluation


def _one_hot(batches, units: int):
    """A streamed split's (features, class index) batches with one-hot labels; None stays None."""
    if batches is None:
        return None
    import tensorflow as tf

    return batches.map(lambda x, y: (x, tf.one_hot(y, units)))
