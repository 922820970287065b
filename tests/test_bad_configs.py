"""Realistic mistakes in ``tests/bad_configs/``: ``dlcli validate`` rejects each one with exit 2 and located lines.

Each file opens with one or more header lines:

    # expect: LINE:COL: fragment    a stderr line starts with FILE:LINE:COL: and contains fragment
    # expect: LINE: fragment        the same, when only the line is meaningful
    # expect: -: fragment           a stderr line names FILE and contains fragment (no line to point at)
    # xfail: reason                 a known bug in dlcli; the expectation states the correct behaviour

Every expect line of a file must be reported by the same run: all problems at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlcli.cli import cli

CORPUS = Path(__file__).resolve().parent / "bad_configs"
HEADER = re.compile(r"^# (expect|xfail): (.*)$")
EXPECT = re.compile(r"^(?:-|(\d+)(?::(\d+))?): (.+)$")


@dataclass(frozen=True)
class Expect:
    line: int | None
    col: int | None
    fragment: str

    def found_in(self, path: Path, stderr: str) -> bool:
        """True when one stderr line carries both the location and the fragment."""
        if self.line is None:
            return any(f"{path}:" in row and self.fragment in row for row in stderr.splitlines())
        where = f"{path}:{self.line}:" + (f"{self.col}: " if self.col is not None else "")
        return any(row.startswith(where) and self.fragment in row for row in stderr.splitlines())

    def __str__(self) -> str:
        where = "-" if self.line is None else f"{self.line}" + (f":{self.col}" if self.col is not None else "")
        return f"{where}: {self.fragment}"


def headers(path: Path) -> tuple[list[Expect], str | None]:
    """The expect lines and the xfail reason (or None) at the top of a corpus file."""
    expects: list[Expect] = []
    xfail = None
    for row in path.read_text(encoding="utf-8").splitlines():
        match = HEADER.match(row)
        if not match:
            break
        kind, rest = match.groups()
        if kind == "xfail":
            xfail = rest
            continue
        parsed = EXPECT.match(rest)
        assert parsed, f"{path.name}: cannot read the header '# expect: {rest}'"
        line, col, fragment = parsed.groups()
        expects.append(Expect(int(line) if line else None, int(col) if col else None, fragment))
    return expects, xfail


FILES = sorted(CORPUS.glob("*.yaml"))


def corpus_params() -> list:
    params = []
    for path in FILES:
        _, xfail = headers(path)
        marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=xfail)] if xfail else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def validate(path: Path, *args: str):
    return CliRunner().invoke(cli, ["validate", str(path), *args])


def test_every_corpus_file_starts_with_an_expect_header():
    for path in FILES:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# expect: "), path.name
        expects, _ = headers(path)
        assert expects, path.name


@pytest.mark.parametrize("path", corpus_params())
def test_bad_config_is_rejected_with_located_lines(path):
    expects, _ = headers(path)
    result = validate(path)
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    missing = [str(e) for e in expects if not e.found_in(path, result.stderr)]
    assert not missing, f"not reported: {missing}\nstderr:\n{result.stderr}"


def test_whole_corpus_in_one_loop():
    """Every known-good expectation at once, so one run shows every regression and the corpus size."""
    failures = []
    checked = 0
    for path in FILES:
        expects, xfail = headers(path)
        if xfail:
            continue
        result = validate(path)
        checked += 1
        if result.exit_code != 2 or "Traceback" in result.output:
            failures.append(f"{path.name}: exit {result.exit_code}")
        failures += [f"{path.name}: not reported: {e}" for e in expects if not e.found_in(path, result.stderr)]
    assert not failures, "\n".join(failures)
    assert checked >= 40
    assert len(FILES) >= 40


# -- warnings: the config trains, but probably not as meant -------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        (
            "data: {source: sklearn, name: iris}\nmetrics: [accuracy, categorical_accuracy]\n",
            "2:21: metrics[1]: warning: ",
            "'categorical_accuracy' runs but means little here",
        ),
        (
            "data: {source: sklearn, name: iris}\n"
            "model:\n"
            "  output: {activation: softmax}\n"
            "loss: {name: sparse_categorical_crossentropy, from_logits: true}\n",
            "4:60: loss.from_logits: warning: ",
            "applies it twice",
        ),
    ],
)
def test_warning_only_config_is_valid_and_warns_with_a_location(write, text, where, fragment):
    path = write("warn.yaml", text)
    result = validate(path)
    assert result.exit_code == 0, result.output
    assert "valid (multiclass" in result.stdout
    rows = [row for row in result.stderr.splitlines() if "warning:" in row]
    assert len(rows) == 1, result.stderr
    assert rows[0].startswith(f"{path}:{where}")
    assert fragment in rows[0]


def test_warning_from_an_override_is_located_once(write):
    path = write("iris.yaml", "data: {source: sklearn, name: iris}\n")
    result = validate(path, "--set", "metrics=[categorical_accuracy]")
    assert result.exit_code == 0, result.output
    (row,) = [row for row in result.stderr.splitlines() if "warning:" in row]
    assert row.startswith("--set metrics=[categorical_accuracy]: metrics[0]: warning: ")
    assert row.count("warning:") == 1
