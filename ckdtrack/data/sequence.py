"""A paired RGB-T sequence on disk, and the frame reader every part of ckdtrack uses.

A :class:`RGBTSequence` is what the benchmark readers return and what the tracker, the test
runner, the training sampler and the evaluator consume: one list of frame paths per modality,
paired by sorted file name, and the ground-truth boxes per modality when there are any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..boxes import read_box_file
from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VISIBLE_DIR_NAMES = ("visible", "rgb", "visual", "v")
THERMAL_DIR_NAMES = ("infrared", "ir", "thermal", "i")
INIT_FILE_NAMES = ("init.txt", "visible.txt", "groundTruth_v.txt")


@dataclass
class RGBTSequence:
    """One RGB-T sequence: frames per modality and, when annotated, boxes per modality.

    Boxes are (N, 4) ``xywh`` float arrays in pixels with one row per annotated frame;
    ``annotation_stride`` > 1 means row k annotates frame ``k * annotation_stride`` (VTUAV).
    ``init_box`` is the box a tracker starts from when the benchmark provides one apart from
    its evaluation ground truth (RGBT234's ``init.txt``); otherwise the first reference box.
    """

    name: str
    visible_frames: list[Path]
    thermal_frames: list[Path]
    visible_boxes: np.ndarray | None = None
    thermal_boxes: np.ndarray | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    annotation_stride: int = 1
    init_box: np.ndarray | None = None

    def __post_init__(self):
        if len(self.visible_frames) != len(self.thermal_frames):
            raise InputError(
                f"{self.name}: {len(self.visible_frames)} visible frames but "
                f"{len(self.thermal_frames)} thermal frames"
            )

    def __len__(self) -> int:
        return len(self.visible_frames)

    @property
    def boxes(self) -> np.ndarray | None:
        """The reference boxes: visible if annotated, else thermal."""
        return self.visible_boxes if self.visible_boxes is not None else self.thermal_boxes

    def frame_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Read the (visible, thermal) images of frame ``index`` as HxWx3 uint8 RGB arrays."""
        return read_image(self.visible_frames[index]), read_image(self.thermal_frames[index])


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as an HxWx3 uint8 RGB array; a single-channel image is replicated."""
    import cv2  # here, not at the top: the evaluator reads sequences but never their frames

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"{path}: corrupt or unreadable image")
    return as_rgb(image, source=str(path), bgr=True)


def as_rgb(image: np.ndarray, source: str = "frame", bgr: bool = False) -> np.ndarray:
    """Bring a decoded frame to HxWx3 uint8 RGB (gray replicated, alpha dropped, 16-bit scaled)."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise InputError(f"{source}: expected 8-bit pixels, got {image.dtype}")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InputError(f"{source}: unsupported image shape {image.shape}")
    if image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    image = image[:, :, :3]
    if bgr:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def list_frames(folder: Path) -> list[Path]:
    """Image files of a folder, sorted by name (never by a formatted frame number)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found")
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not frames:
        raise InputError(f"{folder}: no jpg/png/bmp frames")
    return frames


def find_modality_dir(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        candidate = root / name
        if candidate.is_dir():
            return candidate
    raise InputError(f"{root}: no {what} folder (looked for {', '.join(names)})")


def open_sequence_dir(root: str | Path) -> RGBTSequence:
    """Open a folder with one visible and one thermal frame folder; boxes from init/gt files.

    The first box of ``init.txt``, ``visible.txt`` or ``groundTruth_v.txt`` (whichever exists
    first) becomes ``visible_boxes``; it may be absent when the caller provides an init box.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: sequence folder not found")
    visible = list_frames(find_modality_dir(root, VISIBLE_DIR_NAMES, "visible"))
    thermal = list_frames(find_modality_dir(root, THERMAL_DIR_NAMES, "thermal"))
    boxes = None
    for name in INIT_FILE_NAMES:
        if (root / name).is_file():
            fmt = "xyxy" if name == "groundTruth_v.txt" else "auto"
            boxes = read_box_file(root / name, fmt=fmt, allow_nan=True)
            break
    return RGBTSequence(root.name, visible, thermal, visible_boxes=boxes)
