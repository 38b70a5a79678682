"""IAM's policy simulator, which moto lacks. Nothing is enforced locally, so every action is allowed.

The SageMaker Python SDK v3 checks a role with SimulatePrincipalPolicy before it trains; answering what is
true here (no IAM enforcement, so every action is allowed) lets it run unchanged against this backend.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qs

_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"


def is_policy_simulation(environ: dict[str, Any], body: bytes) -> bool:
    return "/iam/aws4_request" in environ.get("HTTP_AUTHORIZATION", "") and b"Action=SimulatePrincipalPolicy" in body


def simulate_principal_policy(body: bytes) -> bytes:
    params = parse_qs(body.decode())
    actions = [values[0] for key, values in sorted(params.items()) if key.startswith("ActionNames.member.")]
    resources = [values[0] for key, values in params.items() if key.startswith("ResourceArns.member.")] or ["*"]
    results = "".join(
        "<member>"
        f"<EvalActionName>{escape(action)}</EvalActionName>"
        f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
        "<EvalDecision>allowed</EvalDecision>"
        "<MatchedStatements/><MissingContextValues/>"
        "</member>"
        for action in actions
        for resource in resources
    )
    return (
        f'<SimulatePrincipalPolicyResponse xmlns="{_NAMESPACE}"><SimulatePrincipalPolicyResult>'
        f"<IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults>"
        "</SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata>"
        "</SimulatePrincipalPolicyResponse>"
    ).encode()
