"""CENTER box head: score, offset and size maps on the search-token grid, and box decoding."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _branch(owner: nn.Module, name: str, in_channels: int, channels: int, out_channels: int) -> None:
    """Four conv-BN-ReLU layers halving the width, then a 1x1 conv (keys ``conv{1..5}_name``)."""
    widths = [in_channels, channels, channels // 2, channels // 4, channels // 8]
    for i in range(4):
        setattr(owner, f"conv{i + 1}_{name}", conv_bn_relu(widths[i], widths[i + 1]))
    setattr(owner, f"conv5_{name}", nn.Conv2d(widths[4], out_channels, kernel_size=1))


class CenterHead(nn.Module):
    """Predicts where the target centre is (score), its sub-cell offset and its normalised size."""

    def __init__(self, in_channels: int, channels: int = 256):
        super().__init__()
        _branch(self, "ctr", in_channels, channels, 1)
        _branch(self, "offset", in_channels, channels, 2)
        _branch(self, "size", in_channels, channels, 2)
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)

    def _run(self, name: str, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{name}")(x)
        return x

    def forward(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``feat`` is (B, C, H, W); returns the three maps and the decoded boxes (B, 1, 4)."""
        score = self._run("ctr", feat).sigmoid().clamp(1e-4, 1 - 1e-4)
        size = self._run("size", feat).sigmoid().clamp(1e-4, 1 - 1e-4)
        offset = self._run("offset", feat)
        boxes = decode_boxes(score, size, offset)
        return {"score_map": score, "size_map": size, "offset_map": offset, "pred_boxes": boxes.unsqueeze(1)}


def decode_boxes(score: torch.Tensor, size: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Box (cx, cy, w, h), normalised to the search crop, at the best-scoring cell of (B, 1, H, W) maps."""
    feat_size = score.shape[-1]
    best = score.flatten(1).argmax(dim=1, keepdim=True)
    row = torch.div(best, feat_size, rounding_mode="floor")
    col = best % feat_size
    index = best.unsqueeze(1).expand(-1, 2, 1)
    wh = size.flatten(2).gather(2, index).squeeze(-1)
    off = offset.flatten(2).gather(2, index).squeeze(-1)
    cx = (col.to(off.dtype) + off[:, :1]) / feat_size
    cy = (row.to(off.dtype) + off[:, 1:]) / feat_size
    return torch.cat([cx, cy, wh], dim=1)
