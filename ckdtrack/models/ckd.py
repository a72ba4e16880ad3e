"""The CKD network: two modality students fused into one CENTER head, plus the training teachers.

Inference uses the RGB and TIR students only. Their final features are concatenated on the
channel axis (2 x 768 = 1536) and decoded by one head. Multi-modal candidate elimination (MCE)
drops the same search tokens from both students after selected blocks, ranked on the
element-wise maximum of the two students' attention maps, so that a token either modality
finds relevant survives.

Training adds an RGB and a TIR teacher, each a plain single-modality tracker with its own head;
they supply the content-distillation targets (see :mod:`ckdtrack.training.losses`).
"""

from __future__ import annotations

import math
import torch
from torch import nn

from ..config import Config
from .head import CenterHead
from .vit import VisionTransformer


# The network's input normalisation: crops are scaled to 0..1, then ImageNet mean/std per channel.
INPUT_MEAN = (0.485, 0.456, 0.406)
INPUT_STD = (0.229, 0.224, 0.225)


def center_template_mask(config: Config, batch: int, device=None) -> torch.Tensor:
    """(B, L_z) boolean mask selecting the template's centre token (the published CTR_POINT)."""
    grid = config.template_grid
    mask = torch.zeros(batch, grid, grid, dtype=torch.bool, device=device)
    center = (grid - 1) // 2
    mask[:, center, center] = True
    return mask.flatten(1)


def example_inputs(config: Config, device="cpu", batch: int = 1, seed: int = 0):
    """Random normalised template/search crops of the network's sizes, plus the MCE template
    mask (None without MCE): what profiling and ONNX export trace the network with."""
    generator = torch.Generator().manual_seed(seed)
    t, s = config.crop.template_size, config.crop.search_size
    template = [torch.randn(batch, 3, t, t, generator=generator) for _ in range(2)]
    search = [torch.randn(batch, 3, s, s, generator=generator) for _ in range(2)]
    mask = center_template_mask(config, batch) if config.model.ce_layers else None
    tensors = [x.to(device) for x in (*template, *search)]
    return (*tensors, mask.to(device) if mask is not None else None)


def rank_candidates(attn: torch.Tensor, num_template: int, template_mask: torch.Tensor | None) -> torch.Tensor:
    """Search-token indices ordered by how much the (masked) template rows attend to them.

    ``attn`` is (B, heads, N, N). The score of search token j is the mean over template rows
    (those in ``template_mask``, or all) and over heads of ``attn[row, L_z + j]``.
    """
    template_to_search = attn[:, :, :num_template, num_template:]
    if template_mask is None:
        scores = template_to_search.mean(dim=2)
    else:
        rows = template_mask[:, None, :, None].to(attn.dtype)
        scores = (template_to_search * rows).sum(dim=2) / rows.sum(dim=2)
    return torch.sort(scores.mean(dim=1), dim=1, descending=True).indices


def keep_count(num_search: int, keep_ratio: float) -> int:
    return math.ceil(keep_ratio * num_search)


def gather_tokens(tokens: torch.Tensor, num_template: int, keep: torch.Tensor) -> torch.Tensor:
    """Keep the template tokens and the search tokens at ``keep`` (B, K), in that order."""
    search = tokens[:, num_template:].gather(1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    return torch.cat([tokens[:, :num_template], search], dim=1)


def restore_search_order(tokens: torch.Tensor, num_template: int, kept: torch.Tensor, num_search: int):
    """Put kept search tokens back at their raster positions; eliminated positions become zero."""
    batch, _, dim = tokens.shape
    full = tokens.new_zeros(batch, num_search, dim)
    full.scatter_(1, kept.unsqueeze(-1).expand(-1, -1, dim), tokens[:, num_template:])
    return torch.cat([tokens[:, :num_template], full], dim=1)


class CKD(nn.Module):
    """Two-student CKD tracker network; ``with_teachers`` adds the training-only branches.

    State-dict keys match the published checkpoints: ``rgb_branch.*``, ``tir_branch.*``,
    ``box_head.*`` and, for training, ``teacher_rgb.*``, ``teacher_tir.*``, ``box_head_v.*``,
    ``box_head_i.*``.
    """

    def __init__(self, config: Config = Config(), with_teachers: bool = False):
        super().__init__()
        self.config = config
        model = config.model
        self.rgb_branch = self._backbone()
        self.tir_branch = self._backbone()
        self.box_head = CenterHead(2 * model.embed_dim, model.head_channels)
        self.with_teachers = with_teachers
        if with_teachers:
            self.teacher_rgb = self._backbone()
            self.teacher_tir = self._backbone()
            self.box_head_v = CenterHead(model.embed_dim, model.head_channels)
            self.box_head_i = CenterHead(model.embed_dim, model.head_channels)

    def _backbone(self) -> VisionTransformer:
        m, c = self.config.model, self.config.crop
        return VisionTransformer(
            m.embed_dim, m.depth, m.num_heads, m.mlp_ratio, m.patch_size,
            c.template_size, c.search_size, m.pretrain_grid, m.drop_path_rate,
        )

    def students(self, template_rgb, template_tir, search_rgb, search_tir,
                 ce_template_mask=None, search_keep=None, eliminate: bool = True,
                 return_layer_features: bool = False) -> dict:
        """Run both students block by block, eliminating candidates jointly after MCE blocks.

        Returns ``backbone_feat`` (B, L_z + L_x, 2C) after the final norms with search tokens in
        raster order (eliminated ones zero), ``kept_search_index`` (B, K) and, if asked, the
        per-block outputs of each student before the final norm.
        """
        rgb, tir = self.rgb_branch, self.tir_branch
        num_template, num_search = rgb.num_template_tokens, rgb.num_search_tokens
        tokens_rgb = rgb.embed(template_rgb, search_rgb, search_keep)
        tokens_tir = tir.embed(template_tir, search_tir, search_keep)
        batch = tokens_rgb.shape[0]
        kept = torch.arange(num_search, device=tokens_rgb.device).expand(batch, -1)
        layers_rgb, layers_tir = [], []
        ce_layers = self.config.model.ce_layers if eliminate else ()
        keep_ratio = self.config.model.ce_keep_ratio
        for index, (block_rgb, block_tir) in enumerate(zip(rgb.blocks, tir.blocks)):
            prune = index in ce_layers and keep_count(kept.shape[1], keep_ratio) < kept.shape[1]
            tokens_rgb, attn_rgb = block_rgb.attention_half(tokens_rgb, return_attention=prune)
            tokens_tir, attn_tir = block_tir.attention_half(tokens_tir, return_attention=prune)
            if prune:
                order = rank_candidates(torch.maximum(attn_rgb, attn_tir), num_template, ce_template_mask)
                keep = order[:, :keep_count(kept.shape[1], keep_ratio)]
                tokens_rgb = gather_tokens(tokens_rgb, num_template, keep)
                tokens_tir = gather_tokens(tokens_tir, num_template, keep)
                kept = kept.gather(1, keep)
            tokens_rgb = block_rgb.mlp_half(tokens_rgb)
            tokens_tir = block_tir.mlp_half(tokens_tir)
            if return_layer_features:
                layers_rgb.append(tokens_rgb)
                layers_tir.append(tokens_tir)
        feats = [rgb.norm(tokens_rgb), tir.norm(tokens_tir)]
        if kept.shape[1] < num_search:
            feats = [restore_search_order(f, num_template, kept, num_search) for f in feats]
        out = {"backbone_feat": torch.cat(feats, dim=-1), "kept_search_index": kept}
        if return_layer_features:
            out["layers_rgb"], out["layers_tir"] = layers_rgb, layers_tir
        return out

    def run_head(self, head: CenterHead, features: torch.Tensor) -> dict:
        """Apply a head to the search part of (B, L_z + L_x, C) features."""
        size = self.config.search_grid
        search = features[:, -size * size:]
        grid = search.transpose(1, 2).reshape(search.shape[0], search.shape[2], size, size)
        return head(grid)

    def forward(self, template_rgb, template_tir, search_rgb, search_tir, ce_template_mask=None) -> dict:
        """Inference forward: maps, decoded boxes (B, 1, 4) and the fused features."""
        out = self.students(template_rgb, template_tir, search_rgb, search_tir, ce_template_mask)
        out.update(self.run_head(self.box_head, out["backbone_feat"]))
        return out

    def teacher(self, branch: VisionTransformer, head: CenterHead, template, search) -> dict:
        """One teacher: unmasked single-modality features, its head and its block outputs."""
        tokens = branch.embed(template, search)
        layers = []
        for block in branch.blocks:
            tokens = block(tokens)
            layers.append(tokens)
        out = self.run_head(head, branch.norm(tokens))
        out["layers"] = layers
        return out
