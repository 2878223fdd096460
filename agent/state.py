"""The agent's current state as clients see it, kept up to date from the bus."""

from __future__ import annotations

import os
import time
from collections import OrderedDict, deque

from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionUpdated,
    CaptionShown,
    ChainsChanged,
    ChatMessage,
    ChatReceived,
    ClientsChanged,
    Event,
    ExpressionChanged,
    HealthChanged,
    LogLine,
    LogRecorded,
    PadButton,
    ProviderChanged,
    ProviderStatus,
    ServiceHealth,
    Snapshot,
)

MAX_ACTIONS = 100
MAX_LOGS = 200


class AgentState:
    """Recent chat, actions, health, expression, caption and logs: what a snapshot holds."""

    def __init__(self, name: str, version: str, chat_history: int, pad: list[PadButton]) -> None:
        self.name = name
        self.version = version
        self.started_at = time.time()
        self.mode = "autonomous"
        self.pad = pad
        self.chat: deque[ChatMessage] = deque(maxlen=chat_history)
        self.actions: OrderedDict[str, Action] = OrderedDict()
        self.health: dict[str, ServiceHealth] = {}
        self.expression = ""
        self.caption = ""
        self.logs: deque[LogLine] = deque(maxlen=MAX_LOGS)
        self.clients = 0
        self.providers: dict[str, ProviderStatus] = {}  # in configuration order
        self.chains: dict[str, list[str]] = {}

    def apply(self, event: Event) -> None:
        match event:
            case ChatReceived(message=message):
                self.chat.append(message)
            case ActionQueued(action=action) | ActionUpdated(action=action):
                self.keep_action(action)
            case ExpressionChanged(name=name):
                self.expression = name
            case CaptionShown(text=text):
                self.caption = text
            case HealthChanged(health=health):
                self.health[health.name] = health
            case LogRecorded(line=line):
                self.logs.append(line)
            case ClientsChanged(count=count):
                self.clients = count
            case ProviderChanged(status=status):
                self.providers[status.name] = status
            case ChainsChanged(chains=chains):
                self.chains = chains

    def keep_action(self, action: Action) -> None:
        self.actions[action.id] = action
        self.actions.move_to_end(action.id)
        while len(self.actions) > MAX_ACTIONS:
            self.actions.popitem(last=False)

    def snapshot(self, seq: int) -> Snapshot:
        return Snapshot(
            agent_name=self.name,
            agent_version=self.version,
            pid=os.getpid(),
            started_at=self.started_at,
            mode=self.mode,
            seq=seq,
            chat=list(self.chat),
            actions=list(self.actions.values()),
            health=sorted(self.health.values(), key=lambda h: h.name),
            pad=self.pad,
            expression=self.expression,
            caption=self.caption,
            logs=list(self.logs),
            clients=self.clients,
            providers=list(self.providers.values()),
            chains=self.chains,
        )
