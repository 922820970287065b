"""steps_per_execution and jit_compile: the auto rule, what environment.json records, and unchanged results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlcli.config.load import load_config_text
from dlcli.training import execution as loop
from tests.conftest import CONFIGS, assert_same_metrics, invoke, train_json

DIGITS = "data: {source: sklearn, name: digits}\n"


def config(training: str = "{}", layers: str = "[{units: 64}]"):
    return load_config_text(DIGITS + f"model: {{layers: {layers}}}\ntraining: {training}\n", "x.yaml")


def execution(config, steps_per_epoch=100, params=100_000, **kw):
    """The choice as environment.json records it."""
    return loop.choose(config, steps_per_epoch, params=params, **kw).record()


def test_auto_steps_fill_about_a_quarter_second_per_call_in_dlcli_loop():
    # 784-128-10 at batch 32: ~20 MFLOP a step -> ~0.3 ms -> ~830 steps a call
    chosen = execution(config(), steps_per_epoch=1875, params=101_770)
    assert chosen["loop"] == "dlcli" and 500 < chosen["steps_per_execution"] < 1500
    # 784-1024-1024-10 at batch 1024: ~11 GFLOP a step -> a few steps a call
    assert execution(config("{batch_size: 1024}"), steps_per_epoch=59, params=1_863_690)["steps_per_execution"] == 3
    capped = execution(config(), steps_per_epoch=5)
    assert capped["steps_per_execution"] == 5 and "capped at the 5 steps" in capped["steps_per_execution_reason"]


def test_keras_loop_runs_32_steps_per_call_for_streamed_data():
    chosen = execution(config(), in_memory=False)
    assert chosen["loop"] == "keras" and chosen["steps_per_execution"] == 32
    assert execution(config(), steps_per_epoch=5, in_memory=False)["steps_per_execution"] == 5


def test_given_steps_per_execution_is_kept():
    for in_memory in (True, False):
        chosen = execution(config("{steps_per_execution: 7}"), in_memory=in_memory)
        assert chosen["steps_per_execution"] == 7 and chosen["steps_per_execution_reason"] == "given"


def test_auto_is_one_step_under_mirrored_in_keras_loop():
    chosen = execution(config("{distribution: mirrored}"))
    assert chosen["loop"] == "keras"
    assert chosen["steps_per_execution"] == 1 and "MirroredStrategy" in chosen["steps_per_execution_reason"]
    assert chosen["jit_compile"] is False and "tf.distribute" in chosen["jit_compile_reason"]


@pytest.mark.parametrize(
    ("training", "steps", "jit", "why"),
    [
        ("{epochs: 40}", 41, False, "1640 training steps < 2000"),  # digits.yaml: compiling costs more than it saves
        ("{epochs: 5}", 1875, True, "9375 training steps >= 2000"),  # the tutorial network
        ("{epochs: 5, jit_compile: false}", 1875, False, "given"),
        ("{epochs: 1, jit_compile: true}", 3, True, "given"),
    ],
)
def test_jit_compile_rule_in_dlcli_loop(training, steps, jit, why):
    chosen = execution(config(training, "[{units: 64, dropout: 0.2}]"), steps_per_epoch=steps)
    assert chosen["jit_compile"] is jit
    assert why in chosen["jit_compile_reason"]


def test_jit_compile_follows_what_the_model_and_device_allow():
    blocked = execution(config("{jit_compile: true}"), no_xla="the model's StringLookup layers do not support XLA")
    assert blocked["jit_compile"] is False and blocked["jit_compile_reason"].startswith("given true, but no XLA")
    assert execution(config("{epochs: 1}"), gpu=True)["jit_compile"] is True
    assert execution(config("{epochs: 1, jit_compile: false}"), gpu=True)["jit_compile"] is False


@pytest.mark.parametrize(
    ("training", "layers", "jit", "why"),
    [
        ("{batch_size: 1024}", "[{units: 64, dropout: 0.2}]", False, "Dropout"),
        ("{batch_size: 1024}", "[{units: 64}]", True, "batch_size >= 256"),
        ("{batch_size: 32}", "[{units: 64}]", False, "batch_size < 256"),
        ("{batch_size: 32, jit_compile: true}", "[{units: 64, dropout: 0.5}]", True, "given"),
    ],
)
def test_jit_compile_rule_in_keras_loop(training, layers, jit, why):
    chosen = execution(config(training, layers), steps_per_epoch=10, in_memory=False, params=1_000_000)
    assert chosen["jit_compile"] == jit
    assert why in chosen["jit_compile_reason"]


@pytest.mark.parametrize("bad", ["0", "-2", "two"])
def test_bad_steps_per_execution_is_a_config_error(bad, tmp_path):
    from dlcli.errors import ConfigError

    with pytest.raises(ConfigError, match="training.steps_per_execution"):
        config(f"{{steps_per_execution: {bad}}}")


@pytest.mark.slow  # multi-run
def test_steps_per_execution_changes_speed_not_results(tmp_path):
    """The same batches and updates: history and metrics are identical with 1 step per call and with auto."""
    runs = {}
    for steps in ("1", "auto"):
        run, metrics = train_json(
            tmp_path / steps,
            CONFIGS / "iris.yaml",
            f"training.steps_per_execution={steps}",
            "training.epochs=4",
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


def test_keras_loop_skips_xla_when_a_step_is_too_small_to_repay_compiling():
    # 20-64-64-1 at batch 1024: ~5.6k weights, ~35 MFLOP a step (the data-path benchmark's model)
    small = execution(config("{batch_size: 1024}"), in_memory=False, params=5_633)
    assert small["jit_compile"] is False and "too little to repay compiling" in small["jit_compile_reason"]
    # 784-1024-1024-10 at batch 1024: ~1.9M weights, ~11 GFLOP a step
    assert execution(config("{batch_size: 1024}"), in_memory=False, params=1_863_690)["jit_compile"] is True


# -- the compiled loop behind a Keras-version guard -----------------------------------------------------


def test_the_compiled_loop_runs_only_on_the_keras_it_is_tested_with(monkeypatch):
    from dlcli.training import keras_internals

    assert keras_internals.version_problem() is None  # the Keras installed here is a tested one
    monkeypatch.setattr(keras_internals, "keras_version", lambda: "3.16.0")
    assert keras_internals.version_problem() == "dlcli's compiled loop is tested with Keras 3.15, not 3.16.0"
    chosen = loop.choose(config(), 100, params=100_000, unsupported_keras=keras_internals.version_problem())
    assert (chosen.loop, chosen.steps_per_execution, chosen.fallback) == (
        "keras",
        32,
        keras_internals.version_problem(),
    )
    assert loop.choose(config(), 100, params=100_000).fallback is None


def test_an_untested_keras_trains_in_keras_fit_and_says_so(tmp_path, monkeypatch):
    from dlcli.training import keras_internals

    sets = ("training.epochs=3", "training.plots=false")
    ours, ours_metrics = train_json(tmp_path / "tested", CONFIGS / "iris.yaml", *sets)
    monkeypatch.setattr(keras_internals, "keras_version", lambda: "3.99.1")
    result = invoke("train", CONFIGS / "iris.yaml", *[a for s in sets for a in ("--set", s)], "--output-dir",
                    tmp_path / "untested", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (line,) = [row for row in result.stderr.splitlines() if "3.99.1" in row]
    assert line == (
        "warning: dlcli's compiled loop is tested with Keras 3.15, not 3.99.1; training with Keras's fit, "
        "15 steps per call"
    )
    run = Path(json.loads(result.stdout)["run_dir"])
    chosen = json.loads((run / "environment.json").read_text())["execution"]
    assert chosen["loop"] == "keras" and chosen["fallback"].endswith("not 3.99.1")
    assert json.loads((ours / "environment.json").read_text())["execution"]["loop"] == "dlcli"
    # Keras's fit makes the same updates as the compiled loop (tests/test_loop.py): the same model
    assert_same_metrics(json.loads(result.stdout)["metrics"], ours_metrics)
