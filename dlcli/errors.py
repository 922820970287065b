"""One exception family; ``cli.py`` is the only place that maps it to exit codes."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path


class DlcliError(Exception):
    """Base of every error dlcli reports to the user without a traceback."""

    exit_code = 1
    path: str | None = None  # the file or folder the error is about, when there is one (--json's "file")

    def lines(self) -> list[str]:
        """The message as the lines printed to stderr."""
        return str(self).splitlines() or [type(self).__name__]


class UsageError(DlcliError, ValueError):
    """Bad input from the user: config, data, run directory or command line (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """One or more problems in a config file, each already located (``FILE:LINE:COL: key: msg``)."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        return self.problems


class DataError(UsageError):
    """The data named by the config cannot be read or does not fit the task."""


class DeviceError(UsageError):
    """The requested device is not available."""


class RunDirError(UsageError):
    """A run directory is missing, incomplete or not a dlcli run."""


class TrainingError(DlcliError):
    """Training started but failed (exit 1)."""


class Interrupted(DlcliError):
    """The user interrupted a run; its state was saved (exit 130)."""

    exit_code = 130


class MissingExtra(UsageError):
    """An optional part of dlcli is not installed; the message names the extra that brings it (exit 2)."""


class ExportError(DlcliError):
    """An export could not be written, or its artefact did not load or predict as the run does (exit 1).

    Nothing that looks finished is left behind."""


class OutputError(UsageError):
    """A file or directory dlcli writes cannot be written; the message names it and says why (exit 2)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        super().__init__(f"cannot write {path}: {reason}")


@contextlib.contextmanager
def writing(path):
    """Report an ``OSError`` raised while writing ``path`` (through a temporary name, say) as an
    :class:`OutputError` about ``path`` itself."""
    try:
        yield
    except OSError as exc:
        raise OutputError(path, _reason(Path(path), exc)) from exc


def _reason(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be written, in a few words."""
    if exc.errno == errno.ENOENT:
        missing = next((p for p in path.parents if not p.exists()), None)
        if missing is not None:
            return f"the folder {missing} does not exist"
    if exc.errno == errno.ENOTDIR:
        blocking = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            return f"{blocking} is a file, not a folder"
    if exc.errno == errno.EEXIST and path.exists() and not path.is_dir():
        return "it is a file, not a folder"
    if exc.errno == errno.EISDIR:
        return "it is a folder"
    return exc.strerror or str(exc)
