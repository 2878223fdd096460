"""The messages of the control socket: requests, replies and events.

Every message is a msgspec Struct tagged by its class name in the ``type`` field, so a frame
says what it is. Requests are imperatives and carry an ``id`` that the reply echoes; events are
past-tense facts carrying a ``seq`` that rises by one per event the agent publishes.
"""

from __future__ import annotations

from typing import Literal

import msgspec

PROTOCOL_VERSION = 2
"""Bumped on any change a client of the previous version would misread.

2: the LLM providers (``Snapshot.providers``/``chains``, ``ProviderChanged``,
``ProviderRequestDone``, ``SetProviderEnabled``, ``ProbeProvider``, ``MoveProvider``).
"""


# gc=False: messages hold only strings, numbers and other messages, never a cycle, so the
# garbage collector need not track the thousands a chat flood creates per second.
class _Tagged(
    msgspec.Struct, tag_field="type", tag=True, omit_defaults=True, kw_only=True, gc=False
):
    pass


# --- state shared by the snapshot and the events -------------------------------------------

HealthState = Literal["starting", "up", "degraded", "down", "off"]
ActionState = Literal[
    "pending", "queued", "running", "done", "failed", "skipped", "rejected", "interrupted"
]
"""pending: waits for an operator's approval. queued: approved, waits its turn. interrupted:
stopped while running (the kill switch, a skip). skipped: never ran (cleared, expired)."""
ApprovalGate = Literal["auto", "approve", "flagged"]
"""auto: straight to the queue. approve: every action waits for an operator. flagged: only
actions moderation flagged or that answer a first-time viewer wait."""
Mode = Literal["llm", "autonomous", "external"]


class ChatMessage(msgspec.Struct, omit_defaults=True, gc=False):
    """One chat line as the agent received it. ``text`` and ``author`` are untrusted."""

    id: str
    platform: str
    author: str
    text: str
    ts: float
    badges: list[str] = []
    demo: bool = False
    """True for the simulated viewers of the demo chat."""


class Action(msgspec.Struct, omit_defaults=True, gc=False):
    """Something the AI does or is about to do (speak a line, show an expression).

    Waiting actions run in the order of (-priority, order); ``kind`` is say, expression,
    motion, scene, command or wait.
    """

    id: str
    kind: str
    detail: str
    source: str
    state: ActionState
    ts: float
    error: str = ""
    priority: int = 0
    order: float = 0.0
    flagged: str = ""
    """Why the action waits for approval under a ``flagged`` gate (empty: not flagged)."""
    turn: str = ""
    """Actions of one answer share a turn id (its sentences, its expressions)."""


class MemoryEntry(msgspec.Struct, omit_defaults=True, gc=False):
    """Something the co-host remembers: a summary of the show, or a fact about a viewer."""

    id: int
    kind: str
    text: str
    ts: float
    viewer: str = ""


class DirectorStatus(msgspec.Struct, omit_defaults=True, gc=False):
    """How the director runs now: the mode, dry run, and the approval gate of each source."""

    mode: Mode = "llm"
    dry_run: bool = False
    approval: dict[str, ApprovalGate] = {}
    """Source (chat, idle, control, command, rest, external, midi) to its gate."""


class ServiceHealth(msgspec.Struct, omit_defaults=True, gc=False):
    """Health of one part of the agent, as the supervisor or the part itself reports it."""

    name: str
    state: HealthState
    detail: str = ""
    since: float = 0.0
    restarts: int = 0


class PadButton(msgspec.Struct, gc=False):
    """One button of the expression pad: the hotkey that fires it and the expression."""

    key: str
    expression: str


class LogLine(msgspec.Struct, omit_defaults=True, gc=False):
    ts: float
    level: str
    logger: str
    message: str


ProviderState = Literal["up", "degraded", "open", "disabled", "misconfigured", "idle"]
"""idle: configured and allowed, but not asked anything yet."""


class ProviderStatus(msgspec.Struct, omit_defaults=True, gc=False):
    """One configured LLM provider as the providers panel shows it. Never holds a key."""

    name: str
    preset: str
    model: str
    state: ProviderState
    local: bool = False
    enabled: bool = True
    requests: int = 0
    failures: int = 0
    """Requests that failed on this provider (failed over, cut, misconfigured)."""
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    tokens_per_second: float | None = None
    """Median output rate over recent answers."""
    input_tokens: int = 0
    output_tokens: int = 0
    spend: float | None = None
    """US dollars this session; None when the model's price is unknown."""
    last_error: str = ""
    recent_ttft: list[float] = []
    """Seconds to first token of the latest answers, oldest first, for the sparkline."""


class ProviderRequest(msgspec.Struct, omit_defaults=True, gc=False):
    """How one provider did on one request: sizes and timings, never the prompt or a key."""

    role: str
    provider: str
    model: str
    outcome: str
    """ok, failed_over, cut, misconfigured, refused_by_breaker, rate_limited, hedge_lost."""
    ts: float
    attempts: int = 0
    ttft: float | None = None
    duration: float = 0.0
    tokens_per_second: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    reason: str = ""


class Snapshot(msgspec.Struct, omit_defaults=True, gc=False):
    """The whole current state, enough for a client to redraw without replaying history."""

    agent_name: str
    agent_version: str
    pid: int
    started_at: float
    mode: str
    seq: int
    """The seq of the last event published before this snapshot was taken."""
    chat: list[ChatMessage] = []
    actions: list[Action] = []
    health: list[ServiceHealth] = []
    pad: list[PadButton] = []
    expression: str = ""
    caption: str = ""
    logs: list[LogLine] = []
    clients: int = 0
    providers: list[ProviderStatus] = []
    chains: dict[str, list[str]] = {}
    """Role (reply, idle, summarize, moderate) to provider names, in the order tried."""
    queue: list[Action] = []
    """What waits or runs now (pending, queued, running), in the order it will run."""
    director: DirectorStatus = msgspec.field(default_factory=DirectorStatus)


# --- requests: client to agent -------------------------------------------------------------


class Hello(_Tagged):
    """First frame of every session. ``token`` is required on TCP, ignored on the unix socket."""

    protocol_version: int
    client_name: str
    id: int = 0
    token: str = ""
    subscribe: bool = True
    """False for one-shot clients (``airi ctl say``) that want no event stream."""


class Ping(_Tagged):
    id: int = 0


class GetSnapshot(_Tagged):
    id: int = 0


class Say(_Tagged):
    """Have the AI say this line (captions now, speech when a voice is configured)."""

    text: str
    id: int = 0


class TriggerExpression(_Tagged):
    """Show this expression on the avatar."""

    name: str
    id: int = 0


class SetProviderEnabled(_Tagged):
    """Let a provider take requests again, or stop sending it any (live, no restart)."""

    name: str
    enabled: bool
    id: int = 0


class ProbeProvider(_Tagged):
    """Check a provider now with a cheap call; Ok.detail says how long it took."""

    name: str
    id: int = 0


class MoveProvider(_Tagged):
    """Move a provider up (``offset`` < 0) or down its chains; ``role`` empty: every chain."""

    name: str
    offset: int
    role: str = ""
    id: int = 0


class ApproveAction(_Tagged):
    """Let a pending action into the queue."""

    action_id: str
    id: int = 0


class RejectAction(_Tagged):
    action_id: str
    id: int = 0


class EditAction(_Tagged):
    """Change what a waiting line says before it is said."""

    action_id: str
    text: str
    id: int = 0


class MoveAction(_Tagged):
    """Move a waiting action ``offset`` places earlier (< 0) or later (> 0) in the queue."""

    action_id: str
    offset: int
    id: int = 0


class SkipCurrent(_Tagged):
    """Stop what runs now (the line being said) and go on with the next."""

    id: int = 0


class Interrupt(_Tagged):
    """The kill switch: stop speech now and clear every pending AI action."""

    id: int = 0


class SetMode(_Tagged):
    mode: Mode
    id: int = 0


class SetApproval(_Tagged):
    """Change one source's approval gate, live."""

    source: str
    gate: ApprovalGate
    id: int = 0


class RecallMemory(_Tagged):
    """What the co-host remembers about ``query`` (and ``viewer``); empty query: the newest."""

    query: str = ""
    viewer: str = ""
    limit: int = 20
    id: int = 0


class ForgetMemory(_Tagged):
    """Forget one entry, or (``viewer``) everything about a viewer and their chat lines."""

    entry_id: int = 0
    viewer: str = ""
    id: int = 0


class SetDryRun(_Tagged):
    """Dry run: actions go through the queue but nothing leaves the box."""

    enabled: bool
    id: int = 0


Request = (
    Hello
    | Ping
    | GetSnapshot
    | Say
    | TriggerExpression
    | SetProviderEnabled
    | ProbeProvider
    | MoveProvider
    | ApproveAction
    | RejectAction
    | EditAction
    | MoveAction
    | SkipCurrent
    | Interrupt
    | SetMode
    | SetApproval
    | SetDryRun
    | RecallMemory
    | ForgetMemory
)


# --- replies: agent to client, echoing the request's id ------------------------------------


class Welcome(_Tagged):
    """The agent's answer to Hello."""

    id: int
    agent_version: str
    protocol_version: int
    snapshot: Snapshot


class Ok(_Tagged):
    id: int
    detail: str = ""
    snapshot: Snapshot | None = None
    memory: list[MemoryEntry] | None = None
    """The entries a RecallMemory found."""


ErrorCode = Literal[
    "bad_request",
    "unknown_request",
    "frame_too_large",
    "protocol_mismatch",
    "unauthorized",
    "not_ready",
    "failed",
]


class Err(_Tagged):
    id: int
    code: ErrorCode
    message: str


Reply = Welcome | Ok | Err


# --- events: agent to client, past-tense facts ---------------------------------------------


class ChatReceived(_Tagged):
    message: ChatMessage
    seq: int = 0


class ActionQueued(_Tagged):
    action: Action
    seq: int = 0


class ActionUpdated(_Tagged):
    action: Action
    seq: int = 0


class ExpressionChanged(_Tagged):
    name: str
    source: str
    seq: int = 0


class CaptionShown(_Tagged):
    """The line the AI is saying now, as the audience's captions show it."""

    text: str
    seq: int = 0


class HealthChanged(_Tagged):
    health: ServiceHealth
    seq: int = 0


class ProviderChanged(_Tagged):
    """A provider's state or figures changed (after a request, a probe, a switch)."""

    status: ProviderStatus
    seq: int = 0


class ProviderRequestDone(_Tagged):
    request: ProviderRequest
    seq: int = 0


class DirectorChanged(_Tagged):
    """The mode, dry run or an approval gate changed."""

    status: DirectorStatus
    seq: int = 0


class ChainsChanged(_Tagged):
    chains: dict[str, list[str]]
    seq: int = 0


class LogRecorded(_Tagged):
    line: LogLine
    seq: int = 0


class ClientsChanged(_Tagged):
    count: int
    seq: int = 0


class AgentStopping(_Tagged):
    """The agent is shutting down on purpose; a client should expect the socket to close."""

    reason: str
    seq: int = 0


class Gap(_Tagged):
    """This client fell behind and ``missed`` events were dropped; ``snapshot`` is current."""

    missed: int
    snapshot: Snapshot
    seq: int = 0


Event = (
    ChatReceived
    | ActionQueued
    | ActionUpdated
    | ExpressionChanged
    | CaptionShown
    | HealthChanged
    | ProviderChanged
    | ProviderRequestDone
    | ChainsChanged
    | DirectorChanged
    | LogRecorded
    | ClientsChanged
    | AgentStopping
    | Gap
)

ToClient = Reply | Event
"""Everything the agent may send."""
