"""engine.hosts.clue: the host a failed multi-host point names, from real launchers' output."""
from convbench.engine import hosts

# the last lines mpiexec wrote when node2 went away (MPICH 5.0.2 and Open MPI 5.0.11)
MPICH_LOST = [
    "Connection to node2 closed by remote host.",
    "[mpiexec@vm] control_cb (/mpich-5.0.2/src/pm/hydra/mpiexec/pmiserv_cb.c:280): assert (!closed) failed",
    "[mpiexec@vm] main (/mpich-5.0.2/src/pm/hydra/mpiexec/mpiexec.c:270): process manager error waiting for completion",
]
MPICH_DOWN = [
    "ssh: connect to host node2 port 22: Connection refused",
    "[mpiexec@vm] ui_cmd_cb (/mpich-5.0.2/src/pm/hydra/mpiexec/pmiserv_pmci.c:51): Launch proxy failed.",
]
OMPI_DAEMON = [
    "A daemon failed to report back after being spawned. This could",
    "  Local host:    vm",
    "  Remote host:   node7",
    "  Daemon exit status: 255",
]
OMPI_LOST = [
    "PRTE has lost communication with a remote daemon.",
    "  HNP daemon   : [prterun-vm-839@0,0] on node vm",
    "  Remote daemon: [prterun-vm-839@0,2] on node node2",
    "This is usually due to either a failure of the TCP network",
]


def test_a_lost_host_is_named():
    assert hosts.clue(MPICH_LOST) == "host node2 was lost during the point (its ssh connection closed); "
    assert hosts.clue(MPICH_DOWN) == "cannot reach host node2 over ssh (Connection refused); "
    assert hosts.clue(OMPI_LOST) == (
        "host node2 was lost during the point (its MPI daemon stopped answering); ")
    assert hosts.clue(OMPI_DAEMON) == "the MPI daemon on host node7 failed; "
    assert hosts.clue(["ssh: Could not resolve hostname nodex: Name or service not known"]) == (
        "cannot resolve host nodex (Name or service not known); ")
    assert hosts.clue(["root@node3: Permission denied (publickey)."]) == (
        "ssh to host node3 was refused (Permission denied: publickey); ")
    # the ssh line wins over the daemon report that follows it
    assert hosts.clue(["Connection to node2 closed by remote host.", *OMPI_DAEMON]).startswith("host node2 was lost")


def test_no_host_no_clue():
    assert hosts.clue([]) == ""
    assert hosts.clue(["convbench.rank.worker: rank 1: out of memory", "EXIT CODE: 9"]) == ""


def test_silent_names_the_hosts_that_accept_no_connection():
    """The probe on loopback only: ::1 (asked: not one of the names this machine goes by) with
    a port that listens and one that does not; 127.x and localhost are never asked."""
    import socket
    from convbench.engine import hosts
    s = socket.socket(socket.AF_INET6)
    s.bind(("::1", 0))
    s.listen(1)
    closed = socket.socket(socket.AF_INET6)
    closed.bind(("::1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        assert hosts.silent(["::1"], port=s.getsockname()[1]) == []
        assert hosts.silent(["::1", "::1"], port=closed_port, timeout=0.5) == ["::1"]
        assert hosts.silent(["localhost", "127.0.0.2"], port=closed_port) == []
    finally:
        s.close()
    assert hosts.silence_clue([]) == ""
