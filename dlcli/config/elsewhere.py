"""Keys put in the wrong section: where each key of the config language lives, for a did-you-mean across sections.

A Keras script spreads its settings over ``fit()``, ``compile()`` and the
optimizer's constructor; a config puts them in sections. ``training:
{validation_split: 0.2}`` is then not an unknown key but a key in the wrong
place, and the message says where it goes.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from dlcli import names
from dlcli.config.yamlpos import format_path

# Keras names that are not dlcli keys, and what dlcli has instead (the path where the setting goes).
KERAS = {
    "lr": ("optimizer", "learning_rate"),
    "validation_data": ("data", "validation_path"),
    "test_size": ("data", "test_split"),
    "loss_function": ("loss",),
    "lr_schedule": ("optimizer", "schedule"),
    "learning_rate_schedule": ("optimizer", "schedule"),
    "hidden_layers": ("model", "layers"),
}
# Keyword arguments dlcli passes to the Keras optimizer or loss unchanged: {name: ..., key: value}.
OPTIMIZER_PARAMS = (
    "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "weight_decay", "rho", "amsgrad", "use_ema",
    "ema_momentum", "initial_accumulator_value",
)  # fmt: skip
LOSS_PARAMS = ("from_logits", "label_smoothing", "delta", "reduction")
# fit() settings with no key: what to do instead.
NO_KEY = {
    "verbose": "progress is set on the command line: dlcli train --quiet",
    "callbacks": "dlcli's callbacks are keys of training: early_stopping, reduce_lr_on_plateau, checkpoint, "
    "tensorboard",
    "shuffle": "dlcli shuffles the training split every epoch, seeded by seed:",
}


def belongs(key: str, parent: tuple) -> str | None:
    """``KEY belongs under SECTION: (PATH)`` when ``key``, unknown under ``parent``, is a key of other sections."""
    here = _section(parent)
    places = [p for p in where(key) if _section(p[:-1]) != here]
    return f"{key} belongs {_under(places)}" if places else None


def keras(key: str, parent: tuple) -> str | None:
    """What a Keras ``fit()``/``compile()``/optimizer name that is no dlcli key is here, or None."""
    here = _section(parent)
    if key in KERAS and _section(KERAS[key][:-1]) != here:
        return f"'{key}' is Keras's name; dlcli's is {format_path(KERAS[key])}"
    for section, params in (("optimizer", OPTIMIZER_PARAMS), ("loss", LOSS_PARAMS)):
        if key in params and here != (section,):
            return f"{key} belongs under {section}: ({section}: {{name: ..., {key}: ...}})"
    if key in NO_KEY:
        return f"unknown key '{key}'; {NO_KEY[key]}"
    return None


def closest(key: str) -> str:
    """`` (did you mean PATH?)`` for the key of any section closest to ``key``, or an empty string."""
    guess = names.closest(key, index())
    if guess is None or guess == key:
        return ""
    return f" (did you mean {' or '.join(_shown(p) for p in index()[guess][:2])}?)"


def where(key: str) -> list[tuple]:
    """Every path where ``key`` is valid (list items as ``[0]``), top level first."""
    return index().get(key, [])


def _under(places: list[tuple]) -> str:
    parts = []
    for path in places[:3]:
        parent = path[:-1]
        parts.append(f"at the top level ({path[0]}:)" if not parent else f"under {_shown(parent)}: ({_shown(path)})")
    return " or ".join(parts)


def _shown(path: tuple) -> str:
    return format_path(path)


def _section(path: tuple) -> tuple:
    """``path`` without list indices: ``model.layers[3]`` and ``model.layers[0]`` are the same section."""
    return tuple(p for p in path if not isinstance(p, int))


@functools.cache
def index() -> dict[str, list[tuple]]:
    """Key -> the paths where it is valid, found by walking the config's models (every data source's too)."""
    from dlcli.config.schema import Config
    from dlcli.data import sources

    found: dict[str, list[tuple]] = {}

    def add(path: tuple) -> None:
        places = found.setdefault(path[-1], [])
        if path not in places:
            places.append(path)

    def walk(model: type[BaseModel], prefix: tuple, depth: int = 0) -> None:
        for key, field in model.model_fields.items():
            path = (*prefix, key)
            add(path)
            if prefix == () and key == "data":
                for config in sources.CONFIGS.values():
                    walk(config, ("data",), depth + 1)
                continue
            inner, listed = _model_of(field.annotation)
            if inner is not None and depth < 4:
                walk(inner, (*path, 0) if listed else path, depth + 1)

    walk(Config, ())
    return found


def _model_of(annotation: Any, listed: bool = False) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model inside a field's annotation, and whether it is the item of a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, listed
    origin = getattr(annotation, "__origin__", None)
    inner = [origin] if origin is not None and not isinstance(origin, type) else []
    for arg in [*inner, *(getattr(annotation, "__args__", ()) or ())]:
        found = _model_of(arg, listed or origin is list)
        if found[0] is not None:
            return found
    return None, listed
