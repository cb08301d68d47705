"""Writing a session's kubectl context into a kubeconfig file, as ``kubectl config`` does.

The context's cluster, user and context entries (all named after the context) replace
entries of the same name or are added; every other entry and setting of the file is kept,
and the context becomes the current one. The file is replaced atomically (a temporary
file beside it, renamed over it) with its own mode, or created 0600. A symbolic link is
refused rather than followed or replaced, and a file that is not a kubeconfig is left as
it is. YAML is read and written with PyYAML.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bastion.cli.errors import CliError, ExitCode

SECTIONS = ("clusters", "users", "contexts")
NEW_FILE_MODE = 0o600


@dataclass(frozen=True)
class Context:
    """One kubectl context: its cluster and user entries share its name."""

    name: str
    cluster: dict[str, Any]
    user: dict[str, Any]

    def entries(self) -> dict[str, dict[str, Any]]:
        """The entry this context adds to each section of a kubeconfig."""
        return {
            "clusters": {"name": self.name, "cluster": self.cluster},
            "users": {"name": self.name, "user": self.user},
            "contexts": {"name": self.name, "context": {"cluster": self.name, "user": self.name}},
        }


def _refused(path: Path, problem: str) -> CliError:
    return CliError(f"kubeconfig: {path} {problem}", ExitCode.REFUSED, field="kubeconfig")


def _read(path: Path) -> tuple[dict[str, Any], int]:
    """The file's configuration and mode (an empty one, 0600, when there is no file)."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}}, NEW_FILE_MODE
    if stat.S_ISLNK(found.st_mode):
        raise _refused(
            path, f"is a symbolic link (to {path.readlink()}): pass the file it points to"
        )
    if not stat.S_ISREG(found.st_mode):
        raise _refused(path, "is not a regular file")
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise _refused(
            path, f"cannot be read as a kubeconfig ({error.__class__.__name__})"
        ) from None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise _refused(path, "is not a kubeconfig (not a YAML mapping)")
    for section in SECTIONS:
        entries = config.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("name"), str) for entry in entries
        ):
            raise _refused(path, f"is not a kubeconfig ({section} is not a list of named entries)")
    return config, stat.S_IMODE(found.st_mode)


def merged(config: dict[str, Any], context: Context) -> dict[str, Any]:
    """``config`` with ``context`` added or replaced by name, and made current."""
    result = dict(config)
    for section, entry in context.entries().items():
        entries = [dict(item) for item in result.get(section) or []]
        names = [item["name"] for item in entries]
        if context.name in names:
            entries[names.index(context.name)] = entry
        else:
            entries.append(entry)
        result[section] = entries
    result.setdefault("apiVersion", "v1")
    result.setdefault("kind", "Config")
    result["current-context"] = context.name
    return result


def write(path: Path, context: Context) -> None:
    """Merge ``context`` into the kubeconfig file ``path`` (see the module doc)."""
    config, mode = _read(path)
    text = yaml.safe_dump(merged(config, context), sort_keys=False, default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
