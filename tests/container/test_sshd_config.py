"""container/sshd_config as sshd itself reads it (`sshd -T`): hardened, and valid."""

from __future__ import annotations

import shutil

import pytest

from tests.container.harness import SSHD, Launcher, run

pytestmark = pytest.mark.container

#: Mozilla's "modern" OpenSSH key exchanges, plus the hybrid post-quantum ones.
MODERN_KEX = {
    "mlkem768x25519-sha256",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp521",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group-exchange-sha256",
}
MODERN_CIPHERS = {
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
}


@pytest.fixture(scope="module")
def effective(module_launcher: Launcher) -> dict[str, str]:
    """sshd's effective settings for the file, with the options the entry point adds."""
    root = module_launcher.workdir()
    try:
        key = root / "host_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        module_launcher.give(root)
        result = run(
            module_launcher.as_account(
                [
                    SSHD,
                    "-T",
                    "-f",
                    str(root / "sshd_config"),
                    "-o",
                    f"HostKey={key}",
                    "-o",
                    "Port=2222",
                    "-o",
                    f"AuthorizedKeysFile={root / 'authorized_keys'}",
                    "-o",
                    f"PidFile={root / 'sshd.pid'}",
                    "-o",
                    "SetEnv=KUBECONFIG=/run/bastion/kubeconfig AWS_PAGER=",
                ]
            )
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" ")
        settings[name] = f"{settings[name]}\n{value}" if name in settings else value
    return settings


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("authenticationmethods", "publickey"),
        ("pubkeyauthentication", "yes"),
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("hostbasedauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("permitrootlogin", "no"),
        ("loglevel", "VERBOSE"),
        ("usepam", "no"),
        ("strictmodes", "yes"),
        ("allowtcpforwarding", "local"),
        ("gatewayports", "no"),
        ("allowstreamlocalforwarding", "no"),
        ("permittunnel", "no"),
        ("x11forwarding", "no"),
        ("allowagentforwarding", "no"),
        # Without the entry point's command line: a tunnel to nowhere and no session.
        ("permitopen", "none"),
        ("permitlisten", "none"),
        ("maxsessions", "0"),
        ("permittty", "no"),
        ("permituserenvironment", "no"),
        ("printmotd", "yes"),
    ],
)
def test_the_setting_is_hardened(effective: dict[str, str], setting: str, value: str) -> None:
    assert effective[setting] == value


def test_there_is_no_sftp_subsystem(effective: dict[str, str]) -> None:
    assert "subsystem" not in effective


def test_only_modern_algorithms_are_offered(effective: dict[str, str]) -> None:
    kex = effective["kexalgorithms"].split(",")
    ciphers = effective["ciphers"].split(",")
    macs = effective["macs"].split(",")
    assert set(kex) <= MODERN_KEX
    assert kex[0].startswith(("sntrup761x25519", "mlkem768x25519")), "post-quantum first"
    assert set(ciphers) <= MODERN_CIPHERS
    assert macs and all(mac.endswith("-etm@openssh.com") for mac in macs)
    assert set(effective["hostkeyalgorithms"].split(",")) == {"ssh-ed25519", "ecdsa-sha2-nistp256"}


def test_a_vanished_client_is_noticed(effective: dict[str, str]) -> None:
    # Keep-alives end a dead connection, so it cannot hold the idle timeout off forever.
    assert 0 < int(effective["clientaliveinterval"]) * int(effective["clientalivecountmax"]) <= 300
