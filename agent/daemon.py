"""The agent: wires the bus, state, store, control socket and services together.

``Agent.start`` returns once the socket accepts clients; ``Agent.stop`` stops intake, tells
clients why, flushes the store and closes. ``run_agent`` is the foreground daemon: signals,
systemd notifications and the exit code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

from agent import __version__
from agent.bus import Bus
from agent.chat.dedupe import RecentIds
from agent.chat.demo import DemoChat
from agent.config import Config, hotkeys
from agent.config import state_dir as default_state_dir
from agent.director.actions import Performers
from agent.director.brain import Brain
from agent.director.memory import Memory, Summarizer
from agent.director.queue import (
    ActionQueue,
    NotAllowed,
    QueueFull,
    UnknownAction,
    UnknownExpression,
)
from agent.logs import EventStreamHandler, attach_event_stream, detach_event_stream
from agent.protocol.endpoint import Endpoint, default_socket_path
from agent.protocol.messages import (
    ActionQueued,
    ActionUpdated,
    AgentStopping,
    ApproveAction,
    ChainsChanged,
    ChatMessage,
    ChatReceived,
    ClientsChanged,
    EditAction,
    Err,
    Event,
    ForgetMemory,
    GetSnapshot,
    HealthChanged,
    Interrupt,
    LogLine,
    LogRecorded,
    MoveAction,
    MoveProvider,
    Ok,
    PadButton,
    Ping,
    ProbeProvider,
    ProviderChanged,
    RecallMemory,
    RejectAction,
    Reply,
    Request,
    Say,
    ServiceHealth,
    SetApproval,
    SetDryRun,
    SetMode,
    SetProviderEnabled,
    SkipCurrent,
    Snapshot,
    TriggerExpression,
)
from agent.protocol.text import inert
from agent.providers.mesh import Mesh, UnknownProvider
from agent.secrets import Secrets, redact, secret_values
from agent.server import ControlServer, Limits
from agent.server.token import load_or_create_token
from agent.state import AgentState
from agent.store import UNFINISHED, Store, StoreError
from agent.supervisor import ServiceContext, Supervisor
from agent.systemd import Notifier

log = logging.getLogger(__name__)

STORE_FLUSH_SECONDS = 0.1
MAX_RESTORED_ACTIONS = 50
MAX_SAY_CHARS = 500

# Parts of the product whose connections are still to be built: the control room says how
# each is configured, and says plainly when a configured one does not run in this build yet.
UNCONFIGURED = {
    "twitch": "not configured: set [twitch] channel and client_id in config.toml",
    "obs": "not configured: set [obs] enabled = true (and AIRI_OBS_PASSWORD)",
    "midi": "not configured: set [midi] enabled = true (see `airi doctor` for ports)",
}
LLM_WARMUP_DELAY = 0.5  # after READY: importing an SDK takes the CPU for a moment
NOT_BUILT = "configured, but this airi version cannot connect it yet"


def _configured(config: Config) -> dict[str, bool]:
    return {
        "twitch": bool(config.twitch.channel),
        "obs": config.obs.enabled,
        "midi": config.midi.enabled,
    }


class Agent:
    """One agent: its bus, state, store, control socket and supervised services.

    Chat platforms call ``receive_chat``; clients reach ``handle`` through the socket. Both run
    on the event loop; nothing here blocks it (the store has its own thread).
    """

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
        director = config.director
        self.queue = ActionQueue(
            self.bus.publish,
            self.store,
            Performers(self.bus.publish).table(),
            max_size=director.queue_size,
            gates=director.approval,
            dry_run=director.dry_run,
            mode=director.mode,
            expressions=config.persona.expressions,
        )
        self.mesh = Mesh(config, self.secrets, self.bus.publish)
        self.brain = Brain(self.mesh.router.stream, self.queue, config)
        self.memory = Memory(self.store)
        self.summarizer = Summarizer(
            self.memory, self.mesh.router.complete, every=director.summarize_every
        )
        self._summarizing: asyncio.Task[object] | None = None
        self.server = ControlServer(
            self.bus,
            self.snapshot,
            self.handle,
            self.socket_path,
            Limits(config.control.client_queue, config.control.client_stall_seconds),
            tcp_port=config.control.tcp_port,
        )
        self.server.on_clients_changed = lambda n: self.bus.publish(ClientsChanged(count=n))
        self._log_handler: EventStreamHandler | None = None
        self._seen_chat = RecentIds()
        self._secret_values = sorted(
            {*secret_values(self.secrets), *self.mesh.keys()}, key=len, reverse=True
        )
        self._llm_health = ("", "")
        self._warmup: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def secret_values(self) -> list[str]:
        """Every secret this agent holds, provider keys from any source included, for masking."""
        return self._secret_values

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(path=str(self.socket_path))

    def snapshot(self) -> Snapshot:
        snapshot = self.state.snapshot(self.bus.seq)
        snapshot.queue = self.queue.listing()
        snapshot.director = self.queue.status
        snapshot.mode = self.queue.status.mode
        return snapshot

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, listen on the socket and start the services.

        If any step fails, what the earlier steps opened is closed again before the error
        propagates: a failed start leaves no thread, task or socket behind.
        """
        try:
            await self._start()
        except BaseException:
            await self._undo_start()
            self._stopped.set()  # nothing left for stop() to do
            raise

    async def _start(self) -> None:
        await self.store.open()
        await self.memory.open()
        await self._restore()
        self.bus.listen(self.state.apply)
        self.bus.listen(self._persist)
        self.bus.listen(self._on_event)
        self._publish_providers()
        if self.config.control.tcp_port:
            self.server.token = self._tcp_token()
        await self.server.start()
        self._attach_log_stream()
        self.supervisor.report("control", "up", f"listening on {self.server.socket_path}")
        self.supervisor.start("store", self._flush_store)
        self.supervisor.start("queue", self.queue.run)
        self.supervisor.start("director", self.brain.run)
        self._warmup = asyncio.create_task(self._warm_providers(), name="llm-warmup")
        if self.config.demo_chat_on:
            demo = DemoChat(
                self.receive_chat,
                self.config.persona.name,
                self.config.demo_chat.messages_per_minute,
                steady=self.config.demo_chat.pacing == "steady",
            )
            self.supervisor.start("demo_chat", demo.run)
        self._report_unconfigured()
        log.info("agent %s %s ready on %s", self.config.agent.name, __version__, self.socket_path)

    async def _restore(self) -> None:
        """Chat, recent actions, and the queue as a crash or a stop left it."""
        chat = await self.store.recent_chat(self.config.store.chat_history)
        for message in chat:
            self.state.chat.append(message)
            self._seen_chat.first_time(message.platform, message.id)
        self.brain.know(chat)
        for action in await self.store.recent_actions(MAX_RESTORED_ACTIONS):
            if action.state not in UNFINISHED:
                self.state.keep_action(action)
        unfinished = await self.store.unfinished_actions()
        self.queue.restore(unfinished)
        if unfinished:
            log.info("%d unfinished actions restored to the queue", len(unfinished))

    def _report_unconfigured(self) -> None:
        configured = _configured(self.config)
        for name, hint in UNCONFIGURED.items():
            self.supervisor.report(name, "off", NOT_BUILT if configured[name] else hint)
        self._report_llm()

    def _publish_providers(self) -> None:
        for status in self.mesh.statuses():
            self.bus.publish(ProviderChanged(status=status))
        self.bus.publish(ChainsChanged(chains=self.mesh.chain_names()))

    def _report_llm(self) -> None:
        health = self.mesh.llm_health()
        if health != self._llm_health:
            self._llm_health = health
            self.supervisor.report("llm", *health)  # type: ignore[arg-type]

    async def _warm_providers(self) -> None:
        await asyncio.sleep(LLM_WARMUP_DELAY)
        try:
            await self.mesh.warm()
        except Exception as exc:  # the first request builds the client instead, and says why
            log.warning("could not prepare the provider clients ahead: %s", exc)

    async def _undo_start(self) -> None:
        await self.supervisor.stop()
        await self.server.close(grace=0.1)
        await self.store.close()
        self._detach_log_stream()

    async def stop(self, reason: str = "stopped") -> None:
        """Stop intake, tell clients, flush the store, close. Safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("agent stopping: %s", reason)
        self.notifier.stopping()
        self.bus.publish(AgentStopping(reason=reason))
        await self.supervisor.stop("demo_chat")
        for task in (self._warmup, self._summarizing):
            if task is not None:
                task.cancel()
        await self.supervisor.stop("director")
        await self.supervisor.stop("queue")
        await self.server.close(grace=1.0)
        await self.supervisor.stop()
        await self.mesh.close()
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
                reply = self._say(request.id, text)
                await self.queue.durable()  # acknowledged means it survives a crash
                return reply
            case TriggerExpression(name=name):
                try:
                    action = self.queue.express(name, "control")
                except UnknownExpression as exc:
                    return Err(id=request.id, code="bad_request", message=str(exc))
                except QueueFull as exc:
                    return Err(id=request.id, code="failed", message=str(exc))
                return Ok(id=request.id, detail=action.id)
            case (
                ApproveAction()
                | RejectAction()
                | EditAction()
                | MoveAction()
                | SkipCurrent()
                | Interrupt()
                | SetMode()
                | SetApproval()
                | SetDryRun()
            ):
                return await self._queue_request(request)
            case SetProviderEnabled() | ProbeProvider() | MoveProvider():
                return await self._provider_request(request)
            case RecallMemory() | ForgetMemory():
                return await self._memory_request(request)
        return Err(
            id=request.id, code="unknown_request", message=f"{type(request).__name__} is not served"
        )

    async def _provider_request(
        self, request: SetProviderEnabled | ProbeProvider | MoveProvider
    ) -> Reply:
        try:
            match request:
                case SetProviderEnabled(name=name, enabled=enabled):
                    self.mesh.set_enabled(name, enabled)
                    detail = f"{name} {'enabled' if enabled else 'disabled'}"
                case MoveProvider(name=name, offset=offset, role=role):
                    self.mesh.move(name, offset, role)
                    detail = f"{name} moved {'up' if offset < 0 else 'down'}"
                case ProbeProvider(name=name):
                    detail = f"{name} answered in {await self.mesh.probe(name) * 1000:.0f} ms"
        except (UnknownProvider, ValueError) as exc:
            return Err(id=request.id, code="bad_request", message=str(exc))
        except RuntimeError as exc:
            message = redact(str(exc), self._secret_values)
            return Err(id=request.id, code="failed", message=message)
        return Ok(id=request.id, detail=detail)

    async def _queue_request(self, request: Request) -> Reply:
        """An operator's hand on the queue; acknowledged once the change is saved."""
        try:
            detail = self._change_queue(request)
        except (UnknownAction, NotAllowed) as exc:
            return Err(id=request.id, code="bad_request", message=str(exc))
        await self.queue.durable()
        return Ok(id=request.id, detail=detail)

    def _change_queue(self, request: Request) -> str:
        queue = self.queue
        match request:
            case ApproveAction(action_id=action_id):
                return f"approved {queue.approve(action_id).id}"
            case RejectAction(action_id=action_id):
                return f"rejected {queue.reject(action_id).id}"
            case EditAction(action_id=action_id, text=text):
                return f"edited {queue.edit(action_id, text).id}"
            case MoveAction(action_id=action_id, offset=offset):
                queue.move(action_id, offset)
                return f"moved {action_id}"
            case SkipCurrent():
                skipped = queue.skip_current()
                return f"skipped {skipped.id}" if skipped else "nothing was running"
            case Interrupt():
                return f"kill switch: {queue.interrupt()} actions stopped or cleared"
            case SetMode(mode=mode):
                queue.set_mode(mode)
                return f"mode {mode}"
            case SetApproval(source=source, gate=gate):
                queue.set_gate(source, gate)
                return f"{source}: {gate}"
            case SetDryRun(enabled=enabled):
                queue.set_dry_run(enabled)
                return "dry run on" if enabled else "dry run off"
        raise NotAllowed(f"{type(request).__name__} is not a queue request")

    def _say(self, request_id: int, text: str) -> Reply:
        text = text.strip()
        if len(text) > MAX_SAY_CHARS:
            reason = f"too long: at most {MAX_SAY_CHARS} characters"
            return Err(id=request_id, code="bad_request", message=reason)
        line = inert(text, MAX_SAY_CHARS)
        if not line:
            reason = "nothing to say: the text is empty"
            return Err(id=request_id, code="bad_request", message=reason)
        try:
            action = self.queue.say(line, "control")
        except QueueFull as exc:
            return Err(id=request_id, code="failed", message=str(exc))
        return Ok(id=request_id, detail=action.id)

    # --- services ---------------------------------------------------------------------------

    async def _flush_store(self, ctx: ServiceContext) -> None:
        ctx.up(str(self.store.path))
        failing = False
        while True:
            await asyncio.sleep(STORE_FLUSH_SECONDS)
            try:
                await self.store.flush()
            except StoreError as exc:
                if not failing:
                    log.warning("%s; keeping new rows in memory and retrying", exc)
                ctx.degraded(f"{exc}; retrying")
                failing = True
            else:
                if failing:
                    log.info("the store is writable again")
                    ctx.up(str(self.store.path))
                failing = False

    def _on_event(self, event: Event) -> None:
        match event:
            case ChatReceived(message=message) if not self._stopped.is_set():
                self.brain.hear(message)
                self._maybe_summarize(message)
            case ProviderChanged():
                self._report_llm()

    def _maybe_summarize(self, message: ChatMessage) -> None:
        if not self.config.director.summarize_every or not self.mesh.has_models:
            return
        busy = self._summarizing is not None and not self._summarizing.done()
        if self.summarizer.hear(message) and not busy:
            self._summarizing = asyncio.create_task(self._summarize(), name="summarize")

    async def _summarize(self) -> None:
        try:
            entries = await self.summarizer.summarize()
        except StoreError as exc:
            log.warning("could not keep a memory summary: %s", exc)
        else:
            if entries:
                log.info("remembered %d entries from recent chat", len(entries))

    async def _memory_request(self, request: RecallMemory | ForgetMemory) -> Reply:
        try:
            match request:
                case RecallMemory(query=query, viewer=viewer, limit=limit):
                    found = await self.memory.recall(query, viewer, max(1, min(limit, 200)))
                    return Ok(id=request.id, detail=f"{len(found)} entries", memory=found)
                case ForgetMemory(viewer=viewer) if viewer:
                    gone = await self.memory.forget_viewer(viewer)
                    return Ok(id=request.id, detail=f"forgot {viewer}: {gone} entries and lines")
                case ForgetMemory(entry_id=entry_id):
                    if not await self.memory.forget(entry_id):
                        message = f"no memory entry {entry_id}"
                        return Err(id=request.id, code="bad_request", message=message)
                    return Ok(id=request.id, detail=f"forgot entry {entry_id}")
        except StoreError as exc:
            return Err(id=request.id, code="failed", message=str(exc))
        raise AssertionError("unreachable")

    def _persist(self, event: Event) -> None:
        match event:
            case ChatReceived(message=message):
                self.store.add_chat(message)
            case ActionQueued(action=action) | ActionUpdated(action=action):
                self.store.put_action(action)

    def _publish_health(self, health: ServiceHealth) -> None:
        # A crash message may quote a URL or header that holds a key.
        health.detail = redact(health.detail, self._secret_values)
        self.bus.publish(HealthChanged(health=health))

    def _attach_log_stream(self) -> None:
        loop = asyncio.get_running_loop()
        handler = EventStreamHandler(loop, self._publish_log, self.secret_values)
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
        control = self.config.control
        path = Path(control.token_file) if control.token_file else self.state_dir / "control.token"
        return load_or_create_token(path)


def _socket_path(config: Config) -> Path:
    return Path(config.control.socket) if config.control.socket else default_socket_path()


# --- the foreground daemon -----------------------------------------------------------------


async def serve(agent: Agent) -> None:
    """Run until SIGTERM or SIGINT, keeping systemd informed."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():  # a second Ctrl+C: the streamer wants out now
            log.warning("second stop signal: exiting without finishing the shutdown")
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
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
