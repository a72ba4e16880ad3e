"""Online RGB-T tracking: the GOT-10k style tracker API and sequence runners."""

from .tracker import CKDTracker, TrackResult

__all__ = ["CKDTracker", "TrackResult"]
