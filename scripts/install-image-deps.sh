#!/usr/bin/env bash
# What building and running the bastion image needs where no Docker engine answers,
# installed idempotently and quietly: podman (with runc, which podman 4.3 needs on hosts
# with hybrid cgroups), buildah, mmdebstrap (a base image from Debian's packages when no
# registry answers), catatonit (the init process the task definition asks for) and
# podman's networking helpers. `apt-get update` runs only when something is missing.
#
# Where Docker answers, or as a non-root user, nothing is installed: the image tests then
# skip, saying why, if podman cannot run. Failing to install is reported, never fatal:
# the rest of the suite does not need the image.
set -uo pipefail

readonly PACKAGES=(podman buildah mmdebstrap uidmap fuse-overlayfs slirp4netns runc catatonit)

say() { printf 'install-image-deps: %s\n' "$*" >&2; }

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

main() {
    local missing=() package output
    command -v dpkg-query >/dev/null 2>&1 || {
        say "not a Debian system: install podman yourself to run the image tests"
        return 0
    }
    for package in "${PACKAGES[@]}"; do
        installed "$package" || missing+=("$package")
    done
    ((${#missing[@]} == 0)) && return 0
    if ((EUID != 0)); then
        say "missing: ${missing[*]} (the image tests skip without podman);" \
            "install with: sudo apt-get install --no-install-recommends ${missing[*]}"
        return 0
    fi
    say "installing ${missing[*]}"
    output="$(mktemp)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"; } >"$output" 2>&1; then
        tail -n 20 "$output" >&2
        say "could not install ${missing[*]}: the image tests will skip"
    fi
    rm -f "$output"
    return 0
}

main
