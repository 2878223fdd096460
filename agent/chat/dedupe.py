"""Chat platforms deliver at least once: a message seen again must not show or store twice."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """Remembers the last ``size`` message keys, forgetting the oldest first."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._order: deque[tuple[str, str]] = deque()
        self._seen: set[tuple[str, str]] = set()

    def first_time(self, platform: str, message_id: str) -> bool:
        """True the first time this message is seen (and from then on remembered)."""
        key = (platform, message_id)
        if key in self._seen:
            return False
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > self.size:
            self._seen.discard(self._order.popleft())
        return True
