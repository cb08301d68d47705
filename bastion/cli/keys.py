"""Each session's private directory: its SSH key, known_hosts file and kubeconfig.

``<sessions dir>/<session id>/`` (mode 0700) holds ``id_ed25519`` (0600) and its ``.pub``
when the command generated an ephemeral key, or ``key-path`` naming the user's own key
(``--key``), plus ``known_hosts`` and ``kubeconfig``, and ``execution-arn`` and
``cluster``: which session the directory is for, and where the API finds it. A session
id is unique only within one state machine, so another stack, region or account may
have an execution of the same name: the directory
serves, and is removed with, only the execution it records. It is removed when that
session is seen ended (``down``, ``status``, ``ls``); one that records no execution
(its ``up`` was interrupted before the start was answered) is kept.

A session id becomes a path only here, and only after the project's one check
(:func:`tasks.common.validation.check_session_id`): ``..``, ``/`` and the like never
reach the file system. ``up`` creates a session's directory exclusively, so an id in use
on this machine is refused and its directory is left as it is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

from bastion.cli.errors import CliError, ExitCode
from tasks.common.errors import InvalidRequest
from tasks.common.ssh_keys import SshKeyError, normalize_public_key
from tasks.common.validation import check_session_id

EPHEMERAL_KEY = "id_ed25519"
KEY_POINTER = "key-path"
KNOWN_HOSTS = "known_hosts"
OWNER = "execution-arn"
CLUSTER = "cluster"


def is_session_id(value: object) -> bool:
    """Whether ``value`` is a session id (and so may name a directory)."""
    try:
        check_session_id(value)
    except InvalidRequest:
        return False
    return True


def session_dir(root: Path, session_id: str) -> Path:
    """The session's directory (not created); CliError when the id is not a session id."""
    try:
        check_session_id(session_id)
    except InvalidRequest as error:
        raise CliError(
            f"sessionId: {session_id!r} {error.problem}", ExitCode.REFUSED, field="sessionId"
        ) from None
    return root / session_id


def ensure_session_dir(root: Path, session_id: str) -> Path:
    """The session's directory, created 0700 (and its parents 0700 when created)."""
    directory = session_dir(root, session_id)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.mkdir(mode=0o700, exist_ok=True)
    directory.chmod(0o700)
    return directory


def create_session_dir(root: Path, session_id: str) -> Path:
    """A new directory for the session (0700); CliError REFUSED when it exists already."""
    directory = session_dir(root, session_id)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        raise CliError(
            f"sessionId: session {session_id!r} is already in use on this machine "
            f"({directory}): choose another --session-id",
            ExitCode.REFUSED,
            field="sessionId",
        ) from None
    return directory


def generate_key(root: Path, session_id: str) -> tuple[Path, str]:
    """A new ed25519 key pair in the session's directory: (private key, public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    directory = ensure_session_dir(root, session_id)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} fargate-bastion-{session_id}"
    path = directory / EPHEMERAL_KEY
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private)
    _write_private(directory / f"{EPHEMERAL_KEY}.pub", line + "\n")
    return path, line


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` (0600, never an existing file or link) holding ``text``."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def known_hosts_path(root: Path, session_id: str) -> Path:
    """The session's known_hosts file: the host keys its bastion reported, and no others."""
    return session_dir(root, session_id) / KNOWN_HOSTS


def write_known_hosts(root: Path, session_id: str, lines: Sequence[str]) -> Path:
    """Replace the session's known_hosts with ``lines`` (0600, written whole, then renamed
    over the old one, so ssh never reads half of it and a link there is never followed)."""
    directory = ensure_session_dir(root, session_id)
    written = directory / f".{KNOWN_HOSTS}-{secrets.token_hex(8)}"
    _write_private(written, "".join(f"{line}\n" for line in lines))
    path = directory / KNOWN_HOSTS
    written.replace(path)
    return path


def public_key_of(key_path: Path) -> tuple[Path, str]:
    """(private key path, validated public key line) of the user's ``--key``.

    ``--key`` names the private key (its public half is read from ``<key>.pub``) or the
    ``.pub`` file itself. The line is checked as the stack checks it, so a malformed key
    is refused before anything is created.
    """
    if key_path.suffix == ".pub":
        private, public = key_path.with_suffix(""), key_path
    else:
        private, public = key_path, key_path.with_name(key_path.name + ".pub")
    try:
        text = public.read_text(errors="replace")
    except OSError as error:
        raise CliError(
            f"sshPublicKey: cannot read {public}: {error.strerror}",
            ExitCode.REFUSED,
            field="sshPublicKey",
        ) from None
    try:
        line = normalize_public_key(text.strip())
    except SshKeyError as error:
        raise CliError(
            f"sshPublicKey: {public} is not a usable public key: {error}",
            ExitCode.REFUSED,
            field="sshPublicKey",
        ) from None
    return private, line


def remember_key(root: Path, session_id: str, private: Path) -> None:
    """Record which of the user's keys the session uses."""
    directory = ensure_session_dir(root, session_id)
    _write_private(directory / KEY_POINTER, str(private.resolve()) + "\n")


def claim(root: Path, session_id: str, execution_arn: str, cluster: str) -> None:
    """Record that the session's directory is ``execution_arn``'s, on ``cluster`` (if it
    records none)."""
    directory = ensure_session_dir(root, session_id)
    for name, value in ((OWNER, execution_arn), (CLUSTER, cluster)):
        with contextlib.suppress(FileExistsError):
            _write_private(directory / name, value + "\n")


def _recorded(root: Path, session_id: str, name: str) -> str | None:
    try:
        return (session_dir(root, session_id) / name).read_text().strip() or None
    except OSError:
        return None


def cluster_of(root: Path, session_id: str) -> str | None:
    """The cluster the session's directory records, if it records one."""
    return _recorded(root, session_id, CLUSTER)


def owner(root: Path, session_id: str) -> str | None:
    """The execution the session's directory is for, if it records one."""
    return _recorded(root, session_id, OWNER)


def private_key_for(root: Path, session_id: str, execution_arn: str | None = None) -> Path | None:
    """The private key the session's ssh uses, if this machine has it (for
    ``execution_arn``: never another execution's of the same name)."""
    directory = session_dir(root, session_id)
    recorded = owner(root, session_id)
    if execution_arn is not None and recorded is not None and recorded != execution_arn:
        return None
    ephemeral = directory / EPHEMERAL_KEY
    if ephemeral.is_file():
        return ephemeral
    try:
        return Path((directory / KEY_POINTER).read_text().strip())
    except OSError:
        return None


def local_session_ids(root: Path) -> list[str]:
    """The ids of the sessions this machine has a folder for."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    return sorted(entry.name for entry in entries if entry.is_dir() and is_session_id(entry.name))


def forget(root: Path, session_id: str, execution_arn: str) -> bool:
    """Remove the session's directory if it is ``execution_arn``'s; whether it was."""
    if owner(root, session_id) != execution_arn:
        return False
    return remove_session_dir(root, session_id)


def remove_session_dir(root: Path, session_id: str) -> bool:
    """Delete the session's directory (its ephemeral key with it); whether it existed."""
    directory = session_dir(root, session_id)
    if directory.is_symlink():  # never followed: only the link is the session's
        directory.unlink()
        return True
    if not directory.exists():
        return False
    shutil.rmtree(directory)
    return True
