"""Turn a template/search frame pair into the crops and boxes the four-branch model trains on.

The recipe is the published CKD/OSTrack training processing, re-written: jitter the target box
(search only by default), crop a square ``factor`` times the jittered box's side around it with
the tracker's own geometry (:mod:`ckdtrack.geometry`), express the true box in normalised crop
coordinates, then augment and normalise. RGB and thermal images of a frame are registered, so
they always share one crop window and one set of random augmentation draws:

- frame level (shared by template and search): grayscale with p=0.05, horizontal flip p=0.5;
- crop level (drawn separately for template and search): brightness factor in [0.8, 1.2],
  horizontal flip p=0.5 (the published training mirrors template and search independently);
- ImageNet mean/std normalisation.

A pair is rejected (``None``) when a crop would be too small to exist or would show no image at
the backbone's feature resolution (only zero padding), as the published processing does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from ..config import Config, CropConfig, TrainConfig
from ..errors import InputError
from ..geometry import CropWindow, box_to_crop, crop_window
from ..models.ckd import INPUT_MEAN, INPUT_STD

@dataclass(frozen=True)
class Augmentation:
    """Augmentation strengths of the published training (flips, grayscale, brightness)."""

    grayscale_probability: float = 0.05
    frame_flip_probability: float = 0.5
    crop_flip_probability: float = 0.5
    brightness_jitter: float = 0.2


NO_AUGMENTATION = Augmentation(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ProcessingParams:
    """How a training pair is cut: the config's crop geometry and box jitter (``train``'s
    ``*_jitter`` fields), the backbone's patch stride, and the augmentation."""

    crop: CropConfig = CropConfig()
    train: TrainConfig = TrainConfig()
    feature_stride: int = 16
    augmentation: Augmentation = Augmentation()

    @classmethod
    def from_config(cls, config: Config) -> "ProcessingParams":
        return cls(config.crop, config.train, config.model.patch_size)

    def without_augmentation(self) -> "ProcessingParams":
        """Same crops and jitter, no flips, grayscale or brightness changes and no target-absent
        pairs (validation)."""
        return replace(self, augmentation=NO_AUGMENTATION, train=replace(self.train, negative_pair_ratio=0.0))


def jitter_box(box, scale_jitter: float, center_jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Randomly rescale (log-normal, per side) and shift (uniform, relative to the new size) a box."""
    x, y, w, h = (float(v) for v in box)
    size = np.array([w, h]) * np.exp(rng.standard_normal(2) * scale_jitter)
    max_offset = np.sqrt(size.prod()) * center_jitter
    center = np.array([x + 0.5 * w, y + 0.5 * h]) + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([center - 0.5 * size, size])


def make_training_pair(
    template_images: tuple[np.ndarray, np.ndarray],
    template_box,
    search_images: tuple[np.ndarray, np.ndarray],
    search_box,
    params: ProcessingParams,
    rng: np.random.Generator,
) -> dict[str, torch.Tensor] | None:
    """Crops and normalised boxes for one (template, search) pair of (RGB, thermal) HxWx3 uint8 frames.

    Returns ``template_rgb``, ``template_tir`` (3, T, T), ``search_rgb``, ``search_tir`` (3, S, S)
    float32 normalised images and ``template_anno``, ``search_anno`` (4,) float32 ``xywh`` boxes
    divided by the crop size; ``None`` when the pair must be redrawn. With
    ``train.negative_pair_ratio``, that share of search crops is cut where the target is not,
    and their ``search_anno`` is all zeros.
    """
    crop, train, augmentation = params.crop, params.train, params.augmentation
    negative = train.negative_pair_ratio > 0 and rng.random() < train.negative_pair_ratio
    grayscale = rng.random() < augmentation.grayscale_probability
    frame_flip = rng.random() < augmentation.frame_flip_probability
    sample: dict[str, torch.Tensor] = {}
    stages = (
        ("template", template_images, template_box, crop.template_size, crop.template_factor,
         train.template_scale_jitter, train.template_center_jitter),
        ("search", search_images, search_box, crop.search_size, crop.search_factor,
         train.search_scale_jitter, train.search_center_jitter),
    )
    for stage, images, box, size, factor, scale_jitter, center_jitter in stages:
        box = np.asarray(box, dtype=np.float64)
        if frame_flip:
            images = tuple(np.ascontiguousarray(image[:, ::-1]) for image in images)
            box = np.array([images[0].shape[1] - box[0] - box[2], box[1], box[2], box[3]])
        jittered = jitter_box(box, scale_jitter, center_jitter, rng)
        height, width = images[0].shape[:2]
        if negative and stage == "search":
            jittered = _away_from(box, jittered, factor, width, height, rng)
            if jittered is None:
                return None
        try:
            window = CropWindow.around(jittered, factor)
        except InputError:
            return None
        if not _window_shows_image(window, height, width, size, params.feature_stride):
            return None
        crops = [crop_window(image, window, size) for image in images]
        anno = (np.zeros(4) if negative and stage == "search"
                else box_to_crop(box, jittered, size / window.size, size, normalize=True))
        brightness = rng.uniform(max(0.0, 1.0 - augmentation.brightness_jitter), 1.0 + augmentation.brightness_jitter)
        if rng.random() < augmentation.crop_flip_probability:
            crops = [crop[:, ::-1] for crop in crops]
            anno[0] = 1.0 - anno[0] - anno[2]
        if grayscale:
            crops = [_to_gray(crop) for crop in crops]
        sample[f"{stage}_rgb"] = _normalize(crops[0], brightness)
        sample[f"{stage}_tir"] = _normalize(crops[1], brightness)
        sample[f"{stage}_anno"] = torch.from_numpy(anno.astype(np.float32))
    return sample


def _away_from(box: np.ndarray, jittered: np.ndarray, factor: float, width: int, height: int,
               rng: np.random.Generator, tries: int = 20) -> np.ndarray | None:
    """``jittered`` moved to a random place in the frame whose crop leaves all of ``box`` out;
    ``None`` when no such place is found (the target fills too much of the frame)."""
    half = factor * np.sqrt(jittered[2] * jittered[3]) / 2
    target_center = box[:2] + box[2:] / 2
    for _ in range(tries):
        center = rng.uniform((0.0, 0.0), (width, height))
        if np.any(np.abs(center - target_center) > half + box[2:] / 2):
            return np.concatenate([center - jittered[2:] / 2, jittered[2:]])
    return None


def denormalize(image: torch.Tensor) -> np.ndarray:
    """A normalised (3, H, W) crop back to HxWx3 uint8 RGB, for looking at training samples."""
    mean = torch.tensor(INPUT_MEAN).view(3, 1, 1)
    std = torch.tensor(INPUT_STD).view(3, 1, 1)
    pixels = ((image.detach().cpu() * std + mean).clamp(0, 1) * 255).round().to(torch.uint8)
    return pixels.permute(1, 2, 0).numpy()


def _window_shows_image(window: CropWindow, height: int, width: int, output_size: int, stride: int) -> bool:
    """Whether some feature-grid sample of the resized crop falls inside the image (not padding)."""
    centers = (np.arange(0, output_size, max(1, stride)) + 0.5) * window.size / output_size - 0.5
    inside_x = ((window.x1 + centers >= 0) & (window.x1 + centers <= width - 1)).any()
    inside_y = ((window.y1 + centers >= 0) & (window.y1 + centers <= height - 1)).any()
    return bool(inside_x and inside_y)


def _to_gray(crop: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def _normalize(crop: np.ndarray, brightness: float) -> torch.Tensor:
    """Brightness, clipping and mean/std in one look-up per channel (the crop is uint8)."""
    levels = np.minimum(np.arange(256, dtype=np.float32) * np.float32(brightness / 255.0), 1.0)
    planes = [((levels - np.float32(m)) / np.float32(sd))[crop[:, :, c]] for c, (m, sd) in enumerate(zip(INPUT_MEAN, INPUT_STD))]
    return torch.from_numpy(np.stack(planes))
