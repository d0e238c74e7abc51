"""A static HTTP server on 127.0.0.1 for the tests that fetch released files."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

@contextlib.contextmanager
def serve_folder(folder: Path):
    """A real HTTP server on 127.0.0.1 serving ``folder``; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
