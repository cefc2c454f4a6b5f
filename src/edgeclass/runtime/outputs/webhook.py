"""``--webhook URL``: every event POSTed as JSON, retried with exponential backoff while the receiver
is down or failing (connection refused, timeout, HTTP 5xx, 408, 429), never blocking the loop.

Any 2xx answer delivers an event. Another 4xx means the receiver will never take it: it is counted
(``rejected``) and skipped, so one bad event cannot hold back the ones after it.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Mapping, Optional

from ...errors import EdgeclassError
from .records import stderr_line
from .sinks import Backoff, QueuedSink, Rejected, Retry, event_json

RETRY_STATUS = (408, 425, 429)


def check_webhook_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EdgeclassError(f"--webhook {url!r}: give an http:// or https:// URL, e.g. http://192.168.1.10:8123/api/webhook/door")
    return url


class WebhookSink(QueuedSink):
    name = "webhook"

    def __init__(self, url: str, maxsize: int = 1000, backoff: Optional[Backoff] = None, timeout: float = 10.0,
                 headers: Optional[Mapping[str, str]] = None, log: Callable[[str], None] = stderr_line):
        self.url = check_webhook_url(url)
        self.timeout = float(timeout)
        self.headers = {"Content-Type": "application/json", "User-Agent": "edgeclass", **(headers or {})}
        super().__init__(maxsize, backoff, log)

    def deliver(self, event: Dict[str, Any]) -> None:
        request = urllib.request.Request(self.url, data=event_json(event).encode("utf-8"), headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.time_left(self.timeout)) as response:
                response.read()
        except urllib.error.HTTPError as e:
            e.close()
            if e.code >= 500 or e.code in RETRY_STATUS:
                raise Retry(f"{self.url} answered HTTP {e.code}") from None
            raise Rejected(f"{self.url} answered HTTP {e.code}") from None
        except urllib.error.URLError as e:
            raise Retry(f"{self.url}: {getattr(e.reason, 'strerror', None) or e.reason}") from None
        except (OSError, socket.timeout, http.client.HTTPException) as e:
            raise Retry(f"{self.url}: {e.__class__.__name__} {e}") from None
