"""The wire contract between the agent and its clients: msgspec + the standard library only."""

from agent.protocol.client import (
    AgentError,
    Attached,
    Backoff,
    Connection,
    ConnectionLost,
    Detached,
    FatalLinkError,
    LinkUpdate,
    client_name,
    explain,
    follow,
)
from agent.protocol.endpoint import Endpoint, default_socket_path, runtime_dir
from agent.protocol.framing import MAX_FRAME, FrameTooLarge, encode, read_frame
from agent.protocol.messages import *  # noqa: F403
from agent.protocol.messages import PROTOCOL_VERSION
from agent.protocol.text import inert

__all__ = [
    "MAX_FRAME",
    "PROTOCOL_VERSION",
    "AgentError",
    "Attached",
    "Backoff",
    "Connection",
    "ConnectionLost",
    "Detached",
    "Endpoint",
    "FatalLinkError",
    "FrameTooLarge",
    "LinkUpdate",
    "client_name",
    "default_socket_path",
    "encode",
    "explain",
    "follow",
    "inert",
    "read_frame",
    "runtime_dir",
]
