"""`splits.json` next to the dataset folders: our own train/val/test lists, when present.

A user's full official download has no such file (or lacks the dataset's key), and the readers
then fall back to each dataset's official split.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from ..errors import DataError


def listed_stems(root: Path, key: str, split: str) -> tuple[list[str], str] | None:
    """The stems `splits.json` (in root's parent) lists for `key`/`split`, with a description;
    None when there is no such file or it has no entry for `key`."""
    path = Path(root).parent / "splits.json"
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError, RecursionError) as error:  # RecursionError: "[[[[…" nested too deep
        raise DataError(f"{path}: not valid JSON ({type(error).__name__}: {error})") from None
    if not isinstance(table, dict) or key not in table:
        return None
    entry = table[key]
    if not isinstance(entry, dict) or split not in entry:
        raise DataError(f"{path}: entry {key!r} has no {split!r} list")
    stems = entry[split]
    if not isinstance(stems, list) or not all(isinstance(s, str) and s for s in stems):
        raise DataError(f"{path}: {key}.{split} must be a list of non-empty strings")
    if len(set(stems)) != len(stems):
        raise DataError(f"{path}: {key}.{split} lists a stem twice")
    outside = next((s for s in stems if not _inside(s)), None)
    if outside is not None:
        raise DataError(f"{path}: {key}.{split} entry {outside!r} is not a relative path inside the dataset folder")
    return stems, f"{path} [{key}][{split}]"


def _inside(stem: str) -> bool:
    """Stems become paths under the dataset folder: no absolute path, no '..', no NUL byte."""
    posix = PurePosixPath(stem)
    return "\0" not in stem and not posix.is_absolute() and ".." not in posix.parts
