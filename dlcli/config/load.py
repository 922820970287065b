"""Read a config: YAML with positions, ``--set`` overrides, upgrade, validation, checks, data paths.

``load_config`` is for a config a user wrote: every problem is raised at
once, located, and relative data paths are found (the config's folder first,
then the working directory). ``load_saved`` is for the config a run
directory keeps: it is upgraded to today's language and validated, but its
data files may be long gone; nothing that needs them is checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dlcli.config.checks import check_config
from dlcli.config.messages import describe, show
from dlcli.config.schema import Config
from dlcli.config.upgrade import CONFIG_VERSION, assumed_version, upgrade
from dlcli.config.yamlpos import Located, apply_overrides, format_path, load_yaml, read_config_text
from dlcli.errors import ConfigError
from dlcli.log import warn


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override and validate a config file; every problem found is raised at once."""
    return load_config_text(
        read_config_text(path), str(path), overrides, base_dir=Path(path).resolve().parent, stem=Path(path).stem
    )


def load_config_text(text: str, source: str, overrides=(), base_dir: Path | None = None, stem="config") -> Config:
    """Like :func:`load_config` for text that is not in a file (the embedded example)."""
    located = load_yaml(text, source)
    return config_from_located(
        located, overrides, base_dir=base_dir or Path.cwd(), stem=stem, version=assumed_version(text)
    )


def load_saved(path: str | Path) -> Config:
    """The config a run directory saved, upgraded from the version it was written in; paths not checked."""
    located = load_yaml(read_config_text(path), str(path))
    return _validated(located, assumed_version=0)


def _validated(located: Located, *, assumed_version: int) -> Config:
    if not isinstance(located.data, dict):
        what = "a list" if isinstance(located.data, list) else f"the value {show(located.data)}"
        raise ConfigError(
            f"{located.where(())}: a config is a mapping of keys (data, model, training, ...), got {what}"
        )
    located.data = upgrade(located.data, where=located.where(("config_version",)), assumed=assumed_version)
    try:
        config = Config.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, located)) from None
    return config.with_origin(located)


def config_from_located(
    located: Located, overrides, *, base_dir: Path, stem: str, version: int = CONFIG_VERSION
) -> Config:
    """A user's config: overrides applied, validated, cross-field checks run, name and data paths filled in."""
    if isinstance(located.data, dict):
        apply_overrides(located, list(overrides))
    config = _validated(located, assumed_version=version)
    problems = check_config(config)
    errors = [f"{located.where(p.path)}: {format_path(p.path)}: {p.message}" for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(errors)
    for p in problems:
        warn(f"{located.where(p.path)}: {format_path(p.path)}: warning: {p.message}")
    updates: dict[str, Any] = {}
    if config.name is None:
        updates["name"] = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "run"
    found = _found_paths(config.data, base_dir, located)
    if found:
        updates["data"] = config.data.model_copy(update=found)
    return config.copy_with(**updates) if updates else config


def _found_paths(data, base_dir: Path, located: Located) -> dict:
    """Relative data paths: the config file's folder first, then the working directory."""
    out = {}
    for key, value in data.files().items():
        p = Path(value).expanduser()
        candidates = [p] if p.is_absolute() else [base_dir / p, Path.cwd() / p]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            where = located.where(("data", key))
            tried = " or ".join(dict.fromkeys(str(c.resolve()) for c in candidates))
            raise ConfigError(
                f"{where}: data.{key}: file not found: '{value}' (looked for {tried}); {_download_hint(p.name)}"
            )
        if found.is_dir():
            raise ConfigError(f"{located.where(('data', key))}: data.{key}: '{value}' is a directory; give a file")
        out[key] = str(found.resolve())
    return out


def _download_hint(filename: str) -> str:
    keras_files = {"mnist.npz": "mnist", "boston_housing.npz": "boston_housing"}
    if filename in keras_files:
        name = keras_files[filename]
        return f'download it once with: python -c "import keras; keras.datasets.{name}.load_data()" (saves ~/.keras/datasets/{filename})'
    return "fix the path"
