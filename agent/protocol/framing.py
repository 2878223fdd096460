"""Length-prefixed msgpack frames: a 4-byte big-endian length, then one message.

Encoding is done once per message and the bytes are shared by every client that gets them.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgspec

from agent.protocol.messages import Request, ToClient

MAX_FRAME = 1024 * 1024
"""Largest message body accepted, in bytes. A bigger frame ends that connection."""

_HEADER = struct.Struct(">I")
_encoder = msgspec.msgpack.Encoder()
request_decoder: msgspec.msgpack.Decoder[Request] = msgspec.msgpack.Decoder(Request)
to_client_decoder: msgspec.msgpack.Decoder[ToClient] = msgspec.msgpack.Decoder(ToClient)


class FrameTooLarge(Exception):
    """The peer announced a frame above MAX_FRAME."""

    def __init__(self, size: int) -> None:
        super().__init__(f"frame of {size} bytes is over the {MAX_FRAME} byte limit")
        self.size = size


class _Envelope(msgspec.Struct):
    """What can still be read from a message that failed validation: its id, if any."""

    id: int = 0


_envelope_decoder = msgspec.msgpack.Decoder(_Envelope)


def encode(message: Any) -> bytes:
    """One whole frame (header and body) for a message."""
    body = _encoder.encode(message)
    if len(body) > MAX_FRAME:
        raise FrameTooLarge(len(body))
    return _HEADER.pack(len(body)) + body


def salvage_id(body: bytes) -> int:
    """The request id of a body that did not validate, or 0 when none can be read."""
    try:
        return _envelope_decoder.decode(body).id
    except msgspec.DecodeError:
        return 0


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> bytes:
    """The body of the next frame.

    Raises ``asyncio.IncompleteReadError`` at end of stream (clean when nothing was partially
    read: ``partial`` is empty) and ``FrameTooLarge`` before reading an oversized body.
    """
    header = await reader.readexactly(_HEADER.size)
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise FrameTooLarge(size)
    return await reader.readexactly(size)
