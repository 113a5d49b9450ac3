#!/usr/bin/env bash
# moto, the STS/IAM/S3 emulator, for the end-to-end tests in tests/moto.rs.
#
#   scripts/moto.sh test    install moto if needed, start it, run the end-to-end tests, stop it
#   scripts/moto.sh start   install moto if needed, start it, print its endpoint
#   scripts/moto.sh stop    stop the moto started by `start`
#
# moto is installed once into a virtualenv under ~/.cache (MOTO_VENV overrides) and listens on a
# free port of 127.0.0.1.
set -euo pipefail

MOTO_VERSION=5.2.5
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/target/moto"
venv="${MOTO_VENV:-$HOME/.cache/aws-role-chain/moto-$MOTO_VERSION}"

install() {
    if [ ! -x "$venv/bin/moto_server" ]; then
        echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    fi
}

answers() {
    "$venv/bin/python" - "$1" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/config", timeout=1)
except Exception:
    sys.exit(1)
PY
}

start() {
    install
    mkdir -p "$state"
    stop
    local port
    port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
    echo $! >"$state/pid"
    local endpoint="http://127.0.0.1:$port"
    echo "$endpoint" >"$state/endpoint"
    for _ in $(seq 100); do
        if answers "$endpoint"; then
            echo "MOTO_ENDPOINT=$endpoint"
            return 0
        fi
        if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
            cat "$state/moto.log" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "moto did not answer within 20 s; its log:" >&2
    cat "$state/moto.log" >&2
    stop
    return 1
}

stop() {
    if [ -f "$state/pid" ]; then
        kill "$(cat "$state/pid")" 2>/dev/null || true
        rm -f "$state/pid"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    test)
        start
        trap stop EXIT
        MOTO_ENDPOINT=$(cat "$state/endpoint") cargo test --test moto
        ;;
    *)
        echo "usage: scripts/moto.sh test|start|stop" >&2
        exit 2
        ;;
esac
