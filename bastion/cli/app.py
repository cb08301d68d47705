"""``bastion``: on-demand, self-destructing bastions for private EKS clusters.

Each command is a function ``(args, out) -> int``; :func:`main` parses the command line,
runs one, and turns a :class:`CliError` into one line on stderr (``bastion: ...``), its
JSON form on stdout with ``--output json``, and its documented exit code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from bastion.cli import api, expiry_notice, keys, kubeconfig, session_manager_plugin, sessions
from bastion.cli.caller import require_stable_identity
from bastion.cli.display import Progress, follow_until, live_capable, steps_of
from bastion.cli.errors import EXIT_CODE_HELP, CliError, ExitCode
from bastion.cli.sessions import END_STATES
from bastion.cli.target import Target, lost_sessions_note, resolve
from tasks.common.errors import InvalidRequest
from tasks.common.validation import check_session_id

DEFAULT_TIMEOUT_SECONDS = 600.0
#: The longest session any stack allows (its MaxDurationMinutes may not exceed 7 days).
MAX_DURATION_MINUTES = 7 * 24 * 60
#: Waits (--timeout) are capped at a day.
MAX_TIMEOUT_SECONDS = 86_400.0
MAX_TAIL_LINES = 1_000_000
MAX_TIME_SCALE = 100_000.0

EXAMPLES = """\
examples:
  bastion up --cluster payments --duration 2h      start a session, follow it, print ssh
  bastion ssh                                      log in to your latest session
  bastion ssh -- kubectl get nodes                 run one command on the bastion
  bastion kubeconfig                               kubectl context through an ssh -D tunnel
  bastion resources                                what it owns in AWS, found by its tags
  bastion extend --by 30m                          hold it longer, within the stack's maximum
  bastion down                                     end it: the bastion and its doors go away
  bastion up --cluster payments --wait --output json   for scripts and CI
  bastion --local up --wait                        the same on the embedded local AWS

where the stack's API is: --api-url (or BASTION_API_URL: its ApiUrl output), or the
ApiUrl of --stack NAME (or BASTION_STACK; default "fargate-bastion").
credentials and region: as the AWS CLI (--profile, --region, AWS_PROFILE, AWS_REGION...).
"""


# --------------------------------------------------------------------------- helpers


def parse_duration(text: str) -> int:
    """Minutes in ``90``, ``90m``, ``2h``, ``1h30m`` (argparse type), 1 to 7 days."""
    match = re.fullmatch(r"\s*(?:(\d{1,6})h)?\s*(?:(\d{1,6})m?)?\s*", text)
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 2h or 1h30m")
    hours, minutes = (int(group) if group else 0 for group in match.groups())
    total = hours * 60 + minutes
    if not 1 <= total <= MAX_DURATION_MINUTES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the duration must be from one minute to {MAX_DURATION_MINUTES // 60}h "
            "(the stack's own maximum applies too)"
        )
    return total


def whole_number(low: int, high: int) -> Any:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high} (got {text!r})"
            )
        return value

    return parse


def seconds_between(low: float, high: float) -> Any:
    """An argparse type: a finite number from ``low`` to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(
                f"must be a number from {low:g} to {high:g} (got {text!r})"
            )
        return value

    return parse


def session_id_type(text: str) -> str:
    """An argparse type: a session id as the stack checks it (never a path, glob or filter)."""
    try:
        return check_session_id(text)
    except InvalidRequest as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error.problem}") from None


def _emit(args: argparse.Namespace, out: TextIO, document: Any, text: str) -> None:
    if args.output == "json":
        out.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        out.write(text.rstrip("\n") + "\n")


def _progress(args: argparse.Namespace) -> Progress:
    """Where steps go: stderr in text output; nowhere for JSON unless stderr is a terminal."""
    stream = sys.stderr
    live = live_capable(stream)
    if args.output == "json" and not live:
        return Progress(None, live=False)
    return Progress(stream, live=live)


def _note(args: argparse.Namespace, message: str) -> None:
    if args.output == "text" or live_capable(sys.stderr):
        print(message, file=sys.stderr, flush=True)


def _expires_in(expires_at: str | None) -> str:
    if not expires_at:
        return ""
    try:
        moment = datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    minutes = round((moment - datetime.now(UTC)).total_seconds() / 60)
    return f" (in {minutes} min)" if minutes >= 0 else " (past)"


def _session_text(doc: dict[str, Any]) -> str:
    lines = [f"session {doc['sessionId']}: {doc['status']}, cluster {doc['cluster']}"]
    if doc["status"] == "READY":
        local = " --local" if doc["local"] else ""
        connect = [f"  connect:  bastion ssh {doc['sessionId']}{local}"]
        if doc["sshCommand"]:
            connect.append(f"  or:       {doc['sshCommand']}")
        if not doc["sessionManager"]:
            lines += connect
        fingerprints = [
            f"{key['type']} {key['fingerprint']}" for key in doc["hostPublicKeys"] or []
        ]
        lines.append(f"  host keys: {', '.join(fingerprints) or 'none reported: nothing to pin'}")
        lines.append(f"  expires:  {doc['expiresAt']}{_expires_in(doc['expiresAt'])}")
        if doc["latestExpiresAt"] and doc["latestExpiresAt"] != doc["expiresAt"]:
            lines.append(
                f"  extend:   bastion extend {doc['sessionId']} --by 30m{local} "
                f"(until {doc['latestExpiresAt']} at most)"
            )
        lines.append(f"  end it:   bastion down {doc['sessionId']}")
        if doc["sessionManager"]:
            lines += _private_lines(doc["sessionManager"]) + connect
    elif doc["status"] == "ENDED":
        lines.append(f"  ended:    {doc['endedAt']} ({doc['endReason']})")
    elif doc["status"] == "FAILED" and doc["error"]:
        lines.append(f"  error:    {doc['error']['code']}: {doc['error']['message']}")
    elif doc["expiresAt"]:
        lines.append(f"  expires:  {doc['expiresAt']}")
    return "\n".join(lines)


def _private_lines(manager: dict[str, str]) -> list[str]:
    """How a private session is reached, and whether the plugin that needs is here."""
    lines = [
        "  reached:  through Session Manager, no inbound port "
        f"(target {manager['target']}, document {manager['documentName']})"
    ]
    try:
        lines.append(f"  plugin:   {session_manager_plugin.find_plugin()}")
    except CliError as error:
        lines.append(f"  plugin:   {error.message}; then connect:")
    return lines


def _pin_if_ours(target: Target, doc: dict[str, Any]) -> None:
    """A ready session this machine started gets its known_hosts, which its printed ssh
    command names, written from the host keys its bastion reported."""
    owned = keys.owner(target.sessions_dir, str(doc["sessionId"])) == doc["executionArn"]
    if doc["status"] == "READY" and doc["sshCommand"] and owned:
        sessions.pin_host_keys(target, doc)


def _forget_if_ended(target: Target, doc: dict[str, Any]) -> None:
    """An ended session's directory (its ephemeral key) is removed once it is seen ended."""
    if doc["status"] in END_STATES:
        if keys.forget(target.sessions_dir, str(doc["sessionId"]), str(doc["executionArn"])):
            doc["keyFile"] = None


def _view(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    """The API's view of the session the command line means."""
    cluster, session_id = sessions.locate(target, args.session_id, args.cluster)
    return sessions.fetch(target, cluster, session_id)


def _ready_session(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    view = _view(args, target)
    doc = sessions.document(target, view)
    if doc["status"] != "READY":
        _forget_if_ended(target, doc)
        raise CliError(
            f"session {doc['sessionId']} is {doc['status']}, not READY", ExitCode.NOT_FOUND
        )
    mode = sessions.access_mode_of(view)
    if mode not in sessions.ACCESS_MODES:
        raise CliError(
            f"session {doc['sessionId']}: accessMode {sessions.printable(mode)!r} is neither "
            "public nor private, so nothing is run with it",
            ExitCode.SESSION_FAILED,
        )
    if mode == sessions.PRIVATE:
        sessions.session_manager_of(target, view)  # refused here, before anything runs
    keys.claim(target.sessions_dir, doc["sessionId"], doc["executionArn"], str(view["cluster"]))
    sessions.pin_host_keys(target, doc)
    return {**view, **doc}


# --------------------------------------------------------------------------- commands


def session_request(args: argparse.Namespace, public_key: str, session_id: str) -> dict[str, Any]:
    """The body ``up`` posts. The API takes who you are, and your address as the default
    CIDR of a public session, from the request; without --mode the stack's default mode."""
    request: dict[str, Any] = {"sshPublicKey": public_key, "sessionId": session_id}
    if args.duration is not None:
        request["durationMinutes"] = args.duration
    if args.cidr:
        request["allowedCidrs"] = args.cidr
    if args.mode:
        request["accessMode"] = args.mode
    return request


def cmd_up(args: argparse.Namespace, out: TextIO) -> int:
    """Start a session and follow it until the bastion is ready."""
    target = resolve(args)
    cluster = args.cluster or target.default_cluster
    if cluster is None:
        raise CliError("--cluster is required", ExitCode.USAGE, field="cluster")
    user_key = keys.public_key_of(Path(args.key).expanduser()) if args.key else None
    if not target.is_local:  # the local AWS signs with credentials of its own
        require_stable_identity(target.session, target.profile)
    session_id = args.session_id or sessions.new_session_id(os.environ.get("USER", "me"))
    root = target.sessions_dir
    # From here on the session's directory is this command's own (it did not exist): a
    # start that fails removes it, and nothing else.
    keys.create_session_dir(root, session_id)
    started = False
    try:
        if user_key is not None:
            public_key = user_key[1]
            keys.remember_key(root, session_id, user_key[0])
        else:
            public_key = keys.generate_key(root, session_id)[1]
        request = session_request(args, public_key, session_id)
        answer = api.call(target, "POST", api.sessions_path(cluster), request)[1]
        started = True
        keys.claim(root, session_id, str(answer["executionArn"]), cluster)
        _note(args, f"starting session {session_id} for cluster {cluster}")
        if not (args.wait or args.output == "text"):
            doc = sessions.document(target, sessions.fetch(target, cluster, session_id))
            _emit(args, out, doc, _session_text(doc))
            return ExitCode.OK
        view = _follow(args, target, cluster, session_id, lambda v: v["phase"] != "starting")
    except BaseException:
        if not started:
            keys.remove_session_dir(root, session_id)  # nothing exists: keep nothing either
        raise
    if view["phase"] != "ready":
        keys.remove_session_dir(root, session_id)
        if view["status"] == "RUNNING" or view["error"] is None:
            raise CliError(
                f"session {session_id} ended before it was ready", ExitCode.SESSION_FAILED
            )
        raise sessions.refusal(view)
    doc = sessions.document(target, view)
    _pin_if_ours(target, doc)
    _emit(args, out, doc, _session_text(doc))
    return ExitCode.OK


def _follow(
    args: argparse.Namespace,
    target: Target,
    cluster: str,
    session_id: str,
    until: Any,
    skip: int = 0,
) -> dict[str, Any]:
    """Follow the session's steps through the API until ``until`` holds for its view."""
    try:
        return follow_until(
            lambda: sessions.fetch(target, cluster, session_id),
            _progress(args),
            until,
            timeout_seconds=args.timeout,
            skip=skip,
        )
    except TimeoutError as error:
        raise CliError(
            f"session {session_id} is {error}; it goes on: "
            f"`bastion status {session_id}`, `bastion down {session_id}`",
            ExitCode.TIMED_OUT,
        ) from None


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    """Show one session (default: your latest)."""
    target = resolve(args)
    doc = sessions.document(target, _view(args, target))
    _forget_if_ended(target, doc)
    _pin_if_ours(target, doc)
    _emit(args, out, doc, _session_text(doc))
    return ExitCode.OK


def cmd_ls(args: argparse.Namespace, out: TextIO) -> int:
    """List your running sessions and this machine's, newest first."""
    target = resolve(args)
    docs = sessions.list_sessions(target, limit=args.limit, running_only=args.running)
    for doc in docs:
        _forget_if_ended(target, doc)
    rows = [("SESSION", "STATUS", "CLUSTER", "ADDRESS", "EXPIRES")]
    rows += [
        (
            str(d["sessionId"]),
            str(d["status"]),
            str(d["cluster"] or "-"),
            _reached_at(d),
            str(d["expiresAt"] or "-"),
        )
        for d in docs
    ]
    _emit(args, out, {"sessions": docs}, _table(rows) if docs else "no sessions")
    return ExitCode.OK


def _reached_at(doc: dict[str, Any]) -> str:
    """Where ls says a session is reached: its address, Session Manager, or nowhere yet."""
    if doc["address"]:
        return f"{doc['address']}:{doc['port']}"
    return "session-manager" if doc["sessionManager"] else "-"


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    """``rows`` (the first one the header) in aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def cmd_resources(args: argparse.Namespace, out: TextIO) -> int:
    """Show what a session owns in AWS, found by its tags as its teardown finds it."""
    target = resolve(args)
    cluster, session_id = sessions.locate(target, args.session_id, args.cluster)
    owned = api.call(target, "GET", api.session_path(cluster, session_id) + "/resources")[1]
    rows = [("KIND", "ID", "DETAIL")]
    rows += [("security group", g["groupId"], g["groupName"]) for g in owned["securityGroups"]]
    for r in owned["controlPlaneRules"]:
        ports = r["fromPort"] if r["fromPort"] == r["toPort"] else f"{r['fromPort']}-{r['toPort']}"
        where = f"{r['protocol']} {ports} on {r['groupId']} from {r['referencedGroupId']}"
        rows.append(("control-plane rule", r["ruleId"], where))
    rows += [("bastion task", t["taskArn"], t["lastStatus"]) for t in owned["bastionTasks"]]
    rows += [("hold parameter", p["name"], "") for p in owned["holdParameters"]]
    shown = [tuple(sessions.printable(str(cell)) for cell in row) for row in rows]
    heading = f"session {session_id}: {owned['status']}, cluster {cluster}"
    text = _table(shown) if len(rows) > 1 else "it owns nothing"
    _emit(args, out, owned, f"{sessions.printable(heading)}\n{text}")
    return ExitCode.OK


def cmd_extend(args: argparse.Namespace, out: TextIO) -> int:
    """Extend a ready session by --by, within the stack's maximum; wait until it holds to
    the new expiry (unless --no-wait)."""
    target = resolve(args)
    view = _view(args, target)
    cluster, session_id = str(view["cluster"]), str(view["sessionId"])
    path = api.session_path(cluster, session_id) + "/extensions"
    answer = api.call(target, "POST", path, {"byMinutes": args.by})[1]
    expected = str(answer.get("expiresAt"))
    _note(args, f"extending session {session_id} by {args.by} min, to {expected}")
    if not args.no_wait:
        already = len(steps_of(view))
        view = _follow(args, target, cluster, session_id, _extended(expected, view), already)
    doc = sessions.document(target, view)
    outcome = view.get("lastExtension") or {}
    if outcome.get("outcome") == "refused" and doc["expiresAt"] != expected:
        raise CliError(f"not extended: {outcome.get('reason')}", ExitCode.REFUSED)
    if doc["expiresAt"] == expected and doc["status"] == "READY":
        why_not = expiry_notice.tell_bastion(target, doc, expected)
        _note(
            args,
            f"told the bastion: its terminals are warned before {expected}"
            if why_not is None
            else f"the bastion was not told the new expiry ({why_not}): its terminals are "
            "warned only before the expiry it started with",
        )
    _emit(args, out, doc, _session_text(doc))
    return ExitCode.OK


def _extended(expected: str, before: dict[str, Any]) -> Any:
    """Whether a view shows the session held to ``expected``, refused, or no longer ready."""
    earlier = before.get("lastExtension")

    def done(view: dict[str, Any]) -> bool:
        if view.get("phase") != "ready" or view.get("expiresAt") == expected:
            return True
        last = view.get("lastExtension") or {}
        return last != earlier and last.get("outcome") == "refused"

    return done


def cmd_down(args: argparse.Namespace, out: TextIO) -> int:
    """End a session early; wait for its teardown (unless --no-wait)."""
    target = resolve(args)
    view = _view(args, target)
    cluster, session_id = str(view["cluster"]), str(view["sessionId"])
    if view["status"] == "RUNNING":
        if view["phase"] != "ending":
            api.call(target, "DELETE", api.session_path(cluster, session_id))
            _note(args, f"ending session {session_id}")
        if not args.no_wait:
            already = len(steps_of(view))
            view = _follow(args, target, cluster, session_id, lambda v: False, already)
        else:
            view = sessions.fetch(target, cluster, session_id)
    doc = sessions.document(target, view)
    _forget_if_ended(target, doc)
    _emit(args, out, doc, _session_text(doc))
    return ExitCode.OK


def cmd_ssh(args: argparse.Namespace, out: TextIO) -> int:
    """Log in to the bastion (or run a command there) with OpenSSH."""
    target = resolve(args)
    doc = _ready_session(args, target)
    if doc["sessionManager"]:
        local = " --local" if target.is_local else ""
        session_manager_plugin.find_plugin(then=f"bastion ssh {doc['sessionId']}{local}")
    argv = sessions.ssh_argv(target, doc, list(args.remote_command or []))
    argv[1:1] = ["-o", "LogLevel=ERROR"]
    out.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - OpenSSH, argv built above
    except FileNotFoundError:
        raise CliError("ssh (OpenSSH's client) is not installed", ExitCode.CONFIGURATION) from None
    return ExitCode.ERROR  # not reached


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cmd_kubeconfig(args: argparse.Namespace, out: TextIO) -> int:
    """Write a kubectl context that reaches the private endpoint through ssh -D."""
    target = resolve(args)
    doc = _ready_session(args, target)
    session_id = str(doc["sessionId"])
    server, authority = doc["clusterEndpoint"], doc["clusterCertificateAuthority"]
    if not server or not authority:
        raise CliError(f"the API did not say where cluster {doc['cluster']!r} listens")
    socks_port = args.socks_port or _free_port()
    directory = keys.ensure_session_dir(target.sessions_dir, session_id)
    path = Path(args.kubeconfig).expanduser() if args.kubeconfig else directory / "kubeconfig"
    context = f"fargate-bastion-{session_id}"
    if target.is_local:
        user: dict[str, Any] = {"token": "local-stand-in-accepts-any-token"}
    else:
        exec_args = ["eks", "get-token", "--cluster-name", doc["cluster"]]
        exec_args += ["--region", target.region]
        exec_env = [{"name": "AWS_PROFILE", "value": args.profile}] if args.profile else None
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": exec_args,
                "env": exec_env,
                "interactiveMode": "IfAvailable",
            }
        }
    kubeconfig.write(
        path,
        kubeconfig.Context(
            name=context,
            cluster={
                "server": server,
                "certificate-authority-data": authority,
                "proxy-url": f"socks5://127.0.0.1:{socks_port}",
            },
            user=user,
        ),
    )
    tunnel = sessions.ssh_argv(target, doc)
    tunnel[1:1] = ["-N", "-D", f"127.0.0.1:{socks_port}", "-o", "ExitOnForwardFailure=yes"]
    if doc["sessionManager"]:
        try:
            session_manager_plugin.find_plugin()
        except CliError as error:
            _note(args, f"bastion: {error.message}; then start the tunnel below")
    document = {
        "sessionId": session_id,
        "kubeconfig": str(path),
        "context": context,
        "server": server,
        "socksPort": socks_port,
        "tunnelCommand": tunnel,
    }
    text = (
        f"wrote context {context} to {path}\n"
        f"start the tunnel (leave it running):\n  {shlex.join(tunnel)}\n"
        f"then, in another shell:\n  export KUBECONFIG={path}\n  kubectl get --raw /version"
    )
    _emit(args, out, document, text)
    return ExitCode.OK


def cmd_logs(args: argparse.Namespace, out: TextIO) -> int:
    """Print the bastion container's log lines."""
    target = resolve(args)
    view = _view(args, target)
    session_id = str(view["sessionId"])
    lines: list[str]
    if target.local_dir is not None:
        from bastion.local.task_runner import log_path

        path = log_path(target.local_dir, session_id)
        source = str(path)
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            raise CliError(
                f"no log of session {session_id} on the local AWS (was its bastion simulated?)",
                ExitCode.NOT_FOUND,
            ) from None
    else:
        group, stream = view["logGroup"], view["logStream"]
        if not group or not stream:
            raise CliError(f"session {session_id} has no bastion task logs", ExitCode.NOT_FOUND)
        source = f"{group}:{stream}"
        try:
            events = target.session.client("logs").get_log_events(
                logGroupName=group, logStreamName=stream, startFromHead=True
            )["events"]
        except ClientError as error:
            if error.response["Error"].get("Code") != "ResourceNotFoundException":
                raise CliError(f"cannot read {source}: {error}") from None
            raise CliError(f"no log lines in {source} yet", ExitCode.NOT_FOUND) from None
        lines = [str(event["message"]).rstrip("\n") for event in events]
    if args.tail:
        lines = lines[-args.tail :]
    _emit(args, out, {"sessionId": session_id, "source": source, "lines": lines}, "\n".join(lines))
    return ExitCode.OK


def cmd_completion(args: argparse.Namespace, out: TextIO) -> int:
    """Print a shell completion script."""
    from bastion.cli.completion import script

    out.write(script(args.shell, build_parser()))
    return ExitCode.OK


def cmd_local(args: argparse.Namespace, out: TextIO) -> int:
    """Start, stop or describe the embedded local AWS."""
    from bastion import local_daemon

    state_dir = Path(args.local_dir) if args.local_dir else local_daemon.default_state_dir()
    if args.action == "stop":
        stopped = local_daemon.stop(state_dir)
        text = "stopped the local AWS" if stopped.stopped else "the local AWS was not running"
        if stopped.lost_sessions:
            text += "\n" + lost_sessions_note(stopped.lost_sessions)
        _emit(
            args,
            out,
            {
                "stopped": stopped.stopped,
                "stateDir": str(state_dir),
                "lostSessions": list(stopped.lost_sessions),
            },
            text,
        )
        return ExitCode.OK
    if args.action == "start":
        try:
            endpoint = local_daemon.start(state_dir, time_scale=args.time_scale)
        except local_daemon.LocalAwsError as error:
            raise CliError(str(error), ExitCode.CONFIGURATION) from None
    else:
        found = local_daemon.running(state_dir)
        if found is None:
            raise CliError(f"the local AWS is not running ({state_dir})", ExitCode.NOT_FOUND)
        endpoint = found
    text = (
        f"local AWS running (pid {endpoint.pid}) at {endpoint.endpoint_url}, "
        f"region {endpoint.region}\n"
        f"  cluster:  {endpoint.cluster} (private endpoint)\n"
        f"  bastions: {endpoint.bastions}\n"
        f"  state:    {state_dir}"
    )
    if endpoint.lost_sessions:
        text += "\n" + lost_sessions_note(endpoint.lost_sessions)
    _emit(args, out, endpoint.to_dict(), text)
    return ExitCode.OK


# --------------------------------------------------------------------------- parser

#: Options every command takes, before or after the command name (AWS CLI style).
_COMMON_DEFAULTS: dict[str, Any] = {
    "profile": None,
    "region": None,
    "output": "text",
    "stack": None,
    "api_url": None,
    "local": False,
    "local_dir": None,
}


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("AWS and stack options")
    group.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or default chain)")
    group.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")
    group.add_argument(
        "--output", choices=("text", "json"), help="text (default) or json (stable, documented)"
    )
    group.add_argument("--stack", help="CloudFormation stack name (default: BASTION_STACK)")
    group.add_argument(
        "--api-url", help="the sessions API base URL, the stack's ApiUrl (skips --stack)"
    )
    group.add_argument(
        "--local", action="store_true", help="use the embedded local AWS (started when needed)"
    )
    group.add_argument("--local-dir", help="the local AWS's state directory")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="bastion",
        description="On-demand, self-destructing Fargate bastions for private EKS clusters.",
        epilog=EXAMPLES + "\n" + EXIT_CODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Any, help_text: str, epilog: str = "") -> Any:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    def session_arg(sub: Any) -> None:
        sub.add_argument(
            "session_id",
            nargs="?",
            metavar="ID",
            type=session_id_type,
            help="session id (default: your latest running one)",
        )
        sub.add_argument(
            "--cluster",
            help="the session's cluster (default: found among your running sessions, or "
            "as this machine recorded it)",
        )

    up = command(
        "up",
        cmd_up,
        "start a session and follow it until the bastion is ready",
        "examples:\n  bastion up --cluster payments --duration 1h\n"
        "  bastion up --cluster payments --key ~/.ssh/id_ed25519 --cidr 203.0.113.7/32\n"
        "  bastion up --cluster payments --mode private\n"
        "  bastion up --cluster payments --wait --output json\n\n" + EXIT_CODE_HELP,
    )
    up.add_argument("--cluster", help="EKS cluster name (--local: default 'demo')")
    up.add_argument(
        "--duration", type=parse_duration, help="30m, 1h, 1h30m, at most 168h (default: stack's)"
    )
    up.add_argument(
        "--key", help="your SSH private key (its .pub is sent); default: an ephemeral ed25519"
    )
    up.add_argument(
        "--cidr",
        action="append",
        help="where SSH may come from (repeatable; default: your /32); public sessions only",
    )
    up.add_argument(
        "--mode",
        choices=sessions.ACCESS_MODES,
        help="public: a public IP and an inbound rule for your CIDRs; private: no inbound "
        "port, reached through Session Manager (needs session-manager-plugin) "
        "(default: the stack's)",
    )
    up.add_argument(
        "--wait",
        action="store_true",
        help="return only when ready (exit 0) or failed (non-zero); implied with text output",
    )
    up.add_argument(
        "--timeout",
        type=seconds_between(1, MAX_TIMEOUT_SECONDS),
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds (1 to 86400, default 600)",
    )
    up.add_argument(
        "--session-id",
        type=session_id_type,
        help="choose the session id: 1-80 of A-Z a-z 0-9 _ - (default: <you>-<random>)",
    )

    status = command("status", cmd_status, "show a session")
    session_arg(status)

    ls = command(
        "ls",
        cmd_ls,
        "list your running sessions (an administrator's: everyone's), and those this "
        "machine started, newest first",
    )
    ls.add_argument("--running", action="store_true", help="running sessions only")
    ls.add_argument(
        "--limit",
        type=whole_number(1, api.MAX_LIST_LIMIT),
        default=20,
        help=f"at most this many, 1 to {api.MAX_LIST_LIMIT} (default 20)",
    )

    extend = command(
        "extend",
        cmd_extend,
        "hold a ready session longer, up to the stack's maximum lifetime from its start",
        "examples:\n  bastion extend --by 30m\n  bastion extend alice-1a2b3c4d --by 1h\n\n"
        "The bastion itself stops at the session's latest expiry whatever happens; the "
        "session ends at its (extended) expiry before that.",
    )
    session_arg(extend)
    extend.add_argument(
        "--by", type=parse_duration, required=True, help="30m, 1h, 1h30m (at most the stack's)"
    )
    extend.add_argument(
        "--no-wait", action="store_true", help="do not wait for the session to hold longer"
    )
    extend.add_argument(
        "--timeout",
        type=seconds_between(1, MAX_TIMEOUT_SECONDS),
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds (1 to 86400, default 600)",
    )

    down = command("down", cmd_down, "end a session now and wait for its teardown")
    session_arg(down)
    down.add_argument("--no-wait", action="store_true", help="do not wait for the teardown")
    down.add_argument(
        "--timeout",
        type=seconds_between(1, MAX_TIMEOUT_SECONDS),
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds (1 to 86400, default 600)",
    )

    resources = command(
        "resources",
        cmd_resources,
        "show what a session owns in AWS: its security group, control-plane rule, bastion "
        "task and hold parameter (an ended session: nothing, or what leaked)",
    )
    session_arg(resources)

    ssh = command(
        "ssh",
        cmd_ssh,
        "log in to the bastion with OpenSSH (or run a command after --)",
        "examples:\n  bastion ssh\n  bastion ssh alice-1a2b3c4d -- kubectl get pods -A",
    )
    session_arg(ssh)
    ssh.usage = "bastion ssh [ID] [options] [-- COMMAND ...]"

    kubeconfig_command = command(
        "kubeconfig",
        cmd_kubeconfig,
        "write a kubectl context that reaches the private endpoint through ssh -D",
    )
    session_arg(kubeconfig_command)
    kubeconfig_command.add_argument(
        "--kubeconfig",
        help="merge the context into this file, as kubectl config does (default: the "
        "session's own file)",
    )
    kubeconfig_command.add_argument(
        "--socks-port",
        type=whole_number(1, 65535),
        help="local SOCKS port, 1 to 65535 (default: a free one)",
    )

    logs = command("logs", cmd_logs, "print the bastion container's log lines")
    session_arg(logs)
    logs.add_argument(
        "--tail",
        type=whole_number(0, MAX_TAIL_LINES),
        default=0,
        help="only the last N lines (0: all)",
    )

    completion = command("completion", cmd_completion, "print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh"))

    local = command("local", cmd_local, "start, stop or show the embedded local AWS")
    local.add_argument("action", choices=("start", "stop", "status"))
    local.add_argument(
        "--time-scale",
        type=seconds_between(0.001, MAX_TIME_SCALE),
        default=1.0,
        help="how much faster than real time workflow waits run (default 1)",
    )
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run one ``bastion`` command; returns its exit code."""
    out = out or sys.stdout
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    remote: list[str] = []
    if "ssh" in words and "--" in words[words.index("ssh") :]:
        split = words.index("--", words.index("ssh"))
        words, remote = words[:split], words[split + 1 :]
    args = parser.parse_args(words)
    args.remote_command = remote
    for name, default in _COMMON_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        return int(args.handler(args, out))
    except CliError as error:
        if args.output == "json":
            out.write(json.dumps(error.to_dict(), indent=2, sort_keys=True) + "\n")
        print(f"bastion: {error.message}", file=sys.stderr)
        return int(error.code)
    except KeyboardInterrupt:
        print("bastion: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
