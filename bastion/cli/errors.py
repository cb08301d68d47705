"""The ``bastion`` command's exit codes and the error that carries one."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (docs/cli.md, ``bastion --help``)."""

    OK = 0
    ERROR = 1  # anything unexpected
    USAGE = 2  # bad command line (argparse's own code)
    REFUSED = 3  # the request was refused before anything was created
    NOT_FOUND = 4  # no such session (or none at all)
    CONFIGURATION = 5  # no credentials, no stack, the local AWS cannot start
    SESSION_FAILED = 6  # the session failed, or ended, before it was ready
    TIMED_OUT = 7  # --timeout passed before the session was ready
    INTERRUPTED = 130  # Ctrl-C


EXIT_CODE_HELP = """\
exit codes:
  0    success (for `up --wait`: the bastion is ready)
  1    unexpected error
  2    bad command line
  3    request refused before anything was created (cluster, key, CIDR, duration)
  4    session not found, or no session to act on
  5    configuration: credentials, region, stack, API or local AWS unavailable, a role
       session named anew by each process, or the Session Manager plugin a private
       session needs
  6    the session failed or ended before it was ready
  7    timed out waiting for the session (--timeout)
  130  interrupted (the session, if started, keeps running: see `bastion status`)
  `bastion ssh` exits with ssh's own status (255: ssh could not connect)."""


class CliError(Exception):
    """A failure to report as one line (``bastion: <message>``) with an exit code."""

    def __init__(
        self, message: str, code: ExitCode = ExitCode.ERROR, *, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field

    def to_dict(self) -> dict[str, object]:
        """The error as ``--output json`` prints it."""
        return {
            "error": {
                "code": self.code.name,
                "exitCode": int(self.code),
                "field": self.field,
                "message": self.message,
            }
        }
