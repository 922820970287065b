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


def make_optimizer(config):
    """The Keras optimizer for ``optimizer`` (``lamb`` built from its class, see ``names``)."""
    import keras  # noqa: PLC0415

    spec = config.optimizer
    params = _params(spec)
    if spec.learning_rate is not None:
        params["learning_rate"] = spec.learning_rate
    try:
        if spec.name in names.OPTIMIZERS_NOT_IN_GET:
            return getattr(keras.optimizers, spec.name.capitalize())(**params)
        return keras.optimizers.get({"class_name": spec.name, "config": params})
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            config.problem(("optimizer",), f"{spec.name} rejects these parameters: {_short(exc)}")
        ) from None


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


def compile_model(model, config) -> None:
    """Compile ``model`` with the config's loss, optimizer and metrics."""
    model.compile(optimizer=make_optimizer(config), loss=make_loss(config), metrics=make_metrics(config))


def callbacks(config) -> list:
    """The callbacks the config asks for."""
    import keras  # noqa: PLC0415

    out = []
    es = config.training.early_stopping
    if es is not None:
        out.append(
            keras.callbacks.EarlyStopping(
                monitor=es.monitor,
                patience=es.patience,
                min_delta=es.min_delta,
                mode=es.mode,
                restore_best_weights=es.restore_best_weights,
            )
        )
    return out


def fit(model, dataset, config, *, extra_callbacks=(), verbose: int = 2):
    """``model.fit`` on the training split, validating on the validation split."""
    from dlcli.model import model_inputs  # noqa: PLC0415

    batch = config.training.batch_size
    if hasattr(dataset, "dataset"):  # streamed from disk
        validation = dataset.dataset("validation", batch) if dataset.splits["validation"] else None
        return model.fit(
            dataset.dataset("train", batch, shuffle=True),
            validation_data=validation,
            epochs=config.training.epochs,
            shuffle=False,  # the stream shuffles itself, in a buffer
            callbacks=callbacks(config) + list(extra_callbacks),
            verbose=verbose,
        )
    validation = None
    if dataset.x_val is not None:
        validation = (model_inputs(dataset.x_val), dataset.y_val)
    return model.fit(
        model_inputs(dataset.x_train),
        dataset.y_train,
        validation_data=validation,
        epochs=config.training.epochs,
        batch_size=config.training.batch_size,
        shuffle=True,
        callbacks=callbacks(config) + list(extra_callbacks),
        verbose=verbose,
    )
