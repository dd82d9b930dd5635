"""Hostile-input suite: every entry point fed what real users and attackers send.

Cases are generated at run time from fixed seeds (no binary corpus). Each case must end in a
correct answer (checked against an oracle: the clean file's decode, the generated labels, the
original weights) or in the project's own error (HairNetError) whose message names the file —
never another exception (a crash), never a hang (each test runs under pytest-timeout), never a
partial output file (tests that write check the folder afterwards). The tally of outcomes per
entry point is printed at the end of the run.
"""

from __future__ import annotations

import collections
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hairnet.errors import HairNetError

CASE_SECONDS = 60  # generous: the slowest case loads and probes a checkpoint on a busy machine

_tally: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_current = [""]  # the entry point the running test exercises, for failures


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.timeout(CASE_SECONDS))


def pytest_runtest_setup(item):
    _current[0] = Path(item.fspath).stem  # until the test names its entry point through attempt()


def pytest_runtest_logreport(report):
    if report.when == "call" and report.failed and "/hostile/" in report.nodeid:
        _tally[_current[0]]["hangs" if "Timeout" in str(report.longrepr) else "crashes or wrong answers"] += 1


def pytest_terminal_summary(terminalreporter):
    if not _tally:
        return
    terminalreporter.section("hostile input: outcomes per entry point")
    columns = ("correct answers", "clean errors", "crashes or wrong answers", "hangs", "output folders checked")
    terminalreporter.write_line(f"{'entry point':34} {'cases':>6} " + " ".join(f"{c:>14}" for c in columns))
    for entry, counts in sorted(_tally.items()):
        cases = counts["correct answers"] + counts["clean errors"] + counts["crashes or wrong answers"] + counts["hangs"]
        terminalreporter.write_line(f"{entry:34} {cases:>6} " + " ".join(f"{counts[c]:>14}" for c in columns))


def record(entry: str, outcome: str) -> None:
    _tally[entry][outcome] += 1


def attempt(entry: str, action, names: str | Path | None = None):
    """Run `action()`: its result (a correct answer, for the caller to check), or the HairNetError
    it raised, whose message must contain `names` (the file at fault). Any other exception
    propagates and fails the test: that is a crash."""
    _current[0] = entry
    try:
        result = action()
    except HairNetError as error:
        record(entry, "clean errors")
        if names is not None:
            assert str(names) in str(error), f"the message does not name {names}: {error}"
        assert "Traceback" not in str(error)
        return error
    record(entry, "correct answers")
    return result


def no_partial_files(folder: Path, entry: str) -> None:
    """No temporary or half-written file anywhere under `folder`."""
    leftovers = [p for p in Path(folder).rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert not leftovers, f"partial files left behind: {leftovers}"
    record(entry, "output folders checked")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Keep the suite light on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def rng(*key) -> np.random.Generator:
    """A generator seeded by the case's identity (stable across runs, unlike hash()), so every
    case is reproducible on its own."""
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in key])


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def smooth_photo(width: int = 32, height: int = 24, seed: int = 0) -> Image.Image:
    """A small RGB picture with gradients and an asymmetric block (so rotations are visible)."""
    y, x = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(seed).integers(0, 40, (height, width, 3))
    pixels = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1) // 2 + noise
    pixels[: height // 3, : width // 4] = (250, 20, 20)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
