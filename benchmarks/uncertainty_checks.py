"""Do convbench's intervals and its compare hold on this machine? The experiments of issue 13.

    python benchmarks/uncertainty_checks.py aa     [--runs 5]   # the same sweep run 5 times
    python benchmarks/uncertainty_checks.py ab                  # --batch 16 against --batch 20
    python benchmarks/uncertainty_checks.py noise  [--order sequential|rounds]
    python benchmarks/uncertainty_checks.py aa-odds [--runs 5]  # the A/A count's own spread

Every sweep is `convbench strong --procs 1,2 --preset fat --batch 16 --data local` with the
default launches and repeats (what a user gets); the script prints what it measured:

- aa: of the ordered pairs (i, j) of runs, in how many run i's P=2 speedup lies inside run j's
  95% interval (two independent estimates of one value fall within one such interval about
  83% of the time), and `convbench compare`'s verdict at every P for every pair;
- ab: compare's verdict at every P, B/A with its interval, and the measured ratio of the two
  runs' medians (inside the interval?);
- noise: a quiet run, then a run during which a background job loads both cores for a few
  seconds (started once the sweep is under way): is its P=2 speedup inside the quiet run's
  interval, or is the point flagged?

- aa-odds: how often the A/A count reaches 15 of 20 when the intervals are exactly right
  (simulated, no sweep run): two independent estimates fall within one 95% interval about 83%
  of the time, but the 20 ordered pairs of 5 runs share their runs, so the count of one A/A
  series spreads widely around 16.7.

Results go under --out (default: a temporary directory), one sweep directory per run.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ["strong", "--procs", "1,2", "--preset", "fat", "--batch", "16", "--data", "local"]


def convbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convbench", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)


def sweep(out: Path, *extra: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    p = convbench(*SWEEP, *extra, "--out", str(out))
    if p.returncode != 0:
        sys.exit(f"sweep failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    [d] = set(out.iterdir()) - before
    return d


def summary(d: Path) -> dict[int, dict]:
    with open(d / "summary.csv", newline="") as f:
        return {int(r["procs"]): r for r in csv.DictReader(f)}


def compare(a: Path, b: Path) -> list[dict]:
    p = convbench("compare", str(a), str(b), "--format", "json")
    if p.returncode != 0:
        sys.exit(f"compare failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return json.loads(p.stdout)["points"]


def speedup(d: Path, p: int = 2) -> tuple[float, float, float, str]:
    r = summary(d)[p]
    num = [float(r[k]) if r[k] else float("nan") for k in ("speedup", "speedup_lo", "speedup_hi")]
    return (*num, r["flags"])


def _row(label: str, d: Path) -> str:
    s, lo, hi, flags = speedup(d)
    t = summary(d)
    return (f"{label:<12} P=1 {float(t[1]['time_s']):.4f} s  P=2 {float(t[2]['time_s']):.4f} s  "
            f"speedup {s:.3f} [{lo:.3f}-{hi:.3f}]  launches {t[2]['launches']}  "
            f"flags: {flags or '-'}  ({d.name})")


def aa(out: Path, runs: int) -> None:
    dirs = []
    for i in range(runs):
        dirs.append(sweep(out / "aa"))
        print(_row(f"run {i + 1}", dirs[-1]), flush=True)
    inside = 0
    for i, j in itertools.permutations(range(runs), 2):
        s, _, _, _ = speedup(dirs[i])
        _, lo, hi, _ = speedup(dirs[j])
        inside += lo <= s <= hi
    pairs = runs * (runs - 1)
    print(f"\nA/A: run i's P=2 speedup inside run j's 95% interval in {inside} of {pairs} "
          "ordered pairs (expected about 83%)")
    verdicts = {}
    for i, j in itertools.combinations(range(runs), 2):
        for pt in compare(dirs[i], dirs[j]):
            verdicts.setdefault(pt["procs"], []).append(pt["verdict"])
    for p, v in sorted(verdicts.items()):
        counts = {k: v.count(k) for k in dict.fromkeys(v)}
        print(f"compare, P={p}, {len(v)} pairs of runs: {counts}")


def ab(out: Path) -> None:
    a = sweep(out / "ab", "--batch", "16")
    b = sweep(out / "ab", "--batch", "20")
    print(_row("A batch 16", a))
    print(_row("B batch 20", b))
    for pt in compare(a, b):
        ta, tb = float(summary(a)[pt["procs"]]["time_s"]), float(summary(b)[pt["procs"]]["time_s"])
        measured = tb / ta
        lo, hi = pt["ratio_lo"], pt["ratio_hi"]
        print(f"P={pt['procs']}: verdict {pt['verdict']}, B/A {pt['ratio']:.3f} "
              f"[{lo:.3f}-{hi:.3f}], p = {pt['p_value']:.3g}; medians' ratio {measured:.3f} "
              f"({'inside' if lo <= measured <= hi else 'OUTSIDE'} the interval)")


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def load(delay: float, seconds: float, cores: int = 2) -> list[multiprocessing.Process]:
    """`cores` busy processes for `seconds`, starting after `delay`."""
    def start():
        time.sleep(delay)
        return [multiprocessing.Process(target=_spin, args=(seconds,)) for _ in range(cores)]
    procs = start()
    for p in procs:
        p.start()
    return procs


def noise(out: Path, order: str, delay: float, seconds: float) -> None:
    quiet = sweep(out / "noise", "--order", order)
    print(_row(f"quiet {order}", quiet), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    before = set((out / "noise").iterdir())
    proc = subprocess.Popen([sys.executable, "-m", "convbench", *SWEEP, "--order", order,
                             "--out", str(out / "noise")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    spinners = load(delay, seconds)
    proc.communicate()
    for s in spinners:
        s.join()
    [loud] = set((out / "noise").iterdir()) - before
    print(_row(f"loaded {order}", loud))
    s, _, _, flags = speedup(loud)
    _, lo, hi, _ = speedup(quiet)
    where = "inside" if lo <= s <= hi else "OUTSIDE"
    print(f"{order}: the loaded run's P=2 speedup {s:.3f} is {where} the quiet run's interval "
          f"[{lo:.3f}-{hi:.3f}]" + (f"; flagged: {flags}" if flags else "; not flagged"))


def aa_odds(runs: int, trials: int = 100_000, seed: int = 1) -> None:
    """The count of ordered pairs (i, j) with run i's estimate inside run j's interval, when
    every run's estimate is normal around the true value and every interval is exactly the
    95% one (estimate +- 1.96 standard errors): its mean and how often it reaches 3/4."""
    import numpy as np
    x = np.random.default_rng(seed).standard_normal((trials, runs))
    d = np.abs(x[:, :, None] - x[:, None, :])
    i, j = np.triu_indices(runs, 1)
    count = 2 * (d[:, i, j] <= 1.96).sum(axis=1)
    pairs = runs * (runs - 1)
    need = -(-3 * pairs // 4)
    print(f"exactly calibrated 95% intervals, {runs} runs, {trials} simulated series: "
          f"mean {count.mean():.1f} of {pairs} ordered pairs inside; at least {need} in "
          f"{(count >= need).mean():.0%} of the series")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("check", choices=("aa", "ab", "noise", "aa-odds"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--order", default="rounds", choices=("rounds", "sequential", "random"))
    ap.add_argument("--delay", type=float, default=2.5, help="noise: seconds before the load starts")
    ap.add_argument("--seconds", type=float, default=4.0, help="noise: how long it lasts")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    if a.check == "aa-odds":
        return aa_odds(a.runs)
    out = a.out or Path(tempfile.mkdtemp(prefix="convbench-uncertainty-"))
    print(f"results under {out}")
    if a.check == "aa":
        aa(out, a.runs)
    elif a.check == "ab":
        ab(out)
    else:
        noise(out, a.order, a.delay, a.seconds)


if __name__ == "__main__":
    main()
