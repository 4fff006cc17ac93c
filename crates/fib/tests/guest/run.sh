#!/usr/bin/env bash
# Runs perouter-fib's VRF tests (and, with --bench, the 50-L3VNI build timing) inside ONE
# virtme-ng guest with Debian's kernel, which has CONFIG_NET_VRF (this host's kernel does not).
#
# Builds the test binaries on the host, boots the guest (it sees the host filesystem), runs
# them there with PEROUTER_GUEST=1 and exits with the guest's status: non-zero on any failure.
#
# Needs (once): apt-get install -y qemu-system-x86 linux-image-amd64 busybox-static
#               pip install virtme-ng
# Usage: crates/fib/tests/guest/run.sh [--bench]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cd "$root"

kernel="${PEROUTER_GUEST_KERNEL:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$kernel" || ! -f "$kernel" ]]; then
    echo "run.sh: no guest kernel (/boot/vmlinuz-*-amd64); apt-get install -y linux-image-amd64" >&2
    exit 2
fi
command -v vng >/dev/null || { echo "run.sh: vng missing; pip install virtme-ng" >&2; exit 2; }

# Build on the host; collect the executables of the guest test target.
json="$(cargo test -p perouter-fib --features guest-tests --no-run --message-format=json)"
tests="$(printf '%s\n' "$json" | python3 -c '
import json, sys
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
       and m["target"]["name"] == "guest_vrf" and m["profile"]["test"]:
        print(m["executable"])
')"
[[ -n "$tests" ]] || { echo "run.sh: guest_vrf test binary not found" >&2; exit 2; }

cmd="set -e; export PEROUTER_GUEST=1 RUST_BACKTRACE=1; echo guest kernel: \$(uname -r);"
cmd+=" cd $root/crates/fib;"
for t in $tests; do
    cmd+=" $t --test-threads=1 --nocapture;"
done
if [[ "${1:-}" == "--bench" ]]; then
    cargo build --release -p perouter-fib --example fib_bench
    cmd+=" $root/target/release/examples/fib_bench node --vnis 50;"
fi
cmd+=" echo GUEST-TESTS-PASSED"

echo "run.sh: booting $kernel (emulated, ~40 s) ..."
# vng's own exit status does not always carry the guest command's: the pass marker, printed only
# after every test binary succeeded (`set -e`), is what decides.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
vng --run "$kernel" --user root --disable-kvm --cpus 2 --memory 2G --exec "$cmd" 2>&1 | tee "$log"
if tr -d '\r' < "$log" | grep -qx 'GUEST-TESTS-PASSED'; then
    echo "run.sh: guest VRF tests passed"
else
    echo "run.sh: guest VRF tests FAILED (no GUEST-TESTS-PASSED marker from the guest)" >&2
    exit 1
fi
