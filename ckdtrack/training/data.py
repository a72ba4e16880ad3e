"""The training and validation samplers of a config, over the data package's pair dataset.

Dataset roots come from ``--data-root NAME=DIR`` or the config entry; ``synthetic`` names
sequences written by ``ckdtrack synth`` (LasHeR layout). Validation pairs are drawn without
augmentation from their own seed, the same pairs every epoch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import Config, DatasetEntry
from ..data.processing import ProcessingParams
from ..data.sampler import RGBTPairDataset, open_training_sources
from ..errors import InputError



def resolve_entries(entries: list[DatasetEntry], data_roots: dict[str, str]) -> list[DatasetEntry]:
    """Entries with their root folder filled in and checked."""
    resolved = []
    for entry in entries:
        root = data_roots.get(entry.name) or entry.root
        if not root:
            raise InputError(f"dataset '{entry.name}': no root folder (pass --data-root {entry.name}=DIR)")
        if not Path(root).is_dir():
            raise InputError(f"{root}: data root of dataset '{entry.name}' not found")
        if not any(Path(root).iterdir()):
            raise InputError(f"{root}: data root of dataset '{entry.name}' is empty")
        resolved.append(dataclasses.replace(entry, root=str(root)))
    return resolved


def build_datasets(config: Config, data_roots: dict[str, str] | None = None):
    """The training dataset and, if ``train.val_datasets`` is set, the validation dataset."""
    data_roots = data_roots or {}
    train = config.train
    params = ProcessingParams.from_config(config)
    train_set = RGBTPairDataset(open_training_sources(resolve_entries(train.datasets, data_roots)),
                                train.samples_per_epoch, params, max_gap=train.max_sample_interval, seed=train.seed)
    val_set = None
    if train.val_datasets and train.val_samples > 0:
        val_set = RGBTPairDataset(open_training_sources(resolve_entries(train.val_datasets, data_roots)),
                                  train.val_samples, params.without_augmentation(),
                                  max_gap=train.max_sample_interval, seed=train.seed + 1)
    return train_set, val_set
