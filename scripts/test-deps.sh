#!/usr/bin/env bash
# What the tests and the demo need beyond Rust: moto's server (a local
# Secrets Manager/STS), python-dotenv (an independent dotenv reader for the
# --export round trip), maturin and wheel (the Python wheel), from PyPI;
# rpmbuild (the rpm), from Debian's packages. Installed when missing.
set -euo pipefail
missing=()
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import flask, moto.server' >/dev/null 2>&1; then
    missing+=('moto[server]>=5.1,<6')
fi
python3 -c 'import dotenv' >/dev/null 2>&1 || missing+=('python-dotenv>=1,<2')
# packaging/build.sh: the wheel is built with maturin and retagged with wheel.
command -v maturin >/dev/null 2>&1 || missing+=('maturin>=1.5,<2')
python3 -m wheel tags --help >/dev/null 2>&1 || missing+=('wheel>=0.42')
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing test dependencies: ${missing[*]}" >&2
    python3 -m pip install --quiet "${missing[@]}"
fi
if ! command -v rpmbuild >/dev/null 2>&1; then
    echo "installing rpm (rpmbuild) from Debian's packages" >&2
    apt-get update -qq && apt-get install -y -qq rpm >/dev/null
fi
