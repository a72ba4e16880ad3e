import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

import cv2
import numpy as np
import pytest

from ckdtrack.config import Config, CropConfig, ModelConfig


def tiny_config(ce_layers=()) -> Config:
    """A few-thousand-parameter CKD for fast tests of everything around the network."""
    return Config(
        name="tiny_test",
        model=ModelConfig(embed_dim=32, depth=2, num_heads=2, head_channels=16, ce_layers=tuple(ce_layers)),
        crop=CropConfig(template_size=32, template_factor=2.0, search_size=64, search_factor=4.0),
    )


def hide_matplotlib(monkeypatch) -> None:
    """Make importing matplotlib fail, as where it is not installed (a None entry in sys.modules)."""
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def tiny_weights(tmp_path):
    """An inference checkpoint of a tiny random CKD, with its config stored inside."""
    from ckdtrack.models import CKD

    torch.manual_seed(0)
    config = tiny_config()
    model = CKD(config)
    path = tmp_path / "tiny.pth.tar"
    torch.save({"net": model.state_dict(), "config": config.to_dict()}, path)
    return path


def write_sequence(root: Path, frames: int = 5, size=(96, 72), box=(30, 20, 16, 12), gray_thermal=False,
                   visible="visible", thermal="infrared", suffix=".png") -> Path:
    """A small moving-square RGB-T sequence on disk, with its boxes in init.txt."""
    rng = np.random.default_rng(0)
    (root / visible).mkdir(parents=True)
    (root / thermal).mkdir(parents=True)
    width, height = size
    x, y, w, h = box
    for i in range(frames):
        rgb = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
        tir = rng.integers(0, 40, (height, width), dtype=np.uint8)
        rgb[y:y + h, x + i:x + i + w] = (200, 40, 40)
        tir[y:y + h, x + i:x + i + w] = 230
        cv2.imwrite(str(root / visible / f"{i + 1:05d}{suffix}"), rgb[:, :, ::-1])
        cv2.imwrite(str(root / thermal / f"{i + 1:05d}{suffix}"),
                    tir if gray_thermal else np.repeat(tir[:, :, None], 3, axis=2))
    (root / "init.txt").write_text("".join(f"{x + i},{y},{w},{h}\n" for i in range(frames)))
    return root
