"""Learning-rate schedules from ``optimizer.schedule``: Keras's own, plus a linear warmup in front.

Imports Keras at module level: import it only where TensorFlow is already
needed (compiling, and ``runs.store.load_model``, so that saved models with a
warmup reload).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="dlcli")
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear from 0 to ``after(0)`` over ``warmup_steps``, then ``after(step - warmup_steps)``."""

    def __init__(self, after, warmup_steps: int):
        self.after = after
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = keras.ops.cast(self.warmup_steps, "float32")
        target = keras.ops.cast(self.after(0), "float32")
        ramp = target * keras.ops.minimum(step + 1.0, warm) / warm
        later = keras.ops.cast(self.after(keras.ops.maximum(step - warm, 0.0)), "float32")
        return keras.ops.where(step < warm, ramp, later)

    def get_config(self):
        return {"after": keras.saving.serialize_keras_object(self.after), "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["after"]), config["warmup_steps"])


def make(spec, learning_rate: float, total_steps: int):
    """The Keras schedule for a ``ScheduleConfig``; ``total_steps`` is what ``decay_steps: auto`` means."""
    warmup = spec.warmup_steps
    decay_steps = max(1, total_steps - warmup) if spec.decay_steps == "auto" else spec.decay_steps
    schedules = keras.optimizers.schedules
    if spec.name == "cosine_decay":
        if warmup:  # Keras's cosine decay has its own warmup
            return schedules.CosineDecay(
                0.0, decay_steps, alpha=spec.alpha, warmup_target=learning_rate, warmup_steps=warmup
            )
        return schedules.CosineDecay(learning_rate, decay_steps, alpha=spec.alpha)
    if spec.name == "exponential_decay":
        after = schedules.ExponentialDecay(learning_rate, decay_steps, spec.decay_rate, staircase=spec.staircase)
    elif spec.name == "piecewise_constant":
        after = schedules.PiecewiseConstantDecay(list(spec.boundaries), list(spec.values))
    else:  # constant: warmup only
        after = schedules.ExponentialDecay(learning_rate, 1, 1.0)
    return Warmup(after, warmup) if warmup else after
