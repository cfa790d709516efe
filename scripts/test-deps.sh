#!/usr/bin/env bash
# What the demo and the tests need beyond Rust, installed when missing:
#   demo: moto's server (a local Secrets Manager/STS), from PyPI.
#   test (the default): also python-dotenv and node's dotenv (independent
#     dotenv readers for the --export round trip), maturin and wheel (the
#     Python wheel) from PyPI and npm, and rpmbuild and openssl from
#     Debian's packages.
# `make demo` asks for the demo set only, so a first try installs little.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install.sh
wanted=${1:-test}

missing=()
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import flask, moto.server' >/dev/null 2>&1; then
    missing+=('moto[server]>=5.1,<6')
fi
if [ "$wanted" = test ]; then
    python3 -c 'import dotenv' >/dev/null 2>&1 || missing+=('python-dotenv>=1,<2')
    # packaging/build.sh: the wheel is built with maturin and retagged with wheel.
    command -v maturin >/dev/null 2>&1 || missing+=('maturin>=1.5,<2')
    python3 -m wheel tags --help >/dev/null 2>&1 || missing+=('wheel>=0.42')
fi
if [ ${#missing[@]} -gt 0 ]; then
    pip_install "${missing[@]}"
fi
[ "$wanted" = test ] || exit 0

debs=()
command -v rpmbuild >/dev/null 2>&1 || debs+=(rpm)
command -v openssl >/dev/null 2>&1 || debs+=(openssl)
command -v node >/dev/null 2>&1 || debs+=(nodejs npm)
if [ ${#debs[@]} -gt 0 ]; then
    apt_install "${debs[@]}"
fi
# node's dotenv, pinned, beside the build (tests/forms.rs finds it there).
if [ ! -f target/test-deps/node_modules/dotenv/package.json ]; then
    echo "installing dotenv@16.4.7 from the npm registry into target/test-deps" >&2
    mkdir -p target/test-deps
    npm install --prefix target/test-deps --no-audit --no-fund --silent dotenv@16.4.7 >/dev/null
fi
# The real AWS Secrets Manager Agent for tests/cache.rs, pinned, built from
# crates.io into ~/.cargo/bin (once per machine). Unoptimised: it serves a
# few local requests per test, and the build takes 2 min 27 s instead of
# 4 min 25 s on 2 cores (measured), which keeps a fresh machine's `make test`
# under 15 minutes.
AGENT_VERSION=2.1.0
if ! cargo install --list 2>/dev/null | grep -qx "aws_secretsmanager_agent v$AGENT_VERSION:"; then
    echo "installing aws_secretsmanager_agent $AGENT_VERSION from crates.io (once per machine)" >&2
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
        cargo install --locked --version "$AGENT_VERSION" aws_secretsmanager_agent
fi
# cargo-cyclonedx for the SBOM of the release artifacts (packaging/build.sh).
CYCLONEDX_VERSION=0.5.9
if ! cargo install --list 2>/dev/null | grep -qx "cargo-cyclonedx v$CYCLONEDX_VERSION:"; then
    echo "installing cargo-cyclonedx $CYCLONEDX_VERSION from crates.io (once per machine)" >&2
    cargo install --locked --version "$CYCLONEDX_VERSION" cargo-cyclonedx
fi
