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
