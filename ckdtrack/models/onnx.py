"""ONNX export of the inference network, and running it with ONNX Runtime.

The exported graph takes the four normalised crops (and, with MCE, the template mask) and
returns the three head maps; candidate elimination is exported as real sort/gather ops, so
the MCE model exports too. The config is stored in the model's metadata, so a tracker can be
rebuilt from the ``.onnx`` file alone. ``onnx``/``onnxruntime``/``onnxscript`` are the
optional extra ``ckdtrack[onnx]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..config import Config
from ..io import atomic_path
from .ckd import CKD, example_inputs

INPUT_NAMES = ("template_rgb", "template_tir", "search_rgb", "search_tir", "template_mask")
OUTPUT_NAMES = ("score_map", "size_map", "offset_map")
CONFIG_KEY = "ckdtrack_config"


class _MapsOnly(nn.Module):
    """The inference forward with a fixed tuple of outputs, as an exported graph needs."""

    def __init__(self, model: CKD):
        super().__init__()
        self.model = model

    def forward(self, template_rgb, template_tir, search_rgb, search_tir, template_mask=None):
        out = self.model(template_rgb, template_tir, search_rgb, search_tir, template_mask)
        return tuple(out[name] for name in OUTPUT_NAMES)


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise InputError(f"ONNX support needs the '{module}' package: pip install 'ckdtrack[onnx]'") from None


def export_onnx(model: CKD, path: str | Path | None = None):
    """Export ``model`` (eval mode, batch 1, fixed shapes) with its config in the metadata;
    returns the ONNX ModelProto. With ``path`` the model is also written there (atomically)."""
    for module in ("onnx", "onnxscript"):
        _require(module)
    model = model.eval()
    inputs = example_inputs(model.config)
    if inputs[-1] is None:
        inputs = inputs[:4]
    program = torch.onnx.export(_MapsOnly(model).eval(), inputs, dynamo=True, input_names=list(INPUT_NAMES[:len(inputs)]),
                                output_names=list(OUTPUT_NAMES), verbose=False)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = CONFIG_KEY, json.dumps(model.config.to_dict())
    if path is not None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(proto.SerializeToString())
    return proto


class OnnxNetwork:
    """Runs an exported CKD graph with ONNX Runtime behind the same call as :class:`CKD`."""

    def __init__(self, model: str | Path | bytes, config: Config, threads: int | None = None):
        ort = _require("onnxruntime")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InputError(f"{model if not isinstance(model, bytes) else 'ONNX model'}: cannot load ({exc})") from None
        self.config = config
        self.input_names = [i.name for i in self.session.get_inputs()]

    @staticmethod
    def stored_config(path: str | Path) -> dict | None:
        onnx = _require("onnx")
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: ONNX model not found")
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:
            raise InputError(f"{path}: not a readable ONNX model ({exc})") from None
        for entry in proto.metadata_props:
            if entry.key == CONFIG_KEY:
                return json.loads(entry.value)
        return None

    def __call__(self, template_rgb, template_tir, search_rgb, search_tir, template_mask=None) -> dict:
        tensors = (template_rgb, template_tir, search_rgb, search_tir, template_mask)
        feeds = {name: tensor.detach().cpu().numpy() for name, tensor in zip(self.input_names, tensors)}
        outputs = self.session.run(list(OUTPUT_NAMES), feeds)
        return {name: torch.from_numpy(value) for name, value in zip(OUTPUT_NAMES, outputs)}
