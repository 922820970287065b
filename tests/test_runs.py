"""Atomic writes and the run-directory reader."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from dlcli.errors import OutputError, RunDirError
from dlcli.runs import store as runs
from dlcli.runs.run import Run


def test_atomic_write_replaces_whole_files(tmp_path):
    target = tmp_path / "metrics.json"
    runs.atomic_write_json(target, {"a": 1})
    runs.atomic_write_json(target, {"a": 2}, durable=False)
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_crash_before_the_rename_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text('{"old": true}')

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OutputError, match=f"^cannot write {target}: disk full$"):
        runs.atomic_write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_run_names_never_collide(tmp_path):
    first = Run.create(tmp_path, "x")
    second = Run.create(tmp_path, "x")
    assert first.path != second.path and first.path.name.startswith("x-") and second.path.is_dir()


def test_output_dir_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(RunDirError, match="cannot create"):
        Run.create(tmp_path / "f", "x")


def refuse_mkdir(monkeypatch, error=errno.EACCES, only_under=None):
    """Path.mkdir fails like a directory the user may not write (root bypasses a real chmod)."""
    real = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if only_under is None or self.parent == only_under:
            raise OSError(error, os.strerror(error), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)


def test_a_run_directory_denied_in_a_container_names_the_docker_fix(tmp_path, monkeypatch):
    """The first `docker run -v "$PWD/runs:/runs"`: Docker made runs/ as root, the image runs as uid 1000."""
    monkeypatch.setattr(runs, "in_container", lambda: True)
    refuse_mkdir(monkeypatch, only_under=tmp_path)
    with pytest.raises(RunDirError) as caught:
        Run.create(tmp_path, "x")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path}/x-") and ": cannot create the run directory: Permission denied; " in message
    assert f"; {tmp_path} belongs to uid {tmp_path.stat().st_uid} and uid {os.getuid()} cannot write to it: " in message
    assert 'mkdir -p) and run the container with --user "$(id -u):$(id -g)"' in message
    assert message.endswith(f"or make {tmp_path} writable")


def test_an_output_directory_denied_outside_a_container_names_the_nearest_existing_parent(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "in_container", lambda: False)
    refuse_mkdir(monkeypatch)
    with pytest.raises(RunDirError) as caught:
        Run.create(tmp_path / "a" / "runs", "x")
    assert str(caught.value) == (
        f"{tmp_path}/a/runs: cannot create the output directory: Permission denied; "
        f"{tmp_path} belongs to uid {tmp_path.stat().st_uid} and uid {os.getuid()} cannot write to it: "
        f"make {tmp_path} writable, or choose another --output-dir"
    )


def test_other_errors_creating_a_run_directory_get_no_permission_advice(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "in_container", lambda: True)
    refuse_mkdir(monkeypatch, error=errno.ENOSPC, only_under=tmp_path)
    with pytest.raises(RunDirError) as caught:
        Run.create(tmp_path, "x")
    assert str(caught.value).endswith(": cannot create the run directory: No space left on device")


def make_run(tmp_path, status="complete", files=("config.yaml", "model.keras", "metrics.json")):
    run = tmp_path / "r"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": status, "epochs_done": 2, "epochs_planned": 5}))
    for name in files:
        (run / name).write_text("x")
    return run


def test_open_run_accepts_only_complete_runs(tmp_path):
    assert runs.complete_run(make_run(tmp_path)) == tmp_path / "r"


@pytest.mark.parametrize("status", ["running", "interrupted", "failed"])
def test_open_run_refuses_incomplete_runs(tmp_path, status):
    with pytest.raises(RunDirError, match=f"run is {status} after 2 of 5 epochs"):
        runs.complete_run(make_run(tmp_path, status))


def test_open_run_refuses_a_complete_run_without_its_model(tmp_path):
    with pytest.raises(RunDirError, match="model.keras is missing"):
        runs.complete_run(make_run(tmp_path, files=("config.yaml", "metrics.json")))


def test_open_run_refuses_damaged_run_json(tmp_path):
    run = make_run(tmp_path)
    (run / "run.json").write_text("{not json")
    with pytest.raises(RunDirError, match="not valid JSON"):
        runs.complete_run(run)


def test_history_csv(tmp_path):
    run = Run(tmp_path)
    run.write_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    assert (tmp_path / "history.csv").read_text().splitlines() == ["epoch,loss,val_loss", "1,1.0,1.1", "2,0.5,0.7"]
