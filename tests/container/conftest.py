"""The container tier's prerequisites and fixtures.

`make test` installs what this tier needs (scripts/install-test-deps.sh): OpenSSH's
server and client, shellcheck, curl and jq from Debian, and, as root, the unprivileged
account the entry point runs as. Anything missing fails the tests, saying so: a
skipped container tier would hide a bastion that no longer starts.
"""

from __future__ import annotations

import grp
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.endpoint import HttpsServer, https_server
from tests.container.harness import (
    SETUP_HINT,
    SSHD,
    TEST_ACCOUNT,
    Account,
    Bastion,
    ClientKey,
    Launcher,
    bastion_account,
    make_client_key,
)


def _require_machine() -> Account:
    missing = [
        tool for tool in ("ssh", "ssh-keygen", "jq", "curl", "setpriv") if not shutil.which(tool)
    ]
    if not os.access(SSHD, os.X_OK):
        missing.append(f"{SSHD} (openssh-server)")
    if missing:
        pytest.fail(f"the container tests need {', '.join(missing)}: {SETUP_HINT}", pytrace=False)
    try:
        account = bastion_account()
    except KeyError:
        pytest.fail(
            f"the container tests run the bastion as the unprivileged account {TEST_ACCOUNT}, "
            f"which does not exist: {SETUP_HINT}",
            pytrace=False,
        )
    if account.switch and account.name not in grp.getgrnam("tty").gr_mem:
        pytest.fail(
            f"{TEST_ACCOUNT} must be in group tty (sshd hands it its ptys): {SETUP_HINT}",
            pytrace=False,
        )
    if not account.home.is_dir():
        pytest.fail(f"{account.name} has no home directory {account.home}: {SETUP_HINT}")
    return account


@pytest.fixture(scope="session")
def account() -> Account:
    return _require_machine()


@pytest.fixture
def launcher(account: Account) -> Iterator[Launcher]:
    """Starts entry points; every process they started is ended after the test."""
    launcher = Launcher(account)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def module_launcher(account: Account) -> Iterator[Launcher]:
    launcher = Launcher(account)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("client-keys")


@pytest.fixture(scope="module")
def user_key(keys_dir: Path) -> ClientKey:
    """The session's key: the one the bastion is started with."""
    return make_client_key(keys_dir, "alice")


@pytest.fixture(scope="module")
def other_key(keys_dir: Path) -> ClientKey:
    return make_client_key(keys_dir, "mallory")


@pytest.fixture(scope="module")
def running_bastion(module_launcher: Launcher, user_key: ClientKey) -> Bastion:
    """One bastion for the tests that only log in: 2 minutes to live, 2 minutes idle."""
    bastion = module_launcher.start(user_key.public_line)
    bastion.wait_for("started")
    return bastion


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    """A stand-in for the cluster's API endpoint: the one place a tunnel may lead."""
    with https_server(tmp_path_factory.mktemp("endpoint")) as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    """Another HTTPS service the bastion can reach, which no tunnel may lead to."""
    with https_server(tmp_path_factory.mktemp("elsewhere")) as server:
        yield server
