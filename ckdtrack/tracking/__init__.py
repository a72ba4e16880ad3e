"""Online RGB-T tracking: the GOT-10k style tracker API and sequence runners.

``CKDTracker`` and ``TrackResult`` are loaded on first use, so that importing the command
modules of this package does not import torch.
"""

__all__ = ["CKDTracker", "TrackResult"]


def __getattr__(name: str):
    if name in __all__:
        from . import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
