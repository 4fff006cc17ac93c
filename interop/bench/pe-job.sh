#!/usr/bin/env bash
# The PE job (issue 16): N EVPN type-5 routes from the fabric, imported into VRF red, installed in
# red's kernel table and advertised as IPv4 unicast on the host session. perouter and FRR do the
# same job in the same run, each from a fresh lab; perouter-bench is the fabric's ToR (blaster,
# EVPN) and the host speaker (sink, IPv4 unicast, in the host's namespace) in one process.
# Needs VRF devices (CONFIG_NET_VRF): run it in the virtme-ng guest:
#
#   cargo build --release -p perouter-agent --bin perouter -p perouter-bench
#   flock /tmp/perouter-guest.lock interop/frr-lab/guest-labs.sh interop/bench/pe-job.sh
#   ROUTES=10000 ...  (the CI smoke)     GUEST_MEMORY=8G ROUTES=1000000 ...  (1M)
#
# Environment: ROUTES (default 100000), DUTS (default "perouter frr"), TIMEOUT (harness, s, 600),
# PEROUTER_BIN / BENCH_BIN (default target/release, else target/debug), KEEP=1 keeps the logs.
#
# Topology (names prefixed with a per-run tag):
#   TAG-tor    the harness: blaster 192.168.11.2 (AS 64512) on eth0, a veth to the node
#   TAG-host   the node's host namespace: the sink 192.169.10.2 (AS 64515) on host-e-100
#   perouter   `perouter run` from static files: underlay neighbour 192.168.11.2, L3VNI red VNI 100
#              with hostSession {asn 64514, hostASN 64515, localCIDR 192.169.10.0/24}; perouter
#              builds the router namespace TAG-pe (VRF red, its devices, pe-e-100/host-e-100)
#   FRR 8.4    bgpd + zebra in TAG-node: VRF red (table 1100), br100 + vxlan100 (VNI 100, VTEP
#              100.65.0.0), pe-e-100 192.169.10.1 in red, all pre-built with ip commands; `vrf red /
#              vni 100`, advertise-all-vni, the host session as a neighbour of `router bgp 64514 vrf red`
#
# The blaster's routes: 16.0.0.0/24 upwards, RD 192.168.11.2:100, RT 64512:100 (matched by the
# auto import *:100 of both DUTs), VNI 100, a router MAC, next hop 192.168.11.2 (the ToR's VTEP).
# The DUT runs on core 1, the harness on core 0. Figures: conv_s (t0 -> every route at the host
# speaker), per-route latency, kernel_s (t0 -> every route in red's kernel table, counted from
# fib_triestat), memory (VmHWM - idle RSS: perouter; bgpd + zebra) and CPU.
set -u
LAB=pe-job
. "$(dirname "$0")/../frr-lab/lib.sh"
ROOT=$LAB_ROOT
ROUTES=${ROUTES:-100000}
DUTS=${DUTS:-perouter frr}
TIMEOUT=${TIMEOUT:-600}
TAG=pej$$
DIR=$(mktemp -d /tmp/perouter-pe-job.XXXXXX)
chmod 755 "$DIR"
TOR=${TAG}tor; HOST=${TAG}host; PE=${TAG}pe; NODE=${TAG}node
DUT_PIDS=()

teardown() {
  local p
  for p in "${DUT_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  lab_kill_pidfiles "$DIR"
  for p in "${DUT_PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
  DUT_PIDS=()
  for n in $TOR $HOST $PE $NODE; do ip netns del "$n" 2>/dev/null; done
  rm -f "$DIR"/*/*.pid
}
cleanup() { teardown; if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi; }
trap cleanup EXIT

if ! lab_has_vrf; then
  echo "pe-job: this kernel has no VRF support (CONFIG_NET_VRF); run it through interop/frr-lab/guest-labs.sh" >&2
  exit 2
fi
LAB_PKG[taskset]=util-linux
lab_need_tools taskset
lab_find_perouter
BENCH=${BENCH_BIN:-}
if [ -z "$BENCH" ]; then
  if [ -x "$ROOT/target/release/perouter-bench" ]; then BENCH=$ROOT/target/release/perouter-bench
  else BENCH=$ROOT/target/debug/perouter-bench; fi
fi
[ -x "$BENCH" ] || { echo "pe-job: no harness at $BENCH (cargo build --release -p perouter-bench)" >&2; exit 2; }
say "harness: $BENCH (built $(date -r "$BENCH" '+%F %T'))"

# The ToR's namespace and the link to the node: eth0 (ToR) <-> $2 in namespace $1.
tor_link() { # NODE-NS NODE-IF
  ip netns add $TOR; ip -n $TOR link set lo up
  ip link add eth0 netns $TOR type veth peer name "$2" netns "$1"
  ip -n $TOR addr add 192.168.11.2/24 dev eth0
  ip -n $TOR link set eth0 up
  ip -n "$1" addr add 192.168.11.3/24 dev "$2"
  ip -n "$1" link set "$2" up
}

# perouter: upstream's static files; it builds the router namespace and the host veth itself.
start_perouter() {
  ip netns add $HOST; ip -n $HOST link set lo up
  tor_link $HOST toswitch1
  lab_underlay "$DIR/cfg" toswitch1 "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 90, keepaliveTimeSeconds: 30}"
  cat > "$DIR/cfg/configs/openpe_red.yaml" <<CONF
l3vnis:
  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24}}}
CONF
  echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
  mkdir -p "$DIR/pr"
  RUST_LOG=warn lab_nofds taskset -c 1 "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE \
    --host-netns $HOST --api-socket "$DIR/pr/api.sock" --config-poll 30 >"$DIR/perouter.log" 2>&1 &
  DUT_PIDS=($!)
  KNS=$PE
  wait_until 60 sh -c "ip -n $PE -d link show red 2>/dev/null | grep -q 'vrf table'" || { say "perouter built no VRF red"; return 1; }
  KTABLE=$(ip -n $PE -d link show red | grep -oE 'vrf table [0-9]+' | awk '{print $3}')
  wait_until 60 ip -n $HOST link show host-e-100 >/dev/null 2>&1 || { say "perouter made no host-e-100"; return 1; }
}

# FRR: the devices as FRR needs them, pre-built; then zebra and bgpd pinned to core 1.
start_frr() {
  ip netns add $NODE; ip -n $NODE link set lo up
  ip netns add $HOST; ip -n $HOST link set lo up
  tor_link $NODE eth1
  ip -n $NODE addr add 100.65.0.0/32 dev lo
  ip -n $NODE link add red type vrf table 1100
  ip -n $NODE link set red up
  ip -n $NODE link add br100 type bridge
  ip -n $NODE link set br100 master red address aa:bb:cc:00:01:64 addrgenmode none
  ip -n $NODE link add vxlan100 type vxlan id 100 dstport 4789 local 100.65.0.0 nolearning
  ip -n $NODE link set vxlan100 master br100 addrgenmode none
  ip -n $NODE link set vxlan100 type bridge_slave neigh_suppress on learning off
  ip -n $NODE link set br100 up
  ip -n $NODE link set vxlan100 up
  ip link add pe-e-100 netns $NODE type veth peer name host-e-100 netns $HOST
  ip -n $NODE link set pe-e-100 master red
  ip -n $NODE addr add 192.169.10.1/24 dev pe-e-100
  ip -n $NODE link set pe-e-100 up
  ip -n $HOST addr add 192.169.10.2/24 dev host-e-100
  ip -n $HOST link set host-e-100 up
  ip netns exec $NODE sysctl -qw net.ipv4.ip_forward=1 net.ipv4.tcp_l3mdev_accept=1
  local d=$DIR/frr
  mkdir -p "$d"
  cat > "$d/frr.conf" <<CONF
hostname node
no log unique-id
log syslog critical
vrf red
 vni 100
exit-vrf
router bgp 64514
 bgp router-id 100.65.0.0
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.2 remote-as 64512
 neighbor 192.168.11.2 timers 30 90
 neighbor 192.168.11.2 advertisement-interval 0
 address-family l2vpn evpn
  neighbor 192.168.11.2 activate
  advertise-all-vni
 exit-address-family
router bgp 64514 vrf red
 bgp router-id 100.65.0.0
 no bgp ebgp-requires-policy
 neighbor 192.169.10.2 remote-as 64515
 neighbor 192.169.10.2 timers 30 90
 neighbor 192.169.10.2 advertisement-interval 0
 address-family ipv4 unicast
  neighbor 192.169.10.2 activate
 exit-address-family
 address-family l2vpn evpn
  advertise ipv4 unicast
 exit-address-family
CONF
  chown -R frr:frr "$d"
  (lab_nofds taskset -c 1 ip netns exec $NODE /usr/lib/frr/zebra -d -N "$TAG" -f "$d/frr.conf" \
    -i "$d/zebra.pid" -z "$d/zserv.api" --vty_socket "$d" >"$d/zebra.out" 2>&1)
  wait_until 10 test -s "$d/zebra.pid" || { say "zebra did not start"; return 1; }
  (lab_nofds taskset -c 1 ip netns exec $NODE /usr/lib/frr/bgpd -d -N "$TAG" -f "$d/frr.conf" \
    -i "$d/bgpd.pid" -z "$d/zserv.api" --vty_socket "$d" >"$d/bgpd.out" 2>&1)
  wait_until 10 test -s "$d/bgpd.pid" || { say "bgpd did not start"; return 1; }
  DUT_PIDS=($(cat "$d/bgpd.pid") $(cat "$d/zebra.pid"))
  KNS=$NODE KTABLE=1100
}

run_dut() { # DUT
  local dut=$1 rc=0
  case $dut in
    perouter) start_perouter || rc=1 ;;
    frr) start_frr || rc=1 ;;
    *) say "unknown DUT $dut (perouter or frr)"; return 1 ;;
  esac
  if [ $rc -eq 0 ]; then
    say "$dut: pids ${DUT_PIDS[*]}, VRF red = table $KTABLE in $KNS; $ROUTES type-5 routes"
    taskset -c 0 ip netns exec $TOR "$BENCH" --family evpn --routes "$ROUTES" --label "$dut" \
      --blaster-addr 192.168.11.2 --blaster-as 64512 --dut 192.168.11.3 \
      --sink-family ipv4 --sink-netns $HOST --sink-dut 192.169.10.1 --sink-addr 192.169.10.2 --sink-as 64515 \
      --kernel-netns "$KNS" --kernel-table "$KTABLE" --timeout "$TIMEOUT" --connect-timeout 180 --eor-timeout 60 \
      --dut-pid "$(IFS=,; echo "${DUT_PIDS[*]}")" > "$DIR/$dut.json" 2> "$DIR/$dut.log" || rc=$?
    tail -n 1 "$DIR/$dut.log" | sed "s/^/[$LAB] /"
  fi
  if [ $rc -ne 0 ]; then
    say "$dut failed (exit $rc):"; sed 's/^/    /' "$DIR/$dut.log" 2>/dev/null | tail -n 15
    [ "$dut" = perouter ] && lab_log_tail "$DIR/perouter.log" 30
    [ "$dut" = frr ] && { lab_vty "$DIR/frr" "show bgp vrf red summary"; lab_vty "$DIR/frr" "show evpn vni"; }
  fi
  teardown
  return $rc
}

T_START=$(date +%s)
say "ROUTES=$ROUTES DUTS=\"$DUTS\"; perouter: $PEROUTER"
for dut in $DUTS; do
  check "$dut-all-routes-at-host-speaker-and-in-vrf-table" run_dut "$dut"
done

echo
cat "$DIR"/*.json > "$DIR/all.jsonl" 2>/dev/null
printf '%s\n' "PE job: $ROUTES type-5 routes -> VRF red -> host session; $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MB; load $(cut -d" " -f1-3 /proc/loadavg); $(date -u +%F) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); $(basename "$PEROUTER") from ${PEROUTER#$ROOT/}"
jq -rs '
  def f(d): if . == null then "-" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
  (["DUT", "complete", "conv_s", "routes/s", "lat_med_s", "lat_p99_s", "kernel_s", "mem_MB", "B/route", "cpu_s"] | @tsv),
  (.[] | [ .dut, (if .complete then "yes" else "NO" end), (.convergence_s | f(3)), (.routes_per_s | round | tostring),
      (.latency.median_s | f(3)), (.latency.p99_s | f(3)), (.kernel_s | f(3)), (.mem_delta / 1e6 | f(1)),
      (.bytes_per_route | round | tostring), (.cpu_s | f(2)) ] | @tsv),
  (if (map(select(.dut == "perouter" and .complete)) | length) == 1 and (map(select(.dut == "frr" and .complete)) | length) == 1 then
     (map({(.dut): .}) | add) as $r |
     "ratios (FRR / perouter): convergence \(($r.frr.convergence_s / $r.perouter.convergence_s) | f(2))x, kernel table \((($r.frr.kernel_s // 0) / ($r.perouter.kernel_s // 1)) | f(2))x, memory \(($r.frr.mem_delta / ([$r.perouter.mem_delta, 1] | max)) | f(2))x, CPU \(($r.frr.cpu_s / ([$r.perouter.cpu_s, 0.01] | max)) | f(2))x"
   else empty end)' "$DIR/all.jsonl" | tr '\t' ' ' | sed 's/^/  /'
sed 's/^/PE-JOB-JSON /' "$DIR/all.jsonl"
echo "took $(( $(date +%s) - T_START )) s"
lab_results 48
exit $FAIL
