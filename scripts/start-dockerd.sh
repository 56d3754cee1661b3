#!/usr/bin/env bash
# Start the Docker daemon in the background unless one already answers; wait for its socket.
# Idempotent: safe to run any number of times. Used by `make dockerd` and CI (.ci/run).
#   DOCKERD_LOG   where the daemon logs (default /tmp/dockerd.log)
#   DOCKER_WAIT   seconds to wait for the socket (default 60)
set -euo pipefail
DOCKER=/usr/bin/docker          # Debian's docker.io client (API 1.41); not a newer one on PATH
LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
WAIT=${DOCKER_WAIT:-60}

if "$DOCKER" info >/dev/null 2>&1; then
    echo "dockerd: already running"
    exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd: not installed (apt-get install docker.io)" >&2; exit 1; }

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
# Only start a daemon if none is starting already (e.g. a concurrent call).
if ! pgrep -x dockerd >/dev/null; then
    echo "dockerd: starting (log $LOG)"
    $SUDO nohup dockerd >"$LOG" 2>&1 </dev/null &
    disown || true
fi
for _ in $(seq "$WAIT"); do
    if "$DOCKER" info >/dev/null 2>&1; then
        echo "dockerd: ready"
        exit 0
    fi
    sleep 1
done
echo "dockerd: no answer after ${WAIT}s; last log lines:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
