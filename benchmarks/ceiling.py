"""The hardware ceiling: dlcli training 784-1024-1024-10 at batch 1024, as a share of the machine's matmul peak.

In one process: the peak float32 matmul rate (1024^3 products inside one
``tf.function``, XLA-compiled, each on a different input so nothing can be
folded or cached; the best of several trials, before and after training), and
dlcli training the network on 60,000 x 784 synthetic rows (``auto``
steps_per_execution and jit_compile). Training FLOPs are counted exactly for
the matmuls: forward 2*(a+b+c), weight gradients 2*(a+b+c), input gradients
2*(b+c) (the first layer's input needs none), with a=784*1024, b=1024*1024,
c=1024*10 per sample; bias adds, activations and the optimizer are left out,
so the share is a lower bound.

Usage: python benchmarks/ceiling.py [--repeats 3]
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, Row, child_json, main_repeats  # noqa: E402

A, B, C = 784 * 1024, 1024 * 1024, 1024 * 10
TRAIN_FLOPS_PER_SAMPLE = 2 * (A + B + C) + 2 * (A + B + C) + 2 * (B + C)

CHILD = textwrap.dedent(
    """
    import contextlib, io, json, sys, tempfile, time
    from pathlib import Path
    import numpy as np
    repeats = int(sys.argv[1])
    import tensorflow as tf

    def peak(trials=5, n=1024, k=16):
        mats = tf.random.normal((k, n, n), seed=1)
        @tf.function(jit_compile=True)
        def chain(m):
            total = tf.zeros((n, n))
            for i in range(k):  # k different products, all summed: none can be skipped
                total += tf.matmul(m[i], m[(i + 1) % k])
            return total
        chain(mats).numpy()
        best = 0.0
        for t in range(trials):
            shifted = mats + float(t + 1)  # new inputs every trial
            start = time.perf_counter(); chain(shifted).numpy(); took = time.perf_counter() - start
            best = max(best, 2 * n**3 * k / took)
        return best

    peaks = [peak()]
    work = Path(tempfile.mkdtemp(prefix="dlcli-ceiling-"))
    rng = np.random.default_rng(0)
    x = rng.random((60_000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 60_000).astype(np.uint8)
    np.savez(work / "d.npz", x_train=x, y_train=y, x_test=x[:1000], y_test=y[:1000])
    from dlcli.training import plan, runner
    from dlcli.config.load import load_config_text
    config = load_config_text(
        f"data: {{path: {work / 'd.npz'}, validation_split: 0.0, normalize: false}}\\n"
        "model: {layers: [{units: 1024}, {units: 1024}]}\\n"
        "training: {epochs: 4, batch_size: 1024, plots: false}\\n", "c.yaml")
    rates, chosen = [], None
    for _ in range(repeats):
        with contextlib.redirect_stdout(io.StringIO()):
            run, _ = runner.run(plan.new_run(config, plan.Where.under(work / "runs")))
        seconds = json.loads((run / "run.json").read_text())["epoch_seconds"]
        rates.append(60_000 * (len(seconds) - 1) / sum(seconds[1:]))
        chosen = json.loads((run / "environment.json").read_text())["execution"]
        peaks.append(peak())
    print(json.dumps({"samples_per_s": rates, "peak": max(peaks), "peaks": peaks, "execution": chosen}))
    """
)


def measure(repeats: int = 3) -> list[Row]:
    got = child_json([PYTHON, "-c", CHILD, str(repeats)])
    peak = got["peak"]
    achieved = [rate * TRAIN_FLOPS_PER_SAMPLE for rate in got["samples_per_s"]]
    chosen = got["execution"]
    note = (f"peak matmul {peak / 1e9:.0f} GFLOP/s (best of {len(got['peaks'])} measurements); "
            f"dlcli chose steps_per_execution={chosen.get('steps_per_execution')}, "
            f"jit_compile={chosen.get('jit_compile')}; {TRAIN_FLOPS_PER_SAMPLE / 1e6:.2f} MFLOP per training sample")  # fmt: skip
    return [
        Row("ceiling: 784-1024-1024-10, batch 1024", "GFLOP/s", [peak / 1e9] * len(achieved),
            [a / 1e9 for a in achieved], True, ">= 0.85 of matmul peak", 0.85, note),
    ]  # fmt: skip


if __name__ == "__main__":
    main_repeats(__doc__, measure)
