"""A run's loss, metrics, optimizer (with its schedule) and class weights, made once (``Objectives``), and the
models compiled with them. Names resolve through Keras's own registries."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from dlcli import names
from dlcli.config.resolve import ResolvedConfig
from dlcli.errors import ConfigError
from dlcli.model import head


def make_loss(config: ResolvedConfig):
    """The Keras loss for ``loss`` (a name, with constructor parameters when given)."""
    import keras

    loss = config.loss
    if not loss.params:
        return keras.losses.get(loss.name)
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
        return keras.losses.get({"class_name": cls_name, "config": loss.params})
    except (TypeError, ValueError) as exc:
        raise ConfigError(config.problem(("loss",), f"{cls_name} rejects these parameters: {_short(exc)}")) from None


def make_optimizer(config: ResolvedConfig, steps_per_epoch: int = 1):
    """The Keras optimizer for ``optimizer``: clipping, and a schedule over ``epochs * steps_per_epoch`` steps."""
    import keras

    spec = config.optimizer
    params = spec.params
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
    from dlcli.model import schedules

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


def make_metrics(config: ResolvedConfig) -> list:
    """Keras metrics for training progress; ``accuracy`` follows the output layer."""
    import keras

    out = config.output
    metrics = []
    for i, metric in enumerate(config.metrics):
        if metric.name in names.DLCLI_METRICS:
            continue  # computed by scoring.py on the test split
        if metric.name == "accuracy" and config.task != "regression":
            if out.units == 1:
                metrics.append(keras.metrics.BinaryAccuracy(name="accuracy", threshold=head.threshold(out.activation)))
            elif config.one_hot:
                metrics.append(keras.metrics.CategoricalAccuracy(name="accuracy"))
            else:
                metrics.append(keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
            continue
        found = keras.metrics.get(metric.name)
        params = dict(metric.params)
        if isinstance(found, keras.metrics.Metric):  # a fresh object named as monitors expect (not auc_1)
            params.setdefault("name", names.logged_as(metric.name))
        if params:
            try:
                found = type(found)(**params)
            except TypeError as exc:
                raise ConfigError(
                    config.problem(("metrics", i), f"{metric.name} rejects these parameters: {_short(exc)}")
                ) from None
        metrics.append(found)
    return metrics


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


@dataclass
class Objectives:
    """What a run trains toward and with, made once from the resolved config (``objectives``) and reused by
    every model of the run: the one it trains, a multi-worker loop's copies, the saved raw-column model."""

    loss: object  # a Keras loss function or Loss object (stateless: shared)
    metrics: list  # Keras metric objects or functions, for the model that trains
    optimizer: object  # with its schedule over the run's steps
    class_weight: dict[int, float] | None = None
    members: int | None = None  # model.ensemble: the model that trains outputs (batch, members, units)

    @property
    def training_loss(self):
        """The loss the model that trains is compiled with: each ensemble member's, averaged (``members``)."""
        if not self.members:
            return self.loss
        from dlcli.layers import MemberLoss

        return MemberLoss(self.loss)

    def training_metrics(self, metrics: list | None = None) -> list:
        """``metrics`` (the run's) for the model that trains: of the members' mean prediction (``members``)."""
        metrics = self.metrics if metrics is None else metrics
        if not self.members:
            return metrics
        from dlcli.layers import MemberMetric

        return [MemberMetric(m) for m in metrics]

    def fresh_metrics(self) -> list:
        """The same metrics as new objects with no state, for another model (metric objects belong to one)."""
        import keras

        return [type(m).from_config(m.get_config()) if isinstance(m, keras.metrics.Metric) else m for m in self.metrics]

    def per_sample_loss(self):
        """The loss without reduction (one value per sample), for a loop that averages over a global batch."""
        import keras

        loss = self.training_loss
        if not isinstance(loss, keras.losses.Loss):
            return loss  # a loss function returns one value per sample already
        unreduced = copy.copy(loss)
        unreduced.reduction = None
        return unreduced


def objectives(
    config: ResolvedConfig, steps_per_epoch: int, *, classes=None, y_train=None, optimizer=None
) -> Objectives:
    """The run's ``Objectives``: loss, metrics, the optimizer (``optimizer`` when resuming: the checkpoint's, with
    its state) and the class weights of the training labels ``y_train``."""
    return Objectives(
        loss=make_loss(config),
        metrics=make_metrics(config),
        optimizer=optimizer if optimizer is not None else make_optimizer(config, steps_per_epoch),
        class_weight=class_weights(config, classes, y_train) if config.training.class_weight is not None else None,
        members=config.model.ensemble.members if config.model.ensemble is not None else None,
    )


def compile_model(
    model, objectives: Objectives, execution=None, *, metrics: list | None = None, optimizer=None
) -> None:
    """Compile ``model`` with the run's objectives (``metrics`` and ``optimizer`` replace theirs for a second
    model) and the ``execution`` chosen for it.

    Without ``execution``: Keras's loop, one step per call, no XLA. Under
    dlcli's loop Keras sees one call as one step and runs only evaluation, so
    its own ``steps_per_execution`` is 1 and its ``jit_compile`` is Keras's
    ``auto`` (no XLA on a CPU).
    """
    ours = execution is not None and execution.loop == "dlcli"
    keras_steps = execution.steps_per_execution if execution is not None and not ours else 1
    model.compile(
        optimizer=optimizer if optimizer is not None else objectives.optimizer,
        loss=objectives.training_loss,
        metrics=objectives.training_metrics(metrics),
        steps_per_execution=keras_steps,
        jit_compile="auto" if ours else (execution.jit_compile if execution is not None else False),
    )
    # Built now, not while Keras traces its first step: an optimizer whose build copies the weights
    # (schedulefreeadamw) would otherwise have that copy traced into every step.
    model.optimizer.build(model.trainable_variables)


def copy_optimizer(optimizer):
    """A new optimizer like ``optimizer`` (its class, settings and schedule), without its state."""
    import keras

    inner = getattr(optimizer, "inner_optimizer", optimizer)  # compile wraps it again for float16
    return keras.optimizers.deserialize(keras.optimizers.serialize(inner))


def compile_like(model, trained, objectives: Objectives) -> None:
    """Compile ``model`` (which holds ``trained``'s layers) with the run's loss and metrics and a copy of
    ``trained``'s optimizer with its state.

    The saved raw-column model is compiled so, and reloads ready to evaluate
    or train further. Its optimizer is a copy: Keras saves an object once, and
    a shared one would be saved with the inner model only.
    """
    model.compile(optimizer=copy_optimizer(trained.optimizer), loss=objectives.loss, metrics=objectives.fresh_metrics())
    model.optimizer.build(model.trainable_variables)
    for mine, theirs in zip(model.optimizer.variables, trained.optimizer.variables, strict=True):
        mine.assign(theirs)


def class_weights(config: ResolvedConfig, classes: list, y_train) -> dict[int, float] | None:
    """``training.class_weight`` as Keras takes it: {class index: weight}.

    ``balanced`` is n / (k * count) over the training split (every class
    then weighs the same in total); a mapping names classes as labels.json does.
    """
    import numpy as np

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
