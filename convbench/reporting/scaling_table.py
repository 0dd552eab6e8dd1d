"""The exporters of the scaling model of one sweep (`convbench model`; the model:
scaling.py): markdown (the parameters with their 95% intervals, then the table per P), csv (the
table per P) and json (both, and the notes). They only format.
"""
from __future__ import annotations

import math
from dataclasses import asdict

from convbench.reporting import stats as analysis
from convbench.reporting.tables import (_context_dict, _csv, _json, _md_table, _nan,
                                        check_format, fmt_fixed, fmt_percent, fmt_range,
                                        fmt_time)

MODEL_HEADER = ("# Processes", "Model Time (s)", "95% CI (s)", "Model Comm (s)",
                "Model Speedup", "95% CI", "Model Efficiency", "95% CI", "Measured Time (s)",
                "Measured - Model", "Point")
MODEL_FIELDS = ("procs", "batch", "comm_bytes", "model_time_s", "model_time_lo_s",
                "model_time_hi_s", "model_comm_s", "model_speedup", "model_speedup_lo",
                "model_speedup_hi", "model_efficiency", "model_efficiency_lo",
                "model_efficiency_hi", "measured_time_s", "measured_comm_s", "residual",
                "fitted", "point")
MODEL_NOTE = (
    "Model: the fitted law at every P (times in seconds, 4 significant digits; speedup 3 "
    "decimals; efficiency in percent), with its 95% interval from the launches (see the "
    "notes; '-' without one). Measured: summary.csv time_s. Measured - Model: "
    "(measured - model) / measured, the fit's residual on a fitted point and the prediction's "
    "error on the others.")
_LAW_NAMES = {"amdahl": "Amdahl", "gustafson": "Gustafson"}


def _signed_percent(v) -> str:
    if _nan(v):
        return "-"
    text = f"{100 * v:+.1f}%"
    return "0.0%" if text in ("+0.0%", "-0.0%") else text


def _sig(v, digits: int = 3) -> str:
    return "-" if _nan(v) or (isinstance(v, float) and math.isinf(v)) else f"{v:.{digits}g}"


def _point_text(row, model) -> str:
    if row.point == "predicted":
        return ("predicted (not fitted: P > --fit-up-to "
                f"{model.fit_up_to})" if model.fit_up_to is not None else "predicted")
    return {"fitted": "fitted", "oversubscribed": "oversubscribed: not fitted",
            "unverified": "not verified: not fitted", "failed": "failed: no time",
            "": "-"}.get(row.point, row.point)


def _finite(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def model_parameters(model) -> dict:
    """The fitted parameters and their 95% intervals as plain numbers (None where not
    determined); bandwidth in B/s."""
    sc, cm, iv = model.scaling, model.comm, model.intervals
    return {"law": sc.law, "equation": model.equation, "mode": model.mode,
            "pass": model.pass_, "data": model.data, "fit_up_to": model.fit_up_to,
            "include_oversubscribed": model.include_oversubscribed,
            "serial_fraction": sc.serial_fraction, "serial_fraction_lo": iv.serial_fraction.lo,
            "serial_fraction_hi": iv.serial_fraction.hi,
            "serial_fraction_determined": sc.determined, "t1_s": sc.t1_s,
            "t1_lo_s": iv.t1_s.lo, "t1_hi_s": iv.t1_s.hi,
            "scaling_points": sc.points, "scaling_note": sc.note,
            "comm_status": cm.status, "latency_s": cm.latency_s,
            "latency_lo_s": iv.latency_s.lo, "latency_hi_s": iv.latency_s.hi,
            "bandwidth_bps": _finite(cm.bandwidth_bps),
            "bandwidth_lo_bps": _finite(iv.bandwidth_bps.lo),
            "bandwidth_hi_bps": _finite(iv.bandwidth_bps.hi),
            "comm_points": cm.points, "comm_note": cm.note,
            "interval_launches": iv.launches, "interval_resamples": iv.resamples,
            "interval_note": iv.note, "rms_residual": model.rms_residual}


def _band(band, fmt=fmt_time, iv=None) -> str:
    if iv is not None and not iv.ok:
        return iv.note.split(":")[0]               # e.g. "too few launches for intervals"
    return fmt_range(band.lo, band.hi, fmt) if band.ok else "-"


def _gbs(v) -> str:
    return "inf" if math.isinf(v) else _sig(v / 1e9, 4)


def model_markdown(model, ctx: analysis.SweepContext) -> str:
    sc, cm, iv = model.scaling, model.comm, model.intervals
    bw = "-" if math.isinf(cm.bandwidth_bps) else _sig(cm.bandwidth_bps / 1e9, 4)
    fitted = sum(1 for r in model.rows if r.fitted)
    s_band = _band(iv.serial_fraction, _sig, iv) if sc.determined else "- (assumed)"
    comm_fixed = cm.status in ("none", "measured")
    params = [
        ("serial fraction s", _sig(sc.serial_fraction) + ("" if sc.determined else " (assumed)"),
         s_band, sc.note),
        ("T1: one rank, without communication (s)", fmt_time(sc.t1_s), _band(iv.t1_s, iv=iv),
         ""),
        ("latency (s)", _sig(cm.latency_s, 4),
         "-" if comm_fixed else _band(iv.latency_s, lambda v: _sig(v, 4), iv), cm.note),
        ("bandwidth (GB/s)", bw,
         "-" if comm_fixed or math.isinf(cm.bandwidth_bps) else _band(iv.bandwidth_bps, _gbs, iv),
         ""),
        ("RMS residual, relative to the measured time",
         "-" if _nan(model.rms_residual) else
         "0%" if model.rms_residual < 5e-5 else f"{100 * model.rms_residual:.2g}%", "-",
         f"over {fitted} fitted point(s)"),
    ]
    body = [
        (str(r.procs), fmt_time(r.model_time_s), fmt_range(r.model_time_lo_s, r.model_time_hi_s),
         fmt_time(r.model_comm_s), fmt_fixed(r.model_speedup),
         fmt_range(r.model_speedup_lo, r.model_speedup_hi, fmt_fixed),
         fmt_percent(r.model_efficiency),
         fmt_range(r.model_efficiency_lo, r.model_efficiency_hi, fmt_percent),
         fmt_time(r.measured_time_s), _signed_percent(r.residual), _point_text(r, model))
        for r in model.rows
    ]
    lines = [f"### scaling model: {ctx.title}", "", ctx.caption, "",
             f"{_LAW_NAMES.get(sc.law, sc.law)}: {model.equation}", ""]
    lines += _md_table(("Parameter", "Value", "95% interval", "Note"), "lrrl", params)
    lines += [""]
    lines += _md_table(MODEL_HEADER, "rrrrrrrrrrl", body)
    lines += ["", MODEL_NOTE, ""]
    lines += [f"- {n}" for n in model.notes]
    return "\n".join(lines) + "\n"


def model_csv(model, ctx=None) -> str:
    return _csv(MODEL_FIELDS, [asdict(r) for r in model.rows])


def model_json(model, ctx: analysis.SweepContext) -> str:
    rows = [{f: _finite(asdict(r)[f]) for f in MODEL_FIELDS} for r in model.rows]
    return _json({"sweep": _context_dict(ctx),
                  "model": {k: _finite(v) for k, v in model_parameters(model).items()},
                  "points": rows, "notes": list(model.notes)})


def render_model(model, ctx: analysis.SweepContext, fmt: str = "markdown") -> str:
    """The model's parameters, residuals and predictions (csv: the per-P table only)."""
    return {"markdown": model_markdown, "csv": model_csv,
            "json": model_json}[check_format(fmt)](model, ctx)
