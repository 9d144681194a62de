"""A complete simulated phone call against the local stack, with a printed transcript.

    scripts/in-netns python -m bench.demo

Starts Redis, livekit-server, the provider emulators (reference latency profile) and the agent
worker on a freshly seeded SQLite database, then places one call through livekit-server: the
greeting, a question, a request that makes the agent call the real `list_available_slots`
business tool against the database, and a goodbye. Prints who said what (seconds from the start
of the call), the tool call with its real result, and each turn's response latency.

Deepgram, DeepSeek and ElevenLabs are EMULATED (emulators/): speech is espeak-ng, the
"model" follows a fixed script. Everything else is the product: the worker, its plugins, turn
handling, tools and database. Lives in `bench/` with the latency benchmark because both drive
the same in-process emulator stack (bench/_stack.py) and a scripted test caller; `devstack/`
only starts services for interactive use.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench._stack import local_stack, require_netns
from bench.latency import trimmed_speech
from emulators import LatencyProfile
from emulators.llm_script import Script, reply, tool_call

AGENT = "phone-agent-demo"
GREETING = "Hello, this is the Northwind Home Services AI assistant. How can I help you today?"
TURNS = [
    "what are your opening hours",
    "do you have any free appointments tomorrow",
    "thank you goodbye",
]
SCRIPT = Script([
    reply(GREETING, when="greet the caller"),
    reply("We are open from eight in the morning until six in the evening, Monday to "
          "Saturday.", when="opening hours"),
    tool_call("list_available_slots",
              {"date": "tomorrow", "service": "installation consultation"},
              when="free appointments"),
    reply("Let me read those out. {tool_output} Which one would suit you?",
          when=r"free times|nothing is free|no free"),
    reply("You're welcome. Thank you for calling, goodbye!", when="goodbye"),
])
HEADER = """\
================================================================================
 SIMULATED CALL - the providers are EMULATED, not the real services:
   Deepgram (STT), DeepSeek (LLM) and ElevenLabs (TTS) are local emulators
   (emulators/) with the reference latency profile; voices are espeak-ng and
   the "model" follows a fixed script. Real: the agent worker, the official
   LiveKit plugins, WebRTC audio through a local livekit-server, turn handling,
   and the business tools on a freshly seeded SQLite database.
================================================================================"""


def seed(database_url: str) -> None:
    subprocess.run([sys.executable, "-m", "agent.data.seed", "--database-url", database_url],
                   check=True, capture_output=True, timeout=60)


def line(t: float, who: str, text: str) -> None:
    body = textwrap.fill(text, width=70, subsequent_indent=" " * 19)
    print(f"  [{t:6.2f} s] {who:<8} {body}", flush=True)


async def call(stack: Any) -> list[dict[str, Any]]:
    emu = stack.emulators
    turns: list[dict[str, Any]] = []
    async with stack.caller(f"demo-{int(time.time())}", identity="demo-caller") as caller:
        t0 = time.monotonic()
        await asyncio.wait_for(caller.agent_joined.wait(), 60)
        greeting = await caller.wait_for_speech(after=0.0, within=30)
        await caller.wait_until_quiet(greeting)
        line(greeting.start - t0, "AGENT", " ".join(emu.tts_texts) or "(greeting)")
        for question in TURNS:
            await asyncio.sleep(0.6)
            n_tts, n_req = len(emu.tts_texts), len(emu.llm_requests)
            n_resp = len(emu.state.llm_responses)
            start = time.monotonic()
            end = await caller.say(trimmed_speech(question))
            line(start - t0, "CALLER", f"{question}   (spoken {end - start:.1f} s)")
            answer = await caller.wait_for_speech(after=end, within=30)
            # an answer with pauses (a tool result read out) is several bursts
            while True:
                await caller.wait_until_quiet(caller.bursts[-1])
                await asyncio.sleep(1.2)
                if time.monotonic() - caller.bursts[-1].end > 1.5:
                    break
            heard = emu.stt_transcripts[-1] if emu.stt_transcripts else "(nothing)"
            calls = [c for resp in emu.state.llm_responses[n_resp:]
                     for c in resp["tool_calls"]]
            for c in calls:
                line(answer.start - t0, "TOOL", f"{c['name']}({c['arguments']})")
            if calls:  # the tool's real output, as the worker sent it back to the model
                outputs = [m.get("content", "") for r in emu.llm_requests[n_req:]
                           for m in r["messages"] if m.get("role") == "tool"]
                if outputs:
                    line(answer.start - t0, "  result", str(outputs[-1]))
            said = " ".join(emu.tts_texts[n_tts:]) or "(no text recorded)"
            line(answer.start - t0, "AGENT", said)
            latency = answer.start - end
            print(f"  {'':11}{'':9}-> STT heard {heard!r}; response latency "
                  f"{latency * 1000:.0f} ms (end of caller speech -> first agent audio)",
                  flush=True)
            turns.append({"question": question, "latency_ms": round(latency * 1000),
                          "agent": said})
    return turns


def main() -> None:
    require_netns("bench.demo")
    started = time.monotonic()
    print(HEADER, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="phone-agent-demo-"))
    database_url = f"sqlite:///{workdir / 'demo.db'}"
    seed(database_url)
    print(f"seeded demo database: {database_url}", flush=True)
    print("starting the local stack (about 15-30 s) ...", flush=True)
    with local_stack(agent_name=AGENT, script=SCRIPT, profile=LatencyProfile.reference(),
                     phrases=TURNS, turn_detector="stt", database_url=database_url,
                     quiet=True) as stack:
        print(f"stack up after {time.monotonic() - started:.0f} s; calling the agent\n",
              flush=True)
        turns = asyncio.run(asyncio.wait_for(call(stack), 75))
    print()
    print("Turn latencies (caller's end of speech -> first agent audio, emulated providers):")
    for t in turns:
        print(f"  {t['latency_ms']:5d} ms  {t['question']!r}")
    print(f"demo finished in {time.monotonic() - started:.0f} s; service logs: {stack.logs}")


if __name__ == "__main__":
    main()
