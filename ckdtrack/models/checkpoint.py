"""Reading checkpoints safely and loading them strictly into the CKD network.

Published CKD/OSTrack checkpoints are ``{'net': state_dict, ...}`` ``.pth.tar`` files; MAE
checkpoints are ``{'model': state_dict}``; our own inference exports use ``{'net': ...}`` too.
Everything is read with ``weights_only=True``: a checkpoint can never run code.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..config import Config, config_for_weights
from ..errors import InputError
from .ckd import CKD

STATE_DICT_KEYS = ("net", "model", "state_dict")
ONNX_FIRST_BYTE = b"\x08"  # protobuf tag of ModelProto.ir_version; torch files start with PK or a pickle opcode


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checkpoint(path: str | Path, sha256: str | None = None) -> dict:
    """Load a checkpoint file into a dict, with one-line errors for every way it can be wrong."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: weights file not found" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: weights file is empty")
    with open(path, "rb") as handle:
        first = handle.read(1)
    if path.suffix == ".onnx" or first == ONNX_FIRST_BYTE:
        raise InputError(f"{path}: an ONNX model, not a PyTorch checkpoint (pass --backend onnxruntime)")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256.lower():
            raise InputError(f"{path}: sha256 is {actual}, expected {sha256.lower()}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as exc:
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise InputError(f"{path}: holds a pickled Python object ({found.group(1)}) besides tensors, which "
                             f"safe loading refuses (torch.load weights_only=True); re-save it as a plain dict "
                             f"of tensors") from None
        detail = text.split("WeightsUnpickler error:", 1)[-1]
        reason = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", detail).split()) or type(exc).__name__
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({reason[:100]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict checkpoint, found {type(data).__name__}")
    return data


def extract_state_dict(checkpoint: dict, path: str | Path = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint: under 'net', 'model' or 'state_dict', or the dict itself."""
    for key in STATE_DICT_KEYS:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            checkpoint = checkpoint[key]
            break
    if not checkpoint or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise InputError(f"{path}: no state dict of tensors found (looked under {', '.join(STATE_DICT_KEYS)})")
    return checkpoint


def _summarise(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path = "checkpoint") -> None:
    """Load every key exactly; otherwise one error listing missing, unexpected and misshapen keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_summarise(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_summarise(unexpected)}")
    if misshapen:
        problems.append(f"wrong shapes: {_summarise(misshapen, 3)}")
    if problems:
        raise InputError(f"{path}: checkpoint does not match the model ({'; '.join(problems)})")
    model.load_state_dict(state, strict=True)


def load_weights(model: nn.Module, path: str | Path, sha256: str | None = None) -> None:
    """Read ``path`` and load it strictly into ``model``."""
    load_state_strict(model, extract_state_dict(read_checkpoint(path, sha256), path), path)


def load_model(weights: str | Path, config: str | Path | Config | None = None, sha256: str | None = None,
               with_teachers: bool = False, config_advice: str = "pass --config") -> tuple[CKD, Config]:
    """The one way to get a CKD network from a weights file: the config given (name, YAML path
    or object), else the one the file stores, else ``ckd_vitb`` (published checkpoints store
    none); the state dict is loaded strictly. ``config_advice`` ends the error of a file that
    stores no config and fits no assumed one, or stores a broken one: how the caller's user
    names the config."""
    checkpoint = read_checkpoint(weights, sha256)
    stored = checkpoint.get("config")
    resolved = config_for_weights(config, stored, weights, config_advice)
    model = CKD(resolved, with_teachers=with_teachers)
    try:
        load_state_strict(model, extract_state_dict(checkpoint, weights), weights)
    except InputError as exc:
        if config is None and not isinstance(stored, dict):
            raise InputError(f"{exc} [the file stores no config, so {resolved.name} was assumed: "
                             f"{config_advice}]") from None
        raise
    return model, resolved
