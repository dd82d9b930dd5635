"""The `hairnet` command: one entry point for everything a person does with the Python tooling."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import HairNetError


def cmd_info(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .complexity import count_macs, parameter_count, traced_custom_ops
    from .contract import OUTPUT_SHAPES
    from .model import HairNet, HairNetConfig

    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
    else:
        model = HairNet(HairNetConfig())
    info = {
        "config": model.config.to_dict(),
        "params": parameter_count(model),
        "macs": count_macs(model),
        "outputs": {name: list(shape) for name, shape in OUTPUT_SHAPES.items()},
        "traced_custom_ops": traced_custom_ops(model),
    }
    if args.json:
        print(json.dumps(info))
        return 0
    config = info["config"]
    print(f"HairNet: MobileNet-v1 α={config['width_multiplier']} backbone, decoder {config['decoder_channels']}, "
          f"heads on stride {config['head_stride']}, masking {'on' if config['masking'] else 'off'}")
    print(f"parameters: {info['params']:,}")
    print(f"multiply-accumulates at 224×224: {info['macs'] / 1e6:.1f} M")
    for name, shape in info["outputs"].items():
        print(f"output {name}: {'×'.join(map(str, shape))}")
    print(f"custom ops in the traced graph: {', '.join(info['traced_custom_ops']) or 'none'}")
    return 0


def _key_values(text: str, cast=float) -> dict:
    """`1=12,2=3` or `segmentation=1,color=0.5` → a dict with string keys."""
    try:
        return {k.strip(): cast(v) for k, v in (item.split("=", 1) for item in text.split(",") if item)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected key=value pairs separated by commas, got {text!r}") from None


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .train import Trainer, TrainConfig

    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    overrides = {
        "run_dir": args.run_dir, "data_root": args.data_root, "cache_dir": args.cache_dir,
        "batch_size": args.batch_size, "workers": args.workers, "width_multiplier": args.width,
        "seed": args.seed, "threads": args.threads,
        "init_checkpoint": (args.init[0] if len(args.init) == 1 else tuple(args.init)) if args.init else None,
        "stages": tuple(int(s) for s in args.stages.split(",")) if args.stages else None,
        "epochs": {**config.epochs, **args.epochs} if args.epochs else None,
        "lr": {**config.lr, **args.lr} if args.lr else None,
        "loss_weights": {**config.loss_weights, **args.loss_weights} if args.loss_weights else None,
        "samples_per_epoch": {**config.samples_per_epoch, **args.samples_per_epoch} if args.samples_per_epoch else None,
        "masking": False if args.no_masking else None,
        "augment": False if args.no_augment else None,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    unknown = set(config.loss_weights) - set(TrainConfig().loss_weights)
    if unknown:
        raise HairNetError(f"--lambda: unknown task(s) {sorted(unknown)}")
    run_dir = Trainer(config).run(resume=args.resume)
    print(f"done: checkpoints and logs in {run_dir}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, markdown_table, write_json

    result = evaluate(args.checkpoint, args.dataset, args.root, args.split, masking=not args.no_masking,
                      flip=args.flip, report_dir=args.report, limit=args.limit)
    write_json(result, args.json)
    print(markdown_table(result))
    print(f"wrote {args.json}" + (f" and {args.report}/report.md" if args.report else ""))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare, markdown_table
    from .evaluate import write_json

    result = compare(args.checkpoint, args.dataset, args.root, args.split, report_dir=args.report, limit=args.limit,
                     threads=args.threads)
    write_json(result, args.json)
    print(markdown_table(result))
    print(f"wrote {args.json}" + (f" and {args.report}/report.md" if args.report else ""))
    return 0


def _face_box(text: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--face-box: expected x,y,w,h numbers, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"--face-box: width and height must be positive, got {text!r}")
    return (x, y, w, h)


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import predict

    return predict(args.images, args.checkpoint, args.out, args.face_box, args.flip)


def cmd_export(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint, save_checkpoint
    from .evaluate import summarize

    model, payload = load_checkpoint(args.checkpoint)
    evaluation = payload.get("evaluation") or {}
    if args.evaluation:
        try:
            evaluation = summarize(json.loads(args.evaluation.read_text()))
        except (OSError, ValueError, KeyError) as error:
            raise HairNetError(f"{args.evaluation}: cannot read evaluation figures ({error})") from None
    training = {k: v for k, v in (payload.get("training") or {}).items() if k in ("config", "history", "calibration")}
    save_checkpoint(args.out, model, payload["crop_rule"], evaluation=evaluation, training=training, half=not args.fp32)
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB, {'fp32' if args.fp32 else 'fp16'} weights)")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibration import MASK_DATASETS, calibrate

    sweep = calibrate(args.checkpoint, args.out, args.data, tuple(args.datasets or MASK_DATASETS))
    offsets, chosen = sweep["offsets"], sweep["hair_logit_offset"]
    print("| hair-logit offset | " + " | ".join(sweep["datasets"]) + " | mean |")
    print("|---" * (len(sweep["datasets"]) + 2) + "|")
    for k, offset in enumerate(offsets):
        row = [sweep["hair_iou"][name][k] for name in sweep["datasets"]]
        mark = " (chosen)" if offset == chosen else ""
        print(f"| {offset:+.2f}{mark} | " + " | ".join(f"{v:.4f}" for v in row) + f" | {sum(row) / len(row):.5f} |")
    for failure in sweep["failed_images"]:
        print(f"skipped {failure['stem']}: {failure['reason']}")
    print(f"wrote {args.out}: hair logit offset {chosen:+.2f} (validation hair IoU "
          + ", ".join(f"{name} {sweep['hair_iou_after'][name]:.4f}" for name in sweep["datasets"]) + ")")
    return 0


def cmd_pseudo_label(args: argparse.Namespace) -> int:
    from .data.pseudo import pseudo_label
    from .peers import MediaPipeHair

    if args.out and len(args.source) > 1:
        raise HairNetError("--out names one folder: give one --source with it")
    peer = MediaPipeHair() if args.peer == "mediapipe" else None
    for source in args.source:
        folder = pseudo_label(args.checkpoint, source, args.out, args.confidence, args.keep, not args.no_flip, peer)
        meta = json.loads((folder / "meta.json").read_text())
        print(json.dumps({"cache": str(folder), "images": meta["images"], "of": meta["listed"],
                          "confident_fraction_median": round(meta["pseudo_labels"]["confident_fraction_median"], 4),
                          "build_seconds": meta["build_seconds"]}))
    return 0


def cmd_calibrate_crop(args: argparse.Namespace) -> int:
    from .data.calibrate import main as calibrate

    return calibrate(args.args[1:] if args.args[:1] == ["--"] else args.args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hairnet", description="HairNet: hair segmentation and attributes")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="architecture summary, parameters, MACs, outputs, traced custom ops")
    info.add_argument("--checkpoint", help="describe this checkpoint instead of the default config")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_info)

    train = sub.add_parser("train", help="three-stage training from the crop caches (resumable)")
    train.add_argument("--config", help="JSON file with TrainConfig fields; flags override it")
    train.add_argument("--run-dir", help="run folder (state.pt, last.pt, best.pt, logs); default runs/default")
    train.add_argument("--data-root", help="folder holding the datasets (default ../shared/data)")
    train.add_argument("--cache-dir", help="where decoded crops are cached (default cache/)")
    train.add_argument("--stages", help="comma-separated stages to run, e.g. 1,2,3")
    train.add_argument("--epochs", type=lambda t: _key_values(t, int), help="per stage, e.g. 1=12,2=3,3=2")
    train.add_argument("--lr", type=_key_values, help="per stage, e.g. 1=1e-3,2=1e-4,3=1e-5")
    train.add_argument("--lambda", dest="loss_weights", type=_key_values,
                       help="loss weights λ, e.g. segmentation=1,color=1,bald=2")
    train.add_argument("--samples-per-epoch", type=lambda t: _key_values(t, int), help="per stage cap, e.g. 3=4000")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--workers", type=int, help="data loader worker processes")
    train.add_argument("--threads", type=int, help="torch intra-op threads (0: default)")
    train.add_argument("--width", type=float, help="MobileNet width multiplier α")
    train.add_argument("--seed", type=int)
    train.add_argument("--init", nargs="+", metavar="CHECKPOINT",
                       help="start from this checkpoint's weights (same architecture) instead of scratch; "
                            "several: from the average of their weights")
    train.add_argument("--no-masking", action="store_true", help="the paper's ablation: heads see unmasked maps")
    train.add_argument("--no-augment", action="store_true")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir exactly")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="Table 1/2 figures on a dataset split, on full-size masks")
    evaluate.add_argument("--checkpoint", type=Path, required=True)
    evaluate.add_argument("--dataset", required=True,
                          choices=["celebamask-hq", "figaro1k", "lfw-parts", "fasseg", "celeba-attrs", "celeba-hq-attrs"])
    evaluate.add_argument("--root", type=Path, required=True, help="the dataset's folder, e.g. ../shared/data/Figaro1k")
    evaluate.add_argument("--split", default="val", choices=["train", "val", "test"])
    evaluate.add_argument("--no-masking", action="store_true", help="the ablation: heads read unmasked maps")
    evaluate.add_argument("--flip", action="store_true", help="average with the mirrored crop (off by default)")
    evaluate.add_argument("--limit", type=int, help="evaluate only the first N images")
    evaluate.add_argument("--json", type=Path, required=True, help="where to write the figures")
    evaluate.add_argument("--report", type=Path, help="folder for report.md and best/worst overlays")
    evaluate.set_defaults(func=cmd_evaluate)

    compare = sub.add_parser("compare", help="HairNet vs MediaPipe's hair segmenter on the same images (hair vs rest)")
    compare.add_argument("--checkpoint", type=Path, default=Path("checkpoints/hairnet.pt"))
    compare.add_argument("--dataset", required=True, choices=["celebamask-hq", "figaro1k", "lfw-parts", "fasseg"])
    compare.add_argument("--root", type=Path, required=True, help="the dataset's folder, e.g. ../shared/data/Figaro1k")
    compare.add_argument("--split", default="test", choices=["train", "val", "test"])
    compare.add_argument("--threads", type=int, default=2, help="CPU threads for MediaPipe's interpreter")
    compare.add_argument("--limit", type=int, help="compare only the first N images")
    compare.add_argument("--json", type=Path, required=True, help="where to write the figures")
    compare.add_argument("--report", type=Path, help="folder for report.md and side-by-side overlays of the biggest losses and wins")
    compare.set_defaults(func=cmd_compare)

    predict = sub.add_parser("predict", help="overlay PNG and JSON for each face in each photo")
    predict.add_argument("images", type=Path, nargs="+", help="image files or folders")
    predict.add_argument("--checkpoint", type=Path, default=Path("checkpoints/hairnet.pt"))
    predict.add_argument("--out", type=Path, required=True, help="output folder")
    predict.add_argument("--face-box", type=_face_box, help="x,y,w,h of the face instead of detecting one")
    predict.add_argument("--flip", action="store_true", help="average with the mirrored crop")
    predict.set_defaults(func=cmd_predict)

    export = sub.add_parser("export", help="a run's checkpoint → the shipped file (fp16, with evaluation figures)")
    export.add_argument("--checkpoint", type=Path, required=True, help="e.g. runs/NAME/best.pt")
    export.add_argument("--out", type=Path, default=Path("checkpoints/hairnet.pt"))
    export.add_argument("--evaluation", type=Path, help="accuracy.json of benchmarks/accuracy.py, carried as metadata")
    export.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    export.set_defaults(func=cmd_export)

    calibrate = sub.add_parser("calibrate", help="choose the hair-logit offset of the best validation hair IoU and "
                                                 "fold it into a copy of the checkpoint")
    calibrate.add_argument("checkpoint", type=Path)
    calibrate.add_argument("--out", type=Path, required=True, help="the calibrated checkpoint (may be the input)")
    calibrate.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder of the datasets")
    calibrate.add_argument("--datasets", nargs="+", help="validation splits to average (default: every mask set "
                                                          "with one: celebamask-hq, figaro1k, lfw-parts)")
    calibrate.set_defaults(func=cmd_calibrate)

    pseudo = sub.add_parser("pseudo-label", help="self-training: mask caches from a model's confident predictions "
                                                 "on unlabelled training crops")
    pseudo.add_argument("checkpoint", type=Path)
    pseudo.add_argument("--source", required=True, type=Path, nargs="+", help="crop cache folder(s) without masks")
    pseudo.add_argument("--out", type=Path, help="output folder (one source only; default pseudo-<source> beside it)")
    pseudo.add_argument("--confidence", type=float, default=0.9, help="a pixel is confident at p ≥ this or ≤ 1 − this")
    pseudo.add_argument("--keep", type=float, default=0.95, help="fraction of confident pixels an image needs")
    pseudo.add_argument("--no-flip", action="store_true", help="predict without flip averaging")
    pseudo.add_argument("--peer", choices=["mediapipe"], help="average the hair channel with this peer's, run on "
                        "the whole source photos (needs the 'peers' extra and ../shared/peers)")
    pseudo.set_defaults(func=cmd_pseudo_label)

    calibrate_crop = sub.add_parser("calibrate-crop", add_help=False,
                               help="fit the head-crop constants (k, dx, dy) on aligned CelebA-HQ images")
    calibrate_crop.add_argument("args", nargs=argparse.REMAINDER, help="see `hairnet calibrate-crop --help`")
    calibrate_crop.set_defaults(func=cmd_calibrate_crop)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["calibrate-crop"]:  # argparse's REMAINDER would not pass on a leading --help
        argv = ["calibrate-crop", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HairNetError as error:
        print(f"hairnet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (train turns it into one): a message, not a traceback
        print(f"hairnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
