#!/usr/bin/env bash
# The tests and the demo need moto's server (a local Secrets Manager/STS).
# Install it from PyPI when it is missing; nothing else is fetched.
set -euo pipefail
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import flask, moto.server' >/dev/null 2>&1; then
    echo "installing moto[server] (local AWS emulator for tests)..." >&2
    python3 -m pip install --quiet 'moto[server]>=5.1,<6'
fi
