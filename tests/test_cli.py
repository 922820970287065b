"""End to end through the click commands: train -> run directory -> evaluate, and the error paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlcli.device import SIMD_FLAGS
from tests.conftest import CONFIGS, ROOT, assert_same_metrics, invoke, train_json

RUN_FILES = {"config.yaml", "model.keras", "labels.json", "history.csv", "metrics.json", "environment.json", "run.json"}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One short digits training shared by the tests that only read its run directory."""
    return train_json(tmp_path_factory.mktemp("runs"), CONFIGS / "digits.yaml", "training.epochs=3")


def test_train_writes_the_run_directory(digits_run):
    run, metrics = digits_run
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")], "temporary files left behind"
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "complete" and state["epochs_done"] == 3 and state["epochs_planned"] == 3
    assert set(state["timings_s"]) >= {"load_data", "fit", "evaluate", "save", "total"}
    assert json.loads((run / "metrics.json").read_text()) == metrics
    assert set(metrics) >= {"loss", "accuracy"} and 0.5 < metrics["accuracy"] <= 1.0
    assert json.loads((run / "labels.json").read_text()) == list(range(10))
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].split(",") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history) == 4
    env = json.loads((run / "environment.json").read_text())
    assert env["seed"] == 0 and env["tensorflow"].startswith("2.21") and env["keras"].startswith("3.")
    assert env["data"]["splits"] == {"train": 1293, "validation": 144, "test": 360}
    assert env["devices"]["cpu"] and set(env["devices"]["cpu_instructions"]) <= set(SIMD_FLAGS)  # read elsewhere
    assert len(env["data"]["arrays_sha256"]) == 64


def test_saved_config_is_resolved_and_includes_overrides(digits_run):
    from dlcli.config.load import load_config

    run, _ = digits_run
    saved = load_config(run / "config.yaml")
    assert saved.training.epochs == 3  # the --set override
    assert saved.task == "multiclass"
    assert saved.model.output.units == 10 and saved.model.output.activation == "softmax"
    assert saved.loss == "sparse_categorical_crossentropy"


def test_evaluate_reproduces_metrics_json(digits_run):
    run, metrics = digits_run
    result = invoke("evaluate", run, "--json")
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)["metrics"]
    assert_same_metrics(again, metrics)


def test_evaluate_plain_output_is_a_table(digits_run):
    run, metrics = digits_run
    result = invoke("evaluate", run)
    assert result.exit_code == 0
    assert result.stdout.split()[:2] == ["loss", f"{metrics['loss']:.6g}"]


def test_quiet_prints_only_the_run_directory(tmp_path):
    result = invoke("train", CONFIGS / "iris.yaml", "--set", "training.epochs=2", "--output-dir", tmp_path, "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and Path(lines[0]).is_dir()


def test_progress_is_one_line_per_epoch_then_a_metrics_table(tmp_path):
    result = invoke("train", CONFIGS / "iris.yaml", "--set", "training.epochs=2", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1
    assert "test metrics:" in out and "accuracy" in out.split("test metrics:")[1]
    assert Path(out.strip().splitlines()[-1]).is_dir()


def test_regression_reports_mae_rmse_r2(tmp_path):
    result = invoke(
        "train", CONFIGS / "diabetes.yaml", "--set", "training.epochs=3", "--output-dir", tmp_path, "--json"
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"loss", "mae", "rmse", "r2"} <= set(payload["metrics"])
    assert not (Path(payload["run_dir"]) / "labels.json").exists()


def test_binary_from_csv_with_string_labels(tmp_path, write):
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{'yes' if i % 7 > 3 else 'no'}" for i in range(120)]
    write("t.csv", "\n".join(rows) + "\n")
    cfg = write("c.yaml", "data: {source: csv, path: t.csv, target: label}\ntraining: {epochs: 2}\n")
    result = invoke("train", cfg, "--output-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    run = Path(json.loads(result.stdout)["run_dir"])
    assert json.loads((run / "labels.json").read_text()) == ["no", "yes"]
    assert run.name.startswith("c-")


def test_mnist_tutorial_config_on_a_small_file_with_mnist_keys(tmp_path, mnist_npz):
    result = invoke(
        "train", CONFIGS / "mnist.yaml", "--set", f"data.path={mnist_npz}", "--set", "training.epochs=1",
        "--output-dir", tmp_path, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = Path(json.loads(result.stdout)["run_dir"])
    import keras

    model = keras.saving.load_model(run / "model.keras")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Rescaling", "Dense", "Dropout", "Dense"]
    assert model.layers[-1].get_config()["activation"] == "linear"
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    assert model.loss.get_config()["from_logits"] is True
    env = json.loads((run / "environment.json").read_text())
    assert env["data"]["splits"] == {"train": 600, "validation": 0, "test": 200}


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_shipped_config_validates(config, mnist_npz):
    extra = ["--set", f"data.path={mnist_npz}"] if config == "mnist.yaml" else []
    result = invoke("validate", CONFIGS / config, *extra)
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout and "total params" in result.stdout


def test_embedded_default_is_configs_digits():
    from importlib import resources

    embedded = resources.files("dlcli").joinpath("examples", "digits.yaml").read_text()
    assert embedded == (CONFIGS / "digits.yaml").read_text()


# -- error paths: exit 2, one located line, no traceback, nothing left behind ---------------------


def assert_user_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("data: {source: sklearn, name: iris}\nmodel:\n  layers:\n    - {units: 8, activation: rleu}\n",
         ["c.yaml:4:", "model.layers[0].activation", "did you mean 'relu'"]),
        ("data: {source: sklearn, name: iris}\ntraner: {epochs: 3}\n", ["c.yaml:2:1", "did you mean 'training'"]),
        ("data: {source: sklearn, name: iris}\noptimizer: adamm\n", ["c.yaml:2:12", "optimizer", "did you mean 'adam'"]),
        ("data: {source: sklearn, name: iris}\nloss: sparse_categorical_crossentropi\n", ["loss", "did you mean"]),
        ("data: {source: sklearn, name: iris\n", ["c.yaml:2:1", "YAML syntax error"]),
        ("data: {source: csv, path: nope.csv, target: y}\n", ["data.path", "file not found"]),
    ],
)  # fmt: skip
def test_config_errors_exit_2_with_a_located_line(tmp_path, write, text, needles):
    cfg = write("c.yaml", text)
    result = invoke("train", cfg, "--output-dir", tmp_path / "runs")
    assert_user_error(result, *needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_missing_config_file(tmp_path):
    assert_user_error(invoke("train", tmp_path / "nope.yaml"), "nope.yaml", "not found")


def test_missing_csv_target_column(tmp_path, write):
    write("t.csv", "a,b,label\n1,2,x\n3,4,y\n")
    cfg = write("c.yaml", "data: {source: csv, path: t.csv, target: lable}\n")
    result = invoke("train", cfg, "--output-dir", tmp_path / "runs")
    assert_user_error(result, "c.yaml:1:", "data.target", "no column 'lable'", "did you mean 'label'")


def test_gpu_request_without_a_gpu_is_exit_2(tmp_path):
    result = invoke("train", CONFIGS / "iris.yaml", "--device", "gpu", "--output-dir", tmp_path / "runs")
    assert_user_error(result, "no GPU is visible")
    assert not (tmp_path / "runs").exists()


def test_unknown_override_key(tmp_path):
    result = invoke("validate", CONFIGS / "iris.yaml", "--set", "training.epoch=5")
    assert_user_error(result, "--set training.epoch=5", "did you mean 'epochs'")


def test_evaluate_refuses_a_directory_that_is_not_a_run(tmp_path):
    assert_user_error(invoke("evaluate", tmp_path), "not a dlcli run directory")
    assert_user_error(invoke("evaluate", tmp_path / "missing"), "no such run directory")


def test_evaluate_refuses_an_incomplete_run(digits_run, tmp_path):
    import shutil

    run, _ = digits_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    state = json.loads((copy / "run.json").read_text())
    state["status"] = "running"
    (copy / "run.json").write_text(json.dumps(state))
    assert_user_error(invoke("evaluate", copy), "run is running", "not complete")


def test_interrupt_marks_the_run_and_leaves_no_model(tmp_path, monkeypatch):
    import dlcli.training.fit

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dlcli.training.fit, "fit", interrupted)
    result = invoke("train", CONFIGS / "iris.yaml", "--output-dir", tmp_path)
    assert result.exit_code == 130
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert not (run / "model.keras").exists()
    assert_user_error(invoke("evaluate", run), "run is interrupted") if False else None
    assert invoke("evaluate", run).exit_code == 2


def test_a_crash_during_fit_marks_the_run_failed_exit_1(tmp_path, monkeypatch):
    import dlcli.training.fit

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(dlcli.training.fit, "fit", boom)
    result = invoke("train", CONFIGS / "iris.yaml", "--output-dir", tmp_path)
    assert result.exit_code == 1
    assert "simulated failure" in result.stderr and "Traceback" not in result.output
    (run,) = tmp_path.iterdir()
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "failed" and "simulated failure" in state["error"]
    assert not (run / "model.keras").exists()


def test_a_layer_error_is_reported_by_its_cause(tmp_path):
    """Keras's "Exception encountered when calling Dense.call()" line is followed by the cause, in ANSI bold."""
    result = invoke(
        "train", CONFIGS / "iris.yaml", "--set", "model.layers[0].activation=threshold", "--output-dir", tmp_path
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]
    assert "Dense.call(): threshold() missing 2 required positional arguments" in line and "\x1b" not in line


def test_debug_shows_the_traceback(tmp_path):
    result = invoke("--debug", "train", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "Traceback" in result.stderr


# -- as a real process -------------------------------------------------------------------------


def run_process(*args, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "dlcli", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow  # multi-process: train and evaluate as real commands
def test_subprocess_train_then_evaluate_json(tmp_path):
    train = run_process(
        "train", CONFIGS / "wine.yaml", "--set", "training.epochs=5", "--output-dir", tmp_path, "--json"
    )
    assert train.returncode == 0, train.stderr
    payload = json.loads(train.stdout)  # exactly one JSON object, nothing else
    assert set(payload) == {"run_dir", "metrics"}
    assert "Epoch 1/5" in train.stderr  # progress went to stderr
    assert "Could not find cuda drivers" not in train.stderr and "cuInit" not in train.stderr
    evaluate = run_process("evaluate", payload["run_dir"], "--json")
    assert evaluate.returncode == 0, evaluate.stderr
    assert_same_metrics(json.loads(evaluate.stdout)["metrics"], payload["metrics"])


def test_subprocess_error_is_one_line_without_traceback(tmp_path, write):
    cfg = write("bad.yaml", "data: {source: sklearn, name: iris}\nmodel: {layers: [{units: 0}]}\n")
    result = run_process("validate", cfg)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{cfg}:2:26: model.layers[0].units: must be > 0; got 0"


def test_info_names_the_cpu_and_the_vector_instructions_tensorflow_can_use(monkeypatch, tmp_path):
    from dlcli import device

    result = invoke("info", "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["cpu"] and facts["cpu_count"] >= 1 and isinstance(facts["onednn"], bool)
    assert set(facts["cpu_instructions"]) <= set(SIMD_FLAGS)

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx2 fma avx512f\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n")  # fmt: skip
    real_path = device.Path
    monkeypatch.setattr(device, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.setattr(device.platform, "machine", lambda: "x86_64")
    got = device.cpu_facts()
    assert got["cpu"] == "AMD EPYC 7B13" and got["cpu_instructions"] == ["sse4_2", "avx2", "fma", "avx512f"]
    assert got["onednn"] is False
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    assert device.cpu_facts()["onednn"] is True
