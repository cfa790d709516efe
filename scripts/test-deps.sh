#!/usr/bin/env bash
# What the tests and the demo need beyond Rust: moto's server (a local
# Secrets Manager/STS) and python-dotenv (an independent dotenv reader for
# the --export round trip). Installed from PyPI when missing.
set -euo pipefail
missing=()
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import flask, moto.server' >/dev/null 2>&1; then
    missing+=('moto[server]>=5.1,<6')
fi
python3 -c 'import dotenv' >/dev/null 2>&1 || missing+=('python-dotenv>=1,<2')
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing test dependencies: ${missing[*]}" >&2
    python3 -m pip install --quiet "${missing[@]}"
fi
