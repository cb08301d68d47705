"""IAM's decision on an ``execute-api:Invoke`` request, for a REST API with AWS_IAM
authorization and a resource policy: the caller's identity policies and the API's
resource policy, combined as the API Gateway developer guide's "how resource policies
affect the authorization workflow" describes.

- An explicit Deny in either policy refuses.
- Same account: an Allow in either suffices; a resource-policy Allow whose principal is
  the account itself (``:root``) only delegates to the identity policies.
- Another account: both must allow.

Modelled: Effect, Action/NotAction, Resource/NotResource (``*`` and ``?``), Principal
(``*``, an account id, an account root, an ARN), and the condition operators below on
``aws:PrincipalArn``, ``aws:PrincipalAccount`` and ``aws:PrincipalOrgID``. Anything else
(another operator or key, ``...IfExists``) raises :class:`NotModelled`, so a policy the
evaluator cannot read fails its test instead of passing it. Not modelled at all: SCPs,
permission boundaries, session policies, VPC endpoint policies, and API Gateway's own
normalization of paths before it builds the ARN.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEPLOYMENT_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


class NotModelled(Exception):
    """The policy uses something this evaluator does not model."""


@dataclass(frozen=True)
class Principal:
    """Who signs: the IAM user or role ARN (an assumed role's session is its role)."""

    arn: str
    org_id: str | None = None

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    def context(self) -> dict[str, str | None]:
        return {
            "aws:principalarn": self.arn,
            "aws:principalaccount": self.account,
            "aws:principalorgid": self.org_id,
        }


def documented_policy(heading: str) -> dict[str, Any]:
    """The JSON policy docs/deployment.md shows under ``heading``."""
    text = DEPLOYMENT_GUIDE.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = section[section.index("```json") + len("```json") : section.index("```\n", 8)]
    document: dict[str, Any] = json.loads(block)
    return document


def route_arn(region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    """The ARN API Gateway authorizes for a call of ``method path`` on the stage."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path.lstrip('/')}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


_OPERATORS = {
    "StringEquals": lambda patterns, value: value in patterns,
    "StringNotEquals": lambda patterns, value: value not in patterns,
    "StringLike": lambda patterns, value: any(_like(p, value) for p in patterns),
    "ArnEquals": lambda patterns, value: value in patterns,
    "ArnLike": lambda patterns, value: any(_like(p, value) for p in patterns),
    "ArnNotLike": lambda patterns, value: not any(_like(p, value) for p in patterns),
}


def _conditions_hold(conditions: dict[str, Any], principal: Principal) -> bool:
    context = principal.context()
    for operator, tests in conditions.items():
        if operator not in _OPERATORS:
            raise NotModelled(f"condition operator {operator}")
        for key, patterns in tests.items():
            if key.lower() not in context:
                raise NotModelled(f"condition key {key}")
            value = context[key.lower()]
            if value is None:
                # A key the request does not carry: only a negated operator holds.
                if not operator.startswith(("StringNot", "ArnNot")):
                    return False
                continue
            if not _OPERATORS[operator]([str(p) for p in _list(patterns)], value):
                return False
    return True


@dataclass(frozen=True)
class Policy:
    """A policy document, with ``execute-api:/`` expanded to the API's ARN prefix."""

    statements: tuple[dict[str, Any], ...]

    @classmethod
    def parse(cls, document: str | dict[str, Any], api_prefix: str = "") -> Policy:
        text = document if isinstance(document, str) else json.dumps(document)
        if api_prefix:
            text = text.replace("execute-api:/", api_prefix)
        return cls(tuple(_list(json.loads(text)["Statement"])))

    def matching(
        self, effect: str, action: str, resource: str, principal: Principal, *, resource_based: bool
    ) -> Iterable[dict[str, Any]]:
        for statement in self.statements:
            if statement["Effect"] != effect:
                continue
            if "NotAction" in statement or "NotResource" in statement:
                raise NotModelled("NotAction/NotResource")
            if not any(_like(a.lower(), action.lower()) for a in _list(statement["Action"])):
                continue
            if not any(_like(r, resource) for r in _list(statement["Resource"])):
                continue
            if resource_based and not _names(statement.get("Principal"), principal):
                continue
            if not _conditions_hold(statement.get("Condition", {}), principal):
                continue
            yield statement


def _names(element: Any, principal: Principal) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict) or set(element) != {"AWS"}:
        raise NotModelled(f"principal {element!r}")
    for entry in _list(element["AWS"]):
        if entry in ("*", principal.arn, principal.account):
            return True
        if entry.endswith(f"::{principal.account}:root"):
            return True
    return False


def _delegates_only(statement: dict[str, Any], principal: Principal) -> bool:
    """A resource-policy Allow for the principal's own account root: IAM decides."""
    entries = _list((statement.get("Principal") or {}).get("AWS", []))
    return statement.get("Principal") != "*" and all(
        str(entry).endswith(f"::{principal.account}:root") or entry == principal.account
        for entry in entries
    )


def invoke_allowed(
    principal: Principal, identity: Policy, resource_policy: Policy, api_account: str, arn: str
) -> bool:
    """Whether IAM lets ``principal`` call the route ``arn``."""
    action = "execute-api:Invoke"
    for policy, resource_based in ((identity, False), (resource_policy, True)):
        denied = policy.matching("Deny", action, arn, principal, resource_based=resource_based)
        if any(True for _ in denied):
            return False
    identity_allows = any(
        True for _ in identity.matching("Allow", action, arn, principal, resource_based=False)
    )
    resource_allows = [
        statement
        for statement in resource_policy.matching(
            "Allow", action, arn, principal, resource_based=True
        )
    ]
    if principal.account != api_account:
        return identity_allows and bool(resource_allows)
    explicit = [s for s in resource_allows if not _delegates_only(s, principal)]
    return identity_allows or bool(explicit)
