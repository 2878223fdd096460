"""What the brain asks the writer of an answer, for each kind of input.

One ``ChatRequest`` per input: the persona's system prompt with the mood, recent chat for
context, and one user turn saying what happened. The ``context`` slots carry the same facts
for the offline persona, which fills templates instead of reading prose: ``intent`` (which
lines fit), ``viewer``, ``amount``, ``emotion``.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.director.inputs import Input
from agent.director.persona import Persona
from agent.protocol.messages import ChatMessage
from agent.providers.base import ChatRequest, Message

MAX_ANSWER_TOKENS = 160

_EVENTS = {
    "follow": "{author} just followed the channel. Thank them.",
    "sub": "{author} just subscribed. Thank them warmly.",
    "gift": "{author} just gifted {amount} subs to chat. Thank them.",
    "cheer": "{author} just cheered {amount} bits. Thank them.",
    "raid": "{author} just raided the stream with {amount} viewers. Welcome the raiders and "
    "thank {author}.",
    "redemption": "{author} redeemed channel points: {text}. React to it.",
    "milestone": "The stream just reached a milestone: {text}. Celebrate it with chat.",
    "voice": "The streamer says to you: {text}",
    "segment": "Time for your regular segment '{detail}': {text}",
    "idle": "Chat is quiet: say something to keep the stream going, maybe about {topic}.",
}
_FROM_STREAMER = "The streamer asks you: {text}"


def request_for(
    item: Input,
    system: str,
    mood_line: str,
    recent: Iterable[ChatMessage],
    mood: str,
    persona: Persona,
) -> ChatRequest:
    """The request that answers ``item``; see the module docstring."""
    context = {"intent": _intent(item), "emotion": mood}
    if item.author:
        context["viewer"] = item.author
    if item.amount:
        context["amount"] = str(item.amount)
    lines = [
        f"{m.author}: {m.text}"
        for m in recent
        if not (item.kind == "chat" and (m.author, m.text) == (item.author, item.text))
    ]
    chat = [Message("user", "Recent chat:\n" + "\n".join(lines))] if lines else []
    return ChatRequest(
        messages=(
            Message("system", f"{system}\n{mood_line}"),
            *chat,
            Message("user", _ask(item, persona)),
        ),
        max_tokens=MAX_ANSWER_TOKENS,
        context=context,
    )


def _intent(item: Input) -> str:
    if item.kind == "segment":
        return f"segment:{item.detail}"
    if item.kind in ("chat", "voice") or item.kind not in _EVENTS:
        return ""  # the offline persona guesses from the text (question, greeting...)
    return item.kind


def _ask(item: Input, persona: Persona) -> str:
    if item.kind == "chat":
        return f"{item.author}: {item.text}"
    template = _EVENTS.get(item.kind, _FROM_STREAMER)
    topic = persona.topics[int(item.ts) % len(persona.topics)] if persona.topics else "the game"
    return template.format(
        author=item.author or "someone",
        amount=item.amount or "some",
        text=item.text,
        detail=item.detail,
        topic=topic,
    )
