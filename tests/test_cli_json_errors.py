"""With --json, a failure prints exactly one JSON object on stdout and keeps its lines on stderr."""

from __future__ import annotations

import json

import pytest
from conftest import invoke

from dlcli.errors import Interrupted
from dlcli.failures import error_object


def one_object(result) -> dict:
    """stdout is one JSON object {"error": {...}} whose exit_code is the process's."""
    assert "Traceback" not in result.output
    payload = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    error = payload["error"]
    assert set(error) == {"message", "file", "line", "column", "exit_code", "problems"}
    assert error["exit_code"] == result.exit_code
    return error


def test_a_bad_config_gives_file_line_and_every_problem(write):
    path = write("bad.yaml", "data: {source: sklearn, name: iris}\ntraining: {validation_split: 0.2, epoch: 3}\n")
    result = invoke("train", path, "--json")
    assert result.exit_code == 2
    error = one_object(result)
    assert error["message"] == "training.validation_split: validation_split belongs under data: (data.validation_split)"
    assert (error["file"], error["line"], error["column"]) == (str(path), 2, 12)
    assert [p["line"] for p in error["problems"]] == [2, 2]
    assert "training.epoch: unknown key 'epoch'" in error["problems"][1]["message"]
    assert result.stderr.splitlines()[0] == f"{path}:2:12: {error['message']}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("evaluate", "no-such-run", "--json"), "no-such-run: no such run directory"),
        (("runs", "no-such-dir", "--json"), "no-such-dir: no such directory"),
        (("train", "no-such.yaml", "--json"), "no-such.yaml"),
    ],
)
def test_an_unlocated_error_has_null_file_and_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    error = one_object(result)
    assert message in error["message"]
    assert error["file"] is None and error["line"] is None
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_a_usage_error_answers_in_json_too():
    result = invoke("train", "--json", "--device", "tpu")
    assert result.exit_code == 2
    assert "'tpu' is not one of" in one_object(result)["message"]
    assert "Usage: " in result.stderr and "--device" in result.stderr


def test_an_unknown_option_next_to_json_answers_in_json():
    result = invoke("evaluate", "run", "--json", "--bogus")
    assert result.exit_code == 2
    assert "--bogus" in one_object(result)["message"]


def test_without_json_stdout_stays_empty(write):
    path = write("bad.yaml", "data: {source: sklearn, name: iris}\ntraining: {lr: 0.1}\n")
    result = invoke("train", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        result.stderr.strip() == f"{path}:2:12: training.lr: 'lr' is Keras's name; dlcli's is optimizer.learning_rate"
    )


def test_a_command_without_json_ignores_a_json_value(tmp_path):
    result = invoke("export", tmp_path / "nope", "--format", "onnx", "--data", "--json")  # export has no --json
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [
        (Interrupted("interrupted after 2 epoch(s); runs/x is marked interrupted"), 130, "interrupted after 2"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (RuntimeError("boom\nsecond line"), 1, "internal error: RuntimeError: boom (rerun with --debug"),
    ],
)
def test_interrupted_and_internal_errors_answer_in_json(monkeypatch, raised, code, message):
    from dlcli.training import plan

    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(plan, "new_run", fail)
    result = invoke("train", "--json", "-q")
    assert result.exit_code == code
    error = one_object(result)
    assert error["message"].startswith(message)
    assert result.stderr.strip().splitlines()[-1].endswith(error["message"])  # after the built-in example's note


def test_info_fails_in_json_too(monkeypatch):
    from dlcli import device
    from dlcli.errors import DeviceError

    def fail(_):
        raise DeviceError("TensorFlow does not import: libfoo.so missing")

    monkeypatch.setattr(device, "import_tensorflow", fail)
    result = invoke("info", "--json")
    assert result.exit_code == 2
    assert one_object(result)["message"] == "TensorFlow does not import: libfoo.so missing"


def test_error_object_reads_places():
    got = error_object(["rows.csv:12: column 'x': 'abc' is not a number", "--set a=b: a: unknown key"], 2)
    assert got["error"]["file"] == "rows.csv" and got["error"]["line"] == 12 and got["error"]["column"] is None
    assert got["error"]["problems"][1] == {"message": "--set a=b: a: unknown key", "file": None, "line": None,
                                           "column": None}  # fmt: skip
    assert error_object(["cannot write out/p.csv: Permission denied"], 2, "out/p.csv")["error"]["file"] == "out/p.csv"
