"""What the SDK-backed providers share: a preset, its key, its headers and the timeouts."""

from __future__ import annotations

from agent.providers.base import ChatRequest, Unsupported
from agent.providers.presets import Preset, request_for


class SdkProvider:
    """A preset made ready for an SDK client. The subclass builds the client on first use."""

    def __init__(
        self,
        preset: Preset,
        api_key: str = "",
        *,
        model: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.name = preset.name
        self.preset = preset
        self.model = model or preset.default_model
        self._api_key = api_key
        self._timeouts = (connect_timeout, read_timeout)
        # Built now so a missing key or base URL is reported at configuration time.
        self._headers = request_for(preset, self.model, api_key).headers

    def require(self, offered: bool, what: str) -> None:
        """Raise ``Unsupported`` before any request when the preset's service lacks ``what``."""
        if not offered:
            raise Unsupported(
                f"{self.preset.display_name} ({self.name}) offers no {what}: "
                "use a provider that does (`airi providers list` shows what each offers)"
            )

    def require_tools(self, request: ChatRequest) -> None:
        """A request with tools needs a service that takes them; without tools, any will do."""
        if request.tools:
            self.require(self.preset.capabilities.tools, "tool calls")
