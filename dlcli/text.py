"""The one table printer: columns padded to their widest cell, two spaces apart."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence], header: Sequence | None = None, *, right: Sequence[int] = (),
          rule: bool = False) -> str:  # fmt: skip
    """Aligned text of ``rows`` (cells shown with ``str``) under an optional ``header``.

    Columns listed in ``right`` are right-aligned (numbers); ``rule`` draws a
    line of dashes under the header. Lines carry no trailing spaces.
    """
    body = [[str(c) for c in row] for row in rows]
    head = [str(c) for c in header] if header is not None else None
    every = body + ([head] if head else [])
    widths = [max(len(row[i]) for row in every if i < len(row)) for i in range(max(map(len, every), default=0))]

    def line(row: list[str]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        return "  ".join(cells).rstrip()

    out = []
    if head:
        out.append(line(head))
        if rule:
            out.append("  ".join("-" * w for w in widths))
    out += [line(row) for row in body]
    return "\n".join(out)
