"""Load the data a config names and split it: ``load(config) -> Dataset``.

One module per source reads raw arrays (``read``) or, without loading them,
their shapes (``probe``); ``prepare`` infers the task, encodes classes and
makes the seeded splits. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dlcli.data.base import DataInfo, Dataset, Probe, RawData
from dlcli.data.prepare import prepare

MODULES = {
    "sklearn": "sklearn",
    "csv": "table",
    "parquet": "table",
    "npz": "npz",
    "npy": "npz",
    "keras": "keras_datasets",
    "synthetic": "synthetic",
}


def _source(name: str):
    """The module that reads ``source: name`` (imported only when used)."""
    import importlib  # noqa: PLC0415

    return importlib.import_module(f"dlcli.data.{MODULES[name]}")


def read(config) -> RawData:
    """The raw arrays of the config's data, before any split."""
    return _source(config.data.source).read(config)


def load(config):
    """Read, check, encode and split the data of ``config``.

    Returns a ``Dataset`` of in-memory arrays, or, for a CSV streamed from
    disk (``data.streaming``), a ``stream.StreamData`` with the same ``info``.
    """
    from dlcli.data import stream  # noqa: PLC0415
    from dlcli.data.base import hash_in_background  # noqa: PLC0415

    if stream.wanted(config):
        return stream.scan(config)
    data = config.data
    hash_in_background([data.path, data.y_path, data.validation_path, data.test_path])
    return prepare(read(config), config)


def probe(config) -> Probe:
    """Shapes, task and number of classes, read cheaply (no TensorFlow, no full load when avoidable)."""
    return _source(config.data.source).probe(config)


__all__ = ["Dataset", "DataInfo", "Probe", "RawData", "load", "probe", "read"]
