"""The scaling model's network: fitted to the sweep's communication times (scaling_fit.fit_comm)
or measured ('convbench machine''s MPI ping-pong, recorded in the manifest's "network").

The measured record that fits the sweep: "between" (two hosts) when the sweep's ranks ran on
more than one host, else "within" (this host). c(P) = latency + bytes(P) / bandwidth with the
ping-pong's latency (one way, small messages) and bandwidth (the best size / one-way time); a
P that moves no bytes costs nothing (no message is sent).
"""
from __future__ import annotations

import math

from convbench.core.errors import UsageError
from convbench.reporting.scaling_fit import CommFit

CHOICES = ("measured", "fit")


def hosts_used(manifest: dict) -> list[str]:
    """The hosts the sweep's ranks ran on (manifest "hosts": host -> {P: ranks})."""
    hosts = manifest.get("hosts")
    if not isinstance(hosts, dict):
        return []
    return sorted(h for h, per in hosts.items()
                  if isinstance(per, dict) and any(_num(n) > 0 for n in per.values()))


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def measured(manifest: dict) -> tuple[CommFit | None, str]:
    """The manifest's measured network for this sweep as a CommFit, or (None, why not)."""
    net = manifest.get("network")
    if not isinstance(net, dict) or not net:
        return None, ("the manifest records no measured network (run 'convbench machine' "
                      "before the sweep to measure it)")
    hosts = hosts_used(manifest)
    link = "between" if len(hosts) > 1 else "within"
    rec = net.get(link)
    if not isinstance(rec, dict):
        return None, (f"the sweep ran on {len(hosts)} hosts ({', '.join(hosts)}) but the "
                      "manifest records no network measured between hosts ('convbench machine "
                      "--hostfile H' measures it)" if link == "between" else
                      "the manifest records no network measured within a host")
    lat, bw = _num(rec.get("latency_s")), _num(rec.get("bandwidth_bps"))
    if not (lat > 0 and bw > 0 and math.isfinite(lat) and math.isfinite(bw)):
        return None, f"the manifest's measured network ({link}) has no positive latency and bandwidth"
    names = [str(h) for h in (rec.get("hosts") or [])]
    where = (f"between {' and '.join(names[:2])}" if link == "between" and len(names) >= 2
             else f"within host {names[0]}" if names else link)
    when = f", {rec['measured_at']}" if rec.get("measured_at") else ""
    note = (f"measured: MPI ping-pong {where}{when} (latency {lat * 1e6:.4g} us, "
            f"bandwidth {bw / 1e9:.4g} GB/s)")
    return CommFit("measured", lat, math.nan, bw, math.nan, 0, note), ""


def choose(manifest: dict, network: str | None) -> tuple[CommFit | None, str]:
    """(the measured CommFit to use, or None to fit; a note that says which and why).
    network: measured | fit | None (measured when the manifest has it, else fit)."""
    if network is not None and network not in CHOICES:
        raise UsageError(f"--network must be measured or fit, got {network!r}")
    comm, why = (None, "") if network == "fit" else measured(manifest)
    if network == "measured" and comm is None:
        raise UsageError(f"--network measured: {why}")
    if comm is not None:
        return comm, ("Network: measured (convbench machine's MPI ping-pong, recorded in the "
                      "manifest), not fitted: c(P) = latency + bytes(P) / bandwidth with "
                      f"latency {comm.latency_s * 1e6:.4g} us and bandwidth "
                      f"{comm.bandwidth_bps / 1e9:.4g} GB/s; --network fit fits them to the sweep.")
    if network == "fit":
        return None, ("Network: fitted to the sweep's communication times (--network fit).")
    return None, f"Network: fitted to the sweep's communication times; {why}."
