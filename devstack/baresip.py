"""A real SIP user agent for `make call`, the SIP benchmark and the tests: baresip, driven
over its ctrl_tcp socket.

Each instance gets its own config directory, SIP port and control port. It plays a WAV as its
microphone (switchable mid-call with `play()`), records what it receives to
`<dir>/rec/dump-*-dec.wav`, sends RFC 2833 keypad digits and reports call events
(CALL_ESTABLISHED, CALL_CLOSED, TRANSFER, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulators.speech import silence

RATE = 8000  # PCMU


def write_wav8k(path: Path, pcm8k: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm8k)
    return path


@dataclass
class SipEvent:
    type: str
    at: float
    data: dict = field(default_factory=dict)


class Baresip:
    """`async with Baresip(dir, sip_port=5062, ctrl_port=4441, user="+15550001111") as ua:`"""

    def __init__(self, workdir: Path, *, sip_port: int, ctrl_port: int, user: str,
                 ip: str = "127.0.0.1", answer: bool = True, reject_refer: bool = False,
                 sound_card: bool = False) -> None:
        self.dir = workdir
        self.sip_port = sip_port
        self.ctrl_port = ctrl_port
        self.user = user
        self.ip = ip
        self.answer = answer
        self.reject_refer = reject_refer
        self.sound_card = sound_card  # talk through the machine's microphone and speaker
        self.events: list[SipEvent] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._token = 0
        self.silence_wav = write_wav8k(self.dir / "silence.wav", silence(600, RATE))

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@{self.ip}:{self.sip_port}"

    def _write_config(self) -> None:
        (self.dir / "rec").mkdir(parents=True, exist_ok=True)
        answer = "auto" if self.answer else "manual"
        transfer = "no" if self.reject_refer else "yes"
        (self.dir / "accounts").write_text(
            f"<sip:{self.user}@{self.ip}:{self.sip_port};transport=udp>;regint=0;"
            f"answermode={answer};audio_codecs=PCMU;dtmfmode=rtpevent;"
            f"call_transfer={transfer}\n")
        (self.dir / "config").write_text("\n".join([
            f"sip_listen {self.ip}:{self.sip_port}",
            f"net_interface {self.ip}",
            *(["audio_source alsa,default", "audio_player alsa,default",
                "audio_alert alsa,default", "module alsa.so"] if self.sound_card else
              [f"audio_source aufile,{self.silence_wav}", "audio_player aubridge,nil",
               "audio_alert aubridge,nil"]),
            f"rtp_ports {30000 + (self.sip_port % 100) * 20}-"
            f"{30019 + (self.sip_port % 100) * 20}",
            "module_path /usr/lib/baresip/modules",
            "module g711.so", "module aufile.so", "module aubridge.so", "module sndfile.so",
            "module ctrl_tcp.so",
            "module_tmp uuid.so", "module_tmp account.so",
            "module_app menu.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"snd_path {self.dir / 'rec'}",
            "",
        ]))

    async def __aenter__(self) -> Baresip:
        self._write_config()
        log = (self.dir / "baresip.log").open("wb")
        self._proc = subprocess.Popen(  # noqa: ASYNC220 - starts a daemon, returns at once
            ["baresip", "-f", str(self.dir)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"baresip control port never opened; see {self.dir}/baresip.log")
        self._task = asyncio.create_task(self._read_events())
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.command("quit")
        if self._task:
            self._task.cancel()
        if self._writer:
            self._writer.close()
        if self._proc:
            try:
                self._proc.wait(3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(3)

    async def _read_events(self) -> None:
        assert self._reader is not None
        while True:
            length = await self._reader.readuntil(b":")
            payload = await self._reader.readexactly(int(length[:-1]))
            await self._reader.readexactly(1)  # trailing ","
            msg = json.loads(payload)
            if msg.get("event"):
                self.events.append(SipEvent(msg.get("type", ""), time.monotonic(), msg))
                self._changed.set()

    async def command(self, command: str, params: str = "") -> None:
        assert self._writer is not None
        self._token += 1
        body = json.dumps({"command": command, "params": params,
                           "token": str(self._token)}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()

    async def dial(self, uri: str) -> None:
        await self.command("dial", uri)

    async def hangup(self) -> None:
        await self.command("hangup")

    async def send_digit(self, digit: str) -> None:
        await self.command("sndcode", digit)

    async def play(self, wav: Path) -> None:
        """Switch the microphone to `wav` (8 kHz mono); pad it: baresip hangs up at its end."""
        await self.command("ausrc", f"aufile,{wav}")

    async def wait_for(self, event_type: str, within: float = 20.0, after: float = 0.0
                       ) -> SipEvent:
        deadline = time.monotonic() + within
        while True:
            for ev in self.events:
                if ev.type == event_type and ev.at >= after:
                    return ev
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e.type for e in self.events]
                raise TimeoutError(f"no {event_type} within {within:.0f} s (saw {seen})")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def wait_until_heard(self, check: Callable[[bytes], bool], within: float = 30.0,
                               every: float = 1.5) -> bool:
        """Poll the live recording until `check(received_audio)` holds (bounded by `within`):
        on a loaded machine the agent may take longer than a fixed sleep allows."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await asyncio.to_thread(check, self.received_audio()):
                return True
            await asyncio.sleep(every)
        return False

    def received_audio(self) -> bytes:
        """Everything this UA received in its last call, as 8 kHz s16le PCM."""
        decs = sorted((self.dir / "rec").glob("dump-*-dec.wav"))
        if not decs:
            return b""
        try:
            with wave.open(str(decs[-1]), "rb") as w:
                return w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            # Still being written (the header is completed on close): take the samples.
            data = decs[-1].read_bytes()[44:]
            return data[: len(data) - len(data) % 2]
