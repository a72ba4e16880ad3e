"""The online CKD tracker, in the GOT-10k toolkit's style: ``init`` once, then ``update``.

Per frame: crop a search region 4x the target's side around the previous box in both
modalities (the same window, the frames are registered), run the two-student network, weight
the score map with a Hann window (a motion prior), decode the best cell's box and map it back
to the image, clipped so that at least ``clip_margin`` pixels stay inside.
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
from ..geometry import box_from_crop, clip_box, sample_crop
from ..models import build_model
from ..models.checkpoint import extract_state_dict, load_state_strict, read_checkpoint
from ..models.ckd import CKD, center_template_mask
from ..models.head import decode_boxes
from ..models.onnx import OnnxNetwork

AUTOCAST_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
PRECISIONS = tuple(AUTOCAST_DTYPES)
STAGES = ("crop", "normalize", "forward", "postprocess")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def autocast_context(device: torch.device, precision: str):
    """Autocast for ``precision`` on ``device``'s type (a no-op context for fp32)."""
    dtype = AUTOCAST_DTYPES[precision]
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


class CKDTracker:
    """Tracks one target through paired RGB and thermal frames (HxWx3 uint8 RGB arrays).

    ``precision`` fp32 is exact; fp16/bf16 autocast change the numerics (see
    docs/benchmarks.md for how far). ``compile`` wraps the network in ``torch.compile``.
    ``last_stage_seconds`` holds the time each stage of the last ``update`` took.
    """

    def __init__(self, network: CKD | OnnxNetwork, config: Config, device: str | torch.device = "cpu",
                 precision: str = "fp32", compile: bool = False):
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision '{precision}' ({', '.join(PRECISIONS)})")
        self.device = torch.device(device)
        self.shape = network.shape
        if isinstance(network, nn.Module):
            network = network.to(self.device).eval()
            if compile:
                network = torch.compile(network)
        elif precision != "fp32" or compile:
            raise InputError("precision modes and --compile need the torch backend")
        self.network = network
        self.config = config
        self.precision = precision
        crop = config.crop
        self.template_size, self.template_factor = crop.template_size, crop.template_factor
        self.search_size, self.search_factor = crop.search_size, crop.search_factor
        self.window = hann_window(self.shape.feat_size).to(self.device) if config.tracker.hann_window else None
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self.state: list[float] | None = None
        self.frame_size: tuple[int, int] | None = None
        self.last_stage_seconds = dict.fromkeys(STAGES, 0.0)

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
        if backend not in ("torch", "onnxruntime"):
            raise InputError(f"unknown backend '{backend}' (torch or onnxruntime)")
        if backend == "onnxruntime":
            resolved = config_for_weights(config, OnnxNetwork.stored_config(weights), weights)
            network = OnnxNetwork(weights, resolved.network_shape(), threads=torch.get_num_threads())
            return cls(network, resolved, "cpu", precision, compile)
        checkpoint = read_checkpoint(weights, sha256)
        resolved = config_for_weights(config, checkpoint.get("config"), weights)
        model = build_model(resolved.network_shape())
        load_state_strict(model, extract_state_dict(checkpoint, weights), weights)
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
        self.frame_size = (height, width)
        self.template_rgb = self._to_tensor(sample_crop(rgb, box, self.template_factor, self.template_size)[0])
        self.template_tir = self._to_tensor(sample_crop(tir, box, self.template_factor, self.template_size)[0])
        self.template_mask = center_template_mask(self.shape, 1, self.device) if self.shape.ce_layers else None
        self.state = box

    @torch.inference_mode()
    def predict(self, search_rgb: torch.Tensor, search_tir: torch.Tensor) -> dict:
        """Network forward on normalised search crops, in the configured precision."""
        with autocast_context(self.device, self.precision):
            out = self.network(self.template_rgb, self.template_tir, search_rgb, search_tir, self.template_mask)
        return {k: out[k].float().to(self.device) for k in ("score_map", "size_map", "offset_map")}

    def update(self, rgb: np.ndarray, tir: np.ndarray) -> TrackResult:
        """Locate the target in the next frame pair."""
        if self.state is None:
            raise RuntimeError("call init() before update()")
        rgb, tir = self._check_pair(rgb, tir)
        height, width = rgb.shape[:2]
        started = time.perf_counter()
        patch_rgb, resize_factor = sample_crop(rgb, self.state, self.search_factor, self.search_size)
        patch_tir, _ = sample_crop(tir, self.state, self.search_factor, self.search_size)
        cropped = time.perf_counter()
        search_rgb, search_tir = self._to_tensor(patch_rgb), self._to_tensor(patch_tir)
        normalized = time.perf_counter()
        maps = self.predict(search_rgb, search_tir)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        forwarded = time.perf_counter()
        response = maps["score_map"] * self.window if self.window is not None else maps["score_map"]
        box = decode_boxes(response, maps["size_map"], maps["offset_map"])[0]
        score = maps["score_map"].flatten()[response.flatten().argmax()]
        *pred, score = torch.cat([box * self.search_size, score.view(1)]).tolist()  # one device-to-host copy
        mapped = box_from_crop(pred, self.state, resize_factor, self.search_size)
        self.state = clip_box(mapped, height, width, margin=self.config.tracker.clip_margin)
        finished = time.perf_counter()
        marks = [started, cropped, normalized, forwarded, finished]
        self.last_stage_seconds = {stage: end - begin for stage, begin, end in zip(STAGES, marks, marks[1:])}
        return TrackResult(list(self.state), score)
