#!/usr/bin/env bash
# Tests the image deploy/image/build.sh wrote, from the OCI layout alone: the image configuration
# (entrypoint, cmd, user, labels, platform), then unpacks it with umoci and runs the binary from
# its root filesystem (chroot in fresh mount/PID/network/UTS/IPC namespaces, as root like the
# DaemonSet): `perouter --version` matches the labels, `perouter check` accepts the bundled
# example, `perouter crds` prints deploy/crds.yaml. Also: the binary is stripped, the root
# filesystem holds no shell and nothing but what build.sh puts there.
#
# Usage: deploy/image/test.sh [OUT_DIR] [TAG]    (root; defaults: target/image/oci, its only tag)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/target/image/oci}"
TAG="${2:-$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$OUT/index.json")}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# expect NAME ACTUAL EXPECTED
expect() {
    if [ "$2" = "$3" ]; then ok "$1: $2"; else fail "$1: got '$2', want '$3'"; fi
}

# --- the image configuration, read from the layout's blobs ------------------------------------
blob() { echo "$OUT/blobs/${1%%:*}/${1#*:}"; }
manifest_digest="$(jq -r --arg t "$TAG" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$OUT/index.json")"
[ -n "$manifest_digest" ] || { echo "FAIL no tag $TAG in $OUT/index.json"; exit 1; }
manifest="$(blob "$manifest_digest")"
config="$(blob "$(jq -r .config.digest "$manifest")")"
expect "manifest media type" "$(jq -r --arg d "$manifest_digest" '.manifests[] | select(.digest == $d) | .mediaType' "$OUT/index.json")" \
    "application/vnd.oci.image.manifest.v1+json"
expect "layers" "$(jq '.layers | length' "$manifest")" "2"
expect "platform" "$(jq -r '.os + "/" + .architecture' "$config")" "linux/amd64"
expect "entrypoint" "$(jq -c .config.Entrypoint "$config")" '["/usr/local/bin/perouter"]'
expect "cmd" "$(jq -c .config.Cmd "$config")" '["run"]'
expect "user" "$(jq -r .config.User "$config")" "0:0"
expect "label title" "$(jq -r '.config.Labels["org.opencontainers.image.title"]' "$config")" "perouter"
expect "label licenses" "$(jq -r '.config.Labels["org.opencontainers.image.licenses"]' "$config")" "Apache-2.0"
version="$(jq -r '.config.Labels["org.opencontainers.image.version"]' "$config")"
revision="$(jq -r '.config.Labels["org.opencontainers.image.revision"]' "$config")"
expect "tag is the version label" "$TAG" "$version"
# deploy/Dockerfile (for Docker users) configures the same: entrypoint, cmd, user, label keys, version.
dockerfile="$ROOT/deploy/Dockerfile"
expect "Dockerfile ENTRYPOINT" "$(sed -n 's/^ENTRYPOINT //p' "$dockerfile" | jq -c .)" "$(jq -c .config.Entrypoint "$config")"
expect "Dockerfile CMD" "$(sed -n 's/^CMD //p' "$dockerfile" | jq -c .)" "$(jq -c .config.Cmd "$config")"
expect "Dockerfile USER" "$(sed -n 's/^USER //p' "$dockerfile")" "$(jq -r .config.User "$config")"
expect "Dockerfile PEROUTER_VERSION" "$(sed -n 's/^ARG PEROUTER_VERSION=//p' "$dockerfile")" "$version"
expect "Dockerfile label keys" \
    "$(grep -oE 'org\.opencontainers\.image\.[a-z]+' "$dockerfile" | sort -u | xargs)" \
    "$(jq -r '.config.Labels | keys[] | select(. != "org.opencontainers.image.created")' "$config" | sort | xargs)"
# The installation runs this version: deploy/kustomization.yaml pins the image tag to it.
expect "deploy/kustomization.yaml image tag" \
    "$(grep -A2 -- '- name: ghcr.io/perouter/perouter' "$ROOT/deploy/kustomization.yaml" | sed -n 's/^ *newTag: *//p')" "$version"
# Every layer blob is what the manifest says (digest and size).
for d in $(jq -r '.layers[].digest, .config.digest' "$manifest"); do
    f="$(blob "$d")"
    if [ "sha256:$(sha256sum "$f" | cut -d' ' -f1)" = "$d" ]; then ok "blob $d"; else fail "blob $d: digest mismatch"; fi
done

# --- the root filesystem ----------------------------------------------------------------------
umoci unpack --image "$OUT:$TAG" "$WORK/bundle" >/dev/null
rootfs="$WORK/bundle/rootfs"
bin="$rootfs/usr/local/bin/perouter"
if [ -x "$bin" ]; then ok "binary at /usr/local/bin/perouter"; else fail "no executable /usr/local/bin/perouter"; fi
sections="$(readelf -S --wide "$bin")"
# (.debug_gdb_scripts is a loader hint rustc emits, not debug information.)
unstripped='\.(symtab|debug_(info|line|str|abbrev|aranges|ranges|rnglists|loc|loclists|frame))\b'
if grep -qE "$unstripped" <<<"$sections"; then
    fail "binary is not stripped: $(grep -oE "$unstripped" <<<"$sections" | sort -u | xargs)"
else
    ok "binary is stripped (no .symtab, no .debug_*), $(stat -c %s "$bin") bytes"
fi
present=""
for f in /bin/sh /bin/bash /usr/bin/sh /usr/bin/apt-get /usr/bin/dpkg; do
    if [ -e "$rootfs$f" ]; then present="$present $f"; fi
done
if [ -z "$present" ]; then ok "no shell, no package manager"; else fail "the image has$present"; fi
unexpected="$(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 | sort | grep -vxE '\./(etc|home|lib|lib64|root|tmp|usr|var)' || true)"
if [ -z "$unexpected" ]; then ok "top-level entries"; else fail "unexpected top-level entries: $unexpected"; fi
expect "/tmp mode" "$(stat -c %a "$rootfs/tmp")" "1777"
if grep -qx 'root:x:0:0:root:/root:/sbin/nologin' "$rootfs/etc/passwd"; then ok "/etc/passwd has root"; else fail "/etc/passwd has no root"; fi

# Runs the image's binary from its root filesystem, as the image's user, isolated from the host's
# mounts, processes and network (the chroot has no /proc, /dev or /sys: perouter needs none of
# them for these commands).
in_image() {
    unshare --mount --pid --net --uts --ipc --fork chroot --userspec=0:0 "$rootfs" /usr/local/bin/perouter "$@"
}
out="$(in_image --version)"
expect "perouter --version in the image" "$out" "perouter $version ($revision)"
if out="$(in_image check /usr/share/perouter/examples/static 2>&1)"; then
    if grep -q '^resources: all valid$' <<<"$out" && grep -q 'VTEP 100.65.0.0/32' <<<"$out"; then
        ok "perouter check /usr/share/perouter/examples/static: all valid, plan printed"
    else
        fail "perouter check printed an unexpected plan: $out"
    fi
else
    fail "perouter check /usr/share/perouter/examples/static exited $?: $out"
fi
if in_image crds | diff -q - "$ROOT/deploy/crds.yaml" >/dev/null; then
    ok "perouter crds in the image prints deploy/crds.yaml"
else
    fail "perouter crds in the image differs from deploy/crds.yaml"
fi

echo "image $OUT:$TAG: $(jq '[.layers[].size] | add' "$manifest") bytes compressed, $(du -sb "$rootfs" | cut -f1) bytes unpacked"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
