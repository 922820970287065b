"""How often each dlcli module is entered while one config goes through ``dlcli train``: the call graph, counted.

Runs ``dlcli train CONFIG`` in this process under ``sys.setprofile`` and records every call from one dlcli module
into a function of another: the call graph, as distinct edges (caller function -> callee function, across modules).
A reader following the config through training enters a module once per edge into it (a call) and once per edge
out of it (the callee returns there): a module's *entries* are both counted. Calls inside a module, and calls into
Keras, TensorFlow and the standard library, are not edges.

Usage: python scripts/module_entries.py [CONFIG] [--set K=V ...] [--top N] [--json]
(default: configs/churn_csv.yaml, 3 epochs, no plots, in a temporary output directory)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_of(filename: str) -> str | None:
    """``dlcli.training.fit`` for a file of the dlcli package, else None."""
    path = Path(filename)
    try:
        parts = path.resolve().relative_to(ROOT).with_suffix("").parts
    except ValueError:
        return None
    if not parts or parts[0] != "dlcli":
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def trace(argv: list[str]) -> set[tuple[str, str, str, str]]:
    """The distinct (caller module, caller function, callee module, callee function) edges while ``dlcli argv`` runs."""
    from click.testing import CliRunner

    from dlcli.cli import cli

    edges: set[tuple[str, str, str, str]] = set()
    names: dict[object, str | None] = {}

    def name_of(code) -> str | None:
        if code not in names:
            names[code] = module_of(code.co_filename)
        return names[code]

    def profile(frame, event, arg):
        if event != "call":
            return
        callee = name_of(frame.f_code)
        caller_frame = frame.f_back
        if callee is None or caller_frame is None:
            return
        caller = name_of(caller_frame.f_code)
        if caller is None or caller == callee or frame.f_code.co_name == "<module>":
            return
        edges.add((caller, caller_frame.f_code.co_name, callee, frame.f_code.co_name))

    sys.setprofile(profile)
    try:
        result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    finally:
        sys.setprofile(None)
    if result.exit_code != 0:
        raise SystemExit(f"dlcli {' '.join(argv)} exited {result.exit_code}:\n{result.output}")
    return edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "churn_csv.yaml"))
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    overrides = args.overrides or ["training.epochs=3", "training.plots=false"]
    with tempfile.TemporaryDirectory() as out:
        argv = ["train", args.config, *[a for o in overrides for a in ("--set", o)], "--output-dir", out, "--quiet"]
        edges = trace(argv)
    into, out = defaultdict(int), defaultdict(int)
    for caller, _, callee, _ in edges:
        out[caller] += 1
        into[callee] += 1
    counts = {m: into[m] + out[m] for m in set(into) | set(out)}
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if args.json:
        rows = {m: {"entries": n, "calls_in": into[m], "calls_out": out[m]} for m, n in ranked}
        print(json.dumps({"config": args.config, "overrides": overrides, "modules": rows}, indent=1))
        return
    print(f"dlcli train {args.config} {' '.join(overrides)}")
    print("entries = distinct cross-module call edges into the module + out of it (each returns there)")
    print(f"{'entries':>7} {'in':>4} {'out':>4}  module")
    for module, count in ranked[: args.top]:
        print(f"{count:7d} {into[module]:4d} {out[module]:4d}  {module}")
    print(f"{len(edges):7d} edges in all, {len(counts)} modules entered")


if __name__ == "__main__":
    main()
