"""`hairnet predict`: faces found in real photos → overlay PNG and JSON per photo.

Every face the detector finds gets an entry (or the one box given with --face-box). A photo with
no face, or one that cannot be read, is reported and skipped; the others go on, and the command
exits non-zero if any photo failed. A photo's two outputs are written together through
`files.write_files` (temporary names, then renamed), so a failure leaves no partial file. Photos
are analysed upright: `load_image` applies the EXIF orientation, and the overlay is of the
upright photo. Two inputs with the same file stem would write the same outputs: the second is
reported as failed rather than overwriting the first.
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
from .files import make_folder, png_bytes, write_files
from .inference import analyze_crops, merge_labels, overlay
from .postprocess import head_crop_box

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp", ".gif"}


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given; folders contribute their image files, sorted. A folder without any is an error."""
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise HairNetError(f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
            files += found
        else:
            files.append(path)
    return files


def _check_face_box(path: Path, face_box, width: int, height: int) -> None:
    """A given box must overlap the photo and be no larger than it: the crop is cut at full size."""
    x, y, w, h = face_box
    if not (x < width and y < height and x + w > 0 and y + h > 0 and w <= width and h <= height):
        raise HairNetError(f"{path}: --face-box {x:g},{y:g},{w:g},{h:g} does not lie on the {width}×{height} photo "
                           "(it must overlap it and be no larger than it)")


def predict_image(model, rule, path: Path, out_dir: Path, face_box=None, flip: bool = False) -> dict:
    image = load_image(path)
    if face_box:
        _check_face_box(path, face_box, image.width, image.height)
    faces = [face_box] if face_box else detect_faces(image)
    if not faces:
        raise HairNetError(f"{path}: no face found (pass --face-box x,y,w,h to analyse a known region)")
    analyses = analyze_crops(model, image, [head_crop_box(face, rule) for face in faces], flip, source=str(path))
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
    write_files({
        out_dir / f"{path.stem}_overlay.png": png_bytes(overlay(image, merge_labels(analyses, image.width, image.height))),
        out_dir / f"{path.stem}.json": json.dumps(result, indent=1),
    })
    return result


def predict(paths: list[Path], checkpoint: Path, out_dir: Path, face_box=None, flip: bool = False) -> int:
    model, payload = load_checkpoint(checkpoint)
    inputs = expand_inputs(paths)
    make_folder(out_dir)
    failed = 0
    first_with_stem: dict[str, Path] = {}
    for path in inputs:
        try:
            earlier = first_with_stem.setdefault(path.stem, path)
            if earlier != path:
                raise HairNetError(f"{path}: its outputs would overwrite those of {earlier} (same name "
                                   f"{path.stem!r}); rename one or predict them into different folders")
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
