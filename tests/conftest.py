"""Shared fixtures: small data made on the spot, configs written to tmp_path."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
# A run of a few seconds: xor, 2 epochs, no plots (compare and the HTML report train it, alone or swept).
XOR_RUN = """\
name: xs
seed: 0
data: {source: synthetic, name: xor, n_samples: 200, validation_split: 0.2, test_split: 0.2}
model:
  layers: [{units: 8}]
optimizer: {name: adam, learning_rate: 0.01}
training: {epochs: 2, batch_size: 32, plots: false, checkpoint_every_seconds: 0, steps_per_execution: 1}
"""


@pytest.fixture
def write(tmp_path):
    """write(name, text) -> path of a file in tmp_path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return _write


def make_mnist_like(path: Path, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    """An npz with mnist.npz's keys, dtypes and image shape, with learnable classes."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, size=(10, 28, 28))

    def draw(n):
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        noise = rng.integers(-60, 60, size=(n, 28, 28))
        x = np.clip(protos[y] + noise, 0, 255).astype(np.uint8)
        return x, y

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture
def mnist_npz(tmp_path) -> Path:
    return make_mnist_like(tmp_path / "mnist.npz")


def invoke(*args):
    """Run a dlcli command in-process through click's CliRunner (stdout and stderr kept apart)."""
    from click.testing import CliRunner

    from dlcli.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def train_json(out_dir, config, *overrides) -> tuple[Path, dict]:
    """``dlcli train CONFIG --json`` into ``out_dir``; (run directory, test metrics)."""
    import json

    sets = [arg for o in overrides for arg in ("--set", o)]
    result = invoke("train", config, *sets, "--output-dir", out_dir, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    return Path(payload["run_dir"]), payload["metrics"]


# Numbers TensorFlow computed on another machine (a stored fixture) agree with today's to this much, absolute.
# float32 carries ~7 significant digits (eps 1.2e-7); a CPU with other SIMD widths, FMA or oneDNN/Eigen kernels
# sums a 64-wide dot product in another order, which moves a probability or a loss in [0, 1]-ish ranges by a few
# ulps per layer (~1e-6 after a 3-layer network), and a file printed to 6 decimals adds 5e-7 of rounding.
# 1e-5 covers both with room, and is still 100x below any difference a changed model would make.
ACROSS_MACHINES = 1e-5


def assert_same_metrics(again: dict, saved: dict, *, abs_tol: float = 1e-6) -> None:
    """Scalar metrics equal within float noise; the per-class report and confusion matrix exactly.

    The default tolerance is for two computations on this machine; pass ``ACROSS_MACHINES`` when ``saved``
    was written elsewhere."""
    assert again.keys() == saved.keys()
    for key, value in saved.items():
        if isinstance(value, (int, float)):
            assert again[key] == pytest.approx(value, abs=abs_tol), key
        else:
            assert again[key] == value, key


def assert_same_predictions(got: str, want: str, *, abs_tol: float = ACROSS_MACHINES) -> None:
    """Two ``predict`` CSV outputs agree: the same columns and rows, labels and every text cell exactly,
    numbers (probabilities, regression values) within ``abs_tol``."""
    import io

    import pandas as pd

    got_frame = pd.read_csv(io.StringIO(got), keep_default_na=False, dtype=str)
    want_frame = pd.read_csv(io.StringIO(want), keep_default_na=False, dtype=str)
    assert list(got_frame.columns) == list(want_frame.columns)
    assert len(got_frame) == len(want_frame)
    for column in want_frame.columns:
        wanted = pd.to_numeric(want_frame[column], errors="coerce")
        whole = want_frame[column].str.fullmatch(r"-?\d+").all()  # class ids, counts
        if wanted.isna().any() or whole:
            assert got_frame[column].tolist() == want_frame[column].tolist(), column  # labels exactly
        else:
            np.testing.assert_allclose(
                pd.to_numeric(got_frame[column]).to_numpy(), wanted.to_numpy(), rtol=0, atol=abs_tol, err_msg=column
            )


@pytest.fixture
def signal_at(monkeypatch):
    """signal_at(epoch, step): raise SIGINT in this process during that training step (0-based), once."""

    from dlcli.training.callbacks import StopOnSignal

    original = StopOnSignal.on_train_batch_end

    def arm(epoch: int, step: int, sig=signal.SIGINT):
        fired = []

        def patched(self, batch, logs=None):
            if not fired and self.epoch == epoch and batch == step:
                fired.append(True)
                os.kill(os.getpid(), sig)
                deadline = time.monotonic() + 10
                while not self.stop and time.monotonic() < deadline:  # the handler runs between bytecodes
                    time.sleep(0.001)
            return original(self, batch, logs)

        monkeypatch.setattr(StopOnSignal, "on_train_batch_end", patched)
        return fired

    return arm


def _untracked() -> set[str]:
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return set()
    done = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    )
    return set(done.stdout.split())


@pytest.fixture(scope="session", autouse=True)
def no_stray_files_in_the_repository():
    """The suite writes only into tmp folders: a file it leaves in the checkout (MLflow's ./mlruns, a run
    directory) fails the session."""
    before = _untracked()
    yield
    left = sorted(_untracked() - before)
    assert not left, f"the tests left files in the repository: {left[:10]}"
