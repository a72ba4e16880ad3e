"""The CKD training loop: optimiser groups, epochs, validation, logging, checkpoints, resume.

The loop is data-agnostic: it takes map-style datasets whose items are sample dicts
(``template_rgb``, ``template_tir``, ``search_rgb``, ``search_tir``, ``search_anno``) and whose
content for an index is fixed once ``set_epoch(epoch)`` has been called. Every random stream
(sample content, masked modeling, drop-path) is re-seeded from ``(seed, epoch, rank)`` at the
start of an epoch, so resuming from the checkpoint written after epoch ``e`` reproduces the
uninterrupted run exactly.
"""

from __future__ import annotations

import json
import random
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler
from tqdm import tqdm

from ..config import Config, config_from_dict
from ..errors import InputError
from ..io import atomic_torch_save, atomic_write_text
from ..models.checkpoint import load_state_strict, read_checkpoint, sha256_of
from ..models.ckd import CKD
from ..models.pretrained import load_initial_weights
from ..models.runtime import autocast_dtype
from .big_teacher import load_big_teacher
from .distributed import DistributedContext, barrier, broadcast_buffers, reduce_sums
from .losses import keep_mask
from .objective import TrainingNetwork, compute_losses

CHECKPOINT_NAME = "checkpoint.pt"
SCALARS_NAME = "scalars.jsonl"
HEAD_MODULES = ("box_head", "box_head_v", "box_head_i")
VIT_MODULES = ("rgb_branch", "tir_branch", "teacher_rgb", "teacher_tir")
UNUSED_VIT_PARAMETERS = ("cls_token", "pos_embed")
SAMPLE_KEYS = ("template_rgb", "template_tir", "search_rgb", "search_tir", "search_anno")


def build_training_model(config: Config, init: str | Path | None = None, sha256: str | None = None) -> CKD:
    """The network for ``config.train.stage``: four ViTs for ``distill``, students only for ``head``."""
    model = CKD(config, with_teachers=config.train.stage == "distill")
    if init:
        load_initial_weights(model, init, sha256)
    return model


def parameter_groups(model: CKD, train, projector: nn.Module | None = None) -> list[dict]:
    """AdamW groups as published: heads at ``lr_head``, ViTs at ``lr_backbone``.

    Stage ``head`` trains the fused head only. Parameters outside the groups are frozen,
    and so are the ViTs' ImageNet ``cls_token``/``pos_embed``, which the tracker never uses.
    The big teacher's feature ``projector``, new like a head, joins the head group.
    """
    trainable = {"distill": {"head": HEAD_MODULES, "backbone": VIT_MODULES},
                 "head": {"head": ("box_head",), "backbone": ()}}[train.stage]
    groups = {"head": [], "backbone": []}
    for name, param in model.named_parameters():
        module = name.split(".")[0]
        group = next((g for g, modules in trainable.items() if module in modules), None)
        if group is None or name.split(".")[-1] in UNUSED_VIT_PARAMETERS:
            param.requires_grad_(False)
        else:
            param.requires_grad_(True)
            groups[group].append(param)
    if projector is not None:
        groups["head"].extend(projector.parameters())
    rates = {"head": train.lr_head, "backbone": train.lr_backbone}
    return [{"name": g, "params": params, "lr": rates[g]} for g, params in groups.items() if params]


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + rank) % (2 ** 31)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


RESUMABLE_CHANGES = ("train.epochs",)  # extending a run is what resuming is for
UNUSED_IN_TRAINING = ("name", "tracker.")  # the tracker's settings only matter when tracking


def changed_settings(stored: Config, current: Config) -> list[str]:
    """``key: old -> new`` for every setting that differs, except those a resume may change."""
    def flat(data: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in data.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[prefix + key] = value
        return out

    old, new = flat(stored.to_dict()), flat(current.to_dict())
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key) and key not in RESUMABLE_CHANGES
            and not key.startswith(UNUSED_IN_TRAINING)]


def drop_scalars_after(path: Path, step: int) -> None:
    """Forget logged scalars of steps the resumed run will redo, so no step is logged twice."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines(keepends=True)
            if line.strip() and json.loads(line).get("step", 0) <= step]
    atomic_write_text(path, "".join(kept))


class ScalarLog:
    """Scalars as JSON lines (always) and TensorBoard events (when ``tensorboard`` is installed)."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.enabled = enabled
        self.path = out_dir / SCALARS_NAME
        self.writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ModuleNotFoundError:
                self.writer = None
            else:
                self.writer = SummaryWriter(str(out_dir / "tensorboard"))

    def write(self, step: int, scalars: dict[str, float], **context) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": step, **context, **scalars}) + "\n")
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Trainer:
    """Trains a CKD network on ``train_set``, validating on ``val_set`` after every epoch."""

    def __init__(self, config: Config, model: CKD, train_set, val_set, out_dir: str | Path,
                 context: DistributedContext = DistributedContext(), progress: bool = True):
        train = config.train
        if train.amp == "fp16" and context.device.type != "cuda":
            raise InputError("train.amp: fp16 autocast needs a GPU; use bf16 on the CPU")
        if len(train_set) < train.batch_size * context.world_size:
            raise InputError(f"train.samples_per_epoch ({len(train_set)}) is smaller than one batch "
                             f"({train.batch_size} x {context.world_size} processes)")
        self.config, self.train_cfg, self.context = config, train, context
        self.out_dir = Path(out_dir)
        self.progress = progress and context.is_main
        self.model = model.to(context.device)
        big_teacher = load_big_teacher(config)
        # hashed once, kept in every checkpoint: a resume must use the very teacher file the run began with
        self.big_teacher_sha256 = sha256_of(train.big_teacher) if big_teacher is not None else None
        self.network = TrainingNetwork(self.model, train.stage, big_teacher,
                                       project_features=big_teacher is not None and train.feature_distill_weight > 0)
        self.network.to(context.device)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, train, self.network.feature_projector),
                                           weight_decay=train.weight_decay)
        self.trainable = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.scaler = torch.amp.GradScaler(context.device.type, enabled=train.amp == "fp16")
        self.train_set, self.val_set = train_set, val_set
        self.epoch = 0
        self.step = 0
        self.history: list[dict] = []
        self.ddp = (DistributedDataParallel(self.network, device_ids=[context.device.index]
                                            if context.device.type == "cuda" else None)
                    if context.enabled else None)

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def _loader(self, dataset, training: bool) -> DataLoader:
        if self.context.enabled:
            sampler = DistributedSampler(dataset, self.context.world_size, self.context.rank,
                                         shuffle=False, drop_last=True)
        else:
            sampler = SequentialSampler(dataset)
        workers = self.train_cfg.num_workers
        return DataLoader(dataset, batch_size=self.train_cfg.batch_size, sampler=sampler, num_workers=workers,
                          drop_last=training, pin_memory=self.context.device.type == "cuda",
                          persistent_workers=False)

    def _autocast(self):
        dtype = autocast_dtype(self.train_cfg.amp)
        if dtype is None:
            return nullcontext()
        return torch.autocast(self.context.device.type, dtype=dtype)

    def _to_device(self, batch: dict) -> dict:
        return {k: batch[k].to(self.context.device, non_blocking=True) for k in SAMPLE_KEYS}

    def _search_keep(self, batch_size: int) -> torch.Tensor | None:
        if self.train_cfg.stage != "distill":
            return None
        keep = keep_mask(batch_size, self.model.rgb_branch.num_search_tokens,
                         self.train_cfg.mask_probability, self.train_cfg.mask_ratio)
        return None if keep is None else keep.to(self.context.device)

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimisation step; returns the detached status values of the batch."""
        batch = self._to_device(batch)
        network = self.ddp if self.ddp is not None else self.network
        with self._autocast():
            outputs = network(batch, self._search_keep(batch["search_rgb"].shape[0]))
        loss, status = compute_losses(outputs, batch["search_anno"], self.train_cfg, self.config.search_grid)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at epoch {self.epoch + 1}, step {self.step}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.train_cfg.grad_clip_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.trainable, self.train_cfg.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        status["Loss/objective"] = loss.detach()
        return status

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean losses over the validation set, in eval mode without masking."""
        if self.val_set is None:
            return {}
        self.model.eval()
        self.val_set.set_epoch(0)
        sums, count = {}, 0
        for batch in self._loader(self.val_set, training=False):
            batch = self._to_device(batch)
            with self._autocast():
                outputs = self.network(batch)
            loss, status = compute_losses(outputs, batch["search_anno"], self.train_cfg, self.config.search_grid)
            status["Loss/objective"] = loss
            size = batch["search_rgb"].shape[0]
            for key, value in status.items():
                sums[key] = sums.get(key, 0.0) + float(value) * size
            count += size
        sums["count"] = count
        totals = reduce_sums(sums, self.context)
        total = max(totals.pop("count"), 1)
        return {key: value / total for key, value in totals.items()}

    def train_epoch(self, log: ScalarLog) -> dict[str, float]:
        self.model.train()
        self.train_set.set_epoch(self.epoch)
        loader = self._loader(self.train_set, training=True)
        sums, count, start = {}, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{self.train_cfg.epochs}", disable=not self.progress,
                   dynamic_ncols=True, leave=False)
        for batch in bar:
            status = self.train_step(batch)
            self.step += 1
            size = batch["search_rgb"].shape[0]
            count += size
            for key, value in status.items():
                sums[key] = sums.get(key, 0.0) + float(value) * size
            rate = count * self.context.world_size / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{float(status['Loss/objective']):.3f}", iou=f"{float(status['IoU']):.3f}")
            if self.step % self.train_cfg.log_interval == 0:
                scalars = {f"train/{k}": float(v) for k, v in status.items()}
                scalars.update({f"lr/{g['name']}": g["lr"] for g in self.optimizer.param_groups})
                scalars["samples_per_s"] = rate
                log.write(self.step, scalars, epoch=self.epoch + 1)
        sums["count"] = count
        totals = reduce_sums(sums, self.context)
        total = max(totals.pop("count"), 1)
        means = {key: value / total for key, value in totals.items()}
        means["samples_per_s"] = total / (time.perf_counter() - start)
        return means

    def save_checkpoint(self) -> None:
        """Everything needed to continue after the current epoch, written atomically by rank 0:
        the big teacher's feature projector too, never the big teacher (its path is in the config,
        its sha256 beside it)."""
        if self.context.is_main:
            state = {
                "net": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "epoch": self.epoch,
                "step": self.step,
                "history": self.history,
                "config": self.config.to_dict(),
            }
            if self.network.feature_projector is not None:
                state["projector"] = self.network.feature_projector.state_dict()
            if self.big_teacher_sha256 is not None:
                state["big_teacher_sha256"] = self.big_teacher_sha256
            atomic_torch_save(state, self.checkpoint_path)
        barrier(self.context)

    def resume(self) -> None:
        """Continue from ``checkpoint.pt`` in the output folder."""
        path = self.checkpoint_path
        if not path.is_file():
            raise InputError(f"{path}: no training checkpoint to resume from")
        state = read_checkpoint(path)
        projector = self.network.feature_projector
        expected = ("net", "optimizer", "scaler", "epoch", "step", "history", "config")
        expected += ("projector",) if projector is not None else ()
        expected += ("big_teacher_sha256",) if self.big_teacher_sha256 is not None else ()
        missing = [k for k in expected if k not in state]
        if missing:
            raise InputError(f"{path}: not a training checkpoint (missing {', '.join(missing)})")
        changed = changed_settings(config_from_dict(state["config"], f"{path} (stored config)"), self.config)
        if changed:
            raise InputError(f"{path}: the run was started with other settings ({'; '.join(changed)}): "
                             f"resume with the same config or choose another --out")
        ours, theirs = self.big_teacher_sha256, str(state.get("big_teacher_sha256"))
        if ours is not None and theirs != ours:
            raise InputError(f"train.big_teacher: {self.train_cfg.big_teacher}: sha256 {ours[:12]} differs from that "
                             f"of the teacher file {path} was trained with ({theirs[:12]}): resume with that file "
                             f"or choose another --out")
        load_state_strict(self.model, state["net"], path)
        if projector is not None:
            load_state_strict(projector, state["projector"], path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = list(state["history"])
        if self.context.is_main:
            drop_scalars_after(self.out_dir / SCALARS_NAME, self.step)

    def fit(self) -> list[dict]:
        """Train until ``train.epochs``; returns one summary dict per epoch."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log = ScalarLog(self.out_dir, self.context.is_main)
        try:
            while self.epoch < self.train_cfg.epochs:
                seed_everything(epoch_seed(self.train_cfg.seed, self.epoch, self.context.rank))
                train_means = self.train_epoch(log)
                broadcast_buffers(self.model, self.context)
                val_means = self.validate()
                self.epoch += 1
                summary = {"epoch": self.epoch, **{f"train/{k}": v for k, v in train_means.items()},
                           **{f"val/{k}": v for k, v in val_means.items()}}
                self.history.append(summary)
                log.write(self.step, {k: v for k, v in summary.items() if k != "epoch"}, epoch=self.epoch)
                self.save_checkpoint()
                if self.progress:
                    val = f", val loss {val_means['Loss/objective']:.4f}" if val_means else ""
                    tqdm.write(f"epoch {self.epoch}: train loss {train_means['Loss/objective']:.4f}, "
                               f"IoU {train_means['IoU']:.3f}{val}, {train_means['samples_per_s']:.1f} samples/s")
        finally:
            log.close()
        return self.history
