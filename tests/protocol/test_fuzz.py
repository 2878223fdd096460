"""Hypothesis throws random frames at a live agent process, which stays up and keeps serving."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.protocol import PROTOCOL_VERSION, encode
from agent.protocol import messages as m
from agent.protocol.framing import to_client_decoder
from tests.conftest import AgentProcess

TAGS = ["Hello", "Ping", "GetSnapshot", "Say", "TriggerExpression", "Nope", ""]
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
messages = st.builds(
    lambda tag, fields: {"type": tag, **fields},
    st.sampled_from(TAGS),
    st.dictionaries(st.sampled_from(["id", "text", "name", "token", "x"]), values, max_size=4),
)


@pytest.fixture(scope="module")
def live_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path_factory.mktemp("fuzz"), {"demo_chat": {"enabled": "off"}})
    process.start()
    yield process
    process.stop()


def hello_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(5)
    sock.connect(str(path))
    sock.sendall(
        encode(m.Hello(protocol_version=PROTOCOL_VERSION, client_name="fuzz", subscribe=False))
    )
    assert isinstance(read_message(sock), m.Welcome)
    return sock


def read_message(sock: socket.socket) -> m.ToClient:
    (size,) = struct.unpack(">I", recv_exactly(sock, 4))
    return to_client_decoder.decode(recv_exactly(sock, size))


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def assert_still_serving(path: Path) -> None:
    with hello_socket(path) as sock:
        sock.sendall(encode(m.Ping(id=99)))
        assert read_message(sock) == m.Ok(id=99, detail="pong")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.binary(max_size=300), with_hello=st.booleans())
def test_random_bytes(live_agent: AgentProcess, garbage: bytes, with_hello: bool) -> None:
    if with_hello:
        sock = hello_socket(live_agent.socket)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(live_agent.socket))
    with sock:
        sock.sendall(garbage)
    assert_still_serving(live_agent.socket)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=messages)
def test_random_messages_get_a_reply_and_the_session_goes_on(
    live_agent: AgentProcess, message: dict[str, object]
) -> None:
    body = msgspec.msgpack.encode(message)
    with hello_socket(live_agent.socket) as sock:
        sock.sendall(struct.pack(">I", len(body)) + body)
        reply = read_message(sock)
        assert isinstance(reply, m.Ok | m.Err)
        sock.sendall(encode(m.Ping(id=7)))
        while (answer := read_message(sock)) != m.Ok(id=7, detail="pong"):
            assert isinstance(answer, m.Ok | m.Err)  # replies to the random message's side effects
    assert_still_serving(live_agent.socket)
