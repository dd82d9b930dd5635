"""HairNet's size: parameters, multiply-accumulates and the .mlpackage of each conversion variant.

    python benchmarks/complexity.py [CHECKPOINT] [--json benchmarks/results/complexity.json]
                                    [--variants fp32,fp16,...] [--keep DIR]

Each package is made the way a user makes it, by `python conversion/to_coreml.py CKPT -o OUT
--precision P [--palettize B] --force`: fp32, fp16, and fp16 with the weights palettized to 8, 6
and 4 bits. Without a checkpoint an untrained model of the default config is converted: the sizes
are the same. A variant that fails to convert is reported with the converter's last error line and
the script exits non-zero after writing the report (JSON and a Markdown table beside it, atomically).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from hairnet.checkpoint import save_checkpoint
from hairnet.complexity import count_macs, parameter_count
from latency import DEFAULT_CHECKPOINT, REPO, load_hairnet, machine, write_atomic

CONVERTER = REPO / "conversion" / "to_coreml.py"
DEFAULT_JSON = REPO / "benchmarks" / "results" / "complexity.json"
# name → (precision, palette bits)
VARIANTS = {
    "fp32": ("fp32", None),
    "fp16": ("fp16", None),
    "fp16-pal8": ("fp16", 8),
    "fp16-pal6": ("fp16", 6),
    "fp16-pal4": ("fp16", 4),
}


def tree_bytes(path: Path) -> int:
    """Bytes of every file under `path` (a package is a folder)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def convert(checkpoint: Path, output: Path, precision: str, bits: int | None) -> dict:
    """Run the converter; the package's sizes and the time it took, or the converter's error."""
    command = [sys.executable, str(CONVERTER), str(checkpoint), "-o", str(output), "--precision", precision, "--force"]
    if bits:
        command += ["--palettize", str(bits)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = round(time.perf_counter() - start, 1)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": lines[-1] if lines else f"exit status {done.returncode}", "conversion_s": seconds}
    weights = output / "Data" / "com.apple.CoreML" / "weights"
    return {"package_bytes": tree_bytes(output), "weights_bytes": tree_bytes(weights) if weights.is_dir() else 0,
            "conversion_s": seconds}


def measure(checkpoint: Path, variants: list[str], out_dir: Path, log=print) -> dict:
    model, _, source = load_hairnet(checkpoint)
    if not source["trained"]:
        # The converter reads a checkpoint file: give it the untrained model in the same format.
        checkpoint = out_dir / "untrained.pt"
        save_checkpoint(checkpoint, model)
    report = {
        "machine": machine(torch.get_num_threads()),
        "coremltools": importlib.metadata.version("coremltools"),
        "hairnet": source,
        "parameters": parameter_count(model),
        "macs": count_macs(model),
        "variants": {},
    }
    log(f"HairNet ({source['weights']}): {report['parameters']:,} parameters, {report['macs'] / 1e9:.3f} GMACs")
    for name in variants:
        precision, bits = VARIANTS[name]
        log(f"converting {name} …")
        result = {"precision": precision, "palettize_bits": bits,
                  **convert(checkpoint, out_dir / f"HairNet-{name}.mlpackage", precision, bits)}
        report["variants"][name] = result
        log(f"  {name}: " + (f"failed: {result['error']}" if "error" in result
                             else f"{result['package_bytes'] / 1e6:.2f} MB in {result['conversion_s']} s"))
    return report


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Size (benchmarks/complexity.py)",
        "",
        f"HairNet weights: {report['hairnet']['weights']}"
        + ("." if report["hairnet"]["trained"] else "; its sizes are those of trained weights.")
        + f" {report['parameters']:,} parameters, "
        f"{report['macs'] / 1e9:.3f} G multiply-accumulates per 224×224 image. "
        f"Packages by conversion/to_coreml.py with coremltools {report['coremltools']}, torch {m['torch']}, "
        f"on {m['cpu']}.",
        "",
        "| variant | .mlpackage (MB) | weights (MB) | conversion (s) |",
        "|---|---|---|---|",
    ]
    for name, v in report["variants"].items():
        if "error" in v:
            lines.append(f"| {name} | failed: {v['error']} | | {v['conversion_s']} |")
        else:
            lines.append(f"| {name} | {v['package_bytes'] / 1e6:.3f} | {v['weights_bytes'] / 1e6:.3f} | {v['conversion_s']} |")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, nargs="?", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="report path; the .md goes beside it")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {','.join(VARIANTS)}")
    parser.add_argument("--keep", type=Path, help="keep the packages in this folder (default: a temporary one)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    with tempfile.TemporaryDirectory(prefix="hairnet-complexity-") as scratch:
        out_dir = args.keep or Path(scratch)
        out_dir.mkdir(parents=True, exist_ok=True)
        report = measure(args.checkpoint, variants, out_dir)
    write_atomic(args.json, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    write_atomic(args.json.with_suffix(".md"), markdown(report))
    print(markdown(report))
    print(f"wrote {args.json} and {args.json.with_suffix('.md')}")
    return 1 if any("error" in v for v in report["variants"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
