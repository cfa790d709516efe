#!/usr/bin/env bash
# `make packages`: every channel's artifact from the static release binary,
# each checked by the means this machine has (no Docker engine here):
#   container  the Dockerfile's final stage replayed into a root directory,
#              then run in a chroot as the image would run;
#   deb        dpkg-deb --info/--contents, then install, run and remove
#              with dpkg in a scratch root;
#   rpm        rpm -qip/-qlp;
#   wheel      maturin (bindings = "bin"), tagged manylinux + musllinux,
#              installed into a fresh venv and run from there.
# Artifacts land in target/packages/. `build.sh deb wheel` builds only those.
set -euo pipefail
# (grep in a pipeline reads all its input: `grep -q` would close the pipe
# early and pipefail would report the writer's SIGPIPE.)
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
musl=x86_64-unknown-linux-musl
bin=target/$musl/release/secretexec
out=target/packages
[ -x "$bin" ] || scripts/static-check.sh
mkdir -p "$out"
rm -rf "$out/stage"

# The file layout shared by the deb and the rpm.
stage=$out/stage
install -Dm755 "$bin" "$stage/usr/bin/secretexec"
install -Dm644 packaging/man/secretexec.1 "$stage/usr/share/man/man1/secretexec.1"
gzip -9n "$stage/usr/share/man/man1/secretexec.1"
install -Dm644 packaging/completions/secretexec.bash "$stage/usr/share/bash-completion/completions/secretexec"
install -Dm644 packaging/completions/_secretexec "$stage/usr/share/zsh/site-functions/_secretexec"
install -Dm644 packaging/completions/secretexec.fish "$stage/usr/share/fish/vendor_completions.d/secretexec.fish"

container() {
echo "== container"
root=$out/container-root
rm -rf "$root"
# Replay the final stage: each `COPY --from=build SRC DST`, with the build
# stage's /secretexec being the binary built above.
grep '^COPY --from=build' packaging/container/Dockerfile | while read -r _ _ src dst; do
    case $src in
        /secretexec) from=$bin ;;
        *) from=$src ;;
    esac
    install -D "$from" "$root$dst"
done
grep -q '^FROM scratch' packaging/container/Dockerfile
[ "$(find "$root" -type f | wc -l)" -eq 2 ] || { echo "FAIL: the image holds more than binary + CA bundle" >&2; exit 1; }
env -i "$(command -v chroot)" "$root" /secretexec --version | grep -qx "secretexec $version"
env -i "$(command -v chroot)" "$root" /secretexec -- /secretexec --version | grep -qx "secretexec $version"
echo "container root: $(du -sh "$root" | cut -f1), runs in a chroot"
}

deb() {
echo "== deb"
debroot=$out/deb-root
rm -rf "$debroot" "$out/dpkg-root"
cp -a "$stage" "$debroot"
mkdir -p "$debroot/DEBIAN"
sed "s/@VERSION@/$version/" packaging/deb/control > "$debroot/DEBIAN/control"
deb=$out/secretexec_${version}_amd64.deb
dpkg-deb --root-owner-group --build "$debroot" "$deb" >/dev/null
dpkg-deb --info "$deb" | grep "Package: secretexec" >/dev/null
dpkg-deb --contents "$deb" | grep "./usr/bin/secretexec" >/dev/null
# Install, run and remove in a scratch root, leaving the host alone.
sys=$out/dpkg-root
mkdir -p "$sys/var/lib/dpkg/info" "$sys/var/lib/dpkg/updates"
touch "$sys/var/lib/dpkg/status"
dpkg --root="$sys" --log=/dev/null --force-script-chrootless -i "$deb" >/dev/null
"$sys/usr/bin/secretexec" --version | grep -qx "secretexec $version"
dpkg --root="$sys" --log=/dev/null --force-script-chrootless -r secretexec >/dev/null
[ ! -e "$sys/usr/bin/secretexec" ] || { echo "FAIL: dpkg -r left the binary" >&2; exit 1; }
echo "$deb: installs, runs, uninstalls"
}

rpm_package() {
echo "== rpm"
if command -v rpmbuild >/dev/null; then
    rpmbuild -bb --quiet \
        --define "_topdir $PWD/$out/rpmbuild" \
        --define "version $version" \
        --define "stage $PWD/$stage" \
        --define "__os_install_post %{nil}" \
        packaging/rpm/secretexec.spec >/dev/null
    rpm=$(find "$out/rpmbuild/RPMS" -name '*.rpm' | head -n 1)
    cp "$rpm" "$out/"
    rpm -qip "$rpm" | grep "^Name *: secretexec" >/dev/null
    rpm -qlp "$rpm" | grep -x /usr/bin/secretexec >/dev/null
    echo "$(basename "$rpm"): $(rpm -qlp "$rpm" | wc -l) files"
else
    echo "FAIL: rpmbuild is missing (scripts/test-deps.sh installs it)" >&2
    exit 1
fi
}

wheel() {
echo "== wheel"
rm -rf "$out/wheel"
(cd packaging/python && maturin build --quiet --release --target "$musl" --out "$PWD/../../$out/wheel" >/dev/null 2>&1) \
    || (cd packaging/python && maturin build --release --target "$musl" --out "$PWD/../../$out/wheel")
built=$(find "$out/wheel" -name '*.whl' | head -n 1)
# The binary is fully static: any Linux pip may take it, not only musl ones.
python3 -m wheel tags --remove \
    --platform-tag manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_2_x86_64 "$built" >/dev/null
wheel=$(find "$out/wheel" -name '*manylinux*.whl' | head -n 1)
rm -rf "$out/venv"
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install --quiet --no-index "$wheel"
"$out/venv/bin/secretexec" --version | grep -qx "secretexec $version"
cp "$wheel" "$out/"
echo "$(basename "$wheel"): installs into a fresh venv, runs from there"
}

# Channels named on the command line (container deb rpm wheel), or all.
for channel in "${@:-container deb rpm wheel}"; do
    for c in $channel; do
        case $c in
            container) container ;;
            deb) deb ;;
            rpm) rpm_package ;;
            wheel) wheel ;;
            *) echo "unknown channel $c (container deb rpm wheel)" >&2; exit 2 ;;
        esac
    done
done
