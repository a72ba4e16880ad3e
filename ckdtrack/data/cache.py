"""Optional pre-decoded frame cache: memory-mapped ``.npy`` files instead of JPEG decoding.

Decoding four JPEGs dominates the cost of a training sample. :class:`FrameCache` decodes every
frame once into one uint8 ``.npy`` file per sequence and modality, then serves frames as
memory-mapped views, so a training crop touches only the pages it needs and the OS page cache
is shared by all DataLoader workers. The price is disk space: raw pixels are about 10x larger than
JPEGs (LasHeR's 640x480 frames take 0.9 MB each), so use it for small datasets or fast local
disks. Pass the cache as ``frame_reader`` to :class:`ckdtrack.data.sampler.RGBTPairDataset`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from .sequence import RGBTSequence, read_image

INDEX_FILE = "index.json"


class FrameCache:
    """Frame reader backed by memory-mapped arrays; frames not in the cache are decoded as usual."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        index_path = self.folder / INDEX_FILE
        if not index_path.is_file():
            raise InputError(f"{self.folder}: not a frame cache (no {INDEX_FILE}); build one with FrameCache.build")
        self._index: dict[str, tuple[str, int]] = {k: tuple(v) for k, v in json.loads(index_path.read_text()).items()}
        self._arrays: dict[str, np.ndarray] = {}

    @classmethod
    def build(cls, sequences: Sequence[RGBTSequence], folder: str | Path) -> "FrameCache":
        """Decode every frame of ``sequences`` into ``folder`` (one array per sequence and modality)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, tuple[str, int]] = {}
        for number, sequence in enumerate(sequences):
            for modality, frames in (("visible", sequence.visible_frames), ("thermal", sequence.thermal_frames)):
                if not frames:
                    raise InputError(f"{sequence.name}: no frames to cache (opened with annotations_only?)")
                first = read_image(frames[0])
                file_name = f"{number:05d}_{modality}.npy"
                array = np.lib.format.open_memmap(folder / file_name, mode="w+", dtype=np.uint8,
                                                  shape=(len(frames),) + first.shape)
                for row, path in enumerate(frames):
                    image = first if row == 0 else read_image(path)
                    if image.shape != first.shape:
                        raise InputError(f"{path}: frame size {image.shape[:2]} differs from {first.shape[:2]} in {sequence.name}")
                    array[row] = image
                    index[str(Path(path))] = (file_name, row)
                array.flush()
                del array
        (folder / INDEX_FILE).write_text(json.dumps(index))
        return cls(folder)

    def __call__(self, path: str | Path) -> np.ndarray:
        entry = self._index.get(str(Path(path)))
        if entry is None:
            return read_image(path)
        file_name, row = entry
        array = self._arrays.get(file_name)
        if array is None:
            array = self._arrays[file_name] = np.load(self.folder / file_name, mmap_mode="r")
        return array[row]

    def __contains__(self, path) -> bool:
        return str(Path(path)) in self._index

    def __getstate__(self):
        # Worker processes open their own memory maps.
        return {"folder": self.folder, "_index": self._index, "_arrays": {}}
