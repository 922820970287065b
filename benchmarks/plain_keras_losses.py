"""Issue 14's tutorial choices, dlcli next to plain Keras: the same network, data splits and seeds.

``configs/digits_onehot.yaml`` (softmax + ``categorical_crossentropy`` on
``to_categorical`` targets, label smoothing 0.1) and ``configs/xor_mse.yaml``
(one sigmoid unit on ``mean_squared_error``). dlcli trains each config through
its CLI; the plain script builds the same layers by hand (Normalization adapted
on the training split, Dense, the config's output), compiles the same loss,
optimizer and accuracy, and fits numpy arrays with Keras's defaults on dlcli's
own train / validation / test split, so only the training code differs.
Reported: test accuracy per seed and the mean of each.

Usage: python benchmarks/plain_keras_losses.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("digits_onehot.yaml", "xor_mse.yaml")


def dlcli_accuracy(config: Path, seed: int, out: str) -> float:
    args = [sys.executable, "-m", "dlcli", "train", str(config), "--set", f"seed={seed}", "--output-dir", out, "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)["metrics"]["accuracy"]


def plain_accuracy(config_path: Path, seed: int) -> float:
    """The tutorial script: hand-built layers, ``to_categorical`` for a one-hot loss, ``model.fit`` on arrays."""
    import keras
    import numpy as np

    from dlcli.config.load import load_config
    from dlcli.data.load import load

    config = load_config(str(config_path), [f"seed={seed}"])
    data = load(config)
    keras.utils.set_random_seed(seed)
    out = config.model.output
    name, params = (config.loss, {}) if isinstance(config.loss, str) else (config.loss.name, config.loss.params)
    # by its class, as a script writes it: get({"class_name": "categorical_crossentropy", ...}) drops the params
    loss = getattr(keras.losses, "".join(p.capitalize() for p in name.split("_")))(**params)
    one_hot = name.startswith("categorical") or name == "kl_divergence"
    targets = (lambda y: keras.utils.to_categorical(y, out.units)) if one_hot else (lambda y: y.astype("float32"))
    norm = keras.layers.Normalization()
    norm.adapt(data.x_train)
    model = keras.Sequential(
        [keras.Input(data.x_train.shape[1:]), norm]
        + [keras.layers.Dense(layer.units, activation=layer.activation) for layer in config.model.layers]
        + [keras.layers.Dense(out.units, activation=out.activation)]
    )
    model.compile(
        optimizer=keras.optimizers.get({"class_name": config.optimizer.name,
                                        "config": {"learning_rate": config.optimizer.learning_rate}}),
        loss=loss,
        metrics=["accuracy"],
    )  # fmt: skip
    model.fit(
        data.x_train, targets(data.y_train), validation_data=(data.x_val, targets(data.y_val)),
        epochs=config.training.epochs, batch_size=config.training.batch_size, verbose=0,
    )  # fmt: skip
    predicted = model.predict(data.x_test, verbose=0)
    classes = predicted.argmax(axis=1) if predicted.shape[1] > 1 else (predicted[:, 0] > 0.5).astype(int)
    return float(np.mean(classes == data.y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    seeds = range(parser.parse_args().seeds)
    with tempfile.TemporaryDirectory() as out:
        for name in CONFIGS:
            path = ROOT / "configs" / name
            ours = [dlcli_accuracy(path, s, out) for s in seeds]
            plain = [plain_accuracy(path, s) for s in seeds]
            print(f"{name}: test accuracy by seed")
            print(f"  dlcli        {' '.join(f'{a:.4f}' for a in ours)}   mean {sum(ours) / len(ours):.4f}")
            print(f"  plain Keras  {' '.join(f'{a:.4f}' for a in plain)}   mean {sum(plain) / len(plain):.4f}")


if __name__ == "__main__":
    main()
