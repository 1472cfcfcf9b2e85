"""moto's server on loopback, configured to really execute state machines."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import requests

# The emulator's account and region: what AWS would fill into ARNs, URLs and event envelopes.
ACCOUNT, REGION = "123456789012", "us-east-1"


@dataclass
class Emulator:
    url: str
    port: int
    server: object

    def stop(self) -> None:
        self.server.stop()


def point_clients_at(url: str, port: int) -> None:
    """Environment for boto3/PynamoDB in this process (and child processes) to use the emulator."""
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": url,
        # moto's ASL interpreter calls service integrations at localhost:$MOTO_PORT
        "MOTO_PORT": str(port),
    })
    os.environ.pop("AWS_PROFILE", None)


def start_emulator(port: int = 0) -> Emulator:
    from moto.server import ThreadedMotoServer

    from devstack import emulator_contract
    emulator_contract.install()  # before the first request: moto alone takes no locks
    from devstack import service_limits
    service_limits.install()  # AWS's limits that moto leaves out (README "AWS's limits")
    from devstack import store_checksums
    store_checksums.install()  # S3 refuses a body whose checksum is not the one it names
    from devstack import emulator_streaming
    emulator_streaming.install()  # GetObject streams (moto reads whole objects into memory)
    from devstack import fast_reads
    fast_reads.install()  # DynamoDB reads without moto's slow serializer (its docstring)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it logs every request otherwise
    # A failed execution is the workflow's business (its task says why), not a stack trace of
    # the interpreter's internals on the console.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    from devstack import faults
    from devstack.iam.gate import Gate
    faults.configure_from_env()  # DEVSTACK_FAULTS: AWS's transient errors (none: pass through)
    # IAM is checked before a fault is drawn: AWS refuses an unauthorised call whatever else
    # and before both, the store's CORS preflight, unauthenticated as in S3 (store_cors.py)
    # innermost, the holds a test may set (request_holds.py): nothing holds unless one asks
    from devstack import request_holds
    from devstack.store_cors import StoreCors
    server._server.app = StoreCors(  # type: ignore[union-attr]
        Gate(faults.wrap(request_holds.wrap(server._server.app))))  # type: ignore[union-attr]
    host, real_port = server.get_host_and_port()
    url = f"http://{host}:{real_port}"
    point_clients_at(url, real_port)
    requests.post(f"{url}/moto-api/config", timeout=5, json={
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }).raise_for_status()
    return Emulator(url, real_port, server)
