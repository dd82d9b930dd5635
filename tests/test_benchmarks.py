"""benchmarks/latency.py with tiny run counts: the report's shape and its ratios, never speeds."""

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import latency  # noqa: E402

SECTIONS = ("model_alone", "batch", "pipeline")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One tiny run of the script's main: no checkpoint (untrained model), scikit-image's astronaut."""
    tmp = tmp_path_factory.mktemp("latency")
    out = tmp / "latency.json"
    status = latency.main([
        "--json", str(out), "--checkpoint", str(tmp / "none.pt"), "--photos", str(tmp / "no-photos"),
        "--threads", "1", "--runs", "2", "--warmup", "0", "--batch-size", "2", "--batch-runs", "1",
        "--pipeline-passes", "1",
    ])
    assert status == 0
    assert out.with_suffix(".md").read_text().startswith("# CPU latency")
    return json.loads(out.read_text())


def test_report_has_every_section_and_describes_the_machine(report):
    assert {"machine", "settings", "hairnet", "photos", "skipped", "model_alone", "batch", "pipeline",
            "ratios", "ratio_definition", "note"} <= report.keys()
    assert {"cpu", "cores", "threads", "torch_threads", "torch", "numpy"} <= report["machine"].keys()
    assert report["machine"]["torch_threads"] == 1
    assert report["hairnet"]["trained"] is False and "not found" in report["hairnet"]["weights"]
    assert report["photos"]["names"] == ["skimage.data.astronaut"]
    for section in SECTIONS:
        assert report[section]["hairnet"]["median_ms"] > 0


def test_ratios_are_positive_numbers_for_every_candidate_that_ran(report):
    measured = {
        "model_alone": [*latency.REFERENCES, latency.MEDIAPIPE],
        "batch": list(latency.REFERENCES),
        "pipeline": [latency.MEDIAPIPE],
    }
    for section in SECTIONS:
        ratios = report["ratios"][section]
        assert set(ratios) == {name for name in measured[section] if name not in report["skipped"]}
        for value in ratios.values():
            assert isinstance(value, float) and math.isfinite(value) and value > 0


def test_skipped_candidates_say_why(report):
    for name, reason in report["skipped"].items():
        assert name in (*latency.REFERENCES, latency.MEDIAPIPE)
        assert isinstance(reason, str) and reason and "\n" not in reason


def test_missing_peers_module_is_a_one_line_skip(monkeypatch):
    monkeypatch.setitem(sys.modules, "hairnet.peers", None)  # makes the import fail
    peer, reason = latency.mediapipe_peer(1)
    assert peer is None and "hairnet.peers" in reason and "\n" not in reason


def test_interleaved_timing_rotates_the_order():
    calls = []
    samples = latency.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert {name: len(s) for name, s in samples.items()} == {"a": 3, "b": 3}
    assert latency.ratios({"hairnet": {"median_ms": 2.0}, "other": {"median_ms": 5.0}, "gone": {}}) == {"other": 2.5}


def test_reports_are_written_atomically(tmp_path):
    target = tmp_path / "deep" / "report.json"
    latency.write_atomic(target, "{}\n")
    latency.write_atomic(target, '{"a": 1}\n')
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_markdown_names_skipped_candidates_and_their_reason(report):
    edited = json.loads(json.dumps(report))
    edited["skipped"][latency.MEDIAPIPE] = "no runtime here"
    for section in SECTIONS:
        edited[section].pop(latency.MEDIAPIPE, None)
        edited["ratios"][section].pop(latency.MEDIAPIPE, None)
    assert f"| {latency.MEDIAPIPE} | skipped: no runtime here |" in latency.markdown(edited)
