"""dlcli: one YAML file in, a trained, evaluated and saved Keras model out."""

__version__ = "0.1.0"
