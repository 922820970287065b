"""Versions of the config language, and the one function that brings an older config up to date.

A config saved in a run directory carries ``config_version``; one written
before versions existed has none and is version 0 (it starts with
``SAVED_HEADER``, so training such a file again reads it as version 0 too). A
file a user writes may leave the version out: it is then taken to be in
today's language. ``upgrade`` runs
the steps from the config's version to ``CONFIG_VERSION`` one by one, so a
key renamed in a later version is renamed in an old run's config, never
rejected as unknown.
"""

from __future__ import annotations

from collections.abc import Callable

from dlcli.errors import ConfigError

CONFIG_VERSION = 3
SAVED_HEADER = "# Resolved by dlcli: every default filled in. `dlcli train` on this file repeats the run.\n"
# data: keys version 0 accepted on every source and ignored where the source did not use them (it wrote
# unseen and streaming into every saved config); the keys it refused on the wrong source stay errors.
V0_IGNORED = ("categorical", "embedding", "unseen", "streaming")


def assumed_version(text: str) -> int:
    """The version of a config file that names none: 0 for one dlcli saved in a run directory, else today's."""
    return 0 if text.startswith(SAVED_HEADER.split(":")[0]) else CONFIG_VERSION


def _v0_to_v1(data: dict) -> dict:
    """From version 1 each source takes only its own keys; drop those version 0 ignored on this source."""
    from dlcli.data import sources

    section = data.get("data")
    source = section.get("source") if isinstance(section, dict) else None
    if source in sources.CONFIGS:
        taken = set(sources.keys(source))
        data["data"] = {k: v for k, v in section.items() if k in taken or k not in V0_IGNORED}
    return data


def _v1_to_v2(data: dict) -> dict:
    """Version 2 scales a regression target by default (``data.scale_target: auto``); version 1 never did."""
    section = data.get("data")
    if isinstance(section, dict):
        section.setdefault("scale_target", False)
    return data


def _v2_to_v3(data: dict) -> dict:
    """Version 3 gives a config that leaves out its layers the recommended network (``config.recipe``), may
    scale numbers robustly and fill holes by default; a version-2 config keeps what version 2 trained: its
    default layers (64, 64), standard scaling, holes an error."""
    section = data.get("data")
    if isinstance(section, dict):
        section.setdefault("numeric", "standard")
        section.setdefault("missing", "error")
    model = data.get("model")
    if model is None:
        data["model"] = model = {}
    if isinstance(model, dict):
        model.setdefault("layers", [{"units": 64}, {"units": 64}])
    return data


# version -> the step that turns a config of that version into the next
STEPS: dict[int, Callable[[dict], dict]] = {0: _v0_to_v1, 1: _v1_to_v2, 2: _v2_to_v3}


def upgrade(data: dict, *, where: str, assumed: int = CONFIG_VERSION) -> dict:
    """``data`` (a parsed config mapping) in today's language; ``assumed`` is the version when it names none.

    ``where`` locates errors (a config from a newer dlcli, or a version that is not a number).
    """
    version = data.get("config_version", assumed)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ConfigError(f"{where}: config_version: expected a whole number >= 0; got {version!r}")
    if version > CONFIG_VERSION:
        raise ConfigError(
            f"{where}: config_version: {version} was written by a newer dlcli (this one reads up to "
            f"{CONFIG_VERSION}); upgrade dlcli"
        )
    while version < CONFIG_VERSION:
        data = STEPS[version](data)
        version += 1
    return {"config_version": CONFIG_VERSION, **{k: v for k, v in data.items() if k != "config_version"}}
