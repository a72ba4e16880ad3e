"""Typed configuration, loaded from the YAML files in ``configs/``.

A config has four sections: ``model`` (architecture and candidate elimination), ``crop``
(template/search crop geometry, shared by tracker and training), ``tracker`` (online
post-processing) and ``train`` (optimisation, losses, data). Unknown keys are errors, so a typo
in a YAML file never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .models.ckd import NetworkShape

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


@dataclass
class ModelConfig:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    head_channels: int = 256
    drop_path_rate: float = 0.0
    ce_layers: list[int] = field(default_factory=list)
    ce_keep_ratio: float = 0.7


@dataclass
class CropConfig:
    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0


@dataclass
class TrackerConfig:
    hann_window: bool = True
    clip_margin: float = 10.0


@dataclass
class DatasetEntry:
    """One training or validation source: a benchmark name (``lasher``, ..., ``synthetic``),
    its split, its share of the sampled pairs and its root folder (``--data-root NAME=DIR``
    overrides it)."""

    name: str = "lasher"
    split: str = "train"
    ratio: float = 1.0
    root: str = ""


@dataclass
class TrainConfig:
    """Optimisation, losses, masked modeling and data sampling of one training stage.

    ``stage`` is ``distill`` (stage 1: four ViTs, coupled distillation) or ``head`` (stage 2:
    frozen students with MCE, fused head only). ``amp`` is ``none``, ``bf16`` or ``fp16``
    (GPU only). ``init`` names the weights training starts from (DropTrack/OSTrack, MAE or a
    CKD checkpoint; empty = random), checked against ``init_sha256`` when given.
    """

    stage: str = "distill"
    epochs: int = 30
    samples_per_epoch: int = 60000
    val_samples: int = 1000
    batch_size: int = 10
    num_workers: int = 8
    seed: int = 42
    device: str = "auto"
    init: str = ""
    init_sha256: str = ""
    lr_head: float = 5e-5
    lr_backbone: float = 5e-6
    weight_decay: float = 1e-4
    grad_clip_norm: float = 0.1
    giou_weight: float = 2.0
    l1_weight: float = 5.0
    focal_weight: float = 1.0
    style_weight: float = 0.01
    content_weight: float = 0.1
    style_loss_type: str = "channel"
    content_loss_type: str = "channel"
    mask_probability: float = 1.0
    mask_ratio: float = 0.25
    max_sample_interval: int = 200
    search_center_jitter: float = 3.0
    search_scale_jitter: float = 0.25
    template_center_jitter: float = 0.0
    template_scale_jitter: float = 0.0
    amp: str = "none"
    log_interval: int = 50
    datasets: list[DatasetEntry] = field(default_factory=lambda: [DatasetEntry()])
    val_datasets: list[DatasetEntry] = field(default_factory=list)


@dataclass
class Config:
    name: str = "ckd_vitb"
    model: ModelConfig = field(default_factory=ModelConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def network_shape(self) -> NetworkShape:
        m, c = self.model, self.crop
        return NetworkShape(
            embed_dim=m.embed_dim, depth=m.depth, num_heads=m.num_heads, mlp_ratio=m.mlp_ratio,
            patch_size=m.patch_size, template_size=c.template_size, search_size=c.search_size,
            head_channels=m.head_channels, drop_path_rate=m.drop_path_rate,
            ce_layers=tuple(m.ce_layers), ce_keep_ratio=m.ce_keep_ratio,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls, data: Any, where: str):
    """Instantiate dataclass ``cls`` from a mapping, recursing into nested dataclasses."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values = {}
    for key, value in data.items():
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            values[key] = _build(type(default), value, f"{where}.{key}")
        elif key.endswith("datasets"):
            if not isinstance(value, list):
                raise InputError(f"{where}.{key}: expected a list")
            values[key] = [_build(DatasetEntry, item, f"{where}.{key}[{i}]") for i, item in enumerate(value)]
        else:
            values[key] = value
    return cls(**values)


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config name from ``configs/`` (``ckd_vitb``, ``ckd_vitb_mce``, ...) or a YAML path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise InputError(f"{path}: config file not found")
        return path
    candidate = CONFIG_DIR / f"{text}.yaml"
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise InputError(f"unknown config '{text}' (known: {known})")
    return candidate


def config_from_dict(data: dict[str, Any], where: str = "config") -> Config:
    """Rebuild a :class:`Config` from ``Config.to_dict()`` output (e.g. stored in a checkpoint)."""
    return _build(Config, data, where)


def load_config(name_or_path: str | Path = "ckd_vitb") -> Config:
    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    data.setdefault("name", path.stem)
    return config_from_dict(data, str(path))


def config_for_weights(config: "str | Path | Config | None", stored: Any, source: str | Path) -> Config:
    """The config to build a network for a weights file: the one given (name, path or object),
    else the one stored in the file (our exports carry one), else ``ckd_vitb``."""
    if isinstance(config, Config):
        return config
    if config is not None:
        return load_config(config)
    if isinstance(stored, dict):
        return config_from_dict(stored, f"{source} (stored config)")
    return load_config("ckd_vitb")
