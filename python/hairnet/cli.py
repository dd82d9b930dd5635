"""The `hairnet` command: one entry point for everything a person does with the Python tooling."""

from __future__ import annotations

import argparse
import json
import sys

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hairnet", description="HairNet: hair segmentation and attributes")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="architecture summary, parameters, MACs, outputs, traced custom ops")
    info.add_argument("--checkpoint", help="describe this checkpoint instead of the default config")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HairNetError as error:
        print(f"hairnet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
