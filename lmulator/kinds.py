"""The engine's named choices, as Literal types with the tuple of their values (one place each)."""

from __future__ import annotations

from typing import Literal, get_args

#: How a cell mixes Python and the LM.
Mode = Literal["interweave", "python", "lm", "try-python-except-lm", "try-python-except-lm-state"]
MODES: tuple[Mode, ...] = get_args(Mode)

#: What a program may do: the restricted interpreter, plain Python, or partial code.
PolicyName = Literal["restricted", "trusted", "partial"]
POLICY_NAMES: tuple[PolicyName, ...] = get_args(PolicyName)

#: Whether LM exchanges are stored in, or answered only from, a replay file.
RecordMode = Literal["off", "record", "replay"]
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)

#: How a request asks an endpoint for JSON: whatever works, a JSON schema, or any JSON object.
SchemaStyle = Literal["auto", "json_schema", "json_object"]
SCHEMA_STYLES: tuple[SchemaStyle, ...] = get_args(SchemaStyle)

#: How much the trace keeps: emulations and errors, or every statement that ran.
TraceLevel = Literal["default", "full"]
TRACE_LEVELS: tuple[TraceLevel, ...] = get_args(TraceLevel)

#: Where an instrumented cell may ask the runtime for something.
SiteKind = Literal["call", "name", "stub", "stmt", "return"]

#: What one trace record says happened at its line.
Status = Literal["emulated", "error", "ran"]
STATUSES: tuple[Status, ...] = get_args(Status)

#: Where an emulated value or delta came from (`TraceRecord.how`).
How = Literal[
    "lm", "memo", "replay", "overwritten", "skip", "python",
    "import", "inferred", "stand-in", "invented",
]  # fmt: skip
HOWS: tuple[How, ...] = get_args(How)
