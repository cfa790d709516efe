#!/usr/bin/env bash
# The static release binaries for the architectures asked (x86_64, arm64;
# x86_64 when none), in one cargo invocation, installing the Rust targets
# and Debian's musl and cross tools when missing. Asked for both (as
# `make test` does), cargo runs the two long single-threaded LTO steps
# (codegen-units = 1) side by side: on 2 cores 4 min 22 s, against 3 min 15 s
# + 2 min 50 s one after the other (measured from an empty target directory).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install.sh
profile=${PROFILE:-release}
targets=()
debs=()
for arch in "${@:-x86_64}"; do
    case $arch in
        x86_64)
            target=x86_64-unknown-linux-musl
            command -v musl-gcc >/dev/null 2>&1 || debs+=(musl-tools)
            ;;
        arm64)
            target=aarch64-unknown-linux-musl
            command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || debs+=(gcc-aarch64-linux-gnu)
            ;;
        *)
            echo "secretexec: release-build.sh: unknown architecture '$arch' (x86_64 or arm64)" >&2
            exit 2
            ;;
    esac
    rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
    targets+=(--target "$target")
done
[ ${#debs[@]} -eq 0 ] || apt_install "${debs[@]}"
cargo build --profile "$profile" "${targets[@]}"
