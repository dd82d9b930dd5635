"""Whitespace-separated annotation text files, read the same forgiving-but-exact way everywhere.

Forgiving about the bytes that vary between copies of the same official file (a UTF-8 BOM, CRLF,
LF or a mix, runs of spaces or tabs, blank lines); exact about content, which callers check
against the line numbers returned here.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError


def numbered_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(1-based line number, whitespace-split fields) for every non-blank line."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from None
    return [(number, line.split()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def natural(text: str) -> int | None:
    """A count or index written in at most 18 ASCII digits, else None.

    `"²".isdigit()` is true but `int("²")` fails, and `int` refuses more than 4300 digits.
    """
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
