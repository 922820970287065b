"""How a model trains here: the loop, optimizer steps per call and XLA, chosen once with the reasons.

``choose`` settles every ``auto`` of ``training.steps_per_execution`` and
``training.jit_compile`` into an ``Execution``; ``environment.json`` records
it. The loop is dlcli's compiled loop (``fastloop``) for in-memory data on
one CPU with a Keras version it is tested with, the multi-worker loop for
``distribution: multi_worker``, and Keras's ``fit`` otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from dlcli.config.resolve import ResolvedConfig

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

Loop = Literal["dlcli", "keras", "multi_worker"]


@dataclass(frozen=True)
class Execution:
    """The training loop, ``steps_per_execution`` and ``jit_compile`` for one run, each with its reason."""

    loop: Loop
    steps_per_execution: int
    jit_compile: bool
    loop_reason: str = ""
    steps_per_execution_reason: str = "given"
    jit_compile_reason: str = "given"
    fallback: str | None = None  # why dlcli's compiled loop, wanted here, could not run (this Keras version)

    def record(self) -> dict:
        """What environment.json keeps under ``execution`` (each choice followed by its reason)."""
        out = asdict(self)
        order = ("loop", "steps_per_execution", "steps_per_execution_reason", "jit_compile", "jit_compile_reason")
        return {**{k: out.pop(k) for k in order}, **out}


def steps_per_epoch(dataset, config) -> int:
    """Optimizer steps in one pass over the training split."""
    return max(1, -(-dataset.rows("train") // config.training.batch_size))


def choose(config: ResolvedConfig, steps_per_epoch: int, *, params: int, in_memory: bool = True, gpu: bool = False,
           no_xla: str | None = None, unsupported_keras: str | None = None) -> Execution:  # fmt: skip
    """The loop, steps per call and XLA for this model and device.

    ``params`` (the model's weight count) estimates a step's work; ``no_xla``
    says why the model cannot be XLA-compiled (e.g. its string lookups), and
    ``unsupported_keras`` why dlcli's loop cannot run on this Keras, if so.
    """
    training = config.training
    loop, loop_why = _loop(training, in_memory, gpu)
    fallback = None
    if loop == "dlcli" and unsupported_keras:
        loop, loop_why, fallback = (
            "keras",
            f"Keras's fit with steps_per_execution: {unsupported_keras}",
            unsupported_keras,
        )
    ours = loop == "dlcli"
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
    return Execution(loop, steps, jit, loop_why, steps_why, jit_why, fallback)


def _loop(training, in_memory: bool, gpu: bool) -> tuple[Loop, str]:
    if training.distribution == "multi_worker":
        return "multi_worker", "distribution: multi_worker (a strategy.run loop: Keras's fit fails under it)"
    if training.distribution == "mirrored":
        return "keras", "distribution: mirrored runs in Keras's fit"
    if not in_memory:
        return "keras", "streamed data runs in Keras's fit"
    if gpu:
        return "keras", "on a GPU, Keras's fit (dlcli's loop would keep the training split in GPU memory)"
    return "dlcli", "in-memory data on one CPU: dlcli's compiled loop"


def _steps(training, steps_per_epoch: int, step_flops: float, ours: bool) -> tuple[int, str]:
    if training.distribution == "multi_worker":
        return 1, "the multi-worker loop runs one step per call to strategy.run"
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


def _keras_loop_jit(config: ResolvedConfig, step_flops: float) -> tuple[bool, str]:
    if any(layer.dropout for layer in config.model.layers):
        return False, "auto: no XLA, the model has Dropout (Keras's loop draws its masks slowly under XLA on CPU)"
    if step_flops < KERAS_XLA_MIN_STEP_FLOPS:
        return False, f"auto: no XLA, ~{step_flops / 1e6:.0f} MFLOP per step is too little to repay compiling"
    if config.training.batch_size >= KERAS_XLA_MIN_BATCH:
        return True, f"auto: XLA, no Dropout and batch_size >= {KERAS_XLA_MIN_BATCH}"
    return False, f"auto: no XLA, batch_size < {KERAS_XLA_MIN_BATCH} (too little work per step to gain)"


def no_xla_reason(config: ResolvedConfig, model) -> str | None:
    """Why ``model`` cannot be XLA-compiled: op determinism (as Keras decides), or layers that do not support it."""
    if config.training.deterministic:
        return "deterministic: true (Keras keeps XLA off under op determinism)"
    blocking = sorted({type(layer).__name__ for layer in model.layers if not layer.supports_jit})
    return f"the model's {', '.join(blocking)} layers do not support XLA" if blocking else None


def for_model(model, config: ResolvedConfig, dataset, *, gpu: bool = False) -> Execution:
    """``choose`` for a built model on ``dataset`` on this machine's Keras."""
    from dlcli.training import keras_internals

    return choose(
        config, steps_per_epoch(dataset, config), params=model.count_params(), in_memory=not dataset.streamed,
        gpu=gpu, no_xla=no_xla_reason(config, model), unsupported_keras=keras_internals.version_problem(),
    )  # fmt: skip
