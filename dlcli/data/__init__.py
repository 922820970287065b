"""Load the data a config names and split it: ``load(config) -> Dataset``.

One module per source reads raw arrays (``read``) or, without loading them,
their shapes (``probe``); ``prepare`` infers the task, encodes classes and
makes the seeded splits. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dlcli.data.base import DataInfo, Dataset, Probe, RawData
from dlcli.data.prepare import prepare


def _source(name: str):
    if name == "sklearn":
        from dlcli.data import sklearn as mod
    elif name == "csv":
        from dlcli.data import csv as mod
    elif name == "npz":
        from dlcli.data import npz as mod
    else:  # the config's Literal makes this unreachable
        raise ValueError(f"unknown data source {name!r}")
    return mod


def read(config) -> RawData:
    """The raw arrays of the config's data, before any split."""
    return _source(config.data.source).read(config)


def load(config) -> Dataset:
    """Read, check, encode and split the data of ``config``."""
    return prepare(read(config), config)


def probe(config) -> Probe:
    """Shapes, task and number of classes, read cheaply (no TensorFlow, no full load when avoidable)."""
    return _source(config.data.source).probe(config)


__all__ = ["Dataset", "DataInfo", "Probe", "RawData", "load", "probe", "read"]
