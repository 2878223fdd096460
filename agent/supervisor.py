"""Runs each service of the agent as a task, restarts a crashed one, and reports health.

A service is an async function taking its ``ServiceContext``. It reports how it is doing with
``ctx.up()`` / ``ctx.degraded()``; if it raises, it is marked down with the error and started
again after an exponential backoff with full jitter. A service that ran for a while before it
crashed starts again from the shortest delay, so one hiccup a day never waits long.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from agent.protocol.messages import HealthState, ServiceHealth

log = logging.getLogger(__name__)

STABLE_AFTER = 30.0
"""Seconds of running after which a crash counts as a first failure again."""


class ServiceContext:
    """What a running service may tell the supervisor about itself."""

    def __init__(self, supervisor: Supervisor, name: str) -> None:
        self.name = name
        self._supervisor = supervisor

    def up(self, detail: str = "") -> None:
        self._supervisor.report(self.name, "up", detail)

    def degraded(self, detail: str) -> None:
        self._supervisor.report(self.name, "degraded", detail)


Service = Callable[[ServiceContext], Awaitable[None]]


class Supervisor:
    def __init__(
        self,
        publish: Callable[[ServiceHealth], None],
        base_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self._publish = publish
        self._base = base_delay
        self._cap = max_delay
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._restarts: dict[str, int] = {}
        self._last: dict[str, tuple[str, str]] = {}

    def report(self, name: str, state: HealthState, detail: str = "") -> None:
        """Publish a health change (only when state or detail really changed)."""
        if self._last.get(name) == (state, detail):
            return
        self._last[name] = (state, detail)
        restarts = self._restarts.get(name, 0)
        health = ServiceHealth(name, state, detail, since=time.time(), restarts=restarts)
        self._publish(health)

    def start(self, name: str, service: Service) -> None:
        self._restarts[name] = 0
        self._tasks[name] = asyncio.create_task(self._keep_running(name, service), name=name)

    async def _keep_running(self, name: str, service: Service) -> None:
        failures = 0
        while True:
            self.report(name, "starting")
            started = time.monotonic()
            try:
                await service(ServiceContext(self, name))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a crashed service is reported and restarted
                if time.monotonic() - started > STABLE_AFTER:
                    failures = 0
                delay = random.uniform(0, min(self._cap, self._base * 2**failures))
                failures += 1
                self._restarts[name] += 1
                log.warning("service %s crashed (%s); restarting in %.1f s", name, exc, delay)
                self.report(name, "down", f"crashed: {exc}; restarting in {delay:.1f} s")
                await asyncio.sleep(delay)
            else:
                self.report(name, "off", "finished")
                return

    async def stop(self, name: str | None = None) -> None:
        """Cancel one service, or all of them, and wait until they are gone."""
        names = [name] if name else list(self._tasks)
        tasks = [self._tasks.pop(n) for n in names if n in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
