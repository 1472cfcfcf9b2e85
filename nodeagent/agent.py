"""The agent's loop: long-poll this node's queue while an export slot is free, run each export
on its own thread, delete a request only when its export has ended (either way), and stop
cleanly on SIGTERM/SIGINT (exports in flight are reported failed and their uploads aborted by
the service)."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from nodeagent import logs
from nodeagent.api import ExportApi
from nodeagent.config import AgentConfig
from nodeagent.export import Export, ExportRequest
from nodeagent.parts import Bandwidth
from nodeagent.queue import ExportQueue, Request

MIN_HOLD_SECONDS = 120   # a request stays hidden this long at least, renewed by heartbeats


class Agent:
    def __init__(self, config: AgentConfig, queue: ExportQueue | None = None,
                 api: ExportApi | None = None) -> None:
        self.config = config
        self.queue = queue or ExportQueue(config.queue_url, config.sqs_region,
                                          config.sqs_endpoint_url)
        self.api = api or ExportApi(config.api_url, config.node_token,
                                    config.api_timeout_seconds)
        self.bandwidth = Bandwidth(config.bandwidth_limit)
        self.stopping = threading.Event()
        self.running: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()

    def run(self) -> None:
        logs.event("agent.started", node=self.config.node, queue=self.config.queue_url,
                   max_exports=self.config.max_exports)
        while not self.stopping.is_set():
            free = self._free_slots()
            if not free:
                self.stopping.wait(0.5)
                continue
            try:
                requests = self.queue.receive(min(free, 10), self.config.poll_seconds,
                                              MIN_HOLD_SECONDS)
            except Exception as exc:  # noqa: BLE001 (the queue's hiccups: try again)
                logs.event("queue.receive_failed", logging.WARNING, error=str(exc))
                self.stopping.wait(5)
                continue
            for request in requests:
                if self.stopping.is_set():
                    self.queue.release(request.receipt)  # another start of the agent takes it
                else:
                    self._start(request)
        self._wait_for_exports()
        logs.event("agent.stopped", node=self.config.node)

    def stop(self, reason: str = "stop requested") -> None:
        if not self.stopping.is_set():
            logs.event("agent.stopping", reason=reason, exports=sorted(self.running))
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: Any) -> None:
            self.stop(signal.Signals(signum).name)
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    # -------------------------------------------------------------------------------------------

    def _free_slots(self) -> int:
        with self.lock:
            return self.config.max_exports - len(self.running)

    def _start(self, request: Request) -> None:
        try:
            export_request = ExportRequest.parse(request.body)
        except ValueError as exc:
            logs.event("request.unusable", logging.WARNING, error=str(exc))
            self.queue.delete(request.receipt)
            return
        if export_request.node != self.config.node:
            # A queue serves one node; a request for another node was sent here by mistake.
            logs.event("request.other_node", logging.WARNING, task_id=export_request.task_id,
                       node=export_request.node)
            try:
                self.api.fail(export_request.task_id, export_request.token,
                              f"the export request reached the agent of node "
                              f"{self.config.node}, not of node {export_request.node}")
            except Exception as exc:  # noqa: BLE001 (the task's timeouts end it anyway)
                logs.event("export.report_failed", logging.WARNING,
                           task_id=export_request.task_id, error=str(exc))
            self.queue.delete(request.receipt)
            return
        with self.lock:
            duplicate = export_request.task_id in self.running
        if duplicate:  # SQS may deliver a message twice: the running export is the one
            self.queue.delete(request.receipt)
            return
        thread = threading.Thread(target=self._export, args=(export_request, request.receipt),
                                  name=f"export-{export_request.task_id}")
        with self.lock:
            self.running[export_request.task_id] = thread
        thread.start()

    def _export(self, request: ExportRequest, receipt: str) -> None:
        hold = max(MIN_HOLD_SECONDS, int(request.heartbeat_seconds * 4))
        try:
            Export(request, self.config, self.api, self.bandwidth, self.stopping,
                   on_heartbeat=lambda: self.queue.hold(receipt, hold)).run()
        finally:
            try:
                self.queue.delete(receipt)  # the export ended, either way
            except Exception as exc:  # noqa: BLE001 (a redelivery finds the task ended)
                logs.event("queue.delete_failed", logging.WARNING, task_id=request.task_id,
                           error=str(exc))
            with self.lock:
                self.running.pop(request.task_id, None)

    def _wait_for_exports(self) -> None:
        with self.lock:
            threads = list(self.running.values())
        for thread in threads:
            thread.join()
