#!/usr/bin/env bash
# Build the bastion image from container/Dockerfile: with Docker (BuildKit) where an
# engine answers, else with podman. `make image` runs this; so do the image tests.
#
#   scripts/build-image.sh                 build IMAGE_TARGET as IMAGE
#   scripts/build-image.sh base            podman only: make sure a base image exists
#   scripts/build-image.sh podman-flags    the flags every `podman run` needs here
#
# Environment: IMAGE (default fargate-bastion:dev), IMAGE_TARGET (tunnel, the default, or
# tools), PLATFORM (docker: default linux/arm64; podman: this machine's unless set),
# IMAGE_OUTPUT (docker: --load or --push), IMAGE_BUILD_ARGS (more build arguments),
# CONTAINER_ENGINE (docker or podman, to choose instead of detecting).
#
# The base: the Dockerfile's digest-pinned Debian image, which Docker and podman pull.
# Where podman cannot pull it (no registry reachable), a base made from Debian's own
# packages with mmdebstrap (the same release, minbase, without docs), imported once into
# podman's store as LOCAL_BASE and passed as the BASE_IMAGE build argument; later builds
# reuse it. The build cache of the store makes an unchanged rebuild take seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly CONTEXT="$ROOT/container"
readonly LOCAL_BASE="localhost/fargate-bastion-base:trixie"
readonly DEBIAN_SUITE="trixie"
readonly DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly LOCK="${TMPDIR:-/tmp}/fargate-bastion-image.lock"
IMAGE="${IMAGE:-fargate-bastion:dev}"
IMAGE_TARGET="${IMAGE_TARGET:-tunnel}"
PLATFORM="${PLATFORM:-}"
IMAGE_OUTPUT="${IMAGE_OUTPUT:---load}"
IMAGE_BUILD_ARGS="${IMAGE_BUILD_ARGS:-}"

say() { printf 'build-image: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

docker_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

engine() {
    case "${CONTAINER_ENGINE:-}" in
        docker | podman) printf '%s' "$CONTAINER_ENGINE" ;;
        "")
            if docker_answers; then
                printf docker
            elif command -v podman >/dev/null 2>&1; then
                printf podman
            else
                die "no container engine: 'docker info' failed and podman is not installed" \
                    "(scripts/install-image-deps.sh installs podman)"
            fi
            ;;
        *) die "CONTAINER_ENGINE must be docker or podman (got '$CONTAINER_ENGINE')" ;;
    esac
}

# podman 4.3 on these hosts runs containers with runc only (crun cannot use hybrid
# cgroups) and with resource limits no higher than the host allows.
podman_flags() {
    local files processes
    files="$(ulimit -Hn)"
    processes="$(ulimit -Hu)"
    [[ "$files" == unlimited ]] && files=1048576
    [[ "$processes" == unlimited ]] && processes=32768
    ((processes <= 32768)) || processes=32768
    printf '%s\n' --runtime runc --ulimit "nofile=$files:$files" \
        --ulimit "nproc=$processes:$processes"
}

pinned_base() {
    sed -n 's/^ARG BASE_IMAGE=//p' "$CONTEXT/Dockerfile"
}

# The base podman builds on: the pinned one when it is in the store or can be pulled,
# else the local one, made once.
podman_base() {
    local pinned
    pinned="$(pinned_base)"
    [[ -n "$pinned" ]] || die "no ARG BASE_IMAGE in container/Dockerfile"
    if podman image exists "$pinned" || timeout 120 podman pull --quiet "$pinned" >/dev/null 2>&1; then
        printf '%s' "$pinned"
        return 0
    fi
    if ! podman image exists "$LOCAL_BASE"; then
        make_local_base
    fi
    printf '%s' "$LOCAL_BASE"
}

make_local_base() {
    local tarball status=0
    command -v mmdebstrap >/dev/null 2>&1 ||
        die "no registry answers and mmdebstrap is not installed to make a base from Debian's" \
            "packages (scripts/install-image-deps.sh installs it)"
    say "no registry answers: making $LOCAL_BASE from Debian $DEBIAN_SUITE with mmdebstrap (a few minutes, once)"
    tarball="$(mktemp --suffix=.tar "${TMPDIR:-/tmp}/fargate-bastion-base.XXXXXX")"
    # minbase, without documentation, manual pages or translations, as Debian's slim
    # images are; the same exclusions stay in the base for later installs.
    mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        "$DEBIAN_SUITE" "$tarball" "$DEBIAN_MIRROR" || status=$?
    if ((status == 0)); then
        podman import --quiet "$tarball" "$LOCAL_BASE" >/dev/null || status=$?
    fi
    rm -f "$tarball"
    ((status == 0)) || die "could not make the local base image $LOCAL_BASE"
}

build_with_docker() {
    local -a extra=()
    read -r -a extra <<<"$IMAGE_BUILD_ARGS"
    docker buildx build --platform "${PLATFORM:-linux/arm64}" "$IMAGE_OUTPUT" \
        --target "$IMAGE_TARGET" --tag "$IMAGE" "${extra[@]}" "$CONTEXT"
}

build_with_podman() {
    local base
    local -a flags=() extra=() arguments=()
    mapfile -t flags < <(podman_flags)
    read -r -a extra <<<"$IMAGE_BUILD_ARGS"
    base="$(podman_base)"
    [[ "$base" == "$(pinned_base)" ]] || arguments+=(--build-arg "BASE_IMAGE=$base")
    [[ -z "$PLATFORM" ]] || arguments+=(--platform "$PLATFORM")
    say "podman: building target $IMAGE_TARGET as $IMAGE on $base"
    # The Docker image format keeps SHELL (the OCI format drops it); the runtime and the
    # limits apply to the build's RUN steps as to any container.
    podman build --quiet --format docker --layers "${flags[@]}" \
        --target "$IMAGE_TARGET" --tag "$IMAGE" "${arguments[@]}" "${extra[@]}" "$CONTEXT"
}

main() {
    case "${1:-build}" in
        podman-flags) podman_flags ;;
        base)
            exec 9>"$LOCK"
            flock 9
            podman_base >/dev/null
            ;;
        build)
            case "$IMAGE_TARGET" in tunnel | tools) ;; *) die "IMAGE_TARGET must be tunnel or tools" ;; esac
            if [[ "$(engine)" == docker ]]; then
                build_with_docker
            else
                # One build at a time on this machine: concurrent test workers share it.
                exec 9>"$LOCK"
                flock 9
                build_with_podman
            fi
            ;;
        *) die "unknown command '$1' (build, base or podman-flags)" ;;
    esac
}

main "$@"
