#!/usr/bin/env bash
# Installs what proc needs from Debian when it is missing: libzmq3-dev (libzmq and its pkg-config file),
# pkg-config, iproute2 (`ip netns`, for the multi-host tests), sqlite3 and python3-zmq (for tests). Safe to
# run again: it does nothing when everything is there.
set -euo pipefail

missing=()
pkg-config --exists libzmq 2>/dev/null || missing+=(libzmq3-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
# pyzmq, for the test that uses certificates made by zmq.auth and reads the feed from Python.
/usr/bin/python3 -c 'import zmq.auth' >/dev/null 2>&1 || missing+=(python3-zmq)

if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null 2>&1 || { echo "bootstrap: Swift 6.3 is needed (swift not on PATH)" >&2; exit 1; }
