"""Shared pieces of the benchmarks: child processes with a quiet TensorFlow, medians, one table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "PYTHONPATH": str(ROOT)}


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def child_json(args: list[str], timeout: float = 1800) -> dict:
    """Run a child process and parse the JSON object on its last stdout line."""
    out = subprocess.run(args, capture_output=True, text=True, env=env(), timeout=timeout, check=False)
    if out.returncode:
        raise SystemExit(f"{' '.join(map(str, args))[:200]} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@dataclass
class Row:
    """One line of the table: dlcli against its baseline, medians of ``n`` alternating runs."""

    name: str
    unit: str
    baseline: list[float]
    dlcli: list[float]
    higher_is_better: bool
    goal: str
    goal_ratio: float | None = None  # the ratio the goal asks for (dlcli vs baseline, better-is-larger)
    note: str = ""
    goal_value: float | None = None  # a bound dlcli's median must reach (at most, when lower is better)

    def ratios(self) -> list[float]:
        pairs = zip(self.dlcli, self.baseline, strict=True)
        return [d / b if self.higher_is_better else b / d for d, b in pairs] if self.baseline else []

    def ratio(self) -> float | None:
        r = self.ratios()
        return statistics.median(r) if r else None

    def met(self) -> str:
        checks = []
        if self.goal_ratio is not None and self.ratio() is not None:
            checks.append(self.ratio() >= self.goal_ratio)
        if self.goal_value is not None:
            ours = statistics.median(self.dlcli)
            checks.append(ours >= self.goal_value if self.higher_is_better else ours <= self.goal_value)
        return ("yes" if all(checks) else "NO") if checks else ""


def number(value: float) -> str:
    """A measurement as the table shows it: whole above 100, three significant digits below."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table(rows: list[Row]) -> str:
    """One aligned table of every benchmark."""
    head = ("benchmark", "unit", "baseline", "dlcli", "ratio", "spread", "goal", "met")
    lines = [head]
    for r in rows:
        ratios = r.ratios()
        lines.append(
            (
                r.name,
                r.unit,
                number(statistics.median(r.baseline)) if r.baseline else "-",
                number(statistics.median(r.dlcli)),
                f"{r.ratio():.2f}x" if ratios else "-",
                f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-",
                r.goal,
                r.met(),
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join(out + notes)


def main_repeats(doc: str, measure) -> None:
    """The command line of a benchmark that takes only ``--repeats``: print its rows as the table."""
    import argparse

    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--repeats", type=int, default=3)
    print(table(measure(parser.parse_args().repeats)))
