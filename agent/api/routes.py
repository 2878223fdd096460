"""Every operation of the REST API, in one table: the server routes from it (``handler`` names
its method) and the OpenAPI document describes it, so the two cannot drift apart."""

from __future__ import annotations

from agent.api import bodies as b
from agent.api.openapi import Operation

_ID = "/v1/queue/{action_id}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/v1/say", "say", "Say a line", (202, b.Queued), b.SayBody, (503,)),
    Operation(
        "POST",
        "/v1/generate",
        "generate",
        "Have the persona answer a prompt, in the current mode",
        (202, b.Generating),
        b.GenerateBody,
        (409,),
        "The prompt is an input of kind rest: the director answers it in turn, through the reply"
        " chain (or the offline persona, or the external brain, by mode); its lines enter the"
        " queue with the source ai:rest, under the rest approval gate.",
    ),
    Operation(
        "POST",
        "/v1/expression",
        "expression",
        "Show an expression",
        (202, b.Queued),
        b.ExpressionBody,
        (503,),
    ),
    Operation(
        "POST",
        "/v1/motion",
        "motion",
        "Play an avatar motion",
        (202, b.Queued),
        b.MotionBody,
        (503,),
        "503 until an avatar output is connected.",
    ),
    Operation(
        "POST",
        "/v1/scene",
        "scene",
        "Switch the OBS scene",
        (202, b.Queued),
        b.SceneBody,
        (503,),
        "503 until OBS is connected. The switch waits for the current sentence.",
    ),
    Operation("GET", "/v1/queue", "queue", "What waits or runs now", (200, b.QueueListing)),
    Operation(
        "POST",
        _ID + "/approve",
        "approve",
        "Let a pending action through",
        (200, b.Done),
        errors=(404, 409),
    ),
    Operation(
        "POST",
        _ID + "/reject",
        "reject",
        "Drop a waiting action",
        (200, b.Done),
        errors=(404, 409),
    ),
    Operation(
        "POST",
        _ID + "/skip",
        "skip",
        "Stop this action while it runs",
        (200, b.Done),
        errors=(404, 409),
    ),
    Operation(
        "POST",
        _ID + "/move",
        "move",
        "Move a waiting action earlier or later",
        (200, b.Done),
        b.MoveBody,
        (404, 409),
    ),
    Operation(
        "PATCH",
        _ID,
        "edit",
        "Change a waiting line before it is said",
        (200, b.Done),
        b.EditBody,
        (404, 409),
    ),
    Operation("POST", "/v1/queue/skip", "skip_current", "Stop whatever runs now", (200, b.Done)),
    Operation(
        "POST",
        "/v1/queue/interrupt",
        "interrupt",
        "The kill switch: stop speech now, clear every waiting AI action",
        (200, b.Done),
    ),
    Operation("GET", "/v1/mode", "mode", "Who writes the answers", (200, b.ModeBody)),
    Operation(
        "PUT",
        "/v1/mode",
        "set_mode",
        "Switch the mode, live, keeping the queue",
        (200, b.ModeBody),
        b.ModeBody,
    ),
    Operation("GET", "/v1/status", "status", "How the agent is doing", (200, b.Status)),
    Operation("GET", "/v1/openapi.json", "openapi", "This document", (200, dict)),
    Operation(
        "GET",
        "/v1/external",
        "external_brain",
        "The external brain's websocket",
        (101, None),
        errors=(426,),
        description="JSON messages; see docs/external-brain.md.",
    ),
)
