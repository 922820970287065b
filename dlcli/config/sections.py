"""Config sections for training: the ``training:`` block and the optimizer's schedule (pure pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from dlcli.config.base import Mode, Strict, at_least_one, shorthand


class EarlyStoppingConfig(Strict):
    monitor: str = Field("val_loss", description="Metric to watch, e.g. val_loss or val_accuracy.")
    patience: int = Field(5, ge=0, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as improvement.")
    mode: Mode = "auto"
    restore_best_weights: bool = Field(True, description="Keep the best epoch's weights.")


class ReduceLROnPlateauConfig(Strict):
    monitor: str = Field("val_loss", description="Metric to watch.")
    factor: float = Field(0.5, gt=0, lt=1, description="Multiply the learning rate by this on a plateau.")
    patience: int = Field(3, ge=0, description="Epochs without improvement before reducing.")
    min_delta: float = Field(1e-4, ge=0, description="Smallest change that counts as improvement.")
    cooldown: int = Field(0, ge=0, description="Epochs to wait after a reduction.")
    min_lr: float = Field(0.0, ge=0, description="Lower bound on the learning rate.")
    mode: Mode = "auto"


class CheckpointConfig(Strict):
    monitor: str = Field("val_loss", description="Metric that picks the best epoch (checkpoints/best.keras).")
    mode: Mode = "auto"


class ScheduleConfig(Strict):
    """A Keras learning-rate schedule; the optimizer's learning_rate is its starting value."""

    name: Literal["exponential_decay", "cosine_decay", "piecewise_constant", "constant"] = Field(
        description="exponential_decay | cosine_decay | piecewise_constant | constant (warmup only)."
    )
    decay_steps: int | Literal["auto"] = Field(
        "auto", description="Optimizer steps per decay (exponential) or of the whole decay (cosine); auto: all steps."
    )
    decay_rate: float | None = Field(None, gt=0, description="exponential_decay: factor per decay_steps.")
    staircase: bool = Field(False, description="exponential_decay: decay in whole steps.")
    alpha: float = Field(0.0, ge=0, le=1, description="cosine_decay: final fraction of the learning rate.")
    boundaries: list[int] | None = Field(None, description="piecewise_constant: step boundaries, increasing.")
    values: list[float] | None = Field(None, description="piecewise_constant: one more rate than boundaries.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup from 0 over this many optimizer steps.")

    _positive = field_validator("decay_steps")(classmethod(lambda cls, v: at_least_one(v)))

    @model_validator(mode="after")
    def _complete(self):
        if self.name == "exponential_decay" and self.decay_rate is None:
            raise ValueError("exponential_decay needs decay_rate, e.g. {name: exponential_decay, decay_rate: 0.9}")
        if self.name == "piecewise_constant":
            if not self.boundaries or not self.values:
                raise ValueError(
                    "piecewise_constant needs boundaries and values, e.g. boundaries: [1000], values: [0.01, 0.001]"
                )
            if len(self.values) != len(self.boundaries) + 1:
                raise ValueError(
                    f"piecewise_constant needs one more value than boundaries; got {len(self.boundaries)} "
                    f"boundaries and {len(self.values)} values"
                )
            if any(b <= a for a, b in zip(self.boundaries, self.boundaries[1:], strict=False)):
                raise ValueError(f"boundaries must increase, got {self.boundaries}")
        elif self.boundaries is not None or self.values is not None:
            raise ValueError("boundaries and values belong to piecewise_constant")
        if self.name == "constant" and not self.warmup_steps:
            raise ValueError("constant is a warmup-only schedule; give warmup_steps, or leave the schedule out")
        return self


class CrossValidationConfig(Strict):
    """k-fold cross-validation: one network per fold, out-of-fold metrics, the fold ensemble saved as model.keras."""

    folds: int = Field(5, ge=2, le=50, description="Number of folds; each trains on the others and scores its own.")
    stratify: bool = Field(True, description="Classification: every fold keeps the classes' shares.")
    group: str | None = Field(
        None,
        min_length=1,
        description="A table column whose rows stay in one fold (a patient, a customer); list it in data.exclude "
        "too unless it is a feature.",
    )


class TrainingConfig(Strict):
    epochs: int = Field(20, gt=0, description="Passes over the training split.")
    batch_size: int = Field(32, gt=0, description="Samples per optimizer step.")
    early_stopping: EarlyStoppingConfig | None = Field(None, description="Stop when the monitored metric stalls.")
    reduce_lr_on_plateau: ReduceLROnPlateauConfig | None = Field(
        None, description="Lower the learning rate when the monitored metric stalls."
    )
    checkpoint: CheckpointConfig | None = Field(
        None, description="Keep the best epoch's model by a monitored metric in checkpoints/best.keras."
    )
    checkpoint_every_seconds: float = Field(
        30.0, ge=0, description="Write the resume state at an epoch end at most this often (0: every epoch)."
    )
    tensorboard: bool = Field(False, description="Write TensorBoard logs to the run's tensorboard/ folder.")
    plots: bool = Field(True, description="Write plots/ (learning curves, confusion matrix) after training.")
    class_weight: Literal["balanced"] | dict[str | int | bool, float] | None = Field(
        None, description="balanced, or {class: weight} by the class names in labels.json."
    )
    mixed_precision: Literal["mixed_float16", "mixed_bfloat16"] | None = Field(
        None, description="Keras mixed-precision policy; the output layer stays float32."
    )
    deterministic: bool = Field(False, description="TensorFlow op determinism: identical weights for the same seed.")
    device: Literal["auto", "cpu", "gpu"] = Field("auto", description="auto uses a GPU when one is visible.")
    steps_per_execution: int | Literal["auto"] = Field(
        "auto",
        description="Optimizer steps per call into TensorFlow; auto: chosen from the model (environment.json says why).",
    )
    jit_compile: bool | Literal["auto"] = Field(
        "auto", description="XLA-compile the training step; auto: chosen from the model and device."
    )
    distribution: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="mirrored: every GPU of this machine (MirroredStrategy); multi_worker: several machines "
        "(MultiWorkerMirroredStrategy, configured by TF_CONFIG).",
    )
    cpu_devices: int = Field(
        1, ge=1, le=64, description="Split the CPU into this many logical devices (to try mirrored without GPUs)."
    )
    cross_validation: CrossValidationConfig | None = Field(
        None,
        description="k-fold cross-validation of the training rows: out-of-fold metrics and predictions; model.keras "
        "averages the fold networks. The test split is scored once, by that ensemble.",
    )

    _steps = field_validator("steps_per_execution")(classmethod(lambda cls, v: at_least_one(v)))
    _sections = field_validator(
        "early_stopping", "reduce_lr_on_plateau", "checkpoint", "cross_validation", mode="before"
    )(classmethod(lambda cls, v: shorthand(v)))

    @field_validator("class_weight")
    @classmethod
    def _weights(cls, value):
        if isinstance(value, dict):
            if not value:
                raise ValueError("an empty mapping; give {class: weight, ...} or balanced")
            bad = {k: w for k, w in value.items() if not w > 0}
            if bad:
                raise ValueError(f"weights must be > 0, got {bad}")
        return value


class MlflowConfig(Strict):
    """Where ``dlcli train`` and ``dlcli sweep`` log their runs (needs dlcli[mlflow])."""

    uri: str = Field(
        min_length=1,
        description="MLflow tracking URI: sqlite:///mlflow.db, a folder, or http://HOST:PORT of an mlflow server.",
    )
    experiment: str = Field("dlcli", min_length=1, description="MLflow experiment name; created on first use.")


class TrackingConfig(Strict):
    mlflow: MlflowConfig | None = Field(None, description="Log params, metrics, tags and artefacts to MLflow.")
