"""Whole-process wall time: `dlcli train configs/digits.yaml` vs a hand-written script doing the same work,
and start-up: `dlcli --help` and `dlcli validate` (no TensorFlow) against a bare Python start.

The script loads digits, splits 80/20 then 90/10 (stratified, seeded), adapts a
Normalization layer, builds the same 128-128 network, fits 20 epochs at batch
32 with validation, evaluates and saves a .keras file. dlcli runs the same
config for 20 epochs (no early stopping), with its checks, run directory and
plots. Alternating child processes, ``--repeats`` times; medians.

Usage: python benchmarks/endtoend.py [--repeats 3]
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, ROOT, Row, env, main_repeats  # noqa: E402

SCRIPT = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    x = x.astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.1, random_state=0, stratify=y_train)
    keras.utils.set_random_seed(0)
    norm = keras.layers.Normalization()
    norm.adapt(x_train)
    model = keras.Sequential([keras.Input((64,)), norm, keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=20, batch_size=32, verbose=0)
    print(model.evaluate(x_test, y_test, verbose=0))
    model.save(sys.argv[1] + "/model.keras")
    """
)


def wall(args: list[str]) -> float:
    import subprocess

    start = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, env=env(), timeout=900, check=False)
    took = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{' '.join(args)[:160]} failed: {out.stderr[-1500:]}")
    return took


def measure(repeats: int = 3) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="dlcli-e2e-"))
    dlcli = [PYTHON, "-m", "dlcli"]
    digits = str(ROOT / "configs" / "digits.yaml")
    script, tool, no_plots = [], [], []
    same = [*dlcli, "train", digits, "--set", "training.epochs=20", "--set", "training.early_stopping=false",
            "--output-dir", str(work / "runs"), "--quiet"]  # fmt: skip
    for _ in range(repeats):
        script.append(wall([PYTHON, "-c", SCRIPT, str(work)]))
        no_plots.append(wall([*same, "--set", "training.plots=false"]))
        tool.append(wall(same))
    bare, help_, validate = [], [], []
    for _ in range(max(5, repeats)):
        bare.append(wall([PYTHON, "-c", "pass"]))
        help_.append(wall([*dlcli, "--help"]))
        validate.append(wall([*dlcli, "validate", digits]))
    return [
        Row("end to end: digits, 20 epochs, evaluate, save", "s wall", script, no_plots, False, "<= 1.0x the script",
            1.0, "dlcli (training.plots: false) also validates, fingerprints the data, writes the run directory"),
        Row("end to end, with dlcli's plots (default)", "s wall", script, tool, False, "(plots: extra work)", None,
            "the two PNGs cost ~0.7 s, most of it importing matplotlib"),
        Row("start-up: dlcli --help", "s wall", [], help_, False, "<= 0.3 s", None,
            f"bare python -c pass: {sorted(bare)[len(bare) // 2]:.3f} s"),
        Row("start-up: dlcli validate configs/digits.yaml", "s wall", [], validate, False, "<= 0.5 s"),
    ]  # fmt: skip


if __name__ == "__main__":
    main_repeats(__doc__, measure)
