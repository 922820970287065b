"""steps_per_execution and jit_compile: the auto rule, what environment.json records, and unchanged results."""

from __future__ import annotations

import json

import pytest

from dlcli import train
from dlcli.config import load_config_text
from tests.conftest import CONFIGS, train_json

DIGITS = "data: {source: sklearn, name: digits}\n"


def config(training: str = "{}", layers: str = "[{units: 64}]"):
    return load_config_text(DIGITS + f"model: {{layers: {layers}}}\ntraining: {training}\n", "x.yaml")


def test_auto_runs_32_steps_per_call_capped_at_an_epoch():
    assert train.execution(config(), steps_per_epoch=100)["steps_per_execution"] == 32
    chosen = train.execution(config(), steps_per_epoch=5)
    assert chosen["steps_per_execution"] == 5
    assert "capped at the 5 steps" in chosen["steps_per_execution_reason"]


def test_given_steps_per_execution_is_kept():
    chosen = train.execution(config("{steps_per_execution: 7}"), steps_per_epoch=100)
    assert chosen["steps_per_execution"] == 7 and chosen["steps_per_execution_reason"] == "given"


def test_auto_is_one_step_under_mirrored():
    chosen = train.execution(config("{distribution: mirrored}"), steps_per_epoch=100)
    assert chosen["steps_per_execution"] == 1 and "MirroredStrategy" in chosen["steps_per_execution_reason"]


@pytest.mark.parametrize(
    ("training", "layers", "gpu", "jit", "why"),
    [
        ("{batch_size: 1024}", "[{units: 64, dropout: 0.2}]", False, False, "Dropout"),
        ("{batch_size: 1024}", "[{units: 64}]", False, True, "batch_size >= 256"),
        ("{batch_size: 32}", "[{units: 64}]", False, False, "batch_size < 256"),
        ("{batch_size: 1024}", "[{units: 64}]", True, "auto", "Keras decides"),
        ("{batch_size: 32, jit_compile: true}", "[{units: 64, dropout: 0.5}]", False, True, "given"),
        ("{batch_size: 1024, jit_compile: false}", "[{units: 64}]", False, False, "given"),
    ],
)
def test_jit_compile_rule(training, layers, gpu, jit, why):
    chosen = train.execution(config(training, layers), steps_per_epoch=10, gpu=gpu)
    assert chosen["jit_compile"] == jit
    assert why in chosen["jit_compile_reason"]


@pytest.mark.parametrize("bad", ["0", "-2", "two"])
def test_bad_steps_per_execution_is_a_config_error(bad, tmp_path):
    from dlcli.errors import ConfigError

    with pytest.raises(ConfigError, match="training.steps_per_execution"):
        config(f"{{steps_per_execution: {bad}}}")


def test_steps_per_execution_changes_speed_not_results(tmp_path):
    """The same batches and updates: history and metrics are identical with 1 step per call and with auto."""
    runs = {}
    for steps in ("1", "auto"):
        run, metrics = train_json(
            tmp_path / steps, CONFIGS / "iris.yaml", f"training.steps_per_execution={steps}", "training.epochs=4",
            "training.plots=false",
        )
        runs[steps] = (run, metrics)
    (one, one_metrics), (auto, auto_metrics) = runs["1"], runs["auto"]
    assert (one / "history.csv").read_text() == (auto / "history.csv").read_text()
    assert one_metrics == auto_metrics
    chosen = json.loads((auto / "environment.json").read_text())["execution"]
    assert chosen["steps_per_execution"] == 15  # iris: 120 rows / batch 8, capped at the epoch
    assert chosen["jit_compile"] is False
    state = json.loads((auto / "run.json").read_text())
    assert len(state["epoch_seconds"]) == 4 and all(s > 0 for s in state["epoch_seconds"])


def test_auto_skips_xla_when_a_step_is_too_small_to_repay_compiling():
    # 20-64-64-1 at batch 1024: ~5.6k weights, ~35 MFLOP a step (the data-path benchmark's model)
    small = train.execution(config("{batch_size: 1024}"), steps_per_epoch=100, params=5_633)
    assert small["jit_compile"] is False and "too little to repay compiling" in small["jit_compile_reason"]
    # 784-1024-1024-10 at batch 1024: ~1.9M weights, ~11 GFLOP a step
    big = train.execution(config("{batch_size: 1024}"), steps_per_epoch=100, params=1_863_690)
    assert big["jit_compile"] is True
