"""Typed configuration: the dataclasses here are the parameter objects the code runs on.

A config has four sections: ``model`` (architecture and candidate elimination, what
:class:`ckdtrack.models.ckd.CKD` is built from), ``crop`` (template/search crop geometry,
shared by the tracker and the training samples), ``tracker`` (online post-processing) and
``train`` (optimisation, losses, data). Each field is declared once, with its default, here.

Loading checks every value against its field's type and allowed values and says in one line
which file, key and value are wrong; unknown keys are errors too, so a typo never silently
falls back to a default. YAML 1.1 reads ``5e-5`` as a string: float fields accept such strings.
This module imports neither torch nor the network, so every command can read configs cheaply.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from .benchmark_registry import ALIASES, NAMES, SPLITS, normalize_name
from .errors import InputError

Precision = Literal["fp32", "fp16", "bf16"]
TrainingStage = Literal["distill", "head"]
DistillationLevel = Literal["channel", "token"]
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
LEGACY_PRECISION_NAMES = {"none": "fp32"}  # checkpoints written before "fp32" named the full-precision mode
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"
CONFIG_FOLDER = "configs"  # inside the package, so wheels carry them


def check_device_name(text: str, what: str = "device") -> str:
    """The one device-name syntax of the package (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``);
    whether that device exists is checked where torch is loaded (:mod:`ckdtrack.models.runtime`)."""
    if not isinstance(text, str) or not DEVICE_PATTERN.match(text.strip()):
        raise InputError(f"{what}: unknown device {text!r} (expected {DEVICE_HELP})")
    return text.strip()


@dataclass(frozen=True)
class ModelConfig:
    """One student ViT (the teachers are the same), its MCE blocks and the CENTER head width.

    ``pretrain_grid`` is the patch grid of the pretraining position embedding the ViTs keep
    (14 for 224 px ImageNet ViTs), loaded but unused by the tracker.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    head_channels: int = 256
    pretrain_grid: int = 14
    drop_path_rate: float = 0.0
    ce_layers: tuple[int, ...] = ()
    ce_keep_ratio: float = 0.7


@dataclass(frozen=True)
class CropConfig:
    """Template and search crops: square windows ``factor`` x the box's side, resized to ``size``."""

    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0


@dataclass(frozen=True)
class TrackerConfig:
    """Online post-processing: the Hann motion prior, the clipping margin, and the score below
    which the whole frame is searched again (0: never, as in the published tracker). Every
    default is the published tracker's behaviour."""

    hann_window: bool = True
    clip_margin: float = 10.0
    redetect_threshold: float = 0.0
    redetect_accept: float = 0.0
    """A whole-frame candidate replaces the local box only with at least this score (and a
    higher one than the local box): a lost tracker keeps searching rather than settling on a
    weak look-alike."""
    redetect_appearance: float = 0.0
    """Weight of the target's first-frame appearance when whole-frame candidates and the local
    box are ranked: (1 - w) * network score + w * similarity (normalised cross-correlation of
    the box's patch with the first frame's, mean of both modalities). 0: the score alone."""
    redetect_windows: int = 0
    """Whole-frame search windows run per frame while the score stays below the threshold,
    nearest to the last box first; 0: all at once. A budget bounds a lost frame's cost."""
    redetect_pause: int = 0
    """Frames the whole-frame search rests after a complete pass over the frame replaced
    nothing (the local search goes on); a confident frame ends the rest. Bounds what a tracker
    that stays unsure costs on average."""
    hold_size_below: float = 0.0
    """Below this score the box keeps its previous size and only its centre follows the
    network: an unsure frame does not let the box swell onto the background."""


@dataclass(frozen=True)
class DatasetEntry:
    """One training or validation source: a benchmark name (``lasher``, ..., ``synthetic``),
    its split, its share of the sampled pairs and its root folder (``--data-root NAME=DIR``
    overrides it)."""

    name: str = "lasher"
    split: str = "train"
    ratio: float = 1.0
    root: str = ""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, losses, masked modeling and data sampling of one training stage.

    ``stage`` is ``distill`` (stage 1: four ViTs, coupled distillation) or ``head`` (stage 2:
    frozen students with MCE, fused head only). ``amp`` is the autocast precision (fp16 on GPUs
    only). ``init`` names the weights training starts from (DropTrack/OSTrack, MAE or a CKD
    checkpoint; empty = random), checked against ``init_sha256`` when given. The ``*_jitter``
    fields perturb the box a crop is centred on (scale: log-normal sigma; centre: fraction of
    the side).
    """

    stage: TrainingStage = "distill"
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
    style_loss_type: DistillationLevel = "channel"
    content_loss_type: DistillationLevel = "channel"
    mask_probability: float = 1.0
    mask_ratio: float = 0.25
    max_sample_interval: int = 200
    search_center_jitter: float = 3.0
    search_scale_jitter: float = 0.25
    template_center_jitter: float = 0.0
    template_scale_jitter: float = 0.0
    negative_pair_ratio: float = 0.0
    """Share of pairs whose search crop is cut where the target is not (its box becomes
    0,0,0,0): the score map learns to stay low without the target, which a tracker needs to
    notice a loss and to re-detect. 0 (the published training) never."""
    big_teacher: str = ""
    """Inference checkpoint of a bigger CKD (the published ViT-B weights, or an export) that
    the students are distilled from, frozen; empty (the published training): none."""
    big_teacher_config: str = ""
    """Config (name or YAML) of ``big_teacher`` when the file stores none; empty: the stored
    one, else ``ckd_vitb``."""
    score_distill_weight: float = 1.0
    """Weight of the fused head's score map against the big teacher's (both stages)."""
    feature_distill_weight: float = 1.0
    """Weight of the projected last-layer student features against the big teacher's (stage
    ``distill`` only: set 0 in stage ``head``, whose students are frozen)."""
    amp: Precision = "fp32"
    log_interval: int = 50
    datasets: tuple[DatasetEntry, ...] = (DatasetEntry(),)
    val_datasets: tuple[DatasetEntry, ...] = ()


@dataclass(frozen=True)
class Config:
    name: str = "ckd_vitb"
    model: ModelConfig = field(default_factory=ModelConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def template_grid(self) -> int:
        """Patches per side of the template crop."""
        return self.crop.template_size // self.model.patch_size

    @property
    def search_grid(self) -> int:
        """Patches per side of the search crop: the size of the head's score map."""
        return self.crop.search_size // self.model.patch_size

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists, as YAML, JSON and checkpoints store them."""
        return json_ready(dataclasses.asdict(self))


# Rules beyond the field types, as section -> keys: whole numbers of at least 1, numbers of at
# least 0, and shares between 0 and 1.
POSITIVE_INTS = {
    "model": ("embed_dim", "depth", "num_heads", "patch_size", "head_channels", "pretrain_grid"),
    "crop": ("template_size", "search_size"),
    "train": ("epochs", "samples_per_epoch", "batch_size", "max_sample_interval", "log_interval"),
}
NON_NEGATIVE = {
    "model": ("drop_path_rate",), "tracker": ("clip_margin", "redetect_windows", "redetect_pause"),
    "train": ("val_samples", "num_workers", "lr_head", "lr_backbone", "weight_decay", "grad_clip_norm",
              "giou_weight", "l1_weight", "focal_weight", "style_weight", "content_weight",
              "score_distill_weight", "feature_distill_weight",
              "search_center_jitter", "search_scale_jitter", "template_center_jitter", "template_scale_jitter"),
}
UNIT_INTERVAL = {"model": ("ce_keep_ratio",), "tracker": ("redetect_threshold", "redetect_accept",
                                                              "redetect_appearance", "hold_size_below"),
                 "train": ("mask_probability", "mask_ratio", "negative_pair_ratio")}


SINGULAR = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
PLURAL = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}


def _expected(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if origin in (tuple, list):
        item = typing.get_args(hint)[0]
        return "a list of " + ("mappings" if dataclasses.is_dataclass(item) else PLURAL.get(item, str(item)))
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return SINGULAR.get(hint, str(hint))


def _convert(value: Any, hint, key: str, where: str) -> Any:
    """``value`` as the field type ``hint`` wants, or an InputError naming file, key and value."""
    def wrong() -> InputError:
        return InputError(f"{where}: {key}: {value!r} is not {_expected(hint)}")

    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        value = LEGACY_PRECISION_NAMES.get(value, value) if hint is Precision else value
        if value not in choices:
            raise wrong()
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise wrong()
        item_hint = typing.get_args(hint)[0]
        return tuple(_convert(item, item_hint, f"{key}[{i}]", where) for i, item in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, f"{key}.")
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if hint is int:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or value != int(value)):
            raise wrong()
        return int(value)
    if hint is float:
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise wrong() from None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise wrong()
        return float(number)
    if hint is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    raise TypeError(f"config field type {hint} is not supported")


def _build(cls, data: Any, where: str, prefix: str = ""):
    """Instantiate dataclass ``cls`` from a mapping, converting and checking every value."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: {prefix.rstrip('.') or 'config'}: expected a mapping of keys to values, "
                         f"got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - fields)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(prefix + k for k in unknown)} "
                         f"(known: {', '.join(sorted(fields))})")
    values = {key: _convert(value, hints[key], prefix + key, where) for key, value in data.items()}
    return cls(**values)


def _check_rules(config: Config, where: str) -> None:
    """Value rules a type cannot express; each failure names the key and the rule."""
    def fail(key: str, value, rule: str):
        raise InputError(f"{where}: {key}: {value!r} {rule}")

    for rules, test, text in ((POSITIVE_INTS, lambda v: v >= 1, "must be at least 1"),
                              (NON_NEGATIVE, lambda v: v >= 0, "must not be negative"),
                              (UNIT_INTERVAL, lambda v: 0 <= v <= 1, "must lie between 0 and 1")):
        for section, keys in rules.items():
            for key in keys:
                value = getattr(getattr(config, section), key)
                if not test(value):
                    fail(f"{section}.{key}", value, text)
    model, crop = config.model, config.crop
    if model.embed_dim % model.num_heads:
        fail("model.num_heads", model.num_heads, f"must divide model.embed_dim ({model.embed_dim})")
    for key in ("template_size", "search_size"):
        if getattr(crop, key) % model.patch_size:
            fail(f"crop.{key}", getattr(crop, key), f"must be a multiple of model.patch_size ({model.patch_size})")
    for key in ("template_factor", "search_factor"):
        if not getattr(crop, key) > 0:
            fail(f"crop.{key}", getattr(crop, key), "must be positive")
    bad_layers = [layer for layer in model.ce_layers if not 0 <= layer < model.depth]
    if bad_layers or len(set(model.ce_layers)) != len(model.ce_layers):
        fail("model.ce_layers", list(model.ce_layers), f"must be distinct block indices 0..{model.depth - 1}")
    if model.ce_layers and not model.ce_keep_ratio > 0:
        fail("model.ce_keep_ratio", model.ce_keep_ratio, "must be positive when model.ce_layers is set")
    check_device_name(config.train.device, f"{where}: train.device")
    _check_big_teacher(config.train, fail)
    for key in ("datasets", "val_datasets"):
        for index, entry in enumerate(getattr(config.train, key)):
            if not entry.ratio > 0:
                fail(f"train.{key}[{index}].ratio", entry.ratio, "must be positive")
            if normalize_name(entry.name) not in NAMES:
                fail(f"train.{key}[{index}].name", entry.name, f"is not a benchmark ({', '.join(NAMES + tuple(ALIASES))})")
            if entry.split not in SPLITS:
                fail(f"train.{key}[{index}].split", entry.split, f"is not a split ({', '.join(SPLITS)})")


def _check_big_teacher(train: TrainConfig, fail) -> None:
    """A big teacher needs a term to act through, and stage ``head`` can only use the score map."""
    if not train.big_teacher:
        if train.big_teacher_config:
            fail("train.big_teacher_config", train.big_teacher_config, "is set but train.big_teacher is empty")
        return
    if train.score_distill_weight == 0 and train.feature_distill_weight == 0:
        fail("train.big_teacher", train.big_teacher,
             "is set but train.score_distill_weight and train.feature_distill_weight are both 0")
    if train.stage == "head" and train.feature_distill_weight > 0:
        fail("train.feature_distill_weight", train.feature_distill_weight,
             "must be 0 in stage 'head' (frozen students: only the score map is distilled)")


def config_from_dict(data: Any, where: str = "config") -> Config:
    """A checked :class:`Config` from a mapping (a YAML file's content, or ``Config.to_dict()``
    output stored in a checkpoint)."""
    config = _build(Config, data, where)
    _check_rules(config, where)
    return config


def bundled_config_dir():
    return resources.files("ckdtrack") / CONFIG_FOLDER


def bundled_config_names() -> list[str]:
    return sorted(p.name[:-5] for p in bundled_config_dir().iterdir() if p.name.endswith(".yaml"))


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A bundled config name (``ckd_vitb``, ``ckd_vitb_mce``, ...) or a YAML file path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise InputError(f"{path}: config file not found")
        return path
    candidate = bundled_config_dir() / f"{text}.yaml"
    if not candidate.is_file():
        raise InputError(f"unknown config '{text}' (known: {', '.join(bundled_config_names())}; or a YAML path)")
    return Path(str(candidate))


def load_config(name_or_path: str | Path = "ckd_vitb") -> Config:
    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read config ({exc.__class__.__name__})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    data = {} if data is None else data
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return config_from_dict(data, str(path))


def config_for_weights(config: str | Path | Config | None, stored: Any, source: str | Path,
                       advice: str = "pass --config") -> Config:
    """The config to build a network for a weights file: the one given (name, path or object),
    else the one stored in the file (our exports carry one), else ``ckd_vitb`` (the published
    checkpoints store none). ``advice`` tells how the caller's user names another config."""
    if isinstance(config, Config):
        return config
    if config is not None:
        return load_config(config)
    if isinstance(stored, dict):
        return config_from_dict(stored, f"{source} (stored config; {advice} to override)")
    return load_config("ckd_vitb")


def run_show(args) -> int:
    """``ckdtrack config``: check a config and print it with every default filled in."""
    if args.name is None:
        print("\n".join(bundled_config_names()))
        return 0
    config = load_config(args.name)
    print(yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())
    return 0


def json_ready(value: Any) -> Any:
    """Tuples as lists, recursively: how YAML and JSON files spell sequences."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def register(subparsers) -> None:
    show = subparsers.add_parser("config", help="check a config and print it with its defaults (or list them)",
                                 description="Check a config (bundled name or YAML path) and print it in full.")
    show.add_argument("name", nargs="?", metavar="CONFIG", help="bundled config name or YAML path; omit to list")
    show.set_defaults(func=run_show)
