"""Create, update, list and delete the SIP trunks and dispatch rule described in `sip/*.json`.

    python -m sip.provision apply    # idempotent: a second run changes nothing
    python -m sip.provision list
    python -m sip.provision delete

Works against the local server and LiveKit Cloud alike (LIVEKIT_URL / _API_KEY / _API_SECRET).
Objects are matched by `name`. `${VAR:-default}` in the files is filled from the environment;
`${trunk:NAME}` becomes the id of the trunk called NAME.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from livekit import api

from agent.livekit_api import livekit_api_from_env

HERE = Path(__file__).resolve().parent
FILES = {"inbound": "inbound-trunk.json", "outbound": "outbound-trunk.json",
         "rule": "dispatch-rule.json"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TRUNK = re.compile(r"\$\{trunk:([^}]+)\}")
_SERVER_FIELDS = ("sip_trunk_id", "sip_dispatch_rule_id", "created_at", "updated_at")


def _fill(value: Any, env: dict[str, str], trunks: dict[str, str]) -> Any:
    if isinstance(value, str):
        def trunk(m: re.Match[str]) -> str:
            if m.group(1) not in trunks:
                raise SystemExit(f"provision: no trunk named {m.group(1)!r} to reference")
            return trunks[m.group(1)]

        value = _TRUNK.sub(trunk, value)
        return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [_fill(v, env, trunks) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, env, trunks) for k, v in value.items()}
    return value


def load(kind: str, trunks: dict[str, str], directory: Path = HERE) -> Any:
    data = json.loads((directory / FILES[kind]).read_text())
    data = _fill(data, dict(os.environ), trunks)
    cls = {"inbound": api.SIPInboundTrunkInfo, "outbound": api.SIPOutboundTrunkInfo,
           "rule": api.SIPDispatchRuleInfo}[kind]
    return json_format.ParseDict(data, cls())


def _prune(value: Any) -> Any:
    """Drop empty sub-messages and lists: the server fills some in (e.g. `media: {}`)."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [], "", None)}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _comparable(msg: Any) -> dict[str, Any]:
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    for f in _SERVER_FIELDS:
        d.pop(f, None)
    return _prune(d)


@dataclass
class Change:
    kind: str
    name: str
    action: str  # created | updated | unchanged | deleted
    id: str


async def _existing(lk: api.LiveKitAPI) -> dict[str, dict[str, Any]]:
    inbound = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
    outbound = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    rules = await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
    return {
        "inbound": {t.name: t for t in inbound.items},
        "outbound": {t.name: t for t in outbound.items},
        "rule": {r.name: r for r in rules.items},
    }


async def apply(lk: api.LiveKitAPI, directory: Path = HERE) -> list[Change]:
    existing = await _existing(lk)
    changes: list[Change] = []
    trunk_ids: dict[str, str] = {}
    for kind in ("inbound", "outbound", "rule"):
        desired = load(kind, trunk_ids, directory)
        current = existing[kind].get(desired.name)
        made: Any  # the trunk or rule info message of this kind, as the server returned it
        if current is None:
            if kind == "inbound":
                made = await lk.sip.create_inbound_trunk(
                    api.CreateSIPInboundTrunkRequest(trunk=desired))
            elif kind == "outbound":
                made = await lk.sip.create_outbound_trunk(
                    api.CreateSIPOutboundTrunkRequest(trunk=desired))
            else:
                made = await lk.sip.create_dispatch_rule(
                    api.CreateSIPDispatchRuleRequest(dispatch_rule=desired))
            action = "created"
        elif _comparable(current) == _comparable(desired):
            made, action = current, "unchanged"
        else:
            if kind == "inbound":
                made = await lk.sip.update_inbound_trunk(current.sip_trunk_id, desired)
            elif kind == "outbound":
                made = await lk.sip.update_outbound_trunk(current.sip_trunk_id, desired)
            else:
                made = await lk.sip.update_dispatch_rule(current.sip_dispatch_rule_id, desired)
            action = "updated"
        ident = made.sip_dispatch_rule_id if kind == "rule" else made.sip_trunk_id
        if kind != "rule":
            trunk_ids[made.name] = ident
        changes.append(Change(kind, made.name, action, ident))
    return changes


async def delete(lk: api.LiveKitAPI, directory: Path = HERE) -> list[Change]:
    existing = await _existing(lk)
    names = {k: json.loads((directory / f).read_text())["name"] for k, f in FILES.items()}
    changes = []
    rule = existing["rule"].get(names["rule"])
    if rule is not None:
        await lk.sip.delete_dispatch_rule(
            api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id))
        changes.append(Change("rule", rule.name, "deleted", rule.sip_dispatch_rule_id))
    for kind in ("inbound", "outbound"):
        trunk = existing[kind].get(names[kind])
        if trunk is not None:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
            changes.append(Change(kind, trunk.name, "deleted", trunk.sip_trunk_id))
    return changes


_SECRET_FIELD = re.compile(r"(?i)password|secret")


def _without_secrets(value: Any) -> Any:
    """A listing never shows a trunk's `auth_password` (or any other secret field)."""
    if isinstance(value, dict):
        return {k: "***" if _SECRET_FIELD.search(k) and v else _without_secrets(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


async def listing(lk: api.LiveKitAPI) -> list[str]:
    existing = await _existing(lk)
    lines = []
    for kind, items in existing.items():
        for name, item in items.items():
            d = _without_secrets(_comparable(item))
            ident = getattr(item, "sip_trunk_id", "") or getattr(item, "sip_dispatch_rule_id", "")
            lines.append(f"{kind:8} {name:24} {ident:22} {json.dumps(d, sort_keys=True)}")
    return lines


def _client() -> api.LiveKitAPI:
    """The server named by LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET; whoever runs
    provisioning (the dev stack, the tests, the SIP benchmark, an operator's `.env`) puts them
    in the environment (`ValueError` when a key is missing)."""
    return livekit_api_from_env()


async def apply_to_server(directory: Path = HERE) -> list[Change]:
    """Apply the files to the server named by LIVEKIT_URL (dev stack, tests, benchmarks)."""
    async with _client() as lk:
        return await apply(lk, directory)


async def run(command: str, directory: Path = HERE) -> int:
    try:
        client = _client()
    except ValueError as e:  # the LiveKit credentials are not set
        print(f"provision: {e} (in the environment or .env)", file=sys.stderr)
        return 1
    async with client as lk:
        if command == "list":
            for line in await listing(lk):
                print(line)
            return 0
        changes = await (apply(lk, directory) if command == "apply" else delete(lk, directory))
        for c in changes:
            print(f"{c.action:9} {c.kind:8} {c.name} ({c.id})")
        if not changes:
            print("nothing to do")
        return 0


def main() -> None:
    from dotenv import load_dotenv

    load_dotenv(override=False)
    parser = argparse.ArgumentParser(prog="python -m sip.provision")
    parser.add_argument("command", choices=["apply", "list", "delete"])
    parser.add_argument("--dir", type=Path, default=HERE, help="directory with the JSON files")
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(run(args.command, args.dir)))
    except api.TwirpError as e:
        print(f"provision: the server refused: {e.code}: {e.message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
