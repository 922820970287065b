"""``dlcli export``: a run's model as a TF Serving SavedModel, a LiteRT (TFLite) file or an ONNX file, each
checked in a fresh process with its own runtime before it is kept.

``exporter`` runs the command, ``formats`` writes each format, ``rows``
picks the rows the check predicts, ``check`` is the fresh process (it
imports only the runtime) and ``reference`` reads ``preprocessing.json``
(plain numpy: users copy it). Importing this package imports nothing heavy.
"""
