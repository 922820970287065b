"""dlcli's version, on the ground floor: every layer may say which dlcli wrote a file."""

__version__ = "0.1.0"
