#!/usr/bin/env bash
# fargate-bastion: the bastion container's entry point.
#
# Reads the session from the environment (the contract in container/README.md), refuses
# to start on anything malformed, generates fresh host keys, writes the session's
# kubeconfig and login banner, runs sshd as this unprivileged user, and exits at the
# session's expiry or after the idle timeout. Every event is one JSON line on stdout.
#
#   entrypoint.sh           run the bastion
#   entrypoint.sh --check   validate the environment only: exit 0, or 2 with the reason
#
# Exit status: 0 when the session ends (expired, idle, or the task was stopped),
# 1 when sshd fails or dies, 2 when the environment is invalid.
set -Eeuo pipefail
shopt -s nullglob
umask 077

readonly EXIT_ENDED=0 EXIT_FAILED=1 EXIT_INVALID=2

# ----------------------------------------------------------------- the environment
# Set by RunBastionTask for each session.
SESSION_ID="${BASTION_SESSION_ID:-}"
CLUSTER_NAME="${BASTION_CLUSTER_NAME:-}"
AUTHORIZED_KEY="${BASTION_AUTHORIZED_KEY:-}"
EXPIRES_AT="${BASTION_EXPIRES_AT:-}"
IDLE_TIMEOUT_SECONDS="${BASTION_IDLE_TIMEOUT_SECONDS:-}"
ENDPOINT_HOST="${BASTION_ENDPOINT_HOST:-}"
MODE="${BASTION_MODE:-}"
# Optional; the defaults are the container's.
ENDPOINT_PORT="${BASTION_ENDPOINT_PORT:-443}"
SSH_PORT="${BASTION_SSH_PORT:-22}"
LISTEN_ADDRESS="${BASTION_LISTEN_ADDRESS:-}"
EXPIRY_WARNING_SECONDS="${BASTION_EXPIRY_WARNING_SECONDS:-300}"
# The session's own expiry, when it may be extended up to BASTION_EXPIRES_AT: users are
# warned before it and the banner names it; the workflow ends the session then unless it
# was extended. Unset: the same as BASTION_EXPIRES_AT.
SESSION_EXPIRES_AT="${BASTION_SESSION_EXPIRES_AT:-}"
RUNTIME_DIR="${BASTION_RUNTIME_DIR:-/run/bastion}"
SSHD_CONFIG="${BASTION_SSHD_CONFIG:-/etc/ssh/sshd_config}"
SSHD="${BASTION_SSHD:-/usr/sbin/sshd}"

readonly SUPPORTED_KEY_TYPES=(
    ssh-ed25519 ecdsa-sha2-nistp256 ecdsa-sha2-nistp384 ecdsa-sha2-nistp521 ssh-rsa
    sk-ssh-ed25519@openssh.com sk-ecdsa-sha2-nistp256@openssh.com
)
readonly KEY_TYPE_SHAPE='^(ssh|ecdsa|sk)-[A-Za-z0-9@.+-]+$'
readonly MIN_RSA_BITS=2048 MAX_KEY_LINE_CHARS=8192
# Where a logged-in user (`bastion extend`, over ssh) tells the bastion the session's new
# expiry, in the runtime directory (BASTION_EXPIRY_FILE in login sessions).
readonly EXPIRY_FILE_NAME=session-expires-at
# The longest telling every terminal a warning or the end may take, all together.
readonly NOTIFY_SECONDS=3
# The host keys generated at each start and given to sshd (sshd_config's HostKeyAlgorithms).
readonly HOST_KEY_TYPES=(ed25519 ecdsa)
# A DNS name of letters, digits and hyphens: no wildcard, no list, no address.
readonly HOST_NAME_SHAPE='^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$'
# Platform variables the login sessions need too: sshd gives a session a fresh
# environment, so these are handed on with SetEnv.
readonly PASSED_TO_SESSIONS=(
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
    AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
    ECS_CONTAINER_METADATA_URI_V4 ECS_CONTAINER_METADATA_URI
)

# Set while running.
EXPIRES_EPOCH=0 SESSION_EXPIRES_EPOCH=0
KEY_TYPE="" KEY_FINGERPRINT="" KEY_LINE=""
HOST_KEYS="[]" HOST_PUBLIC_KEYS="[]"
REGION="" REGION_SOURCE="none" METADATA_ERROR=""
SSHD_PID="" KUBECONFIG_JOB_PID="" LOG_FD=""
STARTED=0 WARNED_SESSION=0 WARNED=0 EXIT_LOGGED=0 SHUTTING_DOWN=0 RECONCILE_SOON=0
ACCOUNT="$(id -un 2>/dev/null || true)"
LAST_ACTIVITY=$EPOCHSECONDS LAST_RECONCILE=$EPOCHSECONDS
declare -A OPEN_CONNECTIONS=() CONNECTED_AT=()
declare -a SESSION_ENVIRONMENT=()

# ------------------------------------------------------------------------ logging
# One JSON object per line: time, event, sessionId, then the named fields given as
# jq arguments (--arg name value, --argjson name json).
emit() {
    local event="$1"
    shift
    jq -cn --arg time "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" --arg event "$event" \
        --arg sessionId "$SESSION_ID" "$@" '$ARGS.named' || true
}

refuse() {
    local message="$*"
    printf 'fargate-bastion: refusing to start: %s\n' "$message" >&2
    emit exit --arg reason invalid-environment --arg message "$message" \
        --argjson exitCode "$EXIT_INVALID"
    EXIT_LOGGED=1
    exit "$EXIT_INVALID"
}

# ------------------------------------------------------------------- validation
require_tools() {
    local tool
    if ! command -v jq >/dev/null 2>&1; then
        printf 'fargate-bastion: refusing to start: jq is not installed\n' >&2
        exit "$EXIT_INVALID"
    fi
    for tool in ssh-keygen date dd; do
        command -v "$tool" >/dev/null 2>&1 || refuse "$tool is not installed"
    done
}

trim() {
    local text="$1"
    text="${text#"${text%%[![:space:]]*}"}"
    printf '%s' "${text%"${text##*[![:space:]]}"}"
}

is_supported_key_type() {
    local candidate
    for candidate in "${SUPPORTED_KEY_TYPES[@]}"; do
        [[ "$1" == "$candidate" ]] && return 0
    done
    return 1
}

# The same rules as tasks/common/ssh_keys.py, which the workflow applies first: exactly
# one plain "<type> <base64> [comment]" line, no authorized_keys options.
validate_authorized_key() {
    local name=BASTION_AUTHORIZED_KEY key fields=() field lines listing bits later_type=0
    key="$(trim "$AUTHORIZED_KEY")"
    [[ -n "$key" ]] || refuse "$name is not set: it must hold the session's OpenSSH public key"
    if [[ "$key" == *$'\n'* || "$key" == *$'\r'* ]]; then
        lines="$(printf '%s\n' "$key" | grep -c .)" || true
        refuse "$name must be exactly one line: one public key (it has $lines lines)"
    fi
    ((${#key} <= MAX_KEY_LINE_CHARS)) ||
        refuse "$name is longer than $MAX_KEY_LINE_CHARS characters"
    key="${key//$'\t'/ }"
    [[ ! "$key" =~ [[:cntrl:]] ]] || refuse "$name must not contain control characters"
    read -r -a fields <<<"$key"
    KEY_TYPE="${fields[0]}"
    if [[ ! "$KEY_TYPE" =~ $KEY_TYPE_SHAPE ]]; then
        for field in "${fields[@]:1}"; do
            [[ "$field" =~ $KEY_TYPE_SHAPE ]] && later_type=1
        done
        if [[ "$KEY_TYPE" == *[=\"]* ]] || ((later_type == 1)); then
            refuse "$name must not have an options prefix (such as command=, from= or" \
                "no-pty): give the plain '<type> <base64> [comment]' line"
        fi
        refuse "$name does not start with a key type (supported: ${SUPPORTED_KEY_TYPES[*]})"
    fi
    is_supported_key_type "$KEY_TYPE" ||
        refuse "$name has key type '$KEY_TYPE', which is not supported" \
            "(supported: ${SUPPORTED_KEY_TYPES[*]})"
    ((${#fields[@]} >= 2)) || refuse "$name has no key data after the key type"
    KEY_LINE="${fields[*]}"
    # ssh-keygen parses the blob: its type must match the line's, its data be whole.
    if ! listing="$(ssh-keygen -l -f /dev/stdin <<<"$KEY_LINE" 2>&1)" ||
        [[ "$listing" != *SHA256:* ]]; then
        refuse "$name is not a valid $KEY_TYPE public key (ssh-keygen: ${listing//$'\n'/ })"
    fi
    read -r bits KEY_FINGERPRINT _ <<<"$listing"
    if [[ "$KEY_TYPE" == ssh-rsa ]] && ((bits < MIN_RSA_BITS)); then
        refuse "$name is a $bits-bit RSA key; at least $MIN_RSA_BITS bits are required"
    fi
}

# The one place a tunnel may lead: sshd matches a client's request against this name as
# text, so it must be a plain host name. An address is refused too: the endpoint's
# addresses are interfaces EKS replaces at will, only its name always means it.
validate_endpoint_host() {
    local name=BASTION_ENDPOINT_HOST
    [[ -n "$ENDPOINT_HOST" ]] ||
        refuse "$name is not set: it must hold the host name of the cluster's API endpoint"
    if ((${#ENDPOINT_HOST} > 253)) || [[ ! "$ENDPOINT_HOST" =~ $HOST_NAME_SHAPE ]]; then
        refuse "$name must be a DNS host name of letters, digits, hyphens and dots, without" \
            "scheme, port, wildcard or spaces (got '$ENDPOINT_HOST')"
    fi
    [[ ! "${ENDPOINT_HOST##*.}" =~ ^[0-9]+$ ]] ||
        refuse "$name must be the endpoint's host name, not an address (got '$ENDPOINT_HOST')"
}

validate_environment() {
    ((EUID != 0)) ||
        refuse "running as root: the bastion runs sshd as its own unprivileged user"
    [[ "$SESSION_ID" =~ ^[A-Za-z0-9_-]{1,80}$ ]] ||
        refuse "BASTION_SESSION_ID must be 1 to 80 of A-Z a-z 0-9 _ - (got '$SESSION_ID')"
    [[ "$CLUSTER_NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$ ]] ||
        refuse "BASTION_CLUSTER_NAME must be an EKS cluster name (got '$CLUSTER_NAME')"
    if [[ ! "$EXPIRES_AT" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
        ! EXPIRES_EPOCH="$(date -u -d "$EXPIRES_AT" +%s 2>/dev/null)"; then
        refuse "BASTION_EXPIRES_AT must be a UTC time as YYYY-MM-DDTHH:MM:SSZ (got '$EXPIRES_AT')"
    fi
    SESSION_EXPIRES_AT="${SESSION_EXPIRES_AT:-$EXPIRES_AT}"
    if [[ ! "$SESSION_EXPIRES_AT" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
        ! SESSION_EXPIRES_EPOCH="$(date -u -d "$SESSION_EXPIRES_AT" +%s 2>/dev/null)"; then
        refuse "BASTION_SESSION_EXPIRES_AT must be a UTC time as YYYY-MM-DDTHH:MM:SSZ" \
            "(got '$SESSION_EXPIRES_AT')"
    fi
    ((SESSION_EXPIRES_EPOCH <= EXPIRES_EPOCH)) ||
        refuse "BASTION_SESSION_EXPIRES_AT ($SESSION_EXPIRES_AT) must be not after" \
            "BASTION_EXPIRES_AT ($EXPIRES_AT), the latest the session may last"
    [[ "$IDLE_TIMEOUT_SECONDS" =~ ^[1-9][0-9]{0,6}$ ]] ||
        refuse "BASTION_IDLE_TIMEOUT_SECONDS must be a whole number of seconds from 1" \
            "(got '$IDLE_TIMEOUT_SECONDS')"
    validate_endpoint_host
    [[ "$MODE" == tunnel || "$MODE" == shell ]] ||
        refuse "BASTION_MODE must be tunnel or shell (got '$MODE')"
    if [[ ! "$ENDPOINT_PORT" =~ ^[1-9][0-9]{0,4}$ ]] || ((ENDPOINT_PORT > 65535)); then
        refuse "BASTION_ENDPOINT_PORT must be a port number from 1 to 65535 (got '$ENDPOINT_PORT')"
    fi
    if [[ ! "$SSH_PORT" =~ ^[1-9][0-9]{0,4}$ ]] || ((SSH_PORT > 65535)); then
        refuse "BASTION_SSH_PORT must be a port number from 1 to 65535 (got '$SSH_PORT')"
    fi
    [[ -z "$LISTEN_ADDRESS" || "$LISTEN_ADDRESS" =~ ^[0-9A-Fa-f.:]+$ ]] ||
        refuse "BASTION_LISTEN_ADDRESS must be an IP address (got '$LISTEN_ADDRESS')"
    [[ "$EXPIRY_WARNING_SECONDS" =~ ^[0-9]{1,7}$ ]] ||
        refuse "BASTION_EXPIRY_WARNING_SECONDS must be a whole number of seconds" \
            "(got '$EXPIRY_WARNING_SECONDS')"
    [[ "$RUNTIME_DIR" == /* && "$RUNTIME_DIR" != *[[:space:]\"\'\\]* ]] ||
        refuse "BASTION_RUNTIME_DIR must be an absolute path without spaces or quotes"
    [[ -r "$SSHD_CONFIG" ]] || refuse "BASTION_SSHD_CONFIG: cannot read '$SSHD_CONFIG'"
    [[ "$SSHD" == /* && -x "$SSHD" ]] ||
        refuse "BASTION_SSHD must be the absolute path of sshd (got '$SSHD')"
    validate_authorized_key
}

# ------------------------------------------------------------------------ region
# The ECS task metadata endpoint v4 knows the task's region; the AWS variables are the
# fallback (a container run elsewhere, or the endpoint not answering).
resolve_region() {
    local task_json candidate
    if [[ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ]]; then
        if ! command -v curl >/dev/null 2>&1; then
            METADATA_ERROR="curl is not installed"
        elif task_json="$(curl -fsS --max-time 2 --retry 2 --retry-delay 1 \
            --retry-connrefused "$ECS_CONTAINER_METADATA_URI_V4/task" 2>&1)"; then
            candidate="$(jq -r '
                ((.TaskARN // "") | split(":") | .[3] // "") as $from_arn
                | if $from_arn != "" then $from_arn
                  else (.AvailabilityZone // "") | sub("[a-z]$"; "") end' \
                <<<"$task_json" 2>/dev/null)" || candidate=""
            if [[ "$candidate" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
                REGION="$candidate" REGION_SOURCE=metadata
                return 0
            fi
            METADATA_ERROR="no region in the task metadata"
        else
            METADATA_ERROR="${task_json//$'\n'/ }"
        fi
    fi
    if [[ -n "${AWS_REGION:-}" ]]; then
        REGION="$AWS_REGION" REGION_SOURCE=AWS_REGION
    elif [[ -n "${AWS_DEFAULT_REGION:-}" ]]; then
        REGION="$AWS_DEFAULT_REGION" REGION_SOURCE=AWS_DEFAULT_REGION
    fi
}

# ---------------------------------------------------------------- runtime files
prepare_runtime_dir() {
    mkdir -p "$RUNTIME_DIR" 2>/dev/null || refuse "cannot create BASTION_RUNTIME_DIR $RUNTIME_DIR"
    [[ -O "$RUNTIME_DIR" ]] || refuse "BASTION_RUNTIME_DIR $RUNTIME_DIR is not owned by $(id -un)"
    chmod 0700 "$RUNTIME_DIR"
}

# Fresh host keys for every start: nothing of the image identifies this bastion. The
# started event reports them (read here, before sshd starts, so that the event is not
# delayed): hostKeys as "<TYPE> <fingerprint>" words, and hostPublicKeys as the
# known_hosts material, {type, key (base64), fingerprint}, for clients to pin.
generate_host_keys() {
    local type key key_type blob listing fingerprint label words=() entries=()
    for type in "${HOST_KEY_TYPES[@]}"; do
        key="$RUNTIME_DIR/ssh_host_${type}_key"
        rm -f "$key" "$key.pub"
        ssh-keygen -q -t "$type" -N '' -C "fargate-bastion $SESSION_ID" -f "$key" </dev/null
        read -r key_type blob _ <"$key.pub"
        listing="$(ssh-keygen -l -E sha256 -f "$key.pub")"
        read -r _ fingerprint _ <<<"$listing"
        label="${listing##* (}"
        words+=("${label%)} $fingerprint")
        entries+=("$(jq -cn --arg type "$key_type" --arg key "$blob" \
            --arg fingerprint "$fingerprint" '$ARGS.named')")
    done
    HOST_KEYS="$(printf '%s\n' "${words[@]}" | jq -Rsc 'split("\n") - [""]')"
    HOST_PUBLIC_KEYS="$(printf '%s\n' "${entries[@]}" | jq -sc .)"
}

write_authorized_key() {
    printf '%s\n' "$KEY_LINE" >"$RUNTIME_DIR/authorized_keys"
    chmod 0600 "$RUNTIME_DIR/authorized_keys"
}

# The kubeconfig authenticates with `aws eks get-token` as whatever AWS identity the
# shell has (by default the task role). The cluster's endpoint and CA need
# eks:DescribeCluster, so the entry point writes the user and context at once and
# completes the cluster in the background: the bastion never waits on EKS to start.
write_kubeconfig() {
    local server="$1" ca="$2" target="$RUNTIME_DIR/kubeconfig" partial
    partial="$(mktemp "$RUNTIME_DIR/.kubeconfig.XXXXXX")"
    jq -n --arg name "$CLUSTER_NAME" --arg region "$REGION" \
        --arg server "$server" --arg ca "$ca" '
        ([if $region != "" then "--region", $region else empty end]
            + ["eks", "get-token", "--cluster-name", $name, "--output", "json"]) as $args
        | {
            apiVersion: "v1",
            kind: "Config",
            preferences: {},
            clusters: (if $server == "" then [] else
                [{name: $name, cluster: ({server: $server}
                    + (if $ca == "" then {} else {"certificate-authority-data": $ca} end))}]
                end),
            users: [{name: $name, user: {exec: {
                apiVersion: "client.authentication.k8s.io/v1beta1",
                command: "aws", args: $args, interactiveMode: "Never"}}}],
            contexts: [{name: $name, context: {cluster: $name, user: $name}}],
            "current-context": $name
          }' >"$partial"
    mv -f "$partial" "$target"
}

kubeconfig_status() {
    printf '%s\n' "$*" >"$RUNTIME_DIR/kubeconfig.status"
}

complete_kubeconfig() {
    local attempt described endpoint ca reason=""
    if ! command -v aws >/dev/null 2>&1; then
        reason="the aws CLI is not installed"
    elif [[ -z "$REGION" ]]; then
        reason="the region is unknown"
    else
        for attempt in 1 2 3; do
            if described="$(aws eks describe-cluster --region "$REGION" --name "$CLUSTER_NAME" \
                --cli-connect-timeout 5 --cli-read-timeout 10 --output json \
                --query 'cluster.{endpoint: endpoint, ca: certificateAuthority.data}' 2>&1)" &&
                endpoint="$(jq -er '.endpoint | select(startswith("https://"))' \
                    <<<"$described" 2>/dev/null)"; then
                ca="$(jq -r '.ca // ""' <<<"$described")"
                write_kubeconfig "$endpoint" "$ca"
                kubeconfig_status "ready: $endpoint"
                emit kubeconfig --arg status ready --arg endpoint "$endpoint"
                return 0
            fi
            reason="$(tail -n 1 <<<"$described")"
            ((attempt < 3)) && sleep $((attempt * 5))
        done
    fi
    kubeconfig_status "incomplete ($reason): run" \
        "aws eks update-kubeconfig --name $CLUSTER_NAME ${REGION:+--region $REGION}"
    emit kubeconfig --arg status incomplete --arg reason "$reason"
}

write_motd() {
    local user expires_local idle_minutes
    user="$(id -un)"
    expires_local="$(date -u -d "@$SESSION_EXPIRES_EPOCH" '+%Y-%m-%d %H:%M UTC')"
    if ((SESSION_EXPIRES_EPOCH < EXPIRES_EPOCH)); then
        expires_local+=" unless extended (\`bastion extend\`, up to"
        expires_local+=" $(date -u -d "@$EXPIRES_EPOCH" '+%Y-%m-%d %H:%M UTC'))"
    fi
    idle_minutes=$(((IDLE_TIMEOUT_SECONDS + 59) / 60))
    cat >"$RUNTIME_DIR/motd" <<EOF

  fargate-bastion session $SESSION_ID
  cluster   $CLUSTER_NAME (region ${REGION:-unknown})
  expires   $expires_local; the bastion also exits $idle_minutes min after the last
            SSH connection closes

  kubectl here uses KUBECONFIG=$RUNTIME_DIR/kubeconfig (context $CLUSTER_NAME), which
  signs in with \`aws eks get-token\` as this shell's AWS identity: the bastion's task
  role unless you bring your own.

  Recommended: keep your credentials on your own machine and tunnel instead:
    ssh -N -D 1080 $user@<this bastion's address>
  and, in your local kubeconfig's cluster entry for $CLUSTER_NAME:
    proxy-url: socks5://localhost:1080
  (\`aws eks update-kubeconfig --name $CLUSTER_NAME --region ${REGION:-<region>}\` writes that
  entry; \`kubectl config set-cluster <its name> --proxy-url=socks5://localhost:1080\`
  adds the proxy.) Tunnels lead to $ENDPOINT_HOST port $ENDPOINT_PORT only, asked for
  by that name (a SOCKS client must send the name, as kubectl does); anything else is
  refused.

EOF
}

# ----------------------------------------------------------------- processes
# Every process below $1, read from /proc (procps is not needed).
descendants_of() {
    local root="$1" stat line pid rest ppid current IFS=$' \t\n'
    local -A parent_of=()
    local -a queue=("$root")
    for stat in /proc/[0-9]*/stat; do
        { read -r line <"$stat"; } 2>/dev/null || continue
        pid="${stat#/proc/}"
        rest="${line##*) }"
        read -r _ ppid _ <<<"$rest"
        parent_of["${pid%/stat}"]="$ppid"
    done
    while ((${#queue[@]} > 0)); do
        current="${queue[0]}"
        queue=("${queue[@]:1}")
        for pid in "${!parent_of[@]}"; do
            if [[ "${parent_of[$pid]}" == "$current" ]]; then
                printf '%s\n' "$pid"
                queue+=("$pid")
            fi
        done
    done
}

# The terminals of the logged-in sessions: the ptys their processes hold open.
session_terminals() {
    local pid fd target pids=()
    local -A terminals=()
    [[ -n "$SSHD_PID" ]] || return 0
    mapfile -t pids < <(descendants_of "$SSHD_PID")
    for pid in "${pids[@]}"; do
        for fd in /proc/"$pid"/fd/0 /proc/"$pid"/fd/1 /proc/"$pid"/fd/2; do
            target="$(readlink "$fd" 2>/dev/null)" || continue
            [[ "$target" == /dev/pts/* ]] && terminals["$target"]=1
        done
    done
    ((${#terminals[@]} == 0)) || printf '%s\n' "${!terminals[@]}"
}

# Best effort: `wall` needs utmp, which an unprivileged sshd cannot write, so the
# message goes to each session's terminal directly, never blocking for long: a write waits
# 2 s at most, and all of them NOTIFY_SECONDS together (terminals that take no output, as
# many as a user opens, must not hold up the hard stop); the rest then go untold.
notify_terminals() {
    local message="$*" terminal count=0 terminals=() left
    local deadline=$((EPOCHSECONDS + NOTIFY_SECONDS))
    mapfile -t terminals < <(session_terminals)
    for terminal in "${terminals[@]}"; do
        left=$((deadline - EPOCHSECONDS))
        ((left > 0)) || break
        if printf '\r\n\a*** fargate-bastion: %s ***\r\n' "$message" |
            timeout "$((left < 2 ? left : 2))" tee -a -- "$terminal" >/dev/null 2>&1; then
            count=$((count + 1))
        fi
    done
    printf '%s' "$count"
}

# ---------------------------------------------------------------------- sshd
# What sessions see besides sshd's own variables (sshd's SetEnv: NAME=VALUE words).
session_environment() {
    local name value
    SESSION_ENVIRONMENT=("KUBECONFIG=$RUNTIME_DIR/kubeconfig" "AWS_PAGER="
        "BASTION_SESSION_ID=$SESSION_ID" "BASTION_CLUSTER_NAME=$CLUSTER_NAME"
        "BASTION_EXPIRES_AT=$EXPIRES_AT" "BASTION_SESSION_EXPIRES_AT=$SESSION_EXPIRES_AT"
        "BASTION_EXPIRY_FILE=$RUNTIME_DIR/$EXPIRY_FILE_NAME")
    if [[ -n "$REGION" ]]; then
        SESSION_ENVIRONMENT+=("AWS_REGION=$REGION" "AWS_DEFAULT_REGION=$REGION")
    fi
    for name in "${PASSED_TO_SESSIONS[@]}"; do
        value="${!name:-}"
        [[ -n "$value" ]] || continue
        if [[ "$value" == *[[:space:]\"\'\\]* ]]; then
            emit warning --arg message "$name is not passed to sessions: it has spaces or quotes"
            continue
        fi
        SESSION_ENVIRONMENT+=("$name=$value")
    done
}

# The endpoint's name as EKS reports it and in lower case (DNS names are
# case-insensitive, sshd's comparison is not), on the endpoint's port only.
permitted_destinations() {
    local lower="${ENDPOINT_HOST,,}"
    if [[ "$lower" == "$ENDPOINT_HOST" ]]; then
        printf '%s:%s' "$ENDPOINT_HOST" "$ENDPOINT_PORT"
    else
        printf '%s:%s %s:%s' "$ENDPOINT_HOST" "$ENDPOINT_PORT" "$lower" "$ENDPOINT_PORT"
    fi
}

start_sshd() {
    local fifo="$RUNTIME_DIR/.sshd-log"
    session_environment
    local type
    local -a arguments=(-D -e -f "$SSHD_CONFIG" -o "Port=$SSH_PORT")
    for type in "${HOST_KEY_TYPES[@]}"; do
        arguments+=(-o "HostKey=$RUNTIME_DIR/ssh_host_${type}_key")
    done
    arguments+=(-o "AuthorizedKeysFile=$RUNTIME_DIR/authorized_keys"
        -o "PidFile=$RUNTIME_DIR/sshd.pid"
        -o "SetEnv=${SESSION_ENVIRONMENT[*]}")
    [[ -z "$LISTEN_ADDRESS" ]] || arguments+=(-o "ListenAddress=$LISTEN_ADDRESS")
    arguments+=(-o "PermitOpen=$(permitted_destinations)")
    if [[ "$MODE" == shell ]]; then
        arguments+=(-o "MaxSessions=10" -o "PermitTTY=yes")
    fi
    # sshd logs to a pipe this script reads; opened read-write, it never blocks or ends.
    rm -f "$fifo"
    mkfifo -m 0600 "$fifo"
    exec {LOG_FD}<>"$fifo"
    rm -f "$fifo"
    "$SSHD" "${arguments[@]}" </dev/null 2>&"$LOG_FD" &
    SSHD_PID=$!
}

stop_sshd() {
    local pids=() pid deadline
    [[ -n "$SSHD_PID" ]] || return 0
    mapfile -t pids < <(descendants_of "$SSHD_PID")
    kill -TERM "$SSHD_PID" "${pids[@]}" 2>/dev/null || true
    deadline=$((EPOCHSECONDS + 3))
    while kill -0 "$SSHD_PID" 2>/dev/null && ((EPOCHSECONDS < deadline)); do
        sleep 0.1
    done
    for pid in "$SSHD_PID" "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait "$SSHD_PID" 2>/dev/null || true
    SSHD_PID=""
}

# --------------------------------------------------------------------- events
# sshd logs text that clients choose (user names, banners, versions), so its log can
# tell what happened but never decide it: a line is read only when it has exactly the
# shape sshd gives it, names this bastion's own account, and the kernel confirms it. A
# connection counts while the kernel holds an established TCP connection from its
# address and port to sshd's port (/proc/net/tcp, tcp6), and ends when that is gone.

# The kernel's spelling of an address in /proc/net/tcp{,6}: hex, each 32-bit word in
# host byte order (little-endian here). Fails for anything that is not an address.
proc_net_address() {
    local address="$1" head tail word hex="" i
    local -a groups=() tail_groups=()
    if [[ "$address" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
        printf '%02X%02X%02X%02X' "${BASH_REMATCH[4]}" "${BASH_REMATCH[3]}" \
            "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
        return 0
    fi
    [[ "$address" =~ ^[0-9A-Fa-f:]{2,39}$ ]] || return 1
    if [[ "$address" == *::* ]]; then
        head="${address%%::*}" tail="${address#*::}"
        [[ "$tail" != *::* ]] || return 1
        [[ -z "$head" ]] || IFS=: read -r -a groups <<<"$head"
        [[ -z "$tail" ]] || IFS=: read -r -a tail_groups <<<"$tail"
        for ((i = ${#groups[@]} + ${#tail_groups[@]}; i < 8; i++)); do groups+=(0); done
        groups+=("${tail_groups[@]}")
    else
        IFS=: read -r -a groups <<<"$address"
    fi
    ((${#groups[@]} == 8)) || return 1
    for word in "${groups[@]}"; do
        [[ "$word" =~ ^[0-9A-Fa-f]{1,4}$ ]] || return 1
    done
    for ((i = 0; i < 8; i += 2)); do
        word="$(printf '%04X%04X' "0x${groups[i]}" "0x${groups[i + 1]}")"
        hex+="${word:6:2}${word:4:2}${word:2:2}${word:0:2}"
    done
    printf '%s' "$hex"
}

# Whether the kernel holds an established connection from $1 port $2 to sshd's port.
established() {
    local address port local_address remote_address state file
    address="$(proc_net_address "$1")" || return 1
    port="$(printf '%04X' "$2")"
    for file in /proc/net/tcp /proc/net/tcp6; do
        [[ -r "$file" ]] || continue
        while read -r _ local_address remote_address state _; do
            if [[ "$state" == 01 && "$remote_address" == "$address:$port" ]] &&
                ((16#${local_address##*:} == SSH_PORT)); then
                return 0
            fi
        done <"$file"
    done
    return 1
}

close_connection() {
    local key="$1" duration
    duration=$((EPOCHSECONDS - ${CONNECTED_AT[$key]}))
    unset 'OPEN_CONNECTIONS[$key]' 'CONNECTED_AT[$key]'
    LAST_ACTIVITY=$EPOCHSECONDS
    emit disconnect --arg sourceAddress "${key% *}" --argjson sourcePort "${key#* }" \
        --argjson durationSeconds "$duration" --argjson connections "${#OPEN_CONNECTIONS[@]}"
}

readonly ADDRESS_SHAPE='[0-9A-Fa-f:.]+'
readonly ACCEPTED_SHAPE="^Accepted publickey for ([^ ]+) from ($ADDRESS_SHAPE) port ([0-9]{1,5}) ssh2: ([A-Z0-9-]+) (SHA256:[A-Za-z0-9+/]{43})\$"
readonly CLOSED_SHAPE="^(Disconnected from|Connection closed by|Connection reset by|Timeout, client not responding from) (user ([^ ]+) )?($ADDRESS_SHAPE) port ([0-9]{1,5})\$"

handle_sshd_line() {
    # sshd -e ends its lines with CR LF.
    local line="${1%$'\r'}" key
    if [[ "$line" =~ $ACCEPTED_SHAPE && "${BASH_REMATCH[1]}" == "$ACCOUNT" ]]; then
        key="${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
        # A short command may be over before this line is read: the next reconcile
        # closes a connection the kernel no longer holds.
        RECONCILE_SOON=1
        OPEN_CONNECTIONS["$key"]="${BASH_REMATCH[5]}"
        CONNECTED_AT["$key"]=$EPOCHSECONDS
        emit connect --arg user "${BASH_REMATCH[1]}" --arg sourceAddress "${BASH_REMATCH[2]}" \
            --argjson sourcePort "${BASH_REMATCH[3]}" --arg keyType "${BASH_REMATCH[4]}" \
            --arg fingerprint "${BASH_REMATCH[5]}" \
            --argjson connections "${#OPEN_CONNECTIONS[@]}"
        return 0
    fi
    emit sshd --arg message "$line"
    if [[ "$line" =~ $CLOSED_SHAPE ]]; then
        key="${BASH_REMATCH[4]} ${BASH_REMATCH[5]}"
        # Only a hint: the connection ends when the kernel no longer holds it, which may
        # be a moment after sshd's line.
        if [[ -n "${OPEN_CONNECTIONS["$key"]+set}" ]] && ! established "${key% *}" "${key#* }"; then
            close_connection "$key"
        else
            RECONCILE_SOON=1
        fi
    elif ((STARTED == 0)) && accepting "$line"; then
        STARTED=1
        LAST_ACTIVITY=$EPOCHSECONDS
        emit started --arg cluster "$CLUSTER_NAME" --arg mode "$MODE" \
            --arg endpointHost "$ENDPOINT_HOST" --argjson endpointPort "$ENDPOINT_PORT" \
            --arg region "$REGION" \
            --arg regionSource "$REGION_SOURCE" --arg metadataError "$METADATA_ERROR" \
            --arg expiresAt "$EXPIRES_AT" \
            --argjson idleTimeoutSeconds "$IDLE_TIMEOUT_SECONDS" \
            --argjson port "$SSH_PORT" --arg authorizedKeyType "$KEY_TYPE" \
            --arg authorizedKeyFingerprint "$KEY_FINGERPRINT" \
            --argjson hostKeys "$HOST_KEYS" --argjson hostPublicKeys "$HOST_PUBLIC_KEYS"
    fi
}

# Whether sshd's line says it accepts connections where clients connect. sshd logs
# "Server listening on <address> port <port>." right after listen(2) on that socket: from
# then on the kernel completes connections to it, and sshd's accept loop comes next. With
# BASTION_LISTEN_ADDRESS sshd has that one socket; without, one per address family, and
# clients reach the task's IPv4 address: the line for 0.0.0.0 is the one that counts.
accepting() {
    local line="$1"
    if [[ -n "$LISTEN_ADDRESS" ]]; then
        [[ "$line" =~ ^Server\ listening\ on\ [0-9A-Fa-f.:]+\ port\ ([0-9]+)\.$ ]]
    else
        [[ "$line" =~ ^Server\ listening\ on\ 0\.0\.0\.0\ port\ ([0-9]+)\.$ ]]
    fi && [[ "${BASH_REMATCH[1]}" == "$SSH_PORT" ]]
}

# A connection ends when the kernel no longer holds it, whether or not sshd logged it
# (a killed session process, a vanished client).
reconcile_connections() {
    local key
    LAST_RECONCILE=$EPOCHSECONDS RECONCILE_SOON=0
    for key in "${!OPEN_CONNECTIONS[@]}"; do
        established "${key% *}" "${key#* }" || close_connection "$key"
    done
}

shutdown() {
    local reason="$1" code="$2" notified=0
    ((SHUTTING_DOWN == 0)) || return 0
    SHUTTING_DOWN=1
    # The workflow ends a session by stopping the task (SIGTERM): at its expiry, however
    # often it was extended (this entry point cannot learn of that), or at the user's end.
    case "$reason" in
        expired) notified="$(notify_terminals "the session has expired: disconnecting")" ;;
        stopped) notified="$(notify_terminals "the session has ended: disconnecting")" ;;
    esac
    # Give sshd a moment to carry the message to the clients before it is stopped.
    ((notified == 0)) || sleep 1
    stop_sshd
    stop_kubeconfig_job
    emit exit --arg reason "$reason" --argjson exitCode "$code" \
        --argjson connections "${#OPEN_CONNECTIONS[@]}" --argjson notifiedTerminals "$notified"
    EXIT_LOGGED=1
    exit "$code"
}

stop_kubeconfig_job() {
    local pids=()
    [[ -n "$KUBECONFIG_JOB_PID" ]] || return 0
    mapfile -t pids < <(descendants_of "$KUBECONFIG_JOB_PID")
    kill -TERM "$KUBECONFIG_JOB_PID" "${pids[@]}" 2>/dev/null || true
    KUBECONFIG_JOB_PID=""
}

# A trap that interrupts `IFS= read` runs with that IFS: restore word splitting first.
on_signal() {
    IFS=$' \t\n'
    shutdown stopped "$EXIT_ENDED"
}

on_exit() {
    local status=$?
    IFS=$' \t\n'
    ((EXIT_LOGGED == 1)) && return 0
    stop_sshd
    stop_kubeconfig_job
    emit exit --arg reason error --argjson exitCode "$status"
}

# The session's expiry as the user's side told it (`bastion extend` writes it over ssh
# after an extension). It moves the warning and nothing else: the workflow ends the
# session, and this entry point's own exit stays at BASTION_EXPIRES_AT. Whoever can write
# the file is logged in as the bastion's user, so can only change their own warnings; the
# file is read once (then removed), at most 64 characters, and only as a regular file.
# It is opened without following a link and without waiting (dd's nofollow, nonblock): a
# FIFO swapped in after the check reads as nothing and never blocks this loop, whose hard
# stop must come. Whatever is there is removed, a directory too, and nothing ends the
# bastion.
read_told_expiry() {
    local file="$RUNTIME_DIR/$EXPIRY_FILE_NAME" value="" epoch problem=""
    [[ -e "$file" || -L "$file" ]] || return 0
    if [[ -L "$file" || ! -f "$file" ]]; then
        problem="not a regular file"
    else
        IFS= read -r -n 64 value < <(dd if="$file" iflag=nofollow,nonblock bs=64 count=1 \
            status=none 2>/dev/null) || true
    fi
    rm -rf -- "$file" 2>/dev/null || true
    if [[ -z "$problem" ]]; then
        if [[ ! "$value" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
            ! epoch="$(date -u -d "$value" +%s 2>/dev/null)"; then
            problem="not a UTC time as YYYY-MM-DDTHH:MM:SSZ"
        elif ((epoch > EXPIRES_EPOCH)); then
            problem="after the hard stop $EXPIRES_AT, which no extension moves"
        elif ((epoch <= EPOCHSECONDS)); then
            problem="already past"
        fi
    fi
    if [[ -n "$problem" ]]; then
        emit expiry_told --arg value "$value" --argjson accepted false \
            --arg message "ignored the session expiry told: $problem"
        return 0
    fi
    SESSION_EXPIRES_AT="$value" SESSION_EXPIRES_EPOCH="$epoch" WARNED_SESSION=0
    emit expiry_told --arg value "$value" --argjson accepted true \
        --arg expiresAt "$SESSION_EXPIRES_AT" --arg extendableTo "$EXPIRES_AT"
}

# A warning before the session's own expiry, when it may be extended: the workflow ends
# the session then unless it was, and this entry point cannot learn which.
warn_session_expiry() {
    local left=$((SESSION_EXPIRES_EPOCH - EPOCHSECONDS)) notified
    WARNED_SESSION=1
    notified="$(notify_terminals "this session expires at $SESSION_EXPIRES_AT ($(time_left "$left"))" \
        "unless it is extended: \`bastion status\` shows its expiry, \`bastion extend\` extends it")"
    emit expiry_warning --arg expiresAt "$SESSION_EXPIRES_AT" --arg extendableTo "$EXPIRES_AT" \
        --argjson secondsLeft "$left" --argjson connections "${#OPEN_CONNECTIONS[@]}" \
        --argjson notifiedTerminals "$notified"
}

# The warning before the hard stop, which no extension moves.
warn_expiry() {
    local left=$((EXPIRES_EPOCH - EPOCHSECONDS)) notified
    WARNED=1
    notified="$(notify_terminals "this session expires at $EXPIRES_AT ($(time_left "$left")):" \
        "the bastion then closes every connection")"
    emit expiry_warning --arg expiresAt "$EXPIRES_AT" --argjson secondsLeft "$left" \
        --argjson connections "${#OPEN_CONNECTIONS[@]}" --argjson notifiedTerminals "$notified"
}

time_left() {
    local left="$1"
    if ((left >= 120)); then
        printf 'in about %s min' "$(((left + 59) / 60))"
    else
        printf 'in %s s' "$left"
    fi
}

run() {
    local line="" partial="" status
    if ((EPOCHSECONDS >= EXPIRES_EPOCH)); then
        emit exit --arg reason expired --arg message "the session expired before the bastion started" \
            --argjson exitCode "$EXIT_ENDED"
        EXIT_LOGGED=1
        exit "$EXIT_ENDED"
    fi
    trap on_exit EXIT
    trap on_signal TERM INT HUP
    resolve_region
    generate_host_keys
    write_authorized_key
    if [[ "$MODE" == shell ]]; then
        write_kubeconfig "" ""
        kubeconfig_status "pending: waiting for eks:DescribeCluster"
        write_motd
    fi
    start_sshd
    if [[ "$MODE" == shell ]]; then
        complete_kubeconfig &
        KUBECONFIG_JOB_PID=$!
    fi
    while true; do
        if IFS= read -r -t 1 -u "$LOG_FD" line; then
            handle_sshd_line "$partial$line"
            partial=""
        else
            status=$?
            # A timeout keeps what was read of an unfinished line.
            ((status > 128)) && partial+="$line"
        fi
        if ! kill -0 "$SSHD_PID" 2>/dev/null; then
            while IFS= read -r -t 0.2 -u "$LOG_FD" line; do handle_sshd_line "$line"; done
            wait "$SSHD_PID" 2>/dev/null || true
            SSHD_PID=""
            shutdown sshd-exited "$EXIT_FAILED"
        fi
        if ((EPOCHSECONDS >= EXPIRES_EPOCH)); then
            shutdown expired "$EXIT_ENDED"
        fi
        read_told_expiry
        if ((WARNED_SESSION == 0 && SESSION_EXPIRES_EPOCH < EXPIRES_EPOCH &&
            EPOCHSECONDS >= SESSION_EXPIRES_EPOCH - EXPIRY_WARNING_SECONDS)); then
            warn_session_expiry
        fi
        if ((WARNED == 0 && EPOCHSECONDS >= EXPIRES_EPOCH - EXPIRY_WARNING_SECONDS)); then
            warn_expiry
        fi
        if ((${#OPEN_CONNECTIONS[@]} == 0 && EPOCHSECONDS >= LAST_ACTIVITY + IDLE_TIMEOUT_SECONDS)); then
            shutdown idle "$EXIT_ENDED"
        fi
        if ((RECONCILE_SOON == 1 || EPOCHSECONDS >= LAST_RECONCILE + 5)); then
            reconcile_connections
        fi
    done
}

main() {
    require_tools
    validate_environment
    if [[ "${1:-}" == --check ]]; then
        emit check --arg status ok --arg authorizedKeyType "$KEY_TYPE" \
            --arg authorizedKeyFingerprint "$KEY_FINGERPRINT"
        exit 0
    fi
    prepare_runtime_dir
    run
}

main "$@"
