"""Initialising small CKD students from ImageNet ViTs in timm's DeiT layout and MAE's layout.

The checkpoints are generated here with the key names and shapes those projects publish
(a 12-block encoder, class/distillation tokens, classifier heads), at a tiny width.
"""

from __future__ import annotations

import pytest
import torch

from ckdtrack.config import Config, CropConfig, ModelConfig
from ckdtrack.errors import InputError
from ckdtrack.models import CKD
from ckdtrack.models.pretrained import load_initial_weights, resize_grid_embedding
from ckdtrack.models.vit import VisionTransformer

DIM = 32
STUDENT = Config(model=ModelConfig(embed_dim=DIM, depth=4, num_heads=2, head_channels=16),
                 crop=CropConfig(template_size=32, search_size=64))


def imagenet_vit(depth: int = 12, dim: int = DIM, grid: int = 14, seed: int = 0) -> dict:
    """Encoder weights of a ViT pretrained at 224 px (14x14 patches) with random values."""
    torch.manual_seed(seed)
    vit = VisionTransformer(embed_dim=dim, depth=depth, num_heads=2, template_size=32, search_size=64,
                            pretrain_grid=grid)
    return {k: torch.randn_like(v) for k, v in vit.state_dict().items() if k not in ("pos_embed_z", "pos_embed_x")}


def deit(distilled: bool) -> dict:
    """timm's DeiT layout: classifier head, and for the distilled model a second token and head."""
    state = imagenet_vit()
    state["head.weight"], state["head.bias"] = torch.randn(1000, DIM), torch.randn(1000)
    if distilled:
        state["dist_token"] = torch.randn(1, 1, DIM)
        state["pos_embed"] = torch.randn(1, 2 + 14 * 14, DIM)
        state["head_dist.weight"], state["head_dist.bias"] = torch.randn(1000, DIM), torch.randn(1000)
    return state


@pytest.mark.parametrize("distilled", [False, True])
def test_deit_initialises_every_vit_from_its_first_blocks(tmp_path, distilled):
    source = deit(distilled)
    path = tmp_path / "deit_tiny_patch16_224.pth"
    torch.save({"model": source}, path)  # the official DeiT release wraps the state in 'model'
    model = CKD(STUDENT, with_teachers=True)
    head_before = model.box_head.conv1_ctr[0].weight.clone()
    assert load_initial_weights(model, path) == "deit"
    grid = source["pos_embed"][:, 2 if distilled else 1:]
    assert grid.shape[1] == 14 * 14
    for branch in ("rgb_branch", "tir_branch", "teacher_rgb", "teacher_tir"):
        vit = getattr(model, branch)
        assert len(vit.blocks) == 4
        for block in range(4):
            torch.testing.assert_close(vit.blocks[block].attn.qkv.weight, source[f"blocks.{block}.attn.qkv.weight"])
            torch.testing.assert_close(vit.blocks[block].mlp.fc2.bias, source[f"blocks.{block}.mlp.fc2.bias"])
        torch.testing.assert_close(vit.patch_embed.proj.weight, source["patch_embed.proj.weight"])
        torch.testing.assert_close(vit.norm.weight, source["norm.weight"])
        torch.testing.assert_close(vit.pos_embed_z, resize_grid_embedding(grid, 2))
        torch.testing.assert_close(vit.pos_embed_x, resize_grid_embedding(grid, 4))
        torch.testing.assert_close(vit.pos_embed[:, 1:], grid)
    torch.testing.assert_close(model.box_head.conv1_ctr[0].weight, head_before)


def test_finetuned_mae_with_fc_norm_and_ddp_prefix(tmp_path):
    """An MAE fine-tuned with global pooling has ``fc_norm`` and no ``norm``; DDP saves ``module.``."""
    source = imagenet_vit(seed=1)
    source["fc_norm.weight"], source["fc_norm.bias"] = source.pop("norm.weight"), source.pop("norm.bias")
    path = tmp_path / "mae_finetuned.pth"
    torch.save({"model": {f"module.{k}": v for k, v in source.items()}}, path)
    model = CKD(STUDENT)
    assert load_initial_weights(model, path) == "mae"
    torch.testing.assert_close(model.tir_branch.norm.weight, source["fc_norm.weight"])
    torch.testing.assert_close(model.rgb_branch.blocks[3].norm2.bias, source["blocks.3.norm2.bias"])


def test_pretraining_grid_other_than_the_models_is_resized(tmp_path):
    source = imagenet_vit(grid=12, seed=2)  # e.g. pretrained at 192 px
    path = tmp_path / "vit_192.pth"
    torch.save(source, path)
    model = CKD(STUDENT)
    assert load_initial_weights(model, path) == "mae"
    torch.testing.assert_close(model.rgb_branch.pos_embed_x, resize_grid_embedding(source["pos_embed"][:, 1:], 4))


def test_incompatible_vits_are_refused_with_the_reason(tmp_path):
    wide = tmp_path / "deit_small.pth"
    torch.save({"model": imagenet_vit(dim=48)}, wide)
    with pytest.raises(InputError, match="deit_small.pth: a 48-d ViT .* 32-d"):
        load_initial_weights(CKD(STUDENT), wide)
    shallow = tmp_path / "shallow.pth"
    torch.save({"model": imagenet_vit(depth=2)}, shallow)
    with pytest.raises(InputError, match="shallow.pth: the checkpoint has 2 blocks, the model 4"):
        load_initial_weights(CKD(STUDENT), shallow)
