"""The image API's export routes, as the agent uses them. Every call is authenticated by the
export token of its one task (from the request message) and the node token; every route is
idempotent, so connection errors, 429 and 5xx are retried with backoff (urllib3's Retry)."""
from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY = Retry(total=6, connect=6, read=6, status=6, backoff_factor=0.5, backoff_max=20,
              status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None,
              raise_on_status=False, respect_retry_after_header=True)


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class TaskEnded(ApiError):
    """The task is over (canceled, timed out, failed): the export must stop."""


class ExportApi:
    def __init__(self, api_url: str, node_token: str, timeout: float,
                 session: requests.Session | None = None) -> None:
        self.base = api_url.rstrip("/")
        self.node_token = node_token
        self.timeout = timeout
        self.session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=RETRY)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def part_urls(self, task_id: str, token: str, sizes: dict[int, int]) -> dict[int, str]:
        """Presigned UploadPart URLs for these parts (number -> exact size in bytes)."""
        answer = self._post(task_id, token, "parts",
                            {"parts": [{"number": n, "size": s} for n, s in sizes.items()]})
        return {int(number): url for number, url in answer["urls"].items()}

    def progress(self, task_id: str, token: str, sent: int) -> None:
        """A heartbeat with the bytes sent so far; TaskEnded when the task is over."""
        self._post(task_id, token, "progress", {"bytes": sent})

    def complete(self, task_id: str, token: str, parts: int, size: int) -> None:
        self._post(task_id, token, "complete", {"parts": parts, "bytes": size})

    def fail(self, task_id: str, token: str, reason: str) -> None:
        self._post(task_id, token, "failure", {"reason": reason})

    def _post(self, task_id: str, token: str, action: str, body: dict[str, Any]) -> Any:
        response = self.session.post(
            f"{self.base}/exports/{task_id}/{action}", json=body, timeout=self.timeout,
            headers={"ES-EXPORT-TOKEN": token, "ES-NODE-TOKEN": self.node_token})
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 410:
            raise TaskEnded(410, str(answer.get("detail", "Task ended")))
        if response.status_code >= 300:
            raise ApiError(response.status_code, str(answer.get("detail", response.reason)))
        return answer
