"""Atomic file writes: a crash never leaves a half-written result, checkpoint or report."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    The temporary file is created with mode 0666 less the umask, as ``open()`` would create
    ``path`` (``tempfile.mkstemp``'s 0600 would hide every result from the user's group).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_torch_save(obj, path: str | Path) -> None:
    """``torch.save`` through an open file: given a path, torch names the archive inside after
    the (random) temporary file, so the same weights would get a different sha256 each time."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)
