#!/usr/bin/env bash
# End-to-end test of `perouter run` with an L3VNI, against an FRR leaf with `vrf red vni 100`.
# Needs a kernel with VRF (CONFIG_NET_VRF): run it through e2e-l3vni-guest.sh on machines whose
# kernel lacks it. Upstream's lab, reduced to one leaf, one host behind it and one node:
#
#   sudo interop/frr-lab/e2e-l3vni.sh      (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the
#                                          binary, else target/release, else target/debug, else it builds)
#
# Topology (all namespaces created here, names prefixed with a per-run tag):
#   TAG-leaf   FRR leaf AS 64520, VTEP 100.64.0.1 on lo, underlay 192.168.11.2/24 (leaf-eth0);
#              kernel VRF red (table 1100), br100 (fixed MAC = the leaf's router MAC) and vxlan100
#              (nolearning, local 100.64.0.1) for the L3VNI; leaf-red 192.168.20.1/24 in VRF red
#   TAG-ha     hostA_red 192.168.20.2/24 behind the leaf, default via 192.168.20.1
#   TAG-host   the node's host namespace: toswitch1 192.168.11.3/24 (moved by perouter into the
#              router namespace), host-e-100 192.169.10.2 (made by perouter), FRR host speaker
#              AS 64515 advertising the service IP 10.250.0.1/32 (on lo)
#   TAG-pe     the router namespace perouter builds (VRF red, br-pe-100, vni100, pe-e-100, VTEP)
#
# Checks: sessions up; the leaf's type-5 192.168.20.0/24 lands in VRF table 1100 via the leaf VTEP
# and reaches the host speaker; the service IP reaches the leaf as a type-5 route from our VTEP with
# our router MAC and RT 64514:100, and the leaf imports it into VRF red; a ping from hostA_red to the
# service IP crosses VXLAN; live change (add L3VNI blue, remove it) leaves red's sessions up; a
# restart of perouter keeps the router namespace's forwarding state and the host speaker's
# routes (ping loss measured and reported: FRR flushes EVPN routes at once, see below).
#
# Route targets: the node exports FRR's auto RT of ITS AS (64514:100) and the leaf exports
# 64520:100. Nothing is configured on the leaf, and it imports our routes anyway (checked by
# service-ip-imported-by-leaf): while a VRF uses auto-derived import RTs, FRR matches them on the
# local-administrator part only (the VNI, as `route-target import *:100` would), so that eBGP
# fabrics, where every AS differs, work with auto RTs. perouter does the same (its auto import
# is `*:<vni>`), which is why the leaf's 64520:100 lands in our VRF. LEAF_IMPORT_RT=64514:100
# configures an explicit import on the leaf instead (FRR then matches exactly).
set -u
LAB=e2e-l3vni
. "$(dirname "$0")/lib.sh"
TAG=l3$$
DIR=$(mktemp -d /tmp/perouter-e2e-l3vni.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; LEAF=${TAG}leaf; HA=${TAG}ha
LEAF_RMAC=aa:bb:cc:00:00:65
PIDS=()
declare -A DETAIL

# KEEP=1: the lab (namespaces, FRR, perouter) and its logs stay up for inspection.
cleanup() {
  local rc=$?
  [ $rc -ne 0 ] && [ "$FAIL" -eq 0 ] && lab_log_tail "$DIR/perouter.log" 80
  if [ -n "${KEEP:-}" ]; then
    echo "KEEP=1: lab left up: namespaces $HOST $PE $LEAF $HA, perouter --api-socket $DIR/api.sock, logs in $DIR"
    local alive=() p
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    echo "  remove it: kill ${alive[*]} \$(cat $DIR/*/*.pid); for n in $HOST $PE $LEAF $HA; do ip netns del \$n; done; rm -rf $DIR"
    return
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  lab_kill_pidfiles "$DIR"
  sleep 0.5
  for n in $HOST $PE $LEAF $HA; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$DIR"
}
trap cleanup EXIT

if ! lab_has_vrf; then
  echo "e2e-l3vni: this kernel has no VRF support (CONFIG_NET_VRF); run interop/frr-lab/e2e-l3vni-guest.sh" >&2
  exit 2
fi
lab_need_tools python3
lab_find_perouter

# The router namespace is perouter's to create (a fresh start, not a restart).
for n in $HOST $LEAF $HA; do ip netns add "$n"; ip -n "$n" link set lo up; done
# Underlay link: toswitch1 in the host namespace (perouter moves it), leaf-eth0 on the leaf.
ip link add toswitch1 netns $HOST type veth peer name leaf-eth0 netns $LEAF
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $LEAF addr add 192.168.11.2/24 dev leaf-eth0
ip -n $LEAF link set leaf-eth0 up
ip -n $LEAF addr add 100.64.0.1/32 dev lo
# The leaf's L3VNI, as upstream's lab builds it.
ip -n $LEAF link add red type vrf table 1100
ip -n $LEAF link set red up
ip -n $LEAF link add br100 type bridge
ip -n $LEAF link set br100 master red address $LEAF_RMAC addrgenmode none
ip -n $LEAF link add vxlan100 type vxlan id 100 dstport 4789 local 100.64.0.1 nolearning
ip -n $LEAF link set vxlan100 master br100 addrgenmode none
ip -n $LEAF link set vxlan100 type bridge_slave neigh_suppress on learning off
ip -n $LEAF link set br100 up
ip -n $LEAF link set vxlan100 up
# hostA_red behind the leaf, in VRF red.
ip link add leaf-red netns $LEAF type veth peer name eth0 netns $HA
ip -n $LEAF link set leaf-red master red
ip -n $LEAF addr add 192.168.20.1/24 dev leaf-red
ip -n $LEAF link set leaf-red up
ip -n $HA addr add 192.168.20.2/24 dev eth0
ip -n $HA link set eth0 up
ip -n $HA route add default via 192.168.20.1
ip netns exec $LEAF sysctl -qw net.ipv4.ip_forward=1
# The service IP of the node's host.
ip -n $HOST addr add 10.250.0.1/32 dev lo

start_frr() { lab_start_frr "$TAG$1" "$2" "$DIR/$1"; } # NAME NS
vty() { lab_vty "$DIR/$1" "$2"; }

mkdir -p "$DIR/leaf" "$DIR/hostfrr"
LEAF_RT_LINE=""
[ -n "${LEAF_IMPORT_RT:-}" ] && LEAF_RT_LINE="  route-target import $LEAF_IMPORT_RT"
cat > "$DIR/leaf/frr.conf" <<CONF
hostname leaf
vrf red
 vni 100
exit-vrf
router bgp 64520
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 address-family ipv4 unicast
  network 100.64.0.1/32
  neighbor 192.168.11.3 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 192.168.11.3 activate
  advertise-all-vni
 exit-address-family
router bgp 64520 vrf red
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
 address-family l2vpn evpn
  advertise ipv4 unicast
$LEAF_RT_LINE
 exit-address-family
CONF
cat > "$DIR/hostfrr/frr.conf" <<CONF
hostname hostspeaker
router bgp 64515
 bgp router-id 10.250.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 192.169.10.1 remote-as 64514
 neighbor 192.169.10.1 timers 3 9
 address-family ipv4 unicast
  network 10.250.0.1/32
  neighbor 192.169.10.1 activate
 exit-address-family
CONF
start_frr leaf $LEAF

# The node's configuration: upstream's static files.
mkdir -p "$DIR/cfg/configs"
cat > "$DIR/cfg/configs/openpe_underlay.yaml" <<CONF
underlays:
  - asn: 64514
    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
    neighbors:
      - {asn: 64520, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
CONF
cat > "$DIR/cfg/configs/openpe_red.yaml" <<CONF
l3vnis:
  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24}}}
CONF
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

SOCK=$DIR/api.sock
start_perouter() {
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
    --api-socket "$SOCK" --config-poll 1 >>"$DIR/perouter.log" 2>&1 &
  PPID_RUN=$!
  PIDS+=("$PPID_RUN")
}
pr() { "$PEROUTER" "$@" --api-socket "$SOCK"; }
session_up() { pr_session_up "$SOCK" "$1"; } # ADDR: Established per `perouter show bgp summary`
# FRR's connectionsEstablished for a neighbour (a flap increments it).
established() { # FRR-INSTANCE PEER
  vty "$1" "show bgp neighbor $2 json" | jq -r --arg p "$2" '.[$p].connectionsEstablished // empty'
}

start_t=$(date +%s.%N)
start_perouter
# The host speaker peers with pe-e-100 once perouter has made the veth.
wait_until 60 ip -n $HOST link show host-e-100 >/dev/null 2>&1
start_frr hostfrr $HOST

check vrf-red-built wait_until 30 sh -c "ip -n $PE -d link show red | grep -q 'vrf table 1100'"
check l3vni-devices wait_until 30 sh -c "ip -n $PE link show br-pe-100 && ip -n $PE -d link show vni100 | grep -q 'id 100'"
check pe-e-100-in-vrf sh -c "ip -n $PE link show pe-e-100 | grep -q 'master red'"
check tcp-l3mdev-accept sh -c "[ \$(ip netns exec $PE sysctl -n net.ipv4.tcp_l3mdev_accept) = 1 ]"
check leaf-session wait_until 90 session_up 192.168.11.2
check host-session wait_until 90 session_up 192.169.10.2
up_t=$(date +%s.%N)

RMAC=$(pr show vni -o json 2>/dev/null | jq -r '.[] | select(.vni == 100) | .router_mac' | tr A-F a-f)
say "our router MAC for L3VNI 100: $RMAC"
# Every check below that uses RMAC would pass vacuously on an empty value: require a MAC first.
check router-mac-known sh -c "echo '$RMAC' | grep -Eqx '([0-9a-f]{2}:){5}[0-9a-f]{2}'"
[[ $RMAC =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || RMAC=no-router-mac-from-show-vni
check router-mac-on-br-pe-100 sh -c "ip -n $PE link show br-pe-100 | grep -qi 'ether $RMAC'"

# Type-5 from the leaf -> our VRF table -> the host speaker.
pe_has_leaf_route() { ip -n $PE route show table 1100 192.168.20.0/24 | grep -q 'via 100.64.0.1 dev br-pe-100'; }
check leaf-type5-in-table-1100 wait_until 60 pe_has_leaf_route
check leaf-rmac-neighbour sh -c "ip -n $PE neigh show dev br-pe-100 100.64.0.1 | grep -qi 'lladdr $LEAF_RMAC'"
check leaf-rmac-fdb sh -c "bridge -n $PE fdb show dev vni100 | grep -qi '$LEAF_RMAC dst 100.64.0.1'"
check leaf-vtep-underlay-route wait_until 30 sh -c "ip -n $PE route show 100.64.0.1 | grep -q 'via 192.168.11.2'"
check show-vrf-red sh -c "'$PEROUTER' show vrf red --api-socket '$SOCK' -o json | grep -q 'vtep 100.64.0.1 rmac $LEAF_RMAC'"
host_has_leaf_route() { vty hostfrr "show ip bgp 192.168.20.0/24 json" | grep -q '"valid":true'; }
check leaf-route-at-host-speaker wait_until 60 host_has_leaf_route

# Service IP from the host speaker -> installed in our VRF towards the host -> type-5 at the leaf.
check service-ip-in-table-1100 wait_until 60 sh -c \
  "ip -n $PE route show table 1100 10.250.0.1 | grep -q 'via 192.169.10.2 dev pe-e-100'"
leaf_type5() { # writes what the leaf has for [5]:[0]:[32]:[10.250.0.1]; true when it matches
  vty leaf "show bgp l2vpn evpn route type prefix json" > "$DIR/leaf-type5.json"
  grep -q '10.250.0.1' "$DIR/leaf-type5.json" || return 1
  python3 - "$DIR/leaf-type5.json" "$RMAC" > "$DIR/leaf-type5.txt" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
rmac = sys.argv[2].lower()
found = []
def walk(rd, o):
    for k, v in o.items():
        if isinstance(v, dict) and "10.250.0.1" in k and "[5]" in k:
            for group in v.get("paths", []):
                for p in (group if isinstance(group, list) else [group]):
                    found.append((rd, k, p))
for rd, v in data.items():
    if isinstance(v, dict):
        walk(rd, v)
ok = False
for rd, k, p in found:
    ec = p.get("extendedCommunity", {}).get("string", "")
    nhs = [n.get("ip") for n in p.get("nexthops", [])]
    match = p.get("valid") and "RT:64514:100" in ec and ("rmac:" + rmac) in ec.lower() and "100.65.0.0" in nhs
    print(f"  leaf: rd {rd} {k} valid={p.get('valid')} nexthops={nhs} ext=\"{ec}\" -> {'match' if match else 'no match'}")
    ok = ok or bool(match)
sys.exit(0 if ok else 1)
PY
}
check service-type5-at-leaf wait_until 60 leaf_type5
evpn_has() { # JQ filter over `perouter show bgp evpn --type 5 --vni 100 -o json`
  "$PEROUTER" show bgp evpn --type 5 --vni 100 --api-socket "$SOCK" -o json 2>/dev/null | jq -e "$1" >/dev/null
}
check show-bgp-evpn-leaf-route evpn_has '.[] | select(.prefix == "[5]:[0]:[24]:[192.168.20.0]" and .next_hop == "100.64.0.1" and .local == false)'
# VRF red's BGP table: the leaf's prefix imported from its type-5 (best, valid), the service IP
# from the host session.
vrf_best() { # PREFIX FROM-SUBSTRING
  "$PEROUTER" show bgp ipv4 unicast "$1" --vrf red --api-socket "$SOCK" -o json 2>/dev/null | \
    jq -e --arg f "$2" 'any(.[]; .best and .valid and (.from | contains($f)))' >/dev/null
}
check show-bgp-vrf-red-leaf-route vrf_best 192.168.20.0/24 "EVPN RD"
check show-bgp-vrf-red-service-route vrf_best 10.250.0.1 192.169.10.2
check show-bgp-vrf-unknown sh -c "! '$PEROUTER' show bgp ipv4 unicast --vrf nosuch --api-socket '$SOCK' >/dev/null 2>&1"
"$PEROUTER" show bgp ipv4 unicast --vrf red --api-socket "$SOCK" 2>&1 | sed 's/^/  /'
check show-bgp-evpn-our-route evpn_has '.[] | select(.prefix == "[5]:[0]:[32]:[10.250.0.1]" and .local == true and .router_mac == "'"$RMAC"'")'
cat "$DIR/leaf-type5.txt"
check service-ip-imported-by-leaf wait_until 30 sh -c \
  "ip -n $LEAF route show table 1100 10.250.0.1 | grep -q 'via 100.65.0.0 dev br100'"

# The ping crosses VXLAN: the router namespace's vni100 counts the packets both ways.
vx_packets() { ip -n $PE -s -j link show vni100 | jq '.[0].stats64.rx.packets + .[0].stats64.tx.packets'; }
ping_ok() { ip netns exec $HA ping -c 1 -W 1 10.250.0.1 >/dev/null 2>&1; }
check ping-hostA-to-service wait_until 60 ping_ok
conv_t=$(date +%s.%N)
before=$(vx_packets)
ip netns exec $HA ping -c 5 -i 0.2 -W 1 10.250.0.1 >/dev/null 2>&1
after=$(vx_packets)
DETAIL[vxlan]="vni100 packets: $before -> $after"
check ping-crosses-vxlan test $((after - before)) -ge 10
say "${DETAIL[vxlan]}"
say "start -> sessions Established: $(echo "$up_t - $start_t" | bc) s; -> routes installed and ping: $(echo "$conv_t - $start_t" | bc) s"

# Live change: add L3VNI blue; red's sessions must not flap; then remove blue.
leaf_est=$(established leaf 192.168.11.3)
host_est=$(established hostfrr 192.169.10.1)
cat > "$DIR/cfg/configs/openpe_blue.yaml" <<CONF
l3vnis:
  - {name: blue, vrf: blue, vni: 200, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.11.0/24}}}
CONF
check blue-added wait_until 60 sh -c \
  "ip -n $PE -d link show blue | grep -q vrf && ip -n $PE link show br-pe-200 | grep -q 'master blue' && ip -n $PE link show vni200 | grep -q 'master br-pe-200' && ip -n $HOST link show host-e-200"
sleep 3
check blue-in-show-vni sh -c "'$PEROUTER' show vni --api-socket '$SOCK' -o json | jq -e '.[] | select(.vni == 200)' >/dev/null"
check red-ping-during-blue ping_ok
rm "$DIR/cfg/configs/openpe_blue.yaml"
check blue-removed wait_until 60 sh -c \
  "! ip -n $PE link show br-pe-200 2>/dev/null && ! ip -n $PE link show vni200 2>/dev/null && ! ip -n $PE link show blue 2>/dev/null && ! ip -n $HOST link show host-e-200 2>/dev/null"
sleep 3
leaf_est2=$(established leaf 192.168.11.3)
host_est2=$(established hostfrr 192.169.10.1)
DETAIL[flaps]="leaf connectionsEstablished $leaf_est -> $leaf_est2, host speaker $host_est -> $host_est2"
say "${DETAIL[flaps]}"
check red-sessions-untouched test -n "$leaf_est" -a "$leaf_est" = "$leaf_est2" -a -n "$host_est" -a "$host_est" = "$host_est2"
check red-still-forwards ping_ok

# Restart. What perouter controls must survive: the router namespace keeps its VRF routes,
# neighbours and FDB entries, and the host speaker (GR helper for ipv4 unicast) keeps our routes,
# so traffic from the host towards the leaf keeps flowing while perouter is away. FRR's leaf,
# however, flushes our type-5 routes as soon as the session drops: FRR's graceful restart covers
# only unicast/multicast/VPN SAFIs (FOREACH_AFI_SAFI_NSF stops at SAFI_MPLS_VPN), never EVPN, so
# the leaf -> node direction (and hence the round-trip ping) is lost until the routes are back.
# The loss is measured and reported; the checks assert what perouter is responsible for.
gr_info=$(vty leaf "show bgp neighbors 192.168.11.3 json" | jq -c '.["192.168.11.3"].gracefulRestartInfo // empty' 2>/dev/null)
DETAIL[leaf-gr-view]="leaf's graceful-restart view of us: ${gr_info:-n/a}"
ip netns exec $HA ping -i 0.2 -W 1 10.250.0.1 > "$DIR/ping.txt" 2>&1 &
PING=$!
sleep 2
stop_t=$(date +%s.%N)
kill -TERM "$PPID_RUN"; wait "$PPID_RUN" 2>/dev/null
DETAIL[exit]="perouter exited $(echo "$(date +%s.%N) - $stop_t" | bc) s after SIGTERM"
say "${DETAIL[exit]}"
sleep 1
# While perouter is away.
{
  echo "--- while perouter is away: leaf VRF red, leaf EVPN type-5, host routes, PE table 1100, PE FDB"
  ip -n $LEAF route show table 1100
  vty leaf "show bgp l2vpn evpn route type prefix"
  ip -n $HOST route
  ip -n $PE route show table 1100
  bridge -n $PE fdb show dev vni100
} > "$DIR/away.txt" 2>&1
check away-pe-vrf-routes-kept sh -c "ip -n $PE route show table 1100 | grep -Eq '192.168.20.0/24 (nhid [0-9]+ )?via 100.64.0.1 dev br-pe-100' && ip -n $PE route show table 1100 | grep -Eq '10.250.0.1 (nhid [0-9]+ )?via 192.169.10.2'"
check away-pe-rmac-entries-kept sh -c "bridge -n $PE fdb show dev vni100 | grep -qi '$LEAF_RMAC dst 100.64.0.1' && ip -n $PE neigh show dev br-pe-100 100.64.0.1 | grep -qi '$LEAF_RMAC'"
check away-host-speaker-kept-routes sh -c "ip -n $HOST route show 192.168.20.0/24 | grep -q 'via 192.169.10.1'"
leaf_vx_rx() { ip -n $LEAF -s -j link show vxlan100 | jq '.[0].stats64.rx.packets'; }
rx0=$(leaf_vx_rx)
ip netns exec $HOST ping -c 5 -i 0.2 -W 1 -I 10.250.0.1 192.168.20.2 >/dev/null 2>&1
rx1=$(leaf_vx_rx)
DETAIL[away-node-to-leaf]="host -> hostA_red while perouter is away: leaf vxlan100 rx $rx0 -> $rx1"
check away-node-to-leaf-forwards test $((rx1 - rx0)) -ge 5
if ip -n $LEAF route show table 1100 | grep -q '10.250.0.1'; then
  DETAIL[away-leaf]="the leaf kept our type-5 routes while perouter was away"
else
  DETAIL[away-leaf]="the leaf flushed our type-5 routes while perouter was away (FRR: no graceful restart for EVPN)"
fi
say "${DETAIL[away-leaf]}"
log_mark=$(wc -l < "$DIR/perouter.log")
start_perouter
both_up() { session_up 192.168.11.2 && session_up 192.169.10.2; }
check restart-sessions-back wait_until 90 both_up
back_t=$(date +%s.%N)
# Keep pinging until the restarted perouter has converged and programmed forwarding.
converged_again() { tail -n "+$((log_mark + 1))" "$DIR/perouter.log" | grep -q 'RIB converged'; }
wait_until 60 converged_again
check service-type5-back-at-leaf wait_until 30 sh -c "ip -n $LEAF route show table 1100 | grep -q '10.250.0.1 .*via 100.65.0.0'"
back2_t=$(date +%s.%N)
sleep 2
kill -INT "$PING"; wait "$PING"
loss=$(grep -oE '[0-9]+ packets transmitted, [0-9]+ received, .*packet loss' "$DIR/ping.txt")
DETAIL[restart]="restart: $loss (pings at 5/s from 2 s before SIGTERM to 2 s after the leaf had our routes again); sessions back $(echo "$back_t - $stop_t" | bc) s, type-5 back at the leaf $(echo "$back2_t - $stop_t" | bc) s after SIGTERM"
say "${DETAIL[restart]}"
check ping-after-restart wait_until 30 ping_ok

echo
lab_results 32
for k in "${!DETAIL[@]}"; do echo "$k: ${DETAIL[$k]}"; done
if [ $FAIL -ne 0 ]; then
  echo "--- router namespace"; ip -n $PE -br link; ip -n $PE route show table all | grep -v '^local\|^broadcast\|^multicast\|fe80\|ff00' | head -40
  echo "--- leaf"; vty leaf "show bgp summary"; vty leaf "show evpn vni"; vty leaf "show bgp l2vpn evpn route"; ip -n $LEAF route show table 1100
  echo "--- host speaker"; vty hostfrr "show bgp summary"; vty hostfrr "show ip bgp"
  lab_log_tail "$DIR/perouter.log" 80
  echo "E2E-L3VNI-FAILED"
else
  echo "E2E-L3VNI-PASSED"
fi
exit $FAIL
