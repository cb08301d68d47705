#!/usr/bin/env bash
# What the test suite needs from the machine, installed idempotently and quietly:
#
#  - Debian packages: OpenSSH's server and client (the container tests run the bastion's
#    real entry point and sshd on loopback), shellcheck (lints container/ and scripts/),
#    curl and jq (the entry point reads the ECS task metadata endpoint with them).
#    `apt-get update` runs only when something is missing.
#  - As root: the unprivileged account the container tests run the entry point as.
#    An sshd started by an ordinary user logs in only that user, which is what the
#    bastion does in its container; root cannot stand in for it.
#
# As a non-root user nothing is installed: the script names what is missing and fails.
set -euo pipefail

readonly TEST_ACCOUNT="fargate-bastion-test"
readonly PACKAGES=(openssh-server openssh-client shellcheck curl jq)

say() { printf 'install-test-deps: %s\n' "$*" >&2; }

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

install_packages() {
    local missing=() package policy_created=0
    for package in "${PACKAGES[@]}"; do
        installed "$package" || missing+=("$package")
    done
    ((${#missing[@]} == 0)) && return 0
    if ((EUID != 0)); then
        say "missing Debian packages: ${missing[*]}"
        say "install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    # openssh-server's postinst would start a system sshd on port 22: keep services
    # from starting while we install (the policy Debian's container images ship).
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local output status=0
    output="$(mktemp)"
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >"$output" 2>&1 || status=$?
    ((policy_created)) && rm -f /usr/sbin/policy-rc.d
    if ((status != 0)); then
        cat "$output" >&2
        rm -f "$output"
        say "apt-get could not install: ${missing[*]}"
        exit 1
    fi
    rm -f "$output"
    return 0
}

create_test_account() {
    ((EUID == 0)) || return 0
    if ! getent passwd "$TEST_ACCOUNT" >/dev/null; then
        say "creating the unprivileged account $TEST_ACCOUNT"
        useradd --create-home --shell /bin/bash --user-group \
            --comment "fargate-bastion container tests" "$TEST_ACCOUNT"
    fi
    local home
    home="$(getent passwd "$TEST_ACCOUNT" | cut -d: -f6)"
    # No password can ever match "*"; unlike "!" it does not mark the account locked,
    # which an sshd able to read /etc/shadow would refuse.
    if [[ "$(getent shadow "$TEST_ACCOUNT" | cut -d: -f2)" != "*" ]]; then
        usermod --password '*' "$TEST_ACCOUNT"
    fi
    # sshd hands a login's pty to the group tty; an unprivileged sshd can do so only for
    # a member (where /dev/pts is not mounted gid=5, as it is in containers).
    if ! id -nG "$TEST_ACCOUNT" | tr ' ' '\n' | grep -qx tty; then
        usermod --append --groups tty "$TEST_ACCOUNT"
    fi
    # sshd's StrictModes refuses keys under a group- or world-writable home.
    if [[ -d "$home" ]]; then
        chmod go-w "$home"
    else
        install -d -m 0750 -o "$TEST_ACCOUNT" -g "$TEST_ACCOUNT" "$home"
    fi
}

install_packages
create_test_account
