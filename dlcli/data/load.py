"""Load the data a config names and split it: ``load(config)`` -> ``Dataset`` (or ``StreamData``).

Each source module reads raw arrays (``read``) or, without loading them,
their shapes (``probe``); ``prepare`` infers the task, encodes classes and
makes the seeded splits. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dlcli.data import fingerprint, sources
from dlcli.data.base import Probe, RawData
from dlcli.data.prepare import prepare


def read(config) -> RawData:
    """The raw arrays of the config's data, before any split."""
    return sources.module(config.data.source).read(config)


def load(config, *, test_holes: bool = False):
    """Read, check, encode and split the data of ``config``.

    Returns a ``Dataset`` of in-memory arrays, or, for a CSV streamed from
    disk (``data.streaming``), a ``stream.StreamData``; both offer the same
    split interface (``info``, ``rows``, ``labels``, ``test``). ``test_holes`` keeps
    the in-memory test split's holes (NaN) unfilled.
    """
    module = sources.module(config.data.source)
    streams = getattr(module, "streams", None)
    if streams is not None and streams(config):
        from dlcli.data import stream

        return stream.scan(config)
    fingerprint.hash_in_background(config.data.files().values())
    return prepare(module.read(config), config, test_holes=test_holes)


def probe(config) -> Probe:
    """Shapes, task and number of classes, read cheaply (no TensorFlow, no full load when avoidable)."""
    return sources.module(config.data.source).probe(config)
