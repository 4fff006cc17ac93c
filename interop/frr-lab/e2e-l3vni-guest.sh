#!/usr/bin/env bash
# Runs the L3VNI end-to-end test (e2e-l3vni.sh) inside ONE virtme-ng guest with Debian's kernel,
# which has CONFIG_NET_VRF (kernels without it cannot create VRF devices).
#
# Builds `perouter` on the host, boots the guest (it sees the host filesystem, so the binary, FRR
# and the script run there as they are), and exits non-zero when any check failed or the guest
# did not report a verdict.
#
# Needs (once): apt-get install -y qemu-system-x86 linux-image-amd64 busybox-static frr jq bc iputils-ping
#               pip install virtme-ng
# Usage: interop/frr-lab/e2e-l3vni-guest.sh      (KEEP=1 keeps the guest's logs in /tmp;
#        the perouter log's tail is printed on any failure)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

kernel="${PEROUTER_GUEST_KERNEL:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$kernel" || ! -f "$kernel" ]]; then
    echo "e2e-l3vni-guest: no guest kernel (/boot/vmlinuz-*-amd64); apt-get install -y linux-image-amd64" >&2
    exit 2
fi
command -v vng >/dev/null || { echo "e2e-l3vni-guest: vng missing; pip install virtme-ng" >&2; exit 2; }
for t in /usr/lib/frr/bgpd jq bc ping python3; do
    command -v "$t" >/dev/null || [[ -x $t ]] || { echo "e2e-l3vni-guest: $t missing" >&2; exit 2; }
done

# The binary the way every lab finds it (lib.sh): $PEROUTER_BIN, else target/release, else
# target/debug (what `cargo test --workspace` built in CI), else a release build.
LAB=e2e-l3vni-guest
. "$here/lib.sh"
lab_find_perouter
# A private copy: the guest sees the host's filesystem live, and a concurrent build must not
# swap the binary under the running test.
bindir="$(mktemp -d /tmp/perouter-e2e-l3vni-bin.XXXXXX)"
trap 'rm -rf "$bindir"' EXIT
cp "$PEROUTER" "$bindir/perouter"
perouter="$bindir/perouter"

log="$(mktemp /tmp/perouter-e2e-l3vni-guest.XXXXXX.log)"
cmd="echo GUEST-KERNEL \$(uname -r); export PEROUTER=$perouter KEEP=${KEEP:-}; bash $here/e2e-l3vni.sh"
echo "e2e-l3vni-guest: booting $kernel (emulated; 2-4 minutes) ..."
start=$(date +%s)
set +e
vng --run "$kernel" --user root --disable-kvm --cpus 2 --memory 2G --exec "$cmd" 2>&1 | tee "$log"
set -e
took=$(($(date +%s) - start))
guest_kernel="$(sed -n 's/^GUEST-KERNEL \(.*\)$/\1/p' "$log" | tr -d '\r' | head -n 1)"
echo "ran in virtme-ng guest, kernel ${guest_kernel:-unknown} (${took} s including boot)"
if tr -d '\r' < "$log" | grep -qx 'E2E-L3VNI-PASSED'; then
    rm -f "$log"
    exit 0
fi
echo "e2e-l3vni-guest: FAILED (guest output kept in $log)" >&2
exit 1
