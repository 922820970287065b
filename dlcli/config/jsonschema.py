"""The config language as a JSON Schema, for editors (the YAML language server): Keras's names as completions."""

from __future__ import annotations

from dlcli import names
from dlcli.config.schema import Config
from dlcli.data import sources


def schema() -> dict:
    """JSON Schema of the config file, for editors, with Keras's names as completions."""
    out = Config.model_json_schema()
    _any_of(out)
    defs = out["$defs"]
    activations = list(names.ACTIVATIONS)
    _enum(defs["LayerConfig"]["properties"]["activation"], activations)
    _enum(defs["LayerConfig"]["properties"]["kernel_initializer"], list(names.INITIALIZERS))
    _enum(defs["OutputConfig"]["properties"]["activation"], ["auto", *activations])
    for source, model in sources.CONFIGS.items():
        definition = defs[model.__name__]
        if "name" in definition["properties"]:
            _enum(definition["properties"]["name"], list(sources.module(source).DATASETS))
        # source may be left out when path's extension says it (inferred before validation)
        definition["required"] = [r for r in definition.get("required", []) if r != "source"]
    defs["LayerConfig"]["properties"]["kernel_regularizer"]["anyOf"].append(
        {"enum": ["l1", "l2", "l1_l2"], "description": "Keras's factor 0.01"}
    )
    for key in ("early_stopping", "reduce_lr_on_plateau", "checkpoint"):
        defs["TrainingConfig"]["properties"][key]["anyOf"].append(
            {"type": "boolean", "description": "true: the defaults; false: off"}
        )
    for key, spec, values in (
        ("loss", "LossSpec", names.LOSSES),
        ("optimizer", "OptimizerSpec", names.OPTIMIZERS),
        ("metrics", "MetricSpec", names.METRICS + names.DLCLI_METRICS),
    ):
        _enum(out["properties"][key], list(values))
        _enum(defs[spec]["properties"]["name"], list(values))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dlcli config",
        **{k: v for k, v in out.items() if k != "title"},
    }


def _any_of(node) -> None:
    """Editors reject a value that matches two ``oneOf`` branches ("auto" is also a string)."""
    if isinstance(node, dict):
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        node.pop("discriminator", None)
        for value in node.values():
            _any_of(value)
    elif isinstance(node, list):
        for value in node:
            _any_of(value)


def _enum(node: dict, values: list[str]) -> None:
    """Give the free-string branches of ``node`` (and of list items) the valid names."""
    if node.get("type") == "string" and "const" not in node and "enum" not in node:
        node["enum"] = values
    for branch in node.get("anyOf", []):
        _enum(branch, values)
    if isinstance(node.get("items"), dict):
        _enum(node["items"], values)
