#!/usr/bin/env bash
# moto, the STS/IAM/S3 emulator, for the end-to-end tests in tests/moto.rs.
#
#   scripts/moto.sh test    install moto if needed, start it, run the end-to-end tests, stop it
#   scripts/moto.sh start   install moto if needed, start it, print its endpoint
#   scripts/moto.sh stop    stop the moto started by `start`
#
# moto and its dependencies, pinned in scripts/moto-requirements.txt, are installed once into a
# virtualenv under the user's cache (MOTO_VENV overrides); moto listens on a free port of
# 127.0.0.1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/target/moto"
cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}"
venv="${MOTO_VENV:-$cache/aws-role-chain/moto-5.2.5}"
requirements="$root/scripts/moto-requirements.txt"

install() {
    # The marker is written last: a half-made virtualenv is made again.
    if [ -f "$venv/.installed" ] && "$venv/bin/python" -c 'import moto' 2>/dev/null; then
        return 0
    fi
    echo "installing moto into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if python3 -m venv "$venv" 2>/dev/null; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
    else
        # Debian without python3-venv has no ensurepip: install with the system pip instead.
        rm -rf "$venv"
        python3 -m venv --without-pip "$venv"
        python3 -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check \
            --no-input -r "$requirements"
    fi
    touch "$venv/.installed"
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

# Starts moto on a free port; a port taken between choosing and binding it means another try.
start() {
    install
    mkdir -p "$state"
    stop
    for _ in 1 2 3; do
        local port
        port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
        echo $! >"$state/pid"
        local endpoint="http://127.0.0.1:$port"
        local deadline=$((SECONDS + 30))
        while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; do
            if answers "$endpoint"; then
                echo "$endpoint" >"$state/endpoint"
                echo "MOTO_ENDPOINT=$endpoint"
                return 0
            fi
            sleep 0.2
        done
        stop
    done
    echo "moto did not start; its log:" >&2
    cat "$state/moto.log" >&2
    return 1
}

# Stops the moto this script started, and nothing else.
stop() {
    if [ -f "$state/pid" ]; then
        local pid
        pid=$(cat "$state/pid")
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server; then
            kill "$pid" 2>/dev/null || true
        fi
        rm -f "$state/pid"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    test)
        trap stop EXIT
        start
        # The aws-role-chain command, which the tests run as a child of boto3 and around it.
        cargo build --quiet -p aws-role-chain-cli
        bin="${CARGO_TARGET_DIR:-$root/target}/debug/aws-role-chain"
        MOTO_ENDPOINT=$(cat "$state/endpoint") MOTO_PYTHON="$venv/bin/python" AWS_ROLE_CHAIN_BIN="$bin" \
            cargo test --test moto
        ;;
    *)
        echo "usage: scripts/moto.sh test|start|stop" >&2
        exit 2
        ;;
esac
