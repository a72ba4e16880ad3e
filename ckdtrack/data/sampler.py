"""Template/search training pairs drawn from RGB-T sequences, as a torch ``Dataset``.

Sampling follows the published training: pick a dataset by its mixing ratio, a sequence
uniformly, a template frame whose box is valid, then a search frame with a valid box at most
``max_gap`` annotated frames later (the gap widens by 5 when none exists, as published).

Every sample is a pure function of ``(seed, epoch, index)``: no global random state is used, so
results do not depend on the number of DataLoader workers, on which worker or DDP rank draws an
index, or on the order indices are drawn in. Call :meth:`RGBTPairDataset.set_epoch` before each
epoch (with ``persistent_workers=False``, the default, workers see the new epoch).

A frame that cannot be read (corrupt or missing) is logged once, remembered, and the sample is
redrawn; it never stops an epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .benchmarks import open_benchmark, valid_box_mask
from .processing import ProcessingParams, make_training_pair
from .sequence import RGBTSequence, read_image

log = logging.getLogger(__name__)

GAP_INCREASE = 5
MAX_DRAWS = 100


@dataclass
class TrainingSource:
    """One dataset of the training mix: its sequences and its relative sampling weight."""

    name: str
    sequences: list[RGBTSequence]
    ratio: float = 1.0


@dataclass(frozen=True)
class _UsableSequence:
    sequence: RGBTSequence
    boxes: np.ndarray  # (N, 4) reference boxes, one row per annotated frame
    valid_rows: np.ndarray  # sorted indices of rows whose box is valid


class RGBTPairDataset(torch.utils.data.Dataset):
    """``samples_per_epoch`` random (template, search) RGB-T pairs, processed for the four-branch model.

    Each item is a dict of tensors (see :func:`ckdtrack.data.processing.make_training_pair`);
    the default collate function stacks them into a batch.
    """

    def __init__(
        self,
        sources: Sequence[TrainingSource],
        samples_per_epoch: int,
        params: ProcessingParams = ProcessingParams(),
        max_gap: int = 200,
        seed: int = 0,
        min_valid_frames: int = 5,
        frame_reader: Callable[[Path], np.ndarray] = read_image,
    ):
        if samples_per_epoch < 1:
            raise InputError(f"samples per epoch must be at least 1, got {samples_per_epoch}")
        if max_gap < 1:
            raise InputError(f"max sample interval must be at least 1, got {max_gap}")
        self.params = params
        self.samples_per_epoch = int(samples_per_epoch)
        self.max_gap = int(max_gap)
        self.seed = int(seed)
        self.epoch = 0
        self.frame_reader = frame_reader
        self.sources: list[list[_UsableSequence]] = []
        ratios = []
        for source in sources:
            usable = [u for u in (_usable(s, min_valid_frames) for s in source.sequences) if u is not None]
            dropped = len(source.sequences) - len(usable)
            if dropped:
                log.warning("%s: %d of %d sequences have fewer than %d valid boxes or no frames; not sampled",
                            source.name, dropped, len(source.sequences), max(2, min_valid_frames))
            if not usable:
                raise InputError(f"{source.name}: no sequence with frames and at least {max(2, min_valid_frames)} valid boxes")
            if not source.ratio > 0:
                raise InputError(f"{source.name}: mixing ratio must be positive, got {source.ratio}")
            self.sources.append(usable)
            ratios.append(float(source.ratio))
        if not self.sources:
            raise InputError("no training sources given")
        self.source_probabilities = np.asarray(ratios) / sum(ratios)
        self._bad_frames: set[Path] = set()

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Draw a fresh set of pairs for ``epoch`` (same seed and epoch give the same pairs)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        for _ in range(MAX_DRAWS):
            sample = self._draw(rng)
            if sample is not None:
                return sample
        raise RuntimeError(f"no valid training pair after {MAX_DRAWS} draws (index {index}); check the boxes and frames")

    def draw_frames(self, rng: np.random.Generator) -> tuple[_UsableSequence, int, int]:
        """Pick a sequence and causal (template, search) annotation rows, both with valid boxes."""
        source = self.sources[int(rng.choice(len(self.sources), p=self.source_probabilities))]
        usable = source[int(rng.integers(len(source)))]
        valid = usable.valid_rows
        gap = self.max_gap
        while True:
            template_row = int(valid[rng.integers(len(valid) - 1)])  # never the last: a later one exists
            first = np.searchsorted(valid, template_row, side="right")
            last = np.searchsorted(valid, template_row + gap, side="right")
            if last > first:
                return usable, template_row, int(valid[rng.integers(first, last)])
            gap += GAP_INCREASE

    def _draw(self, rng: np.random.Generator) -> dict[str, torch.Tensor] | None:
        usable, template_row, search_row = self.draw_frames(rng)
        stride = usable.sequence.annotation_stride
        template_images = self._read_pair(usable.sequence, template_row * stride)
        search_images = self._read_pair(usable.sequence, search_row * stride)
        if template_images is None or search_images is None:
            return None
        return make_training_pair(template_images, usable.boxes[template_row], search_images,
                                  usable.boxes[search_row], self.params, rng)

    def _read_pair(self, sequence: RGBTSequence, frame: int) -> tuple[np.ndarray, np.ndarray] | None:
        paths = (Path(sequence.visible_frames[frame]), Path(sequence.thermal_frames[frame]))
        if any(p in self._bad_frames for p in paths):
            return None
        images = []
        for path in paths:
            try:
                images.append(self.frame_reader(path))
            except InputError as exc:
                self._bad_frames.add(path)
                log.warning("%s: skipping unreadable frame: %s", sequence.name, exc)
                return None
        return images[0], images[1]


def open_training_sources(entries, skip_bad: bool = True) -> list[TrainingSource]:
    """Open the datasets of a training config (``name``, ``split``, ``ratio``, ``root`` per entry).

    ``root`` may be empty only for benchmarks whose frames need no root, which is none: training
    needs frames, so an empty root is an error.
    """
    sources = []
    for entry in entries:
        if not entry.root:
            raise InputError(f"training dataset {entry.name}: 'root' must point to the dataset folder")
        sequences = open_benchmark(entry.name, root=entry.root, split=entry.split, skip_bad=skip_bad)
        sources.append(TrainingSource(f"{entry.name}:{entry.split}", sequences, entry.ratio))
    return sources


def _usable(sequence: RGBTSequence, min_valid_frames: int) -> _UsableSequence | None:
    boxes = sequence.boxes
    if boxes is None or not sequence.visible_frames:
        return None
    annotated = min(len(boxes), (len(sequence) - 1) // sequence.annotation_stride + 1)
    boxes = np.asarray(boxes[:annotated], dtype=np.float64)
    valid_rows = np.flatnonzero(valid_box_mask(boxes))
    if len(valid_rows) < max(2, min_valid_frames):
        return None
    return _UsableSequence(sequence, boxes, valid_rows)
