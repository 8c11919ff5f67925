"""The `none` filter: nothing is checked, every clip passes."""

from __future__ import annotations

from ..interfaces import ObjectFilter
from ..models import Clip, FilterResult


class PassthroughFilter(ObjectFilter):
    """Lets every clip through without looking at it."""

    name = "none"

    async def detect(self, clip: Clip) -> FilterResult:
        return FilterResult(
            detected_classes=(),
            best_confidence={},
            detections=(),
            frames_sampled=0,
            model="none",
            duration_ms=0,
            passthrough=True,
        )
