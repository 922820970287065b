"""Read YAML while keeping where each value came from, and apply ``--set`` overrides.

``yaml.safe_load`` forgets positions; composing the node tree first keeps a
``FILE:LINE:COL`` for every key and value, so any later error can point at
the place a user has to edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import ConfigError

Path_ = tuple  # a key path such as ("model", "layers", 1, "units")


@dataclass
class Located:
    """Parsed YAML data plus the position of every key path in it."""

    data: Any
    source: str
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    overrides: dict[Path_, str] = field(default_factory=dict)

    def where(self, path: Path_, *, key: bool = False) -> str:
        """``FILE:LINE:COL`` (or ``--set K=V``) of the nearest known ancestor of ``path``."""
        path = tuple(path)
        for i in range(len(path), -1, -1):
            prefix = path[:i]
            if prefix in self.overrides:
                return f"--set {self.overrides[prefix]}"
            table = self.keys if key and i == len(path) else self.values
            if prefix in table:
                line, col = table[prefix]
                return f"{self.source}:{line}:{col}"
            if prefix in self.values:
                line, col = self.values[prefix]
                return f"{self.source}:{line}:{col}"
        return self.source


def format_path(path: Path_) -> str:
    """``("model", "layers", 1, "units")`` -> ``model.layers[1].units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


EMPTY = "the file is empty; a config needs at least a data section, e.g. data: {source: sklearn, name: digits}"


def _at(source: str, mark) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source


def load_yaml(text: str, source: str) -> Located:
    """Parse one YAML document with positions; syntax errors become ConfigError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.composer.ComposerError as exc:
        if "another document" in str(exc.problem):
            raise ConfigError(
                f"{_at(source, exc.problem_mark)}: YAML syntax error: a second document starts here; a config is one document"
            ) from None
        raise ConfigError(f"{_at(source, exc.problem_mark)}: YAML error: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "invalid YAML"
        opened = ""
        if (
            exc.context_mark is not None
            and exc.problem_mark is not None
            and exc.context_mark.line != exc.problem_mark.line
        ):
            opened = f" ({exc.context} at line {exc.context_mark.line + 1})" if exc.context else ""
        raise ConfigError(
            f"{_at(source, exc.problem_mark or exc.context_mark)}: YAML syntax error: {problem}{opened}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    located = Located(data=None, source=source)
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        raise ConfigError(f"{source}: {EMPTY}")
    problems: list[str] = []
    _walk(node, (), located, problems, [0], set())
    if problems:
        raise ConfigError(problems)
    try:
        located.data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:  # compose accepted it, construction did not (e.g. a bad timestamp)
        raise ConfigError(
            f"{_at(source, exc.problem_mark or exc.context_mark)}: YAML error: {exc.problem or exc.context}"
        ) from None
    return located


MAX_NODES = 10_000
MAX_DEPTH = 50
MAX_BYTES = 1 << 20
PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}


def _walk(node, path, located: Located, problems: list[str], count: list[int], open_nodes: set[int]) -> None:
    count[0] += 1
    where = _at(located.source, node.start_mark)
    if count[0] > MAX_NODES:
        raise ConfigError(
            f"{where}: more than {MAX_NODES:,} values once aliases are expanded; "
            "a config is small (is this an alias bomb?)"
        )
    if len(path) > MAX_DEPTH:
        raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep; a config is shallow")
    if id(node) in open_nodes:
        raise ConfigError(f"{where}: {format_path(path) or '(top level)'}: an alias refers to itself")
    if node.tag not in PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        problems.append(
            f"{where}: {format_path(path) or '(top level)'}: the tag {tag} is not allowed; a config holds plain values"
        )
        return
    located.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        return
    open_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key_where = _at(located.source, key_node.start_mark)
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    f"{key_where}: {format_path(path) or '(top level)'}: merge keys (<<) are not supported; write the keys out"
                )
                continue
            if key_node.tag not in PLAIN_TAGS:
                tag = key_node.tag.replace("tag:yaml.org,2002:", "!!")
                problems.append(
                    f"{key_where}: {format_path(path) or '(top level)'}: the tag {tag} is not allowed; "
                    "a config holds plain values"
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(f"{key_where}: {format_path(path) or '(top level)'}: keys must be plain names")
                continue
            key = _construct(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    f"{key_where}: {format_path(path + (key,))}: duplicate key '{key}' (first given on line {seen[key]}); keep one"
                )
                continue
            seen[key] = line
            located.keys[path + (key,)] = (line, key_node.start_mark.column + 1)
            _walk(value_node, path + (key,), located, problems, count, open_nodes)
    else:
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), located, problems, count, open_nodes)
    open_nodes.discard(id(node))


def _construct(node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\.)")


def parse_override(text: str) -> tuple[Path_, Any]:
    """``model.layers[1].units=32`` -> (("model", "layers", 1, "units"), 32); the value is YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. --set training.epochs=5")
    key = key.strip()
    path: list[Any] = []
    pos = 0
    expect_name = True
    while pos < len(key):
        match = _TOKEN.match(key, pos)
        if not match:
            raise ConfigError(f"--set {text}: cannot read key path '{key}' at '{key[pos:]}'; use a.b[0].c")
        name, index, dot = match.groups()
        if name is not None:
            if not expect_name:
                raise ConfigError(f"--set {text}: cannot read key path '{key}'; use a.b[0].c")
            path.append(name)
            expect_name = False
        elif index is not None:
            if not path:
                raise ConfigError(f"--set {text}: a key path starts with a name; use a.b[0].c")
            path.append(int(index))
        else:
            if expect_name:
                raise ConfigError(f"--set {text}: empty key name in '{key}'; use a.b[0].c")
            expect_name = True
        pos = match.end()
    if expect_name:
        raise ConfigError(f"--set {text}: key path '{key}' ends with '.'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return tuple(path), value


def apply_overrides(located: Located, overrides: list[str]) -> None:
    """Apply ``--set`` overrides to the parsed data, remembering which paths they set."""
    if not isinstance(located.data, dict):
        return
    for text in overrides:
        path, value = parse_override(text)
        node = located.data
        for depth, part in enumerate(path[:-1]):
            nxt = path[depth + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    size = len(node) if isinstance(node, list) else 0
                    raise ConfigError(
                        f"--set {text}: {format_path(path[:depth])} has {size} item(s); index {part} is out of range"
                    )
            else:
                if not isinstance(node, dict):
                    raise ConfigError(f"--set {text}: {format_path(path[:depth])} is not a mapping")
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
        last = path[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise ConfigError(
                    f"--set {text}: {format_path(path[:-1])} has {size} item(s); index {last} is out of range"
                )
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {text}: {format_path(path[:-1])} is not a mapping")
        node[last] = value
        for depth in range(1, len(path) + 1):
            if path[:depth] not in located.values:
                located.overrides.setdefault(path[:depth], text)
        located.overrides[path] = text


def read_config_text(path: str | Path) -> str:
    """The text of a config file, or a ConfigError saying why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{path}: config file not found; check the path")
    if p.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file; give a .yaml file")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes; a config is at most 1 MiB (is this the data file?)")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; a config is a YAML text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
