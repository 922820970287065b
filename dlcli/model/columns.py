"""The model a run saves for a table: one named input per raw column, every preprocessing step inside.

Training runs the model ``build`` makes, which takes the numeric features as
one array (holes already filled) and each categorical column's categories.
The saved model wraps it: numeric columns (float32) are concatenated in
training order and their holes (NaN) filled with the training fill;
categorical columns (strings) are written as training wrote them
(``dlcli.layers.CanonicalCategory``). A dict of columns, a DataFrame's
columns or a TF Serving ``instances`` row then reach it by name.

``keras.utils.FeatureSpace`` was the candidate for this and does not fit: it
adapts its statistics from a dataset, where these come from the run, and has
no step that fills NaN or reads ``3.0`` as the category ``3``.
"""

from __future__ import annotations

import math

from dlcli.data.features import NUMERIC, InputSchema, column_inputs, input_name


def takes_columns(features: list[str] | None, input_shape, vocab: dict, flags: int = 0) -> bool:
    """Does a model trained on these features get raw-column inputs? Tables (one number or category per column,
    plus ``flags`` hole flags) do."""
    if not features or len(input_shape) > 1:
        return False
    numeric = [c for c in features if c not in vocab]
    return math.prod(input_shape) == len(numeric) + flags


def inputs_of(features: list[str] | None, input_shape, vocab: dict, flags: int = 0) -> dict[str, str] | None:
    """What environment.json records as ``data.inputs``: feature column -> input name (None: the array model)."""
    return column_inputs(features) if takes_columns(features, input_shape, vocab, flags) else None


def schema_of(info) -> InputSchema:
    """The input schema of a model being trained on data with these facts (a ``DataInfo``)."""
    return InputSchema(
        input_shape=tuple(info.input_shape),
        features=info.feature_names,
        vocab=info.vocab,
        fill=info.fill,
        columns=inputs_of(info.feature_names, info.input_shape, info.vocab, len(info.indicators)),
        indicators=tuple(info.indicators),
    )


def raw_model(core, schema: InputSchema):
    """A copy of ``core`` behind one input per raw column (``schema.columns`` names them); ``core`` itself for array data."""
    import keras

    if not schema.columns:
        return core
    from dlcli.data import cells

    inputs = {}
    taken = {n.lower() for n in schema.columns.values()}

    def free(name: str) -> str:  # a layer name no input has (Keras wants every name once)
        while name.lower() in taken:
            name += "_"
        taken.add(name.lower())
        return name

    for column in schema.features:
        name = schema.columns[column]
        dtype = "string" if column in schema.vocab else "float32"
        inputs[name] = keras.Input(shape=(1,), dtype=dtype, name=name)
    numeric = [inputs[schema.columns[c]] for c in schema.numeric_columns]
    packed = None
    if numeric:
        packed = (
            numeric[0]
            if len(numeric) == 1
            else keras.layers.Concatenate(name=free("columns"), dtype="float32")(numeric)
        )
        if schema.fill is not None:
            from dlcli.layers import FillMissing, MissingFlags

            flags = (
                MissingFlags(list(schema.indicators), name=free("missing_flags"))(packed) if schema.indicators else None
            )
            packed = FillMissing(schema.fill, name=free("fill_missing"))(packed)
            if flags is not None:  # after the filled numbers, as data.prepare appends them
                packed = keras.layers.Concatenate(name=free("with_flags"), dtype="float32")([packed, flags])
    # An uncompiled copy: Keras would save the trained model's optimizer a second time inside it, and
    # rebuild that optimizer on every load. The config's name may also be a column's.
    name, trained = core.name, keras.models.clone_model(core)
    trained.set_weights(core.get_weights())
    trained.name = free("trained")
    if not schema.vocab:
        return keras.Model(inputs=inputs, outputs=trained(packed), name=name)
    from dlcli.layers import CanonicalCategory

    fed = {NUMERIC: packed} if packed is not None else {}
    for column, vocabulary in schema.vocab.items():
        values, names = cells.number_categories(vocabulary)
        layer = CanonicalCategory(values, names, name=free(f"canonical_{schema.columns[column]}"))
        fed[input_name(column)] = layer(inputs[schema.columns[column]])
    return keras.Model(inputs=inputs, outputs=trained(fed), name=name)


def trained_part(model):
    """The model that trained, inside a saved raw-column model (or ``model`` itself): its one nested model."""
    import keras

    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[0] if len(inner) == 1 else model
