"""A session's SSM parameters (its hold's token, its ready wait's), written the one way.

Each new attempt of a ``.waitForTaskToken`` state stores a new token where the same name
held the last attempt's. PutParameter takes the session's tags only when it creates the
parameter, and refuses Tags together with Overwrite, so the first write tags it and every
later one replaces its value alone.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tasks.common.observability import error_code


def put_session_parameter(
    ssm: Any, name: str, *, description: str, value: str, tags: list[dict[str, str]]
) -> bool:
    """Write ``value`` at ``name``, tagged when created; True if it replaced a value."""
    common = {"Name": name, "Description": description, "Value": value, "Type": "String"}
    try:
        ssm.put_parameter(**common, Tags=tags)
    except ClientError as error:
        if error_code(error) != "ParameterAlreadyExists":
            raise
        ssm.put_parameter(**common, Overwrite=True)
        return True
    return False
