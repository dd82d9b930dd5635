"""Writing outputs: every file appears whole or not at all, and a failure names the path.

Callers encode first (PNG, JSON, torch.save into memory) and hand over bytes, so that the only
failures left here are the operating system's: each becomes an OutputError naming the path.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

from .errors import OutputError


def make_folder(path: Path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{path}: cannot create the output folder ({error.strerror or error})") from None
    return path


def write_files(contents: dict[Path, bytes | str]) -> None:
    """Write every file under a temporary name in its own folder, then rename them all.

    A kill, a full disk or an unwritable folder leaves no temporary behind and no file half
    written. Files written together (a photo's overlay and its JSON) appear together: when a
    later rename fails, the ones already renamed are removed again.
    """
    staged: list[tuple[Path, Path]] = []
    renamed: list[Path] = []
    try:
        for path, data in contents.items():
            path = Path(path)
            make_folder(path.parent)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            staged.append((tmp, path))
            try:
                with open(tmp, "xb") as f:  # "x": never follow a planted file or link
                    f.write(data.encode() if isinstance(data, str) else data)
            except OSError as error:
                raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as error:
                for done in renamed:
                    done.unlink(missing_ok=True)
                raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
            renamed.append(path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def write_file(path: Path, data: bytes | str) -> None:
    write_files({Path(path): data})


def png_bytes(image) -> bytes:
    """A PIL image encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
