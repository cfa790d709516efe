#!/usr/bin/env bash
# `make release ARCH=arm64`, and part of `make test`: build the static
# aarch64-unknown-linux-musl binary from this x86-64 machine (Debian's
# gcc-aarch64-linux-gnu as linker and C compiler), check it is a static
# arm64 executable within the size budget, and run it under qemu-user
# against a local moto_server: a fetch + exec, --init, and --export.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-musl
. scripts/install.sh
command -v qemu-aarch64-static >/dev/null 2>&1 || apt_install qemu-user-static
scripts/release-build.sh arm64
bin=target/$target/release/secretexec

kind=$(file "$bin")
echo "$kind"
case $kind in
    *"ARM aarch64"*"statically linked"*) ;;
    *) echo "FAIL: not a static arm64 executable" >&2; exit 1 ;;
esac
size=$(stat -c %s "$bin")
[ "$size" -le 4500000 ] || { echo "FAIL: $size bytes, over the 4.5 MB budget" >&2; exit 1; }

scripts/test-deps.sh demo
start_moto
port=$moto_port
trap 'kill "$moto_pid" 2>/dev/null; wait "$moto_pid" 2>/dev/null' EXIT
run() {
    env -i PATH=/usr/bin:/bin AWS_ACCESS_KEY_ID=arm AWS_SECRET_ACCESS_KEY=arm AWS_REGION=us-east-1 \
        AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL="http://127.0.0.1:$port" \
        qemu-aarch64-static "$bin" "$@"
}
AWS_ACCESS_KEY_ID=arm AWS_SECRET_ACCESS_KEY=arm AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ENDPOINT_URL="http://127.0.0.1:$port" python3 -c '
import boto3
boto3.client("secretsmanager").create_secret(Name="arm/db", SecretString="{\"ARM_USER\": \"graviton\", \"ARM_PASS\": \"p w\"}")'

# A fetch, then execve of a (native) command with the variables.
out=$(run -s arm/db -- sh -c 'echo "$ARM_USER/$ARM_PASS"')
[ "$out" = "graviton/p w" ] || { echo "FAIL: exec got '$out'" >&2; exit 1; }
# --init: the command's status comes back.
set +e
run --init -s arm/db -- sh -c 'test "$ARM_USER" = graviton && exit 7'
status=$?
set -e
[ "$status" = 7 ] || { echo "FAIL: --init exit status $status, expected 7" >&2; exit 1; }
# --export: the one output with values.
out=$(run -s arm/db --export dotenv)
[ "$out" = "$(printf "ARM_USER='graviton'\nARM_PASS='p w'")" ] || { echo "FAIL: --export gave '$out'" >&2; exit 1; }
echo "arm64 static binary: OK ($size bytes); fetch + exec, --init and --export under qemu-aarch64: OK"
