"""`hairnet predict`: faces found in real photos → overlay PNG and JSON per photo.

Every face the detector finds gets an entry (or the one box given with --face-box). A photo with
no face, or one that cannot be read, is reported and skipped; the others go on, and the command
exits non-zero if any photo failed. Outputs are written to temporary names and renamed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .checkpoint import load_checkpoint
from .contract import LABEL_HAIR, LABEL_SKIN
from .data.faces import detect_faces
from .data.images import load_image
from .errors import HairNetError
from .inference import analyze_crops, merge_labels, overlay
from .postprocess import head_crop_box

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp", ".gif"}


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given; folders contribute their image files, sorted."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)
    return files


def predict_image(model, rule, path: Path, out_dir: Path, face_box=None, flip: bool = False) -> dict:
    image = load_image(path)
    faces = [face_box] if face_box else detect_faces(image)
    if not faces:
        raise HairNetError(f"{path}: no face found (pass --face-box x,y,w,h to analyse a known region)")
    analyses = analyze_crops(model, image, [head_crop_box(face, rule) for face in faces], flip)
    entries = []
    for face, analysis in zip(faces, analyses):
        labels = analysis.labels(image.width, image.height)
        entries.append({
            "face_box": [round(v, 2) for v in face],
            "crop_box": list(analysis.box.as_tuple()),
            **analysis.decoded(),
            "hair_pixels": int(np.count_nonzero(labels == LABEL_HAIR)),
            "skin_pixels": int(np.count_nonzero(labels == LABEL_SKIN)),
        })
    result = {"image": str(path), "width": image.width, "height": image.height, "faces": entries}
    stem = path.stem
    _atomic_write_image(overlay(image, merge_labels(analyses, image.width, image.height)), out_dir / f"{stem}_overlay.png")
    _atomic_write_text(json.dumps(result, indent=1), out_dir / f"{stem}.json")
    return result


def _atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _atomic_write_image(image, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)


def predict(paths: list[Path], checkpoint: Path, out_dir: Path, face_box=None, flip: bool = False) -> int:
    model, payload = load_checkpoint(checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in expand_inputs(paths):
        try:
            result = predict_image(model, payload["crop_rule"], path, out_dir, face_box, flip)
        except HairNetError as error:
            failed += 1
            print(f"skipped: {error}", file=sys.stderr)
            continue
        for index, face in enumerate(result["faces"]):
            color = face["hair_color"]
            present = [name for name, a in face["attributes"].items() if a["present"]] or ["none"]
            print(f"{path}: face {index + 1}: hair {color['label']} ({color['probability']:.2f}), "
                  f"{', '.join(present)}; hair {face['hair_pixels']} px → {out_dir / (path.stem + '_overlay.png')}")
    return 1 if failed else 0
