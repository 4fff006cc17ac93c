#!/usr/bin/env bash
# Builds the perouter OCI image without a container daemon: umoci writes an OCI image layout from
# a root filesystem assembled here. Same contents and configuration as deploy/Dockerfile (which
# stays for Docker users), with one difference: the runtime base is not pulled from
# gcr.io/distroless/cc-debian12 but assembled from this machine's Debian 12 packages (see
# deploy/README.md, "The image").
#
# Two layers, like the Dockerfile's base + COPY:
#   1. base: the ELF interpreter and the shared libraries `ldd` lists for the binary (glibc,
#      libgcc_s), with their Debian copyright files and dpkg status entries (status.d/, as in
#      distroless, so scanners see the package versions), /etc/os-release, /etc/passwd and
#      /etc/group (root, nobody, nonroot 65532), /etc/nsswitch.conf, CA certificates, /tmp;
#   2. app: /usr/local/bin/perouter (stripped) and the static example /usr/share/perouter/examples.
# Config: entrypoint /usr/local/bin/perouter, cmd run, user 0:0, OCI labels (version, revision).
#
# Usage: deploy/image/build.sh [BINARY] [OUT_DIR] [TAG]
#   BINARY   default target/release/perouter (a debug binary works too: it is stripped here)
#   OUT_DIR  the OCI layout to write, default target/image/oci (replaced)
#   TAG      default the version `perouter --version` prints
# Then: skopeo copy oci:OUT_DIR:TAG docker://REGISTRY/perouter:TAG   (or docker-archive:, for docker load)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BINARY="${1:-$ROOT/target/release/perouter}"
OUT="${2:-$ROOT/target/image/oci}"
command -v umoci >/dev/null || { echo "build.sh: umoci is missing (apt-get install umoci)" >&2; exit 1; }
[ -x "$BINARY" ] || { echo "build.sh: no binary at $BINARY (cargo build --release -p perouter-agent --bin perouter)" >&2; exit 1; }

# "perouter 0.1.0 (0123456789ab)"
read -r _ VERSION COMMIT < <("$BINARY" --version)
COMMIT="${COMMIT#(}"; COMMIT="${COMMIT%)}"
TAG="${3:-$VERSION}"
# Reproducible timestamps: the commit's time when there is one, else now.
EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"
CREATED="$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
BASE="$WORK/base"
APP="$WORK/app"
mkdir -p "$BASE" "$APP"

# --- layer 1: the runtime base -------------------------------------------------------------
# The interpreter and every shared library the binary needs, at the paths ldd resolves them to
# (the interpreter's default search path covers /lib/x86_64-linux-gnu, no ld.so.cache needed).
libs=()
while read -r line; do
    case "$line" in
        *"=> not found"*) echo "build.sh: $line" >&2; exit 1 ;;
        *"=> /"*) p="${line#*=> }"; libs+=("${p%% (*}") ;;
        /*) libs+=("${line%% (*}") ;;
    esac
done < <(ldd "$BINARY")
packages=()
for lib in "${libs[@]}"; do
    install -D -m 0755 "$(readlink -f "$lib")" "$BASE$lib"
    # The package that owns the library (through a usrmerge symlink if needed).
    pkg="$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true)"
    pkg="${pkg%%:*}"
    if [ -n "$pkg" ]; then
        packages+=("$pkg=$(dpkg-query -W -f='${Version}' "$pkg")")
    fi
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
for entry in "${packages[@]}"; do
    pkg="${entry%%=*}"
    install -D -m 0644 /dev/null "$BASE/var/lib/dpkg/status.d/$pkg"
    dpkg-query -s "$pkg" >"$BASE/var/lib/dpkg/status.d/$pkg"
    copyright="/usr/share/doc/$pkg/copyright"
    if [ -f "$copyright" ]; then
        install -D -m 0644 "$copyright" "$BASE$copyright"
    fi
done
install -D -m 0644 /etc/os-release "$BASE/etc/os-release"
printf '%s\n' \
    'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$BASE/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$BASE/etc/group"
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$BASE/etc/nsswitch.conf"
chmod 0644 "$BASE/etc/passwd" "$BASE/etc/group" "$BASE/etc/nsswitch.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$BASE/etc/ssl/certs/ca-certificates.crt"
fi
install -d -m 1777 "$BASE/tmp"
install -d -m 0700 "$BASE/root"
install -d -m 0700 -o 65532 -g 65532 "$BASE/home/nonroot"

# --- layer 2: perouter -----------------------------------------------------------------------
install -D -m 0755 "$BINARY" "$APP/usr/local/bin/perouter"
strip --strip-all "$APP/usr/local/bin/perouter"
mkdir -p "$APP/usr/share/perouter/examples"
cp -r "$ROOT/examples/static" "$APP/usr/share/perouter/examples/static"
chmod -R u=rwX,go=rX "$APP/usr/share"

find "$BASE" "$APP" -exec touch -h -d "@$EPOCH" {} +

# --- the image -------------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
umoci init --layout "$OUT"
umoci new --image "$OUT:$TAG"
umoci insert --image "$OUT:$TAG" --history.created "$CREATED" \
    --history.created_by "deploy/image/build.sh: runtime base (Debian $(cat /etc/debian_version): ${packages[*]})" \
    "$BASE" /
umoci insert --image "$OUT:$TAG" --history.created "$CREATED" \
    --history.created_by "deploy/image/build.sh: perouter $VERSION ($COMMIT)" \
    "$APP" /
umoci config --image "$OUT:$TAG" --no-history \
    --created "$CREATED" \
    --os linux --architecture amd64 \
    --config.entrypoint /usr/local/bin/perouter \
    --config.cmd run \
    --config.user 0:0 \
    --config.workingdir / \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.label org.opencontainers.image.title=perouter \
    --config.label "org.opencontainers.image.description=EVPN provider-edge router for Kubernetes nodes" \
    --config.label org.opencontainers.image.version="$VERSION" \
    --config.label org.opencontainers.image.revision="$COMMIT" \
    --config.label org.opencontainers.image.licenses=Apache-2.0 \
    --config.label org.opencontainers.image.created="$CREATED"
umoci gc --layout "$OUT"

echo "built $OUT:$TAG (perouter $VERSION, commit $COMMIT)"
echo "layers (compressed): $(du -cb "$OUT"/blobs/sha256/* | tail -1 | cut -f1) bytes in the layout"
