"""Where a table's text comes from: a plain file or a compressed one (``.gz``, ``.bz2``, ``.zst``, ``.xz``, or a
``.zip`` holding one file), opened as UTF-8 with or without a BOM, with its table suffix read past the compression."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from dlcli.errors import DataError

COMPRESSIONS = (".gz", ".bz2", ".zst", ".xz", ".zip")


def compression(path: str) -> str | None:
    """The compression suffix of a file name (``.gz`` ...), or None."""
    end = Path(path).suffix.lower()
    return end if end in COMPRESSIONS else None


def suffix(path: str) -> str:
    """The table suffix of a file name, compression aside: ``.csv`` for ``a.csv.gz``, ``.jsonl`` for
    ``a.jsonl.zip``, and ``.csv`` for a bare ``.zip``."""
    ends = [s.lower() for s in Path(path).suffixes]
    if ends and ends[-1] in COMPRESSIONS:
        compressed = ends.pop()
        if compressed == ".zip" and not ends:
            return ".csv"
    return ends[-1] if ends else ""


def open_text(path: str):
    """A (possibly compressed) text file opened for the csv module, UTF-8 with or without a BOM."""
    kind = compression(path)
    text = {"newline": "", "encoding": "utf-8-sig"}
    if kind is None:
        return open(path, **text)
    if kind == ".zip":
        import zipfile

        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            kind = "CSV" if suffix(path) == ".csv" else suffix(path).lstrip(".").upper()
            raise DataError(f"{path}: a .zip must hold exactly one {kind} file; it holds {len(members)}")
        return io.TextIOWrapper(archive.open(members[0]), **text)
    if kind == ".zst":
        import zstandard

        return zstandard.open(path, "rt", **text)
    import bz2
    import gzip
    import lzma

    return {".gz": gzip, ".bz2": bz2, ".xz": lzma}[kind].open(path, "rt", **text)


@contextlib.contextmanager
def opened(path: str):
    """``open_text`` with a missing, undecodable or corrupt file as a one-line DataError."""
    import lzma
    import zipfile

    try:
        with open_text(path) as fh:
            yield fh
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; save the table as UTF-8 CSV") from None
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable {compression(path) or 'text'} file ({str(exc)[:120]})") from None
