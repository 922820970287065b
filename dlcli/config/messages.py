"""pydantic's validation errors as located one-liners: the place, the key path, what was wrong and what fits."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from dlcli import names
from dlcli.config import elsewhere
from dlcli.config.schema import Config
from dlcli.config.yamlpos import Located, format_path
from dlcli.data import sources


def describe(exc: ValidationError, located: Located) -> list[str]:
    """Every error of ``exc`` as ``FILE:LINE:COL: key.path: message``, each once."""
    lines = []
    errors = _misspelt_not_missing(exc.errors(include_url=False))
    for err in errors:
        loc, source = _untagged(err["loc"])
        if loc == ("data",) and err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path, message = _data_source(err["input"])
            lines.append(f"{located.where(path)}: {format_path(path)}: {message}")
            lines += _keys_of_any_source(err["input"], located)
            continue
        path = _data_path(loc, located.data, source)
        message = _message(err, path, source)
        key = err["type"] == "extra_forbidden" and not message.startswith("not used by source")
        lines.append(f"{located.where(path, key=key)}: {format_path(path) or '(top level)'}: {message}")
    return list(dict.fromkeys(lines))


def _misspelt_not_missing(errors: list[dict]) -> list[dict]:
    """Under ``data:``, a required key reported missing next to an unknown key that is its misspelling
    (``nmae`` for ``name``) is one mistake: keep the did-you-mean line only."""
    meant = set()
    for err in errors:
        loc, source = _untagged(err["loc"])
        if err["type"] == "extra_forbidden" and source and len(loc) == 2:
            meant.add((source, names.closest(str(loc[1]), sources.keys(source))))

    def misspelt(err: dict) -> bool:
        loc, source = _untagged(err["loc"])
        return err["type"] == "missing" and len(loc) == 2 and (source, loc[1]) in meant

    return [e for e in errors if not misspelt(e)]


def _keys_of_any_source(value, located: Located) -> list[str]:
    """The other mistakes of a ``data:`` mapping whose source is missing or wrong, checked against every key."""
    if not isinstance(value, dict):
        return []
    try:
        sources.any_source().model_validate({k: v for k, v in value.items() if k != "source"})
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            path = _data_path(("data", *err["loc"]), located.data)
            key = err["type"] == "extra_forbidden"
            out.append(f"{located.where(path, key=key)}: {format_path(path)}: {_message(err, path)}")
        return out
    return []


def _untagged(loc: tuple) -> tuple[tuple, str | None]:
    """``loc`` without the source tag pydantic puts after ``data`` (``("data", "csv", "path")``), and that source."""
    if len(loc) > 1 and loc[0] == "data" and loc[1] in sources.CONFIGS:
        return (loc[0], *loc[2:]), loc[1]
    return tuple(loc), None


def _data_source(value) -> tuple[tuple, str]:
    """(path, message) when ``data:`` names no source, a wrong one, or is not a mapping at all."""
    if not isinstance(value, dict):
        return ("data",), f"expected a mapping with keys {', '.join(sources.keys())}; got {show(value)}"
    if "source" not in value:
        return ("data", "source"), "required key is missing" + _missing_hint(("data", "source"))
    given = value["source"]
    hint = names.did_you_mean(str(given), sources.NAMES) if isinstance(given, str) else ""
    return ("data", "source"), f"expected one of {', '.join(sources.NAMES)}; got {show(given)}{hint}"


def _data_path(loc, data, source: str | None = None) -> tuple:
    """Drop pydantic's union tags from ``loc``, keeping the parts that exist in the data."""
    path = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part in fields_at(tuple(path), source):
            path.append(part)  # a missing key
            node = None
    return tuple(path)


def _message(err: dict, path: tuple, source: str | None = None) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if source is not None and len(path) == 2:
        about_source = _source_key(kind, path[1], source)
        if about_source:
            return about_source
    if kind == "extra_forbidden":
        return _unknown_key(str(path[-1]), path[:-1], source)
    if kind == "missing":
        return "required key is missing" + _missing_hint(path)
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if options == ["auto"]:
            other = "a list of metric names" if path[-1:] == ("metrics",) else "a mapping {units, activation}"
            return f"expected auto or {other}; got {show(value)}"
        hint = names.did_you_mean(str(value), options) if isinstance(value, str) else ""
        return f"expected one of {', '.join(options)}; got {show(value)}{hint}"
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        return msg
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        keys = fields_at(path, source)
        if keys == ["name"] or "name" in keys and path and path[-1] in ("loss", "optimizer"):
            return f"expected a name or a mapping {{name: ..., ...}}; got {show(value)}"
        listing = f" with keys {', '.join(keys)}" if keys else ""
        return f"expected a mapping{listing}; got {show(value)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"expected a name or a mapping {{name: ..., ...}}; got {show(value)}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        what = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "string": "a string",
            "list": "a list",
            "dict": "a mapping",
        }
        base = kind.split("_")[0]
        return f"expected {what.get(base, base)}; got {show(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound}; got {show(value)}"
    return f"{err['msg']}; got {show(value)}"


def _unknown_key(key: str, parent: tuple, source: str | None) -> str:
    """A key this section does not take: where it belongs when another section takes it (``training.learning_rate``
    is ``optimizer.learning_rate``) or a Keras name's place, else the closest key here, else the closest key
    anywhere, else what is allowed."""
    allowed = fields_at(parent, source)
    hint = names.did_you_mean(key, allowed) if allowed else ""
    other = elsewhere.belongs(key, parent) or elsewhere.keras(key, parent)  # an exact Keras name beats a close key
    if other:
        return other
    hint = hint or elsewhere.closest(key)
    listing = f"; allowed: {', '.join(allowed)}" if allowed and not hint else ""
    return f"unknown key '{key}'{hint}{listing}"


def show(value) -> str:
    """A value as an error message quotes it (cut at 60 characters)."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _source_key(kind: str, key: str, source: str) -> str | None:
    """A ``data:`` key that ``source`` needs but lacks, or has but does not take (when another source does)."""
    model = sources.CONFIGS[source]
    if kind == "missing" and key in model.model_fields:
        examples = model.model_fields[key].examples
        example = f" (e.g. {key}: {examples[0]})" if examples else ""
        return f"source '{source}' needs '{key}'{example}"
    if kind == "extra_forbidden" and sources.sources_taking(key):
        return f"not used by source '{source}'; remove it"
    return None


def _missing_hint(path: tuple) -> str:
    if path == ("data",):
        return "; say where the data comes from, e.g. data: {source: sklearn, name: digits}"
    if path == ("data", "source"):
        suffixes = ", ".join(sorted(sources.EXTENSIONS))
        return f"; one of {', '.join(sources.NAMES)}, or a path ending in {suffixes}"
    if path[-1:] == ("units",):
        return "; give the number of units, e.g. {units: 64}"
    return ""


def fields_at(path: tuple, source: str | None = None) -> list[str]:
    """The keys allowed at ``path`` in a config (empty when not a section); under ``data``, those of ``source``."""
    model: Any = Config
    for depth, part in enumerate(path):
        if isinstance(part, int):
            continue
        if depth == 0 and part == "data":
            if len(path) == 1:
                return sources.keys(source)
            model = sources.CONFIGS.get(source)
            continue
        field = model.model_fields.get(part) if isinstance(model, type) else None
        if field is None:
            return []
        model = _find_model(field.annotation)
        if model is None:
            return []
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _find_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _find_model(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    if origin is Annotated:
        return _find_model(annotation.__origin__)
    return None
