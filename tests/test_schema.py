"""The JSON Schema for editors: committed, current, and it agrees with the validator."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from dlcli.config.jsonschema import schema
from tests.conftest import CONFIGS

SCHEMA_FILE = CONFIGS / "dlcli.schema.json"


def validator():
    current = schema()
    jsonschema.Draft202012Validator.check_schema(current)
    return jsonschema.Draft202012Validator(current)


def test_committed_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == schema(), "run: dlcli config schema > configs/dlcli.schema.json"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_match_the_schema(path):
    assert list(validator().iter_errors(yaml.safe_load(path.read_text()))) == []


@pytest.mark.parametrize(
    "text",
    [
        "data: {source: sklearn, name: iris}\nmodel: {layers: [{units: 3, activation: rleu}]}\n",
        "data: {source: sklearn, name: iris}\ntraner: {}\n",
        "data: {source: skleran}\n",
        "data: {source: sklearn, name: iris}\nloss: sparse_categorical_crossentropi\n",
        "data: {source: sklearn, name: iris}\noptimizer: adamm\n",
        "data: {source: sklearn, name: iris}\nmetrics: [acuracy]\n",
        "data: {source: sklearn, name: iris}\ntraining: {epochs: 0}\n",
    ],
)
def test_schema_flags_what_the_validator_rejects(text):
    assert list(validator().iter_errors(yaml.safe_load(text)))


@pytest.mark.parametrize(
    "text",
    [
        "data: {source: sklearn, name: iris}\nloss: auto\nmetrics: auto\nmodel: {output: auto}\n",
        "data: {source: sklearn, name: iris}\nloss: {name: sparse_categorical_crossentropy, from_logits: true}\n",
        "data: {source: sklearn, name: iris}\noptimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}\n",
        "data: {source: sklearn, name: iris}\ntraining: {early_stopping: true}\n",
        "data: {source: sklearn, name: iris}\nmetrics: [accuracy, {name: auc, curve: PR}]\n",
    ],
)
def test_schema_accepts_what_the_validator_accepts(text):
    assert list(validator().iter_errors(yaml.safe_load(text))) == []
