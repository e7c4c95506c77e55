# Shared helpers for the test-server scripts in tests/servers/.
# Source it; it does not set shell options of its own.

# die MESSAGE...: print an error to stderr and exit 1.
die() {
    echo "error: $*" >&2
    exit 1
}

# note MESSAGE...: progress message to stderr (stdout is kept for results).
note() {
    echo "$*" >&2
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# proc_running PID: true if PID is a process that has not exited. A zombie
# (exited, not yet reaped by its parent — daemons that detached are reaped by
# PID 1, which may take a while) counts as gone.
proc_running() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }           # the field after "(comm) " is the state
    [[ "${stat:0:1}" != Z ]]
}

# pid_alive PIDFILE: true if the pid file exists and names a live process.
pid_alive() {
    local pid
    [[ -s "$1" ]] || return 1
    pid=$(<"$1")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    proc_running "$pid"
}

# kill_pidfile PIDFILE [GRACE_SECONDS] [SIGNAL]: send SIGNAL (default TERM) to
# the process named in PIDFILE, wait up to GRACE seconds (default 10) for it
# to exit, then SIGKILL it. Removes the pid file. Silent if it is not running.
kill_pidfile() {
    local file=$1 grace=${2:-10} sig=${3:-TERM} pid i
    if ! pid_alive "$file"; then
        rm -f "$file"
        return 0
    fi
    pid=$(<"$file")
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        proc_running "$pid" || break
        sleep 0.1
    done
    if proc_running "$pid"; then
        note "pid $pid ($file) did not exit after SIG$sig; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            proc_running "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$file"
}

# show_log FILE [LINES]: print the tail of a daemon log to stderr.
show_log() {
    local file=$1 lines=${2:-40}
    if [[ -f "$file" ]]; then
        echo "----- last $lines lines of $file -----" >&2
        tail -n "$lines" "$file" >&2
        echo "----- end of $file -----" >&2
    else
        echo "(no log file at $file)" >&2
    fi
}

# check_port_arg PORT: exit with a message unless PORT is a number 1..65535.
check_port_arg() {
    [[ "$1" =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= 65535 )) ||
        die "PORT must be a number between 1 and 65535, got '$1'"
}

# wait_reaped SECONDS PID...: wait until the processes have disappeared from
# the process table altogether (exited and reaped), so that `pgrep` shows no
# leftovers once a stop command returns. Returns 1 if some are still there.
wait_reaped() {
    local secs=$1 i p left
    shift
    for ((i = 0; i < secs * 10; i++)); do
        left=0
        for p in "$@"; do
            if kill -0 "$p" 2>/dev/null; then left=1; fi
        done
        ((left)) || return 0
        sleep 0.1
    done
    return 1
}
