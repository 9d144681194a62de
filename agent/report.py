"""`python -m agent.report`: call quality from the call records, as a table and a PNG chart.

    python -m agent.report                         # today (UTC)
    python -m agent.report --day 2026-05-04
    python -m agent.report --from 2026-05-01 --to 2026-05-07 --png week.png
    python -m agent.report --database-url postgresql://... --no-png

Reads `DATABASE_URL` (the environment or `.env`; `--database-url` wins), SQLite or
PostgreSQL, and never writes to it. One row per day of the period plus a total row; the
definitions of every figure are in agent/observability/quality.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from .config import setting_default
from .config_parsers import database_url
from .data.records import CallEvent
from .data.repository import Repository
from .observability.quality import DEAD_AIR_S, Figures, call_facts, figures

EXIT_USAGE = 2


def _iso(day: date) -> str:
    """Midnight UTC of `day`, in the stored timestamp format (see agent/data/sql.py)."""
    return datetime.combine(day, time(), UTC).isoformat(timespec="seconds")


async def collect(url: str, first: date, last: date) -> list[Figures]:
    """One `Figures` per day from `first` to `last` (inclusive), then (for a range) the
    total."""
    repo = await Repository.open(url)
    try:
        start, end = _iso(first), _iso(last + timedelta(days=1))
        records = await repo.calls_between(start, end)
        events = await repo.events_of_calls_between(start, end)
        audit = await repo.audit_between(start, end)
    finally:
        await repo.close()
    by_call: dict[str, list[CallEvent]] = {}
    for ev in events:
        by_call.setdefault(ev["call_uid"], []).append(ev)
    facts = [call_facts(r, by_call.get(r["call_uid"], [])) for r in records]
    days: list[Figures] = []
    day = first
    while day <= last:
        lo, hi = _iso(day), _iso(day + timedelta(days=1))
        days.append(figures(day.isoformat(),
                            [f for f in facts if lo <= f.record["started_at"] < hi],
                            [a for a in audit if lo <= a.at < hi]))
        day += timedelta(days=1)
    if first == last:
        return days
    return [*days, figures(f"total {first} .. {last}", facts, audit)]


# --- the table --------------------------------------------------------------------------------

COLUMNS = [  # header, width, format of one Figures
    ("day", 24, lambda f: f.label),
    ("calls", 6, lambda f: str(f.calls)),
    ("open", 5, lambda f: str(f.answered - f.completed)),
    ("contained", 9, lambda f: _pct(f.containment)),
    ("transfer", 8, lambda f: _pct(f.transfer_rate)),
    ("dropped", 7, lambda f: _pct(f.dropped_rate)),
    ("AHT s", 7, lambda f: _num(f.aht_s, "{:.1f}")),
    ("turns", 6, lambda f: str(f.turns)),
    ("p50 ms", 7, lambda f: _ms(f.p50_s)),
    ("p95 ms", 7, lambda f: _ms(f.p95_s)),
    ("p99 ms", 7, lambda f: _ms(f.p99_s)),
    ("interrupt", 9, lambda f: _pct(f.interruption_rate)),
    ("dead air", 8, lambda f: _pct(f.dead_air_ratio)),
    ("tools", 6, lambda f: str(f.tool_calls)),
    ("tools ok", 8, lambda f: _pct(f.tool_success_rate)),
    ("errors", 9, lambda f: f"{f.errors_final}/{f.errors_final + f.errors_retried}"),
]


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def _pct(v: float | None) -> str:
    return _num(None if v is None else v * 100, "{:.1f}%")


def _ms(v: float | None) -> str:
    return _num(None if v is None else v * 1000, "{:.0f}")


def table(rows: Sequence[Figures]) -> str:
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w, _) in enumerate(COLUMNS))]
    for n, fig in enumerate(rows):
        if n == len(rows) - 1 and len(rows) > 1:
            lines.append("-" * len(lines[0]))
        lines.append("  ".join(fmt(fig).rjust(w) if i else fmt(fig).ljust(w)
                               for i, (_, w, fmt) in enumerate(COLUMNS)))
    total = rows[-1]
    lines += ["", "open = answered calls whose record was never closed (still running, or the "
              "worker stopped before writing the end); rates count the closed ones",
              f"errors = final/all provider errors (final: the plugin gave up); by stage: "
              f"{dict(total.errors_by_stage) or 'none'}; tool results: "
              f"{dict(total.tool_results) or 'none'}; dead air = agent-caused silences over "
              f"{DEAD_AIR_S:g} s / call time"]
    return "\n".join(lines)


# --- the chart --------------------------------------------------------------------------------

def chart(rows: Sequence[Figures], path: Path) -> Path:
    """Six panels: outcomes, latency percentiles, the latency distribution, rates, handle
    time, provider errors and tool results."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    days, total = list(rows[:-1]) if len(rows) > 1 else list(rows), rows[-1]
    x = list(range(len(days)))
    labels = [d.label[5:] if len(days) > 1 else d.label for d in days]
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    fig.suptitle(f"Call quality, {total.label}: {total.calls} calls, {total.turns} turns",
                 fontsize=13)

    def share(f: Figures, v: float | None) -> float:
        return (v or 0.0) * f.completed

    a = ax[0][0]
    contained = [share(d, d.containment) for d in days]
    transfer = [share(d, d.transfer_rate) for d in days]
    dropped = [share(d, d.dropped_rate) for d in days]
    a.bar(x, contained, label="contained", color="#4c9f70")
    a.bar(x, transfer, bottom=contained, label="transferred", color="#e0a030")
    a.bar(x, dropped, bottom=[c + t for c, t in zip(contained, transfer, strict=True)],
          label="dropped", color="#c0392b")
    a.set_title("Completed calls by outcome")
    a.legend(fontsize=8)

    a = ax[0][1]
    for attr, style in (("p50_s", "o-"), ("p95_s", "s-"), ("p99_s", "^-")):
        a.plot(x, [getattr(d, attr) or float("nan") for d in days], style, label=attr[:3])
    a.axhline(2.0, color="#c0392b", linestyle="--", linewidth=1, label="p95 alert (2 s)")
    a.set_title("Turn latency (s)")
    a.set_ylim(bottom=0)
    a.legend(fontsize=8)

    a = ax[0][2]
    if total.latencies:
        a.hist(total.latencies, bins=20, color="#3b6ea8")
        for q, v in (("p50", total.p50_s), ("p95", total.p95_s)):
            if v is not None:
                a.axvline(v, color="k", linestyle=":", linewidth=1)
                a.text(v, a.get_ylim()[1] * 0.92, f" {q} {v * 1000:.0f} ms", fontsize=8)
    a.set_title("Turn latency distribution (s), whole period")

    a = ax[1][0]
    width = 0.2
    for i, (attr, name) in enumerate((("containment", "containment"),
                                      ("interruption_rate", "interruptions"),
                                      ("dead_air_ratio", "dead air"),
                                      ("tool_success_rate", "tool success"))):
        a.bar([v + (i - 1.5) * width for v in x],
              [100 * (getattr(d, attr) or 0.0) for d in days], width, label=name)
    a.set_title("Rates (%)")
    a.set_ylim(0, 105)
    a.legend(fontsize=8)

    a = ax[1][1]
    a.bar(x, [d.aht_s or 0.0 for d in days], color="#7a5ea8")
    a.set_title("Average handle time (s)")

    a = ax[1][2]
    stages = sorted({s for d in days for s in d.errors_by_stage})
    bottom = [0.0] * len(days)
    for stage in stages:
        counts = [float(d.errors_by_stage[stage]) for d in days]
        a.bar(x, counts, bottom=bottom, label=f"{stage} errors")
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    a.plot(x, [float(d.tool_calls - d.tool_results["ok"]) for d in days], "kx",
           label="tool calls not ok")
    a.set_title("Provider errors and failed tool calls")
    a.legend(fontsize=8)

    for a in (ax[0][0], ax[0][1], ax[1][0], ax[1][1], ax[1][2]):  # not the histogram
        a.set_xticks(x, labels, rotation=45 if len(days) > 7 else 0, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --- the command ------------------------------------------------------------------------------

def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: DATABASE_URL, else "
                        f"{setting_default('DATABASE_URL')}")
    parser.add_argument("--day", type=_day, help="one day (UTC); default today")
    parser.add_argument("--from", dest="first", type=_day, help="first day of a range")
    parser.add_argument("--to", dest="last", type=_day, help="last day of a range (inclusive)")
    parser.add_argument("--png", type=Path, help="chart path; default "
                        ".state/reports/call-quality-<from>_<to>.png")
    parser.add_argument("--no-png", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    if args.day and (args.first or args.last):
        parser.error("give --day or --from/--to, not both")
    today = datetime.now(UTC).date()
    first = args.day or args.first or args.last or today
    last = args.day or args.last or (today if args.first else first)
    if last < first:
        parser.error(f"--to {last} is before --from {first}")
    if args.database_url is None:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env", override=False)
    url = args.database_url or os.environ.get("DATABASE_URL") or setting_default("DATABASE_URL")
    try:
        database_url(url)
    except ValueError as e:
        print(f"DATABASE_URL {e}", file=sys.stderr)
        return EXIT_USAGE
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        print(f"no call records: {url.removeprefix('sqlite:///')} does not exist",
              file=sys.stderr)
        return EXIT_USAGE
    rows = asyncio.run(collect(url, first, last))
    print(table(rows))
    if not args.no_png:
        png = args.png or Path(".state/reports") / f"call-quality-{first}_{last}.png"
        print(f"\nchart: {chart(rows, png)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
