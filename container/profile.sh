# shellcheck shell=sh
# fargate-bastion: login shells name the session's cluster in the prompt, and say so
# while the kubeconfig is not complete yet. (sshd passes BASTION_CLUSTER_NAME and
# KUBECONFIG to every session; the banner itself is /etc/motd.)
if [ -n "${BASTION_CLUSTER_NAME:-}" ]; then
    PS1="[bastion ${BASTION_CLUSTER_NAME}] \\w \\$ "
fi
if [ -n "${KUBECONFIG:-}" ] && [ -r "${KUBECONFIG}.status" ]; then
    case "$(cat "${KUBECONFIG}.status")" in
        ready*) ;;
        *) printf 'kubeconfig: %s\n' "$(cat "${KUBECONFIG}.status")" ;;
    esac
fi
