"""CKD training: the coupled-distillation objective, the trainer, DDP and checkpoint export.

``train(config, out_dir, ...)`` is what ``ckdtrack train`` runs; under ``torchrun`` every
process calls it and they train one model together. The trainer (and torch) is imported when
training starts, not when the package is.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..errors import InputError

__all__ = ["train"]


def train(config: Config, out_dir: str | Path, data_roots: dict[str, str] | None = None,
          init: str | Path | None = None, init_sha256: str | None = None, resume: bool = False,
          device: str | None = None, progress: bool = True) -> list[dict]:
    """Train ``config`` into ``out_dir`` (``checkpoint.pt``, ``scalars.jsonl``); returns the
    per-epoch summaries. ``init``/``init_sha256`` override ``config.train``; with ``resume``
    the run continues from ``out_dir/checkpoint.pt`` instead of starting over."""
    from .data import build_datasets
    from .distributed import setup_distributed, teardown_distributed
    from .trainer import CHECKPOINT_NAME, Trainer, build_training_model, seed_everything

    out_dir = Path(out_dir)
    checkpoint = out_dir / CHECKPOINT_NAME
    if resume and not checkpoint.is_file():
        raise InputError(f"{checkpoint}: no training checkpoint to resume from")
    if not resume and checkpoint.exists():
        raise InputError(f"{checkpoint} exists: pass --resume to continue it or choose another --out")
    context = setup_distributed(device or config.train.device)
    try:
        seed_everything(config.train.seed)
        init = None if resume else (init or config.train.init or None)
        model = build_training_model(config, init, init_sha256 or config.train.init_sha256 or None)
        train_set, val_set = build_datasets(config, data_roots)
        trainer = Trainer(config, model, train_set, val_set, out_dir, context, progress)
        if resume:
            trainer.resume()
        return trainer.fit()
    finally:
        teardown_distributed(context)
