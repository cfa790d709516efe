# Sourced by the scripts that install what they need when it is missing.
# Each install works as root, through sudo when it is there and needs no
# password, and otherwise stops with one line naming what to install.

# apt_install PACKAGE...: Debian packages.
apt_install() {
    local run=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            run=(sudo)
        else
            echo "secretexec: missing Debian package(s) $*: install them (apt-get install $*) and run this again" >&2
            exit 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "secretexec: missing package(s) $*: install them with your package manager and run this again" >&2
        exit 1
    fi
    echo "installing $* from Debian's packages" >&2
    "${run[@]}" apt-get update -qq && "${run[@]}" apt-get install -y -qq "$@" >/dev/null
}

# pip_install SPEC...: Python packages, into the user's site when not root
# and not in a virtual environment.
pip_install() {
    local user=()
    if [ "$(id -u)" != 0 ] && ! python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null; then
        user=(--user)
    fi
    echo "installing $* from PyPI" >&2
    python3 -m pip install --quiet "${user[@]}" "$@" || {
        echo "secretexec: could not install $* with pip: install them and run this again" >&2
        exit 1
    }
}

# start_moto: a moto_server on a free 127.0.0.1 port, answering; sets
# moto_port and moto_pid (the caller stops it).
start_moto() {
    moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    moto_server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
    moto_pid=$!
    for _ in $(seq 100); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/')" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "secretexec: moto_server did not start on port $moto_port" >&2
    return 1
}
