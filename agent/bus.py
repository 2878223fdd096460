"""The event bus: every fact the agent learns is an Event, numbered and fanned out here.

An event is encoded once and the same bytes go to every attached client, so fan-out costs one
encode plus an append per client. In-process listeners (the state, the store) see the Struct.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from agent.protocol.framing import encode
from agent.protocol.messages import Event

log = logging.getLogger(__name__)


class Sink(Protocol):
    """A client session's outbound queue. ``push`` must never block."""

    def push(self, frame: bytes) -> None: ...


class Bus:
    def __init__(self) -> None:
        self.seq = 0
        self._listeners: list[Callable[[Event], None]] = []
        self._sinks: set[Sink] = set()

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every event, in order, before clients get it."""
        self._listeners.append(listener)

    def attach(self, sink: Sink) -> None:
        self._sinks.add(sink)

    def detach(self, sink: Sink) -> None:
        self._sinks.discard(sink)

    @property
    def sink_count(self) -> int:
        return len(self._sinks)

    def publish(self, event: Event) -> None:
        """Number the event, let listeners apply it, and queue it for every attached client."""
        self.seq += 1
        event.seq = self.seq
        for listener in self._listeners:
            listener(event)
        if self._sinks:
            frame = encode(event)
            for sink in self._sinks:
                sink.push(frame)
