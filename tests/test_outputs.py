"""Every file dlcli writes: a place it cannot write is exit 2 naming the path and the reason, with nothing
half-written left behind; reading errors keep their own messages."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
from conftest import CONFIGS, invoke, train_json

from dlcli.errors import OutputError, writing
from dlcli.runs import store

ROWS = CONFIGS / "data" / "iris.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_json(tmp_path_factory.mktemp("runs"), CONFIGS / "iris_csv.yaml", "training.epochs=1")[0]


def one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def deny(monkeypatch, module, under: Path):
    """``open(..., "w")`` in ``module`` fails as in a read-only folder (root ignores a real chmod)."""
    real = open

    def fake(path, mode="r", *args, **kwargs):
        if Path(path).parent == under and mode[0] in "wax":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(module, "open", fake, raising=False)


def test_predict_into_a_missing_folder(run, tmp_path):
    out = tmp_path / "nonexistent" / "dir" / "p.csv"
    line = one_line(invoke("predict", run, ROWS, "-o", out))
    assert line == f"error: cannot write {out}: the folder {out.parent} does not exist"


def test_predict_under_a_file(run, tmp_path):
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "p.parquet"
    assert one_line(invoke("predict", run, ROWS, "-o", out)) == (
        f"error: cannot write {out}: {tmp_path / 'afile'} is a file, not a folder"
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_predict_into_a_read_only_folder_leaves_nothing(run, tmp_path, monkeypatch, suffix):
    from dlcli import predict

    deny(monkeypatch, predict, tmp_path)
    out = tmp_path / f"p{suffix}"
    assert one_line(invoke("predict", run, ROWS, "-o", out)) == f"error: cannot write {out}: Permission denied"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # multi-process: predict as another user
def test_predict_into_a_really_read_only_folder(run, tmp_path):
    """A real read-only folder; as root (CI) the command runs as nobody, since root writes anywhere."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    shared = Path(tempfile.mkdtemp(prefix="dlcli-ro-"))  # readable by nobody, unlike pytest's tmp_path
    try:
        shutil.copytree(run, shared / "run")
        shutil.copy(ROWS, shared / "rows.csv")
        folder = shared / "ro"
        folder.mkdir(mode=0o555)
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        command = [sys.executable, "-m", "dlcli", "predict", str(shared / "run"), str(shared / "rows.csv"), "-o",
                   str(folder / "p.csv")]  # fmt: skip
        if os.getuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), "HOME": str(shared)}
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=shared)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines()[-1] == f"error: cannot write {folder / 'p.csv'}: Permission denied"
        assert list(folder.iterdir()) == []
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(shared)


def test_a_missing_input_keeps_its_message_when_the_output_cannot_be_written(run, tmp_path):
    line = one_line(invoke("predict", run, tmp_path / "missing.csv", "-o", tmp_path / "no" / "p.csv"))
    assert line == f"error: {tmp_path / 'missing.csv'}: file not found"


def test_a_missing_run_keeps_its_message(tmp_path):
    line = one_line(invoke("predict", tmp_path / "norun", ROWS, "-o", tmp_path / "no" / "p.csv"))
    assert "cannot write" not in line and "norun" in line


def test_export_under_a_file_stops_before_the_model_loads(run, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    from dlcli.export import exporter

    monkeypatch.setattr(exporter, "require", lambda fmt: None)
    monkeypatch.setattr(exporter, "check_rows", lambda *a: pytest.fail("got past the output check"))
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "x"
    line = one_line(invoke("export", run, "--format", "savedmodel", "-o", out))
    assert line == f"error: cannot write {out}: {tmp_path / 'afile'} is a file, not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_export_into_a_missing_tree_removes_what_it_made_on_failure(run, tmp_path, monkeypatch):
    from dlcli.errors import DataError
    from dlcli.export import exporter

    monkeypatch.setattr(exporter, "require", lambda fmt: None)

    def fail(*args):
        raise DataError("no rows")

    monkeypatch.setattr(exporter, "check_rows", fail)
    assert one_line(invoke("export", run, "--format", "onnx", "-o", tmp_path / "a" / "b" / "c")) == "error: no rows"
    assert list(tmp_path.iterdir()) == []


def test_report_into_a_read_only_run_directory(run, tmp_path, monkeypatch):
    import shutil

    from matplotlib.figure import Figure

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "plots", ignore_errors=True)

    def denied(self, path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(Figure, "savefig", denied)
    line = one_line(invoke("report", copy))
    assert line.startswith(f"error: cannot write {copy / 'plots'}/") and line.endswith(".png: Permission denied")
    assert list((copy / "plots").iterdir()) == []


def test_report_where_plots_is_a_file(run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "plots", ignore_errors=True)
    (copy / "plots").write_text("")
    assert one_line(invoke("report", copy)) == f"error: cannot write {copy / 'plots'}: it is a file, not a folder"


def test_train_into_an_unwritable_output_dir_answers_in_json(tmp_path):
    (tmp_path / "afile").write_text("")
    result = invoke("train", CONFIGS / "iris.yaml", "--output-dir", tmp_path / "afile" / "runs", "--json", "-q")
    assert (
        one_line(result) == f"error: {tmp_path / 'afile' / 'runs'}: cannot create the output directory: Not a directory"
    )
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 2 and "cannot create the output directory" in error["message"]
    assert error["file"] == str(tmp_path / "afile" / "runs")


def test_run_files_name_themselves_not_the_temporary(tmp_path, monkeypatch):
    deny(monkeypatch, store, tmp_path)
    with pytest.raises(OutputError) as caught:
        store.atomic_write_json(tmp_path / "metrics.json", {})
    assert str(caught.value) == f"cannot write {tmp_path / 'metrics.json'}: Permission denied"
    assert caught.value.path == str(tmp_path / "metrics.json")
    assert list(tmp_path.iterdir()) == []


def test_writing_keeps_other_errors():
    with pytest.raises(KeyError), writing("x"):
        raise KeyError("not about writing")


def test_a_write_error_in_json_carries_the_path(tmp_path):
    from dlcli.failures import error_object

    out = tmp_path / "no" / "p.csv"
    got = error_object([f"cannot write {out}: the folder {out.parent} does not exist"], 2, out)["error"]
    assert got["file"] == str(out) and got["line"] is None


def test_a_run_file_that_cannot_be_written_fails_the_run_with_exit_2(tmp_path, monkeypatch):
    real = open

    def full(path, mode="r", *args, **kwargs):
        if ".metrics.json.tmp-" in str(path) and mode[0] == "w":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(store, "open", full, raising=False)
    result = invoke("train", CONFIGS / "iris.yaml", "--set", "training.epochs=1", "--output-dir", tmp_path, "--json")
    line = one_line(result)
    (run_dir,) = tmp_path.iterdir()
    assert line == f"error: cannot write {run_dir / 'metrics.json'}: No space left on device"
    error = json.loads(result.stdout)["error"]
    assert (error["file"], error["exit_code"]) == (str(run_dir / "metrics.json"), 2)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    assert not [p.name for p in run_dir.iterdir() if ".tmp-" in p.name]
