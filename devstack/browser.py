"""`make browser`: open the dev stack's web page in Chromium, inside its network namespace.

`make dev` (as root on Linux) runs the stack in a private network namespace, which a browser
on the desktop can't reach. This joins that namespace (like `make call`) and starts Debian's
Chromium there with a fresh profile and nothing that phones home; the window, microphone and
speaker work as usual (X11/Wayland and the sound server are reached through their sockets).
With `make dev NETNS=off` just open the printed URL in any browser instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from . import services as svc
from .call import join_dev_netns

# Chromium as root in a namespace needs no sandbox; the rest keeps it from calling home (the
# namespace has no route out anyway). The browser tests start it with the same flags.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--disable-default-apps", "--disable-extensions",
                  "--no-default-browser-check"]


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.browser")
    parser.add_argument("--url", default=None, help="page to open (default: the dev page)")
    args = parser.parse_args()
    code = join_dev_netns("devstack.browser", "browser")
    if code is not None:
        return code
    binary = chromium_binary()
    if binary is None:
        print("[browser] chromium is not installed: run `make install`", file=sys.stderr)
        return 1
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("[browser] no display (DISPLAY / WAYLAND_DISPLAY): run it from a desktop "
              "session", file=sys.stderr)
        return 1
    from dotenv import dotenv_values

    url = args.url or svc.web_url({k: v for k, v in dotenv_values(svc.ROOT / ".env").items()
                                   if v})
    with tempfile.TemporaryDirectory(prefix="phone-agent-browser-") as profile:
        print(f"[browser] opening {url}", flush=True)
        return subprocess.call([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url])


if __name__ == "__main__":
    sys.exit(main())
