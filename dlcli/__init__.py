"""dlcli: one YAML file in, a trained, evaluated and saved Keras model out."""

from dlcli.version import __version__

__all__ = ["__version__", "load"]


def load(path, *, device: str = "auto"):
    """A complete run directory, to predict and evaluate with: ``dlcli.load("runs/x").predict(df)``.

    See ``dlcli.api``; importing dlcli imports no TensorFlow.
    """
    from dlcli.api import load as _load

    return _load(path, device=device)


def __getattr__(name):
    if name in ("Run", "DataError"):
        from dlcli import api, errors

        return getattr(api, name, None) or getattr(errors, name)
    raise AttributeError(f"module 'dlcli' has no attribute {name!r}")
