#!/usr/bin/env bash
# `make packages`: every channel's artifact from the static release binary,
# each checked by the means this machine has (no Docker engine here):
#   container  a real OCI image index (linux/amd64 + linux/arm64) built from
#              packaging/container/Dockerfile by docker buildx, podman or
#              buildah, exported as an OCI archive, inspected with skopeo,
#              and its amd64 entrypoint run against moto;
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
. scripts/install.sh
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
musl=x86_64-unknown-linux-musl
bin=target/$musl/release/secretexec
# The arm64 binary, built and checked when missing.
arm_bin=target/aarch64-unknown-linux-musl/release/secretexec
arm_ready() { [ -x "$arm_bin" ] || scripts/arm64-check.sh; }
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
# The build context: both static binaries and the CA bundle.
ctx=$out/image-context
rm -rf "$ctx" && mkdir -p "$ctx/amd64" "$ctx/arm64"
arm_ready
install -m755 "$bin" "$ctx/amd64/secretexec"
install -m755 "$arm_bin" "$ctx/arm64/secretexec"
install -m644 /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" -f packaging/container/Dockerfile)
archive=$out/secretexec-$version.oci.tar
image=localhost/secretexec:$version
rm -f "$archive"
if command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then
    docker buildx build "${args[@]}" --platform linux/amd64,linux/arm64 \
        --output "type=oci,dest=$archive" "$ctx"
    echo "$(basename "$archive"): built by docker buildx (not run here)"
    return
fi
if command -v podman >/dev/null 2>&1; then
    engine=(podman)
else
    command -v buildah >/dev/null 2>&1 || apt_install buildah
    # Root without a daemon: vfs storage and chroot isolation work here.
    engine=(buildah --storage-driver vfs)
    args+=(--isolation chroot)
fi
command -v skopeo >/dev/null 2>&1 || apt_install skopeo
"${engine[@]}" manifest rm "$image" >/dev/null 2>&1 || true
"${engine[@]}" manifest create "$image" >/dev/null
for arch in amd64 arm64; do
    "${engine[@]}" build "${args[@]}" --platform "linux/$arch" -t "$image-$arch" "$ctx" >/dev/null
    "${engine[@]}" manifest add --arch "$arch" "$image" "$image-$arch" >/dev/null
done
"${engine[@]}" manifest push --all --format oci "$image" "oci-archive:$archive" >/dev/null

# Checks: both platforms in one index; per platform the entrypoint, the
# user, the labels; two files and no shell; the amd64 entrypoint run
# against moto.
index=$(skopeo inspect --raw "oci-archive:$archive")
for arch in amd64 arm64; do
    echo "$index" | python3 -c 'import json, sys
platforms = [m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"]]
assert sys.argv[1] in platforms and len(platforms) == 2, platforms' "$arch"
    skopeo inspect --config --override-arch "$arch" "oci-archive:$archive" | python3 -c 'import json, sys
c = json.load(sys.stdin)
cfg, arch, version, revision = c["config"], *sys.argv[1:4]
assert c["architecture"] == arch, c["architecture"]
assert cfg["Entrypoint"] == ["/secretexec"], cfg["Entrypoint"]
assert cfg["User"] == "65532:65532", cfg["User"]
labels = cfg["Labels"]
assert labels["org.opencontainers.image.version"] == version, labels
assert labels["org.opencontainers.image.revision"] == revision, labels
assert labels["org.opencontainers.image.source"].startswith("https://"), labels' "$arch" "$version" "$revision"
done
ctr=$("${engine[@]}" from "$image-amd64")
mnt=$("${engine[@]}" mount "$ctr")
files=$(cd "$mnt" && find . -type f | sort | tr '\n' ' ')
"${engine[@]}" umount "$ctr" >/dev/null
[ "$files" = "./etc/ssl/certs/ca-certificates.crt ./secretexec " ] || { echo "FAIL: the image holds: $files" >&2; exit 1; }
scripts/test-deps.sh demo
start_moto
port=$moto_port
AWS_ACCESS_KEY_ID=i AWS_SECRET_ACCESS_KEY=i AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port" \
    python3 -c 'import boto3; boto3.client("secretsmanager").create_secret(Name="image/db", SecretString="{\"IMAGE_OK\": \"from-the-image\"}")'
run=("${engine[@]}" run)
[ "${engine[0]}" = buildah ] && run+=(--isolation chroot)
got=$("${run[@]}" --env AWS_ACCESS_KEY_ID=i --env AWS_SECRET_ACCESS_KEY=i --env AWS_REGION=us-east-1 \
    --env AWS_EC2_METADATA_DISABLED=true --env "AWS_ENDPOINT_URL=http://127.0.0.1:$port" \
    "$ctr" -- /secretexec -s image/db --export dotenv)
kill "$moto_pid"; wait "$moto_pid" 2>/dev/null || true
"${engine[@]}" rm "$ctr" >/dev/null
[ "$got" = "IMAGE_OK='from-the-image'" ] || { echo "FAIL: the image's entrypoint gave: $got" >&2; exit 1; }
echo "$(basename "$archive"): linux/amd64 + linux/arm64 index, entrypoint, user, labels, 2 files; the amd64 entrypoint ran against moto: OK"
}

# The file layout of the deb and the rpm for one architecture's binary.
stage_for() {
    local arch_stage=$out/stage-$1
    rm -rf "$arch_stage"
    cp -a "$stage" "$arch_stage"
    install -m755 "$2" "$arch_stage/usr/bin/secretexec"
    echo "$arch_stage"
}


deb() {
echo "== deb"
arm_ready
for arch in amd64 arm64; do
    case $arch in amd64) from=$bin ;; arm64) from=$arm_bin ;; esac
    debroot=$out/deb-root
    rm -rf "$debroot" "$out/dpkg-root"
    cp -a "$(stage_for "$arch" "$from")" "$debroot"
    mkdir -p "$debroot/DEBIAN"
    sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" packaging/deb/control > "$debroot/DEBIAN/control"
    deb=$out/secretexec_${version}_$arch.deb
    dpkg-deb --root-owner-group --build "$debroot" "$deb" >/dev/null
    dpkg-deb --info "$deb" | grep -x " Architecture: $arch" >/dev/null
    dpkg-deb --contents "$deb" | grep "./usr/bin/secretexec" >/dev/null
    if [ "$arch" = amd64 ]; then
        # Install, run and remove in a scratch root, leaving the host alone.
        sys=$out/dpkg-root
        mkdir -p "$sys/var/lib/dpkg/info" "$sys/var/lib/dpkg/updates"
        touch "$sys/var/lib/dpkg/status"
        dpkg --root="$sys" --log=/dev/null --force-script-chrootless -i "$deb" >/dev/null
        "$sys/usr/bin/secretexec" --version | grep -qx "secretexec $version"
        dpkg --root="$sys" --log=/dev/null --force-script-chrootless -r secretexec >/dev/null
        [ ! -e "$sys/usr/bin/secretexec" ] || { echo "FAIL: dpkg -r left the binary" >&2; exit 1; }
        echo "$deb: installs, runs, uninstalls"
    else
        # dpkg here is amd64: unpack, and run the binary under qemu-user.
        rm -rf "$out/deb-x" && dpkg-deb -x "$deb" "$out/deb-x"
        qemu-aarch64-static "$out/deb-x/usr/bin/secretexec" --version | grep -qx "secretexec $version"
        echo "$deb: arm64, unpacks, runs under qemu-aarch64"
    fi
done
}

rpm_package() {
echo "== rpm"
command -v rpmbuild >/dev/null || { echo "FAIL: rpmbuild is missing (scripts/test-deps.sh installs it)" >&2; exit 1; }
arm_ready
for arch in x86_64 aarch64; do
    case $arch in x86_64) from=$bin ;; aarch64) from=$arm_bin ;; esac
    rm -rf "$out/rpmbuild"
    rpmbuild -bb --quiet --target "$arch" \
        --define "_topdir $PWD/$out/rpmbuild" \
        --define "version $version" \
        --define "stage $PWD/$(stage_for "$arch" "$from")" \
        --define "__os_install_post %{nil}" \
        packaging/rpm/secretexec.spec >/dev/null 2>&1
    rpm=$(find "$out/rpmbuild/RPMS" -name "*.$arch.rpm" | head -n 1)
    cp "$rpm" "$out/"
    rpm -qip "$rpm" | grep "^Name *: secretexec" >/dev/null
    rpm -qip "$rpm" | grep "^Architecture: $arch" >/dev/null
    rpm -qlp "$rpm" | grep -x /usr/bin/secretexec >/dev/null
    echo "$(basename "$rpm"): $(rpm -qlp "$rpm" | wc -l) files"
done
}

wheel() {
echo "== wheel"
arm_ready
for target in "$musl" aarch64-unknown-linux-musl; do
    arch=${target%%-*}
    rm -rf "$out/wheel"
    (cd packaging/python && maturin build --quiet --release --target "$target" --out "$PWD/../../$out/wheel" >/dev/null 2>&1) \
        || (cd packaging/python && maturin build --release --target "$target" --out "$PWD/../../$out/wheel")
    built=$(find "$out/wheel" -name '*.whl' | head -n 1)
    # The binary is fully static: any Linux pip may take it, not only musl ones.
    python3 -m wheel tags --remove \
        --platform-tag "manylinux_2_17_$arch.manylinux2014_$arch.musllinux_1_2_$arch" "$built" >/dev/null
    wheel=$(find "$out/wheel" -name '*manylinux*.whl' | head -n 1)
    rm -rf "$out/venv"
    python3 -m venv "$out/venv"
    if [ "$arch" = x86_64 ]; then
        "$out/venv/bin/pip" install --quiet --no-index "$wheel"
        "$out/venv/bin/secretexec" --version | grep -qx "secretexec $version"
        echo "$(basename "$wheel"): installs into a fresh venv, runs from there"
    else
        # This pip is x86-64: install for the arm64 platform into the venv's
        # site, then run the installed binary under qemu-user.
        "$out/venv/bin/pip" install --quiet --no-index --no-deps --only-binary=:all: \
            --platform manylinux_2_17_aarch64 --target "$out/venv/arm64" "$wheel"
        qemu-aarch64-static "$out/venv/arm64/bin/secretexec" --version | grep -qx "secretexec $version"
        echo "$(basename "$wheel"): installs (platform manylinux_2_17_aarch64) into a fresh venv, runs under qemu-aarch64"
    fi
    cp "$wheel" "$out/"
done
}

# A Lambda layer per architecture: /opt/secretexec-wrapper (for
# AWS_LAMBDA_EXEC_WRAPPER) and /opt/bin/secretexec. The x86-64 layer is
# checked by replaying the wrapper contract: the runtime runs the wrapper
# with its bootstrap and arguments, which must be exec'd with the secrets
# added, here against moto with Lambda-style credentials.
lambda_layer() {
echo "== lambda"
for arch in x86_64 arm64; do
    case $arch in x86_64) layer_bin=$bin ;; arm64) arm_ready; layer_bin=$arm_bin ;; esac
    zip=$out/secretexec-lambda-layer-$version-$arch.zip
    python3 - "$zip" "$layer_bin" packaging/lambda/secretexec-wrapper <<'PY'
import sys, zipfile
zip_path, binary, wrapper = sys.argv[1:4]
with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
    for src, name in ((wrapper, "secretexec-wrapper"), (binary, "bin/secretexec")):
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, open(src, "rb").read())
PY
    echo "$(basename "$zip"): $(python3 -c 'import sys, zipfile; print(" ".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$zip")"
done
opt=$out/lambda-opt
rm -rf "$opt"
python3 -c 'import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for i in z.infolist():
    path = z.extract(i, sys.argv[2])
    os.chmod(path, i.external_attr >> 16 & 0o777)' "$out/secretexec-lambda-layer-$version-x86_64.zip" "$opt"
scripts/test-deps.sh demo
start_moto
port=$moto_port
AWS_ACCESS_KEY_ID=l AWS_SECRET_ACCESS_KEY=l AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port" \
    python3 -c 'import boto3; boto3.client("secretsmanager").create_secret(Name="lambda/db", SecretString="{\"DB_PASSWORD\": \"from-layer\"}")'
# The runtime's bootstrap stand-in: prints its arguments and the secret.
bootstrap=$out/lambda-bootstrap
printf '#!/bin/sh\necho "args: $*"\necho "DB_PASSWORD=$DB_PASSWORD"\n' > "$bootstrap"
chmod +x "$bootstrap"
got=$(env -i PATH=/usr/bin:/bin AWS_LAMBDA_FUNCTION_NAME=fn AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=ASIAEXAMPLE AWS_SECRET_ACCESS_KEY=l AWS_SESSION_TOKEN=lambda-session-token \
    AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL="http://127.0.0.1:$port" \
    SECRETEXEC_SOURCES='["lambda/db"]' \
    "$opt/secretexec-wrapper" "$bootstrap" --handler app.handler)
kill "$moto_pid"; wait "$moto_pid" 2>/dev/null || true
want=$(printf 'args: --handler app.handler\nDB_PASSWORD=from-layer')
[ "$got" = "$want" ] || { echo "FAIL: the wrapper gave: $got" >&2; exit 1; }
echo "lambda layer: the wrapper execs the bootstrap with its arguments and the secrets: OK"
}

# Release tarballs per architecture (binary, man page, completions, README,
# license), reproducible (sorted, owner 0, fixed mtime, gzip -n), a
# SHA256SUMS over every artifact in target/packages, and the Homebrew
# formula filled in with the tarballs' checksums. Checked: the listing,
# the checksums, and the x86-64 binary run from its unpacked tarball.
tarball() {
echo "== tarball"
sums=()
for arch in x86_64 aarch64; do
    case $arch in x86_64) tar_bin=$bin ;; aarch64) arm_ready; tar_bin=$arm_bin ;; esac
    name=secretexec-$version-$arch-linux-musl
    dir=$out/tar/$name
    rm -rf "$out/tar" && mkdir -p "$dir/completions"
    install -m755 "$tar_bin" "$dir/secretexec"
    install -m644 packaging/man/secretexec.1 README.md LICENSE "$dir/"
    install -m644 packaging/completions/secretexec.bash packaging/completions/_secretexec \
        packaging/completions/secretexec.fish "$dir/completions/"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$out/tar" -cf - "$name" \
        | gzip -9n > "$out/$name.tar.gz"
    listing=$(tar -tzf "$out/$name.tar.gz" | sort | tr '\n' ' ')
    want="$name/ $name/LICENSE $name/README.md $name/completions/ $name/completions/_secretexec $name/completions/secretexec.bash $name/completions/secretexec.fish $name/secretexec $name/secretexec.1 "
    [ "$listing" = "$want" ] || { echo "FAIL: $name.tar.gz holds: $listing" >&2; exit 1; }
    sums+=("$(sha256sum "$out/$name.tar.gz" | cut -d' ' -f1)")
done
rm -rf "$out/tar" && mkdir -p "$out/tar"
tar -xzf "$out/secretexec-$version-x86_64-linux-musl.tar.gz" -C "$out/tar"
"$out/tar/secretexec-$version-x86_64-linux-musl/secretexec" --version | grep -qx "secretexec $version"
sed -e "s|@VERSION@|$version|g" -e "s|@SHA256_X86_64@|${sums[0]}|" -e "s|@SHA256_AARCH64@|${sums[1]}|" \
    -e "s|@BASE_URL@|${RELEASE_BASE_URL:-https://example.invalid/secretexec/releases/download/v$version}|g" \
    packaging/homebrew/secretexec.rb.in > "$out/secretexec.rb"
grep -q "${sums[1]}" "$out/secretexec.rb"
# The SBOM of what the binary is built from (CycloneDX from Cargo.lock by
# cargo-cyclonedx; build-time crates left out).
cargo cyclonedx --format json --no-build-deps --target "$musl" --override-filename secretexec-sbom -q
mv secretexec-sbom.json "$out/secretexec-$version.cdx.json"
python3 -c 'import json, sys
bom = json.load(open(sys.argv[1]))
names = {c["name"] for c in bom["components"]}
assert bom["bomFormat"] == "CycloneDX", bom["bomFormat"]
assert {"aws-sdk-secretsmanager", "aws-sdk-ssm", "rustls", "tokio"} <= names, names
print("SBOM: CycloneDX", bom["specVersion"] + ",", len(names), "components")' "$out/secretexec-$version.cdx.json"
(cd "$out" && find . -maxdepth 1 -type f \( -name '*.tar.gz' -o -name '*.zip' -o -name '*.deb' \
    -o -name '*.rpm' -o -name '*.whl' -o -name '*.oci.tar' -o -name '*.cdx.json' -o -name 'secretexec.rb' \) -printf '%f\n' | sort \
    | xargs sha256sum > SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
echo "tarballs, SHA256SUMS ($(wc -l < "$out/SHA256SUMS") files) and the Homebrew formula: OK"
}

# Channels named on the command line (container deb rpm wheel lambda
# tarball), or all; the tarball channel comes last, its SHA256SUMS covers
# every artifact.
for channel in "${@:-container deb rpm wheel lambda tarball}"; do
    for c in $channel; do
        case $c in
            container) container ;;
            deb) deb ;;
            rpm) rpm_package ;;
            wheel) wheel ;;
            lambda) lambda_layer ;;
            tarball) tarball ;;
            *) echo "unknown channel $c (container deb rpm wheel lambda tarball)" >&2; exit 2 ;;
        esac
    done
done
