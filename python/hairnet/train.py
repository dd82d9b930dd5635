"""Three-stage multi-task training (paper §4.2, DESIGN.md §2).

Stage 1 trains backbone + decoder on segmentation; stage 2 freezes them and trains the heads at
lr 1e-4; stage 3 trains everything end to end at lr 1e-5 with Σ λ_i·L_i. Adam, β = (0.9, 0.99).

Data comes from the crop caches of `hairnet.data.cache` (decoded, face-detected and cropped once).
A run folder holds `state.pt` (everything `--resume` needs: weights, optimiser, epoch, RNG),
`last.pt`/`best.pt` (checkpoints in the shipping format), `log.csv`, `log.json` and `curves.png`.
With `ema_decay` set, an exponential moving average of the weights is kept beside them: it is what
is validated and checkpointed (`val_raw_*` log the raw weights), and each stage starts from it.
Every file is written atomically at the end of each epoch, so a run killed at any moment resumes
from its last complete epoch and ends where an uninterrupted run would.

Under `torchrun --nproc_per_node=N` the same command trains with DistributedDataParallel (nccl on
GPUs, gloo on CPU): each rank takes its share of one shared permutation per epoch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .calibration import remove_calibration
from .checkpoint import atomic_save, load_weight_average, save_checkpoint
from .contract import ATTRIBUTES, DEFAULT_CROP, HAIR_COLORS, CropRule
from .data import DATASET_FOLDERS, READERS
from .data.attributes import read_attribute_table
from .data.augment import Jitter, augment
from .data.cache import build_cache, load_cache
from .ema import WeightAverage
from .errors import HairNetError
from .files import make_folder, write_file, write_files
from .losses import LossWeights, inverse_frequency_weights, multitask_loss
from .metrics import BinaryCounts, ColorCounts, ConfusionMatrix
from .model import HairNet, HairNetConfig

STAGE_DEFAULTS = {1: {"lr": 1e-3}, 2: {"lr": 1e-4}, 3: {"lr": 1e-5}}
SEGMENTATION_SETS = ("celebamask-hq", "figaro1k", "lfw-parts", "fasseg")
ATTRIBUTE_SETS = ("celeba-attrs", "celeba-hq-attrs", "celebamask-hq")


@dataclass
class TrainConfig:
    data_root: str = "../shared/data"
    cache_dir: str = "cache"
    run_dir: str = "runs/default"
    stages: tuple[int, ...] = (1, 2, 3)
    epochs: dict = field(default_factory=lambda: {"1": 12, "2": 3, "3": 2})
    lr: dict = field(default_factory=lambda: {str(k): v["lr"] for k, v in STAGE_DEFAULTS.items()})
    batch_size: int = 16
    workers: int = 0
    samples_per_epoch: dict = field(default_factory=dict)  # stage → cap on images per epoch
    segmentation_sets: tuple[str, ...] = SEGMENTATION_SETS
    attribute_sets: tuple[str, ...] = ATTRIBUTE_SETS
    # Folders under cache_dir written by `hairnet pseudo-label` (self-training): added to the
    # training pools of the stages that learn segmentation, never to validation.
    pseudo_label_sets: tuple[str, ...] = ()
    # Set (dataset name or pseudo-label folder) → how many times each of its training images is drawn
    # per pass over the pool, so that a large set does not crowd out a small one (e.g. Figaro-1k's
    # whole-photo framings beside thousands of pseudo-labelled face crops). Validation is never repeated.
    set_repeats: dict = field(default_factory=dict)
    # CelebA attribute name (as in its 40-attribute files) → how many times a training image that has
    # it is drawn per pass, in the sets with such a file (CelebAMask-HQ, CelebA-HQ attributes, the
    # CelebA pool): hats are 3 % of CelebAMask-HQ and read as hair. On top of set_repeats; never
    # applied to pseudo-label sets, whose labels are the teacher's and weakest on such rare cases.
    attribute_repeats: dict = field(default_factory=dict)
    loss_weights: dict = field(default_factory=lambda: LossWeights().as_dict())
    soft_iou: float = 0.0  # weight of the soft-Jaccard term added to the segmentation BCE
    lovasz: float = 0.0  # weight of the Lovász-hinge term added to the segmentation BCE
    boundary: float = 0.0  # weight of the BCE over the masks' edge bands added to it
    balance_classes: bool = False  # weight rare attribute values and colours by inverse frequency
    crop_rule: dict = field(default_factory=lambda: asdict(DEFAULT_CROP))  # framing of the caches, carried by checkpoints
    width_multiplier: float = 0.5
    masking: bool = True
    augment: bool = True
    jitter: dict = field(default_factory=dict)  # overrides of augment.Jitter: scale, shift, rotation half-ranges
    # Start from these weights (a checkpoint of the same config) instead of scratch; a list of
    # checkpoints starts from the average of their weights (checkpoint.load_weight_average).
    init_checkpoint: str | tuple[str, ...] = ""
    schedule: str = "cosine"  # per stage: "cosine" decays to 5 % of the stage's lr, "constant" keeps it
    ema_decay: float = 0.0  # 0: off; else validate and ship an exponential moving average of the weights
    seed: int = 0
    threads: int = 0  # 0: leave torch's default

    @classmethod
    def from_file(cls, path: Path) -> "TrainConfig":
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise HairNetError(f"{path}: cannot read training config ({error})") from None
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise HairNetError(f"{path}: unknown training config keys {sorted(unknown)}")
        return cls(**values)

    def segmentation_terms(self) -> dict[str, float]:
        """The weights of the segmentation loss's extra terms, as `multitask_loss` takes them."""
        return {"soft_iou": self.soft_iou, "lovasz": self.lovasz, "boundary": self.boundary}

    def stage_epochs(self, stage: int) -> int:
        return int(self.epochs.get(str(stage), 0))


def _settings(kind: type, name: str, values: dict):
    """A config field's dict as its validated dataclass; a bad key or value is an error naming the field."""
    try:
        return kind(**values)
    except (TypeError, ValueError) as error:
        raise HairNetError(f"{name} {values!r}: {error}") from None


class Pool:
    """The cached crops of several datasets, concatenated, indexed without copying.

    `population` is what an epoch draws from: each image j of cache i `draws[i][j]` times (default
    once), and that sequence `repeats[i]` times (default once).
    """

    def __init__(self, caches: list, repeats: list[int] | None = None,
                 draws: list[np.ndarray | None] | None = None) -> None:
        self.caches = caches
        self.offsets = np.cumsum([0] + [len(c.stems) for c in caches])
        self.population = np.concatenate(
            [np.tile(np.arange(lo, hi) if d is None else np.repeat(np.arange(lo, hi), d), r) for lo, hi, r, d in
             zip(self.offsets[:-1], self.offsets[1:], repeats or [1] * len(caches), draws or [None] * len(caches))]
            or [np.arange(0)])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def batch(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        parts = {"images": [], "seg": [], "seg_known": [], "color": [], "attrs": []}
        for cache_index, cache in enumerate(self.caches):
            lo, hi = self.offsets[cache_index], self.offsets[cache_index + 1]
            local = np.sort(indices[(indices >= lo) & (indices < hi)] - lo)
            if local.size == 0:
                continue
            parts["images"].append(torch.from_numpy(np.ascontiguousarray(cache.images[local])))
            parts["seg"].append(torch.from_numpy(np.ascontiguousarray(cache.seg[local])))
            parts["seg_known"].append(torch.from_numpy(np.asarray(cache.seg_known[local], dtype=bool)))
            parts["color"].append(torch.from_numpy(np.asarray(cache.color[local], dtype=np.int64)))
            parts["attrs"].append(torch.from_numpy(np.asarray(cache.attrs[local], dtype=np.int64)))
        return {k: torch.cat(v) for k, v in parts.items()}

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """The colour (N) and attribute (N×4) labels of `population`, −1 where unknown.

        Repeated sets count as often as an epoch draws them, so class weights match what training sees.
        """
        return (np.concatenate([np.asarray(c.color, dtype=np.int64) for c in self.caches])[self.population],
                np.concatenate([np.asarray(c.attrs, dtype=np.int64) for c in self.caches])[self.population])


class _Batches(torch.utils.data.Dataset):
    def __init__(self, pool: Pool, chunks: list[np.ndarray]) -> None:
        self.pool, self.chunks = pool, chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.pool.batch(self.chunks[index])


def hardware_name(device: torch.device) -> str:
    """What a training log says its images/s were measured on: the GPU's name, or the CPU's threads."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"


@dataclass
class StageSetup:
    optimizer: torch.optim.Optimizer
    frozen: list[nn.Module]  # kept in eval mode while the stage trains, so their BatchNorm keeps its statistics
    ema: WeightAverage | None
    weights: LossWeights  # the run's λ with the tasks this stage does not train set to 0


def stage_setup(model: HairNet, stage: int, config: TrainConfig, weights: LossWeights) -> StageSetup:
    """The paper's schedule (§4.2) for one stage: stage 1 trains backbone and decoder on segmentation,
    stage 2 freezes them and trains the heads, stage 3 trains everything on every loss; Adam β=(0.9, 0.99)."""
    frozen = [model.backbone, model.decoder] if stage == 2 else []
    for module in (model.backbone, model.decoder, model.color_head, model.attribute_heads):
        module.requires_grad_(module not in frozen)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return StageSetup(
        optimizer=torch.optim.Adam(trainable, lr=float(config.lr[str(stage)]), betas=(0.9, 0.99)),
        frozen=frozen,
        ema=WeightAverage(model, config.ema_decay) if config.ema_decay else None,
        weights=LossWeights(**{**weights.as_dict(), **(
            {n: 0.0 for n in ("color",) + ATTRIBUTES} if stage == 1 else
            {"segmentation": 0.0} if stage == 2 else {})}))


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 N×H×W×3 → float N×3×H×W in [-1, 1] (the contract's x/127.5 − 1)."""
    return images.permute(0, 3, 1, 2).float() / 127.5 - 1.0


class Trainer:
    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = torch.device(f"cuda:{self.rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu")
        if config.schedule not in ("cosine", "constant"):
            raise HairNetError(f"schedule must be 'cosine' or 'constant', got {config.schedule!r}")
        if not 0.0 <= config.ema_decay < 1.0:
            raise HairNetError(f"ema_decay must lie in [0, 1), got {config.ema_decay!r}")
        unknown = set(config.segmentation_sets + config.attribute_sets) - set(DATASET_FOLDERS)
        if unknown:
            raise HairNetError(f"unknown dataset(s) {sorted(unknown)}; known: {', '.join(DATASET_FOLDERS)}")
        sets = {*config.segmentation_sets, *config.attribute_sets, *config.pseudo_label_sets}
        unknown = sorted(set(config.set_repeats) - sets)
        if unknown:
            raise HairNetError(f"set_repeats: {unknown[0]!r} is not one of this run's training sets {sorted(sets)}")
        for field_name in ("set_repeats", "attribute_repeats"):
            for name, times in getattr(config, field_name).items():
                if not isinstance(times, int) or isinstance(times, bool) or times < 1:
                    raise HairNetError(f"{field_name}[{name!r}] must be a whole number ≥ 1, got {times!r}")
        if config.threads:
            torch.set_num_threads(config.threads)
        # Logged with each epoch, so a run table can say what its images/s were measured on.
        self.hardware = f"{self.world} × {hardware_name(self.device)}"
        self.crop = _settings(CropRule, "crop_rule", config.crop_rule)
        self.jitter = _settings(Jitter, "jitter", config.jitter)
        torch.manual_seed(config.seed)
        self.model = HairNet(HairNetConfig(width_multiplier=config.width_multiplier, masking=config.masking)).to(self.device)
        self.weights = LossWeights(**config.loss_weights)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.history: list[dict] = []
        self.stage_index, self.epoch = 0, 0  # position of the next epoch to run
        self.best: float | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.ema: WeightAverage | None = None
        self.stopping = False
        self.class_weights: dict[str, torch.Tensor] = {}

    # ---- data -----------------------------------------------------------------------------
    def _cache(self, name: str, split: str):
        """The crop cache of one dataset split, built on first use (by rank 0 only)."""
        path = Path(self.config.cache_dir) / f"{name}-{split}"
        if self.rank == 0 and not (path / "meta.json").exists():
            build_cache(name, Path(self.config.data_root) / DATASET_FOLDERS[name], split, self.crop,
                        Path(self.config.cache_dir))
        if self.distributed:
            dist.barrier()
        return load_cache(path, self.crop)

    def _stage_pool(self, stage: int, split: str) -> Pool:
        names = {1: self.config.segmentation_sets, 2: self.config.attribute_sets}.get(
            stage, tuple(dict.fromkeys(self.config.segmentation_sets + self.config.attribute_sets))
        )
        named = [(name, self._cache(name, split)) for name in names]
        if split == "train" and stage != 2:
            named += [(name, self._pseudo_cache(name)) for name in self.config.pseudo_label_sets]
        named = [(name, cache) for name, cache in named if len(cache)]
        if split != "train":
            return Pool([cache for _, cache in named])
        repeats = [self.config.set_repeats.get(name, 1) for name, _ in named]
        return Pool([cache for _, cache in named], repeats, [self._attribute_draws(name, cache) for name, cache in named])

    def _attribute_draws(self, name: str, cache) -> np.ndarray | None:
        """Per-image draws for `attribute_repeats`, or None where they do not apply."""
        reader = READERS.get(name)
        if not self.config.attribute_repeats or reader is None or not reader.attribute_file:
            return None
        table = read_attribute_table(Path(self.config.data_root) / DATASET_FOLDERS[name] / reader.attribute_file)
        return table.draws(list(cache.stems), self.config.attribute_repeats)

    def _pseudo_cache(self, name: str):
        path = Path(self.config.cache_dir) / name
        if not (path / "meta.json").exists():
            raise HairNetError(f"{path}: pseudo-label set {name!r} not found; write it with "
                               f"hairnet pseudo-label CHECKPOINT --source {Path(self.config.cache_dir)}/<set>-train")
        cache = load_cache(path, self.crop)
        if "pseudo_labels" not in cache.meta:
            raise HairNetError(f"{path}: {name!r} is not a pseudo-label cache (its meta.json has no pseudo_labels)")
        return cache

    # ---- optimisation ---------------------------------------------------------------------
    def _configure_stage(self, stage: int) -> None:
        setup = stage_setup(self.model, stage, self.config, self.weights)
        self.optimizer, self.frozen, self.ema, self.stage_weights = setup.optimizer, setup.frozen, setup.ema, setup.weights

    def _set_lr(self, stage: int, progress: float) -> None:
        """A function of the position in the stage alone, so a resumed run gets the same values."""
        base = float(self.config.lr[str(stage)])
        lr = base if self.config.schedule == "constant" else base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _set_train_mode(self) -> None:
        self.model.train()
        for module in self.frozen:  # frozen BatchNorm keeps its statistics
            module.eval()

    def _epoch_indices(self, population: np.ndarray, cap: int | None) -> np.ndarray:
        order = population[torch.randperm(len(population), generator=self.generator).numpy()]
        if cap:
            order = order[:cap]
        usable = len(order) - len(order) % (self.world * self.config.batch_size) or len(order)
        return order[:usable][self.rank :: self.world]

    def _train_epoch(self, stage: int, pool: Pool, train_module: nn.Module) -> dict:
        cap = self.config.samples_per_epoch.get(str(stage))
        indices = self._epoch_indices(pool.population, int(cap) if cap else None)
        self._set_train_mode()
        sums: dict[str, float] = {}
        steps, seen, start = 0, 0, time.time()
        chunks = [indices[i : i + self.config.batch_size] for i in range(0, len(indices), self.config.batch_size)]
        # Workers only gather cached crops; augmentation stays here so the RNG stream is one.
        loader = torch.utils.data.DataLoader(_Batches(pool, chunks), batch_size=None, num_workers=self.config.workers)
        bar = tqdm(loader, desc=f"stage {stage} epoch {self.epoch + 1}", disable=self.rank != 0, leave=False)
        for step, batch in enumerate(bar):
            if self.stopping:
                raise KeyboardInterrupt
            self._set_lr(stage, (self.epoch + step / len(chunks)) / self.config.stage_epochs(stage))
            # Augmentation runs where the model does (its draws still come from the CPU generator).
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            images = to_model_input(batch["images"])
            batch["seg"] = batch["seg"].float()
            if self.config.augment:
                images, batch["seg"] = augment(images, batch["seg"], self.generator, self.jitter)
            outputs = train_module(images)
            loss, terms = multitask_loss(outputs, batch, self.stage_weights, **self.config.segmentation_terms(),
                                         **self.class_weights)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.ema:
                self.ema.update(self.model)
            for name, value in {"loss": float(loss.detach()), **terms}.items():
                sums[name] = sums.get(name, 0.0) + value
            steps += 1
            seen += len(images) * self.world
            bar.set_postfix(loss=f"{sums['loss'] / steps:.4f}")
        elapsed = time.time() - start
        return {f"train_{k}": v / max(steps, 1) for k, v in sums.items()} | {
            "images_per_s": seen / elapsed if elapsed else float("nan"), "train_seconds": elapsed,
            "hardware": self.hardware}

    # ---- validation -----------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, pool: Pool) -> dict:
        """Crop-level figures on the validation caches: hair/skin IoU pooled over pixels,
        color accuracy and per-attribute balanced accuracy."""
        self.model.eval()
        hair, skin = ConfusionMatrix(("rest", "hair")), ConfusionMatrix(("rest", "skin"))
        color = ColorCounts(HAIR_COLORS)
        attrs = {name: BinaryCounts() for name in ATTRIBUTES}
        for offset in range(0, len(pool), 32):
            batch = pool.batch(np.arange(offset, min(offset + 32, len(pool))))
            seg_p, color_p, attr_p = (t.cpu() for t in self.model(to_model_input(batch["images"]).to(self.device)))
            known = batch["seg_known"].numpy()
            predicted = (seg_p > 0.5).numpy()
            for meter, channel in ((skin, 0), (hair, 1)):
                rows = known[:, channel]
                if rows.any():
                    meter.update(predicted[rows, channel], batch["seg"].numpy()[rows, channel])
            color.update(color_p.argmax(1).numpy(), batch["color"].numpy())
            for index, name in enumerate(ATTRIBUTES):
                attrs[name].update((attr_p[:, index] > 0.5).numpy(), batch["attrs"][:, index].numpy())
        result = {"val_hair_iou": hair.iou()["hair"], "val_skin_iou": skin.iou()["skin"],
                  "val_color_accuracy": color.summary()["accuracy"]}
        for name, counts in attrs.items():
            result[f"val_{name}_balanced_accuracy"] = counts.summary()["balanced_accuracy"]
        return result

    def _validate_shipped(self, pool: Pool) -> dict:
        """Validation of the weights the checkpoints hold: the average where there is one, and then
        the raw weights too, as `val_raw_*`, so the log measures what the average adds."""
        if not self.ema:
            return self.validate(pool)
        raw = {k.replace("val_", "val_raw_", 1): v for k, v in self.validate(pool).items()}
        with self.ema.applied(self.model):
            return self.validate(pool) | raw

    def _shipped(self):
        return self.ema.applied(self.model) if self.ema else contextlib.nullcontext(self.model)

    @staticmethod
    def score(stage: int, metrics: dict) -> float:
        """What "best" means: hair IoU in stage 1, the attribute figures after it."""
        keys = ["val_hair_iou"] if stage == 1 else ["val_hair_iou", "val_color_accuracy"] + [
            f"val_{n}_balanced_accuracy" for n in ATTRIBUTES]
        values = [metrics[k] for k in keys if not math.isnan(metrics.get(k, float("nan")))]
        return float(np.mean(values)) if values else float("-inf")

    # ---- persistence ----------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "ema": self.ema.state_dict() if self.ema else None,
            "stage_index": self.stage_index,
            "epoch": self.epoch,
            "best": self.best,
            "history": self.history,
            "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state()},
        }

    def save(self, improved: bool, finished_stage: int | None = None) -> None:
        """Checkpoints and logs; at the end of a stage also `stage<N>.pt`, the weights a later run
        (an ablation of the next stages, say) can start from with `init_checkpoint`."""
        if self.rank != 0:
            return
        training = {"history": self.history, "config": asdict(self.config)}
        with self._shipped() as model:
            save_checkpoint(self.run_dir / "last.pt", model, self.crop, training=training)
            if improved:
                save_checkpoint(self.run_dir / "best.pt", model, self.crop, training=training)
            if finished_stage is not None:
                save_checkpoint(self.run_dir / f"stage{finished_stage}.pt", model, self.crop, training=training)
        atomic_save(self._state(), self.run_dir / "state.pt")
        write_logs(self.run_dir, self.history)

    def resume(self) -> None:
        path = self.run_dir / "state.pt"
        if not path.exists():
            raise HairNetError(f"{path}: nothing to resume (no state.pt in the run folder)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a damaged file
            raise HairNetError(f"{path}: cannot resume from a damaged state file ({error})") from None
        try:
            self.model.load_state_dict(state["model"])
            self.stage_index, self.epoch = state["stage_index"], state["epoch"]
            self.best, self.history = state["best"], state["history"]
            torch.set_rng_state(state["rng"]["torch"])
            self.generator.set_state(state["rng"]["generator"])
            if self.stage_index < len(self.config.stages):
                self._configure_stage(self.config.stages[self.stage_index])
                if state["optimizer"] is not None and self.epoch > 0:
                    self.optimizer.load_state_dict(state["optimizer"])
                # A state saved without an average (EMA switched on for the rest of a run) starts one here.
                if self.ema and state.get("ema") is not None and self.epoch > 0:
                    self.ema.load_state_dict(state["ema"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            # Another run's state (other width, stages) or a file that is not a state at all.
            raise HairNetError(f"{path}: does not continue this run's configuration "
                               f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None

    def _initialise(self, paths: str | tuple[str, ...]) -> None:
        paths = [Path(p) for p in ([paths] if isinstance(paths, str) else paths)]
        start = load_weight_average(paths)  # of one checkpoint: its weights exactly
        if start.config.threshold != self.model.config.threshold:  # a calibrated checkpoint (`hairnet calibrate`)
            remove_calibration(start, self.model.config.threshold)
        if start.config.to_dict() != {**self.model.config.to_dict(), "masking": start.config.masking}:
            raise HairNetError(f"{', '.join(map(str, paths))}: config {start.config.to_dict()} does not match this run's "
                               f"{self.model.config.to_dict()}")
        self.model.load_state_dict(start.state_dict())

    # ---- the schedule ---------------------------------------------------------------------
    def run(self, resume: bool = False) -> Path:
        make_folder(self.run_dir)
        if resume:
            self.resume()
        elif (self.run_dir / "state.pt").exists():
            raise HairNetError(f"{self.run_dir}: run folder already holds a run; pass --resume or choose another")
        elif self.config.init_checkpoint:
            self._initialise(self.config.init_checkpoint)
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def stop(signum, _frame):
            self.stopping = True  # finish nothing half-way: the last complete epoch is on disk

        for sig in previous:
            signal.signal(sig, stop)
        try:
            while self.stage_index < len(self.config.stages):
                stage = self.config.stages[self.stage_index]
                if self.optimizer is None or self.epoch == 0:
                    self._configure_stage(stage)
                train_pool, val_pool = self._stage_pool(stage, "train"), self._stage_pool(stage, "val")
                if self.config.balance_classes:
                    color_weights, pos_weights = inverse_frequency_weights(*train_pool.labels())
                    self.class_weights = {"color_weights": color_weights.to(self.device),
                                          "pos_weights": pos_weights.to(self.device)}
                train_module: nn.Module = _Logits(self.model)
                if self.distributed:
                    # Heads without a label in a batch (or λ = 0) get no gradient: let DDP allow it.
                    train_module = nn.parallel.DistributedDataParallel(train_module, find_unused_parameters=True)
                while self.epoch < self.config.stage_epochs(stage):
                    metrics = self._train_epoch(stage, train_pool, train_module)
                    metrics |= self._validate_shipped(val_pool) if self.rank == 0 else {}
                    self.epoch += 1
                    entry = {"stage": stage, "epoch": self.epoch, **metrics}
                    score = self.score(stage, metrics) if self.rank == 0 else 0.0
                    improved = self.best is None or score > self.best
                    if improved:
                        self.best = score
                    self.history.append(entry)
                    self.save(improved)
                    if self.rank == 0:
                        tqdm.write(format_entry(entry))
                if self.ema:
                    self.ema.copy_to(self.model)  # the next stage starts from the weights this one ships
                self.stage_index, self.epoch, self.optimizer = self.stage_index + 1, 0, None
                self.save(False, finished_stage=stage)
        except KeyboardInterrupt:
            if self.rank == 0:
                print(f"stopped; the last complete epoch is in {self.run_dir} (continue with --resume)")
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.run_dir


class _Logits(nn.Module):
    """HairNet with `logits` as its forward, so that DDP's hooks see the training computation."""

    def __init__(self, model: HairNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model.logits(x)


def format_entry(entry: dict) -> str:
    parts = [f"stage {entry['stage']} epoch {entry['epoch']}"]
    for key, value in entry.items():
        if key not in ("stage", "epoch") and isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
    return " | ".join(parts)


def write_logs(run_dir: Path, history: list[dict]) -> None:
    """log.json, log.csv and curves.png, each written to a temporary name and renamed."""
    run_dir = Path(run_dir)
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(dict.fromkeys(k for entry in history for k in entry)))
    writer.writeheader()
    writer.writerows(history)
    write_files({run_dir / "log.json": json.dumps(history, indent=1), run_dir / "log.csv": table.getvalue()})
    plot_curves(history, run_dir / "curves.png")


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    x = list(range(1, len(history) + 1))
    for key in ("train_loss", "train_segmentation", "train_color"):
        ys = [e.get(key, float("nan")) for e in history]
        if any(not math.isnan(y) for y in ys):
            ax_loss.plot(x, ys, label=key)
    for key in ["val_hair_iou", "val_skin_iou", "val_color_accuracy"] + [f"val_{n}_balanced_accuracy" for n in ATTRIBUTES]:
        ys = [e.get(key, float("nan")) for e in history]
        if any(not math.isnan(y) for y in ys):
            ax_val.plot(x, ys, label=key.removeprefix("val_"))
    ax_loss.set(title="training loss", xlabel="epoch (all stages)")
    ax_val.set(title="validation", xlabel="epoch (all stages)", ylim=(0, 1))
    for ax in (ax_loss, ax_val):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=90)
    plt.close(fig)
    write_file(path, image.getvalue())
