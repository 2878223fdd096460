"""The agent: wires the bus, state, store, control socket and services together.

``Agent.start`` returns once the socket accepts clients; ``Agent.stop`` stops intake, tells
clients why, flushes the store and closes. ``run_agent`` is the foreground daemon: signals,
systemd notifications and the exit code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets as token_source
import signal
import time
from pathlib import Path

from agent import __version__
from agent.bus import Bus
from agent.chat.dedupe import RecentIds
from agent.chat.demo import DemoChat
from agent.config import Config, hotkeys
from agent.config import state_dir as default_state_dir
from agent.director.actions import ActionRunner, UnknownExpression
from agent.logs import EventStreamHandler, attach_event_stream, detach_event_stream
from agent.protocol.endpoint import Endpoint, default_socket_path
from agent.protocol.messages import (
    ActionQueued,
    ActionUpdated,
    AgentStopping,
    ChatMessage,
    ChatReceived,
    ClientsChanged,
    Err,
    Event,
    GetSnapshot,
    HealthChanged,
    LogLine,
    LogRecorded,
    Ok,
    PadButton,
    Ping,
    Reply,
    Request,
    Say,
    ServiceHealth,
    Snapshot,
    TriggerExpression,
)
from agent.protocol.text import inert
from agent.secrets import Secrets, secret_values
from agent.server import ControlServer, Limits
from agent.state import AgentState
from agent.store import Store
from agent.supervisor import ServiceContext, Supervisor
from agent.systemd import Notifier

log = logging.getLogger(__name__)

STORE_FLUSH_SECONDS = 0.1
MAX_SAY_CHARS = 500

# Parts of the product whose connections are still to be built: the control room says how
# each is configured, and says plainly when a configured one does not run in this build yet.
UNCONFIGURED = {
    "twitch": "not configured: set [twitch] channel and client_id in config.toml",
    "obs": "not configured: set [obs] enabled = true (and AIRI_OBS_PASSWORD)",
    "midi": "not configured: set [midi] enabled = true (see `airi doctor` for ports)",
}
NOT_BUILT = "configured, but this airi version cannot connect it yet"


def _configured(config: Config) -> dict[str, bool]:
    return {
        "twitch": bool(config.twitch.channel),
        "obs": config.obs.enabled,
        "midi": config.midi.enabled,
    }


class Agent:
    def __init__(
        self,
        config: Config,
        secrets: Secrets | None = None,
        *,
        state_dir: Path | None = None,
        socket_path: Path | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.secrets = secrets or Secrets()
        self.state_dir = state_dir or default_state_dir()
        self.socket_path = socket_path or _socket_path(config)
        self.notifier = notifier or Notifier(None)
        self.bus = Bus()
        pad = [PadButton(key, name) for key, name in hotkeys(config)]
        self.state = AgentState(config.agent.name, __version__, config.store.chat_history, pad)
        self.store = Store(
            Path(config.store.path) if config.store.path else self.state_dir / "airi.sqlite3"
        )
        self.supervisor = Supervisor(self._publish_health)
        self.actions = ActionRunner(self.bus.publish, config.persona.expressions)
        self.server = ControlServer(
            self.bus,
            self.snapshot,
            self.handle,
            self.socket_path,
            Limits(config.control.client_queue, config.control.client_stall_seconds),
            tcp_port=config.control.tcp_port,
            token=self._tcp_token() if config.control.tcp_port else "",
        )
        self.server.on_clients_changed = lambda n: self.bus.publish(ClientsChanged(count=n))
        self._log_handler: EventStreamHandler | None = None
        self._seen_chat = RecentIds()
        self._stopped = asyncio.Event()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(path=str(self.socket_path))

    def snapshot(self) -> Snapshot:
        return self.state.snapshot(self.bus.seq)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, listen on the socket and start the services."""
        await self.store.open()
        for message in await self.store.recent_chat(self.config.store.chat_history):
            self.state.chat.append(message)
            self._seen_chat.first_time(message.platform, message.id)
        for action in await self.store.recent_actions(50):
            self.state.keep_action(action)
        self.bus.listen(self.state.apply)
        self.bus.listen(self._persist)
        await self.server.start()
        self._attach_log_stream()
        self.supervisor.report("control", "up", f"listening on {self.server.socket_path}")
        self.supervisor.start("store", self._flush_store)
        self.supervisor.start("stage", self.actions.run)
        if self.config.demo_chat_on:
            demo = DemoChat(
                self.receive_chat,
                self.config.persona.name,
                self.config.demo_chat.messages_per_minute,
                steady=self.config.demo_chat.pacing == "steady",
            )
            self.supervisor.start("demo_chat", demo.run)
        configured = _configured(self.config)
        for name, hint in UNCONFIGURED.items():
            self.supervisor.report(name, "off", NOT_BUILT if configured[name] else hint)
        self.supervisor.report(
            "llm", "off", "autonomous persona: set AIRI_OPENAI_API_KEY to add a model"
        )
        log.info("agent %s %s ready on %s", self.config.agent.name, __version__, self.socket_path)

    async def stop(self, reason: str = "stopped") -> None:
        """Stop intake, tell clients, flush the store, close. Safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("agent stopping: %s", reason)
        self.notifier.stopping()
        self.bus.publish(AgentStopping(reason=reason))
        await self.supervisor.stop("demo_chat")
        await self.supervisor.stop("stage")
        await self.server.close(grace=1.0)
        await self.supervisor.stop()
        await self.store.close()
        self._detach_log_stream()

    # --- inputs -----------------------------------------------------------------------------

    def receive_chat(self, message: ChatMessage) -> None:
        """A chat platform hands a viewer's message in. Its text is made inert first.

        A message delivered again (platforms deliver at least once) is dropped.
        """
        if not self._seen_chat.first_time(message.platform, message.id):
            return
        message.author = inert(message.author, 64)
        message.text = inert(message.text)
        self.bus.publish(ChatReceived(message=message))

    async def handle(self, request: Request) -> Reply:
        match request:
            case Ping():
                return Ok(id=request.id, detail="pong")
            case GetSnapshot():
                return Ok(id=request.id, snapshot=self.snapshot())
            case Say(text=text):
                return self._say(request.id, text)
            case TriggerExpression(name=name):
                try:
                    action = self.actions.express(name, "control")
                except UnknownExpression as exc:
                    return Err(id=request.id, code="bad_request", message=str(exc))
                return Ok(id=request.id, detail=action.id)
        return Err(
            id=request.id, code="unknown_request", message=f"{type(request).__name__} is not served"
        )

    def _say(self, request_id: int, text: str) -> Reply:
        line = inert(text.strip(), MAX_SAY_CHARS + 1)
        if not line:
            return Err(
                id=request_id, code="bad_request", message="nothing to say: the text is empty"
            )
        if len(line) > MAX_SAY_CHARS:
            return Err(
                id=request_id,
                code="bad_request",
                message=f"too long: at most {MAX_SAY_CHARS} characters",
            )
        return Ok(id=request_id, detail=self.actions.say(line, "control").id)

    # --- services ---------------------------------------------------------------------------

    async def _flush_store(self, ctx: ServiceContext) -> None:
        ctx.up(str(self.store.path))
        while True:
            await asyncio.sleep(STORE_FLUSH_SECONDS)
            await self.store.flush()

    def _persist(self, event: Event) -> None:
        match event:
            case ChatReceived(message=message):
                self.store.add_chat(message)
            case ActionQueued(action=action) | ActionUpdated(action=action):
                self.store.put_action(action)

    def _publish_health(self, health: ServiceHealth) -> None:
        self.bus.publish(HealthChanged(health=health))

    def _attach_log_stream(self) -> None:
        loop = asyncio.get_running_loop()
        handler = EventStreamHandler(loop, self._publish_log, secret_values(self.secrets))
        attach_event_stream(handler, self.config.agent.log_level)
        self._log_handler = handler

    def _publish_log(self, line: LogLine) -> None:
        if not self._stopped.is_set():
            self.bus.publish(LogRecorded(line=line))

    def _detach_log_stream(self) -> None:
        if self._log_handler is not None:
            detach_event_stream(self._log_handler)
            self._log_handler = None

    def _tcp_token(self) -> str:
        if self.secrets.control_token:
            return self.secrets.control_token
        path = (
            Path(self.config.control.token_file)
            if self.config.control.token_file
            else self.state_dir / "control.token"
        )
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = token_source.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token


def _socket_path(config: Config) -> Path:
    return Path(config.control.socket) if config.control.socket else default_socket_path()


# --- the foreground daemon -----------------------------------------------------------------


async def serve(agent: Agent) -> None:
    """Run until SIGTERM or SIGINT, keeping systemd informed."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.start()
    agent.notifier.ready(f"serving on {agent.socket_path}")
    watchdog = asyncio.create_task(_keep_systemd_informed(agent), name="watchdog")
    try:
        await stop.wait()
    finally:
        watchdog.cancel()
        await agent.stop("received a stop signal")
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _keep_systemd_informed(agent: Agent) -> None:
    interval = agent.notifier.watchdog_interval
    status_every = 10.0
    last_status = 0.0
    while True:
        now = time.monotonic()
        if interval:
            agent.notifier.watchdog()
        if now - last_status >= status_every:
            agent.notifier.status(_status_line(agent))
            last_status = now
        await asyncio.sleep(min(interval or status_every, status_every))


def _status_line(agent: Agent) -> str:
    health = agent.state.health.values()
    down = [h.name for h in health if h.state in ("down", "degraded")]
    clients = agent.server.client_count
    return f"{clients} client(s) attached; " + (
        f"trouble: {', '.join(down)}" if down else "all services up"
    )
