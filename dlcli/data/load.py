"""Load the data a config names and split it: ``load(config)`` -> ``Dataset`` (or ``StreamData``).

Each source module reads raw arrays (``read``) or, without loading them,
their shapes (``probe``); ``prepare`` infers the task, encodes classes and
makes the seeded splits. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import replace

from dlcli.data import fingerprint, sources
from dlcli.data.base import Probe, RawData
from dlcli.data.prepare import own_numbers_units, prepare


def read(config) -> RawData:
    """The raw arrays of the config's data, before any split."""
    return sources.module(config.data.source).read(config)


def load(config, *, test_holes: bool = False, fold: int | None = None, raw: RawData | None = None):
    """Read, check, encode and split the data of ``config``.

    Returns a ``Dataset`` of in-memory arrays, or, for a CSV streamed from
    disk (``data.streaming``), a ``stream.StreamData``; both offer the same
    split interface (``info``, ``rows``, ``labels``, ``test``). ``test_holes`` keeps
    the in-memory test split's holes (NaN) unfilled. ``fold`` gives one cross-validation fold's data
    (``prepare``), from ``raw`` when the caller read it already.
    """
    module = sources.module(config.data.source)
    streams = getattr(module, "streams", None)
    if streams is not None and streams(config):
        from dlcli.data import stream

        return stream.scan(config)
    fingerprint.hash_in_background(config.data.files().values())
    return prepare(raw if raw is not None else module.read(config), config, test_holes=test_holes, fold=fold)


def probe(config) -> Probe:
    """Shapes, task and number of classes, as ``train`` will find them (no TensorFlow).

    A data file (a table or arrays) is read exactly as ``train`` reads it (in
    memory, or the streamed file's one checking pass): its categories, holes,
    task, classes and refusals depend on every cell and on the training split,
    and ``validate`` must print the model ``train`` builds and refuse what
    ``train`` refuses, with the same message. Named datasets (sklearn, keras,
    synthetic) are probed from their known shapes, without loading.

    Explicit output units above the classes counted may index whole-number
    labels directly (``prepare.units_beyond_labels``): only the labels can tell,
    so the data is then read as ``train`` reads it.
    """
    module = sources.module(config.data.source)
    if module.probe is None:  # a table or array file: read as train reads it
        dataset = load(config)
        info = dataset.info
        vocab = {column: len(categories) for column, categories in info.vocab.items()}
        return Probe(
            info.input_shape, info.task, info.n_classes, info.rows, vocab, info.task_reason, info.target_spread,
            dataset.streamed,
        )  # fmt: skip
    found = module.probe(config)
    out = config.model.output
    units = None if out == "auto" or out.units == "auto" else out.units
    if found.task != "multiclass" or units is None or units <= (found.n_classes or 0):
        return found
    if own_numbers_units(config, module.read(config), found.task) is None:
        return found
    return replace(found, n_classes=units)
