"""container/Dockerfile, read: no keys or credentials in the image, every download
checked against a SHA-256 pinned in the Dockerfile, the tunnel target free of every
download, and every pin defined in one place.

Each rule is also shown catching a bad Dockerfile, so that a rule that quietly stopped
matching would fail here rather than pass everything.
"""

from __future__ import annotations

import re

import pytest

from tests.container.dockerfile_rules import (
    download_problems,
    global_args,
    instructions,
    pin_problems,
    secret_problems,
    target_download_problems,
)
from tests.container.harness import CONTAINER

pytestmark = pytest.mark.container

DOCKERFILE = (CONTAINER / "Dockerfile").read_text()

HEAD = """\
ARG KUBECTL_VERSION=1.35.5
ARG TOOL_VERSION=1.2.3
ARG TOOL_SHA256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ARG TOOL_SHA256_ARM64=unpinned
ARG SIGNING_KEY_FINGERPRINT=FB5DB77FD5C118B80511ADA8A6310ACC4672475C
FROM debian:13.6-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG KUBECTL_VERSION
ARG TOOL_VERSION
ARG TOOL_SHA256
ARG TOOL_SHA256_ARM64
ARG SIGNING_KEY_FINGERPRINT
"""


# ------------------------------------------------------------------------ no secrets


def test_the_image_holds_no_host_keys_authorized_keys_or_credentials() -> None:
    assert secret_problems(DOCKERFILE) == []


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("RUN ssh-keygen -A", "generates keys"),
        ("COPY ssh_host_ed25519_key /etc/ssh/", "a key or credentials"),
        ("COPY id_ed25519 /home/bastion/.ssh/id_ed25519", "a key or credentials"),
        ("COPY --chown=bastion deploy-key.pem /tmp/", "a key or credentials"),
        ("ADD credentials /home/bastion/.aws/credentials", "a key or credentials"),
        ("COPY .aws /home/bastion/.aws", "a key or credentials"),
        ("COPY kubeconfig /home/bastion/.kube/config", "a key or credentials"),
        ("ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", "bakes AWS_SECRET_ACCESS_KEY"),
        ("ENV AWS_ACCESS_KEY_ID AKIAIOSFODNN7EXAMPLE", "bakes AWS_ACCESS_KEY_ID"),
        ("ARG AWS_SESSION_TOKEN", "bakes AWS_SESSION_TOKEN"),
        (
            'RUN echo "ssh-ed25519 AAAA alice" > /home/bastion/.ssh/authorized_keys',
            "writes authorized keys",
        ),
        (
            "RUN apt-get update && apt-get install -y openssh-server",
            "without deleting /etc/ssh/ssh_host_*",
        ),
    ],
)
def test_the_secret_rule_catches(bad: str, problem: str) -> None:
    problems = secret_problems(HEAD + bad + "\n")
    assert any(problem in found for found in problems), problems


# ------------------------------------------------------------------ verified downloads


def test_every_download_is_verified_against_a_pinned_value() -> None:
    assert download_problems(DOCKERFILE) == []


def test_the_build_downloads_each_tool_for_the_target_architecture() -> None:
    runs = " ".join(i.arguments for i in instructions(DOCKERFILE) if i.keyword == "RUN")
    for url in (
        "https://dl.k8s.io/release/v${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl",
        "https://get.helm.sh/helm-v${HELM_VERSION}-linux-${TARGETARCH}.tar.gz",
        "https://awscli.amazonaws.com/awscli-exe-linux-${awscli_arch}-${AWSCLI_VERSION}.zip",
    ):
        assert url in runs


GOOD_CHECKSUM = (
    "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
    ' && echo "${TOOL_SHA256}  tool.tgz" | sha256sum --check --strict'
    " && tar -xzf tool.tgz\n"
)


GOOD_CHECKSUM_AND_SIGNATURE = (
    "RUN curl -fsSL -o tool.zip https://example.com/tool-${TOOL_VERSION}.zip"
    ' && echo "${TOOL_SHA256}  tool.zip" | sha256sum --check --strict'
    " && curl -fsSL -o tool.zip.sig https://example.com/tool-${TOOL_VERSION}.zip.sig"
    " && curl -fsSL -o key.asc https://keys.example.com/${SIGNING_KEY_FINGERPRINT}"
    " && gpg --import key.asc"
    ' && gpg --with-colons --fingerprint "${SIGNING_KEY_FINGERPRINT}"'
    ' | grep -qx "fpr:::::::::${SIGNING_KEY_FINGERPRINT}:"'
    " && gpg --status-fd 1 --verify tool.zip.sig tool.zip"
    ' | grep -q "VALIDSIG .* ${SIGNING_KEY_FINGERPRINT}$"'
    " && unzip -q tool.zip\n"
)


def test_a_download_checked_against_a_pinned_checksum_passes() -> None:
    assert download_problems(HEAD + GOOD_CHECKSUM) == []


def test_a_signature_by_a_pinned_key_may_add_to_a_pinned_checksum() -> None:
    # The signature and the key are checked by the pinned fingerprint; the archive
    # itself still by its pinned SHA-256.
    assert download_problems(HEAD + GOOD_CHECKSUM_AND_SIGNATURE) == []


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            " && tar -xzf tool.tgz",
            "never verified",
        ),
        (
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            " && tar -xzf tool.tgz"
            ' && echo "${TOOL_SHA256}  tool.tgz" | sha256sum --check',
            "used before it is verified",
        ),
        (
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-latest.tgz"
            ' && echo "${TOOL_SHA256}  tool.tgz" | sha256sum --check',
            "names no pinned version",
        ),
        (
            "RUN curl -fsSL -o tool.tgz http://example.com/tool-${TOOL_VERSION}.tgz"
            ' && echo "${TOOL_SHA256}  tool.tgz" | sha256sum --check',
            "not downloaded over HTTPS",
        ),
        (
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            ' && echo "${SOMETHING}  tool.tgz" | sha256sum --check',
            "not a pin",
        ),
        (
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            " && echo"
            ' "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  tool.tgz"'
            " | sha256sum --check",
            "not a pin",
        ),
        ("RUN curl -fsSL https://example.com/install-${TOOL_VERSION}.sh | bash", "into a pipe"),
        ("ADD https://example.com/tool-1.2.3.tgz /tmp/", "ADD of a URL"),
        (
            "RUN curl -fsSL -o tool.zip https://example.com/tool-${TOOL_VERSION}.zip"
            " && curl -fsSL -o tool.zip.sig https://example.com/tool-${TOOL_VERSION}.zip.sig"
            " && gpg --verify tool.zip.sig tool.zip",
            "signed (VALIDSIG) by a pinned key",
        ),
        (
            "RUN curl -fsSL -o tool.zip https://example.com/tool-${TOOL_VERSION}.zip"
            " && curl -fsSL -o tool.zip.sig https://example.com/tool-${TOOL_VERSION}.zip.sig"
            " && curl -fsSL -o key.asc https://keys.example.com/${SIGNING_KEY_FINGERPRINT}"
            " && gpg --import key.asc"
            " && gpg --status-fd 1 --verify tool.zip.sig tool.zip"
            ' | grep -q "VALIDSIG .* ${SIGNING_KEY_FINGERPRINT}$"',
            "fingerprint is unchecked",
        ),
        (
            # A valid signature by the pinned key is not a pinned checksum.
            GOOD_CHECKSUM_AND_SIGNATURE.replace(
                ' && echo "${TOOL_SHA256}  tool.zip" | sha256sum --check --strict', ""
            ).rstrip("\n"),
            "never verified against a SHA-256 pinned in the Dockerfile",
        ),
        (
            # A placeholder in the pinned block is not a checksum.
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            ' && echo "${TOOL_SHA256_ARM64}  tool.tgz" | sha256sum --check',
            "not a SHA-256 (64 hex digits)",
        ),
        (
            # One architecture's checksum pinned, the other's a placeholder.
            'RUN case "${TARGETARCH}" in'
            ' amd64) tool_sha256="${TOOL_SHA256}" ;;'
            ' arm64) tool_sha256="${TOOL_SHA256_ARM64}" ;;'
            " esac"
            " && curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            ' && echo "${tool_sha256}  tool.tgz" | sha256sum --check',
            "not a SHA-256 (64 hex digits)",
        ),
        (
            # The checksum published beside the binary proves only that both came
            # from the same place.
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            " && curl -fsSL -o tool.tgz.sha256"
            " https://example.com/tool-${TOOL_VERSION}.tgz.sha256"
            ' && echo "$(cat tool.tgz.sha256)  tool.tgz" | sha256sum --check',
            "downloaded with it",
        ),
        (
            "RUN curl -fsSL -o tool.tgz https://example.com/tool-${TOOL_VERSION}.tgz"
            " && curl -fsSL -o checksums.txt"
            " https://example.com/tool-${TOOL_VERSION}-checksums.txt"
            " && grep tool.tgz checksums.txt | sha256sum --check",
            "downloaded with it",
        ),
    ],
    ids=[
        "unchecked",
        "checked-after-use",
        "unpinned-url",
        "plain-http",
        "unpinned-checksum",
        "inline-checksum",
        "curl-pipe-bash",
        "add-url",
        "signature-any-key",
        "key-not-fingerprinted",
        "signature-without-checksum",
        "placeholder-checksum",
        "one-architecture-placeholder",
        "checksum-from-origin",
        "checksum-file-from-origin",
    ],
)
def test_the_download_rule_catches(bad: str, problem: str) -> None:
    problems = download_problems(HEAD + bad + "\n")
    assert any(problem in found for found in problems), problems


# -------------------------------------------------------------------- pins in one place


def test_versions_checksums_and_fingerprints_are_defined_only_in_the_head_block() -> None:
    assert pin_problems(DOCKERFILE) == []
    pinned = global_args(DOCKERFILE)
    assert {
        "BASE_IMAGE",
        "KUBECTL_VERSION",
        "KUBECTL_SHA256_AMD64",
        "KUBECTL_SHA256_ARM64",
        "HELM_VERSION",
        "HELM_SHA256_AMD64",
        "HELM_SHA256_ARM64",
        "AWSCLI_VERSION",
        "AWSCLI_SHA256_AMD64",
        "AWSCLI_SHA256_ARM64",
        "AWSCLI_PGP_FINGERPRINT",
        "EKSCTL_VERSION",
        "EKSCTL_SHA256_AMD64",
        "EKSCTL_SHA256_ARM64",
        "WITH_EKSCTL",
    } == set(pinned)
    # Every checksum of a download is pinned here, per architecture
    for name, value in pinned.items():
        if "_SHA256_" in name:
            assert re.fullmatch(r"[0-9a-f]{64}", value), name
    assert re.fullmatch(r"debian:[\d.]+-slim@sha256:[0-9a-f]{64}", pinned["BASE_IMAGE"])


def test_no_other_file_of_the_image_repeats_a_pinned_value() -> None:
    pinned = {
        name: value for name, value in global_args(DOCKERFILE).items() if name != "WITH_EKSCTL"
    }
    for path in sorted(CONTAINER.rglob("*")):
        if path.is_file() and path.name not in ("Dockerfile", "README.md"):
            text = path.read_text()
            for name, value in pinned.items():
                assert value not in text, f"{path.name} repeats {name}"


def test_the_readme_documents_the_pinned_versions() -> None:
    readme = (CONTAINER / "README.md").read_text()
    pinned = global_args(DOCKERFILE)
    for name in ("KUBECTL_VERSION", "HELM_VERSION", "AWSCLI_VERSION", "EKSCTL_VERSION"):
        assert f"`{pinned[name]}`" in readme, f"README.md does not give {name}"
    assert pinned["BASE_IMAGE"].split("@")[0].removeprefix("debian:") in readme


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("ARG HELM_VERSION=3.19.0", "ARG with a value outside the pinned block"),
        ("ENV KUBECTL_VERSION=1.35.5", "ENV defines a version"),
        (
            'RUN echo "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  x"',
            "checksum or fingerprint outside",
        ),
        ("RUN pip install awscli==1.36.2", "version number outside"),
    ],
)
def test_the_pin_rule_catches(bad: str, problem: str) -> None:
    problems = pin_problems(HEAD + bad + "\n")
    assert any(problem in found for found in problems), problems


# ------------------------------------------------------------------------ the image


def stage(name: str) -> str:
    """The instructions of the Dockerfile's stage ``name`` (its FROM line included)."""
    (found,) = re.findall(rf"^FROM [^\n]+ AS {name}\n.*?(?=^FROM |\Z)", DOCKERFILE, re.M | re.S)
    return str(found)


def test_the_image_runs_the_entry_point_as_the_unprivileged_bastion_user() -> None:
    core = stage("core")
    assert "useradd" in core and "--uid 10001 bastion" in core
    assert re.search(r"^USER 10001$", core, re.MULTILINE)
    assert re.search(r"^ENTRYPOINT \[\"/usr/local/bin/bastion-entrypoint\"\]$", core, re.M)
    assert "ln -s /run/bastion/motd /etc/motd" in core
    assert "COPY --chmod=0755 entrypoint.sh /usr/local/bin/bastion-entrypoint" in core
    # No file capability and no setuid bit: sshd binds 22 through the task's sysctl.
    assert "setcap" not in DOCKERFILE
    assert "find / -xdev -type f -perm /6000 -exec chmod ug-s {} +" in core
    # The tools stage gives the user back before it ends.
    instructions_of_tools = [
        line for line in stage("tools").splitlines() if line and not line.startswith("#")
    ]
    assert instructions_of_tools[-1] == "USER 10001"


def test_the_default_target_is_the_tunnel_only_image() -> None:
    # The last stage is what a build without --target makes.
    last = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    assert last.startswith("core AS tunnel")
    assert re.fullmatch(r"core AS tunnel\n*", last), "the tunnel target adds nothing to core"
    # The session tools come only from the tools target
    for source in ("awscli", "kubectl", "helm", "eksctl"):
        copies = re.findall(rf"^COPY --from={source} .*$", DOCKERFILE, re.M)
        assert copies and all(copy in stage("tools") for copy in copies), source


# ------------------------------------------------- the tunnel target takes no download


def test_the_tunnel_target_takes_nothing_from_any_download() -> None:
    # Built and tested end to end where the tools' hosts cannot be reached, so nothing
    # in it may come from them: no download in its stages, no copy or mount from a
    # stage that downloads.
    assert target_download_problems(DOCKERFILE, "tunnel") == []
    # The rule does see the tools target's downloads.
    assert target_download_problems(DOCKERFILE, "tools") != []


STAGES = """\
ARG BASE_IMAGE=debian:13.6-slim
ARG TOOL_VERSION=1.2.3
FROM ${BASE_IMAGE} AS fetch
RUN apt-get update && apt-get install -y curl
FROM fetch AS tool
ARG TOOL_VERSION
RUN curl -fsSL -o tool https://example.com/tool-${TOOL_VERSION}
FROM fetch AS unpack
COPY --from=tool /tool /out/tool
FROM ${BASE_IMAGE} AS core
COPY --chmod=0644 sshd_config /etc/ssh/sshd_config
FROM core AS tools
COPY --from=tool /tool /usr/local/bin/tool
"""


def test_a_tunnel_target_of_the_core_alone_passes() -> None:
    assert target_download_problems(STAGES + "FROM core AS tunnel\n", "tunnel") == []


@pytest.mark.parametrize(
    "bad",
    [
        "FROM core AS tunnel\nCOPY --from=tool /tool /usr/local/bin/tool\n",
        "FROM core AS tunnel\nCOPY --from=2 /out/ /usr/local/\n",
        "FROM core AS tunnel\nCOPY --from=unpack /out/ /usr/local/\n",
        "FROM core AS tunnel\nCOPY --from=docker.io/example/tool:1.2.3 /tool /usr/local/bin/\n",
        "FROM tools AS tunnel\n",
        "FROM tool AS tunnel\n",
        "FROM core AS tunnel\nRUN --mount=type=bind,from=tool,target=/t cp /t/tool /usr/local/\n",
        "FROM core AS tunnel\nRUN curl -fsSL -o /tmp/x https://example.com/x-${TOOL_VERSION}\n",
        "FROM core AS tunnel\nADD https://example.com/x.tgz /tmp/\n",
    ],
    ids=[
        "copy-from-download",
        "copy-from-index",
        "copy-from-a-stage-that-copies-a-download",
        "copy-from-another-image",
        "from-the-tools-target",
        "from-a-download-stage",
        "mount-from-download",
        "downloads-itself",
        "adds-a-url",
    ],
)
def test_the_tunnel_rule_catches(bad: str) -> None:
    problems = target_download_problems(STAGES + bad, "tunnel")
    assert any("the tunnel target takes" in found for found in problems), problems


def test_a_core_that_copies_a_download_is_caught_through_the_tunnel() -> None:
    core_with_tool = STAGES.replace(
        "FROM ${BASE_IMAGE} AS core\n",
        "FROM ${BASE_IMAGE} AS core\nCOPY --from=tool /tool /usr/local/bin/tool\n",
    )
    problems = target_download_problems(core_with_tool + "FROM core AS tunnel\n", "tunnel")
    assert any("core" in found and "tool" in found for found in problems), problems
