"""IAM in the local stack: every AWS call is authorised against its principal's policy, as
`make package` generates it (infra/grants.py, the state-machine role, NodeAgentPolicy), and
presigned store URLs are verified like S3 verifies them. README "IAM and presigned URLs in
the local stack".

`DEVSTACK_IAM=off` switches both off (every request is the unrestricted `testing` key's),
for showing that the tests of this package fail without it.
"""
from __future__ import annotations

import os


def enabled() -> bool:
    return os.environ.get("DEVSTACK_IAM", "on").strip().lower() not in ("off", "0", "false", "no")
