"""IAM's policy simulator, which moto lacks. Nothing is enforced locally, so every action is allowed.

The SageMaker Python SDK v3 checks a role with SimulatePrincipalPolicy (and its trust policy with GetRole,
which moto answers) before it trains. As on AWS, the principal must exist: a role, user or group that does
not is NoSuchEntity, which the SDK reports as a role it cannot use; an ARN that names no IAM principal is
InvalidInput. For one that exists (or the caller GetCallerIdentity names), the answer is what is true here:
every action is allowed.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any
from urllib.parse import parse_qs

_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
# arn:<partition>:iam::<account>:<role|user|group>/<optional path/><name>
_PRINCIPAL_ARN = re.compile(r"arn:aws[\w-]*:iam::(\d{12}):(role|user|group)/(?:[^/]+/)*([^/]+)")
# What moto's GetCallerIdentity names any credentials it did not issue. That caller exists, as the caller of
# GetCallerIdentity does on AWS (where an IAM user's ARN reads arn:aws:iam::<account>:user/<name>).
_LOCAL_CALLER = re.compile(r"arn:aws[\w-]*:sts::\d{12}:user/moto")


def is_policy_simulation(environ: dict[str, Any], body: bytes) -> bool:
    return "/iam/aws4_request" in environ.get("HTTP_AUTHORIZATION", "") and b"Action=SimulatePrincipalPolicy" in body


def simulate_principal_policy(body: bytes) -> tuple[int, bytes]:
    """(HTTP status, XML body) of a SimulatePrincipalPolicy request."""
    params = parse_qs(body.decode())
    source = params.get("PolicySourceArn", [""])[0]
    match = _PRINCIPAL_ARN.fullmatch(source)
    if match is None and not _LOCAL_CALLER.fullmatch(source):
        return 400, _error("InvalidInput", f"Invalid Entity Arn: {source}")
    if match and not _principal_exists(*match.groups()):
        account, kind, name = match.groups()
        return 404, _error("NoSuchEntity", f"The {kind} with name {name} cannot be found.")
    actions = _members(params, "ActionNames")
    resources = _members(params, "ResourceArns") or ["*"]
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
    return 200, (
        f'<SimulatePrincipalPolicyResponse xmlns="{_NAMESPACE}"><SimulatePrincipalPolicyResult>'
        f"<IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults>"
        "</SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata>"
        "</SimulatePrincipalPolicyResponse>"
    ).encode()


def _members(params: dict[str, list[str]], name: str) -> list[str]:
    """A query-protocol list (Name.member.1, Name.member.2, ...) in its order."""
    prefix = f"{name}.member."
    numbered = {int(key[len(prefix) :]): values[0] for key, values in params.items() if key.startswith(prefix)}
    return [numbered[i] for i in sorted(numbered)]


def _principal_exists(account: str, kind: str, name: str) -> bool:
    """Whether moto's IAM (where GetRole, CreateRole, ... land) holds this principal."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["global"]
    if kind == "role":
        return any(role.name == name for role in iam.roles.values())
    return name in (iam.users if kind == "user" else iam.groups)


def _error(code: str, message: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
    ).encode()
