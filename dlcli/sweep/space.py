"""The search space: every ``sweep.params`` path checked against the config language, and samples as ``--set``s.

A path is read as ``--set`` reads it and walked through the config's sections,
so a misspelt key gets the same did-you-mean as anywhere else. Then each
extreme of a range and each choice is applied to the config and validated as
a file would be, so a range that leaves the language (dropout 1.5) is refused
before any trial runs. A sampled trial is a list of ``KEY=VALUE`` overrides:
``dlcli train CONFIG --set ...`` with them trains the same config.
"""

from __future__ import annotations

import contextlib
import copy
import json

import yaml
from pydantic import ValidationError

from dlcli import names
from dlcli.config.checks import check_config, logged_names
from dlcli.config.messages import describe, fields_at
from dlcli.config.resolve import resolve
from dlcli.config.schema import Config
from dlcli.config.yamlpos import Located, apply_overrides, format_path, parse_override
from dlcli.errors import ConfigError

# Sections that pass unknown keys to a Keras constructor ({name: ..., momentum: 0.9}).
PASSTHROUGH = (("optimizer",), ("loss",))


def override(key: str, value) -> str:
    """``KEY=VALUE`` as ``--set`` reads it back to the same value (floats keep their exponent's dot)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def check(config: Config, task: str, n_classes: int | None, spread=None) -> None:
    """Every problem of ``config.sweep`` against ``config`` and its data's task, as one ConfigError."""
    sweep = config.sweep
    problems = _metric(config, task)
    for key, spec in sweep.params.items():
        where = config.where(("sweep", "params", key), key=True)
        inside = [other for other in sweep.params if other != key and _within(key, other)]
        if inside:
            problems.append(
                f"{where}: sweep.params.{key}: is inside {inside[0]}, which is searched too; search one of them"
            )
            continue
        found = _path(config, key, where)
        if found:
            problems.append(found)
            continue
        problems += [p for value in spec.edges() if (p := _value(config, key, value, where, task, n_classes, spread))]
        if sweep.sampler.name == "grid" and spec.kind == "float" and spec.step is None:
            problems.append(f"{where}: sweep.params.{key}: the grid sampler needs a step for a float range, or choice:")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))


def _metric(config: Config, task: str) -> list[str]:
    sweep = config.sweep
    where = config.where(("sweep", "metric"))
    if config.training.cross_validation is not None or sweep.metric.startswith(CV):
        return _cv_metric(config, task, where)
    if not config.data.validates:
        return [
            f"{where}: sweep.metric: trials are compared on the validation split, and this config has none; "
            "set data.validation_split (e.g. 0.2) or data.validation_path"
        ]
    logged = [n for n in logged_names(config, task) if n.startswith("val_")]
    if names.monitor_logged_as(sweep.metric) in logged or sweep.metric in logged:
        return []
    hint = names.did_you_mean(sweep.metric, logged)
    return [
        f"{where}: sweep.metric: '{sweep.metric}' is not logged on the validation split{hint}; logged: {', '.join(logged)}"
    ]


CV = "cv_"


def _cv_metric(config: Config, task: str, where: str) -> list[str]:
    """With cross-validation a trial's value is a cross-validated metric (the mean over its held-out folds)."""
    sweep = config.sweep
    if config.training.cross_validation is None:
        return [
            f"{where}: sweep.metric: '{sweep.metric}' is a cross-validated metric and this config has no "
            "training.cross_validation; add it (e.g. cross_validation: {folds: 5}) or use a val_ metric"
        ]
    scored = [n for n in logged_names(config, task) if not n.startswith("val_")]
    own = ["mae", "rmse", "r2"] if task == "regression" else ["accuracy", "macro_precision", "macro_recall", "macro_f1"]
    shown = {"mean_absolute_error": "mae", "root_mean_squared_error": "rmse", "r2_score": "r2"}
    offered = [CV + n for n in dict.fromkeys([*(shown.get(n, n) for n in scored), *own])]
    if sweep.metric in offered:
        return []
    hint = names.did_you_mean(sweep.metric, offered)
    return [
        f"{where}: sweep.metric: with training.cross_validation a trial is judged by the mean of its held-out "
        f"folds, a cv_ metric{hint}; offered: {', '.join(offered)}"
    ]


def _within(key: str, other: str) -> bool:
    """Is ``key``'s path inside ``other``'s (``model.layers[0].units`` inside ``model.layers``)?"""
    with contextlib.suppress(ConfigError):
        path, outer = parse(key), parse(other)
        return len(path) > len(outer) and path[: len(outer)] == outer
    return False


def parse(key: str) -> tuple:
    """A param's key path: ``model.layers[0].units`` -> ("model", "layers", 0, "units")."""
    return parse_override(f"{key}=0")[0]


def _path(config: Config, key: str, where: str) -> str | None:
    """Why ``key`` is no key path of this config, or None."""
    try:
        path = parse(key)
    except ConfigError as exc:
        return f"{where}: sweep.params: {str(exc).split(': ', 1)[1].replace('--set', 'a sweep param')}"
    if path[0] == "sweep":
        return f"{where}: sweep.params.{key}: a sweep cannot search its own settings"
    node = config.model_dump(mode="json", by_alias=True)
    source = config.data.source
    for depth, part in enumerate(path):
        prefix = path[:depth]
        if isinstance(part, int):
            if not isinstance(node, list):
                return f"{where}: sweep.params.{key}: {format_path(prefix)} is not a list"
            if part >= len(node):
                return f"{where}: sweep.params.{key}: {format_path(prefix)} has {len(node)} item(s); index {part} is out of range"
            node = node[part]
            continue
        allowed = fields_at(prefix, source)
        section = tuple(p for p in prefix if not isinstance(p, int))
        if part not in allowed and section not in PASSTHROUGH:
            hint = names.did_you_mean(part, allowed)
            listing = f"; allowed: {', '.join(allowed)}" if allowed and not hint else ""
            inside = f" under {format_path(prefix)}" if prefix else ""
            return f"{where}: sweep.params.{key}: unknown key '{part}'{inside}{hint}{listing}"
        node = node.get(part) if isinstance(node, dict) else None
    return None


def _value(config: Config, key: str, value, where: str, task: str, n_classes, spread) -> str | None:
    """Why the config with ``key`` set to ``value`` is not a valid config, or None."""
    data = copy.deepcopy(config.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"sweep"}))
    located = Located(data=data, source="<sampled>")
    text = override(key, value)
    try:
        apply_overrides(located, [text])
        candidate = Config.model_validate(located.data)
        errors = [p for p in check_config(candidate) if p.severity == "error"]
        if errors:
            raise ConfigError([f"{format_path(p.path)}: {p.message}" for p in errors])
        resolve(candidate, task, n_classes, spread)
    except ValidationError as exc:
        return _located(where, key, value, describe(exc, located)[0])
    except ConfigError as exc:
        return _located(where, key, value, exc.problems[0])
    return None


def _located(where: str, key: str, value, message: str) -> str:
    for prefix in ("--set ", "<sampled>"):
        if message.startswith(prefix):
            message = message.split(": ", 1)[1] if ": " in message else message
    return f"{where}: sweep.params.{key}: the value {json.dumps(value)} does not fit: {message}"


def choice_values(choices: list) -> list:
    """Choices as Optuna stores them: numbers, names and booleans as they are, lists and mappings as JSON."""
    if all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
        return list(choices)
    return [json.dumps(c, sort_keys=True) for c in choices]


def decoded(spec, stored):
    """A stored choice back as the config value."""
    if spec.kind == "choice" and choice_values(spec.choice) != list(spec.choice):
        return json.loads(stored)
    return stored


def suggest(trial, params: dict) -> list[str]:
    """Sample every param on an Optuna trial; the ``--set`` overrides that make its config, in the params' order."""
    out = []
    for key, spec in params.items():
        if spec.kind == "choice":
            value = decoded(spec, trial.suggest_categorical(key, choice_values(spec.choice)))
        elif spec.kind == "int":
            low, high = spec.int_
            value = trial.suggest_int(key, low, high, log=spec.log, step=int(spec.step or 1))
        else:
            low, high = spec.float_
            value = trial.suggest_float(key, low, high, log=spec.log, step=spec.step)
        out.append(override(key, value))
    return out


def grid(params: dict) -> dict:
    """The grid sampler's search space: every value each param can take."""
    import numpy as np

    out = {}
    for key, spec in params.items():
        if spec.kind == "choice":
            out[key] = choice_values(spec.choice)
        elif spec.kind == "int":
            out[key] = list(range(spec.int_[0], spec.int_[1] + 1, int(spec.step or 1)))
        else:
            low, high = spec.float_
            out[key] = [float(v) for v in np.arange(low, high + spec.step / 2, spec.step)]
    return out
