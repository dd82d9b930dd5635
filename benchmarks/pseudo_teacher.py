"""How good a pseudo-label teacher is: hair IoU of a checkpoint, MediaPipe and their mean on crops with true masks.

    python benchmarks/pseudo_teacher.py [--checkpoint checkpoints/hairnet.pt [OTHER.pt …]]
                                        [--cache cache/k2.0/celebamask-hq-val] [--no-flip]

`hairnet pseudo-label CKPT --peer mediapipe` labels unlabelled training crops with the mean of the
checkpoint's hair probability and MediaPipe's; it refuses validation photos, so the quality of those
labels is measured here instead, on a crop cache whose images have hair masks, with the teacher
computed as pseudo-label computes it (the checkpoint flip-averaged, MediaPipe run on the whole photo
and cut with the crop's square). Hair IoU is pooled over the crops' pixels, each probability
thresholded at 0.5. Prints a Markdown table; needs the `peers` extra and ../shared/peers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hairnet.checkpoint import load_checkpoint
from hairnet.data.cache import load_cache
from hairnet.data.pseudo import BATCH, HAIR, CachePhotos, PhotoPeer, peer_hair
from hairnet.errors import DataError
from hairnet.inference import run_crops

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "hairnet.pt"
DEFAULT_CACHE = Path("cache/k2.0/celebamask-hq-val")


def teacher_scores(checkpoint: Path, cache_dir: Path, peer: PhotoPeer, flip: bool = True) -> dict[str, float]:
    """Pooled hair IoU of the checkpoint alone, the peer alone and their mean, keyed 'checkpoint', peer.name, 'mean'."""
    model, payload = load_checkpoint(checkpoint)
    model.eval()
    cache = load_cache(cache_dir, payload["crop_rule"])
    rows = np.flatnonzero(np.asarray(cache.seg_known)[:, HAIR])
    if not rows.size:
        raise DataError(f"{cache_dir}: no crop has a hair mask; a teacher is scored on a cache with masks")
    photos = CachePhotos(cache.meta)
    names = ("checkpoint", peer.name, "mean")
    counts = np.zeros((len(names), 2), np.int64)  # per teacher: Σ intersection, Σ union
    for start in range(0, rows.size, BATCH):
        batch = rows[start : start + BATCH]
        seg, _, _ = run_crops(model, np.asarray(cache.images[batch]), flip,
                              source=f"{cache_dir} rows {batch[0]}–{batch[-1]}")
        ours, theirs = seg[:, HAIR], peer_hair(peer, cache, batch, photos)
        truth = np.asarray(cache.seg[batch, HAIR]).astype(bool)
        for i, probability in enumerate((ours, theirs, (ours + theirs) / 2)):
            predicted = probability > 0.5
            counts[i] += (np.count_nonzero(predicted & truth), np.count_nonzero(predicted | truth))
    return {name: float(i / u) if u else 0.0 for name, (i, u) in zip(names, counts)}


def markdown(cache_dir: Path, scores: dict[Path, dict[str, float]]) -> str:
    peer = [name for name in next(iter(scores.values())) if name not in ("checkpoint", "mean")][0]
    lines = [f"Hair IoU on the crops of {cache_dir}", "", f"| checkpoint | alone | {peer} | mean (the teacher) |",
             "|---|---|---|---|"]
    lines += [f"| {c} | {s['checkpoint']:.4f} | {s[peer]:.4f} | {s['mean']:.4f} |" for c, s in scores.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, peer: PhotoPeer | None = None) -> dict[Path, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, nargs="+", default=[SHIPPED])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="a crop cache with hair masks")
    parser.add_argument("--no-flip", action="store_true", help="score the checkpoint without flip averaging")
    args = parser.parse_args(argv)
    if peer is None:
        from hairnet.peers import MediaPipeHair  # the `peers` extra, only when no other peer is given

        peer = MediaPipeHair()
    scores = {c: teacher_scores(c, args.cache, peer, flip=not args.no_flip) for c in args.checkpoint}
    print(markdown(args.cache, scores))
    return scores


if __name__ == "__main__":
    main()
