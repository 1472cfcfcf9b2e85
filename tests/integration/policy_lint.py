"""parliament over an IAM document (tests/integration/test_iam_lint.py, test_package.py)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from parliament import analyze_policy_string

# parliament demands *every* required resource type of an action; DescribeExecution's
# `execution*` and `express*` are alternatives (Service Authorization Reference: Standard or
# Express executions), and the app's machines are Standard.
KNOWN_FALSE_POSITIVES = {("RESOURCE_MISMATCH", "states:DescribeExecution")}


def findings(statements: Iterable[dict[str, Any]], tags: dict[str, str]) -> list[tuple[str, str]]:
    """(issue, action) of every finding but the known false positives; `tags` fill in the
    principal's ${aws:PrincipalTag/...} as IAM does for the principal."""
    text = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    for name, value in tags.items():
        text = text.replace("${aws:PrincipalTag/" + name + "}", value)
    policy = analyze_policy_string(text, ignore_private_auditors=True)
    found = []
    for finding in policy.findings:
        details = finding.detail if isinstance(finding.detail, list) else [finding.detail]
        for detail in details:
            action = detail.get("action", "") if isinstance(detail, dict) \
                else str(detail).split()[-1]   # "Unknown action s3:X"
            if (finding.issue, action) not in KNOWN_FALSE_POSITIVES:
                found.append((finding.issue, action))
    return found
