"""Every message survives the wire; bad frames are refused the way DESIGN.md says."""

from __future__ import annotations

import asyncio
import struct
import typing

import msgspec
import pytest

from agent.protocol import messages as m
from agent.protocol.framing import (
    MAX_FRAME,
    FrameTooLarge,
    encode,
    read_frame,
    request_decoder,
    salvage_id,
    to_client_decoder,
)

CHAT = m.ChatMessage(
    id="1", platform="twitch", author="viewer", text="hi [b]x[/b]", ts=1.5, badges=["vip"]
)
ACTION = m.Action(
    id="a1",
    kind="say",
    detail="hello",
    source="ai:reply",
    state="pending",
    ts=2.0,
    priority=40,
    order=3.0,
    flagged="answers a first-time viewer",
    turn="t1",
)
HEALTH = m.ServiceHealth("obs", "down", "refused", since=3.0, restarts=2)
SNAPSHOT = m.Snapshot(
    agent_name="airi",
    agent_version="0.1.0",
    pid=42,
    started_at=1.0,
    mode="autonomous",
    seq=7,
    chat=[CHAT],
    actions=[ACTION],
    health=[HEALTH],
    pad=[m.PadButton("1", "happy")],
    expression="happy",
    caption="hello",
    logs=[m.LogLine(ts=1.0, level="info", logger="airi", message="up")],
    clients=2,
    providers=[
        m.ProviderStatus(
            name="groq",
            preset="groq",
            model="llama",
            state="up",
            requests=3,
            ttft_p50=0.2,
            ttft_p95=0.4,
            spend=0.0012,
            recent_ttft=[0.2, 0.3],
        )
    ],
    chains={"reply": ["groq", "autonomous"]},
)
PROVIDER_REQUEST = m.ProviderRequest(
    role="reply",
    provider="groq",
    model="llama",
    outcome="ok",
    ts=3.0,
    ttft=0.2,
    tokens_per_second=80.0,
    input_tokens=120,
    output_tokens=40,
    cost=None,
)

REQUESTS = [
    m.Hello(protocol_version=m.PROTOCOL_VERSION, client_name="tui", token="t", subscribe=False),
    m.Ping(id=1),
    m.GetSnapshot(id=2),
    m.Say(text="hello chat", id=3),
    m.TriggerExpression(name="happy", id=4),
    m.SetProviderEnabled(name="groq", enabled=False, id=5),
    m.ProbeProvider(name="groq", id=6),
    m.MoveProvider(name="groq", offset=-1, role="reply", id=7),
    m.ApproveAction(action_id="a1", id=8),
    m.RejectAction(action_id="a1", id=9),
    m.EditAction(action_id="a1", text="hello [b]chat[/b]", id=10),
    m.MoveAction(action_id="a1", offset=2, id=11),
    m.SkipCurrent(id=12),
    m.Interrupt(id=13),
    m.SetMode(mode="external", id=14),
    m.SetApproval(source="chat", gate="flagged", id=15),
    m.SetDryRun(enabled=True, id=16),
    m.RecallMemory(query="cat", viewer="tea_enjoyer", limit=5, id=17),
    m.ForgetMemory(viewer="private_person", id=18),
]
TO_CLIENT = [
    m.Welcome(id=0, agent_version="0.1.0", protocol_version=1, snapshot=SNAPSHOT),
    m.Ok(id=5, detail="a1"),
    m.Ok(id=6, snapshot=SNAPSHOT),
    m.Ok(id=7, memory=[m.MemoryEntry(id=1, kind="fact", text="has a cat", ts=1.0, viewer="v")]),
    m.Err(id=7, code="bad_request", message="nope"),
    m.ChatReceived(message=CHAT, seq=1),
    m.ActionQueued(action=ACTION, seq=2),
    m.ActionUpdated(action=ACTION, seq=3),
    m.ExpressionChanged(name="happy", source="pad", seq=4),
    m.CaptionShown(text="hello", seq=5),
    m.HealthChanged(health=HEALTH, seq=6),
    m.ProviderChanged(status=SNAPSHOT.providers[0], seq=6),
    m.ProviderRequestDone(request=PROVIDER_REQUEST, seq=6),
    m.ChainsChanged(chains={"reply": ["autonomous"]}, seq=6),
    m.DirectorChanged(status=m.DirectorStatus(mode="autonomous", approval={"chat": "approve"})),
    m.LogRecorded(line=m.LogLine(ts=1.0, level="warning", logger="x", message="y"), seq=7),
    m.ClientsChanged(count=3, seq=8),
    m.AgentStopping(reason="SIGTERM", seq=9),
    m.Gap(missed=10, snapshot=SNAPSHOT, seq=10),
]


def test_the_lists_above_cover_every_message_type() -> None:
    assert {type(x) for x in REQUESTS} == set(typing.get_args(m.Request))
    assert {type(x) for x in TO_CLIENT} == set(typing.get_args(m.ToClient))


@pytest.mark.parametrize("message", REQUESTS, ids=lambda x: type(x).__name__)
def test_requests_round_trip(message: m.Request) -> None:
    frame = encode(message)
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4
    assert request_decoder.decode(frame[4:]) == message


@pytest.mark.parametrize("message", TO_CLIENT, ids=lambda x: type(x).__name__)
def test_replies_and_events_round_trip(message: m.ToClient) -> None:
    assert to_client_decoder.decode(encode(message)[4:]) == message


def test_unknown_tag_is_rejected_with_a_readable_reason() -> None:
    body = msgspec.msgpack.encode({"type": "FormatDisk", "id": 9})
    with pytest.raises(msgspec.ValidationError, match="FormatDisk"):
        request_decoder.decode(body)
    assert salvage_id(body) == 9


def test_wrong_field_type_is_rejected() -> None:
    body = msgspec.msgpack.encode({"type": "Say", "id": 3, "text": 12})
    with pytest.raises(msgspec.ValidationError, match="text"):
        request_decoder.decode(body)


def test_encoding_an_oversized_message_refuses() -> None:
    with pytest.raises(FrameTooLarge):
        encode(m.Say(text="x" * (MAX_FRAME + 1)))


async def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_truncated_frame_is_an_incomplete_read() -> None:
    frame = encode(m.Ping(id=1))
    with pytest.raises(asyncio.IncompleteReadError):
        await read_frame(await _reader(frame[:-1]))
    with pytest.raises(asyncio.IncompleteReadError):
        await read_frame(await _reader(frame[:2]))


async def test_oversized_header_is_refused_before_reading_the_body() -> None:
    reader = await _reader(struct.pack(">I", MAX_FRAME + 1))
    with pytest.raises(FrameTooLarge):
        await read_frame(reader)


async def test_frames_read_back_in_order() -> None:
    reader = await _reader(b"".join(encode(x) for x in REQUESTS))
    got = [request_decoder.decode(await read_frame(reader)) for _ in REQUESTS]
    assert got == REQUESTS
