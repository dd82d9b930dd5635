"""CPU latency of HairNet beside reference networks, all timed in the same run.

    python benchmarks/latency.py [--json benchmarks/results/latency.json] [--threads N] [--runs 50]

Measured, with the same torch/LiteRT/OpenCV thread count for everything:
- the model alone, one 224×224 image: HairNet, torchvision's lraspp_mobilenet_v3_large and
  deeplabv3_mobilenet_v3_large (random weights, 2 classes, nothing downloaded) and MediaPipe's
  hair network (its own 512×512 input, through hairnet.peers);
- batch throughput of the PyTorch models;
- the whole pipeline on real photos: HairNet = face detection + crop + model + label map pasted
  back; MediaPipe = resize + model + upsample to the photo.
Candidates are timed interleaved (run i of each before run i + 1 of any, in rotating order), so
that other load on the machine slows them alike; each figure is a median of many runs after
warm-up. Ratios are reference time ÷ HairNet time: above 1, HairNet is faster.

Writes the JSON report and a Markdown table beside it (same name, .md), each atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from PIL import Image

from hairnet.checkpoint import load_checkpoint
from hairnet.contract import DEFAULT_CROP
from hairnet.data.faces import find_face
from hairnet.data.images import load_image
from hairnet.errors import HairNetError
from hairnet.inference import analyze_crops
from hairnet.model import HairNet, HairNetConfig
from hairnet.postprocess import head_crop_box, whole_image_box

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO / "checkpoints" / "hairnet.pt"
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "CelebAMask-HQ" / "CelebA-HQ-img"
DEFAULT_JSON = REPO / "benchmarks" / "results" / "latency.json"
REFERENCES = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")
MEDIAPIPE = "mediapipe_hair"
HAIRNET = "hairnet"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine(threads: int) -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: keep platform's answer
    return {
        "cpu": cpu,
        "cores": usable_cores(),
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for anyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def time_interleaved(candidates: dict[str, Callable[[], object]], runs: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each candidate; round r calls them in an order rotated by r."""
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    samples = {name: [] for name in names}
    for run in range(runs):
        for name in names[run % len(names):] + names[:run % len(names)]:
            start = time.perf_counter()
            candidates[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def summary(seconds: list[float]) -> dict:
    values = np.asarray(seconds) * 1000
    return {"median_ms": round(float(np.median(values)), 3), "p90_ms": round(float(np.percentile(values, 90)), 3),
            "runs": len(values)}


def load_hairnet(checkpoint: Path) -> tuple[HairNet, object, dict]:
    """The checkpoint's model and crop rule, or an untrained default model when there is no checkpoint."""
    # Repository paths are reported relative to it: reports are compared across machines.
    shown = checkpoint.resolve().relative_to(REPO) if checkpoint.resolve().is_relative_to(REPO) else checkpoint
    if checkpoint.is_file():
        model, payload = load_checkpoint(checkpoint)
        return model, payload["crop_rule"], {"weights": str(shown), "trained": True}
    model = HairNet(HairNetConfig()).eval()
    return model, DEFAULT_CROP, {"weights": f"untrained default config ({shown} not found)", "trained": False}


def reference_models() -> tuple[dict[str, torch.nn.Module], str | None]:
    """torchvision's segmentation networks with random weights, or the reason they cannot be built."""
    try:
        from torchvision.models import segmentation
    except ImportError as error:
        return {}, f"torchvision is not importable ({error}); pip install torchvision"
    # Two classes, as HairNet's two channels; weights=None and weights_backbone=None download nothing.
    return {name: getattr(segmentation, name)(weights=None, weights_backbone=None, num_classes=2).eval()
            for name in REFERENCES}, None


def mediapipe_peer(threads: int):
    """MediaPipe's hair network through hairnet.peers, or None and the one-line reason it is missing."""
    try:
        from hairnet.peers import MediaPipeHair
    except ImportError as error:
        return None, f"hairnet.peers is not importable ({error})"
    try:
        return MediaPipeHair(model_path=None, threads=threads), None
    except HairNetError as error:  # PeerUnavailable names the missing file or extra
        return None, str(error).splitlines()[0]


def load_photos(folder: Path, count: int) -> list[tuple[str, Image.Image]]:
    """The first `count` photos of `folder` (CelebA-HQ by default), else scikit-image's astronaut."""
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:count]
        if files:
            return [(p.name, load_image(p)) for p in files]
    from skimage import data  # public-domain photo, shipped with scikit-image (the test extra)
    return [("skimage.data.astronaut", Image.fromarray(data.astronaut()))]


def hairnet_pipeline(model: HairNet, rule, image: Image.Image) -> bool:
    """Face detection, then what `hairnet predict` runs: crop, model, label map pasted back.

    A photo without a face is framed whole, as evaluation does. True when a face was found.
    """
    face = find_face(image)
    box = head_crop_box(face, rule) if face else whole_image_box(image.width, image.height)
    analyze_crops(model, image, [box])[0].labels(image.width, image.height)
    return face is not None


def ratios(times: dict[str, dict], baseline: str = HAIRNET) -> dict[str, float]:
    """Each other candidate's median time ÷ the baseline's."""
    base = times[baseline]["median_ms"]
    return {name: round(entry["median_ms"] / base, 3) for name, entry in times.items()
            if name != baseline and "median_ms" in entry}


def measure(checkpoint: Path = DEFAULT_CHECKPOINT, photos_dir: Path = DEFAULT_PHOTOS, photos: int = 4,
            threads: int = 2, runs: int = 50, warmup: int = 5, batch_size: int = 16, batch_runs: int = 5,
            pipeline_passes: int = 5, note: str = "", log: Callable[[str], None] = print) -> dict:
    """Every measurement of the module docstring, as one JSON-ready report."""
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    model, rule, hairnet_source = load_hairnet(checkpoint)
    references, references_skipped = reference_models()
    peer, mediapipe_skipped = mediapipe_peer(threads)
    skipped = {name: references_skipped for name in REFERENCES if references_skipped}
    if mediapipe_skipped:
        skipped[MEDIAPIPE] = mediapipe_skipped
    for name, reason in skipped.items():
        log(f"skipped {name}: {reason}")
    log(f"HairNet: {hairnet_source['weights']}" + ("" if hairnet_source["trained"] else "; it times as trained weights do"))

    images = load_photos(photos_dir, photos)
    arrays = [np.asarray(image) for _, image in images]
    networks = {HAIRNET: model, **references}
    # Inputs in the models' range, x/127.5 − 1; convolutions cost the same whatever the pixels are.
    batch = torch.rand(batch_size, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x = batch[:1]

    with torch.inference_mode():
        log(f"model alone, 1 image: {runs} runs after {warmup} warm-up, {threads} threads")
        candidates = {name: (lambda net=net: net(x)) for name, net in networks.items()}
        if peer is not None:
            tensor = peer.preprocess(arrays[0])
            candidates[MEDIAPIPE] = lambda: peer.invoke(tensor)
        alone = {name: summary(s) for name, s in time_interleaved(candidates, runs, warmup).items()}

        log(f"batch throughput: batch {batch_size}, {batch_runs} runs after 1 warm-up")
        batch_samples = time_interleaved({name: (lambda net=net: net(batch)) for name, net in networks.items()},
                                         batch_runs, 1)
        throughput = {name: {**summary(s), "images_per_s": round(batch_size / float(np.median(s)), 2)}
                      for name, s in batch_samples.items()}

    log(f"whole pipeline: {len(images)} photos × {pipeline_passes} passes after 1 warm-up pass")
    faces_found = sum(hairnet_pipeline(model, rule, image) for _, image in images)
    pipeline_samples: dict[str, list[float]] = {}
    for (_, image), array in zip(images, arrays):
        candidates = {HAIRNET: lambda image=image: hairnet_pipeline(model, rule, image)}
        if peer is not None:
            candidates[MEDIAPIPE] = lambda array=array: peer.hair_probability(array)
        for name, s in time_interleaved(candidates, pipeline_passes, 1).items():
            pipeline_samples.setdefault(name, []).extend(s)
    pipeline = {name: summary(s) for name, s in pipeline_samples.items()}

    return {
        "machine": machine(threads),
        "settings": {"runs": runs, "warmup": warmup, "batch_size": batch_size, "batch_runs": batch_runs,
                     "pipeline_passes": pipeline_passes, "input": "1×3×224×224 (MediaPipe: its own 1×512×512×4)"},
        "note": note,
        "hairnet": hairnet_source,
        "photos": {"names": [name for name, _ in images], "sizes": [list(image.size) for _, image in images],
                   "faces_found": faces_found},
        "skipped": skipped,
        "model_alone": alone,
        "batch": throughput,
        "pipeline": pipeline,
        "ratio_definition": "reference time ÷ HairNet time (batch: HairNet images/s ÷ reference images/s); "
                            "above 1 means HairNet is faster",
        "ratios": {
            "model_alone": ratios(alone),
            "batch": ratios(throughput),
            "pipeline": ratios(pipeline),
        },
    }


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# CPU latency (benchmarks/latency.py)",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['threads']} threads; torch {m['torch']}, numpy {m['numpy']}, "
        f"Python {m['python']}. HairNet weights: {report['hairnet']['weights']}"
        + ("." if report["hairnet"]["trained"] else "; it times as trained weights do."),
        "",
        *([f"Conditions: {report['note']}", ""] if report["note"] else []),
        "Medians in milliseconds; ratio = reference time ÷ HairNet time (above 1: HairNet is faster).",
        "",
        "| network | model alone (ms) | ratio | batch images/s | ratio | pipeline (ms) | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in (HAIRNET, *REFERENCES, MEDIAPIPE):
        if name in report["skipped"]:
            lines.append(f"| {name} | skipped: {report['skipped'][name]} | | | | | |")
            continue
        cells = [_cell(report, section, name, key) for section, key in
                 (("model_alone", "median_ms"), ("batch", "images_per_s"), ("pipeline", "median_ms"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    s, p = report["settings"], report["photos"]
    lines += [
        "",
        f"Model alone: {s['runs']} runs after {s['warmup']} warm-up, input {s['input']}. "
        f"Batch: {s['batch_size']} images, {s['batch_runs']} runs. "
        f"Pipeline: {len(p['names'])} photos ({', '.join(p['names'])}; a face in {p['faces_found']}) × "
        f"{s['pipeline_passes']} passes; HairNet = face detection + crop + model + paste-back, "
        "MediaPipe = resize + model + upsample.",
        "",
    ]
    return "\n".join(lines)


def _cell(report: dict, section: str, name: str, key: str) -> str:
    """A figure and its ratio to HairNet, '–' where the candidate has no such measurement."""
    entry = report[section].get(name)
    if entry is None:
        return "– | –"
    ratio = "1" if name == HAIRNET else f"{report['ratios'][section][name]:.2f}"
    return f"{entry[key]:.2f} | {ratio}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="report path; the .md goes beside it")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of photos for the pipeline")
    parser.add_argument("--photo-count", type=int, default=4)
    parser.add_argument("--threads", type=int, default=usable_cores(), help="default: the usable cores")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batch-runs", type=int, default=5)
    parser.add_argument("--pipeline-passes", type=int, default=5)
    parser.add_argument("--note", default="", help="conditions worth recording, e.g. 'on battery', 'a training job ran'")
    args = parser.parse_args(argv)
    for flag in ("threads", "runs", "batch_size", "batch_runs", "pipeline_passes", "photo_count"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    try:
        report = measure(args.checkpoint, args.photos, args.photo_count, args.threads, args.runs, args.warmup,
                         args.batch_size, args.batch_runs, args.pipeline_passes, args.note)
    except HairNetError as error:
        print(f"latency.py: {error}", file=sys.stderr)
        return 1
    write_atomic(args.json, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    write_atomic(args.json.with_suffix(".md"), markdown(report))
    print(markdown(report))
    print(f"wrote {args.json} and {args.json.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
