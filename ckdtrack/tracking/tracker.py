"""The online CKD tracker, in the GOT-10k toolkit's style: ``init`` once, then ``update``.

Per frame: crop a search region 4x the target's side around the previous box in both
modalities (the same window, the frames are registered), run the two-student network, weight
the score map with a Hann window (a motion prior), decode the best cell's box and map it back
to the image, clipped so that at least ``clip_margin`` pixels stay inside.

A tracker that looks only near its last box cannot follow a scene cut or a target that
reappears elsewhere. With ``tracker.redetect_threshold`` set, a frame whose score falls below
it is also searched as a whole (tiled with search windows at the last confident target size,
in batches) and the best candidate found there replaces the local box when it ranks higher
(by score, or by appearance: below) and scores at least ``tracker.redetect_accept``; otherwise the search is repeated on the next frame.
``tracker.redetect_windows`` bounds the windows run per frame, so that a lost tracker stays
real-time: the search then covers the frame over several frames, and ``tracker.redetect_pause``
lets it rest for some frames after a complete pass that found nothing better.
Frames above the threshold cost nothing extra. With ``tracker.redetect_appearance`` the
candidates and the local box are ranked partly by how much their patch looks like the first
frame's target (normalised cross-correlation, a check independent of the network).
``tracker.hold_size_below`` keeps the box's size on frames whose score is below it. The
published configs leave all of this off, as the published tracker has none of it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..boxes import validate_box
from ..config import Config, config_for_weights
from ..data.sequence import as_rgb
from ..errors import InputError
from ..geometry import CropWindow, box_from_crop, clip_box, sample_crop
from ..models.checkpoint import load_model
from ..models.ckd import CKD, INPUT_MEAN, INPUT_STD, center_template_mask
from ..models.head import decode_boxes
from ..models.onnx import OnnxNetwork
from ..models.runtime import autocast_context, autocast_dtype, resolve_device

TIMED_STEPS = ("crop", "normalize", "forward", "postprocess")
BACKENDS = ("torch", "onnxruntime")
REDETECT_BATCH = 32  # whole-frame search windows per forward pass: faster than one by one, bounded memory
APPEARANCE_SIZE = 24  # side of the patches compared by the appearance check, in pixels


def tile_centers(length: int, window: int) -> np.ndarray:
    """Centres of windows of side ``window`` covering ``[0, length)`` with half-window overlap."""
    if window >= length:
        return np.array([length / 2.0])
    count = math.ceil((length - window) / (window / 2)) + 1
    return np.linspace(window / 2, length - window / 2, count)


def appearance_patch(image: np.ndarray, box) -> np.ndarray:
    """The box's square patch (the crop geometry at factor 1) in grey, zero-mean and unit-norm,
    so that a dot product of two patches is their normalised cross-correlation."""
    patch = sample_crop(image, box, 1.0, APPEARANCE_SIZE)[0].astype(np.float32).mean(axis=2)
    patch -= patch.mean()
    return patch / max(float(np.linalg.norm(patch)), 1e-6)


def hann_window(size: int) -> torch.Tensor:
    """(1, 1, size, size) raised-cosine window, zero just outside both ends."""
    steps = torch.arange(1, size + 1, dtype=torch.float32)
    window = 0.5 * (1 - torch.cos((2 * math.pi / (size + 1)) * steps))
    return (window[:, None] * window[None, :]).view(1, 1, size, size)


@dataclass
class TrackResult:
    box: list[float]
    """x, y, w, h in pixels."""
    score: float
    """Network confidence (0..1) at the chosen location, before the motion window."""


class CKDTracker:
    """Tracks one target through paired RGB and thermal frames (HxWx3 uint8 RGB arrays).

    ``precision`` fp32 is exact; fp16/bf16 autocast change the numerics (see
    docs/benchmarks.md for how far). ``compile`` wraps the network in ``torch.compile``.
    ``last_step_seconds`` holds the time each step of the last ``update`` took.
    """

    def __init__(self, network: CKD | OnnxNetwork, config: Config, device: str | torch.device = "cpu",
                 precision: str = "fp32", compile: bool = False):
        autocast_dtype(precision)
        self.device = resolve_device(device)
        if isinstance(network, nn.Module):
            network = network.to(self.device).eval()
            if compile:
                network = torch.compile(network)
        elif precision != "fp32" or compile:
            raise InputError("precision modes and --compile need the torch backend")
        self.network = network
        self.config = config
        self.precision = precision
        self.crop = config.crop
        self.window = hann_window(config.search_grid).to(self.device) if config.tracker.hann_window else None
        self.mean = torch.tensor(INPUT_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(INPUT_STD, device=self.device).view(1, 3, 1, 1)
        self.state: list[float] | None = None
        self.confident_size: tuple[float, float] | None = None
        self.appearance: tuple[np.ndarray, np.ndarray] | None = None
        self.unsearched: list[list[float]] = []
        """Whole-frame search windows not yet run in the current pass (``tracker.redetect_windows``)."""
        self.rest_frames = 0
        """Unsure frames left before the next whole-frame pass (``tracker.redetect_pause``)."""
        self.frame_size: tuple[int, int] | None = None
        self.last_step_seconds = dict.fromkeys(TIMED_STEPS, 0.0)

    @classmethod
    def from_weights(cls, weights: str | Path, config: str | Path | Config | None = None,
                     device: str = "cpu", precision: str = "fp32", sha256: str | None = None,
                     backend: str = "torch", compile: bool = False) -> "CKDTracker":
        """A tracker from an inference checkpoint (torch) or an exported ``.onnx`` (onnxruntime).

        ``config`` is a config name, a YAML path or a :class:`Config`; without it, the config
        stored in the file (our exports carry one) is used, else ``ckd_vitb``. ONNX Runtime uses
        as many threads as torch (``torch.set_num_threads``), so benchmark workers do not
        oversubscribe the cores.
        """
        if backend not in BACKENDS:
            raise InputError(f"unknown backend '{backend}' ({' or '.join(BACKENDS)})")
        if backend == "onnxruntime":
            resolved = config_for_weights(config, OnnxNetwork.stored_config(weights), weights)
            network = OnnxNetwork(weights, resolved, threads=torch.get_num_threads())
            return cls(network, resolved, "cpu", precision, compile)
        model, resolved = load_model(weights, config, sha256)
        return cls(model, resolved, device=device, precision=precision, compile=compile)

    def _to_tensor(self, patch: np.ndarray) -> torch.Tensor:
        image = torch.from_numpy(patch).to(self.device).permute(2, 0, 1).unsqueeze(0).float()
        return (image / 255.0 - self.mean) / self.std

    def _check_pair(self, rgb: np.ndarray, tir: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb, tir = as_rgb(rgb, "RGB frame"), as_rgb(tir, "thermal frame")
        if rgb.shape != tir.shape:
            raise InputError(f"RGB frame is {rgb.shape[1]}x{rgb.shape[0]} but thermal frame is "
                             f"{tir.shape[1]}x{tir.shape[0]}: the modalities must be registered")
        if self.frame_size is not None and rgb.shape[:2] != self.frame_size:
            raise InputError(f"frame size changed from {self.frame_size[1]}x{self.frame_size[0]} "
                             f"to {rgb.shape[1]}x{rgb.shape[0]}")
        return rgb, tir

    def init(self, rgb: np.ndarray, tir: np.ndarray, box) -> None:
        """Start tracking the target at ``box`` (x, y, w, h in pixels) in the first frame pair."""
        self.frame_size = None
        rgb, tir = self._check_pair(rgb, tir)
        height, width = rgb.shape[:2]
        box = validate_box(box, (width, height), what="init box")
        if box[2] > width or box[3] > height:
            raise InputError(f"init box {box} is larger than the {width}x{height} frame")
        self.frame_size = (height, width)
        crop = self.crop
        self.template_rgb = self._to_tensor(sample_crop(rgb, box, crop.template_factor, crop.template_size)[0])
        self.template_tir = self._to_tensor(sample_crop(tir, box, crop.template_factor, crop.template_size)[0])
        self.template_mask = (center_template_mask(self.config, 1, self.device) if self.config.model.ce_layers
                              else None)
        self.state = box
        self.confident_size = (box[2], box[3])
        self.appearance = (appearance_patch(rgb, box), appearance_patch(tir, box))
        self.unsearched = []
        self.rest_frames = 0

    @torch.inference_mode()
    def predict(self, search_rgb: torch.Tensor, search_tir: torch.Tensor) -> dict:
        """Network forward on a batch of normalised search crops against the one template, in the
        configured precision. Exported ONNX graphs take batch 1, so they run crop by crop."""
        batch = search_rgb.shape[0]
        if isinstance(self.network, OnnxNetwork) and batch > 1:
            parts = [self.predict(search_rgb[i:i + 1], search_tir[i:i + 1]) for i in range(batch)]
            return {k: torch.cat([part[k] for part in parts]) for k in parts[0]}
        templates = (self.template_rgb.expand(batch, -1, -1, -1), self.template_tir.expand(batch, -1, -1, -1))
        mask = None if self.template_mask is None else self.template_mask.expand(batch, *self.template_mask.shape[1:])
        with autocast_context(self.device, self.precision):
            out = self.network(*templates, search_rgb, search_tir, mask)
        return {k: out[k].float().to(self.device) for k in ("score_map", "size_map", "offset_map")}

    def _search(self, rgb: np.ndarray, tir: np.ndarray, arounds: list, motion_prior: bool = True
                ) -> list[tuple[list[float], float]]:
        """Look for the target in the search windows centred on each box of ``arounds``, in one
        batch: per window the image box found and the network's score there. ``motion_prior``
        weights each score map with the Hann window (if configured) before picking the cell. Each
        step's time is added to ``last_step_seconds``."""
        started = time.perf_counter()
        crop = self.crop
        patches, factors = [], []
        for around in arounds:
            patch_rgb, factor = sample_crop(rgb, around, crop.search_factor, crop.search_size)
            patches.append((patch_rgb, sample_crop(tir, around, crop.search_factor, crop.search_size)[0]))
            factors.append(factor)
        cropped = time.perf_counter()
        search_rgb = torch.cat([self._to_tensor(patch_rgb) for patch_rgb, _ in patches])
        search_tir = torch.cat([self._to_tensor(patch_tir) for _, patch_tir in patches])
        normalized = time.perf_counter()
        maps = self.predict(search_rgb, search_tir)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        forwarded = time.perf_counter()
        response = maps["score_map"]
        if motion_prior and self.window is not None:
            response = response * self.window
        boxes = decode_boxes(response, maps["size_map"], maps["offset_map"])
        best = response.flatten(1).argmax(dim=1, keepdim=True)
        scores = maps["score_map"].flatten(1).gather(1, best)
        rows = torch.cat([boxes * crop.search_size, scores], dim=1).tolist()  # one device-to-host copy
        found = [(box_from_crop(row[:4], around, factor, crop.search_size), row[4])
                 for row, around, factor in zip(rows, arounds, factors)]
        marks = [started, cropped, normalized, forwarded, time.perf_counter()]
        for step, begin, end in zip(TIMED_STEPS, marks, marks[1:]):
            self.last_step_seconds[step] += end - begin
        return found

    def _redetect(self, rgb: np.ndarray, tir: np.ndarray) -> tuple[list[float], float]:
        """Search the whole frame: windows at the last confident target size, overlapping by
        half, so every point lies near some window's centre, nearest to the last box first;
        returns the best box (ranked by :meth:`_rank`, without the motion prior: a lost target
        may be anywhere in a window). With ``tracker.redetect_windows`` a call runs only that
        many windows and the next call goes on with the rest, so a lost frame's cost stays
        bounded and the frame is covered over several frames."""
        if not self.unsearched:
            width, height = self.confident_size
            side = CropWindow.around((0.0, 0.0, width, height), self.crop.search_factor).size
            frame_height, frame_width = rgb.shape[:2]
            x, y, w, h = self.state
            centers = sorted(((cx, cy) for cy in tile_centers(frame_height, side) for cx in tile_centers(frame_width, side)),
                             key=lambda center: math.hypot(center[0] - x - w / 2, center[1] - y - h / 2))
            self.unsearched = [[cx - width / 2, cy - height / 2, width, height] for cx, cy in centers]
        budget = self.config.tracker.redetect_windows or len(self.unsearched)
        arounds, self.unsearched = self.unsearched[:budget], self.unsearched[budget:]
        candidates = [candidate for first in range(0, len(arounds), REDETECT_BATCH)
                      for candidate in self._search(rgb, tir, arounds[first:first + REDETECT_BATCH],
                                                    motion_prior=False)]
        return max(candidates, key=lambda candidate: self._rank(rgb, tir, *candidate))

    def _rank(self, rgb: np.ndarray, tir: np.ndarray, box: list[float], score: float) -> float:
        """What whole-frame candidates and the local box are compared by: the network score,
        mixed with the first frame's appearance by ``tracker.redetect_appearance``."""
        weight = self.config.tracker.redetect_appearance
        if weight == 0:
            return score
        template_rgb, template_tir = self.appearance
        similarity = 0.5 * (float((appearance_patch(rgb, box) * template_rgb).sum())
                            + float((appearance_patch(tir, box) * template_tir).sum()))
        return (1 - weight) * score + weight * max(similarity, 0.0)

    def update(self, rgb: np.ndarray, tir: np.ndarray) -> TrackResult:
        """Locate the target in the next frame pair; below ``tracker.redetect_threshold`` the
        whole frame is searched too (see the module docstring)."""
        if self.state is None:
            raise RuntimeError("call init() before update()")
        rgb, tir = self._check_pair(rgb, tir)
        height, width = rgb.shape[:2]
        self.last_step_seconds = dict.fromkeys(TIMED_STEPS, 0.0)
        (box, score), = self._search(rgb, tir, [self.state])
        settings = self.config.tracker
        threshold = settings.redetect_threshold
        if score < threshold and self.rest_frames > 0:
            self.rest_frames -= 1
        elif score < threshold:
            found, found_score = self._redetect(rgb, tir)
            if (found_score >= settings.redetect_accept
                    and self._rank(rgb, tir, found, found_score) > self._rank(rgb, tir, box, score)):
                box, score = found, found_score
                self.unsearched = []
            elif not self.unsearched:
                self.rest_frames = settings.redetect_pause
        else:
            self.unsearched = []
            self.rest_frames = 0
        if score < settings.hold_size_below:
            _, _, width_before, height_before = self.state
            box = [box[0] + (box[2] - width_before) / 2, box[1] + (box[3] - height_before) / 2,
                   width_before, height_before]
        if score >= threshold:
            self.confident_size = (box[2], box[3])
        started = time.perf_counter()
        self.state = clip_box(box, (width, height), margin=self.config.tracker.clip_margin)
        self.last_step_seconds["postprocess"] += time.perf_counter() - started
        return TrackResult(list(self.state), score)
