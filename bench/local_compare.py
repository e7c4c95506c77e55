#!/usr/bin/env python3
"""local_compare.py — barge vs rclone vs s5cmd between local disk and barge-synth.

Two directions against one barge-synth process on loopback (bench/synth/):

- upload:   a local tree -> the sink bucket `dst` (every byte checked by the sink
            against the generator: GET /_synth/stats);
- download: the source bucket `src` -> a fresh local directory (file count and
            sizes checked against the source's listing, every file's SHA-256
            against the reference copy, no leftover temporary file).

The reference copy is made once per workload, before anything is timed: barge
downloads the workload from the source, and every byte of it is checked
against the generator re-implemented with numpy (a sample of each file with
pure Python when numpy is missing). The uploads read that copy, so the sink
(which accepts only the generator's bytes) can verify them. It stays in the
page cache: uploads read from memory, not from the disk, and downloads write
through the page cache (barge also fdatasyncs each file before renaming it;
rclone and s5cmd do not).

    bench/local_compare.py                   # full: 4 x 256 MiB, 2,000 x 16 KiB; 3 runs
    bench/local_compare.py --quick           # CI smoke: tiny sizes, 1 run, < 30 s
    bench/local_compare.py --large 8x1G --directions download --tools barge,rclone

Tools alternate, in an order rotated each round. Results: a Markdown table on
stdout and bench/results/local-<timestamp>.{md,json,png} unless --no-save.
Exit 1 if any run failed (tool error or verification).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_synth_compare",
                                               REPO / "bench" / "synth_compare.py")
sc = importlib.util.module_from_spec(_spec)
sys.modules["bench_synth_compare"] = sc
_spec.loader.exec_module(sc)   # Synth, parse_wl; sc.cmp = compare.py (run_timed, flags)
cmp = sc.cmp

GiB = 1 << 30
M64 = (1 << 64) - 1
FULL = {"large": "4x256M@16M", "small": "2000x16K"}
QUICK = {"large": "2x32M@16M", "small": "200x16K"}
S5CMD_ARGS = "--numworkers 32"
S5CMD_CP_ARGS = "--concurrency 8 --part-size 16"   # s5cmd's --part-size is in MiB


def log(*a):
    print("[local-bench]", *a, file=sys.stderr, flush=True)


# ---- barge-synth's generator (bench/synth, engine/bench.h), for the reference check ----

def seed_of(key: str) -> int:
    h = 0xcbf29ce484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def gen_bytes(key: str, off: int, n: int) -> bytes:
    """Bytes [off, off+n) of the source object `key`: splitmix64 words, little-endian."""
    first, last = off // 8, (off + n + 7) // 8
    s = seed_of(key)
    try:
        import numpy as np
        with np.errstate(over="ignore"):
            z = np.arange(first + 1, last + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) \
                + np.uint64(s)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            raw = (z ^ (z >> np.uint64(31))).astype("<u8").tobytes()
    except ImportError:
        words = []
        for i in range(first, last):
            z = (s + (i + 1) * 0x9E3779B97F4A7C15) & M64
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            words.append(z ^ (z >> 31))
        raw = struct.pack(f"<{len(words)}Q", *words)
    return raw[off - first * 8: off - first * 8 + n]


def check_against_generator(path: Path, key: str, size: int) -> str:
    """'' if the file is the generator's object `key`; else what differs. Whole
    file with numpy, three 64 KiB windows per file without."""
    try:
        import numpy  # noqa: F401
        windows = [(o, min(16 << 20, size - o)) for o in range(0, size, 16 << 20)]
    except ImportError:
        w = min(size, 64 << 10)
        windows = sorted({(0, w), (max(0, size // 2 - w // 2), w), (size - w, w)})
    if path.stat().st_size != size:
        return f"{path}: {path.stat().st_size} bytes, want {size}"
    with open(path, "rb") as f:
        for off, n in windows:
            f.seek(off)
            if f.read(n) != gen_bytes(key, off, n):
                return f"{path}: bytes [{off}, {off + n}) are not the generator's for {key}"
    return ""


# ---- listing, trees, hashes ----

def list_keys(url: str, bucket: str, prefix: str) -> Dict[str, int]:
    """{key: size} of ListObjectsV2 on barge-synth (no signature needed)."""
    out, token = {}, None
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    while True:
        q = {"list-type": "2", "prefix": prefix}
        if token:
            q["continuation-token"] = token
        with urllib.request.urlopen(f"{url}/{bucket}?{urllib.parse.urlencode(q)}", timeout=60) as r:
            root = ET.fromstring(r.read())
        if not root.tag.startswith(ns):
            ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        for c in root.iter(f"{ns}Contents"):
            out[c.find(f"{ns}Key").text] = int(c.find(f"{ns}Size").text)
        token_el = root.find(f"{ns}NextContinuationToken")
        if root.findtext(f"{ns}IsTruncated") != "true" or token_el is None:
            return out
        token = token_el.text


def tree(d: Path) -> Dict[str, int]:
    """{relative path: size} of every file under d (all names: leftovers count too)."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = Path(root) / f
            out[str(p.relative_to(d))] = p.lstat().st_size
    return out


def sha256_tree(d: Path, names) -> Dict[str, str]:
    out = {}
    for n in names:
        h = hashlib.sha256()
        with open(d / n, "rb") as f:
            while chunk := f.read(4 << 20):
                h.update(chunk)
        out[n] = h.hexdigest()
    return out


# ---- the tools ----

def tool_cmd(tool: str, direction: str, wl: str, local: Path, dst_prefix: str, url: str,
             a, tmp: Path) -> Tuple[List[List[str]], dict]:
    """argv (one command) and environment of one run."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp / "home"),
           "LANG": "C.UTF-8", "TMPDIR": str(tmp)}
    remote = ("src", f"{wl}") if direction == "download" else ("dst", f"{dst_prefix}{wl}")
    if tool == "barge":
        env.update(AWS_ENDPOINT_URL_S3=url, AWS_ACCESS_KEY_ID="AKIDSYNTH",
                   AWS_SECRET_ACCESS_KEY="not-checked", AWS_REGION="us-east-1",
                   AWS_CONFIG_FILE=str(tmp / "home" / "none"),
                   AWS_SHARED_CREDENTIALS_FILE=str(tmp / "home" / "none"))
        r = f"s3://{remote[0]}/{remote[1]}"
        ends = (r, str(local)) if direction == "download" else (str(local), r)
        return [a.barge, "copy", *ends, *shlex.split(a.barge_args)], env
    if tool == "rclone":
        n = "SYN"
        env.update({f"RCLONE_CONFIG_{n}_TYPE": "s3", f"RCLONE_CONFIG_{n}_PROVIDER": "Other",
                    f"RCLONE_CONFIG_{n}_ENV_AUTH": "false",
                    f"RCLONE_CONFIG_{n}_ACCESS_KEY_ID": "AKIDSYNTH",
                    f"RCLONE_CONFIG_{n}_SECRET_ACCESS_KEY": "not-checked",
                    f"RCLONE_CONFIG_{n}_ENDPOINT": url, f"RCLONE_CONFIG_{n}_REGION": "us-east-1",
                    f"RCLONE_CONFIG_{n}_FORCE_PATH_STYLE": "true"})
        r = f"syn:{remote[0]}/{remote[1]}"
        ends = (r, str(local)) if direction == "download" else (str(local), r)
        return ["rclone", "--config", "/dev/null", "copy", *ends,
                *shlex.split(a.rclone_args)], env
    if tool == "s5cmd":
        env.update(AWS_ACCESS_KEY_ID="AKIDSYNTH", AWS_SECRET_ACCESS_KEY="not-checked",
                   AWS_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp / "home" / "none"),
                   AWS_SHARED_CREDENTIALS_FILE=str(tmp / "home" / "none"))
        r = f"s3://{remote[0]}/{remote[1]}"
        ends = (f"{r}/*", f"{local}/") if direction == "download" else (f"{local}/*", f"{r}/")
        return [a.s5cmd, "--endpoint-url", url, *shlex.split(a.s5cmd_args), "cp",
                *shlex.split(a.s5cmd_cp_args), *ends], env
    raise ValueError(tool)


def one_run(tool, direction, wl, spec, run_no, a, syn, ref: Path, ref_sha, tmp) -> dict:
    count, size = sc.parse_wl(spec)
    total = count * size
    dst_prefix = f"{tool}-{run_no}-{uuid.uuid4().hex[:6]}/"
    local = ref / wl if direction == "upload" else tmp / "down" / f"{tool}-{wl}-{run_no}"
    if direction == "download":
        shutil.rmtree(local.parent, ignore_errors=True)
        local.mkdir(parents=True)
    argv, env = tool_cmd(tool, direction, wl, local, dst_prefix, syn.url, a, tmp)
    s0 = syn.stats()
    c0, m0 = cmp.proc_cpu(syn.proc.pid), cmp.machine_cpu()
    p = cmp.run_timed(argv, env, tmp / f"{direction}-{tool}-{wl}-{run_no}.log", a.timeout)
    m1, c1 = cmp.machine_cpu(), cmp.proc_cpu(syn.proc.pid)
    s1 = syn.stats()
    problems = [] if p.rc == 0 else [f"exit {p.rc}"]
    res = {"tool": tool, "link": direction, "direction": direction, "workload": wl, "spec": spec,
           "run": run_no, "exit_code": p.rc, "wall_s": round(p.wall, 3),
           "cpu_user_s": round(p.utime, 3), "cpu_sys_s": round(p.stime, 3),
           "maxrss_kib": p.maxrss_kib, "objects": count, "bytes": total,
           "synth_cpu_s": round((c1 or 0) - (c0 or 0), 2),
           "machine_busy_s": round(m1[0] - m0[0], 2),
           "argv": " ".join(shlex.quote(x) for x in argv)}
    if direction == "upload":
        objs = s1["objects_verified"] - s0["objects_verified"]
        verified = s1["bytes_verified"] - s0["bytes_verified"]
        errs = s1["errors"] - s0["errors"]
        listed = list_keys(syn.url, "dst", f"{dst_prefix}{wl}/")
        want = {f"{dst_prefix}{wl}/{k}": v for k, v in tree(ref / wl).items()}
        res["sink"] = {"objects_verified": objs, "bytes_verified": verified, "errors": errs,
                       "objects_listed": len(listed),
                       "error_list": s1["error_list"][-errs:] if errs else []}
        if errs or objs != count or verified < total:
            problems.append(f"sink verified {objs}/{count} objects, {verified}/{total} bytes, "
                            f"{errs} errors {res['sink']['error_list'][:3]}")
        if listed != want:
            problems.append(f"sink lists {len(listed)} objects, want {len(want)}; missing "
                            f"{sorted(set(want) - set(listed))[:3]}, extra "
                            f"{sorted(set(listed) - set(want))[:3]}")
    else:
        got = tree(local)
        want = {k[len(wl) + 1:]: v for k, v in list_keys(syn.url, "src", f"{wl}/").items()}
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        wrong_size = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        bad = []
        if not (missing or extra or wrong_size):
            sums = sha256_tree(local, sorted(got))
            bad = sorted(k for k in sums if sums[k] != ref_sha[k])
        res["local"] = {"files": len(got), "listed": len(want), "missing": missing[:5],
                        "extra": extra[:5], "wrong_size": wrong_size[:5], "wrong_sha256": bad[:5],
                        "sha256_checked": 0 if (missing or extra or wrong_size) else len(got)}
        if missing or extra or wrong_size or bad:
            problems.append(f"{len(got)} files for {len(want)} listed: missing {missing[:3]}, "
                            f"extra {extra[:3]}, wrong size {wrong_size[:3]}, "
                            f"wrong SHA-256 {bad[:3]}")
        if not a.keep:
            shutil.rmtree(local, ignore_errors=True)
    res["ok"] = not problems
    if problems:
        res["problems"] = problems
        res["log_tail"] = p.stderr_tail
        log(f"  FAILED: {'; '.join(problems)}; log tail:\n{p.stderr_tail[-600:]}")
    return res


def make_reference(a, syn, wl: str, spec: str, ref: Path, tmp: Path) -> Dict[str, str]:
    """barge downloads the workload once; every file is checked against the generator.
    Returns {relative name: sha256}."""
    count, size = sc.parse_wl(spec)
    argv, env = tool_cmd("barge", "download", wl, ref / wl, "", syn.url, a, tmp)
    p = cmp.run_timed(argv, env, tmp / f"reference-{wl}.log", a.timeout)
    got = tree(ref / wl)
    want = {k[len(wl) + 1:]: v for k, v in list_keys(syn.url, "src", f"{wl}/").items()}
    errs = [check_against_generator(ref / wl / n, f"{wl}/{n}", want[n])
            for n in sorted(set(got) & set(want))]
    errs = [e for e in errs if e]
    if p.rc != 0 or got != want or len(want) != count or errs:
        raise RuntimeError(f"reference download of {wl} failed: `{' '.join(argv)}` exit {p.rc}, "
                           f"{len(got)} files for {len(want)} listed ({count} expected), "
                           f"generator mismatches {errs[:3]}; log tail:\n{p.stderr_tail[-800:]}")
    log(f"reference {wl}: {count} files of {size} bytes from barge, all checked against the "
        f"generator, {p.wall:.2f} s")
    return sha256_tree(ref / wl, sorted(got))


def version(tool: str, a) -> str:
    argv = {"barge": [a.barge, "version"], "rclone": ["rclone", "version"],
            "s5cmd": [a.s5cmd, "version"]}[tool]
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=20).stdout.strip()
        return out.splitlines()[0].split(" (")[0] if out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def report(meta: dict, runs: List[dict]) -> str:
    L = [f"# barge vs rclone vs s5cmd, local disk <-> barge-synth — {meta['started']}", "",
         f"`{meta['command']}` · commit `{meta['git_commit']}` · {meta['cpus']} CPUs · "
         f"load average at start {meta['loadavg_start']}, at end {meta.get('loadavg_end', '?')}",
         "", "One barge-synth on loopback (one thread): uploads go to its sink, which verified "
         "every byte of every run against the generator (sink Content-MD5 checking off); "
         "downloads come from its source and every downloaded tree was compared with the "
         "listing (names, sizes, no leftovers) and every file's SHA-256 with the reference copy. "
         "Local files live on ext4 and are in the page cache (uploads read memory); barge "
         "fdatasyncs each downloaded file, rclone and s5cmd do not. Failed runs are excluded "
         "from the medians.", "",
         "| direction | workload | tool | median MB/s (min–max) | objects/s | × rclone | "
         "CPU s/GiB | peak RSS MiB | synth cores | machine cores | runs ok |",
         "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    keys = list(dict.fromkeys((r["direction"], r["workload"], r["tool"]) for r in runs))
    med = {}
    for k in keys:
        good = [r for r in runs if (r["direction"], r["workload"], r["tool"]) == k and r["ok"]]
        med[k] = statistics.median([r["wall_s"] for r in good]) if good else None
    for k in keys:
        rs = [r for r in runs if (r["direction"], r["workload"], r["tool"]) == k]
        good = [r for r in rs if r["ok"]]
        if not good:
            L.append(f"| {k[0]} | {k[1]} | {k[2]} | FAILED | | | | | | | 0/{len(rs)} |")
            continue
        w, b, n = med[k], good[0]["bytes"], good[0]["objects"]
        rcl = med.get((k[0], k[1], "rclone"))
        cpu = statistics.median([r["cpu_user_s"] + r["cpu_sys_s"] for r in good])
        mbs = [b / r["wall_s"] / 1e6 for r in good]
        cores = lambda f: statistics.median([f(r) / r["wall_s"] for r in good])
        L.append(f"| {k[0]} | {k[1]} ({good[0]['spec']}) | {k[2]} | {b / w / 1e6:,.1f} "
                 f"({min(mbs):,.0f}–{max(mbs):,.0f}) | {n / w:,.1f} | "
                 f"{f'{rcl / w:.2f}' if rcl else '–'} | {cpu / (b / GiB):.2f} | "
                 f"{max(r['maxrss_kib'] for r in good) / 1024:.0f} | "
                 f"{cores(lambda r: r['synth_cpu_s']):.2f} | "
                 f"{cores(lambda r: r['machine_busy_s']):.2f} | {len(good)}/{len(rs)} |")
    L += ["", "MB/s = 10^6 bytes/s of the tool's wall time (median run); × rclone = rclone's "
          "median wall / this row's (same direction and workload); CPU s/GiB = the tool's own "
          "user+system CPU (rusage) per GiB; peak RSS through /usr/bin/time; cores = CPU seconds "
          "/ wall seconds of barge-synth and of the whole machine (other engineers' work "
          "included).", "", "## Commands", ""]
    for t, cmd in meta["commands"].items():
        L.append(f"- **{t}** ({meta['versions'].get(t.split()[0], '?')}): `{cmd}`")
    return "\n".join(L)


def save(out: Path, stem: str, md: str, doc: dict) -> None:
    """STEM.md, STEM.json and, with matplotlib, STEM.png (bench/chart.py) under out."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(md + "\n")
    (out / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from chart import write_chart   # draws (link, workload) panels: here (direction, workload)
        log(f"wrote {out / stem}.md, .json and {write_chart(out / f'{stem}.json', out / f'{stem}.png')}")
    except ImportError as e:
        log(f"wrote {out / stem}.md and .json; no chart ({e})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI smoke: tiny workloads, 1 run")
    ap.add_argument("--runs", type=int, help="runs per tool, direction and workload (default 3)")
    ap.add_argument("--workloads", default="large,small")
    ap.add_argument("--directions", default="upload,download")
    ap.add_argument("--large", help="COUNTxSIZE[@PARTSIZE] (default 4x256M@16M)")
    ap.add_argument("--small", help="COUNTxSIZE (default 2000x16K)")
    ap.add_argument("--tools", default="barge,rclone,s5cmd")
    ap.add_argument("--barge", default=os.environ.get("BARGE_BIN", str(REPO / "zig-out/bin/barge")))
    ap.add_argument("--synth", default=os.environ.get("BARGE_SYNTH_BIN",
                                                      str(REPO / "zig-out/bin/barge-synth")))
    ap.add_argument("--s5cmd", default="s5cmd")
    ap.add_argument("--barge-args", default=cmp.BARGE_ARGS)
    ap.add_argument("--rclone-args", default=cmp.RCLONE_ARGS)
    ap.add_argument("--s5cmd-args", default=S5CMD_ARGS, help="global s5cmd flags")
    ap.add_argument("--s5cmd-cp-args", default=S5CMD_CP_ARGS, help="flags of s5cmd cp")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--tmp", default="/tmp", help="where the local trees go (default /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep downloads and the temp dir")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args()
    for b in (a.barge, a.synth):
        if not os.access(b, os.X_OK):
            ap.error(f"{b} not found (tools/zig build; or --barge/--synth)")
    runs_n = a.runs or (1 if a.quick else 3)
    tools = [t for t in a.tools.split(",") if t]
    for t, exe in (("rclone", "rclone"), ("s5cmd", a.s5cmd)):
        if t in tools and not shutil.which(exe):
            log(f"{t} not found: its rows are skipped")
            tools.remove(t)
    table = QUICK if a.quick else FULL
    specs = {w: getattr(a, w, None) or table[w] for w in a.workloads.split(",") if w}
    directions = [d for d in a.directions.split(",") if d]
    tmp = Path(tempfile.mkdtemp(prefix="local-bench-", dir=a.tmp))
    (tmp / "home").mkdir()
    ref = tmp / "ref"
    started = dt.datetime.now()
    meta = {"started": started.isoformat(timespec="seconds"),
            "command": "bench/local_compare.py " + " ".join(shlex.quote(x) for x in sys.argv[1:]),
            "git_commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                         stdout=subprocess.PIPE, text=True).stdout.strip(),
            "cpus": os.cpu_count(), "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "tools": tools, "versions": {t: version(t, a) for t in tools}, "specs": specs, "barge": a.barge, "synth": a.synth, "tmp": str(tmp)}
    src_spec = ",".join(f"{w}={s}" for w, s in specs.items())
    syn = sc.Synth(Path(a.synth), tmp, "synth",
                   ["--bucket", f"src:{src_spec}", "--sink", "dst=src", "--no-verify-md5"])
    log(f"barge-synth {syn.url}: objects {src_spec}; local trees under {tmp}")
    meta["commands"] = {
        f"{t} {d}": " ".join(shlex.quote(x) for x in tool_cmd(
            t, d, "WL", Path("DIR"), "PFX/", "URL", a, tmp)[0])
        for t in tools for d in directions}
    results: List[dict] = []
    rc = 0
    try:
        for wl, spec in specs.items():
            ref_sha = make_reference(a, syn, wl, spec, ref, tmp)
            for direction in directions:
                for r in range(runs_n):
                    for tool in tools[r % len(tools):] + tools[:r % len(tools)]:
                        log(f"{direction} {wl} run {r + 1}/{runs_n}: {tool}")
                        res = one_run(tool, direction, wl, spec, r + 1, a, syn, ref, ref_sha, tmp)
                        results.append(res)
                        log(f"  {res['wall_s']:.2f} s, {res['bytes'] / res['wall_s'] / 1e6:.1f} MB/s, "
                            f"{res['objects'] / res['wall_s']:.0f} obj/s, cpu "
                            f"{res['cpu_user_s'] + res['cpu_sys_s']:.2f} s, synth "
                            f"{res['synth_cpu_s']} s, ok={res['ok']}")
            if not a.keep:
                shutil.rmtree(ref / wl, ignore_errors=True)
    except KeyboardInterrupt:
        rc = 130
    except RuntimeError as e:
        log(str(e))
        rc = 1
    finally:
        syn.stop()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if results:
        meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        md = report(meta, results)
        print(md)
        if not a.no_save:
            save(Path(a.out), "local-" + started.strftime("%Y%m%d-%H%M%S") + "-quick" * a.quick,
                 md, {"meta": meta, "runs": results})
    if not results or not all(r["ok"] for r in results):
        rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
