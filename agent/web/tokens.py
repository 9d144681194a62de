"""Join tokens for browser callers, following LiveKit's standard token-endpoint schema.

Request (every field optional): `room_name`, `participant_identity`, `participant_name`,
`participant_metadata`, `participant_attributes`, `room_config`. Response: `server_url` and
`participant_token`. What a browser may ask for is narrow, and the backend decides the rest:

- the room is one room, `web-…`: a fresh random one unless the client names one; phone rooms
  (`call-…`) and every other room are refused, so a token from here never reaches a phone call;
- the token expires after `WEB_TOKEN_TTL` seconds and grants joining, subscribing and
  publishing the microphone, nothing else (no data, no camera, no metadata updates, no admin);
- its room configuration dispatches `AGENT_NAME`, with no metadata: dispatch metadata is how an
  outbound call is ordered (agent/telephony/outbound.py), so a browser may never set it;
- the room holds the caller and the agent only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from livekit import api

from ..config import Settings

ROOM_PREFIX = "web-"
# A safe identifier: letters, digits, '-' and '_', starting with a letter or digit. \Z, not $:
# `$` would also accept a trailing newline.
_SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z"
# Attribute namespaces LiveKit and the SIP bridge own (the agent reads sip.* as caller facts).
_ATTRIBUTE_KEY = r"^(?!lk\.|sip\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z"
DEFAULT_NAME = "Web caller"
MAX_PARTICIPANTS = 2  # the caller and the agent

# One sentence per field, for the 400 answer (jsonschema's own messages quote regexes).
_FIELD_RULES = {
    "room_name": "room_name must be 1-64 letters, digits, '-' or '_', starting with a letter "
                 "or digit",
    "participant_identity": "participant_identity must be 1-64 letters, digits, '-' or '_', "
                            "starting with a letter or digit",
    "participant_name": "participant_name must be text of at most 64 characters, without "
                        "control characters",
    "participant_metadata": "participant_metadata must be text of at most 512 characters",
    "participant_attributes": "participant_attributes must map at most 8 names (letters, "
                              "digits, '.', '-', '_'; not lk.* or sip.*) to text of at most "
                              "128 characters",
    "room_config": "room_config may only name the agent this service dispatches, without "
                   "metadata",
}


class TokenRequestError(ValueError):
    """A request this endpoint refuses; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def request_schema(agent_name: str) -> dict[str, Any]:
    """The JSON schema of the requests this endpoint accepts."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "room_name": {"type": "string", "pattern": _SAFE_ID},
            "participant_identity": {"type": "string", "pattern": _SAFE_ID},
            "participant_name": {"type": "string", "maxLength": 64,
                                 "pattern": r"^[^\x00-\x1f\x7f]*\Z"},
            "participant_metadata": {"type": "string", "maxLength": 512},
            "participant_attributes": {
                "type": "object", "maxProperties": 8,
                "propertyNames": {"pattern": _ATTRIBUTE_KEY},
                "additionalProperties": {"type": "string", "maxLength": 128},
            },
            "room_config": {
                "type": "object", "additionalProperties": False,
                "properties": {"agents": {
                    "type": "array", "maxItems": 1,
                    "items": {
                        "type": "object", "additionalProperties": False,
                        "required": ["agent_name"],
                        "properties": {"agent_name": {"const": agent_name},
                                       "metadata": {"const": ""}},
                    },
                }},
            },
        },
    }


@dataclass(frozen=True)
class TokenRequest:
    """A validated request: what goes into the token."""

    room_name: str
    identity: str
    name: str = DEFAULT_NAME
    metadata: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


def parse_request(body: Any, agent_name: str) -> TokenRequest:
    """Validate a decoded JSON body; raise `TokenRequestError` with one clear sentence."""
    if body is None:
        body = {}
    error = best_match(Draft202012Validator(request_schema(agent_name)).iter_errors(body))
    if error is not None:
        raise TokenRequestError(_explain(error))
    room = body.get("room_name") or f"{ROOM_PREFIX}{secrets.token_hex(8)}"
    if not room.startswith(ROOM_PREFIX):
        raise TokenRequestError(
            f"this endpoint only issues tokens for rooms named {ROOM_PREFIX}...", status=403)
    return TokenRequest(
        room_name=room,
        identity=body.get("participant_identity") or f"web-{secrets.token_hex(6)}",
        name=body.get("participant_name") or DEFAULT_NAME,
        metadata=body.get("participant_metadata", ""),
        attributes=dict(body.get("participant_attributes") or {}),
    )


def _explain(error: ValidationError) -> str:
    if not error.path:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(request_schema("")["properties"])
            unknown = sorted(k for k in error.instance if k not in known)
            return f"unknown field {unknown[0]!r}" if unknown else "unknown field"
        return "the request body must be a JSON object"
    return _FIELD_RULES.get(str(error.path[0]), "invalid request")


def mint_token(settings: Settings, req: TokenRequest) -> str:
    """The caller's join token: one room, minutes, microphone only, dispatching the agent."""
    grants = api.VideoGrants(
        room_join=True, room=req.room_name,
        can_subscribe=True, can_publish=True, can_publish_sources=["microphone"],
        can_publish_data=False, can_update_own_metadata=False,
    )
    config = api.RoomConfiguration(
        agents=[api.RoomAgentDispatch(agent_name=settings.agent_name)],
        max_participants=MAX_PARTICIPANTS,
    )
    token = (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret)
        .with_identity(req.identity)
        .with_name(req.name)
        .with_ttl(timedelta(seconds=settings.web_token_ttl))
        .with_grants(grants)
        .with_room_config(config)
    )
    if req.metadata:
        token = token.with_metadata(req.metadata)
    if req.attributes:
        token = token.with_attributes(req.attributes)
    return token.to_jwt()


def token_response(settings: Settings, req: TokenRequest) -> dict[str, str]:
    """The endpoint's answer body (LiveKit's schema)."""
    return {"server_url": settings.web_livekit_url or settings.livekit_url,
            "participant_token": mint_token(settings, req)}
