"""A frozen big CKD model as the teacher of small students (``train.big_teacher``).

A user holding the published ViT-B weights can distil their own fast model: the big model sees
the same crops as the students, and its score map and last-layer search features become extra
targets (:func:`ckdtrack.training.losses.score_distill_loss`, ``feature_distill_loss``). It is
loaded through the package's one model loader, never trained, never saved with the run and
never exported.
"""

from __future__ import annotations

import torch

from ..config import Config
from ..errors import InputError
from ..models.checkpoint import load_model
from ..models.ckd import CKD
from .losses import resize_square


def load_big_teacher(config: Config) -> CKD | None:
    """The frozen teacher ``config.train.big_teacher`` names, or None when it names none.

    Its crops must cover the same region around the box as the students' (the same
    ``crop.template_factor`` and ``crop.search_factor``); their pixel sizes may differ.
    """
    train = config.train
    if not train.big_teacher:
        return None
    try:
        teacher, teacher_config = load_model(train.big_teacher, train.big_teacher_config or None,
                                             config_advice="set train.big_teacher_config")
    except InputError as exc:
        raise InputError(f"train.big_teacher: {exc}") from None
    ours, theirs = config.crop, teacher_config.crop
    if (ours.template_factor, ours.search_factor) != (theirs.template_factor, theirs.search_factor):
        raise InputError(f"train.big_teacher: {train.big_teacher}: its crops span {theirs.template_factor:g}x/"
                         f"{theirs.search_factor:g}x the box (template/search), the students' "
                         f"{ours.template_factor:g}x/{ours.search_factor:g}x: crop.template_factor and "
                         f"crop.search_factor must match the teacher's")
    return teacher.eval().requires_grad_(False)


@torch.no_grad()
def run_big_teacher(teacher: CKD, batch: dict) -> dict:
    """The teacher's head outputs and ``search_tokens`` (B, L_x, 2C) for the students' crops.

    The normalised crops are resized (bilinear) to the teacher's crop sizes. Candidate
    elimination stays off even when the teacher's config has ``ce_layers``: every search token
    then has a feature to distil from, and the score map is the dense one of stage 1.
    """
    crop = teacher.config.crop
    template_rgb, template_tir = (resize_square(batch[key], crop.template_size)
                                  for key in ("template_rgb", "template_tir"))
    search_rgb, search_tir = (resize_square(batch[key], crop.search_size) for key in ("search_rgb", "search_tir"))
    features = teacher.students(template_rgb, template_tir, search_rgb, search_tir, eliminate=False)["backbone_feat"]
    out = teacher.run_head(teacher.box_head, features)
    out["search_tokens"] = features[:, -teacher.rgb_branch.num_search_tokens:]
    return out
