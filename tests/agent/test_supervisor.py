"""A crashing service is reported down, restarted with backoff, and comes back up."""

from __future__ import annotations

import asyncio

from agent.protocol.messages import ServiceHealth
from agent.supervisor import ServiceContext, Supervisor


async def test_crash_is_reported_and_the_service_restarts() -> None:
    seen: list[ServiceHealth] = []
    supervisor = Supervisor(seen.append, base_delay=0.01, max_delay=0.05)
    runs = 0
    healthy = asyncio.Event()

    async def flaky(ctx: ServiceContext) -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise ConnectionError(f"obs went away #{runs}")
        ctx.up("connected")
        healthy.set()
        await asyncio.Event().wait()

    supervisor.start("obs", flaky)
    await asyncio.wait_for(healthy.wait(), 5)
    downs = [h for h in seen if h.state == "down"]
    assert [h.restarts for h in downs] == [1, 2, 3]
    assert "obs went away #3" in downs[-1].detail and "restarting in" in downs[-1].detail
    assert seen[-1].state == "up" and seen[-1].detail == "connected" and seen[-1].restarts == 3
    await supervisor.stop()


async def test_repeated_reports_publish_once() -> None:
    seen: list[ServiceHealth] = []
    supervisor = Supervisor(seen.append)
    for _ in range(3):
        supervisor.report("twitch", "off", "not configured")
    supervisor.report("twitch", "up", "")
    assert [h.state for h in seen] == ["off", "up"]


async def test_stop_cancels_services() -> None:
    supervisor = Supervisor(lambda h: None)
    cancelled = asyncio.Event()

    async def forever(ctx: ServiceContext) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    supervisor.start("x", forever)
    await asyncio.sleep(0)
    await supervisor.stop()
    assert cancelled.is_set()
