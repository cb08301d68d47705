"""Shell completion scripts for bash and zsh, generated from the argument parser."""

from __future__ import annotations

import argparse


def _commands(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each command's option strings (and ``local``/``completion``'s choices)."""
    found: dict[str, list[str]] = {}
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                words: list[str] = []
                for sub_action in sub._actions:  # noqa: SLF001
                    words += [o for o in sub_action.option_strings if o.startswith("--")]
                    if not sub_action.option_strings and sub_action.choices:
                        words += [str(choice) for choice in sub_action.choices]
                found[name] = sorted(set(words))
    return found


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` ("bash" or "zsh")."""
    commands = _commands(parser)
    cases = "\n".join(
        f'        {name}) words="{" ".join(options)}" ;;' for name, options in commands.items()
    )
    bash = f"""\
# bash completion for bastion. Load it with:  source <(bastion completion bash)
_bastion() {{
    local cur command words i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    command=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *) command="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "{" ".join(commands)} --help --profile --region --output \
--local" -- "$cur"))
        return
    fi
    case "$command" in
{cases}
        *) words="" ;;
    esac
    case "${{COMP_WORDS[COMP_CWORD-1]}}" in
        --output) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
        --key|--kubeconfig|--local-dir) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    COMPREPLY=($(compgen -W "$words --help" -- "$cur"))
}}
complete -F _bastion bastion
"""
    if shell == "bash":
        return bash
    return (
        "#compdef bastion\n"
        "# zsh completion for bastion. Load it with:  source <(bastion completion zsh)\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash
    )
