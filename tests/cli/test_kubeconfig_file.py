"""`bastion kubeconfig --kubeconfig FILE` merges into FILE as `kubectl config` does."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.cli import kubeconfig
from bastion.cli.errors import CliError, ExitCode

pytestmark = pytest.mark.cli

THEIRS = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "prod",
    "preferences": {"colors": True},
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
    "users": [{"name": "prod-admin", "user": {"token": "prod-secret-token"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
}


def _entry(name: str, server: str) -> kubeconfig.Context:
    return kubeconfig.Context(
        name=name,
        cluster={"server": server, "proxy-url": "socks5://127.0.0.1:1080"},
        user={"token": "session-token"},
    )


def _names(config: dict[str, Any], section: str) -> list[str]:
    return [item["name"] for item in config[section]]


def test_merging_keeps_every_other_context_user_and_setting(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(THEIRS))
    path.chmod(0o640)
    kubeconfig.write(path, _entry("fargate-bastion-s1", "https://a.example"))
    kubeconfig.write(path, _entry("fargate-bastion-s2", "https://b.example"))
    kubeconfig.write(path, _entry("fargate-bastion-s1", "https://c.example"))  # replaced
    merged = yaml.safe_load(path.read_text())
    for section in ("clusters", "users", "contexts"):
        assert _names(merged, section)[0] == THEIRS[section][0]["name"]
        assert sorted(_names(merged, section)[1:]) == ["fargate-bastion-s1", "fargate-bastion-s2"]
    assert merged["users"][0] == THEIRS["users"][0]  # the other token is still there
    assert merged["preferences"] == {"colors": True}
    assert merged["current-context"] == "fargate-bastion-s1"
    servers = {c["name"]: c["cluster"]["server"] for c in merged["clusters"]}
    assert servers["fargate-bastion-s1"] == "https://c.example"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the file's mode is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]  # no temporary left


def test_a_new_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config"
    kubeconfig.write(path, _entry("fargate-bastion-s1", "https://a.example"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _names(yaml.safe_load(path.read_text()), "contexts") == ["fargate-bastion-s1"]


def test_a_symlink_is_not_followed_out_of_place(tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    victim.write_text("not yours\n")
    link = tmp_path / "config"
    link.symlink_to(victim)
    with pytest.raises(CliError) as refused:
        kubeconfig.write(link, _entry("fargate-bastion-s1", "https://a.example"))
    assert refused.value.field == "kubeconfig" and "symbolic link" in refused.value.message
    assert victim.read_text() == "not yours\n"
    assert link.is_symlink()


@pytest.mark.parametrize(
    "text", ["- just\n- a list\n", "key: [unclosed\n", "plain text\n", "clusters: 5\n"]
)
def test_a_file_that_is_not_a_kubeconfig_is_left_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(CliError) as refused:
        kubeconfig.write(path, _entry("fargate-bastion-s1", "https://a.example"))
    assert refused.value.code == ExitCode.REFUSED and refused.value.field == "kubeconfig"
    assert path.read_text() == text


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CliError) as refused:
        kubeconfig.write(tmp_path, _entry("fargate-bastion-s1", "https://a.example"))
    assert refused.value.field == "kubeconfig"
    assert list(tmp_path.iterdir()) == []
