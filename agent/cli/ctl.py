"""`airi ctl ...`: drive a running agent from scripts, Stream Deck buttons or a shell."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import msgspec
import typer

from agent.cli.common import ConfigOption, SocketOption, TokenFileOption, endpoint, fail
from agent.protocol.client import (
    AgentError,
    Attached,
    Connection,
    ConnectionLost,
    Detached,
    client_name,
    explain,
    follow,
)
from agent.protocol.endpoint import Endpoint
from agent.protocol.framing import FrameTooLarge
from agent.protocol.messages import (
    ActionQueued,
    ActionUpdated,
    ApproveAction,
    CaptionShown,
    ChatReceived,
    DirectorChanged,
    EditAction,
    Event,
    ExpressionChanged,
    ForgetMemory,
    Gap,
    HealthChanged,
    Interrupt,
    LogRecorded,
    MoveAction,
    MoveProvider,
    Ok,
    ProbeProvider,
    ProviderChanged,
    ProviderRequestDone,
    RecallMemory,
    RejectAction,
    Request,
    Say,
    SetApproval,
    SetDryRun,
    SetMode,
    SetProviderEnabled,
    SkipCurrent,
    Snapshot,
    TriggerExpression,
)
from agent.protocol.text import inert

ctl_app = typer.Typer(help="Control a running agent.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON).")]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout", min=0.1, help="Seconds to wait for the agent to answer before giving up."
    ),
]
DEFAULT_TIMEOUT = 10.0
T = TypeVar("T")


@dataclass(frozen=True)
class _Target:
    """Which agent the subcommand talks to, and how long it waits for an answer."""

    where: Endpoint
    timeout: float


@ctl_app.callback()
def _target(
    ctx: typer.Context,
    config: ConfigOption = None,
    socket: SocketOption = None,
    token_file: TokenFileOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    ctx.obj = (config, socket, token_file, timeout)


def _resolve(ctx: typer.Context) -> _Target:
    config, socket, token_file, timeout = ctx.obj
    return _Target(endpoint(config, socket, token_file), timeout)


def _with_connection(target: _Target, use: Callable[[Connection], Awaitable[T]]) -> T:
    where = target.where

    async def run() -> T:
        try:
            connection = await Connection.open(
                where, client_name("airi-ctl"), subscribe=False, timeout=target.timeout
            )
        except AgentError as exc:
            fail(str(exc))
        except (OSError, TimeoutError, ConnectionLost, FrameTooLarge) as exc:
            fail(explain(exc, where))
        except asyncio.IncompleteReadError:
            fail(f"the agent at {where.describe()} hung up during the handshake: see its log")
        try:
            return await use(connection)
        except AgentError as exc:
            fail(f"the agent refused: {exc}")
        except ConnectionLost as exc:
            fail(_lost(connection, where, exc))
        except TimeoutError:
            fail(
                f"the agent at {where.describe()} did not answer within {target.timeout:g} s: "
                "it may be stuck (see its log), or give it longer with `airi ctl --timeout`"
            )
        finally:
            await connection.close()

    return asyncio.run(run())


def _lost(connection: Connection, where: Endpoint, exc: ConnectionLost) -> str:
    if connection.fatal:
        return str(exc)  # already says what is wrong and what to do
    return (
        f"the agent at {where.describe()} went away before answering ({exc}): the request "
        "may or may not have been carried out; check with `airi ctl status`"
    )


def _request(target: _Target, request: Request) -> Ok:
    async def send(connection: Connection) -> Ok:
        reply = await connection.request(request, timeout=target.timeout)
        assert isinstance(reply, Ok)
        return reply

    return _with_connection(target, send)


@ctl_app.command()
def status(ctx: typer.Context, json: JsonOption = False) -> None:
    """Show the agent's state: version, uptime, clients, services, expression, caption."""

    async def snapshot(connection: Connection) -> Snapshot:
        return connection.welcome.snapshot

    snap = _with_connection(_resolve(ctx), snapshot)
    if json:
        sys.stdout.write(msgspec.json.encode(snap).decode() + "\n")
        return
    uptime = _duration(time.time() - snap.started_at)
    typer.echo(
        f"{snap.agent_name} {snap.agent_version} (pid {snap.pid}), up {uptime}, mode {snap.mode}"
    )
    typer.echo(f"clients attached: {snap.clients}   expression: {snap.expression or '-'}")
    typer.echo(f"caption: {inert(snap.caption) or '-'}")
    for health in snap.health:
        typer.echo(f"  {health.name:<10} {health.state:<9} {inert(health.detail)}")
    for provider in snap.providers:
        ttft = f"{provider.ttft_p50 * 1000:.0f} ms" if provider.ttft_p50 is not None else "-"
        typer.echo(
            f"  llm {provider.name:<14} {provider.state:<13} {provider.model:<24} "
            f"TTFT p50 {ttft:<8} {provider.requests} requests"
        )
    for role, names in snap.chains.items():
        typer.echo(f"  chain {role:<9} {' > '.join(names)}")
    typer.echo(f"recent chat: {len(snap.chat)} lines, actions: {len(snap.actions)}")


@ctl_app.command()
def say(ctx: typer.Context, text: str) -> None:
    """Have the AI say TEXT (captions now; speech when a voice is configured)."""
    reply = _request(_resolve(ctx), Say(text=text))
    typer.echo(f"queued as action {reply.detail}")


@ctl_app.command()
def expression(ctx: typer.Context, name: str) -> None:
    """Show expression NAME on the avatar."""
    reply = _request(_resolve(ctx), TriggerExpression(name=name))
    typer.echo(f"expression {name} shown (action {reply.detail})")


MODES = ("llm", "autonomous", "external")
GATES = ("auto", "approve", "flagged")


@ctl_app.command()
def queue(ctx: typer.Context, json: JsonOption = False) -> None:
    """List what waits or runs now, in the order it will run, with ids for approve/reject."""

    async def snapshot(connection: Connection) -> Snapshot:
        return connection.welcome.snapshot

    snap = _with_connection(_resolve(ctx), snapshot)
    if json:
        for action in snap.queue:
            sys.stdout.write(msgspec.json.encode(action).decode() + "\n")
        return
    status = snap.director
    gates = ", ".join(f"{k} {v}" for k, v in status.approval.items()) or "all auto"
    dry = " (dry run)" if status.dry_run else ""
    typer.echo(f"mode {status.mode}{dry}; approval: {gates}")
    if not snap.queue:
        typer.echo("the queue is empty")
    for action in snap.queue:
        flag = f"  [{inert(action.flagged)}]" if action.flagged else ""
        typer.echo(
            f"{action.id}  {action.state:<8} {action.kind:<10} {action.source:<9} "
            f"{inert(action.detail, 80)}{flag}"
        )


@ctl_app.command()
def approve(ctx: typer.Context, action_id: str) -> None:
    """Let a pending action run."""
    typer.echo(_request(_resolve(ctx), ApproveAction(action_id=action_id)).detail)


@ctl_app.command()
def reject(ctx: typer.Context, action_id: str) -> None:
    """Drop a waiting action: it never runs."""
    typer.echo(_request(_resolve(ctx), RejectAction(action_id=action_id)).detail)


@ctl_app.command()
def edit(ctx: typer.Context, action_id: str, text: str) -> None:
    """Change what a waiting line says before it is said."""
    typer.echo(_request(_resolve(ctx), EditAction(action_id=action_id, text=text)).detail)


@ctl_app.command()
def move(
    ctx: typer.Context,
    action_id: str,
    offset: Annotated[int, typer.Argument(help="Places earlier (negative) or later.")],
) -> None:
    """Move a waiting action in the queue."""
    typer.echo(_request(_resolve(ctx), MoveAction(action_id=action_id, offset=offset)).detail)


@ctl_app.command()
def skip(ctx: typer.Context) -> None:
    """Stop the line being said now and go on with the next."""
    typer.echo(_request(_resolve(ctx), SkipCurrent()).detail)


@ctl_app.command()
def stop(ctx: typer.Context) -> None:
    """The kill switch: stop speech now and clear every waiting AI action."""
    typer.echo(_request(_resolve(ctx), Interrupt()).detail)


@ctl_app.command()
def mode(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="llm, autonomous or external.")],
) -> None:
    """Switch who writes the answers, live, keeping the queue."""
    if name not in MODES:
        fail(f"unknown mode {name!r}: one of {', '.join(MODES)}", code=2)
    typer.echo(_request(_resolve(ctx), SetMode(mode=name)).detail)  # type: ignore[arg-type]


@ctl_app.command()
def approval(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="chat, idle, control, command, rest, ...")],
    gate: Annotated[str, typer.Argument(help="auto, approve or flagged.")],
) -> None:
    """Set one source's approval gate, live."""
    if gate not in GATES:
        fail(f"unknown gate {gate!r}: one of {', '.join(GATES)}", code=2)
    reply = _request(_resolve(ctx), SetApproval(source=source, gate=gate))  # type: ignore[arg-type]
    typer.echo(reply.detail)


@ctl_app.command("dry-run")
def dry_run(
    ctx: typer.Context,
    state: Annotated[str, typer.Argument(help="on or off.")],
) -> None:
    """Dry run on: actions go through the queue but nothing leaves the box."""
    if state not in ("on", "off"):
        fail(f"say on or off, not {state!r}", code=2)
    typer.echo(_request(_resolve(ctx), SetDryRun(enabled=state == "on")).detail)


@ctl_app.command()
def memory(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to look for. Empty: the newest.")] = "",
    viewer: Annotated[str, typer.Option("--viewer", help="Only entries about this viewer.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 20,
    json: JsonOption = False,
) -> None:
    """What the co-host remembers: summaries of the show and facts about viewers."""
    reply = _request(_resolve(ctx), RecallMemory(query=query, viewer=viewer, limit=limit))
    for entry in reply.memory or []:
        if json:
            sys.stdout.write(msgspec.json.encode(entry).decode() + "\n")
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.ts))
        about = f" {inert(entry.viewer, 64)}:" if entry.viewer else ""
        typer.echo(f"{entry.id:>6}  {when}  {entry.kind:<7}{about} {inert(entry.text)}")
    if not reply.memory and not json:
        typer.echo("nothing remembered" + (f" about {query!r}" if query else ""))


@ctl_app.command()
def forget(
    ctx: typer.Context,
    entry_id: Annotated[
        int, typer.Argument(help="The entry's number (see `airi ctl memory`).")
    ] = 0,
    viewer: Annotated[
        str, typer.Option("--viewer", help="Forget everything about this viewer, chat included.")
    ] = "",
) -> None:
    """Forget one memory entry, or a viewer who asked to be forgotten."""
    if not entry_id and not viewer:
        fail("give an entry number or --viewer NAME", code=2)
    reply = _request(_resolve(ctx), ForgetMemory(entry_id=entry_id, viewer=viewer))
    typer.echo(inert(reply.detail))


PROVIDER_ACTIONS = ("enable", "disable", "probe", "up", "down")


@ctl_app.command()
def provider(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="enable, disable, probe, up or down.")],
    name: Annotated[str, typer.Argument(help="The provider's name in [providers].")],
    role: Annotated[
        str, typer.Option("--role", help="For up/down: only this chain (reply, idle, ...).")
    ] = "",
) -> None:
    """Switch an LLM provider off or on, probe it, or move it in its chains, live."""
    request: Request
    match action:
        case "enable" | "disable":
            request = SetProviderEnabled(name=name, enabled=action == "enable")
        case "probe":
            request = ProbeProvider(name=name)
        case "up" | "down":
            request = MoveProvider(name=name, offset=-1 if action == "up" else 1, role=role)
        case _:
            fail(f"unknown action {action!r}: one of {', '.join(PROVIDER_ACTIONS)}", code=2)
    typer.echo(inert(_request(_resolve(ctx), request).detail))


@ctl_app.command()
def events(ctx: typer.Context, json: JsonOption = False) -> None:
    """Stream the agent's events, one per line, following it across restarts."""
    where = _resolve(ctx).where
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_stream_events(where, json))


async def _stream_events(where: Endpoint, as_json: bool) -> None:
    async for update in follow(where, client_name("airi-ctl-events")):
        match update:
            case Attached(connection=connection):
                typer.echo(f"# attached to {where.describe()}", err=True)
                async for event in connection.events():
                    _print_event(event, as_json)
            case Detached(reason=reason, retry_in=delay, fatal=fatal):
                if fatal:
                    fail(reason)
                typer.echo(f"# detached: {reason}; retrying in {delay:.1f} s", err=True)


def _print_event(event: Event, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(msgspec.json.encode(event).decode() + "\n")
    else:
        sys.stdout.write(f"{event.seq:>8} {describe(event)}\n")
    sys.stdout.flush()


def describe(event: Event) -> str:
    """One human line for an event; untrusted text is made inert."""
    match event:
        case ChatReceived(message=m):
            tag = " [demo]" if m.demo else ""
            return f"chat{tag} {inert(m.author, 64)}: {inert(m.text)}"
        case ActionQueued(action=a) | ActionUpdated(action=a):
            return f"action {a.id} {a.kind} {a.state}: {inert(a.detail)}"
        case ExpressionChanged(name=name, source=source):
            return f"expression {inert(name)} (from {source})"
        case CaptionShown(text=text):
            return f"caption: {inert(text)}"
        case HealthChanged(health=h):
            return f"health {h.name} {h.state}: {inert(h.detail)}"
        case LogRecorded(line=line):
            return f"log {line.level} {line.logger}: {inert(line.message)}"
        case DirectorChanged(status=d):
            return f"director mode {d.mode}{' (dry run)' if d.dry_run else ''}"
        case ProviderChanged(status=p):
            error = f": {inert(p.last_error)}" if p.last_error else ""
            return f"provider {p.name} {p.state}{error}"
        case ProviderRequestDone(request=r):
            ttft = f" TTFT {r.ttft * 1000:.0f} ms" if r.ttft is not None else ""
            reason = f": {inert(r.reason)}" if r.reason else ""
            return f"llm {r.role} via {r.provider} {r.outcome}{ttft}{reason}"
        case Gap(missed=missed):
            return f"gap: {missed} events missed (fresh snapshot received)"
    fields = msgspec.structs.asdict(event)
    fields.pop("seq", None)
    return f"{type(event).__name__} {fields}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"  # the agent's start time makes no sense (NaN or infinite on the wire)
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
