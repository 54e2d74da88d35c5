"""Small things several service test modules build: a gradient photo and a webhook receiver.
(Imported by name: pytest puts this folder on sys.path for the test modules in it.)"""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
from typing import Any

from PIL import Image, ImageChops


def gradient_png(size: tuple[int, int], seed: int) -> bytes:
    """A gradient with a seed-dependent tint: not flat, so the stylizer has something to do."""
    width, height = size
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 255) // width, (y * 255) // height, (seed * 80) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def finished_result(stack: Any, client: Any, response: Any) -> tuple[dict[str, Any], Image.Image]:
    """A submitted job (its 202 answer), waited for: the job, which succeeded, and its result."""
    assert response.status_code == 202, response.text
    done = stack.wait_job(
        client, response.json()["id"], lambda j: j["status"] in ("succeeded", "failed")
    )
    assert done["status"] == "succeeded", done
    return done, Image.open(io.BytesIO(client.get(done["result_url"]).content)).convert("RGB")


def max_diff(a: Image.Image, b: Image.Image) -> int:
    """The largest difference of any channel of any pixel, in levels."""
    return max(high for _, high in ImageChops.difference(a, b).getextrema())


class WebhookReceiver:
    """A loopback webhook receiver that records every delivery as (headers, body, when);
    with `fail_first`, its first answer is a 500 (to exercise the retry)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.received: list[tuple[dict[str, str], bytes, float]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                )
                failed = fail_first and len(receiver.received) == 1
                self.send_response(500 if failed else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self) -> list[Any]:
        """The deliveries' JSON bodies, in order."""
        return [json.loads(body) for _, body, _ in self.received]
