"""A config file is untrusted input: size and alias limits, no Python tags, one document, and a lossless round trip."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dlcli.cli import cli
from dlcli.config.load import load_config
from dlcli.config.resolve import resolve
from dlcli.config.yamlpos import MAX_BYTES
from dlcli.data import load as data
from dlcli.errors import ConfigError
from tests.conftest import CONFIGS, make_mnist_like

IRIS = "data: {source: sklearn, name: iris}\n"


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    return info.value


def validate(path: Path):
    return CliRunner().invoke(cli, ["validate", str(path)])


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    rows = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    rows += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(rows) + "\n" + IRIS


# -- size ------------------------------------------------------------------------------------------


def test_file_over_one_mebibyte_is_refused_quickly(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(IRIS + "# " + "x" * MAX_BYTES + "\n")
    start = time.perf_counter()
    err = refused(path)
    assert time.perf_counter() - start < 1
    (problem,) = err.problems
    assert problem.startswith(f"{path}: ")
    assert "at most 1 MiB" in problem


def test_file_of_exactly_one_mebibyte_is_read(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text("# " + "x" * (MAX_BYTES - 3) + "\n")
    assert path.stat().st_size == MAX_BYTES
    (problem,) = refused(path).problems
    assert "the file is empty" in problem


def test_big_file_through_the_cli_is_exit_2(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"data: [" + b"1, " * MAX_BYTES + b"]\n")
    result = validate(path)
    assert result.exit_code == 2
    assert "at most 1 MiB" in result.stderr
    assert "Traceback" not in result.output


# -- aliases ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("levels", "width"), [(9, 9), (30, 2), (6, 100)])
def test_alias_bomb_is_refused_in_under_a_second(tmp_path, levels, width):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(levels, width))
    start = time.perf_counter()
    (problem,) = refused(path).problems
    assert time.perf_counter() - start < 1
    assert problem.startswith(f"{path}:")
    assert "alias bomb" in problem


def test_a_few_aliases_are_fine(tmp_path):
    path = tmp_path / "dry.yaml"
    path.write_text(IRIS + "model:\n  layers:\n    - &wide {units: 32, activation: relu}\n    - *wide\n")
    assert [layer.units for layer in load_config(path).model.layers] == [32, 32]


def test_self_referencing_alias_is_a_config_error(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("loop: &loop [*loop]\n" + IRIS)
    start = time.perf_counter()
    result = validate(path)
    assert time.perf_counter() - start < 1
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{path}:1:")


def test_deep_nesting_is_a_config_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(IRIS + "model: " + "[" * 2000 + "]" * 2000 + "\n")
    result = validate(path)
    assert result.exit_code == 2, result.output
    assert f"{path}:" in result.stderr


# -- tags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "where", "fragment"),
    [
        ("name: !!python/object/apply:os.mkdir [MARK]\n", "1:7", "the tag !!python/object/apply:os.mkdir"),
        ("name: !!python/object/apply:os.system [touch MARK]\n", "1:7", "the tag !!python/object/apply:os.system"),
        ("model: {layers: [!!python/object/apply:os.mkdir [MARK]]}\n", "1:18", "model.layers[0]: the tag"),
        ("name: !!python/object/new:os.mkdir {args: [MARK]}\n", "1:7", "the tag !!python/object/new:os.mkdir"),
        ("name: !!python/name:os.mkdir ''\n", "1:7", "the tag !!python/name:os.mkdir"),
        pytest.param("? !!python/object/apply:os.mkdir [MARK]\n: 1\n", "1:3", "the tag !!python/object/apply:os.mkdir"),
        ("name: !include MARK\n", "1:7", "the tag !include is not allowed"),
    ],
    ids=["apply-mkdir", "apply-system", "nested", "new", "name", "as-key", "local-tag"],
)
def test_python_tags_are_refused_and_never_run(tmp_path, payload, where, fragment):
    mark = tmp_path / "created-by-yaml"
    path = tmp_path / "evil.yaml"
    path.write_text(IRIS + payload.replace("MARK", str(mark)))
    problems = refused(path).problems
    line, col = where.split(":")
    assert any(p.startswith(f"{path}:{int(line) + 1}:{col}: ") and fragment in p for p in problems), problems
    assert not mark.exists()
    result = validate(path)
    assert result.exit_code == 2
    assert not mark.exists()


def test_the_tag_payload_would_run_under_an_unsafe_loader(tmp_path):
    """The control for the test above: the same text does create the file when loaded unsafely."""
    mark = tmp_path / "created-by-yaml"
    yaml.unsafe_load(f"name: !!python/object/apply:os.mkdir [{mark}]\n")
    assert mark.exists()


@pytest.mark.parametrize("tag", ["!!set {a, b}", "!!binary aGk=", "!!omap [{a: 1}]"])
def test_other_non_plain_tags_are_refused(tmp_path, tag):
    path = tmp_path / "tags.yaml"
    path.write_text(IRIS + f"name: {tag}\n")
    (problem,) = refused(path).problems
    assert problem.startswith(f"{path}:2:7: name: the tag ")
    assert "is not allowed; a config holds plain values" in problem


# -- shape of the document -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "\n\n   \n", "# a comment\n", "# data:\n#   source: sklearn\n\n# name: iris\n"],
    ids=["empty", "blank", "comment", "commented-out"],
)
def test_empty_and_comment_only_files(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    (problem,) = refused(path).problems
    assert problem.startswith(f"{path}: the file is empty")
    result = validate(path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: the file is empty")


@pytest.mark.parametrize("text", ["---\n", "--- # nothing yet\n...\n"])
def test_an_empty_document_is_an_empty_file(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    (problem,) = refused(path).problems
    assert "the file is empty" in problem


@pytest.mark.parametrize("text", ["- data: {source: sklearn, name: iris}\n", "[]\n"])
def test_top_level_list(tmp_path, text):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    (problem,) = refused(path).problems
    assert problem.startswith(f"{path}:1:1: ")
    assert "a config is a mapping of keys (data, model, training, ...), got a list" in problem


@pytest.mark.parametrize("text", ["digits\n", "42\n", "true\n"])
def test_top_level_scalar(tmp_path, text):
    path = tmp_path / "scalar.yaml"
    path.write_text(text)
    (problem,) = refused(path).problems
    assert problem.startswith(f"{path}:1:1: a config is a mapping of keys")
    assert "list" not in problem


@pytest.mark.parametrize("text", ["digits\n", "42\n", "null\n"])
def test_top_level_scalar_message_speaks_yaml_not_python(tmp_path, text):
    path = tmp_path / "scalar.yaml"
    path.write_text(text)
    (problem,) = refused(path).problems
    for python_name in ("a str", "a int", "NoneType"):
        assert python_name not in problem


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (IRIS + "---\n" + IRIS, 2),
        ("---\n" + IRIS + "---\n" + IRIS, 3),
        (IRIS + "...\n---\ntraining: {epochs: 3}\n", 3),
    ],
)
def test_several_documents_are_an_error(tmp_path, text, line):
    path = tmp_path / "multi.yaml"
    path.write_text(text)
    (problem,) = refused(path).problems
    assert problem.startswith(f"{path}:{line}:1: YAML syntax error")


def test_one_explicit_document_is_fine(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("---\n" + IRIS + "...\n")
    assert load_config(path).data.name == "iris"


# -- round trip ------------------------------------------------------------------------------------


def resolved(path: Path, overrides=()):
    config = load_config(path, overrides)
    probe = data.probe(config)
    return resolve(config, probe.task, probe.n_classes)


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_resolved_config_round_trips(tmp_path, name):
    overrides = []
    if name == "mnist.yaml":
        overrides = [f"data.path={make_mnist_like(tmp_path / 'mnist.npz', 60, 20)}"]
    first = resolved(CONFIGS / name, overrides).dump()
    saved = tmp_path / name
    saved.write_text(yaml.safe_dump(first, sort_keys=False))
    second = resolved(saved).dump()
    assert second == first
    assert first["task"] != "auto"
    assert first["loss"] != "auto" and first["metrics"] != "auto" and first["model"]["output"] != "auto"
