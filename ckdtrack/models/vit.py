"""ViT-B/16 backbone of the one-stream tracker (OSTrack style), with the published key names.

Template and search patches share the patch embedding and the transformer blocks; each has its
own position embedding (``pos_embed_z`` 8x8, ``pos_embed_x`` 16x16 for ViT-B at 128/256 px).
``cls_token`` and the ImageNet ``pos_embed`` are unused by the tracker but kept, so published
checkpoints load strictly.

The blocks are stepped from outside (see :mod:`ckdtrack.models.ckd`) because multi-modal
candidate elimination couples the two students between blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """Self-attention; with ``return_attention`` also the (B, heads, N, N) softmax weights."""
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if return_attention:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            out = attn @ v
        else:
            attn = None
            out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj(out), attn


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch per sample while training."""

    def __init__(self, prob: float = 0.0):
        super().__init__()
        self.prob = prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    """Pre-norm transformer block, split in two halves so tokens can be pruned in between."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def attention_half(self, x: torch.Tensor, return_attention: bool = False):
        out, attn = self.attn(self.norm1(x), return_attention)
        return x + self.drop_path(out), attn

    def mlp_half(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp_half(self.attention_half(x)[0])


class VisionTransformer(nn.Module):
    """One modality's backbone: embeds template and search crops and holds the blocks."""

    def __init__(
        self,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        patch_size: int = 16,
        template_size: int = 128,
        search_size: int = 256,
        pretrain_grid: int = 14,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_grid * pretrain_grid + 1, embed_dim))
        self.pos_embed_z = nn.Parameter(torch.zeros(1, (template_size // patch_size) ** 2, embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, (search_size // patch_size) ** 2, embed_dim))
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, rate) for rate in rates])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        for tensor in (self.cls_token, self.pos_embed, self.pos_embed_z, self.pos_embed_x):
            nn.init.trunc_normal_(tensor, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def num_template_tokens(self) -> int:
        return self.pos_embed_z.shape[1]

    @property
    def num_search_tokens(self) -> int:
        return self.pos_embed_x.shape[1]

    def embed(self, template: torch.Tensor, search: torch.Tensor, search_keep: torch.Tensor | None = None):
        """Patch-embed both crops into one token sequence (template first).

        ``search_keep`` (B, L_x) zeroes the embeddings of masked search patches before the
        position embedding is added (masked modeling during training).
        """
        z = self.patch_embed(template)
        x = self.patch_embed(search)
        if search_keep is not None:
            x = x * search_keep.unsqueeze(-1).to(x.dtype)
        return torch.cat([z + self.pos_embed_z, x + self.pos_embed_x], dim=1)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """Single-modality features (B, L_z + L_x, C) after the final norm, no elimination."""
        return self.norm(self.blocks(self.embed(template, search)))
