"""Synthetic RGB-T sequences in the LasHeR layout, for tests, the demo and CPU training.

Each sequence is a small registered RGB-thermal scene: a textured target with a fixed
appearance (so a small model can learn to follow it), a few distractors, and a cold pole the
objects pass behind. Everything moves smoothly and changes scale. The visible image has
changing illumination with a *dark* stretch where only the thermal image shows the target; the
thermal image shows warm bodies on a cooler textured background with its own sensor noise, and
has a *thermal crossover* stretch where the target takes the background's temperature and only
the visible image shows it. Frame 0 is always clean (the tracker initialises there).

Generation is deterministic: a sequence depends only on ``(seed, index)`` and a frame only on
``(seed, index, frame)``, so sequences can be rendered in any order or in parallel.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import InputError
from ..io import atomic_write_text

# (visible name, thermal name, first number): LasHeR mixes these, readers must pair by sorted order.
FRAME_NAME_SCHEMES = (
    ("v{:06d}.jpg", "i{:06d}.jpg", 1),
    ("{:06d}.jpg", "{:06d}.jpg", 1),
    ("{:06d}.jpg", "{:06d}.jpg", 0),
    ("v{:06d}.jpg", "{:06d}.jpg", 1),
)
TARGET_PALETTE = (  # saturated colour pairs the target stripes/checks are painted with (RGB, 0..1)
    ((0.90, 0.15, 0.10), (0.95, 0.85, 0.20)),
    ((0.10, 0.35, 0.90), (0.95, 0.95, 0.95)),
    ((0.10, 0.75, 0.25), (0.10, 0.10, 0.10)),
    ((0.85, 0.20, 0.80), (0.20, 0.85, 0.85)),
    ((0.95, 0.55, 0.05), (0.15, 0.15, 0.60)),
)
MIN_VISIBLE_FRACTION = 0.1  # below this the target counts as fully occluded: box written as 0,0,0,0


@dataclass(frozen=True)
class SceneObject:
    """A moving textured body: per-frame box, its look in each modality, and its drawing depth."""

    boxes: np.ndarray  # (F, 4) float xywh
    shape_power: float  # 2 = ellipse, 4 = rounded rectangle
    colors: tuple[tuple[float, float, float], tuple[float, float, float]]
    pattern: int  # 0 stripes, 1 checks, 2 diagonal stripes
    pattern_freq: float
    temperature: float  # 0..1 thermal intensity of the body
    depth: float  # larger is nearer the camera, drawn later


@dataclass
class SyntheticScene:
    """Everything needed to render any frame of one synthetic sequence."""

    name: str
    seed: int
    index: int
    width: int
    height: int
    frames: int
    visible_background: np.ndarray  # (H, W, 3) float32
    thermal_background: np.ndarray  # (H, W) float32
    thermal_column_noise: np.ndarray  # (W,) fixed-pattern noise of the thermal sensor
    noise_bank: np.ndarray  # (2H, 2W) unit Gaussian noise; each frame reads a random window of it
    objects: list[SceneObject]  # objects[0] is the target
    pole: tuple[int, int] | None  # x range of the occluding pole
    gain: np.ndarray  # (F,) visible illumination
    tint: np.ndarray  # (F, 3) visible colour cast
    crossover: np.ndarray  # (F,) 0..1, how far the target's temperature blends into the background
    events: dict[str, list[int]] = field(default_factory=dict)

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Frame ``t`` as (HxWx3 uint8 RGB visible, HxW uint8 thermal, visible fraction of the target)."""
        visible = self.visible_background.copy()
        thermal = self.thermal_background.copy()
        owner = np.full((self.height, self.width), -1, dtype=np.int16)
        target_area = 0
        for obj_id in sorted(range(len(self.objects)), key=lambda i: self.objects[i].depth):
            obj = self.objects[obj_id]
            temperature = obj.temperature
            if obj_id == 0 and self.crossover[t] > 0:
                x, y, w, h = obj.boxes[t]
                patch = self.thermal_background[max(0, int(y)):int(y + h) + 1, max(0, int(x)):int(x + w) + 1]
                temperature += (float(patch.mean()) - temperature) * self.crossover[t]
            area = _draw_object(visible, thermal, owner, obj, obj_id, t, temperature, self.crossover[t] if obj_id == 0 else 0.0)
            if obj_id == 0:
                target_area = area
        if self.pole is not None:
            x1, x2 = self.pole
            visible[:, x1:x2] = visible[:, x1:x2] * 0.15 + np.array([0.35, 0.3, 0.25], np.float32) * 0.85
            thermal[:, x1:x2] = thermal[:, x1:x2] * 0.3 + 0.12
            owner[:, x1:x2] = -2
        fraction = float((owner == 0).sum()) / target_area if target_area else 0.0

        visible *= self.gain[t] * self.tint[t]
        visible_noise, thermal_noise = self._noise(t)
        visible += visible_noise[:, :, None] * (0.05 if self.gain[t] < 0.3 else 0.02)
        thermal += self.thermal_column_noise
        thermal += thermal_noise * 0.025
        thermal = cv2.GaussianBlur(thermal, (3, 3), 0)
        return _to_uint8(visible), _to_uint8(thermal), fraction

    def _noise(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Two independent-looking noise fields for frame ``t``: random windows of the noise bank."""
        rng = np.random.default_rng((self.seed, self.index, t, 1))
        offsets = rng.integers(0, (self.height, self.width), size=(2, 2))
        return tuple(self.noise_bank[y:y + self.height, x:x + self.width] for y, x in offsets)

    def ground_truth(self, visible_fractions: list[float]) -> np.ndarray:
        """Integer xywh boxes of the target; fully occluded frames become 0,0,0,0 as in real data."""
        boxes = self.objects[0].boxes
        x1 = np.round(boxes[:, 0])
        y1 = np.round(boxes[:, 1])
        out = np.stack([x1, y1, np.round(boxes[:, 0] + boxes[:, 2]) - x1, np.round(boxes[:, 1] + boxes[:, 3]) - y1], axis=1)
        out[np.asarray(visible_fractions) < MIN_VISIBLE_FRACTION] = 0
        return out.astype(np.int64)


def build_scene(index: int, frames: int, width: int, height: int, seed: int) -> SyntheticScene:
    """Lay out one sequence: backgrounds, trajectories, events. Depends only on the arguments."""
    if frames < 2 or width < 32 or height < 32:
        raise InputError(f"synthetic sequences need at least 2 frames of 32x32 pixels, got {frames} of {width}x{height}")
    rng = np.random.default_rng((seed, index, 0))
    visible_bg = _visible_background(rng, width, height)
    thermal_bg = _thermal_background(rng, width, height)
    palette = TARGET_PALETTE[int(rng.integers(len(TARGET_PALETTE)))]
    target = _make_object(rng, frames, width, height, colors=palette, temperature=float(rng.uniform(0.7, 0.9)), depth=0.5)
    objects = [target]
    for _ in range(int(rng.integers(1, 4))):
        warm = rng.random() < 0.6  # warm distractors confuse the thermal image, cold ones the visible
        colors = (tuple(rng.uniform(0.2, 0.8, 3)), tuple(rng.uniform(0.2, 0.8, 3)))
        objects.append(_make_object(
            rng, frames, width, height, colors=colors,
            temperature=float(rng.uniform(0.6, 0.85) if warm else rng.uniform(0.1, 0.3)),
            depth=float(rng.choice([0.2, 0.8])), scale=float(rng.uniform(0.6, 1.1)),
        ))
    events: dict[str, list[int]] = {}
    quiet = np.zeros(frames, dtype=bool)
    quiet[: max(2, frames // 10)] = True  # keep the start clean for initialisation
    pole = _place_pole(rng, target.boxes, width, quiet)
    gain = (1.0 + 0.25 * np.sin(np.arange(frames) * rng.uniform(0.03, 0.08) + rng.uniform(0, 2 * np.pi))).astype(np.float32)
    tint = 1.0 + 0.08 * np.sin(np.arange(frames)[:, None] * rng.uniform(0.02, 0.05, 3) + rng.uniform(0, 2 * np.pi, 3))
    crossover = np.zeros(frames, dtype=np.float32)
    if frames >= 20:
        dark = _pick_interval(rng, frames, quiet)
        gain[dark] *= _ramp(len(dark), floor=0.06)
        quiet[dark] = True
        cross = _pick_interval(rng, frames, quiet)
        crossover[cross] = 1.0 - _ramp(len(cross), floor=0.0)
        events = {"dark": dark.tolist(), "crossover": cross.tolist()}
    return SyntheticScene(
        name=f"synth_{index:03d}", seed=seed, index=index, width=width, height=height, frames=frames,
        visible_background=visible_bg, thermal_background=thermal_bg,
        thermal_column_noise=(rng.standard_normal(width) * 0.015).astype(np.float32),
        noise_bank=rng.standard_normal((2 * height, 2 * width), dtype=np.float32),
        objects=objects, pole=pole, gain=gain, tint=tint.astype(np.float32), crossover=crossover, events=events,
    )


def write_synthetic_dataset(
    out_dir: str | Path,
    sequences: int = 8,
    frames: int = 60,
    size: tuple[int, int] = (320, 256),
    seed: int = 0,
    test_fraction: float = 0.25,
    jpeg_quality: int = 90,
    workers: int = 2,
) -> list[str]:
    """Write ``sequences`` sequences in the LasHeR layout plus ``train.txt``/``test.txt`` lists.

    Layout: ``OUT/<seq>/{visible,infrared}/*.jpg``, ``init.txt``, ``visible.txt``,
    ``infrared.txt`` (comma-separated integer xywh, one line per frame) and ``OUT/synth.json``
    describing the parameters and, per sequence, the dark, crossover and occluded frames.
    Returns the sequence names.
    """
    width, height = size
    return write_rendered_dataset(
        out_dir, lambda index: build_scene(index, frames, width, height, seed), sequences,
        {"source": "synthetic", "seed": seed, "frames": frames, "width": width, "height": height},
        test_fraction=test_fraction, jpeg_quality=jpeg_quality, workers=workers,
    )


def write_rendered_dataset(
    out_dir: str | Path,
    build: Callable[[int], "RenderedScene"],
    sequences: int,
    manifest: dict,
    test_fraction: float = 0.25,
    jpeg_quality: int = 90,
    workers: int = 2,
) -> list[str]:
    """Render ``build(0..sequences-1)`` into ``out_dir`` in the LasHeR layout (see
    :func:`write_synthetic_dataset`); the last ``test_fraction`` of them are listed in ``test.txt``.
    ``manifest`` (the generator's parameters) goes to ``synth.json`` with per-sequence events."""
    if sequences < 1:
        raise InputError(f"--sequences must be at least 1, got {sequences}")
    if not 0 <= test_fraction <= 1:
        raise InputError(f"test fraction must be in [0, 1], got {test_fraction}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def write_one(index: int) -> tuple[str, dict]:
        scene = build(index)
        return scene.name, _write_sequence(scene, out / scene.name, jpeg_quality)

    # numpy and OpenCV release the GIL, so threads overlap well; results do not depend on them.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        written = list(pool.map(write_one, range(sequences)))
    names = [name for name, _ in written]
    if test_fraction == 1:
        n_test = sequences
    elif sequences == 1 or test_fraction == 0:
        n_test = 0
    else:
        n_test = max(1, round(sequences * test_fraction))
    atomic_write_text(out / "train.txt", "".join(f"{n}\n" for n in names[: sequences - n_test]))
    atomic_write_text(out / "test.txt", "".join(f"{n}\n" for n in names[sequences - n_test:]))
    atomic_write_text(out / "synth.json", json.dumps({**manifest, "sequences": dict(written)}, indent=1))
    return names


class RenderedScene(Protocol):
    """What :func:`write_rendered_dataset` needs of a generated sequence."""

    name: str
    index: int
    frames: int
    events: dict[str, list[int]]

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray, float]: ...

    def ground_truth(self, visible_fractions: list[float]) -> np.ndarray: ...


def _write_sequence(scene: SyntheticScene, folder: Path, jpeg_quality: int) -> dict:
    visible_name, thermal_name, first = FRAME_NAME_SCHEMES[scene.index % len(FRAME_NAME_SCHEMES)]
    (folder / "visible").mkdir(parents=True, exist_ok=True)
    (folder / "infrared").mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    fractions = []
    for t in range(scene.frames):
        visible, thermal, fraction = scene.render(t)
        fractions.append(fraction)
        cv2.imwrite(str(folder / "visible" / visible_name.format(t + first)), visible[:, :, ::-1], params)
        cv2.imwrite(str(folder / "infrared" / thermal_name.format(t + first)), thermal, params)
    boxes = scene.ground_truth(fractions)
    text = "".join(f"{x},{y},{w},{h}\n" for x, y, w, h in boxes)
    for name in ("init.txt", "visible.txt", "infrared.txt"):
        atomic_write_text(folder / name, text)
    occluded = [t for t, f in enumerate(fractions) if f < 0.5]
    return {**scene.events, "occluded": occluded, "names": [visible_name, thermal_name]}


# --- scene pieces -------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cell: int, channels: int = 1) -> np.ndarray:
    """Noise with features about ``cell`` pixels wide, in [0, 1]."""
    small = rng.random((height // cell + 2, width // cell + 2, channels)).astype(np.float32)
    big = cv2.resize(small, (width + 2 * cell, height + 2 * cell), interpolation=cv2.INTER_CUBIC)
    big = big.reshape(big.shape[0], big.shape[1], channels)[cell:cell + height, cell:cell + width]
    return np.clip(big, 0, 1)


def _visible_background(rng, width, height) -> np.ndarray:
    base = rng.uniform(0.25, 0.55, 3).astype(np.float32)
    texture = 0.25 * (_smooth_noise(rng, width, height, 48, 3) - 0.5) + 0.15 * (_smooth_noise(rng, width, height, 6, 1) - 0.5)
    ground = np.linspace(-0.08, 0.08, height, dtype=np.float32)[:, None, None]
    return np.clip(base + texture + ground, 0, 1).astype(np.float32)


def _thermal_background(rng, width, height) -> np.ndarray:
    level = rng.uniform(0.25, 0.4)
    texture = 0.16 * (_smooth_noise(rng, width, height, 40)[:, :, 0] - 0.5) + 0.06 * (_smooth_noise(rng, width, height, 5)[:, :, 0] - 0.5)
    ground = np.linspace(-0.05, 0.07, height, dtype=np.float32)[:, None]
    return np.clip(level + texture + ground, 0, 1).astype(np.float32)


def _make_object(rng, frames, width, height, colors, temperature, depth, scale=1.0) -> SceneObject:
    """An object on a smooth sum-of-sines path that stays inside the image and breathes in scale."""
    side = min(width, height) * rng.uniform(0.12, 0.2) * scale
    aspect = rng.uniform(0.5, 1.8)
    base_w, base_h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    t = np.arange(frames, dtype=np.float64)
    zoom = np.exp(rng.uniform(0.1, 0.3) * np.sin(t * rng.uniform(0.02, 0.06) + rng.uniform(0, 2 * np.pi)))
    w, h = base_w * zoom, base_h * zoom
    centers = []
    for extent, size in ((width, w), (height, h)):
        slow = np.sin(t * rng.uniform(0.015, 0.04) + rng.uniform(0, 2 * np.pi))
        fast = np.sin(t * rng.uniform(0.06, 0.12) + rng.uniform(0, 2 * np.pi))
        path = 0.8 * slow + 0.2 * fast  # in [-1, 1]
        margin = size / 2 + 2
        centers.append(extent / 2 + path * (extent / 2 - margin))
    boxes = np.stack([centers[0] - w / 2, centers[1] - h / 2, w, h], axis=1)
    return SceneObject(
        boxes=boxes, shape_power=float(rng.choice([2.0, 4.0])), colors=colors,
        pattern=int(rng.integers(3)), pattern_freq=float(rng.uniform(1.5, 3.5)),
        temperature=temperature, depth=depth,
    )


def _place_pole(rng, target_boxes: np.ndarray, width: int, quiet: np.ndarray) -> tuple[int, int] | None:
    """A vertical pole where the target passes later, never covering it while ``quiet``."""
    centers = target_boxes[:, 0] + target_boxes[:, 2] / 2
    pole_w = max(3, int(np.median(target_boxes[:, 2]) * rng.uniform(0.35, 0.6)))
    for _ in range(10):
        x = float(centers[int(rng.integers(len(centers)))])
        x1, x2 = int(x - pole_w / 2), int(x + pole_w / 2)
        covers = (target_boxes[:, 0] < x2) & (target_boxes[:, 0] + target_boxes[:, 2] > x1)
        if not (covers & quiet).any() and x1 > 0 and x2 < width:
            return x1, x2
    return None


def _pick_interval(rng, frames: int, busy: np.ndarray) -> np.ndarray:
    """Frame indices of a stretch of about an eighth of the sequence that avoids ``busy`` frames."""
    length = max(3, frames // 8)
    for _ in range(50):
        start = int(rng.integers(0, frames - length + 1))
        span = np.arange(start, start + length)
        if not busy[max(0, start - 1):start + length + 1].any():
            return span
    return np.arange(0)


def _ramp(length: int, floor: float) -> np.ndarray:
    """1 -> floor -> 1 over ``length`` frames, flat at ``floor`` in the middle."""
    edge = max(1, length // 4)
    profile = np.full(length, floor, dtype=np.float32)
    steps = np.linspace(1.0, floor, edge + 1, dtype=np.float32)[1:]
    profile[:edge] = np.maximum(profile[:edge], steps)
    profile[length - edge:] = np.maximum(profile[length - edge:], steps[::-1])
    return profile


def _draw_object(visible, thermal, owner, obj: SceneObject, obj_id: int, t: int, temperature: float, crossover: float) -> int:
    """Composite one object into both images; returns its area in pixels."""
    height, width = owner.shape
    x, y, w, h = obj.boxes[t]
    x0, y0 = max(0, int(math.floor(x))), max(0, int(math.floor(y)))
    x1, y1 = min(width, int(math.ceil(x + w))), min(height, int(math.ceil(y + h)))
    if x1 <= x0 or y1 <= y0:
        return 0
    u = ((np.arange(x0, x1, dtype=np.float32) + 0.5) - (x + w / 2)) / (w / 2)
    v = ((np.arange(y0, y1, dtype=np.float32) + 0.5) - (y + h / 2)) / (h / 2)
    uu, vv = np.meshgrid(u, v)
    radius = (np.abs(uu) ** obj.shape_power + np.abs(vv) ** obj.shape_power) ** (1.0 / obj.shape_power)
    alpha = np.clip((1.0 - radius) * min(w, h) / 3.0, 0.0, 1.0)
    if obj.pattern == 0:
        wave = np.sin(np.pi * obj.pattern_freq * vv)
    elif obj.pattern == 1:
        wave = np.sin(np.pi * obj.pattern_freq * uu) * np.sin(np.pi * obj.pattern_freq * vv)
    else:
        wave = np.sin(np.pi * obj.pattern_freq * (uu + vv))
    mix = (wave > 0).astype(np.float32)[:, :, None]
    c1, c2 = (np.asarray(c, dtype=np.float32) for c in obj.colors)
    shade = (1.0 - 0.25 * np.minimum(radius, 1.0) ** 2)[:, :, None]
    color = (c1 * mix + c2 * (1 - mix)) * shade
    region = visible[y0:y1, x0:x1]
    region += alpha[:, :, None] * (color - region)
    # Warm core with a hot spot near the top ("head"); structure fades with the crossover.
    structure = 1.0 - crossover
    heat = temperature * (1.0 - 0.2 * structure * radius ** 2) + structure * 0.12 * np.exp(-((uu / 0.35) ** 2 + ((vv + 0.55) / 0.3) ** 2))
    thermal_region = thermal[y0:y1, x0:x1]
    thermal_region += alpha * (heat - thermal_region)
    owner[y0:y1, x0:x1][alpha > 0.5] = obj_id
    return int((alpha > 0.5).sum())


def _to_uint8(image: np.ndarray) -> np.ndarray:
    np.clip(image, 0.0, 1.0, out=image)
    image *= 255.0
    image += 0.5
    return image.astype(np.uint8)
