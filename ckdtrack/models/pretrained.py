"""Initialising the CKD training network from pretrained checkpoints.

Three layouts are recognised from their keys:

- a single-modality tracker (DropTrack or OSTrack, ``{'net': ...}`` with ``backbone.*`` and
  ``box_head.*``): every ViT starts from the backbone, each teacher head from the box head, and
  the fused head too, with the first convolution of its three branches duplicated along the
  input channels (RGB half and TIR half start equal). DropTrack's temporal embeddings are
  added to its position embeddings, which are resized to the template and search grids;
- an ImageNet ViT encoder: MAE pretraining (``{'model': ...}`` with ``blocks.*``, decoder and
  mask token dropped) or a timm-layout classifier such as DeiT-Tiny/Small (``head.*``; the
  distilled variants' ``dist_token``/``head_dist.*`` too). Every ViT starts from it: the
  template and search position embeddings are the pretrained patch grid (after the class and
  distillation tokens) resized; a deeper encoder gives its first ``model.depth`` blocks (a
  12-block DeiT-Tiny initialises a 4- or 6-block student); a fine-tuned MAE's ``fc_norm``
  stands in for a missing final ``norm``; heads stay random;
- a CKD checkpoint (``rgb_branch.*`` ...; a published or exported model, or a training
  checkpoint of this package): loaded as is, teachers dropped when the model has none.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InputError
from .checkpoint import extract_state_dict, load_state_strict, read_checkpoint
from .ckd import CKD

TRACKER_PREFIX = "backbone."
HEAD_PREFIX = "box_head."
FIRST_HEAD_CONVS = ("conv1_ctr.0.weight", "conv1_offset.0.weight", "conv1_size.0.weight")
VIT_BRANCHES = ("rgb_branch", "tir_branch", "teacher_rgb", "teacher_tir")
TEACHER_HEADS = ("box_head_v", "box_head_i")
UNUSED_TRACKER_KEYS = ("temporal_pos_embed_z", "temporal_pos_embed_x")
UNTRACKED_VIT_KEYS = ("cls_token", "pos_embed")


def resize_grid_embedding(embedding: torch.Tensor, grid: int, source="checkpoint") -> torch.Tensor:
    """Bicubically resize a (1, g*g, C) square-grid position embedding to (1, grid*grid, C)."""
    tokens, dim = embedding.shape[1], embedding.shape[2]
    old = int(round(tokens ** 0.5))
    if old * old != tokens:
        raise InputError(f"{source}: position embedding with {tokens} tokens is not a square grid")
    if old == grid:
        return embedding.clone()
    image = embedding.reshape(1, old, old, dim).permute(0, 3, 1, 2).float()
    image = F.interpolate(image, size=(grid, grid), mode="bicubic", align_corners=False)
    return image.permute(0, 2, 3, 1).reshape(1, grid * grid, dim).to(embedding.dtype)


def _complete_vit(state: dict, reference: dict) -> dict:
    """Take the tracker-unused ``cls_token``/``pos_embed`` from the model where the source lacks
    them or has another pretraining grid; everything the tracker uses must come from the source."""
    for key in UNTRACKED_VIT_KEYS:
        if key not in state or state[key].shape != reference[key].shape:
            state[key] = reference[key].clone()
    return state


def tracker_backbone(state: dict, model: CKD, path) -> dict:
    """One ViT's state from a DropTrack/OSTrack checkpoint, position embeddings converted."""
    backbone = {k[len(TRACKER_PREFIX):]: v for k, v in state.items() if k.startswith(TRACKER_PREFIX)}
    for key in ("pos_embed_z", "pos_embed_x"):
        if key not in backbone:
            raise InputError(f"{path}: tracker checkpoint has no backbone.{key}")
    template = resize_grid_embedding(backbone["pos_embed_z"], model.config.template_grid, path)
    search = resize_grid_embedding(backbone["pos_embed_x"], model.config.search_grid, path)
    if "temporal_pos_embed_z" in backbone:
        template = template + backbone["temporal_pos_embed_z"]
        search = search + backbone["temporal_pos_embed_x"]
    backbone["pos_embed_z"], backbone["pos_embed_x"] = template, search
    for key in UNUSED_TRACKER_KEYS:
        backbone.pop(key, None)
    return _complete_vit(backbone, model.rgb_branch.state_dict())


def imagenet_backbone(state: dict, model: CKD, path) -> dict:
    """One ViT's state from an ImageNet ViT encoder (MAE or timm/DeiT layout)."""
    config = model.config.model
    vit = {k.removeprefix("module."): v for k, v in state.items()}
    if "patch_embed.proj.weight" not in vit:
        raise InputError(f"{path}: ViT checkpoint has no patch_embed.proj.weight")
    dim, _, patch, _ = vit["patch_embed.proj.weight"].shape
    if dim != config.embed_dim or patch != config.patch_size:
        raise InputError(f"{path}: a {dim}-d ViT with {patch}-px patches cannot initialise this "
                         f"{config.embed_dim}-d, {config.patch_size}-px model (set model.embed_dim, "
                         f"num_heads and patch_size to the checkpoint's)")
    depth = 1 + max(int(k.split(".")[1]) for k in vit if k.startswith("blocks."))
    if depth < config.depth:
        raise InputError(f"{path}: the checkpoint has {depth} blocks, the model {config.depth}")
    prefix_tokens = 2 if "dist_token" in vit else 1
    dropped = ("decoder", "mask_token", "head.", "head_dist.", "dist_token", "pre_logits.", "fc_norm.")
    kept = {k: v for k, v in vit.items()
            if not k.startswith(dropped) and not (k.startswith("blocks.") and int(k.split(".")[1]) >= config.depth)}
    if "norm.weight" not in kept and "fc_norm.weight" in vit:
        kept["norm.weight"], kept["norm.bias"] = vit["fc_norm.weight"], vit["fc_norm.bias"]
    grid = vit["pos_embed"][:, prefix_tokens:]
    kept["pos_embed"] = torch.cat([vit["pos_embed"][:, :1], grid], dim=1)
    kept["pos_embed_z"] = resize_grid_embedding(grid, model.config.template_grid, path)
    kept["pos_embed_x"] = resize_grid_embedding(grid, model.config.search_grid, path)
    return _complete_vit(kept, model.rgb_branch.state_dict())


def fused_head(head: dict) -> dict:
    """The fused head's state from a single-modality head: first convolutions doubled in width."""
    return {k: torch.cat([v, v], dim=1) if k in FIRST_HEAD_CONVS else v for k, v in head.items()}


def _prefixed(prefix: str, state: dict) -> dict:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _layout(state: dict) -> str:
    if any(k.startswith("rgb_branch.") for k in state):
        return "ckd"
    if any(k.startswith(TRACKER_PREFIX) for k in state):
        return "tracker"
    if any(k.removeprefix("module.") == "pos_embed" for k in state) and any(".blocks." in f".{k}" for k in state):
        timm_classifier = any(k.removeprefix("module.").startswith(("head.", "dist_token")) for k in state)
        return "deit" if timm_classifier else "mae"
    return "unknown"


def initial_state_dict(model: CKD, path: str | Path, sha256: str | None = None) -> tuple[dict, str]:
    """The full state dict for ``model`` built from the checkpoint at ``path``, and its layout."""
    state = extract_state_dict(read_checkpoint(path, sha256), path)
    layout = _layout(state)
    if layout == "ckd":
        if not model.with_teachers:
            teacher_prefixes = tuple(f"{name}." for name in ("teacher_rgb", "teacher_tir") + TEACHER_HEADS)
            state = {k: v for k, v in state.items() if not k.startswith(teacher_prefixes)}
        return state, layout
    current = model.state_dict()
    if layout == "tracker":
        vit = tracker_backbone(state, model, path)
        head = {k[len(HEAD_PREFIX):]: v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
        full = _prefixed("box_head", fused_head(head))
        teacher_heads = TEACHER_HEADS if model.with_teachers else ()
        for name in teacher_heads:
            full.update(_prefixed(name, head))
    elif layout in ("mae", "deit"):
        vit = imagenet_backbone(state, model, path)
        full = {k: v for k, v in current.items() if k.split(".")[0] not in VIT_BRANCHES}
    else:
        raise InputError(f"{path}: unrecognised checkpoint layout (expected CKD rgb_branch.*, "
                         f"tracker backbone.*/box_head.*, or ViT pos_embed + blocks.* keys as in MAE/DeiT)")
    branches = VIT_BRANCHES if model.with_teachers else VIT_BRANCHES[:2]
    for name in branches:
        full.update(_prefixed(name, vit))
    return full, layout


def load_initial_weights(model: CKD, path: str | Path, sha256: str | None = None) -> str:
    """Initialise ``model`` strictly from ``path`` (any layout above); returns the layout name."""
    state, layout = initial_state_dict(model, path, sha256)
    load_state_strict(model, state, path)
    return layout
