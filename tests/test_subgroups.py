"""benchmarks/subgroups.py: pooled hair IoU over the photos with and without each CelebA attribute."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import subgroups  # noqa: E402
from test_data_readers import make_celebamask  # noqa: E402
from test_evaluate import _constant_model  # noqa: E402

from hairnet.errors import DataError  # noqa: E402


def test_each_group_pools_its_own_photos(tmp_path):
    # Photos 0 and 2 have hair in their top half, photo 1 (Bald) none; the model says hair everywhere.
    root = make_celebamask(tmp_path, {0: ["hair"], 2: ["hair"]}, {"train": [], "val": ["0", "1", "2"], "test": []})
    everywhere = _constant_model(tmp_path / "everywhere.pt", 20.0)
    nowhere = _constant_model(tmp_path / "nowhere.pt", -20.0)
    result = subgroups.main(["--checkpoint", str(everywhere), str(nowhere), "--data", str(tmp_path),
                             "--attributes", "Bald", "Black_Hair", "--out", str(tmp_path / "out")])
    groups = result["groups"][str(everywhere)]
    assert groups["all"] == {"images": 3, "hair_iou": pytest.approx(1 / 3)}  # 2 half-photos of hair over 3 photos
    assert groups["Bald"]["with"] == {"images": 1, "hair_iou": 0.0}
    assert groups["Bald"]["without"]["hair_iou"] == pytest.approx(0.5)
    assert groups["Black_Hair"]["with"]["hair_iou"] == pytest.approx(0.5)  # photo 0
    assert groups["Black_Hair"]["without"]["hair_iou"] == pytest.approx(0.25)  # photos 1 and 2
    assert result["groups"][str(nowhere)]["Black_Hair"]["with"]["hair_iou"] == 0.0
    assert json.loads((tmp_path / "out" / "subgroups.json").read_text()) == json.loads(json.dumps(result))
    table = (tmp_path / "out" / "subgroups.md").read_text()
    assert "| Bald | 1 | 0.000 | 0.500 | — | 0.000 |" in table  # no hair and none predicted: no IoU


def test_an_unknown_attribute_is_refused_before_any_photo_is_evaluated(tmp_path, monkeypatch):
    make_celebamask(tmp_path, {0: ["hair"]}, {"train": [], "val": ["0"], "test": []})
    monkeypatch.setattr(subgroups, "hair_counts", lambda *args: pytest.fail("evaluated before checking the names"))
    with pytest.raises(DataError, match="no attribute Wearing_Hat"):
        subgroups.main(["--checkpoint", str(tmp_path / "unused.pt"), "--data", str(tmp_path),
                        "--attributes", "Wearing_Hat", "--out", str(tmp_path / "out")])


def test_mediapipe_joins_the_table_scored_on_the_same_photos(tmp_path):
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (extra 'peers')")
    from hairnet.peers import MEDIAPIPE_FILE, peers_dir

    if not (peers_dir() / MEDIAPIPE_FILE).is_file():
        pytest.skip(f"{peers_dir() / MEDIAPIPE_FILE} not present (set HAIRNET_PEERS_DIR)")
    make_celebamask(tmp_path, {0: ["hair"], 2: ["hair"]}, {"train": [], "val": ["0", "1", "2"], "test": []})
    everywhere = _constant_model(tmp_path / "everywhere.pt", 20.0)
    result = subgroups.main(["--checkpoint", str(everywhere), "--peer", "--data", str(tmp_path),
                             "--attributes", "Bald", "--out", str(tmp_path / "out")])
    assert result["models"] == [str(everywhere), "MediaPipe"]
    mediapipe = result["groups"]["MediaPipe"]
    assert mediapipe["all"]["images"] == 3 and mediapipe["Bald"]["with"]["images"] == 1
    # Random noise photos: whatever MediaPipe finds, photo 1 has no true hair, so its IoU there is 0 or none.
    assert mediapipe["Bald"]["with"]["hair_iou"] in (0.0, None)
    assert "| MediaPipe: with | MediaPipe: without |" in (tmp_path / "out" / "subgroups.md").read_text()
