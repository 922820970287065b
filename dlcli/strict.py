"""``Strict``: what every config section is made of, on the ground floor so that the config language and the
data sources' own keys (``data.keys``, ``data.formats``) share it without importing each other."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)
