#!/usr/bin/env bash
# `make demo`: start a local Secrets Manager (moto) on a free loopback port,
# seed a secret, run secretexec in front of a command that shows the
# variable names it received, then stop the emulator by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh demo
cargo build --quiet
bin=target/debug/secretexec

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null; wait "$moto_pid" 2>/dev/null || true' EXIT

# Fake credentials, a loopback endpoint, no instance metadata: nothing here
# can reach a real AWS account.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/')" 2>/dev/null && break
    sleep 0.1
done

python3 - <<'PY'
import boto3, json
boto3.client("secretsmanager").create_secret(
    Name="demo/db-credentials",
    SecretString=json.dumps({"DB_USER": "app", "DB_PASSWORD": "correct horse battery staple",
                             "DB_PORT": 5432}),
)
PY

echo "\$ secretexec --verbose --source demo/db-credentials -- sh -c '...'"
"$bin" --verbose --source demo/db-credentials -- sh -c '
    echo "the command runs as PID $$ and received:"
    env | grep "^DB_" | cut -d= -f1 | sort | sed "s/^/  /"
    echo "DB_PASSWORD has ${#DB_PASSWORD} characters (the demo never prints it)"'
