"""Where and in which precision a network runs: the torch side of the config's vocabulary.

Device names and precisions are spelled once in :mod:`ckdtrack.config`; this module turns them
into ``torch.device`` objects (checking that the device exists) and autocast contexts.
"""

from __future__ import annotations

import torch

from ..config import PRECISIONS, check_device_name
from ..errors import InputError

AUTOCAST_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str | torch.device, what: str = "--device") -> torch.device:
    """A usable ``torch.device``: ``auto`` picks CUDA when available, otherwise the CPU; a
    device this machine lacks is a one-line error."""
    if isinstance(name, torch.device):
        return name
    name = check_device_name(name, what)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"{what} {name}: CUDA is not available on this machine")
        index = torch.device(name).index
        if index is not None and index >= torch.cuda.device_count():
            raise InputError(f"{what} {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{what} mps: MPS is not available on this machine")
    return torch.device(name)


def autocast_dtype(precision: str) -> torch.dtype | None:
    if precision not in AUTOCAST_DTYPES:
        raise InputError(f"unknown precision '{precision}' ({', '.join(PRECISIONS)})")
    return AUTOCAST_DTYPES[precision]


def autocast_context(device: torch.device, precision: str):
    """Autocast for ``precision`` on ``device``'s type (a no-op context for fp32)."""
    dtype = autocast_dtype(precision)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
