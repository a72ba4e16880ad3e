"""One CKD training forward and its loss, for both training stages.

Stage ``distill`` (stage 1) runs all four ViTs: the two students (optionally with masked
search tokens) feed the fused head, each teacher feeds its own head, and the loss couples
them (box losses of all three heads, style loss between the students, content loss from
each teacher to its student). Stage ``head`` (stage 2) freezes the students, turns on
multi-modal candidate elimination and trains the fused head on its box loss alone, so the
teachers are not run at all. A frozen big CKD teacher (``train.big_teacher``) adds its
score map as a target in both stages and, in stage ``distill``, its last-layer search features.
"""

from __future__ import annotations

import typing

import torch
from torch import nn

from ..config import TrainConfig, TrainingStage
from ..models.ckd import CKD, center_template_mask
from .big_teacher import run_big_teacher
from .losses import (box_losses, content_loss, feature_distill_loss, gaussian_heatmap, score_distill_loss, style_loss,
                     xywh_to_xyxy)


def box_total(losses: dict, train: TrainConfig) -> torch.Tensor:
    """One head's weighted box loss (GIoU, L1, focal on the centre heatmap)."""
    return train.giou_weight * losses["giou"] + train.l1_weight * losses["l1"] + train.focal_weight * losses["location"]


class TrainingNetwork(nn.Module):
    """The CKD network seen as one training forward: the module DDP wraps.

    ``forward(batch, search_keep)`` takes the sample tensors (``template_rgb``, ``template_tir``,
    ``search_rgb``, ``search_tir``) and returns every head output and per-block feature the
    loss needs. With a frozen ``big_teacher`` (:mod:`ckdtrack.training.big_teacher`) it also
    returns that teacher's outputs (``big_teacher``) and, with ``project_features`` (stage
    ``distill`` only), the students' last-layer search tokens mapped to the teacher's width by
    a learned linear ``feature_projector`` (``projected_search``), a training-only module.
    """

    def __init__(self, model: CKD, stage: str = "distill", big_teacher: CKD | None = None,
                 project_features: bool = False):
        super().__init__()
        if stage not in typing.get_args(TrainingStage):
            raise ValueError(f"unknown training stage {stage!r} ({' or '.join(typing.get_args(TrainingStage))})")
        if stage == "distill" and not model.with_teachers:
            raise ValueError("stage 'distill' needs a CKD model built with teachers")
        if project_features and (big_teacher is None or stage != "distill"):
            raise ValueError("projected features need a big teacher and stage 'distill'")
        self.model = model
        self.stage = stage
        self.big_teacher = big_teacher
        self.feature_projector = (nn.Linear(2 * model.config.model.embed_dim, 2 * big_teacher.config.model.embed_dim)
                                  if project_features else None)

    def train(self, mode: bool = True) -> TrainingNetwork:
        """Set the training mode; the big teacher stays in eval mode (frozen BatchNorm, no drop-path)."""
        super().train(mode)
        if self.big_teacher is not None:
            self.big_teacher.eval()
        return self

    def forward(self, batch: dict, search_keep: torch.Tensor | None = None) -> dict:
        model = self.model
        if self.stage == "head":
            mask = center_template_mask(model.config, batch["template_rgb"].shape[0], batch["template_rgb"].device)
            with torch.no_grad():
                students = model.students(batch["template_rgb"], batch["template_tir"], batch["search_rgb"],
                                          batch["search_tir"], ce_template_mask=mask)
            outputs = {"student": model.run_head(model.box_head, students["backbone_feat"])}
        else:
            students = model.students(batch["template_rgb"], batch["template_tir"], batch["search_rgb"],
                                      batch["search_tir"], search_keep=search_keep, eliminate=False,
                                      return_layer_features=True)
            outputs = {
                "student": model.run_head(model.box_head, students["backbone_feat"]),
                "layers_rgb": students["layers_rgb"],
                "layers_tir": students["layers_tir"],
                "teacher_rgb": model.teacher(model.teacher_rgb, model.box_head_v, batch["template_rgb"],
                                             batch["search_rgb"]),
                "teacher_tir": model.teacher(model.teacher_tir, model.box_head_i, batch["template_tir"],
                                             batch["search_tir"]),
            }
        if self.big_teacher is not None:
            outputs["big_teacher"] = run_big_teacher(self.big_teacher, batch)
        if self.feature_projector is not None:
            search = students["backbone_feat"][:, -model.rgb_branch.num_search_tokens:]
            outputs["projected_search"] = self.feature_projector(search)
        return outputs


def _float_head(out: dict) -> dict:
    """Head outputs in fp32, so losses are computed in full precision under autocast."""
    return {"pred_boxes": out["pred_boxes"].float(), "score_map": out["score_map"].float()}


def compute_losses(outputs: dict, search_anno: torch.Tensor, train: TrainConfig,
                   feat_size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and the published status values (detached scalars).

    ``search_anno`` is (B, 4) normalised ``xywh`` of the target in the search crop. Status keys:
    ``Loss/total`` (fused head's box loss), ``Loss/giou``, ``Loss/l1``, ``Loss/location``,
    ``Loss/style``, ``Loss/content``, ``IoU``, in stage 1 ``Loss/teacher_rgb`` and
    ``Loss/teacher_tir`` and, with a big teacher, ``Loss/score_distill`` and
    ``Loss/feature_distill`` (each only when its weight is positive).
    """
    heatmap = gaussian_heatmap(search_anno, feat_size).to(search_anno.device)
    gt_xyxy = xywh_to_xyxy(search_anno.float()).clamp(0.0, 1.0)
    present = (search_anno[:, 2:] > 0).all(dim=1)
    if not present.all():  # target-absent pairs (train.negative_pair_ratio): no box, an all-zero heatmap
        heatmap = heatmap * present.view(-1, 1, 1, 1).to(heatmap.dtype)
        gt_xyxy = gt_xyxy[present]
    student = box_losses(_float_head(outputs["student"]), gt_xyxy, heatmap, present)
    student_total = box_total(student, train)
    zero = student_total.new_zeros(())
    style, content, loss = zero, zero, student_total
    status = {}
    if "teacher_rgb" in outputs:
        for name in ("teacher_rgb", "teacher_tir"):
            teacher_total = box_total(box_losses(_float_head(outputs[name]), gt_xyxy, heatmap, present), train)
            status[f"Loss/{name}"] = teacher_total.detach()
            loss = loss + teacher_total
        for rgb, tir in zip(outputs["layers_rgb"], outputs["layers_tir"]):
            style = style + style_loss(rgb.float(), tir.float(), train.style_loss_type)
        pairs = [(outputs["teacher_tir"]["layers"], outputs["layers_tir"]),
                 (outputs["teacher_rgb"]["layers"], outputs["layers_rgb"])]
        for teacher_layers, student_layers in pairs:
            for teacher, student_layer in zip(teacher_layers, student_layers):
                content = content + content_loss(teacher.float(), student_layer.float(), train.content_loss_type)
        loss = loss + train.style_weight * style + train.content_weight * content
    if "big_teacher" in outputs and train.score_distill_weight > 0:
        score_distill = score_distill_loss(outputs["big_teacher"]["score_map"].float(),
                                           outputs["student"]["score_map"].float())
        status["Loss/score_distill"] = score_distill.detach()
        loss = loss + train.score_distill_weight * score_distill
    if "projected_search" in outputs and train.feature_distill_weight > 0:
        feature_distill = feature_distill_loss(outputs["big_teacher"]["search_tokens"].float(),
                                               outputs["projected_search"].float())
        status["Loss/feature_distill"] = feature_distill.detach()
        loss = loss + train.feature_distill_weight * feature_distill
    status.update({
        "Loss/total": student_total.detach(),
        "Loss/style": style.detach(),
        "Loss/content": content.detach(),
        "Loss/giou": student["giou"].detach(),
        "Loss/l1": student["l1"].detach(),
        "Loss/location": student["location"].detach(),
        "IoU": student["iou"],
    })
    return loss, status
