"""Configuration: every bad setting named at once, secrets never shown, CLI fails fast."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import VARIABLES, ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880",
    "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "s" * 40,
    "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789",
    "ELEVEN_API_KEY": "el-0123456789",
}
REQUIRED = ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "DEEPGRAM_API_KEY",
            "DEEPSEEK_API_KEY", "ELEVEN_API_KEY"]


def problems(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as e:
        load_settings(env)
    return str(e.value)


def test_valid_environment_gets_documented_defaults() -> None:
    s = load_settings(GOOD)
    assert s.deepseek_base_url == "https://api.deepseek.com"
    assert s.deepseek_model == "deepseek-v4-flash"
    assert s.deepgram_model == "nova-3"
    assert s.agent_name == "phone-agent"
    assert s.turn_detector == "auto"
    assert s.deepgram_base_url is None and s.elevenlabs_base_url is None
    assert (s.min_endpointing_delay, s.max_endpointing_delay) == (0.3, 2.0)


def test_every_missing_variable_is_named_in_one_message() -> None:
    message = problems({})
    for name in REQUIRED:
        assert f"{name} is missing" in message
    assert message.count("\n  - ") == len(REQUIRED)


@pytest.mark.parametrize("placeholder", ["your-deepgram-key", "changeme", "<key>", "xxx", "..."])
def test_placeholder_values_count_as_missing(placeholder: str) -> None:
    message = problems({**GOOD, "DEEPGRAM_API_KEY": placeholder})
    assert "DEEPGRAM_API_KEY still has a placeholder value" in message


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("LIVEKIT_URL", "http://127.0.0.1:7880", "ws:// or wss://"),
    ("DEEPSEEK_BASE_URL", "api.deepseek.com", "http:// or https://"),
    ("MIN_ENDPOINTING_DELAY", "fast", "number of seconds"),
    ("MAX_ENDPOINTING_DELAY", "99", "between"),
    ("TURN_DETECTOR", "magic", "one of auto"),
    ("AGENT_NAME", "has spaces", "letters, digits"),
    ("DATABASE_URL", "mysql://x", "sqlite:///"),
    ("TRANSFER_DESTINATIONS", "support=555", "department=sip:"),
    ("NUM_IDLE_PROCESSES", "-1", "whole number"),
])
def test_malformed_values_are_explained(name: str, value: str, expected: str) -> None:
    message = problems({**GOOD, name: value})
    assert name in message and expected in message


def test_inverted_endpointing_delays_are_rejected() -> None:
    message = problems({**GOOD, "MIN_ENDPOINTING_DELAY": "1.5", "MAX_ENDPOINTING_DELAY": "0.5"})
    assert "MAX_ENDPOINTING_DELAY must not be below MIN_ENDPOINTING_DELAY" in message


def test_secrets_never_appear_in_messages_or_repr() -> None:
    secret = "short-but-secret"
    message = problems({**GOOD, "LIVEKIT_API_SECRET": secret,
                        "ELEVENLABS_BASE_URL": "not a url"})
    assert secret not in message
    s = load_settings(GOOD)
    assert GOOD["DEEPSEEK_API_KEY"] not in repr(s)
    assert set(s.secrets()) >= {GOOD["DEEPSEEK_API_KEY"], GOOD["ELEVEN_API_KEY"]}


def test_env_example_documents_every_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    for var in VARIABLES:
        assert var.env in text, f"{var.env} missing from .env.example"


def test_start_fails_fast_naming_each_bad_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {v.env for v in VARIABLES}}
    env.update({"DEEPGRAM_API_KEY": "your-key", "LIVEKIT_URL": "http://nope"})
    proc = subprocess.run([sys.executable, str(ROOT / "agent.py"), "start"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for name in REQUIRED:
        assert name in proc.stderr
    assert "DEEPGRAM_API_KEY still has a placeholder value" in proc.stderr


def test_python_dash_m_agent_is_the_same_entry_point(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {v.env for v in VARIABLES}}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "agent", "start"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "LIVEKIT_URL is missing" in proc.stderr


def test_readme_configuration_table_is_generated_from_the_declarations() -> None:
    from agent.config import markdown_table

    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README table is stale: python -m agent.config --markdown"


def test_each_setting_is_declared_once_and_typed() -> None:
    from dataclasses import fields

    from agent.config import Settings

    names = [v.env for v in VARIABLES]
    assert len(names) == len(set(names)) == len(fields(Settings))
    s = load_settings({**GOOD, "TRANSFER_DESTINATIONS": "support=sip:a@pbx",
                       "TRANSFER_FALLBACK": "tel:+15550100200",
                       "WARM_TRANSFER_DESTINATIONS": "sales=+15550108888"})
    assert s.transfer_plan.candidates("support") == ["sip:a@pbx", "tel:+15550100200"]
    assert s.warm_transfer_plan.number_for("sales") == "+15550108888"
    assert isinstance(s.outbound_amd, bool) and isinstance(s.max_concurrent_calls, int)
