"""What the AI answers, and how often: the input policy (``[director.policy]`` in config).

The router (``agent.director.inputs``) applies it to every input: moderators may always be
answered (chat itself is sampled once per ``[director] reply_every``), every raid is thanked,
follows, subs, gifts, cheers and redemptions are thanked within a budget per minute, and an
input that waits longer than ``max_wait`` seconds expires (counted, and logged).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

#: The stream events that have a thanks budget, and the policy field holding each one.
BUDGETED = {
    "follow": "follows_per_minute",
    "sub": "subs_per_minute",
    "gift": "subs_per_minute",  # a gifted sub is a sub: one budget for both
    "cheer": "cheers_per_minute",
    "redemption": "redemptions_per_minute",
}


class DirectorPolicy(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which inputs the AI answers and how often. Every budget is per rolling minute."""

    answer_mods: Annotated[
        bool, Meta(description="Answer moderators and the broadcaster between chat samples.")
    ] = True
    thank_raids: Annotated[bool, Meta(description="Thank every raid, even when chat is busy.")] = (
        True
    )
    follows_per_minute: Annotated[
        int, Meta(ge=0, description="Follows thanked per minute; the rest are let go. 0: none.")
    ] = 2
    subs_per_minute: Annotated[
        int, Meta(ge=0, description="Subs and gifted subs thanked per minute. 0: none.")
    ] = 3
    cheers_per_minute: Annotated[
        int, Meta(ge=0, description="Cheers (bits) thanked per minute. 0: none.")
    ] = 3
    redemptions_per_minute: Annotated[
        int, Meta(ge=0, description="Channel-point redemptions reacted to per minute. 0: none.")
    ] = 2
    max_wait: Annotated[
        float,
        Meta(gt=0, description="Seconds an input may wait for its answer before it expires."),
    ] = 60.0
    max_wait_chat: Annotated[
        float, Meta(gt=0, description="Seconds a chat line may wait before it expires.")
    ] = 30.0

    def budget(self, kind: str) -> int | None:
        """Reactions per minute allowed for an event ``kind``; None: no budget applies."""
        field = BUDGETED.get(kind)
        return None if field is None else int(getattr(self, field))
