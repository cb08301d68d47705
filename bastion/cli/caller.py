"""Who the command is, as AWS sees it, and whether the next command will be the same caller.

The API keeps a session to the caller that started it (its ARN, and in private mode its
``aws:userid``): every later command must come from the same identity. An assume-role or
web-identity profile without ``role_session_name`` breaks that: botocore names each new
process's role session ``botocore-session-<time>``, so ``bastion ssh``, ``status`` or
``down`` would be another caller, refused by the API, and the session could only expire.
``bastion up`` therefore refuses such an identity before anything is created, naming the
setting that fixes it.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bastion.cli.errors import CliError, ExitCode

#: The role session name botocore makes up when the profile names none.
_GENERATED_SESSION = re.compile(r":(?P<session>assumed-role/[^/]+/botocore-session-[0-9]+)$")


def caller_arn(session: Any) -> str:
    """The caller's ARN (STS GetCallerIdentity, which needs no permission)."""
    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except ClientError as error:
        problem = error.response["Error"]
        raise CliError(
            f"cannot tell who you are: {problem.get('Code')}: {problem.get('Message')}",
            ExitCode.CONFIGURATION,
        ) from None
    except BotoCoreError as error:
        raise CliError(f"cannot tell who you are: {error}", ExitCode.CONFIGURATION) from None


def require_stable_identity(session: Any, profile: str | None) -> None:
    """CliError (configuration) if the caller's role session is named anew per process."""
    generated = _GENERATED_SESSION.search(caller_arn(session))
    if generated is None:
        return
    where = f"[profile {profile}]" if profile else "your profile (or AWS_ROLE_SESSION_NAME)"
    raise CliError(
        f"your role session is named anew by each process ({generated['session']}), so "
        "later bastion commands would be another caller and the API would refuse them; set "
        f"role_session_name in {where}, for example role_session_name = your user name, and "
        "run again",
        ExitCode.CONFIGURATION,
    )
