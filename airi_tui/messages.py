"""Messages the whole app shares: what the link to the agent reports.

Widget-local messages (a pad button fired, a line submitted) live in their widget's class.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from agent.protocol.messages import Event, Welcome


@dataclass
class LinkAttached(Message):
    """A session began; ``welcome.snapshot`` is the agent's whole current state."""

    welcome: Welcome


@dataclass
class LinkDetached(Message):
    """No session: why, and when the next attempt comes (never, when ``fatal``)."""

    reason: str
    retry_in: float
    fatal: bool = False


@dataclass
class EventsArrived(Message):
    """A batch of events, in order, gathered since the previous batch."""

    events: list[Event]
