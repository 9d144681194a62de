"""Capture what the root logger's handlers would write, the way LiveKit's CLI installs one."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from agent.observability.redaction import uninstall_log_redaction


@contextmanager
def root_log(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """A root handler writing through `formatter` into the yielded stream; on exit the
    handler goes and any log redaction the test installed is undone."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        uninstall_log_redaction()
