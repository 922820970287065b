"""The ``data:`` keys every source takes (``SourceConfig``) and the keys every table format shares (``TableConfig``).

Each source module (``sources.sklearn``, ...) and each table format
(``formats.csv``, ...) subclasses one of these with its own ``source``
literal and keys; ``dlcli.config.schema`` joins them into one union
discriminated by ``source``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from dlcli.strict import Strict


class SourceConfig(Strict):
    """``data:`` keys shared by every source."""

    FILES: ClassVar[tuple[str, ...]] = ()  # keys that name files (resolved against the config's folder)

    source: str = Field(description="Where the data comes from; inferred from the extension of path when left out.")
    test_split: float = Field(0.2, gt=0, lt=1, description="Fraction held out for the test metrics.")
    validation_split: float = Field(0.1, ge=0, lt=1, description="Fraction of the rest used for validation.")
    normalize: bool = Field(True, description="Scale numeric inputs with a layer saved inside the model.")
    numeric: Literal["auto", "standard", "robust", "quantile"] = Field(
        "auto",
        description="How normalize scales numbers: standard ((x - mean) / std), robust ((x - median) / "
        "interquartile range, then smoothly clipped to about [-3, 3], as RealMLP does) or quantile (each number's "
        "training-split quantile mapped to the normal distribution's, as Gorishniy et al. 2021 do); auto: robust "
        "for the recommended network on an in-memory table, else standard.",
    )
    scale: float | None = Field(
        None, gt=0, description="Multiply inputs by this first (e.g. 0.00392156862745098 = 1/255)."
    )
    missing: Literal["auto", "error", "drop", "mean", "median", "zero"] = Field(
        "auto",
        description="Missing feature values: error, drop the rows, or fill from the training split; auto: the "
        "training median for the recommended network (model.layers left out), else error.",
    )
    missing_indicators: bool = Field(
        False,
        description="With holes filled: one more 0/1 input per numeric column with holes in the training split, 1 "
        "where the cell was missing, so the network can tell a filled value from a real one.",
    )
    target_missing: Literal["drop", "error"] = Field(
        "drop", description="Rows whose target is missing: drop them (with a warning and a count), or error."
    )
    scale_target: bool | Literal["auto"] = Field(
        "auto",
        description="Regression: train on the target standardized with the training split's mean and std, scaled "
        "back inside the model (loss, metrics and predictions stay in the target's units); auto: for the "
        "recommended network and whenever early stopping restores the best epoch, else not (as Keras). Ignored "
        "for classification.",
    )

    def files(self) -> dict[str, str]:
        """The data files this config names, by key."""
        return {key: getattr(self, key) for key in self.FILES if getattr(self, key, None)}

    @property
    def validates(self) -> bool:
        """Is there validation data (a split, or a file)?"""
        return self.validation_split > 0 or bool(getattr(self, "validation_path", None))

    @property
    def name_or_none(self) -> str | None:
        """The dataset name of a named source (sklearn, keras, synthetic), else None."""
        return getattr(self, "name", None)


class TableConfig(SourceConfig):
    """Keys of a table (every format of ``formats``): a target column, feature columns, categories."""

    FILES: ClassVar[tuple[str, ...]] = ("path", "validation_path", "test_path")

    path: str = Field(description="The data file; relative to the config file.", examples=["data/train.csv"])
    target: str = Field(description="Target column.", examples=["label"])
    features: list[str] | None = Field(None, description="Feature columns; default: all but target.")
    exclude: list[str] | None = Field(
        None,
        description="Columns that are not features (ids, leaks): every other column but the target is one. "
        "Instead of features.",
        examples=[["id"]],
    )
    validation_path: str | None = Field(
        None, description="Validation file in the same format; replaces validation_split."
    )
    test_path: str | None = Field(None, description="Held-out test file in the same format; replaces test_split.")
    categorical: list[str] | None = Field(
        None, description="Columns to encode as categories although they hold numbers; text columns always are."
    )
    embedding: dict[str, int] | None = Field(
        None, description="Categorical column -> embedding size; other categorical columns are one-hot encoded."
    )
    unseen: Literal["oov", "error"] = Field(
        "oov", description="A category not seen in training: oov (its own bucket) or error."
    )

    @field_validator("embedding")
    @classmethod
    def _embedding_sizes(cls, value):
        for column, size in (value or {}).items():
            if not isinstance(size, int) or size < 1:
                raise ValueError(f"{column}: embedding size must be a whole number >= 1, got {size!r}")
        return value

    @field_validator("exclude")
    @classmethod
    def _exclude_or_features(cls, value, info):
        if value is not None and info.data.get("features") is not None:
            raise ValueError(
                "give data.features (the columns to use) or data.exclude (the columns to leave out), not both"
            )
        dupes = sorted({f for f in value or () if value.count(f) > 1})
        if dupes:
            raise ValueError(f"column(s) listed twice: {', '.join(dupes)}")
        return value

    @field_validator("features", "categorical")
    @classmethod
    def _features_unique(cls, value):
        if value is not None:
            if not value:
                raise ValueError("an empty list; leave 'features' out to use every column but the target")
            dupes = sorted({f for f in value if value.count(f) > 1})
            if dupes:
                raise ValueError(f"column(s) listed twice: {', '.join(dupes)}")
        return value
