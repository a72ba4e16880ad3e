"""Training sequences made of real RGB-T imagery: real objects moving over real backgrounds.

Source: a folder of registered still pairs (``<set>/visible/NAME`` + ``<set>/infrared/NAME``,
e.g. ``../shared/real_pairs``). Nothing in them is annotated, so objects are cut out
automatically: *warm* objects are connected regions that stand out from their surroundings in
the thermal image (people, cars, animals; the alpha mask is the region's shape), *textured*
objects are rectangles of high visible-image detail with a soft rounded mask. Every object keeps
its registered appearance in both modalities, so a target looks in each frame the way a real
object of that kind looks to each sensor.

A sequence pans slowly over one real background pair and moves the target (and distractors,
often of the same kind as the target) along smooth paths with changing scale and aspect. The
nuisances of real RGB-T video are drawn per sequence: a dark or over-exposed visible stretch,
a thermal crossover stretch (the target's thermal contrast fades to zero), a static occluder
the target passes behind, a motion-blur stretch, a small constant registration offset of the
thermal image, grayscale visible images (like the TNO clips) and thermal row noise. Two options
make harder sequences: scene cuts, and camouflage (the target barely shows in the visible image
while it stays warm, so its box must come from the thermal image alone). Targets
range from about 8x14 px (TNO people on a 360x270 frame) to a third of the frame height.
The box is the visible image's; frame 0 is always clean.

Determinism: the object bank depends only on the pair folder's content and the seed; a
sequence depends only on ``(seed, index)`` and a frame only on ``(seed, index, frame)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .synth import MIN_VISIBLE_FRACTION, _pick_interval, _ramp, _to_uint8, write_rendered_dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MAX_SOURCE_SIDE = 640  # larger pairs (LLVIP is 1280x1024) are downscaled once when loaded
WARM_PER_PAIR = 6  # most warm objects cut from one pair
TEXTURED_PER_PAIR = 2
MIN_TARGET_HEIGHT = 14.0  # px: a TNO person is about 10x20 on 360x270
MAX_UPSCALE = 2.0  # objects are drawn at most this much larger than they were cut, so they stay sharp


@dataclass(frozen=True)
class ImagePair:
    """One registered still pair, float32 in [0, 1]: visible (H, W, 3) RGB, thermal (H, W)."""

    name: str
    visible: np.ndarray
    thermal: np.ndarray


@dataclass(frozen=True)
class Cutout:
    """An object cut from a pair: its look in both modalities and its soft shape.

    ``heat`` is the thermal image minus the local background level around the object, so a
    warm object pasted elsewhere stays as much warmer than its new surroundings as it was.
    """

    kind: str  # "warm" or "textured"
    source: str
    visible: np.ndarray  # (h, w, 3)
    heat: np.ndarray  # (h, w)
    alpha: np.ndarray  # (h, w) in [0, 1]

    @property
    def aspect(self) -> float:
        return self.visible.shape[1] / self.visible.shape[0]


def load_pairs(root: str | Path) -> list[ImagePair]:
    """All registered pairs under ``root`` (``*/visible`` + ``*/infrared``, same names), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: real image pair folder not found")
    pairs = []
    for visible_dir in sorted(root.glob("*/visible")):
        for path in sorted(p for p in visible_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            thermal_path = visible_dir.parent / "infrared" / path.name
            if not thermal_path.is_file():
                raise InputError(f"{path}: no registered thermal image {thermal_path}")
            visible, thermal = cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.imread(str(thermal_path), cv2.IMREAD_GRAYSCALE)
            if visible is None or thermal is None:
                raise InputError(f"{path if visible is None else thermal_path}: unreadable image")
            if visible.shape[:2] != thermal.shape:
                raise InputError(f"{thermal_path}: {thermal.shape[1]}x{thermal.shape[0]} does not match the visible "
                                 f"image's {visible.shape[1]}x{visible.shape[0]} (pairs must be registered)")
            scale = min(1.0, MAX_SOURCE_SIDE / max(thermal.shape))
            if scale < 1.0:
                size = (round(thermal.shape[1] * scale), round(thermal.shape[0] * scale))
                visible = cv2.resize(visible, size, interpolation=cv2.INTER_AREA)
                thermal = cv2.resize(thermal, size, interpolation=cv2.INTER_AREA)
            pairs.append(ImagePair(f"{visible_dir.parent.name}/{path.name}",
                                   visible[:, :, ::-1].astype(np.float32) / 255.0, thermal.astype(np.float32) / 255.0))
    if not pairs:
        raise InputError(f"{root}: no image pairs found (expected <set>/visible/* and <set>/infrared/*)")
    return pairs


def warm_cutouts(pair: ImagePair, limit: int = WARM_PER_PAIR) -> list[Cutout]:
    """Regions clearly warmer than their surroundings, largest contrast first."""
    thermal = pair.thermal
    height, width = thermal.shape
    background = cv2.GaussianBlur(thermal, (0, 0), max(height, width) / 40)
    contrast = thermal - background
    threshold = max(0.08, float(contrast.mean() + 2.5 * contrast.std()))
    mask = (contrast > threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < 40 or w < 4 or h < 8 or area > 0.03 * height * width or not 0.2 <= w / h <= 4.0 or area < 0.25 * w * h:
            continue
        shape = (labels[y:y + h, x:x + w] == label).astype(np.float32)
        alpha = np.clip(cv2.GaussianBlur(cv2.dilate(shape, np.ones((3, 3), np.uint8)), (3, 3), 0), 0, 1)
        heat = thermal[y:y + h, x:x + w] - background[y:y + h, x:x + w]
        strength = float((contrast[y:y + h, x:x + w] * shape).sum())
        found.append((strength, Cutout("warm", pair.name, pair.visible[y:y + h, x:x + w].copy(), heat, alpha)))
    found.sort(key=lambda item: -item[0])
    return [cutout for _, cutout in found[:limit]]


def textured_cutouts(pair: ImagePair, rng: np.random.Generator, limit: int = TEXTURED_PER_PAIR) -> list[Cutout]:
    """Rectangles with the most visible detail among random candidates, with a rounded soft mask."""
    height, width = pair.thermal.shape
    gray = cv2.cvtColor(pair.visible, cv2.COLOR_RGB2GRAY)
    detail = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    background = cv2.GaussianBlur(pair.thermal, (0, 0), max(height, width) / 40)
    candidates = []
    for _ in range(12):
        h = int(rng.uniform(0.08, 0.25) * height)
        w = int(np.clip(h * rng.uniform(0.5, 2.0), 8, width - 2))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        candidates.append((float(detail[y:y + h, x:x + w].mean()), x, y, w, h))
    candidates.sort(key=lambda item: -item[0])
    cutouts = []
    for _, x, y, w, h in candidates[:limit]:
        u = (np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1
        v = (np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1
        radius = (np.abs(u)[None, :] ** 4 + np.abs(v)[:, None] ** 4) ** 0.25
        alpha = np.clip((1.0 - radius) * min(w, h) / 4.0, 0.0, 1.0)
        heat = pair.thermal[y:y + h, x:x + w] - background[y:y + h, x:x + w] + float(rng.uniform(0.05, 0.2))
        cutouts.append(Cutout("textured", pair.name, pair.visible[y:y + h, x:x + w].copy(), heat, alpha))
    return cutouts


@dataclass(frozen=True)
class ObjectBank:
    """The backgrounds and the cut-out objects sequences are composed of."""

    pairs: list[ImagePair]
    warm: list[Cutout]
    textured: list[Cutout]

    @classmethod
    def build(cls, root: str | Path, seed: int) -> "ObjectBank":
        pairs = load_pairs(root)
        warm, textured = [], []
        for index, pair in enumerate(pairs):
            warm += warm_cutouts(pair)
            textured += textured_cutouts(pair, np.random.default_rng((seed, index, 7)))
        if not warm:
            raise InputError(f"{root}: no object stands out in any thermal image; cannot build sequences")
        return cls(pairs, warm, textured)

    def pick(self, rng: np.random.Generator, kind: str) -> Cutout:
        pool = self.warm if kind == "warm" else self.textured
        return pool[int(rng.integers(len(pool)))]


@dataclass(frozen=True)
class MovingObject:
    cutout: Cutout
    boxes: np.ndarray  # (F, 4) float xywh in the frame
    depth: float  # larger is nearer the camera, drawn later


@dataclass
class RealPairScene:
    """Everything needed to render any frame of one real-imagery sequence."""

    name: str
    seed: int
    index: int
    width: int
    height: int
    frames: int
    visible_background: np.ndarray  # (H + pan, W + pan, 3), the camera pans over it
    thermal_background: np.ndarray
    pan: np.ndarray  # (F, 2) integer x, y offset of the view into the background
    objects: list[MovingObject]  # objects[0] is the target
    occluder: tuple[np.ndarray, np.ndarray, tuple[int, int]] | None  # visible, thermal, (x, y) in the frame
    gain: np.ndarray  # (F,) visible exposure: < 1 dark, > 1 over-exposed
    crossover: np.ndarray  # (F,) 0..1, how much of the target's thermal contrast is gone
    camouflage: np.ndarray  # (F,) 0..1, how much of the target's visible appearance is gone
    blur: np.ndarray  # (F,) motion-blur length in px (0 = sharp)
    blur_angle: float
    thermal_offset: tuple[float, float]  # registration error of the thermal image, px
    grayscale: bool
    row_noise: float
    events: dict[str, list[int]] = field(default_factory=dict)

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Frame ``t`` as (HxWx3 uint8 RGB visible, HxW uint8 thermal, visible fraction of the target)."""
        px, py = (int(v) for v in self.pan[t])
        visible = self.visible_background[py:py + self.height, px:px + self.width].copy()
        thermal = self.thermal_background[py:py + self.height, px:px + self.width].copy()
        owner = np.full((self.height, self.width), -1, dtype=np.int16)
        target_area = 0
        for obj_id in sorted(range(len(self.objects)), key=lambda i: self.objects[i].depth):
            obj = self.objects[obj_id]
            heat, look = (1.0 - self.crossover[t], 1.0 - self.camouflage[t]) if obj_id == 0 else (1.0, 1.0)
            area = _paste(visible, thermal, owner, obj.cutout, obj.boxes[t], obj_id, heat, look)
            if obj_id == 0:
                target_area = area
        if self.occluder is not None:
            occ_visible, occ_thermal, (ox, oy) = self.occluder
            h, w = occ_thermal.shape
            visible[oy:oy + h, ox:ox + w] = occ_visible
            thermal[oy:oy + h, ox:ox + w] = occ_thermal
            owner[oy:oy + h, ox:ox + w] = -2
        fraction = float((owner == 0).sum()) / target_area if target_area else 0.0

        rng = np.random.default_rng((self.seed, self.index, t, 1))
        visible *= self.gain[t]
        visible += rng.standard_normal(visible.shape[:2], dtype=np.float32)[:, :, None] * (0.04 if self.gain[t] < 0.3 else 0.015)
        if self.grayscale:
            visible[:] = cv2.cvtColor(np.clip(visible, 0, 1), cv2.COLOR_RGB2GRAY)[:, :, None]
        if self.thermal_offset != (0.0, 0.0):
            shift = np.float32([[1, 0, self.thermal_offset[0]], [0, 1, self.thermal_offset[1]]])
            thermal = cv2.warpAffine(thermal, shift, (self.width, self.height), borderMode=cv2.BORDER_REFLECT)
        thermal += rng.standard_normal(thermal.shape, dtype=np.float32) * 0.015
        thermal += rng.standard_normal((self.height, 1), dtype=np.float32) * self.row_noise
        if self.blur[t] > 1:
            kernel = _motion_kernel(int(self.blur[t]), self.blur_angle)
            visible = cv2.filter2D(visible, -1, kernel)
            thermal = cv2.filter2D(thermal, -1, kernel)
        return _to_uint8(visible), _to_uint8(thermal), fraction

    def ground_truth(self, visible_fractions: list[float]) -> np.ndarray:
        """Integer xywh boxes of the pasted target (as drawn); hidden frames become 0,0,0,0."""
        boxes = np.array([_pixel_box(box) for box in self.objects[0].boxes], dtype=np.int64)
        boxes[np.asarray(visible_fractions) < MIN_VISIBLE_FRACTION] = 0
        return boxes


def build_real_scene(bank: ObjectBank, index: int, frames: int, width: int, height: int, seed: int,
                     cuts: int = 0, frame_step: int = 1, camouflage: float = 0.0) -> RealPairScene:
    """Lay out one sequence from the bank. Depends only on the bank and the arguments; ``cuts``
    scene cuts (see :func:`_add_cuts`) and, with probability ``camouflage``, a target that keeps
    only 0-40% of its visible appearance throughout are drawn from their own random streams, so
    the rest of a sequence is the same with and without them. ``frame_step`` > 1 shows every
    ``frame_step``-th moment of the same motion, as a camera at that fraction of the frame rate
    sees it: objects move and change size that many times as far between frames."""
    if frames < 2 or width < 64 or height < 64:
        raise InputError(f"real-imagery sequences need at least 2 frames of 64x64 pixels, got {frames} of {width}x{height}")
    rng = np.random.default_rng((seed, index, 0))
    pan_extent = int(rng.uniform(0, 0.15) * min(width, height))
    background = bank.pairs[int(rng.integers(len(bank.pairs)))]
    visible_bg, thermal_bg = _cover(background, width + pan_extent, height + pan_extent, rng)
    start, end = rng.integers(0, pan_extent + 1, size=(2, 2))
    ramp = np.linspace(0.0, 1.0, frames)[:, None]
    pan = np.round(start + (end - start) * ramp).astype(np.int64)

    kind = "warm" if rng.random() < 0.75 else "textured"
    target_cutout = bank.pick(rng, kind)
    tiny = rng.random() < 0.35
    target_height = (rng.uniform(MIN_TARGET_HEIGHT, 30.0) if tiny
                     else math.exp(rng.uniform(math.log(30.0), math.log(height / 3))))
    target_height = max(MIN_TARGET_HEIGHT, min(target_height, MAX_UPSCALE * target_cutout.visible.shape[0]))
    target = MovingObject(target_cutout, _trajectory(rng, frames, width, height, target_cutout.aspect, target_height,
                                                     frame_step), 0.5)
    objects = [target]
    for _ in range(int(rng.integers(0, 4))):
        same_kind = rng.random() < 0.7
        cutout = target_cutout if same_kind and rng.random() < 0.2 else bank.pick(rng, kind if same_kind else "warm")
        size = target_height * rng.uniform(0.7, 1.3) if same_kind else rng.uniform(MIN_TARGET_HEIGHT, height / 3)
        size = max(MIN_TARGET_HEIGHT, min(size, MAX_UPSCALE * cutout.visible.shape[0]))
        objects.append(MovingObject(cutout, _trajectory(rng, frames, width, height, cutout.aspect, size, frame_step),
                                    float(rng.choice([0.2, 0.8]))))

    quiet = np.zeros(frames, dtype=bool)
    quiet[: max(2, frames // 10)] = True  # keep the start clean for initialisation
    gain = np.full(frames, rng.uniform(0.8, 1.2), dtype=np.float32)
    crossover = np.zeros(frames, dtype=np.float32)
    blur = np.zeros(frames, dtype=np.float32)
    events: dict[str, list[int]] = {}
    occluder = None
    if frames >= 20:
        if rng.random() < 0.7:
            span = _pick_interval(rng, frames, quiet)
            if rng.random() < 0.5:
                gain[span] *= _ramp(len(span), floor=float(rng.uniform(0.04, 0.15)))
                events["dark"] = span.tolist()
            else:
                gain[span] *= 1.0 + (1.0 - _ramp(len(span), floor=0.0)) * float(rng.uniform(1.5, 3.0))
                events["overexposed"] = span.tolist()
            quiet[span] = True
        if rng.random() < 0.5:
            span = _pick_interval(rng, frames, quiet)
            crossover[span] = 1.0 - _ramp(len(span), floor=0.0)
            events["crossover"] = span.tolist()
            quiet[span] = True
        if rng.random() < 0.4:
            span = _pick_interval(rng, frames, quiet)
            blur[span] = rng.uniform(3, 9)
            events["blur"] = span.tolist()
        if rng.random() < 0.5:
            occluder = _place_occluder(rng, bank, target.boxes, width, height, frames)
    offset = tuple(float(v) for v in rng.uniform(-3, 3, 2)) if rng.random() < 0.5 else (0.0, 0.0)
    if cuts:
        events["cut"] = _add_cuts(np.random.default_rng((seed, index, 3)), target.boxes, pan, pan_extent,
                                  width, height, cuts)
    hidden = np.zeros(frames, dtype=np.float32)
    camouflage_rng = np.random.default_rng((seed, index, 4))
    if camouflage_rng.random() < camouflage:
        hidden[:] = camouflage_rng.uniform(0.6, 1.0)
        events["camouflage"] = list(range(frames))
    return RealPairScene(
        name=f"real_{index:03d}", seed=seed, index=index, width=width, height=height, frames=frames,
        visible_background=visible_bg, thermal_background=thermal_bg, pan=pan, objects=objects, occluder=occluder,
        gain=gain, crossover=crossover, camouflage=hidden, blur=blur, blur_angle=float(rng.uniform(0, np.pi)),
        thermal_offset=offset,
        grayscale=bool(rng.random() < 0.35), row_noise=float(rng.choice([0.0, rng.uniform(0.005, 0.03)])),
        events=events,
    )


def write_real_pairs_dataset(
    out_dir: str | Path,
    pairs_root: str | Path,
    sequences: int = 8,
    frames: int = 60,
    size: tuple[int, int] = (320, 256),
    seed: int = 0,
    test_fraction: float = 0.25,
    jpeg_quality: int = 90,
    workers: int = 2,
    cuts: int = 0,
    frame_steps: tuple[int, ...] = (1,),
    camouflage: float = 0.0,
) -> list[str]:
    """Write real-imagery sequences in the LasHeR layout, exactly like ``ckdtrack synth`` writes
    synthetic ones (see :func:`ckdtrack.data.synth.write_synthetic_dataset`); ``cuts`` scene cuts
    per sequence (for testing re-detection); each sequence's frame step (> 1: fast motion, a
    lower frame rate) drawn from ``frame_steps``; ``camouflage`` the share of targets hidden in
    the visible image (:func:`build_real_scene`)."""
    width, height = size
    if cuts < 0 or (cuts and frames < 4 * (cuts + 1)):
        raise InputError(f"{cuts} scene cuts need at least {4 * (cuts + 1)} frames per sequence, got {frames}")
    if not frame_steps or any(int(step) != step or step < 1 for step in frame_steps):
        raise InputError(f"frame steps must be whole numbers >= 1, got {list(frame_steps)}")
    if not 0.0 <= camouflage <= 1.0:
        raise InputError(f"the camouflaged share must be in 0..1, got {camouflage}")
    bank = ObjectBank.build(pairs_root, seed)
    manifest = {"source": "real-pairs", "pairs": str(pairs_root), "seed": seed, "frames": frames, "cuts": cuts,
                "frame_steps": list(frame_steps), "camouflage": camouflage,
                "width": width, "height": height, "warm_objects": len(bank.warm),
                "textured_objects": len(bank.textured), "background_pairs": len(bank.pairs)}
    return write_rendered_dataset(
        out_dir, lambda index: build_real_scene(bank, index, frames, width, height, seed, cuts,
                                                _frame_step(frame_steps, seed, index), camouflage),
        sequences, manifest,
        test_fraction=test_fraction, jpeg_quality=jpeg_quality, workers=workers,
    )


# --- scene pieces -------------------------------------------------------------------------------


def _frame_step(frame_steps: tuple[int, ...], seed: int, index: int) -> int:
    """Sequence ``index``'s frame step, drawn from its own random stream (one choice: no draw)."""
    if len(frame_steps) == 1:
        return int(frame_steps[0])
    return int(frame_steps[int(np.random.default_rng((seed, index, 5)).integers(len(frame_steps)))])


def _cover(pair: ImagePair, width: int, height: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random window of ``pair`` (up to 1.5x zoomed in) resized to exactly ``width`` x ``height``."""
    src_h, src_w = pair.thermal.shape
    scale = max(width / src_w, height / src_h) * rng.uniform(1.0, 1.5)
    win_w, win_h = min(src_w, math.ceil(width / scale)), min(src_h, math.ceil(height / scale))
    x, y = int(rng.integers(0, src_w - win_w + 1)), int(rng.integers(0, src_h - win_h + 1))
    size = (width, height)
    visible = cv2.resize(pair.visible[y:y + win_h, x:x + win_w], size, interpolation=cv2.INTER_LINEAR)
    thermal = cv2.resize(pair.thermal[y:y + win_h, x:x + win_w], size, interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        visible, thermal = visible[:, ::-1].copy(), thermal[:, ::-1].copy()
    return visible, thermal


def _add_cuts(rng, boxes: np.ndarray, pan: np.ndarray, pan_extent: int, width: int, height: int,
              cuts: int) -> list[int]:
    """Scene cuts, as at a change of camera: from each cut frame on, the view jumps to another
    part of the background and the target continues elsewhere, at least a local search window
    (4x its side) away where the frame allows, else as far as it can go. Edits ``boxes`` and
    ``pan`` in place; returns the cut frames (never in the first quarter)."""
    frames = len(boxes)
    cut_frames = np.sort(rng.choice(np.arange(frames // 4, frames), size=cuts, replace=False))
    for cut in cut_frames:
        after = boxes[cut:]
        low = np.array([-after[:, 0].min(), -after[:, 1].min()])
        high = np.array([width - (after[:, 0] + after[:, 2]).max(), height - (after[:, 1] + after[:, 3]).max()])
        reach = 4.0 * math.sqrt(float(after[0, 2] * after[0, 3]))
        shifts = rng.uniform(low, high, size=(64, 2))
        far = shifts[np.hypot(*shifts.T) >= reach]
        shift = far[0] if len(far) else shifts[np.hypot(*shifts.T).argmax()]
        after[:, :2] += shift
        pan[cut:] = rng.integers(0, pan_extent + 1, size=2)
    return [int(c) for c in cut_frames]


def _trajectory(rng, frames: int, width: int, height: int, aspect: float, base_height: float,
                frame_step: int = 1) -> np.ndarray:
    """A smooth path inside the frame with breathing scale and a slowly changing aspect, sampled
    every ``frame_step`` time steps."""
    t = np.arange(frames, dtype=np.float64) * frame_step
    zoom = np.exp(rng.uniform(0.05, 0.35) * np.sin(t * rng.uniform(0.02, 0.06) + rng.uniform(0, 2 * np.pi)))
    stretch = np.exp(rng.uniform(0.0, 0.15) * np.sin(t * rng.uniform(0.05, 0.2) + rng.uniform(0, 2 * np.pi)))
    base_width = max(4.0, base_height * aspect * rng.uniform(0.85, 1.15))
    base_height = min(base_height, 0.6 * height / zoom.max())
    base_width = min(base_width, 0.6 * width / zoom.max())
    w, h = base_width * zoom * stretch, base_height * zoom / stretch
    reach = rng.uniform(0.2, 1.0)  # some objects roam the frame, others stay in a small area
    centers = []
    for extent, size in ((width, w), (height, h)):
        slow = np.sin(t * rng.uniform(0.01, 0.04) + rng.uniform(0, 2 * np.pi))
        fast = np.sin(t * rng.uniform(0.06, 0.12) + rng.uniform(0, 2 * np.pi))
        margin = size / 2 + 2
        middle = rng.uniform(margin.max(), extent - margin.max()) if extent > 2 * margin.max() else extent / 2
        half_range = np.maximum(0.0, np.minimum(middle - margin, extent - margin - middle))
        centers.append(middle + (0.8 * slow + 0.2 * fast) * half_range * reach)
    return np.stack([centers[0] - w / 2, centers[1] - h / 2, w, h], axis=1)


def _place_occluder(rng, bank: ObjectBank, target_boxes: np.ndarray, width: int, height: int, frames: int):
    """A static real-image strip (a post, a bush) where the target passes after the quiet start."""
    t = int(rng.integers(max(2, frames // 5), frames))
    x, y, w, h = target_boxes[t]
    vertical = rng.random() < 0.7
    occ_w = int(max(3, w * (rng.uniform(0.4, 1.2) if vertical else rng.uniform(1.5, 3.0))))
    occ_h = int(max(3, h * (rng.uniform(1.5, 3.0) if vertical else rng.uniform(0.4, 0.8))))
    ox = int(np.clip(x + w / 2 - occ_w / 2 + rng.uniform(-0.3, 0.3) * w, 0, width - occ_w))
    oy = int(np.clip(y + (h / 2 - occ_h / 2 if vertical else h - occ_h * rng.uniform(0.5, 1.0)), 0, height - occ_h))
    first = target_boxes[: max(2, frames // 10)]
    if ((first[:, 0] < ox + occ_w) & (first[:, 0] + first[:, 2] > ox) & (first[:, 1] < oy + occ_h)
            & (first[:, 1] + first[:, 3] > oy)).any():
        return None  # would hide the target while the tracker initialises
    source = bank.pairs[int(rng.integers(len(bank.pairs)))]
    src_h, src_w = source.thermal.shape
    if occ_w >= src_w or occ_h >= src_h:
        return None
    sx, sy = int(rng.integers(0, src_w - occ_w)), int(rng.integers(0, src_h - occ_h))
    return (source.visible[sy:sy + occ_h, sx:sx + occ_w].copy(), source.thermal[sy:sy + occ_h, sx:sx + occ_w].copy(),
            (ox, oy))


def _pixel_box(box) -> tuple[int, int, int, int]:
    """The integer pixel rectangle an object at float ``box`` is drawn into (at least 1x1)."""
    x, y, w, h = box
    x0, y0 = int(round(x)), int(round(y))
    return x0, y0, max(1, int(round(x + w)) - x0), max(1, int(round(y + h)) - y0)


def _paste(visible, thermal, owner, cutout: Cutout, box, obj_id: int, heat_scale: float, look_scale: float) -> int:
    """Composite ``cutout`` resized into ``box`` in both modalities, its thermal contrast scaled
    by ``heat_scale`` and its visible opacity by ``look_scale``; returns its area in pixels."""
    height, width = owner.shape
    x0, y0, w, h = _pixel_box(box)
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return 0
    size = (w, h)
    patch_visible = cv2.resize(cutout.visible, size, interpolation=cv2.INTER_LINEAR)
    patch_heat = cv2.resize(cutout.heat, size, interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(cutout.alpha, size, interpolation=cv2.INTER_LINEAR)
    crop = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    patch_visible, patch_heat, alpha = patch_visible[crop], patch_heat[crop], alpha[crop]
    region = visible[fy0:fy1, fx0:fx1]
    region += (alpha * look_scale)[:, :, None] * (patch_visible.reshape(region.shape) - region)
    thermal[fy0:fy1, fx0:fx1] += alpha * patch_heat * heat_scale
    solid = alpha > 0.5
    owner[fy0:fy1, fx0:fx1][solid] = obj_id
    return int(solid.sum())


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    center = (length - 1) / 2
    dx, dy = math.cos(angle) * center, math.sin(angle) * center
    cv2.line(kernel, (round(center - dx), round(center - dy)), (round(center + dx), round(center + dy)), 1.0, 1)
    return kernel / kernel.sum()
