"""The code's layout: imports go one way (no cycles, function-level imports included), TensorFlow only where
it is needed, modules of a readable size, and every data source module complete."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dlcli"
MAX_LINES = 400
# Modules that import Keras or TensorFlow at module level; everything else imports them inside functions.
TENSORFLOW_AT_IMPORT = {"dlcli.layers", "dlcli.model.schedules", "dlcli.training.callbacks"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(node: ast.AST) -> list[str]:
    """The dlcli modules an import statement imports (``from a import b``: ``a.b`` when that is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "dlcli"]
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dlcli":
        out = []
        for alias in node.names:
            child = f"{node.module}.{alias.name}"
            out.append(child if child in MODULES else node.module)
        return out
    return []


def graph() -> dict[str, set[str]]:
    """Module -> the dlcli modules it imports, anywhere in its body."""
    edges = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges[name] = {target for node in ast.walk(tree) for target in imported(node) if target != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first search (each reported once, from its smallest module)."""
    found = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                loop = path[path.index(nxt) :]
                start = loop.index(min(loop))
                found.add(tuple(loop[start:] + loop[:start]))
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return [[*c, c[0]] for c in sorted(found)]


def test_the_import_graph_has_no_cycles():
    edges = graph()
    assert sum(len(v) for v in edges.values()) > 100  # the parser sees the imports (function-level ones too)
    assert "dlcli.training.fit" in edges["dlcli.training.runner"]  # a function-level import
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def package(module: str) -> str:
    """The package a module belongs to: ``dlcli.training`` for ``dlcli.training.fit``; a top-level module
    (``dlcli.cli``) is its own, and so is the root ``dlcli``."""
    return ".".join(module.split(".")[:2])


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package -> the packages its modules import (function-level imports included), itself left out."""
    out: dict[str, set[str]] = {}
    for source, targets in edges.items():
        mine = package(source)
        out.setdefault(mine, set()).update(package(t) for t in targets if package(t) != mine)
    return out


def test_the_package_graph_has_no_cycles():
    """config, data, model, training, runs, observers, export, serving, sweep ... import one way."""
    packages = package_graph(graph())
    assert {"dlcli.config", "dlcli.data", "dlcli.training", "dlcli.runs", "dlcli.sweep"} <= set(packages)
    assert "dlcli.data" in packages["dlcli.training"] and "dlcli.runs" in packages["dlcli.training"]
    found = cycles(packages)
    assert not found, "package loops:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_package_graph_is_layered_as_the_architecture_says():
    """The ground floor imports nothing of dlcli; data and config never import training or runs."""
    packages = package_graph(graph())
    ground = {"dlcli.names", "dlcli.log", "dlcli.errors", "dlcli.text", "dlcli.version", "dlcli.strict"}
    for name in ground:
        assert packages.get(name, set()) <= ground, name
    for lower in ("dlcli.data", "dlcli.config", "dlcli.model"):
        assert not packages[lower] & {"dlcli.training", "dlcli.runs", "dlcli.observers", "dlcli.sweep"}, lower


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_only_the_training_side_imports_tensorflow_at_module_level():
    heavy = set()
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] in ("tensorflow", "keras") for n in names):
                heavy.add(name)
    assert heavy == TENSORFLOW_AT_IMPORT


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_readable(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it"


def test_every_source_module_is_complete():
    from dlcli.data import sources

    assert set(sources.MODULES) == {"sklearn", "csv", "parquet", "jsonl", "npz", "npy", "keras", "synthetic"}
    for name, module in sources.MODULES.items():
        assert module.NAME == name
        assert callable(module.read)
        # a data file is probed by reading it as train does; a named dataset by its known shapes
        assert (module.probe is None) if module.EXTENSIONS else callable(module.probe), name
        config = sources.CONFIGS[name]
        assert config.model_fields["source"].default == name
        assert set(config.model_fields) <= set(sources.KEY_ORDER), name
        if module.EXTENSIONS:  # file sources read files to predict on (arrays or tables)
            assert callable(module.read_inputs), name
    assert {sources.EXTENSIONS[s] for s in (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".npz", ".npy")} == {
        "csv",
        "parquet",
        "jsonl",
        "npz",
        "npy",
    }


def test_every_table_format_is_one_module_with_the_whole_interface():
    """Adding a format is a module in data/formats/ and one entry in its registry; every command finds it."""
    from dlcli.data import formats, sources

    for name, fmt in formats.FORMATS.items():
        assert fmt.NAME == name and fmt.__name__ == f"dlcli.data.formats.{name}"
        assert fmt.SUFFIXES and isinstance(fmt.TYPED, bool)
        assert callable(fmt.header) and callable(fmt.read_frame)
        assert fmt.TYPED or callable(fmt.as_text), name  # a text format re-reads cells as written
        assert fmt.CONFIG.model_fields["source"].default == name
        assert sources.is_table(name) and sources.module(name).format is fmt
        for suffix in fmt.SUFFIXES:
            assert sources.EXTENSIONS[suffix] == name and formats.of_suffix(suffix) is fmt


def test_git_tracks_every_module():
    """.gitignore once said ``runs/``, which also hid the ``dlcli/runs`` package from commits."""
    import shutil
    import subprocess

    root = PACKAGE.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(p.relative_to(root)) for p in MODULES.values()]
    ignored = subprocess.run(["git", "check-ignore", *files], cwd=root, capture_output=True, text=True).stdout
    assert ignored.split() == []
