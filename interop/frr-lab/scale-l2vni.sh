#!/usr/bin/env bash
# Upstream's L2VNI scale test (OpenPERouter e2etests/scale_tests), on this kernel: one node with N
# L2VNIs (no VRF, a managed Linux host bridge each) and an FRR ToR. For each N, perouter and FRR
# doing the node's job are measured in the same run, each from a fresh lab:
#
#   perouter   `perouter run` from OpenPERouter static files (it builds every device itself);
#              time from the process start to the ToR holding N type-3 routes from the node.
#   FRR 8.4    zebra + bgpd with `advertise-all-vni`, the devices (a bridge and a VXLAN device per
#              VNI, as FRR needs them) pre-built with one `ip -batch`; time from the daemons' start
#              to the ToR holding N type-3 routes, plus the `ip -batch` time, reported apart.
#   memory     the peak resident set (VmHWM) of perouter, of bgpd + zebra for FRR.
#
#   cargo build --release -p perouter-agent --bin perouter
#   COUNTS="1 50 150 250 500" flock /tmp/perouter-lab.lock interop/frr-lab/scale-l2vni.sh
#
# Prints a table and one SCALE-JSON line per count. Exit status non-zero when a DUT does not reach
# N routes at the ToR within LIMIT seconds (default 120). CI runs COUNTS=50 as a smoke test.
set -u
LAB=scale
. "$(dirname "$0")/lib.sh"
lab_need_tools vtysh jq
lab_find_perouter
COUNTS=${COUNTS:-1 50 150 250 500}
LIMIT=${LIMIT:-120}
TAG=scl$$
DIR=$(mktemp -d /tmp/perouter-scale.XXXXXX)
chmod 755 "$DIR"
FAIL=0
declare -A RESULT
PR_PID=""

teardown() {
  [ -n "$PR_PID" ] && { kill "$PR_PID" 2>/dev/null; wait "$PR_PID" 2>/dev/null; PR_PID=""; }
  lab_kill_pidfiles "$DIR"
  sleep 0.3
  for n in $(ip netns list | awk '{print $1}' | grep "^$TAG"); do ip netns del "$n" 2>/dev/null; done
  rm -f "$DIR"/*/*.pid
}
cleanup() { teardown; if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi; }
trap cleanup EXIT

# The ToR (AS 64512, 192.168.11.2) and the node's side of the link in namespace NODE-NS.
tor_up() { # RUN NODE-NS NODE-IF
  local run=$1 tor=${TAG}tor$1
  ip netns add "$tor"; ip -n "$tor" link set lo up
  ip netns add "$2" 2>/dev/null; ip -n "$2" link set lo up
  ip link add "$3" netns "$2" type veth peer name eth0 netns "$tor"
  ip -n "$2" addr add 192.168.11.3/24 dev "$3"; ip -n "$2" link set "$3" up
  ip -n "$tor" addr add 192.168.11.2/24 dev eth0; ip -n "$tor" link set eth0 up
  mkdir -p "$DIR/tor$run"
  cat > "$DIR/tor$run/frr.conf" <<CONF
hostname tor
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 neighbor 192.168.11.3 advertisement-interval 0
 address-family l2vpn evpn
  neighbor 192.168.11.3 activate
 exit-address-family
CONF
  lab_start_frr "${TAG}tor$run" "$tor" "$DIR/tor$run"
}
tor_count() { # RUN: EVPN prefixes the ToR holds from the node
  lab_vty "$DIR/tor$1" "show bgp l2vpn evpn summary json" 2>/dev/null |
    jq -r '.peers["192.168.11.3"].pfxRcd // 0' 2>/dev/null || echo 0
}
wait_count() { # RUN N T0 -> prints ms from T0, or "timeout"
  local deadline=$(( $(date +%s) + LIMIT ))
  while [ "$(date +%s)" -lt $deadline ]; do
    if [ "$(tor_count "$1")" -ge "$2" ]; then echo $(( ($(date +%s%N) - $3) / 1000000 )); return; fi
    sleep 0.05
  done
  echo timeout
}
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

run_perouter() { # N -> sets PR_MS PR_MB PR_MSGS
  local n=$1 run=pr$1 host=${TAG}prhost pe=${TAG}prpe c="$DIR/pr$1/cfg" i t0
  tor_up "$run" "$host" toswitch1
  lab_underlay "$c" toswitch1 "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
  { echo "l2vnis:"
    for i in $(seq 1 "$n"); do
      echo "  - {name: l2-$i, vni: $((1000 + i)), hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}"
    done; } > "$c/configs/openpe_l2vni.yaml"
  echo "nodeIndex: {index: 0}" > "$c/node-config.yaml"
  t0=$(date +%s%N)
  RUST_LOG=${RUST_LOG:-info} "$PEROUTER" run --config-dir "$c" --router-netns "$pe" --host-netns "$host" \
    --api-socket "$DIR/pr$1/api.sock" --config-poll 1 >"$DIR/pr$1/perouter.log" 2>&1 &
  PR_PID=$!
  PR_MS=$(wait_count "$run" "$n" "$t0")
  sleep 1
  PR_MB=$(( $(hwm_kb "$PR_PID") / 1024 ))
  PR_MSGS=$(sed 's/\x1b\[[0-9;]*m//g' "$DIR/pr$1/perouter.log" | grep -oE 'netlink_messages=[0-9]+' |
    awk -F= '{s += $2} END {print s + 0}')
  PR_DEV=$(ip -n "$pe" -d link show type vxlan 2>/dev/null | grep -c 'vxlan id')
  teardown
}

run_frr() { # N -> sets FRR_MS FRR_MB FRR_BATCH_MS
  local n=$1 run=fr$1 node=${TAG}frnode i t0 t1
  tor_up "$run" "$node" eth1
  ip -n "$node" addr add 100.65.0.0/32 dev lo
  for i in $(seq 1 "$n"); do
    echo "link add br$i type bridge"
    echo "link add vx$i type vxlan id $((1000 + i)) local 100.65.0.0 dstport 4789 nolearning"
    echo "link set vx$i master br$i"
    echo "link set br$i up"
    echo "link set vx$i up"
  done > "$DIR/fr$1.batch"
  t0=$(date +%s%N)
  ip -n "$node" -batch "$DIR/fr$1.batch"
  t1=$(date +%s%N)
  FRR_BATCH_MS=$(( (t1 - t0) / 1000000 ))
  mkdir -p "$DIR/frnode$1"
  cat > "$DIR/frnode$1/frr.conf" <<CONF
hostname node
router bgp 64514
 bgp router-id 100.65.0.0
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.2 remote-as 64512
 neighbor 192.168.11.2 timers 3 9
 neighbor 192.168.11.2 advertisement-interval 0
 address-family ipv4 unicast
  network 100.65.0.0/32
  neighbor 192.168.11.2 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 192.168.11.2 activate
  advertise-all-vni
 exit-address-family
CONF
  t0=$(date +%s%N)
  lab_start_frr "${TAG}fr$1node" "$node" "$DIR/frnode$1"
  FRR_MS=$(wait_count "$run" "$n" "$t0")
  sleep 1
  FRR_MB=$(( ($(hwm_kb "$(cat "$DIR/frnode$1/bgpd.pid")") + $(hwm_kb "$(cat "$DIR/frnode$1/zebra.pid")")) / 1024 ))
  teardown
}

ROWS=()
for n in $COUNTS; do
  say "N=$n: perouter"
  run_perouter "$n"
  say "N=$n: perouter ${PR_MS} ms, peak ${PR_MB} MB, ${PR_MSGS} netlink messages, ${PR_DEV} VXLAN devices"
  check "perouter-$n-type3-at-tor" test "$PR_MS" != timeout
  check "perouter-$n-devices" test "$PR_DEV" -eq "$n"
  say "N=$n: FRR"
  run_frr "$n"
  say "N=$n: FRR ${FRR_MS} ms (+ ip -batch ${FRR_BATCH_MS} ms), peak ${FRR_MB} MB"
  check "frr-$n-type3-at-tor" test "$FRR_MS" != timeout
  ROWS+=("$(printf '%6s %14s %10s %14s %16s %10s %10s' "$n" "$PR_MS" "$PR_MB" "$PR_MSGS" "$FRR_MS" "$FRR_BATCH_MS" "$FRR_MB")")
  echo "SCALE-JSON {\"vnis\":$n,\"perouter\":{\"ms\":\"$PR_MS\",\"peak_mb\":$PR_MB,\"netlink_messages\":$PR_MSGS},\"frr\":{\"ms\":\"$FRR_MS\",\"batch_ms\":$FRR_BATCH_MS,\"peak_mb\":$FRR_MB}}"
done

teardown
no_daemon_left() { ! pgrep -f "[-]N ${TAG}" >/dev/null; }
check nothing-left-running no_daemon_left

echo
say "L2VNI scale: start -> every type-3 route at the ToR (perouter: $PEROUTER)"
printf '%6s %14s %10s %14s %16s %10s %10s\n' VNIs "perouter ms" "peak MB" "netlink msgs" "FRR ms" "ip-batch" "peak MB"
printf '%s\n' "${ROWS[@]}"
lab_results 30
exit $FAIL
