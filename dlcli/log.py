"""dlcli's messages on stderr, through ``logging``: one line each, located lines as they are.

A warning that already starts with its place (``FILE:LINE:COL:`` or ``--set K=V:``) prints as is;
any other gets a ``warning:`` prefix. The handler looks up ``sys.stderr`` when it writes, so a
redirected or captured stderr (click's test runner) gets the lines.
"""

from __future__ import annotations

import contextlib
import logging
import sys

LOGGER = logging.getLogger("dlcli")


def located(line: str) -> bool:
    """True when a message already starts with ``FILE:LINE:COL:`` or ``--set``."""
    return line.startswith("--set ") or line.split(": ", 1)[0].count(":") >= 2


class OneLine(logging.Formatter):
    """The message alone; warnings that do not say where they come from get ``warning:`` in front."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno == logging.WARNING and not located(message):
            return f"warning: {message}"
        return message


class _Stderr(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


def _setup() -> None:
    if not any(isinstance(h, _Stderr) for h in LOGGER.handlers):
        handler = _Stderr()
        handler.setFormatter(OneLine())
        LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


_setup()


def warn(message: str) -> None:
    """A problem that does not stop the run: one line on stderr."""
    LOGGER.warning(message)


def note(message: str) -> None:
    """Progress or a fact worth a line on stderr (not a problem)."""
    LOGGER.info(message)


def without_password(url: str | None) -> str | None:
    """``url`` fit to print: a password in it becomes ``***`` (storage and tracking URLs in messages)."""
    if url is None or "@" not in url or "://" not in url:
        return url
    head, _, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{head}://{user}{':***' if colon else ''}@{host}"


@contextlib.contextmanager
def at_most(logger: logging.Logger, text: str, times: int):
    """Within the block, ``logger`` lets through at most ``times`` lines containing ``text`` (a note that a loop
    would repeat, a library warning that does not apply)."""

    class AtMost(logging.Filter):
        said = 0

        def filter(self, record: logging.LogRecord) -> bool:
            if text not in record.getMessage():
                return True
            self.said += 1
            return self.said <= times

    kept = AtMost()
    logger.addFilter(kept)
    try:
        yield
    finally:
        logger.removeFilter(kept)
