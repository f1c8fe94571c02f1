"""What needs the researcher's attention in a run: plain functions over RunInfo data,
shared by the runs table (flags) and the app (notifications)."""

from __future__ import annotations

from dataclasses import dataclass

from fbtui.runs import RunInfo

#: perf/data_wait_frac above this means the GPU waits for the data loader.
INPUT_BOUND_FRAC = 0.3

INPUT_HINT = 'raise data.num_workers, or set data.cache = "memory"'


@dataclass(frozen=True)
class Alert:
    """One flag on one run: `kind` is stable (for de-duplication), `flag` fits a table cell."""

    kind: str  # "diverged" | "failed" | "lost" | "stale" | "input"
    flag: str
    message: str
    severity: str  # Textual notify severity: "error" | "warning" | "information"


def run_alerts(run: RunInfo) -> list[Alert]:
    """The alerts of one run, most serious first (empty for healthy and plain-logdir runs)."""
    if run.kind != "fbtui":
        return []
    state, error = run.state, str(run.status.get("error") or run.error or "")
    out: list[Alert] = []
    if state == "diverged":
        out.append(
            Alert("diverged", "NaN", f"{run.name} diverged: {error or 'non-finite loss'}", "error")
        )
    elif state == "failed":
        out.append(
            Alert("failed", "failed", f"{run.name} failed: {error or 'see its log (l)'}", "error")
        )
    elif state == "failed (lost)":
        out.append(
            Alert(
                "lost",
                "lost",
                f"{run.name}: its process is gone without a final state; resume it with r",
                "error",
            )
        )
    elif state == "running (stale)":
        out.append(
            Alert(
                "stale", "stale", f"{run.name}: no heartbeat for over a minute (hung?)", "warning"
            )
        )
    if state.startswith("running"):
        wait = run.status.get("data_wait_frac")
        if isinstance(wait, (int, float)) and wait > INPUT_BOUND_FRAC:
            out.append(
                Alert(
                    "input",
                    "input",
                    f"{run.name} is input-bound ({wait:.0%} of the time waiting for data): {INPUT_HINT}",
                    "warning",
                )
            )
    return out
