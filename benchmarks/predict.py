"""`dlcli predict` on 100,000 rows vs `model.predict` with its default batch size, in one process.

A run of the tutorial network (784-128-Dropout-10) is trained for one epoch on
synthetic data; then, alternating ``--repeats`` times on the same loaded
TensorFlow: dlcli's predict (reads the .npz, predicts in batches, writes the
CSV of class names) and ``model.predict(x)`` on the array already in memory
(Keras's default batch of 32). Rows/s, medians.

Usage: python benchmarks/predict.py [--repeats 3] [--rows 100000]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, Row, child_json, table  # noqa: E402

CHILD = textwrap.dedent(
    """
    import contextlib, io, json, sys, tempfile, time
    from pathlib import Path
    import numpy as np
    rows, repeats = int(sys.argv[1]), int(sys.argv[2])
    work = Path(tempfile.mkdtemp(prefix="dlcli-predict-"))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(10_000, 784), dtype=np.uint8)
    y = (x[:, :10].argmax(axis=1)).astype(np.uint8)
    np.savez(work / "train.npz", x=x, y=y)
    from dlcli import predict
    from dlcli.training import plan, runner
    from dlcli.runs import store as runs
    from dlcli.config.load import load_config_text
    config = load_config_text(
        f"data: {{path: {work / 'train.npz'}, scale: 0.00392156862745098, normalize: false}}\\n"
        "model: {layers: [{units: 128, dropout: 0.2}]}\\ntraining: {epochs: 1, plots: false}\\n", "p.yaml")
    with contextlib.redirect_stdout(io.StringIO()):
        run, _ = runner.run(plan.new_run(config, plan.Where.under(work / "runs")))
    big = rng.integers(0, 256, size=(rows, 784), dtype=np.uint8)
    np.savez(work / "input.npz", x=big)
    model = runs.load_model(run / "model.keras", compile=False)
    features = big.astype("float32")
    model.predict(features[:64], verbose=0)  # trace once, as dlcli's first batch also does
    ours, keras_default = [], []
    for _ in range(repeats):
        t = time.perf_counter(); predict.predict(run, str(work / "input.npz"), str(work / "out.csv")); ours.append(rows / (time.perf_counter() - t))
        t = time.perf_counter(); model.predict(features, verbose=0); keras_default.append(rows / (time.perf_counter() - t))
    assert len((work / "out.csv").read_text().splitlines()) == rows + 1
    print(json.dumps({"dlcli": ours, "keras": keras_default}))
    """
)


def measure(repeats: int = 3, rows: int = 100_000) -> list[Row]:
    got = child_json([PYTHON, "-c", CHILD, str(rows), str(repeats)])
    return [
        Row(f"predict {rows:,} rows (784-128-10)", "rows/s", got["keras"], got["dlcli"], True,
            ">= 2x model.predict (batch 32)", 2.0,
            "dlcli: .npz in, CSV of class names out, batches of 4096; Keras: array in memory, default batch 32"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    print(table(measure(args.repeats, args.rows)))


if __name__ == "__main__":
    main()
