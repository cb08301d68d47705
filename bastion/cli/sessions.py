"""Sessions as the command shows them: the API's view of each, as one JSON document.

The API works a session out from its execution (tasks/api_view.py) and answers it to
its requester and the stack's administrators only. This module turns that view into
the document the command prints (bastion/cli/schema.json), finds the session a command
means, and builds OpenSSH's command line. What the API answers is shown to terminals,
so its text is made printable first.
"""

from __future__ import annotations

import re
import secrets
import shlex
import unicodedata
from pathlib import Path
from typing import Any

from bastion.cli import api, keys, session_manager
from bastion.cli.errors import CliError, ExitCode
from bastion.cli.target import Target
from tasks.common.host_keys import HostKey, HostKeyError, parse_host_keys

END_STATES = ("ENDED", "FAILED")
PUBLIC, PRIVATE = "public", "private"
ACCESS_MODES = (PUBLIC, PRIVATE)
#: Execution errors that mean "refused before anything was created".
REFUSALS = frozenset(
    {"InvalidRequest", "ClusterNotFound", "ClusterNotPrivate", "SessionLimitReached"}
)
#: How much of a value the API answered a document shows.
MAX_VALUE_CHARS = 256
MAX_MESSAGE_CHARS = 2000
_SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
#: A login name ssh is given: never an option (ssh takes any argument that starts with
#: "-" for one, even after the destination), a space or a shell word. Local accounts may
#: be longer than POSIX's 32 characters and hold "@" (a directory's user@domain).
USER_SHAPE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@-]{0,127}")


def new_session_id(name: str) -> str:
    """A fresh session id: ``name`` and a random suffix (1-80 of [A-Za-z0-9_-])."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")[:40]
    return f"{cleaned or 'session'}-{secrets.token_hex(4)}"


def printable(text: str) -> str:
    """``text`` with its control and format characters (escape sequences, bidirectional
    overrides, newlines) written as escapes such as ``\\x1b``: a value read from an
    execution is shown to other users' terminals, and must not drive them."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in ("Cc", "Cf")
        else char
        for char in text
    )


def _text(value: Any, limit: int = MAX_VALUE_CHARS) -> str | None:
    """``value`` if it is a non-empty string, cut to ``limit`` characters and printable."""
    if not isinstance(value, str) or not value:
        return None
    shown = value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"
    return printable(shown)


def _seconds(value: Any) -> str | None:
    """An API timestamp (with or without milliseconds) to the second, ``...:SSZ``."""
    match = _SECONDS.match(value) if isinstance(value, str) else None
    return f"{match.group()}Z" if match else None


def fetch(target: Target, cluster: str, session_id: str) -> dict[str, Any]:
    """The API's view of one session (CliError NOT_FOUND when it has none)."""
    return api.call(target, "GET", api.session_path(cluster, session_id))[1]


def document(target: Target, view: dict[str, Any]) -> dict[str, Any]:
    """The command's document of the session the API's ``view`` describes."""
    session_id = str(view["sessionId"])
    status = str(view["phase"]).upper()
    access_mode = access_mode_of(view)
    address, port, user = _where(target, session_id, view)
    failure = view.get("error") or None
    doc: dict[str, Any] = {
        "sessionId": session_id,
        "status": status,
        "cluster": _text(view.get("cluster")),
        "requestedBy": _text(view.get("requestedBy")),
        "executionArn": str(view["executionArn"]),
        "executionStatus": str(view["status"]),
        "startedAt": _seconds(view.get("startedAt")),
        "expiresAt": _seconds(view.get("expiresAt")),
        "latestExpiresAt": _seconds(view.get("latestExpiresAt")),
        "endedAt": _seconds(view.get("stoppedAt")),
        "address": address,
        "port": port,
        "user": user,
        "keyFile": None,
        "sshCommand": None,
        "hostPublicKeys": None,
        "endReason": _text(view.get("endReason")),
        "error": {
            "code": _text(failure.get("error")) or str(view["status"]),
            "message": _text(failure.get("message"), MAX_MESSAGE_CHARS) or "",
        }
        if failure
        else None,
        "local": target.is_local,
        "accessMode": _text(access_mode),
        "sessionManager": None,
    }
    key_file = keys.private_key_for(target.sessions_dir, session_id, doc["executionArn"])
    doc["keyFile"] = str(key_file) if key_file else None
    host_keys = _reported_host_keys(view) if status == "READY" else None
    if host_keys:
        doc["hostPublicKeys"] = [key.as_event_entry() for key in host_keys]
    reachable = bool(address)
    if status == "READY" and access_mode == PRIVATE:
        try:
            doc["sessionManager"] = session_manager_of(target, view).to_dict()
        except CliError:
            reachable = False  # nothing is run with it; ssh and kubeconfig say why
        else:
            reachable = True
    if not USER_SHAPE.fullmatch(user):
        reachable = False  # ssh_argv refuses it too
    if status == "READY" and reachable and host_keys and access_mode in ACCESS_MODES:
        doc["sshCommand"] = shlex.join(ssh_argv(target, doc))
    return doc


def access_mode_of(view: dict[str, Any]) -> str:
    """The session's access mode as the API says it (public when it says none)."""
    mode = view.get("accessMode")
    return PUBLIC if mode in (None, "") else str(mode)


def session_manager_of(target: Target, view: dict[str, Any]) -> session_manager.SessionManager:
    """Where Session Manager reaches a private session's bastion, checked before anything
    runs with it (CliError SESSION_FAILED naming what is wrong)."""
    try:
        return session_manager.parse(
            view.get("sessionManager"), task_arn=view.get("taskArn"), region=target.region
        )
    except session_manager.SessionManagerError as error:
        raise CliError(
            f"session {view.get('sessionId')}: its sessionManager is not usable "
            f"({printable(str(error))}), so nothing is run with it",
            ExitCode.SESSION_FAILED,
        ) from None


def _reported_host_keys(view: dict[str, Any]) -> tuple[HostKey, ...] | None:
    """The host keys the API says the bastion reported, each one checked (None when there
    are none, or any is not a plain host key: nothing is then pinned, nor connected to)."""
    try:
        return parse_host_keys(view.get("hostPublicKeys"))
    except HostKeyError:
        return None


def pin_host_keys(target: Target, doc: dict[str, Any]) -> Path:
    """Write the session's known_hosts: the host keys its bastion reported, for the address
    and port ssh connects to (a private session's: for its id, ssh's HostKeyAlias).
    CliError when there are none to pin."""
    session_id = str(doc["sessionId"])
    try:
        host_keys = parse_host_keys(doc.get("hostPublicKeys"))
        if doc.get("sessionManager"):
            # ssh looks the keys up under its HostKeyAlias, the session id (which the
            # project's one check keeps to letters, digits, _ and -: never a pattern).
            keys.session_dir(target.sessions_dir, session_id)
            lines = [f"{session_id} {key.key_type} {key.key}" for key in host_keys]
        else:
            lines = [
                key.known_hosts_line(str(doc["address"]), int(doc["port"])) for key in host_keys
            ]
    except HostKeyError as error:
        raise CliError(
            f"session {session_id}: no host keys to pin for its bastion ({error}); "
            "ssh would have to trust whatever key answers, so it is not run",
            ExitCode.SESSION_FAILED,
        ) from None
    return keys.write_known_hosts(target.sessions_dir, session_id, lines)


def pinned_host_options(known_hosts: Path) -> list[str]:
    """ssh options that trust exactly the host keys in ``known_hosts``: no other file, no
    key accepted on first use, and no key the server offers added later."""
    return [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UpdateHostKeys=no",
    ]


def _where(target: Target, session_id: str, view: dict[str, Any]) -> tuple[str | None, int, str]:
    """(address, port, user) of a ready session's bastion: as the API's ssh command
    (``ssh USER@ADDRESS``) says, or where the local AWS runs it (a loopback port)."""
    if target.local_dir is not None and (view.get("address") or view.get("sessionManager")):
        from bastion.local.task_runner import read_record

        record = read_record(target.local_dir, session_id)
        if record is not None and access_mode_of(view) == PRIVATE:
            return None, 22, record.user  # reached through Session Manager, not an address
        if record is not None:
            return record.address, record.port, record.user
    user = str(view.get("sshCommand") or "").rpartition("@")[0].rpartition(" ")[2]
    return _text(view.get("address")), 22, _text(user) or "bastion"


def ssh_argv(target: Target, doc: dict[str, Any], command: list[str] | None = None) -> list[str]:
    """OpenSSH's command line for the session's bastion.

    Host keys: the bastion generates its host keys when it starts and reports them in its
    log stream's started line; the ready document carries them, and :func:`pin_host_keys`
    writes them to a known_hosts file of the session's own. ssh trusts that file alone
    (``StrictHostKeyChecking=yes``): a bastion presenting any other key is refused before
    anything is sent to it. Your own ``~/.ssh/known_hosts`` is never read or touched.
    """
    session_id = str(doc["sessionId"])
    if not USER_SHAPE.fullmatch(str(doc["user"])):
        raise CliError(
            f"session {session_id}: its ssh user {printable(str(doc['user']))!r} is not a "
            "user name, so nothing is run with it",
            ExitCode.SESSION_FAILED,
        )
    argv = ["ssh"]
    key_file = doc.get("keyFile")
    if key_file:
        argv += ["-i", str(key_file), "-o", "IdentitiesOnly=yes"]
    argv += pinned_host_options(keys.known_hosts_path(target.sessions_dir, session_id))
    manager = doc.get("sessionManager")
    if manager:
        proxy = session_manager.proxy_command(
            session_manager.SessionManager(
                manager["target"], manager["documentName"], manager["region"]
            ),
            profile=target.profile,
            local_dir=target.local_dir,
        )
        argv += ["-o", f"HostKeyAlias={session_id}", "-o", f"ProxyCommand={proxy}"]
        # ssh refuses a host name that starts with "-"; the alias, not the name, picks the
        # pinned keys, and the proxy ignores the name.
        host = session_id if session_id[0].isalnum() else f"session{session_id}"
        argv.append(f"{doc['user']}@{host}")
        return argv + (command or [])
    if int(doc.get("port") or 22) != 22:
        argv += ["-p", str(doc["port"])]
    argv.append(f"{doc['user']}@{doc['address']}")
    return argv + (command or [])


def running(target: Target, limit: int = api.MAX_LIST_LIMIT) -> list[dict[str, Any]]:
    """The caller's running sessions (everyone's for an administrator), newest first:
    ``sessionId``, ``cluster``, ``requestedBy``, ``startedAt``."""
    listed = api.call(target, "GET", f"/sessions?limit={limit}")[1]
    # Only a session id ever becomes a path or a route.
    return [entry for entry in listed["sessions"] if keys.is_session_id(entry["sessionId"])]


def locate(target: Target, session_id: str | None, cluster: str | None) -> tuple[str, str]:
    """(cluster, session id) of the session a command means: ``session_id`` on
    ``cluster`` if both are given; else on the cluster this machine recorded for it, or
    among the caller's running sessions (the newest, when no id is given)."""
    if session_id and cluster:
        return cluster, session_id
    recorded = keys.cluster_of(target.sessions_dir, session_id) if session_id else None
    if session_id and recorded:
        return recorded, session_id
    for entry in running(target):
        if session_id in (None, entry["sessionId"]) and cluster in (None, entry["cluster"]):
            return str(entry["cluster"]), str(entry["sessionId"])
    if session_id and target.default_cluster:
        return target.default_cluster, session_id
    if session_id:
        raise CliError(
            f"no running session {session_id!r} of yours, and this machine did not start "
            "it: name its cluster with --cluster",
            ExitCode.NOT_FOUND,
        )
    raise CliError(
        "no running session of yours: start one with `bastion up`, or name one",
        ExitCode.NOT_FOUND,
    )


def list_sessions(target: Target, *, limit: int, running_only: bool) -> list[dict[str, Any]]:
    """The caller's running sessions and, unless ``running_only``, those this machine
    has a folder for, newest first (each one a document)."""
    found = {entry["sessionId"]: str(entry["cluster"]) for entry in running(target, limit)}
    if not running_only:
        for session_id in keys.local_session_ids(target.sessions_dir):
            recorded = keys.cluster_of(target.sessions_dir, session_id)
            if recorded and session_id not in found:
                found[session_id] = recorded
    views = []
    for session_id, cluster in found.items():
        try:
            views.append(fetch(target, cluster, session_id))
        except CliError as error:
            if error.code != ExitCode.NOT_FOUND:
                raise
    views.sort(key=lambda view: str(view["startedAt"]), reverse=True)
    return [document(target, view) for view in views[:limit]]


def refusal(view: dict[str, Any]) -> CliError:
    """The CliError for a session that failed (REFUSED when the request was refused)."""
    failure = view.get("error") or {}
    code = _text(failure.get("error")) or str(view["status"])
    message = _text(failure.get("message"), MAX_MESSAGE_CHARS) or ""
    if code in REFUSALS:
        field = message.split(":", 1)[0] if ":" in message else None
        return CliError(message or code, ExitCode.REFUSED, field=field)
    return CliError(
        f"the session failed: {code}: {message}" if message else f"the session failed: {code}",
        ExitCode.SESSION_FAILED,
    )
