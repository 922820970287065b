"""The data sources and their registry: a module each for the named datasets and array files (config model,
dataset names, probe, reader), and one table source per table format (``formats``: csv, parquet, jsonl ...)."""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

from pydantic import create_model
from pydantic.fields import FieldInfo

from dlcli.data import formats, tablefile
from dlcli.data.sources import keras, npy, npz, sklearn, synthetic
from dlcli.data.table import TableSource
from dlcli.errors import DataError
from dlcli.strict import Strict

NAMED = (sklearn,)  # listed first, as dlcli has always listed them
MODULES: dict[str, ModuleType | TableSource] = {
    **{m.NAME: m for m in NAMED},
    **{name: TableSource(fmt) for name, fmt in formats.FORMATS.items()},
    **{m.NAME: m for m in (npz, npy, keras, synthetic)},
}
CONFIGS = {name: m.CONFIG for name, m in MODULES.items()}
NAMES = tuple(MODULES)
# file suffix -> source, to infer ``source`` from ``path`` and to read a file given to predict or evaluate
EXTENSIONS = {suffix: name for name, module in MODULES.items() for suffix in module.EXTENSIONS}
# The order of the ``data:`` keys in a saved config (every source's keys, as dlcli has always written them).
KEY_ORDER = (
    "source", "name", "path", "target", "features", "exclude", "y_path", "validation_path", "test_path", "delimiter", "decimal",
    "test_split",
    "validation_split", "normalize", "numeric", "scale", "categorical", "embedding", "unseen", "streaming", "missing",
    "missing_indicators",
    "target_missing",
    "scale_target",
    "n_samples", "noise", "seed",
)  # fmt: skip


def file_suffix(path: str | Path) -> str:
    """The suffix that names a file's source, compression aside (``.csv`` for ``a.csv.gz``)."""
    return tablefile.suffix(str(path))


def module(source: str) -> ModuleType | TableSource:
    """The module of ``source: <name>``."""
    return MODULES[source]


def keys(source: str | None = None) -> list[str]:
    """The ``data:`` keys ``source`` takes (every source's keys when None), in saved order."""
    taken = (
        set(CONFIGS[source].model_fields)
        if source in CONFIGS
        else {k for c in CONFIGS.values() for k in c.model_fields}
    )
    return [k for k in KEY_ORDER if k in taken]


def sources_taking(key: str) -> list[str]:
    """The sources that take ``key``."""
    return [name for name, config in CONFIGS.items() if key in config.model_fields]


def is_table(source: str) -> bool:
    return "target" in CONFIGS[source].model_fields


def for_file(path: str | Path, able: str) -> ModuleType | TableSource | None:
    """The source module that reads a file with this suffix and can ``able`` (``read_inputs``, ``scoring_data``)."""
    name = EXTENSIONS.get(file_suffix(path))
    return MODULES[name] if name is not None and hasattr(MODULES[name], able) else None


def table_files() -> str:
    """The table files dlcli reads, for messages: ``.csv, .tsv, .parquet, .jsonl or .ndjson``."""
    shown = [s for s in formats.suffixes() if s not in (".tab", ".txt", ".pq")]
    return f"{', '.join(shown[:-1])} or {shown[-1]}"


def readable_files() -> str:
    """The files dlcli reads rows from, for messages: ``.csv, .tsv, ..., .npz or .npy``."""
    shown = [s for s in EXTENSIONS if s not in (".tab", ".txt", ".pq")]
    return f"{', '.join(shown[:-1])} or {shown[-1]}"


def input_reader(path: str | Path) -> ModuleType | TableSource:
    """The source module that reads rows to predict on from ``path`` (by its suffix), or a DataError naming the kinds."""
    module = for_file(path, "read_inputs")
    if module is None:
        raise DataError(
            f"{path}: give a {readable_files()} file (a table may be compressed: .gz, .bz2, .zst, .xz, .zip)"
        )
    return module


@functools.cache
def any_source():
    """Every source's keys, all optional: what a ``data:`` section that names no valid source is checked against,
    so its other mistakes (an unknown key, a wrong type) are still reported."""
    fields = {}
    for key in KEY_ORDER[1:]:
        model = next(config for config in CONFIGS.values() if key in config.model_fields)
        field = model.model_fields[key]
        fields[key] = (field.annotation | None, FieldInfo.merge_field_infos(field, default=None))
    return create_model("AnySource", __base__=Strict, **fields)
