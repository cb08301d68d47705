"""Rules for container/Dockerfile, checked by reading it: nothing secret in the image,
every download checked against a SHA-256 pinned in the Dockerfile, a target that takes
nothing from any download, every pin in one place.

Each checker returns the problems it finds (empty: none), so that a test can also feed
it a bad Dockerfile and see it caught.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

# ------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined, comment lines dropped."""

    keyword: str
    arguments: str
    line: int
    #: Before the first FROM: the global ARG block.
    global_scope: bool


def instructions(text: str) -> list[Instruction]:
    found: list[Instruction] = []
    seen_from = False
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        start = index
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [line]
        while parts[-1].rstrip().endswith("\\") and index < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            follower = lines[index]
            index += 1
            if follower.lstrip().startswith("#"):
                parts.append("")
                continue
            parts.append(follower)
        # Docker hands the shell one line: each backslash-newline is removed.
        joined = " ".join(part.strip() for part in parts).strip()
        keyword, _, arguments = joined.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            seen_from = True
        found.append(Instruction(keyword, arguments.strip(), start + 1, not seen_from))
    return found


def global_args(text: str) -> dict[str, str]:
    """The pinned block: ``ARG NAME=value`` before the first FROM."""
    pinned = {}
    for instruction in instructions(text):
        if instruction.keyword == "ARG" and instruction.global_scope:
            name, equals, value = instruction.arguments.partition("=")
            if equals:
                pinned[name.strip()] = value.strip().strip('"')
    return pinned


def pinned_block_lines(text: str) -> range:
    """The line numbers (1-based) of the file's head, up to the first FROM."""
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            return range(1, instruction.line)
    return range(1, len(text.splitlines()) + 1)


def pipelines(script: str) -> list[list[str]]:
    """A shell script as its pipelines (lists of commands), split outside quotes on
    newlines, ``;``, ``&&``, ``||`` and ``|``; shell keywords start a new command."""
    result: list[list[str]] = []
    current: list[str] = []
    command = ""
    quote = ""
    index = 0

    def end_command() -> None:
        nonlocal command
        if command.strip():
            current.append(command.strip())
        command = ""

    def end_pipeline() -> None:
        nonlocal current
        end_command()
        if current:
            result.append(current)
        current = []

    while index < len(script):
        char = script[index]
        pair = script[index : index + 2]
        if quote:
            command += char
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            command += char
        elif pair in ("&&", "||"):
            end_pipeline()
            index += 1
        elif char == "|":
            end_command()
        elif char in ";\n":
            end_pipeline()
        else:
            command += char
        index += 1
    end_pipeline()
    keywords = re.compile(r"^(?:then|else|do|if|elif|while)\s+")
    return [[keywords.sub("", command) for command in pipeline] for pipeline in result]


def argv(command: str) -> list[str]:
    """A command's words, without its redirections (``2>/dev/null``, ``>&2``)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return [word for word in words if not re.match(r"^\d*[<>]", word)]


# ------------------------------------------------------------------------ no secrets

_SECRET_SOURCE = re.compile(
    r"(^|/)(id_[a-z0-9]+|[^/]*key[^/]*|[^/]*\.(pem|p12|pfx|ppk)|\.aws|\.ssh|credentials"
    r"|authorized_keys|kubeconfig|\.kube|ssh_host_[^/]*)/?$",
    re.IGNORECASE,
)
_SECRET_NAME = re.compile(
    r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|SECRET|PASSWORD|PASSWD"
    r"|TOKEN|PRIVATE_KEY",
    re.IGNORECASE,
)


def secret_problems(text: str) -> list[str]:
    """Host keys, authorized keys or credentials that the image would contain."""
    problems = []
    for instruction in instructions(text):
        where = f"line {instruction.line}"
        body = instruction.arguments
        if "ssh-keygen" in body:
            problems.append(f"{where}: generates keys at build time (ssh-keygen)")
        if instruction.keyword in ("COPY", "ADD"):
            sources = [word for word in argv(body) if not word.startswith("--")][:-1]
            for source in sources:
                if _SECRET_SOURCE.search(source):
                    problems.append(f"{where}: copies {source!r}, a key or credentials")
        if instruction.keyword in ("ENV", "ARG"):
            for word in argv(body):
                name = word.partition("=")[0]
                if _SECRET_NAME.search(name):
                    problems.append(f"{where}: bakes {name} into the image")
        if instruction.keyword == "RUN":
            if re.search(r"authorized_keys|\.aws/credentials|AWS_SECRET_ACCESS_KEY", body):
                problems.append(f"{where}: writes authorized keys or credentials")
            if "openssh-server" in body and not re.search(
                r"rm -f[^\n&;|]*/etc/ssh/ssh_host_\*", body
            ):
                problems.append(
                    f"{where}: installs openssh-server, whose postinst makes host keys, "
                    "without deleting /etc/ssh/ssh_host_* in the same layer"
                )
    return problems


# ------------------------------------------------------------------ verified downloads

_DOWNLOADERS = ("curl", "wget")
_OUTPUT_OPTIONS = ("-o", "--output", "-O", "--output-document")


@dataclass(frozen=True)
class Download:
    file: str | None
    url: str
    #: The index of its pipeline in the RUN.
    position: int


def _download(words: list[str], position: int) -> Download | None:
    if not words or words[0] not in _DOWNLOADERS:
        return None
    output = None
    url = ""
    for index, word in enumerate(words):
        if word in _OUTPUT_OPTIONS and index + 1 < len(words):
            output = words[index + 1]
        elif word.startswith(("http://", "https://")):
            url = word
    return Download(output, url, position)


def _references(text: str) -> list[str]:
    return re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text)


def download_problems(text: str) -> list[str]:
    """Downloads not checked against a SHA-256 pinned in the Dockerfile itself.

    A checksum published beside the binary and fetched with it proves only that both
    came from the same place, so it does not count. A signature may be checked as
    well, by a key whose pinned fingerprint is checked; it does not replace the pin.
    """
    pinned = global_args(text)
    problems = []
    for instruction in instructions(text):
        where = f"line {instruction.line}"
        if instruction.keyword == "ADD" and re.search(r"https?://", instruction.arguments):
            problems.append(f"{where}: ADD of a URL is never verified: curl it and check it")
        if instruction.keyword != "RUN":
            continue
        problems += [f"{where}: {problem}" for problem in _run_problems(instruction, pinned)]
    return problems


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _pinned_sources(script: str, pinned: dict[str, str]) -> dict[str, set[str]]:
    """Each name that stands for pinned ARGs: the ARGs themselves, and each shell
    variable assigned from one (a checksum chosen per architecture)."""
    sources = {name: {name} for name in pinned}
    for name, source in re.findall(r"(\w+)=\"?\$\{(\w+)\}", script):
        if source in pinned:
            sources.setdefault(name, set()).add(source)
    return sources


def _checksum_problem(expected: str, sources: dict[str, set[str]], pinned: dict[str, str]) -> str:
    """Why ``expected`` (the checksum half of a ``sha256sum --check`` line) is not a
    SHA-256 pinned in the Dockerfile's head; empty when it is one."""
    if re.search(r"[0-9a-fA-F]{64}", expected):
        return "a checksum written into the RUN, not a pin"
    names = [name for name in _references(expected) if name in sources]
    if not names:
        return "not a pin"
    args = sorted({arg for name in names for arg in sources[name]})
    unpinned = [arg for arg in args if not _SHA256.fullmatch(pinned[arg])]
    return "; ".join(f"{arg} is not a SHA-256 (64 hex digits)" for arg in unpinned)


def _run_problems(instruction: Instruction, pinned: dict[str, str]) -> list[str]:
    all_pipelines = [
        [argv(command) for command in pipeline] for pipeline in pipelines(instruction.arguments)
    ]
    sources = _pinned_sources(instruction.arguments, pinned)
    problems: list[str] = []
    downloads = _downloads(all_pipelines, pinned, problems)
    downloaded = {download.file for download in downloads}

    verified: dict[str, int] = {}  # artifact -> index of the pipeline checking its SHA-256
    material: set[str] = set()  # signatures and keys, checked by a pinned fingerprint
    imported_keys: list[str] = []
    fingerprint_checked = False
    for index, pipeline in enumerate(all_pipelines):
        rest = " ".join(" ".join(command) for command in pipeline[1:])
        first, last = pipeline[0], pipeline[-1]
        if last[:1] == ["sha256sum"] and {"--check", "-c"} & set(last) and len(pipeline) > 1:
            if first[:1] in (["echo"], ["printf"]) and len(first) >= 2:
                expected, _, artifact = first[-1].partition("  ")
                from_file = re.fullmatch(r"\$\(cat (\S+)\)", expected)
                if from_file and from_file.group(1) in downloaded:
                    problems.append(
                        f"{artifact} is checked against {from_file.group(1)}, downloaded "
                        "with it, not against a SHA-256 pinned in the Dockerfile"
                    )
                    continue
                problem = _checksum_problem(expected, sources, pinned)
                if problem:
                    problems.append(f"{artifact} is checked against {expected!r}: {problem}")
                    continue
                verified.setdefault(artifact.strip(), index)
            elif first[:1] == ["grep"] and len(first) >= 3 and first[-1] in downloaded:
                problems.append(
                    f"{first[-2]} is checked against {first[-1]}, downloaded with it, "
                    "not against a SHA-256 pinned in the Dockerfile"
                )
        if first[:1] != ["gpg"]:
            continue
        if "--import" in first:
            imported_keys.append(first[-1])
        if "--fingerprint" in first:
            checked = " ".join(first[first.index("--fingerprint") + 1 :])
            names = set(_references(checked)) & set(_references(rest))
            fingerprint_checked |= any(name in pinned for name in names)
        if "--verify" in first:
            signature, artifact = first[-2], first[-1]
            pinned_key = any(
                name in pinned and name.endswith("_FINGERPRINT") for name in _references(rest)
            )
            if "VALIDSIG" not in rest or not pinned_key:
                problems.append(
                    f"{artifact} is not required to be signed (VALIDSIG) by a pinned key"
                )
            elif not fingerprint_checked:
                problems.append(f"{artifact} is verified with a key whose fingerprint is unchecked")
            else:
                material.update([signature, *imported_keys])

    for download in downloads:
        if download.file in material:
            continue
        if download.file not in verified:
            problems.append(
                f"{download.file} is downloaded but never verified against a SHA-256 "
                "pinned in the Dockerfile"
            )
            continue
        for index in range(download.position + 1, verified[download.file]):
            pipeline = all_pipelines[index]
            if any(command[:1] in (["curl"], ["wget"]) for command in pipeline):
                continue
            if any(download.file in command for command in pipeline):
                problems.append(f"{download.file} is used before it is verified")
                break
    return problems


def _downloads(
    all_pipelines: list[list[list[str]]], pinned: dict[str, str], problems: list[str]
) -> list[Download]:
    downloads = []
    for index, pipeline in enumerate(all_pipelines):
        for command in pipeline:
            download = _download(command, index)
            if download is None:
                continue
            if download.file is None:
                problems.append(
                    f"{download.url or command!r} is downloaded into a pipe, unverified"
                )
                continue
            if not download.url.startswith("https://"):
                problems.append(f"{download.file} is not downloaded over HTTPS")
            if not any(
                name in pinned and name.endswith(("_VERSION", "_FINGERPRINT"))
                for name in _references(download.url)
            ):
                problems.append(f"{download.file}'s URL names no pinned version: {download.url}")
            downloads.append(download)
    return downloads


# ------------------------------------------------- a target that takes no download


@dataclass(frozen=True)
class Stage:
    """One build stage: its name (lowercase, as Docker matches it), the stage or image
    it starts from, and its instructions after the FROM."""

    name: str
    base: str
    line: int
    body: tuple[Instruction, ...]


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = [word for word in instruction.arguments.split() if not word.startswith("--")]
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else ""
            found.append(Stage(name, words[0].lower(), instruction.line, ()))
        elif found:
            last = found[-1]
            found[-1] = Stage(last.name, last.base, last.line, (*last.body, instruction))
    return found


def _run_flags_and_script(arguments: str) -> tuple[list[str], str]:
    """A RUN's leading options (``--mount=...``) and the shell script after them."""
    flags = []
    rest = arguments
    while match := re.match(r"(--\S+)\s*", rest):
        flags.append(match.group(1))
        rest = rest[match.end() :]
    return flags, rest


def _takes_from(instruction: Instruction) -> list[str]:
    """The stages or images an instruction copies or mounts files from."""
    if instruction.keyword in ("COPY", "ADD"):
        return re.findall(r"--from=(\S+)", instruction.arguments)
    if instruction.keyword == "RUN":
        flags, _ = _run_flags_and_script(instruction.arguments)
        mounts = [flag.removeprefix("--mount=") for flag in flags if flag.startswith("--mount=")]
        return [
            option.removeprefix("from=")
            for mount in mounts
            for option in mount.split(",")
            if option.startswith("from=")
        ]
    return []


def _downloads_in(instruction: Instruction) -> bool:
    if instruction.keyword == "ADD":
        return bool(re.search(r"(https?|git)://|git@", instruction.arguments))
    if instruction.keyword != "RUN":
        return False
    _, script = _run_flags_and_script(instruction.arguments)
    return any(
        argv(command)[:1] in (["curl"], ["wget"])
        for pipeline in pipelines(script)
        for command in pipeline
    )


def target_download_problems(text: str, target: str) -> list[str]:
    """What the build target ``target`` takes from a download: a download in one of
    its own stages (itself and the stages it is built FROM), or files copied or
    mounted from a stage that downloads, or derives from one, or from another image."""
    all_stages = stages(text)
    by_name = {stage.name: stage for stage in all_stages if stage.name}
    by_name |= {str(index): stage for index, stage in enumerate(all_stages)}
    if target.lower() not in by_name:
        return [f"no stage is named {target}"]

    def download_line(stage: Stage, seen: frozenset[str]) -> int | None:
        """The line of a download that ``stage`` holds or takes from; None if none."""
        if stage.name in seen:
            return None
        seen = seen | {stage.name}
        for instruction in stage.body:
            if _downloads_in(instruction):
                return instruction.line
            for source in _takes_from(instruction):
                taken = by_name.get(source.lower())
                line = instruction.line if taken is None else download_line(taken, seen)
                if line is not None:
                    return line
        base = by_name.get(stage.base)
        return None if base is None else download_line(base, seen)

    problems = []
    chain: Stage | None = by_name[target.lower()]
    visited: set[str] = set()
    while chain is not None and chain.name not in visited:
        visited.add(chain.name)
        for instruction in chain.body:
            where = f"line {instruction.line}: the {target} target takes"
            if _downloads_in(instruction):
                problems.append(f"{where} a download, in stage {chain.name}")
            for source in _takes_from(instruction):
                taken = by_name.get(source.lower())
                if taken is None:
                    problems.append(f"{where} files of image {source}, in stage {chain.name}")
                    continue
                line = download_line(taken, frozenset())
                if line is not None:
                    problems.append(
                        f"{where} files of stage {source} (in stage {chain.name}), "
                        f"which holds the download of line {line}"
                    )
        chain = by_name.get(chain.base)
    return problems


# -------------------------------------------------------------------- pins in one place

_HEX_PIN = re.compile(r"\b[0-9a-fA-F]{40}\b|\b[0-9a-fA-F]{64}\b")
_VERSION_LITERAL = re.compile(r"(?<![\w.])v?\d+\.\d+\.\d+(?![\w.])")


def pin_problems(text: str) -> list[str]:
    """Versions, checksums or fingerprints defined anywhere but the head's ARG block."""
    problems = []
    block = pinned_block_lines(text)
    for instruction in instructions(text):
        where = f"line {instruction.line}"
        if instruction.keyword == "ARG" and not instruction.global_scope:
            if "=" in instruction.arguments:
                problems.append(f"{where}: ARG with a value outside the pinned block")
        if instruction.keyword == "ENV" and re.search(
            r"(VERSION|SHA256|CHECKSUM|FINGERPRINT)", instruction.arguments, re.IGNORECASE
        ):
            problems.append(f"{where}: ENV defines a version or checksum")
    for number, line in enumerate(text.splitlines(), start=1):
        if number in block or line.lstrip().startswith("#"):
            continue
        if _HEX_PIN.search(line):
            problems.append(f"line {number}: a checksum or fingerprint outside the pinned block")
        if _VERSION_LITERAL.search(line):
            problems.append(f"line {number}: a version number outside the pinned block")
    return problems
