"""A finished run read back from its directory alone: config, labels, data facts and model.

Nothing outside the directory is needed: not the training files, not the
paths in the config, not the working directory the run was trained from.
Its config is upgraded from the version it was written in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dlcli.config.load import load_saved
from dlcli.config.resolve import ResolvedConfig, saved
from dlcli.data.features import InputSchema
from dlcli.runs import store


@dataclass
class SavedRun:
    """A complete run directory."""

    path: Path
    state: dict
    config: ResolvedConfig
    labels: list | None
    environment: dict = field(default_factory=dict)

    @property
    def data_facts(self) -> dict:
        """What environment.json recorded of the training data (features, vocabularies, fills, fingerprint)."""
        return self.environment.get("data") or {}

    @property
    def inputs(self) -> InputSchema:
        """What the model takes: enough to read new rows for it."""
        return InputSchema.of_run(self.data_facts, self.config.data)

    def load_model(self, *, compile: bool = True):
        return store.load_model(self.path / store.MODEL, compile=compile, policy=self.config.training.mixed_precision)


def open_run(path: str | Path) -> SavedRun:
    """A complete run directory, or a RunDirError that says what is wrong with it."""
    run = Path(path)
    state = store.complete_state(run)
    labels = store.read_json_if_present(run / store.LABELS)
    environment = store.read_json_if_present(run / store.ENVIRONMENT, {})
    return SavedRun(
        path=run,
        state=state,
        config=saved_config(run, environment, labels),
        labels=labels,
        environment=environment,
    )


def saved_config(run: Path, environment: dict, labels: list | None) -> ResolvedConfig:
    """The resolved config a run directory keeps (any version dlcli wrote).

    Its values are explicit as dlcli saved them; one a person set back to
    ``auto`` is resolved again with the task and classes the run recorded.
    """
    config_path = run / store.CONFIG
    task = (environment.get("data") or {}).get("task")
    return saved(load_saved(config_path), str(config_path), task=task, n_classes=len(labels) if labels else None)
