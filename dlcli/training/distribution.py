"""Where a run trains and who writes it (``training.distribution``), decided once per run.

- ``none``: one process, the device ``--device`` / ``training.device`` chose;
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over this machine's GPUs
  (or, without GPUs, over ``training.cpu_devices`` logical CPUs); Keras's
  ``model.fit`` runs under it unchanged;
- ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy``, configured
  by the standard ``TF_CONFIG``; ``multiworker`` holds its training loop.
  Only the chief writes the run directory.

``Placement`` is the decision (device, TensorFlow, strategy, chief, worker name); every run gets one.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

from dlcli.errors import ConfigError


@dataclass
class Placement:
    """Where a run trains: the device asked for, TensorFlow as imported for it, the strategy (None for none),
    whether this process is the chief (writes the run directory) and what to call it."""

    device: str
    tf: object
    strategy: object | None
    chief: bool
    worker: str

    def scope(self):
        """The strategy's scope (models and optimizers made under it are distributed), or nothing."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    @property
    def gpu(self) -> bool:
        return bool(self.tf.config.list_logical_devices("GPU"))

    def record(self, config) -> dict:
        """What environment.json keeps under ``distribution``."""
        return {"strategy": config.training.distribution, "replicas": self.replicas, "worker": self.worker}


def place(config, device: str) -> Placement:
    """Import TensorFlow for ``device`` and make the strategy (before any other op); the chief decided from TF_CONFIG."""
    from dlcli.device import import_tensorflow

    tf = import_tensorflow(device, cpu_devices=config.training.cpu_devices)
    return Placement(device, tf, strategy(tf, config), is_chief(config), worker_name(config))


def tf_config() -> dict | None:
    """The parsed ``TF_CONFIG``, or None when it is not set."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG: not valid JSON ({exc.msg} at character {exc.pos})") from None
    shape = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("cluster"), dict)
        or not isinstance(value.get("task"), dict)
    ):
        raise ConfigError(f"TF_CONFIG: needs a cluster mapping and a task mapping, e.g. {shape}")
    task = value["task"]
    kind, index = task.get("type"), task.get("index")
    members = value["cluster"].get(kind) if isinstance(kind, str) else None
    whole = isinstance(index, int) and not isinstance(index, bool)
    if not isinstance(members, list) or not whole or not 0 <= index < len(members):
        raise ConfigError(f"TF_CONFIG: task {kind!r} index {index!r} is not in the cluster {value['cluster']}")
    return value


def is_chief(config) -> bool:
    """Does this process write the run directory? (always, unless it is a non-chief worker of a cluster)"""
    if config.training.distribution != "multi_worker":
        return True
    spec = tf_config()
    if spec is None:
        return True
    task = spec["task"]
    if "chief" in spec["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def worker_name(config) -> str:
    spec = tf_config() if config.training.distribution == "multi_worker" else None
    return "the only worker" if spec is None else f"{spec['task']['type']} {spec['task']['index']}"


def strategy(tf, config):
    """The strategy for ``training.distribution`` (None for none); call right after importing TensorFlow."""
    kind = config.training.distribution
    if kind == "none":
        return None
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if tf_config() is None:
        raise ConfigError(
            config.problem(
                ("training", "distribution"),
                "multi_worker needs TF_CONFIG (the cluster and this worker's task); Kubeflow's TFJob sets it, "
                "see deploy/ and the README",
            )
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def check_data(config, dataset) -> None:
    """multi_worker trains on in-memory data (the stream's shuffle buffer is not sharded)."""
    if config.training.distribution == "multi_worker" and dataset.streamed:
        raise ConfigError(
            config.problem(("training", "distribution"), "multi_worker reads in-memory data; set data.streaming: false")
        )
