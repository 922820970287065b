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
    assert "dlcli.training.fit" in edges["dlcli.pipeline"]  # a function-level import
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


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

    assert set(sources.MODULES) == {"sklearn", "csv", "parquet", "npz", "npy", "keras", "synthetic"}
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
    assert {sources.EXTENSIONS[s] for s in (".csv", ".tsv", ".parquet", ".npz", ".npy")} == {
        "csv",
        "parquet",
        "npz",
        "npy",
    }


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
