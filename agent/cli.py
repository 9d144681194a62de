"""Command line: `python agent.py dev|start|console|connect` (or `python -m agent ...`).

Configuration is validated before the worker connects, so a bad `.env` stops start-up with
one message naming every problem and exit code 2, never a traceback.

livekit.agents is imported only after the metrics directory is prepared: prometheus_client,
which it imports, decides on multiprocess mode when first imported
(agent/metrics_dir.py).
"""

from __future__ import annotations

import sys

from . import metrics_dir
from .config import ConfigError, load_settings

RUN_COMMANDS = {"dev", "start", "console", "connect"}
SERVING_COMMANDS = {"dev", "start"}  # the commands that serve /metrics (METRICS_PORT)
EXIT_CONFIG = 2


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args if not a.startswith("-")), None)
    if command in RUN_COMMANDS:
        try:
            settings = load_settings()
        except ConfigError as e:
            print(e, file=sys.stderr)
            sys.exit(EXIT_CONFIG)
        serve_metrics = command in SERVING_COMMANDS and settings.metrics_port > 0
        if serve_metrics:
            metrics_dir.prepare()  # before the first import of livekit (see above)
        try:
            from . import providers

            providers.choose_turn_detector(settings.turn_detector)
        except RuntimeError as e:  # e.g. TURN_DETECTOR=semantic without its model files
            print(f"Configuration is invalid: {e}", file=sys.stderr)
            sys.exit(EXIT_CONFIG)
        from .observability.redaction import install_log_redaction
        from .worker import build_server

        install_log_redaction(settings.secrets())
        server = build_server(settings, serve_metrics=serve_metrics)
    else:
        from livekit.agents import AgentServer

        server = AgentServer()  # help and other sub-commands need no settings
    from livekit.agents import cli

    sys.argv = [sys.argv[0], *args]
    cli.run_app(server)
