"""The ``[rest]`` section of the config file (``Config.rest``).

It lives here, next to the server it configures, and imports nothing of the agent, so
``agent.config`` can import it without a cycle.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


class RestSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The REST API and the external brain's websocket, on 127.0.0.1 with a bearer token."""

    enabled: Annotated[
        bool, Meta(description="Serve the REST API and the external brain's websocket.")
    ] = False
    port: Annotated[
        int, Meta(ge=0, le=65535, description="Port on 127.0.0.1. 0: any free port (logged).")
    ] = 7823
    token_file: Annotated[
        str, Meta(description="File (mode 0600) holding the token. Empty: rest.token in state.")
    ] = ""
    max_body_bytes: Annotated[
        int,
        Meta(ge=1024, le=1048576, description="Largest request body or websocket message."),
    ] = 16384
