"""training.distribution: TF_CONFIG parsing, mirrored on logical CPUs, and a real two-worker run on 127.0.0.1.

Anything that configures TensorFlow's devices or starts a cluster runs in a
subprocess: logical devices and collective ops are process-global.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlcli.errors import ConfigError
from tests.conftest import CONFIGS, ROOT, assert_same_metrics, invoke

pytestmark = pytest.mark.slow  # multi-process: workers on 127.0.0.1, and mirrored runs

IRIS = CONFIGS / "iris.yaml"
TIMEOUT = 240


# --- TF_CONFIG, is_chief, worker_name ------------------------------------------------------------


@pytest.fixture
def multi_worker():
    from dlcli.config.load import load_config

    return load_config(IRIS, ["training.distribution=multi_worker"])


def set_tf_config(monkeypatch, value) -> None:
    monkeypatch.setenv("TF_CONFIG", json.dumps(value))


def cluster(kind: str, index: int, **members) -> dict:
    return {"cluster": members, "task": {"type": kind, "index": index}}


def config_error(exc_info) -> str:
    text = str(exc_info.value)
    assert text == "\n".join(exc_info.value.problems)
    return text


def tf_config_error(monkeypatch, value=None, *, raw: str | None = None) -> str:
    """The ConfigError that TF_CONFIG set to ``value`` (as JSON) or to ``raw`` text gives; it names TF_CONFIG."""
    from dlcli.training import distribution as distribute

    if raw is not None:
        monkeypatch.setenv("TF_CONFIG", raw)
    else:
        set_tf_config(monkeypatch, value)
    with pytest.raises(ConfigError) as exc:
        distribute.tf_config()
    text = config_error(exc)
    assert text.startswith("TF_CONFIG:")
    return text


def test_unset_tf_config_is_none_and_the_only_worker_is_chief(monkeypatch, multi_worker):
    from dlcli.training import distribution as distribute

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.tf_config() is None
    assert distribute.is_chief(multi_worker)
    assert distribute.worker_name(multi_worker) == "the only worker"


def test_empty_tf_config_counts_as_unset(monkeypatch, multi_worker):
    from dlcli.training import distribution as distribute

    monkeypatch.setenv("TF_CONFIG", "")
    assert distribute.tf_config() is None
    assert distribute.is_chief(multi_worker)


def test_malformed_json_is_a_config_error(monkeypatch):
    assert "not valid JSON" in tf_config_error(monkeypatch, raw='{"cluster": {"worker": ["a:1"]}, "task": ')


@pytest.mark.parametrize(
    "value",
    [
        {"task": {"type": "worker", "index": 0}},
        {"cluster": {"worker": ["a:1"]}},
        {},
        [1, 2],
        "worker",
    ],
    ids=["no-cluster", "no-task", "empty", "list", "string"],
)
def test_missing_cluster_or_task_is_a_config_error(monkeypatch, value):
    assert "needs a cluster mapping and a task mapping" in tf_config_error(monkeypatch, value)


@pytest.mark.parametrize(
    "value",
    [
        cluster("worker", 2, worker=["a:1", "b:2"]),
        cluster("worker", -1, worker=["a:1", "b:2"]),
        cluster("worker", "0", worker=["a:1"]),
        cluster("chief", 0, worker=["a:1"]),
        {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}},
    ],
    ids=["past-end", "negative", "string-index", "kind-not-in-cluster", "no-index"],
)
def test_task_outside_the_cluster_is_a_config_error(monkeypatch, value):
    assert "is not in the cluster" in tf_config_error(monkeypatch, value)


@pytest.mark.parametrize(
    "value",
    [
        {"cluster": {"worker": ["a:1"]}, "task": "worker"},
        {"cluster": ["a:1"], "task": {"type": "worker", "index": 0}},
    ],
    ids=["task-string", "cluster-list"],
)
def test_task_or_cluster_not_an_object_is_a_config_error(monkeypatch, value):
    tf_config_error(monkeypatch, value)  # names TF_CONFIG


def test_with_a_chief_entry_only_the_chief_is_chief(monkeypatch, multi_worker):
    from dlcli.training import distribution as distribute

    members = {"chief": ["c:1"], "worker": ["a:1", "b:2"]}
    set_tf_config(monkeypatch, cluster("chief", 0, **members))
    assert distribute.is_chief(multi_worker)
    assert distribute.worker_name(multi_worker) == "chief 0"
    for index in (0, 1):
        set_tf_config(monkeypatch, cluster("worker", index, **members))
        assert not distribute.is_chief(multi_worker), index
        assert distribute.worker_name(multi_worker) == f"worker {index}"


def test_with_workers_only_worker_0_is_chief(monkeypatch, multi_worker):
    from dlcli.training import distribution as distribute

    members = {"worker": ["a:1", "b:2"]}
    set_tf_config(monkeypatch, cluster("worker", 0, **members))
    assert distribute.is_chief(multi_worker)
    assert distribute.worker_name(multi_worker) == "worker 0"
    set_tf_config(monkeypatch, cluster("worker", 1, **members))
    assert not distribute.is_chief(multi_worker)
    assert distribute.worker_name(multi_worker) == "worker 1"


def test_tf_config_is_ignored_unless_multi_worker(monkeypatch):
    from dlcli.config.load import load_config
    from dlcli.training import distribution as distribute

    set_tf_config(monkeypatch, cluster("worker", 1, worker=["a:1", "b:2"]))
    for kind in ("none", "mirrored"):
        config = load_config(IRIS, [f"training.distribution={kind}"])
        assert distribute.is_chief(config), kind
        assert distribute.worker_name(config) == "the only worker", kind


# --- multi_worker without TF_CONFIG (in-process: fails before any strategy exists) ---------------


def test_multi_worker_without_tf_config_exits_2_and_writes_nothing(monkeypatch, write, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    text = IRIS.read_text()
    assert text.rstrip("\n").splitlines()[-1].startswith("  "), "iris.yaml no longer ends inside training:"
    config = write("mw.yaml", text.rstrip("\n") + "\n  distribution: multi_worker\n")
    line = len(config.read_text().splitlines())
    out = tmp_path / "runs"
    result = invoke("train", config, "--output-dir", out, "--set", "training.epochs=1")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"{config}:{line}:"), result.stderr
    assert "training.distribution: multi_worker needs TF_CONFIG" in result.stderr
    assert not out.exists() or not any(out.iterdir())


# --- subprocess helpers -----------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def dlcli_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def worker_config(ports: list[int], index: int) -> str:
    return json.dumps(cluster("worker", index, worker=[f"127.0.0.1:{p}" for p in ports]))


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []


def start(args, env, log_dir: Path, name: str) -> subprocess.Popen:
    """A dlcli subprocess with stdout/stderr in files (no pipe to fill while we poll)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(log_dir / f"{name}.out").open("w"),
        stderr=(log_dir / f"{name}.err").open("w"),
    )


def stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill that did not take
            pass
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def wait_all(procs, timeout: float) -> list[int | None]:
    """Wait for every process; stop the rest as soon as one fails or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [p.poll() for p in procs]
        if any(c not in (None, 0) for c in codes) or all(c is not None for c in codes):
            break
        time.sleep(0.2)
    codes = [p.poll() for p in procs]
    stop(procs)
    return codes


def logs(log_dir: Path, name: str) -> tuple[str, str]:
    return (log_dir / f"{name}.out").read_text(), (log_dir / f"{name}.err").read_text()


# --- mirrored on two logical CPUs -------------------------------------------------------------------


def mirrored(tmp_path, *overrides) -> tuple[int | None, str, str, Path]:
    """``dlcli train iris.yaml --json`` under mirrored on two logical CPUs: (rc, stdout, stderr, output dir)."""
    out = tmp_path / "runs"
    sets = [a for o in overrides for a in ("--set", o)]
    args = [
        "train", IRIS, "--output-dir", out, "--json",
        "--set", "training.distribution=mirrored", "--set", "training.cpu_devices=2", "--set", "training.epochs=3",
        *sets,
    ]  # fmt: skip
    proc = start(args, dlcli_env(), tmp_path, "mirrored")
    try:
        [code] = wait_all([proc], TIMEOUT)
    finally:
        stop([proc])
    return (code, *logs(tmp_path, "mirrored"), out)


def one_step_per_execution() -> list[str]:
    """``steps_per_execution=1``, which ``auto`` also resolves to under mirrored (test below)."""
    return ["training.steps_per_execution=1"]


def test_mirrored_on_two_logical_cpus(tmp_path):
    code, stdout, stderr, out = mirrored(tmp_path, *one_step_per_execution())
    assert code == 0, stderr[-3000:]
    payload = json.loads(stdout)
    run = Path(payload["run_dir"])
    assert run_dirs(out) == [run]
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "complete"
    assert state["epochs_done"] == 3
    assert len(state["weights_sha256"]) == 64
    env = json.loads((run / "environment.json").read_text())
    assert env["distribution"] == {"strategy": "mirrored", "replicas": 2, "worker": "the only worker"}
    saved = json.loads((run / "metrics.json").read_text())
    assert_same_metrics(payload["metrics"], saved)
    again = invoke("evaluate", run, "--json")
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], saved)


def test_mirrored_with_default_steps_per_execution(tmp_path):
    code, _stdout, stderr, _out = mirrored(tmp_path)
    assert code == 0, stderr[-3000:]


def test_mirrored_with_a_one_hot_loss_and_class_weights(tmp_path):
    """Keras's fit on the in-memory shuffle gets one-hot targets, weighed by class."""
    code, stdout, stderr, _out = mirrored(
        tmp_path, "loss=categorical_crossentropy", "training.class_weight=balanced", "training.epochs=20",
        "optimizer.learning_rate=0.05",
    )  # fmt: skip
    assert code == 0, stderr[-3000:]
    assert json.loads(stdout)["metrics"]["accuracy"] > 0.7


# --- two workers on 127.0.0.1 -----------------------------------------------------------------------


def two_workers(args, ports: list[int], log_dir: Path, scratch: Path) -> list[int | None]:
    """``dlcli ARGS`` as workers 0 and 1 of a cluster on ``ports`` (logs in ``log_dir``); their exit codes."""
    procs = []
    try:
        for index in (0, 1):
            env = dlcli_env(TF_CONFIG=worker_config(ports, index), TMPDIR=str(scratch))
            procs.append(start(args, env, log_dir, f"worker{index}"))
        return wait_all(procs, TIMEOUT)
    finally:
        stop(procs)


def test_two_workers_train_one_run(tmp_path):
    out = tmp_path / "runs"
    scratch = tmp_path / "tmp"  # the workers' TMPDIR: the non-chief's scratch folder goes here
    scratch.mkdir()
    shared_tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    before = set(shared_tmp.glob("dlcli-worker-*"))
    ports = free_ports(2)
    args = [
        "train", IRIS, "--output-dir", out,
        "--set", "training.distribution=multi_worker", "--set", "training.epochs=4",
        "--set", "training.checkpoint_every_seconds=0", "--set", "training.early_stopping=true",
        # iris.yaml has no validation split, which early stopping on val_loss needs
        "--set", "data.validation_split=0.1",
    ]  # fmt: skip
    began = time.monotonic()
    codes = two_workers(args, ports, tmp_path, scratch)
    wall = time.monotonic() - began
    (out0, err0), (out1, err1) = logs(tmp_path, "worker0"), logs(tmp_path, "worker1")
    print(f"two-worker wall time {wall:.1f}s")
    assert codes == [0, 0], f"codes {codes} after {wall:.1f}s\nworker 0:\n{err0[-3000:]}\nworker 1:\n{err1[-3000:]}"

    [run] = run_dirs(out)
    assert out0.strip().splitlines()[-1] == str(run), out0  # the chief prints its run directory
    assert str(out) not in out1  # worker 1 names no run directory
    state = json.loads((run / "run.json").read_text())
    finished = [line for line in err1.splitlines() if line.startswith("dlcli: worker 1 finished;")]
    assert finished == [
        f"dlcli: worker 1 finished; weights sha256 {state['weights_sha256']}; the chief writes the run directory"
    ], err1[-3000:]
    print(f"two-worker weights sha256 {state['weights_sha256']} ({wall:.1f}s)")

    assert state["status"] == "complete"
    assert 1 <= state["epochs_done"] <= 4
    assert state["stopped_early"] == (state["epochs_done"] < 4)
    history = (run / "history.csv").read_text().strip().splitlines()
    assert len(history) - 1 == state["epochs_done"], history
    assert "val_loss" in history[0].split(",")
    for name in ("metrics.json", "model.keras", "config.yaml", "labels.json"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints" / "state.json").exists()
    env = json.loads((run / "environment.json").read_text())
    assert env["distribution"] == {"strategy": "multi_worker", "replicas": 2, "worker": "worker 0"}

    again = invoke("evaluate", run, "--json")
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], json.loads((run / "metrics.json").read_text()))

    assert list(scratch.glob("dlcli-worker-*")) == []
    assert set(shared_tmp.glob("dlcli-worker-*")) <= before
    print(f"two-worker wall time {wall:.1f}s (ok)")


# --- multi_worker refuses streamed data (raised inside distribute.fit, so in a one-worker cluster) ---


@pytest.fixture(scope="module")
def streamed_multi_worker(tmp_path_factory):
    """``dlcli train`` of a streamed CSV under multi_worker, in a cluster of one worker: (rc, stderr, out dir)."""
    base = tmp_path_factory.mktemp("stream")
    out = base / "runs"
    args = [
        "train", CONFIGS / "churn_stream.yaml", "--output-dir", out,
        "--set", "training.distribution=multi_worker", "--set", "training.epochs=1",
    ]  # fmt: skip
    env = dlcli_env(TF_CONFIG=worker_config(free_ports(1), 0))
    proc = start(args, env, base, "stream")
    try:
        [code] = wait_all([proc], TIMEOUT)
    finally:
        stop([proc])
    return code, logs(base, "stream")[1], out


def test_multi_worker_refuses_streamed_data(streamed_multi_worker):
    code, stderr, _out = streamed_multi_worker
    assert code == 2, stderr[-3000:]
    assert (
        "--set training.distribution=multi_worker: training.distribution: "
        "multi_worker reads in-memory data; set data.streaming: false"
    ) in stderr.splitlines()


def test_multi_worker_streamed_data_leaves_no_run_directory(streamed_multi_worker):
    code, _stderr, out = streamed_multi_worker
    assert code == 2
    assert run_dirs(out) == []


def test_two_workers_with_a_one_hot_loss_and_class_weights(tmp_path):
    """The strategy.run loop one-hots nothing itself: it gets one-hot targets and weighs them by their class."""
    out = tmp_path / "runs"
    ports = free_ports(2)
    args = [
        "train", IRIS, "--output-dir", out, "--set", "training.distribution=multi_worker",
        "--set", "training.epochs=3", "--set", "loss=categorical_crossentropy",
        "--set", "training.class_weight=balanced", "--set", "data.validation_split=0.1",
    ]  # fmt: skip
    codes = two_workers(args, ports, tmp_path, tmp_path)
    assert codes == [0, 0], logs(tmp_path, "worker0")[1][-3000:] + logs(tmp_path, "worker1")[1][-3000:]
    [run] = run_dirs(out)
    history = (run / "history.csv").read_text().splitlines()
    assert "val_accuracy" in history[0].split(",")
    again = invoke("evaluate", run, "--json")
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], json.loads((run / "metrics.json").read_text()))
