"""CKD training losses: box losses of a CENTER head and the coupled distillation terms.

Every function reproduces the published training objective numerically (see
``shared/golden/README.md``): the CenterNet Gaussian target with its radius formula,
the focal loss on the score map, GIoU and L1 on normalised corner boxes, the style loss
between the two students and the content loss from each teacher to its student.
The score-map and feature terms of a frozen big CKD teacher (``train.big_teacher``) are
this package's addition, off in the published configs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_GAUSSIAN_OVERLAP = 0.7


def gaussian_radius(wh: torch.Tensor, min_overlap: float = MIN_GAUSSIAN_OVERLAP) -> torch.Tensor:
    """CornerNet's Gaussian radius for boxes of size ``wh`` (N, 2) in heatmap cells.

    This is the variant without CornerNet's later fix (the one the published code uses),
    kept so that targets match the published model.
    """
    width, height = wh[..., 0], wh[..., 1]
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def gaussian_kernel(radius: int) -> torch.Tensor:
    """A (2r+1)^2 Gaussian with sigma = diameter / 6, negligible values set to zero."""
    sigma = (2 * radius + 1) / 6
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(offsets[None, :] ** 2 + offsets[:, None] ** 2) / (2 * sigma * sigma))
    kernel[kernel < torch.finfo(torch.float64).eps * kernel.max()] = 0
    return kernel.to(torch.float32)


def gaussian_heatmap(search_anno: torch.Tensor, feat_size: int) -> torch.Tensor:
    """Centre-heatmap target (B, 1, H, W) for normalised ``xywh`` boxes (B, 4) in the search crop.

    A Gaussian peaks (value 1) at the rounded box centre cell; the part that falls outside the
    map is cut off.
    """
    boxes = search_anno.detach().float().cpu() * feat_size
    wh = boxes[:, 2:]
    centers = (boxes[:, :2] + wh / 2).round().to(torch.long)
    radii = gaussian_radius(wh).clamp_min(0).to(torch.int)
    heatmap = torch.zeros(boxes.shape[0], 1, feat_size, feat_size)
    for index, ((x, y), radius) in enumerate(zip(centers.tolist(), radii.tolist())):
        kernel = gaussian_kernel(radius)
        left, right = min(x, radius), min(feat_size - x, radius + 1)
        top, bottom = min(y, radius), min(feat_size - y, radius + 1)
        if min(left + right, top + bottom) <= 0 or max(-left, -top) > radius:
            continue
        region = heatmap[index, 0, y - top:y + bottom, x - left:x + right]
        patch = kernel[radius - top:radius + bottom, radius - left:radius + right]
        region.copy_(torch.maximum(region, patch))
    return heatmap.to(search_anno.device)


def focal_loss(prediction: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet focal loss of a sigmoid score map against a Gaussian target."""
    positive = target.eq(1).to(prediction.dtype)
    negative = target.lt(1).to(prediction.dtype)
    prediction = prediction.clamp(min=1e-12)
    positive_loss = (torch.log(prediction) * (1 - prediction) ** alpha * positive).sum()
    negative_loss = (torch.log(1 - prediction) * prediction ** alpha * (1 - target) ** beta * negative).sum()
    num_positive = positive.sum()
    if num_positive == 0:
        return -negative_loss
    return -(positive_loss + negative_loss) / num_positive


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def generalized_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row GIoU and IoU of two (N, 4) ``xyxy`` box sets."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    inter_wh = (torch.minimum(boxes1[:, 2:], boxes2[:, 2:]) - torch.maximum(boxes1[:, :2], boxes2[:, :2])).clamp(min=0)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    union = area1 + area2 - inter
    iou = inter / union
    hull_wh = (torch.maximum(boxes1[:, 2:], boxes2[:, 2:]) - torch.minimum(boxes1[:, :2], boxes2[:, :2])).clamp(min=0)
    hull = hull_wh[:, 0] * hull_wh[:, 1]
    return iou - (hull - union) / hull, iou


def box_losses(head_out: dict, gt_xyxy: torch.Tensor, heatmap: torch.Tensor,
               present: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """GIoU, L1 and focal losses of one CENTER head, plus the mean IoU (no gradient).

    ``present`` (B,) marks the pairs whose search crop shows the target; ``gt_xyxy`` then holds
    only their boxes, and the others count in the focal loss alone (their heatmap is zero)."""
    pred = cxcywh_to_xyxy(head_out["pred_boxes"]).reshape(-1, 4)
    location = focal_loss(head_out["score_map"], heatmap)
    if present is not None and not present.all():
        pred = pred[present]
        if not len(pred):
            zero = location.new_zeros(())
            return {"giou": zero, "l1": zero, "location": location, "iou": zero}
    giou, iou = generalized_iou(pred, gt_xyxy)
    return {
        "giou": (1 - giou).mean(),
        "l1": F.l1_loss(pred, gt_xyxy),
        "location": location,
        "iou": iou.detach().mean(),
    }


def instance_normalize(x: torch.Tensor, level: str) -> torch.Tensor:
    """Normalise (B, N, C) tokens per channel over tokens ("channel") or per token ("token")."""
    if level == "channel":
        return F.instance_norm(x.transpose(-1, -2), eps=1e-5)
    if level == "token":
        return F.instance_norm(x, eps=1e-5)
    raise ValueError(f"unknown distillation level {level!r} (channel or token)")


def content_loss(teacher: torch.Tensor, student: torch.Tensor, level: str = "channel") -> torch.Tensor:
    """MSE between instance-normalised teacher and student features; the teacher is a fixed target."""
    return F.mse_loss(instance_normalize(teacher.detach(), level), instance_normalize(student, level))


def resize_square(maps: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) crops or maps bilinearly resized to ``size`` x ``size``; student and big
    teacher see the same region, so pixel and cell centres line up (``align_corners=False``)."""
    if maps.shape[-1] == size and maps.shape[-2] == size:
        return maps
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)


def score_distill_loss(teacher_scores: torch.Tensor, student_scores: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the student's (B, 1, H, W) score map against the big teacher's,
    resized to the student's grid and detached, as soft targets.

    BCE reads each cell as the Bernoulli "the centre is here" that the focal loss trains, and
    its gradient on the cell's logit is simply student - teacher.
    """
    target = resize_square(teacher_scores.detach(), student_scores.shape[-1])
    return F.binary_cross_entropy(student_scores, target)


def feature_distill_loss(teacher_tokens: torch.Tensor, student_tokens: torch.Tensor) -> torch.Tensor:
    """MSE between layer-normalised search tokens (B, H*W, C) of the big teacher (detached,
    its grid resized to the student's) and the student's projection to the teacher's width."""
    batch, count, channels = teacher_tokens.shape
    grid, student_grid = math.isqrt(count), math.isqrt(student_tokens.shape[1])
    maps = teacher_tokens.transpose(1, 2).reshape(batch, channels, grid, grid)
    resized = resize_square(maps, student_grid).flatten(2).transpose(1, 2)
    return content_loss(resized, student_tokens, "token")


def style_loss(x: torch.Tensor, y: torch.Tensor, level: str = "channel") -> torch.Tensor:
    """Match first and second moments of two students' (B, N, C) features; both get gradients.

    "channel" takes mean and (unbiased) std of each channel over tokens, "token" of each token
    over channels.
    """
    if level not in ("channel", "token"):
        raise ValueError(f"unknown distillation level {level!r} (channel or token)")
    dim = -2 if level == "channel" else -1
    return ((x.mean(dim) - y.mean(dim)) ** 2 + (x.std(dim) - y.std(dim)) ** 2).mean()


def keep_mask(batch: int, num_tokens: int, probability: float, ratio: float,
              generator: torch.Generator | None = None) -> torch.Tensor | None:
    """Masked-modeling keep-mask (B, N): per sample, with ``probability``, zero ``ratio`` of tokens.

    Returns None when nothing is masked, so the unmasked path stays exact.
    """
    num_masked = math.floor(ratio * num_tokens + 0.5)
    if probability <= 0 or num_masked == 0:
        return None
    keep = torch.ones(batch, num_tokens, dtype=torch.bool)
    chosen = torch.rand(batch, generator=generator) < probability
    for index in chosen.nonzero().flatten().tolist():
        keep[index, torch.randperm(num_tokens, generator=generator)[:num_masked]] = False
    return keep
