"""The TensorFlow tutorial networks: `dlcli train` vs the hand-written Keras script, same data, same steps.

A synthetic 60,000 x 784 npz (Keras's mnist layout), Adam, sparse categorical
cross-entropy from logits, batch 32, pixels / 255, no validation: the
script feeds numpy arrays to ``model.fit`` with Keras's defaults; dlcli trains
the same network from a config (its ``auto`` steps_per_execution and
jit_compile). Both run in child processes, alternating, ``--repeats`` times.
Reported: training samples/s after the first epoch (medians), the ratio, and
the final training loss of each (repeat r uses seed r in both, so the
spread of the losses is the seed-to-seed noise the two are compared within).

Usage: python benchmarks/tutorial.py [--repeats 3] [--epochs 3] [--rows 60000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, Row, child_json, table  # noqa: E402

NETWORKS = {
    "784-128-Dropout(0.2)-10": [{"units": 128, "dropout": 0.2}],
    "784-64-64-10": [{"units": 64}, {"units": 64}],
}

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import keras, numpy as np
    layers_spec, epochs, seed = json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with np.load(sys.argv[1]) as f:
        x, y = f["x_train"].reshape(len(f["x_train"]), -1).astype("float32") / 255.0, f["y_train"]
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((784,))]
    for spec in layers_spec:
        layers.append(keras.layers.Dense(spec["units"], activation="relu"))
        if spec.get("dropout"):
            layers.append(keras.layers.Dropout(spec["dropout"]))
    layers.append(keras.layers.Dense(10))
    model = keras.Sequential(layers)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    times = []
    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None): self.t = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None): times.append(time.perf_counter() - self.t)
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[Clock()])
    print(json.dumps({"epoch_seconds": times, "loss": history.history["loss"][-1]}))
    """
)

CONFIG = """\
name: tutorial
seed: {seed}
data: {{path: {npz}, validation_split: 0.0, normalize: false, scale: 0.00392156862745098}}
model: {{layers: {layers}, output: {{units: 10, activation: linear}}}}
loss: {{name: sparse_categorical_crossentropy, from_logits: true}}
optimizer: {{name: adam, learning_rate: 0.001}}
metrics: [accuracy]
training: {{epochs: {epochs}, batch_size: 32, plots: false}}
"""


def make_npz(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(rows, 28, 28), dtype=np.uint8)
    w = rng.normal(size=(784, 10))
    y = np.argmax((x.reshape(rows, -1) / 255.0) @ w + rng.normal(size=(rows, 10)), axis=1).astype(np.uint8)
    np.savez(path, x_train=x, y_train=y, x_test=x[:2000], y_test=y[:2000])


def run_script(npz: Path, layers: list, epochs: int, seed: int) -> dict:
    return child_json([PYTHON, "-c", SCRIPT, str(npz), json.dumps(layers), str(epochs), str(seed)])


def run_dlcli(work: Path, npz: Path, layers: list, epochs: int, seed: int) -> dict:
    cfg = work / "tutorial.yaml"
    cfg.write_text(CONFIG.format(npz=npz, layers=json.dumps(layers), epochs=epochs, seed=seed))
    payload = child_json(
        [PYTHON, "-m", "dlcli", "train", str(cfg), "--output-dir", str(work / "runs"), "--json", "--quiet"]
    )
    run = Path(payload["run_dir"])
    state = json.loads((run / "run.json").read_text())
    history = (run / "history.csv").read_text().strip().splitlines()
    header, last = history[0].split(","), history[-1].split(",")
    return {"epoch_seconds": state["epoch_seconds"], "loss": float(last[header.index("loss")])}


def measure(repeats: int = 3, epochs: int = 5, rows: int = 60_000) -> list[Row]:
    """Training samples/s after the first epoch, script vs dlcli, per network."""
    work = Path(tempfile.mkdtemp(prefix="dlcli-tutorial-"))
    npz = work / "mnist_like.npz"
    make_npz(npz, rows)
    out = []
    for name, layers in NETWORKS.items():
        rates: dict[str, list[float]] = {"script": [], "dlcli": []}
        losses: dict[str, list[float]] = {"script": [], "dlcli": []}
        for seed in range(repeats):  # repeat r: seed r for both, so the losses show the seed-to-seed noise
            for tool in ("script", "dlcli"):
                if tool == "script":
                    got = run_script(npz, layers, epochs, seed)
                else:
                    got = run_dlcli(work, npz, layers, epochs, seed)
                rates[tool].append(rows * (epochs - 1) / sum(got["epoch_seconds"][1:]))
                losses[tool].append(got["loss"])
        note = f"final training loss after {epochs} epochs, seeds 0-{repeats - 1}: " + "; ".join(
            f"{tool} median {statistics.median(v):.4f} (range {min(v):.4f}-{max(v):.4f})" for tool, v in losses.items()
        )
        out.append(Row(f"tutorial {name}, batch 32", "samples/s", rates["script"], rates["dlcli"], True,
                       ">= 2x the script", 2.0, note))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=60_000)
    args = parser.parse_args()
    print(table(measure(args.repeats, args.epochs, args.rows)))


if __name__ == "__main__":
    main()
