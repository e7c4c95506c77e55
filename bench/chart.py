#!/usr/bin/env python3
"""chart.py — a PNG of a synth_compare.py run: median throughput per tool,
one panel per (link, workload); MB/s for large and medium objects, objects/s
for small ones (where the per-object cost is what counts).

    bench/chart.py bench/results/synth-20261129-161104.json [-o out.png]

synth_compare.py calls it for every saved run (next to the .md and .json).
Needs matplotlib (tools/install-deps.sh installs it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def medians(runs):
    """{(link, workload): {tool: (MB/s, obj/s)}} over the runs that verified."""
    out = {}
    for r in runs:
        if not r.get("ok"):
            continue
        out.setdefault((r["link"], r["workload"]), {}).setdefault(r["tool"], []).append(r)
    res = {}
    for k, tools in out.items():
        res[k] = {}
        for tool, rs in tools.items():
            w = statistics.median(x["wall_s"] for x in rs)
            res[k][tool] = (rs[0]["bytes"] / w / 1e6, rs[0]["objects"] / w)
    return res


def write_chart(json_path: Path, png_path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doc = json.loads(Path(json_path).read_text())
    med = medians(doc["runs"])
    if not med:
        raise SystemExit(f"{json_path}: no verified runs to chart")
    panels = sorted(med)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 1, 3.6), squeeze=False)
    for ax, key in zip(axes[0], panels):
        tools = sorted(med[key], key=lambda t: (t == "relay", t))
        small = key[1].startswith("small")
        vals = [med[key][t][1 if small else 0] for t in tools]
        bars = ax.bar(range(len(tools)), vals,
                      color=["#777777" if t == "relay" else "#1f77b4" if t.startswith("barge")
                             else "#ff7f0e" for t in tools])
        ax.set_xticks(range(len(tools)))
        ax.set_xticklabels(tools, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{key[0]} · {key[1]}", fontsize=9)
        ax.set_ylabel("objects/s" if small else "MB/s", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:,.0f}", (b.get_x() + b.get_width() / 2, v), ha="center",
                        va="bottom", fontsize=7)
    meta = doc.get("meta", {})
    fig.suptitle(f"barge-synth, median of runs · commit {meta.get('git_commit', '?')} · "
                 f"{meta.get('started', '')}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return Path(png_path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", type=Path)
    ap.add_argument("-o", "--out", type=Path, help="PNG path (default: the JSON's, .png)")
    a = ap.parse_args()
    out = write_chart(a.json, a.out or a.json.with_suffix(".png"))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
