"""Where the ceiling benchmark's time goes: a raw XLA training step of 784-1024-1024-10 at batch 1024.

Times forward only, forward + backward, and forward + backward + Adam on the
same Keras model (8 different input batches, best of 3), and prints each as
GFLOP/s with the matmul FLOPs counted as in ceiling.py. Compare with the
``ceiling`` row of ``make bench`` (dlcli's training loop). Then times one
Dropout mask under XLA with TensorFlow's ``auto_select`` algorithm (what
Keras asks for) and with ``philox`` named (what dlcli's loop asks for).

Usage: python benchmarks/profile_step.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

A, B, C = 784 * 1024, 1024 * 1024, 1024 * 10
BATCH = 1024


def main() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1024, activation="relu"),
                              keras.layers.Dense(1024, activation="relu"), keras.layers.Dense(10)])  # fmt: skip
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    inputs = [tf.random.uniform((BATCH, 784), seed=i) for i in range(8)]
    labels = tf.random.uniform((BATCH,), 0, 10, dtype=tf.int32)

    @tf.function(jit_compile=True)
    def forward(x):
        return model(x, training=True)

    @tf.function(jit_compile=True)
    def gradients(x):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(x, training=True))
        return tape.gradient(loss, model.trainable_variables)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    def seconds(fn, n: int = 40) -> float:
        fn(inputs[0])
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for i in range(n):
                out = fn(inputs[i % len(inputs)])
            tf.nest.map_structure(lambda t: t.numpy(), out)
            best = min(best, (time.perf_counter() - start) / n)
        return best

    fwd_flops = 2 * (A + B + C) * BATCH
    bwd_flops = (2 * (A + B + C) + 2 * (B + C)) * BATCH
    t_fwd, t_grad, t_step = seconds(forward), seconds(gradients), seconds(step)
    print(f"forward             {t_fwd * 1e3:7.2f} ms/step  {fwd_flops / t_fwd / 1e9:6.1f} GFLOP/s")
    print(f"forward + backward  {t_grad * 1e3:7.2f} ms/step  {(fwd_flops + bwd_flops) / t_grad / 1e9:6.1f} GFLOP/s")
    print(f"  + Adam            {t_step * 1e3:7.2f} ms/step  {(fwd_flops + bwd_flops) / t_step / 1e9:6.1f} GFLOP/s")
    dropout_masks()


def dropout_masks(draws: int = 1000) -> None:
    """Why dlcli names Philox for Dropout under XLA: XLA's CPU lowering of auto_select is the slow one."""
    seed = tf.constant([1, 2], tf.int32)
    x = tf.ones((32, 128))
    for alg in ("auto_select", "philox"):

        @tf.function(jit_compile=True)
        def masks(seed, alg=alg):
            def body(i, acc):
                out = tf.nn.experimental.stateless_dropout(x, 0.2, seed=seed + i, rng_alg=alg)
                return i + 1, acc + tf.reduce_sum(out)

            return tf.while_loop(lambda i, acc: i < draws, body, (tf.constant(0), tf.constant(0.0)))[1]

        masks(seed).numpy()
        start = time.perf_counter()
        masks(seed + 1).numpy()
        took = (time.perf_counter() - start) / draws
        print(f"XLA dropout mask 32x128, rng_alg={alg:<11} {took * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
