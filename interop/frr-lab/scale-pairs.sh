#!/usr/bin/env bash
# Upstream's L2VNI+L3VNI pairs scale test (OpenPERouter e2etests/scale_tests), in the VRF guest: one
# node with N pairs and an FRR ToR. Pair i is an L3VNI red<i> (VRF red<i>, VNI 2000+i) and an L2VNI
# l2-<i> (VNI 1000+i, routingDomain L3VNI red<i>, gateway 10.<i/256>.<i%256>.1/24, a managed Linux
# host bridge). For each N, perouter and FRR doing the node's job are measured in the same run,
# each from a fresh lab:
#
#   perouter   `perouter run` from OpenPERouter static files (it builds every device itself);
#              time from the process start to the ToR holding the N type-3 routes of the L2VNIs
#              (no pair advertises a type-5: there is no host session and no prefix in the VRFs
#              but the gateways' connected subnets, which neither DUT redistributes).
#   FRR 8.4    zebra + bgpd, `vrf red<i> / vni 2000+i` and a `router bgp 64514 vrf red<i>` per pair,
#              `advertise-all-vni`; the devices (per pair a VRF, the L3VNI's bridge and VXLAN
#              device, the L2VNI's bridge with its gateway and VXLAN device) pre-built by one
#              `ip -batch`, its time reported apart; time from the daemons' start to the N type-3.
#   memory     the peak resident set (VmHWM) of perouter; of bgpd + zebra for FRR.
#
# Needs VRF devices (CONFIG_NET_VRF): run it in the virtme-ng guest:
#   cargo build --release -p perouter-agent --bin perouter
#   COUNTS="1 50 150 250 500" flock /tmp/perouter-guest.lock interop/frr-lab/guest-labs.sh scale-pairs.sh
#
# Prints a table and one PAIRS-JSON line per count. Exit status non-zero when a DUT does not reach
# N type-3 routes at the ToR within LIMIT seconds (default 300). CI's smoke: COUNTS=20.
# DUTS="perouter" skips FRR (the CI smoke). SAVE_LOGS=DIR copies each perouter log there (the guest's /tmp vanishes with the guest).
set -u
LAB=scale-pairs
. "$(dirname "$0")/lib.sh"
lab_need_tools vtysh jq
lab_find_perouter
COUNTS=${COUNTS:-1 50 150 250 500}
DUTS=${DUTS:-perouter frr}
LIMIT=${LIMIT:-300}
TAG=scp$$
DIR=$(mktemp -d /tmp/perouter-scale-pairs.XXXXXX)
chmod 755 "$DIR"
FAIL=0
PR_PID=""

if ! lab_has_vrf; then
  echo "scale-pairs: this kernel has no VRF support (CONFIG_NET_VRF); run it through guest-labs.sh" >&2
  exit 2
fi

teardown() {
  [ -n "$PR_PID" ] && { kill "$PR_PID" 2>/dev/null; wait "$PR_PID" 2>/dev/null; PR_PID=""; }
  lab_kill_pidfiles "$DIR"
  # FRR with hundreds of VRFs takes seconds to exit in the emulated guest: wait for it (30 s).
  for _ in $(seq 100); do pgrep -f "[-]N ${TAG}" >/dev/null || break; sleep 0.3; done
  for n in $(ip netns list | awk '{print $1}' | grep "^$TAG"); do ip netns del "$n" 2>/dev/null; done
  rm -f "$DIR"/*/*.pid
}
cleanup() { teardown; if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi; }
trap cleanup EXIT

gw() { echo "10.$(($1 / 256)).$(($1 % 256))"; } # I -> the first three octets of pair I's subnet

# The ToR (AS 64512, 192.168.11.2, EVPN only) and the node's side of the link in NODE-NS.
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
tor_type3() { # RUN: type-3 (inclusive multicast) routes the ToR holds
  lab_vty "$DIR/tor$1" "show bgp l2vpn evpn route type multicast json" 2>/dev/null |
    jq -r '.numPrefix // 0' 2>/dev/null || echo 0
}
wait_type3() { # RUN N T0 -> prints ms from T0, or "timeout"
  local deadline=$(( $(date +%s) + LIMIT ))
  while [ "$(date +%s)" -lt $deadline ]; do
    if [ "$(tor_type3 "$1")" -ge "$2" ]; then echo $(( ($(date +%s%N) - $3) / 1000000 )); return; fi
    sleep 0.1
  done
  echo timeout
}
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

run_perouter() { # N -> sets PR_MS PR_MB PR_MSGS PR_VRF PR_DEV
  local n=$1 run=pr$1 host=${TAG}prhost pe=${TAG}prpe c="$DIR/pr$1/cfg" i t0
  tor_up "$run" "$host" toswitch1
  lab_underlay "$c" toswitch1 "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
  { echo "l3vnis:"
    for i in $(seq 1 "$n"); do echo "  - {name: red$i, vrf: red$i, vni: $((2000 + i))}"; done; } > "$c/configs/openpe_l3vni.yaml"
  { echo "l2vnis:"
    for i in $(seq 1 "$n"); do
      echo "  - {name: l2-$i, vni: $((1000 + i)), routingDomain: {type: L3VNI, l3vni: {name: red$i}}, gatewayIPs: [$(gw "$i").1/24], hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}"
    done; } > "$c/configs/openpe_l2vni.yaml"
  echo "nodeIndex: {index: 0}" > "$c/node-config.yaml"
  t0=$(date +%s%N)
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$c" --router-netns "$pe" --host-netns "$host" \
    --api-socket "$DIR/pr$1/api.sock" --config-poll 1 >"$DIR/pr$1/perouter.log" 2>&1 &
  PR_PID=$!
  PR_MS=$(wait_type3 "$run" "$n" "$t0")
  sleep 1
  PR_MB=$(( $(hwm_kb "$PR_PID") / 1024 ))
  PR_MSGS=$(sed 's/\x1b\[[0-9;]*m//g' "$DIR/pr$1/perouter.log" | grep -oE 'netlink_messages=[0-9]+' |
    awk -F= '{s += $2} END {print s + 0}')
  PR_VRF=$(ip -n "$pe" -d link show type vrf 2>/dev/null | grep -c 'vrf table')
  PR_DEV=$(ip -n "$pe" -d link show type vxlan 2>/dev/null | grep -c 'vxlan id')
  # Pair 1's L2VNI bridge carries its gateway and sits in its VRF.
  PR_GW=$(ip -n "$pe" -o addr show 2>/dev/null | grep -c " $(gw 1).1/24 ")
  # SAVE_LOGS=DIR (a directory the host sees, unlike the guest's /tmp) keeps each perouter log.
  [ -n "${SAVE_LOGS:-}" ] && cp "$DIR/pr$1/perouter.log" "$SAVE_LOGS/scale-pairs-perouter-$1.log"
  if [ "$PR_MS" = timeout ]; then
    say "perouter N=$n: the ToR holds $(tor_type3 "$run") type-3"; lab_log_tail "$DIR/pr$1/perouter.log" 30
  fi
  teardown
}

run_frr() { # N -> sets FRR_MS FRR_MB FRR_BATCH_MS
  local n=$1 run=fr$1 node=${TAG}frnode i t0 t1 d="$DIR/frnode$1"
  tor_up "$run" "$node" eth1
  ip -n "$node" addr add 100.65.0.0/32 dev lo
  for i in $(seq 1 "$n"); do
    echo "link add red$i type vrf table $((10000 + i))"
    echo "link set red$i up"
    echo "link add l3br$i type bridge"
    echo "link set l3br$i master red$i addrgenmode none"
    echo "link add l3vx$i type vxlan id $((2000 + i)) local 100.65.0.0 dstport 4789 nolearning"
    echo "link set l3vx$i master l3br$i addrgenmode none"
    echo "link set l3br$i up"
    echo "link set l3vx$i up"
    echo "link add br$i type bridge"
    echo "link set br$i master red$i"
    echo "addr add $(gw "$i").1/24 dev br$i"
    echo "link add vx$i type vxlan id $((1000 + i)) local 100.65.0.0 dstport 4789 nolearning"
    echo "link set vx$i master br$i"
    echo "link set br$i up"
    echo "link set vx$i up"
  done > "$DIR/fr$1.batch"
  t0=$(date +%s%N)
  FRR_BATCH_RC=0
  ip -n "$node" -batch "$DIR/fr$1.batch" || FRR_BATCH_RC=$?
  t1=$(date +%s%N)
  FRR_BATCH_MS=$(( (t1 - t0) / 1000000 ))
  mkdir -p "$d"
  { for i in $(seq 1 "$n"); do printf 'vrf red%s\n vni %s\nexit-vrf\n' "$i" $((2000 + i)); done
    cat <<CONF
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
    for i in $(seq 1 "$n"); do
      printf 'router bgp 64514 vrf red%s\n bgp router-id 100.65.0.0\n address-family l2vpn evpn\n  advertise ipv4 unicast\n exit-address-family\n' "$i"
    done; } > "$d/frr.conf"
  t0=$(date +%s%N)
  lab_start_frr "${TAG}fr$1node" "$node" "$d"
  FRR_MS=$(wait_type3 "$run" "$n" "$t0")
  sleep 1
  FRR_MB=$(( ($(hwm_kb "$(cat "$d/bgpd.pid")") + $(hwm_kb "$(cat "$d/zebra.pid")")) / 1024 ))
  FRR_L3=$(lab_vty "$d" "show evpn vni json" | jq '[.[] | select(.type == "L3")] | length' 2>/dev/null || echo 0)
  if [ "$FRR_MS" = timeout ]; then say "FRR N=$n: the ToR holds $(tor_type3 "$run") type-3"; fi
  teardown
}

ROWS=()
for n in $COUNTS; do
  PR_MS=- PR_MB=- PR_MSGS=- FRR_MS=- FRR_BATCH_MS=- FRR_MB=-
  if [[ " $DUTS " == *" perouter "* ]]; then
    say "N=$n pairs: perouter"
    run_perouter "$n"
    say "N=$n: perouter ${PR_MS} ms, peak ${PR_MB} MB, ${PR_MSGS} netlink messages, ${PR_VRF} VRFs, ${PR_DEV} VXLAN devices"
    check "perouter-$n-type3-at-tor" test "$PR_MS" != timeout
    check "perouter-$n-vrfs" test "$PR_VRF" -eq "$n"
    check "perouter-$n-vxlan-devices" test "$PR_DEV" -eq $((2 * n))
    check "perouter-$n-gateway" test "$PR_GW" -eq 1
  fi
  if [[ " $DUTS " == *" frr "* ]]; then
    say "N=$n pairs: FRR"
    run_frr "$n"
    say "N=$n: FRR ${FRR_MS} ms (+ ip -batch ${FRR_BATCH_MS} ms), peak ${FRR_MB} MB, ${FRR_L3} L3VNIs up"
    check "frr-$n-devices-built" test "$FRR_BATCH_RC" -eq 0
    check "frr-$n-type3-at-tor" test "$FRR_MS" != timeout
    check "frr-$n-l3vnis" test "$FRR_L3" -eq "$n"
  fi
  ROWS+=("$(printf '%6s %14s %10s %14s %16s %10s %10s' "$n" "$PR_MS" "$PR_MB" "$PR_MSGS" "$FRR_MS" "$FRR_BATCH_MS" "$FRR_MB")")
  echo "PAIRS-JSON {\"pairs\":$n,\"perouter\":{\"ms\":\"$PR_MS\",\"peak_mb\":\"$PR_MB\",\"netlink_messages\":\"$PR_MSGS\"},\"frr\":{\"ms\":\"$FRR_MS\",\"batch_ms\":\"$FRR_BATCH_MS\",\"peak_mb\":\"$FRR_MB\"}}"
done

teardown
no_daemon_left() { ! pgrep -f "[-]N ${TAG}" >/dev/null; }
check nothing-left-running no_daemon_left

echo
say "L2VNI+L3VNI pairs: start -> every type-3 route at the ToR; $(nproc) CPUs; perouter: $PEROUTER"
printf '%6s %14s %10s %14s %16s %10s %10s\n' pairs "perouter ms" "peak MB" "netlink msgs" "FRR ms" "ip-batch" "peak MB"
printf '%s\n' "${ROWS[@]}"
lab_results 30
exit $FAIL
