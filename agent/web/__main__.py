"""`python -m agent.web`: serve the browser page and its token endpoint.

Settings are validated first, like the worker's: one message naming every bad setting, exit 2.
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from ..config import ConfigError, load_settings
from ..observability.redaction import install_log_redaction
from .server import ClientMissing, build_app

EXIT_CONFIG = 2


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as e:
        print(e, file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction(settings.secrets())
    try:
        app = build_app(settings)
    except ClientMissing as e:
        print(e, file=sys.stderr)
        return 1
    url = f"http://{settings.web_host}:{settings.web_port}/"
    print(f"[web] the browser page is at {url}", flush=True)
    web.run_app(app, host=settings.web_host, port=settings.web_port, print=None,
                access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
