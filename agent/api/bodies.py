"""What REST requests carry and what the API answers: msgspec Structs, one per shape.

These Structs are the only declaration of the bodies: requests are decoded (and refused with
the reason) through them, answers are encoded from them, and the OpenAPI document's schemas
are generated from them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from agent.protocol.messages import Action, ApprovalGate, Mode, ServiceHealth

MAX_LINE = 500
MAX_PROMPT = 2000

Line = Annotated[
    str,
    Meta(min_length=1, max_length=MAX_LINE, description="A line to say, at most 500 characters."),
]
Name = Annotated[str, Meta(min_length=1, max_length=64)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


# --- requests ------------------------------------------------------------------------------


class SayBody(_Body):
    """Have the AI say this line (it goes through the queue and its approval gate)."""

    text: Line


class GenerateBody(_Body):
    """Have the AI answer this prompt in its own words, through the reply chain."""

    prompt: Annotated[str, Meta(min_length=1, max_length=MAX_PROMPT)]


class ExpressionBody(_Body):
    """Show this expression (one of the persona's expressions)."""

    name: Name


class MotionBody(_Body):
    """Play this avatar motion."""

    name: Name


class SceneBody(_Body):
    """Switch OBS to this scene (after the current sentence)."""

    name: Name


class EditBody(_Body):
    """The new text of a waiting line."""

    text: Line


class MoveBody(_Body):
    """Move a waiting action this many places earlier (< 0) or later (> 0)."""

    offset: Annotated[int, Meta(ge=-1000, le=1000)]


class ModeBody(_Body):
    """Who writes the answers: the LLM providers, the offline persona, or an external brain."""

    mode: Mode


# --- answers -------------------------------------------------------------------------------


class Problem(msgspec.Struct):
    """Why a request was refused, in words for the person who wrote the script."""

    error: str


class Queued(msgspec.Struct):
    """The action was taken in; ``GET /v1/queue`` shows whether it waits for approval."""

    action_id: str


class Done(msgspec.Struct):
    """What the agent did."""

    detail: str


class Generating(msgspec.Struct):
    """The answer is being written; its lines enter the queue as they are complete."""

    detail: str


class QueueListing(msgspec.Struct):
    """What waits or runs now, in the order it will run (the running action first)."""

    actions: list[Action]


class ProviderSummary(msgspec.Struct):
    """One LLM provider: name, model and state (never a key)."""

    name: str
    model: str
    state: str


class Status(msgspec.Struct):
    """How the agent is doing: a subset of its snapshot, without chat, logs or secrets."""

    agent_name: str
    agent_version: str
    started_at: float
    mode: Mode
    dry_run: bool
    approval: dict[str, ApprovalGate]
    queue_length: int
    expression: str
    caption: str
    clients: int
    external_brain: bool
    """True while an external brain is connected to ``/v1/external``."""
    health: list[ServiceHealth]
    providers: list[ProviderSummary]
