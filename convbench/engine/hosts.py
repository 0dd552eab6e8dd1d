"""Which host a multi-host point failed on, read from its launcher's last output lines.

mpiexec starts the ranks of other hosts over ssh; when one of those hosts goes away (powered
off, its network or sshd gone, everything on it killed) the launcher's own message rarely names
it ("process manager error waiting for completion"), but ssh's line does. :func:`clue` turns the
first such line into a short phrase that leads a point's failure reason.
"""
from __future__ import annotations

import re

#: (pattern, phrase): the first pattern that matches a line names the host; order = precedence
_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"Connection to (?P<host>\S+) closed by remote host"),
     "host {host} was lost during the point (its ssh connection closed)"),
    (re.compile(r"ssh: connect to host (?P<host>\S+) port \d+: (?P<why>.+)"),
     "cannot reach host {host} over ssh ({why})"),
    (re.compile(r"ssh: Could not resolve hostname (?P<host>[^:\s]+): (?P<why>.+)"),
     "cannot resolve host {host} ({why})"),
    (re.compile(r"(?:\S+@)?(?P<host>[^@\s:]+): Permission denied \((?P<why>[^)]*)\)"),
     "ssh to host {host} was refused (Permission denied: {why})"),
    (re.compile(r"Connection (?:closed|reset) by (?P<host>\S+) port \d+"),
     "host {host} closed the ssh connection"),
    (re.compile(r"Remote daemon:.* on node (?P<host>\S+)"),      # Open MPI (PRRTE) lost it
     "host {host} was lost during the point (its MPI daemon stopped answering)"),
    (re.compile(r"^\s*Remote host:\s+(?P<host>\S+)"),            # Open MPI's daemon report
     "the MPI daemon on host {host} failed"),
    (re.compile(r"RUNNING AT (?P<host>\S+)"),                    # MPICH's BAD TERMINATION box
     "ranks on host {host} ended abnormally"),
)


def clue(tail: list[str]) -> str:
    """'host H ...; ' for the most telling host-related line of the tail, else ''."""
    for pattern, phrase in _PATTERNS:
        for line in tail:
            m = pattern.search(line.strip())
            if m:
                return phrase.format(**{k: v.strip().rstrip(".") for k, v in m.groupdict().items()}) + "; "
    return ""


#: where a host's ssh server listens (the launchers reach the hosts of a hostfile over ssh)
SSH_PORT = 22


def silent(names: list[str], port: int = SSH_PORT, timeout: float = 1.0) -> list[str]:
    """The hosts among `names` that accept no TCP connection on `port` within `timeout`
    seconds (asked in parallel; this machine's own names are not asked)."""
    import socket
    from concurrent.futures import ThreadPoolExecutor
    own = {"localhost", socket.gethostname(), socket.getfqdn()}
    asked = [h for h in dict.fromkeys(names) if h not in own and not h.startswith("127.")]

    def quiet(h: str) -> bool:
        try:
            with socket.create_connection((h, port), timeout=timeout):
                return False
        except OSError:
            return True

    if not asked:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(asked))) as pool:
        return [h for h, q in zip(asked, pool.map(quiet, asked)) if q]


def silence_clue(names: list[str]) -> str:
    """'host H was lost ...; ' for a launch that failed without naming a host, when a host of
    its hostfile no longer answers on the ssh port (the launcher's ssh may die with its host
    without a word); '' when every host answers."""
    gone = silent(names)
    if not gone:
        return ""
    return (f"host {', '.join(gone)} was lost during the point (it no longer answers on port "
            f"{SSH_PORT}); ")
