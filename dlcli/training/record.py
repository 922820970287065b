"""What a run's environment.json records: versions, devices, seed, the data's facts, execution, distribution."""

from __future__ import annotations

import platform
import sys

import numpy as np

from dlcli.data import target
from dlcli.model.columns import inputs_of
from dlcli.version import __version__


def environment(plan) -> dict:
    """What environment.json records of a ``Plan``: versions, devices, seed, data fingerprint, execution."""
    from importlib.metadata import version

    import keras

    from dlcli.device import describe

    tf, config, info = plan.placement.tf, plan.config, plan.dataset.info
    return {
        "dlcli": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "scikit_learn": version("scikit-learn"),
        "device_requested": plan.placement.device,
        "devices": describe(tf),
        "seed": config.seed,
        "data": data_facts(config, info),
        "execution": plan.execution.record(),
        "distribution": plan.placement.record(config),
        "argv": sys.argv,
    }


def data_facts(config, info) -> dict:
    """What environment.json's ``data`` records: the fingerprint, splits, features, task, fills, vocabularies,
    the raw-column inputs and the target's scale (what predict, serve and export read back)."""
    return {
        **info.fingerprint,
        "splits": info.splits,
        "input_shape": list(info.input_shape),
        "features": info.feature_names,
        "task": info.task,
        "task_reason": info.task_reason,
        "missing": config.data.missing,
        "fill": info.fill,
        "indicators": info.indicators,
        "vocab": info.vocab,
        "inputs": inputs_of(info.feature_names, info.input_shape, info.vocab, len(info.indicators)),
        "target_scale": target.record(config, info),
    }
