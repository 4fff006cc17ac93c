#!/usr/bin/env bash
# Runs lab scripts that need a VRF-capable kernel (CONFIG_NET_VRF) inside ONE virtme-ng guest with
# Debian's kernel, one after the other, so the ~40 s emulated boot is paid once for all of them.
#
#   interop/frr-lab/guest-labs.sh [--fib-tests] SCRIPT...
#
# SCRIPT is a lab script of interop/frr-lab/ (e.g. e2e-l3vni.sh) or a path; each runs in the guest
# with PEROUTER pointing at a private copy of the binary (found the way every lab finds it:
# $PEROUTER_BIN, else target/release, else target/debug, else a release build). --fib-tests first
# runs perouter-fib's guest_vrf test binaries (crates/fib/tests/guest). Exits non-zero when any
# script failed or the guest did not report a verdict for every one; prints each one's status and
# time. KEEP=1 is passed to the scripts (they keep their labs' logs), and so are ROUTES, DUTS,
# COUNTS, LIMIT, BENCH_BIN, SAVE_LOGS and UNDERLAY_KIND (the bench scripts' sizes, binary and a host
# directory for their logs; upstream-vrf.sh's underlay NIC). GUEST_MEMORY sets the guest's memory
# (default 3G; the PE job at 1M routes wants 8G). BOOT_TIMEOUT (default 300 s: a boot with no sign
# of the guest is killed and tried once more) and GUEST_TIMEOUT (default 3600 s: the whole run)
# bound a stuck guest.
#
# Needs (once): apt-get install -y qemu-system-x86 linux-image-amd64 busybox-static frr jq bc iputils-ping
#               pip install virtme-ng
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

fib_tests=0
scripts=()
for a in "$@"; do
    case $a in
    --fib-tests) fib_tests=1 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *)
        if [[ -f $a ]]; then scripts+=("$(cd "$(dirname "$a")" && pwd)/$(basename "$a")")
        elif [[ -f $here/$a ]]; then scripts+=("$here/$a")
        else echo "guest-labs: no lab script $a (neither a path nor in $here)" >&2; exit 2
        fi ;;
    esac
done
((${#scripts[@]} > 0 || fib_tests)) || { echo "guest-labs: nothing to run (see --help)" >&2; exit 2; }

kernel="${PEROUTER_GUEST_KERNEL:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$kernel" || ! -f "$kernel" ]]; then
    echo "guest-labs: no guest kernel (/boot/vmlinuz-*-amd64); apt-get install -y linux-image-amd64" >&2
    exit 2
fi
command -v vng >/dev/null || { echo "guest-labs: vng missing; pip install virtme-ng" >&2; exit 2; }
for t in /usr/lib/frr/bgpd jq bc ping python3; do
    command -v "$t" >/dev/null || [[ -x $t ]] || { echo "guest-labs: $t missing" >&2; exit 2; }
done

LAB=guest-labs
. "$here/lib.sh"
lab_find_perouter
# A private copy: the guest sees the host's filesystem live, and a concurrent build must not swap
# the binary under a running test.
bindir="$(mktemp -d /tmp/perouter-guest-labs-bin.XXXXXX)"
log="$(mktemp /tmp/perouter-guest-labs.XXXXXX.log)"
trap 'rm -rf "$bindir"' EXIT
cp "$PEROUTER" "$bindir/perouter"

# Every unit prints `GUEST-LAB-RESULT NAME RC SECONDS` when it ends; a missing line is a failure.
expected=()
cmd="echo GUEST-KERNEL \$(uname -r); export PEROUTER=$bindir/perouter PEROUTER_BIN=$bindir/perouter KEEP=${KEEP:-} RUST_BACKTRACE=1;"
for v in ROUTES DUTS COUNTS LIMIT BENCH_BIN SAVE_LOGS UNDERLAY_KIND; do
    if [[ -n ${!v:-} ]]; then cmd+=" export $v=$(printf '%q' "${!v}");"; fi
done
if ((fib_tests)); then
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
    [[ -n "$tests" ]] || { echo "guest-labs: guest_vrf test binary not found" >&2; exit 2; }
    cmd+=" s=\$(date +%s); rc=0; (cd $root/crates/fib && export PEROUTER_GUEST=1 && set -e &&"
    for t in $tests; do cmd+=" $t --test-threads=1 --nocapture &&"; done
    cmd+=" true) || rc=\$?; echo GUEST-LAB-RESULT fib-guest-tests \$rc \$((\$(date +%s) - s));"
    expected+=(fib-guest-tests)
fi
for s in "${scripts[@]}"; do
    name="$(basename "$s" .sh)"
    cmd+=" s=\$(date +%s); rc=0; bash $s || rc=\$?; echo GUEST-LAB-RESULT $name \$rc \$((\$(date +%s) - s));"
    expected+=("$name")
done

# The guest runs the command from a file: virtme-ng passes --exec on the kernel command line,
# which x86 cuts at 2048 bytes (COMMAND_LINE_SIZE); with nine labs it was 2783 and the guest
# hung at boot, qemu idle.
printf '%s\n' "$cmd" > "$bindir/guest-run.sh"
echo "guest-labs: booting $kernel (emulated) for: ${expected[*]}"
start=$(date +%s)
set +e
rw=()
if [[ -n ${SAVE_LOGS:-} ]]; then mkdir -p "$SAVE_LOGS"; rw=(--rwdir "$SAVE_LOGS"); fi
# One boot, watched: the guest prints GUEST-KERNEL as its first command; a boot that shows no
# sign of it within BOOT_TIMEOUT seconds is killed (a virtme-ng boot once hung here with qemu
# idle, 5 s of CPU in 32 minutes) and tried once more, and the whole run is killed after
# GUEST_TIMEOUT seconds, so a stuck guest fails the run with a reason instead of eating CI's
# budget. The output is shown as it comes.
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-3600}
boot() {
    : > "$log"
    # setsid: vng leads a process group of its own (virtme-run, qemu), killed as one. Through a
    # pipe: qemu reopens its stdout and stderr (/proc/self/fd/1 and 2) as four separate files;
    # on a regular file each write lands at its own offset from 0 and they overwrite each other
    # (a guest's stderr line once erased GUEST-KERNEL and the results), on a pipe they queue.
    setsid bash -c '"$@" < /dev/null 2>&1 | cat' guest-vng \
        vng --run "$kernel" --user root --disable-kvm --cpus 2 --memory "${GUEST_MEMORY:-3G}" \
        "${rw[@]}" --exec "bash $bindir/guest-run.sh" > "$log" 2>&1 < /dev/null &
    local pid=$! waited=0 why=""
    tail -n +1 -f --pid=$pid "$log" &
    local tailpid=$!
    while kill -0 $pid 2>/dev/null; do
        if ((waited >= BOOT_TIMEOUT)) && ! grep -q '^GUEST-KERNEL' "$log"; then
            why="no sign of the guest after $BOOT_TIMEOUT s"
        elif ((waited >= GUEST_TIMEOUT)); then
            why="the guest ran longer than GUEST_TIMEOUT=$GUEST_TIMEOUT s"
        fi
        if [[ -n $why ]]; then
            echo "guest-labs: $why: killing the guest"
            kill -TERM -- -$pid 2>/dev/null; sleep 2; kill -KILL -- -$pid 2>/dev/null
            wait $pid 2>/dev/null; wait $tailpid 2>/dev/null
            [[ $why == no\ sign* ]] && return 125
            return 124
        fi
        sleep 2
        waited=$((waited + 2))
    done
    wait $pid
    local rc=$?
    wait $tailpid 2>/dev/null
    return $rc
}
boot
if (($? == 125)); then
    echo "guest-labs: booting again (once)"
    boot
fi
set -e
took=$(($(date +%s) - start))
guest_kernel="$(sed -n 's/^GUEST-KERNEL \(.*\)$/\1/p' "$log" | tr -d '\r' | head -n 1)"
echo
echo "guest-labs: ran in virtme-ng guest, kernel ${guest_kernel:-unknown} (${took} s including boot)"
rc=0
for name in "${expected[@]}"; do
    line="$(tr -d '\r' < "$log" | grep -E "^GUEST-LAB-RESULT $name [0-9]+ [0-9]+$" | tail -n 1 || true)"
    if [[ -z $line ]]; then
        printf '  %-28s NO VERDICT (the guest stopped before it ended)\n' "$name"; rc=1
    else
        read -r _ _ code secs <<<"$line"
        if [[ $code == 0 ]]; then printf '  %-28s passed  (%s s)\n' "$name" "$secs"
        else printf '  %-28s FAILED  rc=%s (%s s)\n' "$name" "$code" "$secs"; rc=1; fi
    fi
done
if ((rc == 0)); then rm -f "$log"; else echo "guest-labs: guest output kept in $log" >&2; fi
exit $rc
