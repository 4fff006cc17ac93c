#!/usr/bin/env bash
# Upstream OpenPERouter's bridgerefresh.go against `perouter run`: (a) a silent workload's type-2
# MAC+IP route persists because perouter probes its STALE neighbour entry (the bridge refresher),
# (b) the pod migrates to the other node (same MAC and IP), IPv4 then IPv6: the other node
# originates the type-2 with a higher MAC mobility sequence (RFC 7432 §15), the first withdraws,
# and hostA_red reaches the pod again (the time to recover is reported). Needs VRF devices:
#
#   flock /tmp/perouter-guest.lock interop/frr-lab/guest-labs.sh bridge-refresh.sh
#
# Topology (namespaces prefixed br<pid>):
#   sw      a bridge: leafA 192.168.11.2, nodeA's toswitch1 192.168.11.3, nodeB's 192.168.11.4
#   leafA   FRR AS 64520, VTEP 100.64.0.1, vrf red vni 100, advertise-all-vni, relays the nodes'
#           EVPN routes; hostA_red 192.168.20.2, 2001:db8:20::2
#   nodeA   perouter AS 64514, node index 0 (VTEP 100.65.0.0), --stale-probe-period 2
#   nodeB   perouter AS 64515, node index 1 (VTEP 100.65.0.1), the refresher off
#           (--stale-probe-period 3600): the control showing what the refresher prevents
#   both    L3VNI red (VNI 100) and L2VNI 110 in routing domain red with gateway IPs
#           192.171.10.1/24 and 2001:db8:110::1/64, host leg on a managed Linux bridge br-hs-110
#   pod     192.171.10.10/24 + 2001:db8:110::10/64, MAC 02:00:00:00:01:10, a veth on br-hs-110
# The lab shortens the kernel's timers on the router bridge br-pe-110 so the case takes seconds:
# FDB ageing 6 s (default 300 s), neighbour reachable time 1 s (default 30 s), and the first probe
# without delay (default 5 s): with a delay longer than the reachable time, the kernel's own
# unicast probe counts as a use of the entry, so it probes again forever (REACHABLE -> DELAY ->
# PROBE, every ~1.7 s, seen with BR_DIAG=1) and keeps the pod's FDB entry alive on its own, on
# this node and, across VXLAN, on the node the pod moved to. BR_DIAG=1 prints what the pod
# receives, nodeA's bridge traffic and both nodes' neighbour transitions during the control.
set -u
LAB=bridge-refresh
. "$(dirname "$0")/lib.sh"
TAG=br$$
DIR=$(mktemp -d /tmp/perouter-bridge-refresh.XXXXXX)
chmod 755 "$DIR"
SW=${TAG}sw; LA=${TAG}la; HR=${TAG}hr; POD=${TAG}pod
HA=${TAG}ha; PA=${TAG}pa; HB=${TAG}hb; PB=${TAG}pb
NSS="$SW $LA $HR $POD $HA $PA $HB $PB"
PIDS=()
trap lab_cleanup EXIT
MAC=02:00:00:00:01:10
AGEING=6

if ! lab_has_vrf; then
  echo "bridge-refresh: this kernel has no VRF support (CONFIG_NET_VRF); run it through interop/frr-lab/guest-labs.sh" >&2
  exit 2
fi
lab_need_tools jq bc python3
lab_find_perouter
say "running on kernel $(uname -r)"
t0=$(date +%s.%N)

for n in $SW $LA $HR $HA $HB; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n $SW link add br0 type bridge
ip -n $SW link set br0 up
port() { # NS ADDR SW-PORT
  ip link add toswitch1 netns "$1" type veth peer name "$3" netns $SW
  ip -n $SW link set "$3" master br0 up
  ip -n "$1" addr add "$2/24" dev toswitch1
  ip -n "$1" link set toswitch1 up
}
port $HA 192.168.11.3 sw-a
port $HB 192.168.11.4 sw-b
ip link add eth0 netns $LA type veth peer name sw-l netns $SW
ip -n $SW link set sw-l master br0 up
ip -n $LA addr add 192.168.11.2/24 dev eth0
ip -n $LA link set eth0 up
ip -n $LA addr add 100.64.0.1/32 dev lo
ip netns exec $LA sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n $LA link add red type vrf table 1100
ip -n $LA link set red up
ip -n $LA link add br100 type bridge
ip -n $LA link set br100 master red address aa:bb:cc:00:0a:65 addrgenmode none
ip -n $LA link add vxlan100 type vxlan id 100 dstport 4789 local 100.64.0.1 nolearning
ip -n $LA link set vxlan100 master br100 addrgenmode none
ip -n $LA link set vxlan100 type bridge_slave neigh_suppress on learning off
ip -n $LA link set br100 up
ip -n $LA link set vxlan100 up
ip link add leaf-red netns $LA type veth peer name eth0 netns $HR
ip -n $LA link set leaf-red master red
ip -n $LA addr add 192.168.20.1/24 dev leaf-red
ip -n $LA addr add 2001:db8:20::1/64 dev leaf-red nodad
ip -n $LA link set leaf-red up
ip -n $HR addr add 192.168.20.2/24 dev eth0
ip -n $HR addr add 2001:db8:20::2/64 dev eth0 nodad
ip -n $HR link set eth0 up
ip -n $HR route add default via 192.168.20.1
ip -n $HR -6 route add default via 2001:db8:20::1

mkdir -p "$DIR/la"
cat > "$DIR/la/frr.conf" <<CONF
hostname leafA
vrf red
 vni 100
exit-vrf
router bgp 64520
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 neighbor 192.168.11.4 remote-as 64515
 neighbor 192.168.11.4 timers 3 9
 address-family ipv4 unicast
  network 100.64.0.1/32
  neighbor 192.168.11.3 activate
  neighbor 192.168.11.4 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 192.168.11.3 activate
  neighbor 192.168.11.4 activate
  advertise-all-vni
 exit-address-family
router bgp 64520 vrf red
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
 address-family ipv6 unicast
  redistribute connected
 exit-address-family
 address-family l2vpn evpn
  advertise ipv4 unicast
  advertise ipv6 unicast
 exit-address-family
CONF
lab_start_frr "${TAG}la" $LA "$DIR/la"

node() { # NAME HOST-NS ROUTER-NS ASN INDEX PROBE-PERIOD
  local d=$DIR/$1
  mkdir -p "$d/cfg/configs"
  cat > "$d/cfg/configs/openpe_node.yaml" <<CONF
underlays:
  - asn: $4
    interfaces:
      - {type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}
    neighbors:
      - {asn: 64520, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
l3vnis:
  - {name: red, vrf: red, vni: 100}
l2vnis:
  - {name: l2-110, vni: 110, routingDomain: {type: L3VNI, l3vni: {name: red}}, gatewayIPs: [192.171.10.1/24, "2001:db8:110::1/64"], hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}
CONF
  echo "nodeIndex: {index: $5}" > "$d/cfg/node-config.yaml"
  RUST_LOG=${RUST_LOG:-info${BR_DIAG:+,perouter_fib::reconcile=debug}} lab_nofds "$PEROUTER" run --config-dir "$d/cfg" --router-netns "$3" --host-netns "$2" \
    --api-socket "$d/api.sock" --config-poll 1 --stale-probe-period "$6" >"$d/perouter.log" 2>&1 &
  PIDS+=($!)
}
node a $HA $PA 64514 0 2
node b $HB $PB 64515 1 3600
ln -s a/perouter.log "$DIR/perouter.log"

vty() { lab_vty "$DIR/$1" "$2"; }
frr_up() { [ "$(vty la "show bgp neighbor $1 json" | jq -r --arg p "$1" '.[$p].bgpState // empty')" = Established ]; }
check sessions-leaf-nodeA wait_until 90 frr_up 192.168.11.3
check sessions-leaf-nodeB wait_until 30 frr_up 192.168.11.4
check kernel:bridges wait_until 30 sh -c "ip -n $HA link show br-hs-110 && ip -n $HB link show br-hs-110 && ip -n $PA link show br-pe-110 && ip -n $PB link show br-pe-110" >/dev/null
# The lab's short timers on both router bridges.
for pe in $PA $PB; do
  ip -n $pe link set br-pe-110 type bridge ageing_time $((AGEING * 100))
  ip netns exec $pe sysctl -qw net.ipv4.neigh.br-pe-110.base_reachable_time_ms=1000 \
    net.ipv6.neigh.br-pe-110.base_reachable_time_ms=1000 \
    net.ipv4.neigh.br-pe-110.delay_first_probe_time=0 net.ipv6.neigh.br-pe-110.delay_first_probe_time=0
done

pod_on() { # HOST-NS: the pod (same MAC and addresses every time) plugged into that node's br-hs-110
  ip netns del $POD 2>/dev/null
  ip netns add $POD
  ip -n $POD link set lo up
  ip netns exec $POD sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
    net.ipv6.conf.default.router_solicitations=0
  ip link add vpod netns "$1" type veth peer name eth0 netns $POD
  ip -n $POD link set eth0 address $MAC
  ip -n $POD addr add 192.171.10.10/24 dev eth0
  ip -n $POD addr add 2001:db8:110::10/64 dev eth0 nodad
  ip -n $POD link set eth0 up
  ip -n $POD route add default via 192.171.10.1
  ip -n $POD -6 route add default via 2001:db8:110::1
  ip -n "$1" link set vpod master br-hs-110 up
}
# type2 IP: "NEXTHOP SEQ" for each valid path of the MAC+IP route of the pod at the leaf (SEQ
# from the MAC Mobility extended community, 0 without one)
type2() {
  vty la "show bgp l2vpn evpn route type macip json" | python3 -c '
import json, re, sys
mac, ip = sys.argv[1], sys.argv[2]
d = json.load(sys.stdin)
for rd, v in d.items():
    if not isinstance(v, dict): continue
    for k, r in v.items():
        if not isinstance(r, dict) or mac not in k or "[" + ip + "]" not in k: continue
        for g in r.get("paths", []):
            for p in (g if isinstance(g, list) else [g]):
                if not p.get("valid", True): continue
                ec = p.get("extendedCommunity", {}).get("string", "")
                m = re.search(r"MM:(?:Sticky-)?(\d+)", ec)
                nh = (p.get("nexthops") or [{}])[0].get("ip", "?")
                print(nh, m.group(1) if m else 0)' "$MAC" "$1" | sort -u
}
t2_from() { type2 "$1" | grep -q "^$2 "; }   # IP VTEP
t2_not_from() { ! t2_from "$@"; }
seq_of() { type2 "$1" | awk -v v="$2" '$1 == v {print $2}' | sort -n | tail -1; }
pingv() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
# The bridge holds the pod's MAC on a local port: a learned row, not our extern_learn row on the
# VXLAN port (vni110) that points at the other node, nor a VXLAN "self" row with a dst.
fdb_local() {
  bridge -n "$1" fdb show br br-pe-110 2>/dev/null | grep -i "^$MAC " |
    grep -v -e " dst " -e " dev vni" -e extern_learn -e permanent | grep -q .
}
fdb_not_local() { ! fdb_local "$1"; }

# --- (a) silent workload on nodeA: talks once, then stays silent for 3 x the FDB ageing time.
pod_on $HA
check silent:pod-talks-once wait_until 30 pingv $POD 192.168.20.2
check silent:type2-v4-at-leaf wait_until 30 t2_from 192.171.10.10 100.65.0.0
check silent:fdb-learned fdb_local $PA
sleep 1
ip netns exec $POD ping -6 -c 1 -W 2 2001:db8:20::2 >/dev/null 2>&1
check silent:type2-v6-at-leaf wait_until 30 t2_from 2001:db8:110::10 100.65.0.0
say "the pod stays silent for $((3 * AGEING)) s (FDB ageing ${AGEING} s, nodeA probes STALE neighbours every 2 s)"
sleep $((3 * AGEING))
check silent:fdb-kept-by-refresher fdb_local $PA
check silent:type2-v4-persists t2_from 192.171.10.10 100.65.0.0
check silent:type2-v6-persists t2_from 2001:db8:110::10 100.65.0.0
check silent:hostA-red-reaches-pod-v4 wait_until 10 pingv $HR 192.171.10.10
check silent:hostA-red-reaches-pod-v6 wait_until 10 pingv $HR 2001:db8:110::10
SEQ0=$(seq_of 192.171.10.10 100.65.0.0); SEQ0=${SEQ0:-0}

# --- (b) migration IPv4: the pod moves to nodeB and sends one IPv4 packet.
m1=$(date +%s.%N)
ip netns del $POD
pod_on $HB
ip netns exec $POD ping -c 1 -W 1 192.171.10.1 >/dev/null 2>&1
check migrate-v4:type2-from-nodeB wait_until 30 t2_from 192.171.10.10 100.65.0.1
check migrate-v4:nodeA-withdrew wait_until 30 t2_not_from 192.171.10.10 100.65.0.0
SEQ1=$(seq_of 192.171.10.10 100.65.0.1); SEQ1=${SEQ1:-0}
check migrate-v4:mobility-sequence-increased test "$SEQ1" -gt "$SEQ0"
check migrate-v4:hostA-red-reaches-pod wait_until 30 pingv $HR 192.171.10.10
m1_t=$(echo "$(date +%s.%N) - $m1" | bc)
check migrate-v4:nodeA-fdb-remote wait_until 20 sh -c "bridge -n $PA fdb show dev vni110 | grep -i '^$MAC dst 100.65.0.1 '"
check migrate-v4:nodeA-fdb-not-local fdb_not_local $PA
# The MAC moved, so nodeA withdrew its MAC+IPv6 route too (the pod has not spoken IPv6 on nodeB
# yet: nodeB cannot know that binding, and upstream's IPv4 case checks IPv4 only).
check migrate-v4:nodeA-withdrew-v6 wait_until 30 t2_not_from 2001:db8:110::10 100.65.0.0

# --- (b) migration IPv6: back to nodeA; the pod sends one IPv6 packet only.
m2=$(date +%s.%N)
ip netns del $POD
pod_on $HA
ip netns exec $POD ping -6 -c 1 -W 1 2001:db8:110::1 >/dev/null 2>&1
check migrate-v6:type2-from-nodeA wait_until 30 t2_from 2001:db8:110::10 100.65.0.0
# The MAC moved back: nodeB withdraws its MAC+IPv4 route (the only one it had for the pod).
check migrate-v6:nodeB-withdrew wait_until 30 t2_not_from 192.171.10.10 100.65.0.1
SEQ2=$(seq_of 2001:db8:110::10 100.65.0.0); SEQ2=${SEQ2:-0}
# One sequence number per MAC (RFC 7432 §15): nodeA outbids nodeB's.
check migrate-v6:mobility-sequence-increased test "$SEQ2" -gt "$SEQ1"
check migrate-v6:hostA-red-reaches-pod wait_until 30 pingv $HR 2001:db8:110::10
m2_t=$(echo "$(date +%s.%N) - $m2" | bc)

# --- control: the pod moves to nodeB once more, talks once and stays silent; nodeB runs without
# the refresher, so its FDB forgets the pod after the ageing time and the type-2 goes: what the
# refresher prevents on nodeA (this is what makes the silent-workload checks able to fail).
ip netns del $POD
pod_on $HB
ip netns exec $POD ping -c 1 -W 1 192.171.10.1 >/dev/null 2>&1
check control:type2-from-nodeB wait_until 30 t2_from 192.171.10.10 100.65.0.1
say "control: the pod silent on nodeB (refresher off) for $((3 * AGEING)) s"
if [ -n "${BR_DIAG:-}" ]; then # what the pod receives and sends while it is meant to be silent
  ip netns exec $POD timeout $((3 * AGEING)) tcpdump -l -nn -e -i eth0 > "$DIR/pod.pcap.txt" 2>&1 &
  ip netns exec $PA timeout $((3 * AGEING)) tcpdump -l -nn -e -i br-pe-110 > "$DIR/pa.pcap.txt" 2>&1 &
  for pe in $PA $PB; do timeout $((3 * AGEING)) ip -n $pe -ts monitor neigh > "$DIR/$pe.mon.txt" 2>&1 & done
fi
sleep $((3 * AGEING))
if [ -n "${BR_DIAG:-}" ]; then
  sleep 1; echo "--- BR_DIAG pod eth0"; head -40 "$DIR/pod.pcap.txt"; echo "--- BR_DIAG nodeA br-pe-110"; head -40 "$DIR/pa.pcap.txt"
  for pe in $PA $PB; do echo "--- BR_DIAG $pe"; bridge -n $pe fdb show br br-pe-110 | grep -v permanent; ip -n $pe neigh show dev br-pe-110
    echo "- monitor"; head -60 "$DIR/$pe.mon.txt"; echo "- routes"; ip -n $pe route show vrf red; ip -n $pe -6 route show vrf red; ip -n $pe nexthop; done
  grep -i -E "probe|STALE" "$DIR/a/perouter.log" | tail -20
fi
check control:fdb-aged-without-refresher fdb_not_local $PB
check control:type2-withdrawn-without-refresher wait_until 10 t2_not_from 192.171.10.10 100.65.0.1

end_t=$(date +%s.%N)
echo
lab_results 48
say "MAC mobility sequence at leafA: nodeA $SEQ0 -> nodeB $SEQ1 -> nodeA $SEQ2 (MAC+IPv6 route)"
say "time to recover (pod deleted -> hostA_red reaches it on the other node): IPv4 ${m1_t} s, IPv6 ${m2_t} s; whole lab $(echo "$end_t - $t0" | bc) s"
if [ "$FAIL" -ne 0 ]; then
  echo "--- leafA"; vty la "show bgp summary"; vty la "show bgp l2vpn evpn route type macip" | head -60; ip -n $LA route show vrf red; ip -n $LA -6 route show vrf red
  for pe in $PA $PB; do echo "--- $pe"; bridge -n $pe fdb show br br-pe-110 | grep -v permanent; ip -n $pe neigh show dev br-pe-110; done
  lab_log_tail "$DIR/a/perouter.log" 50; lab_log_tail "$DIR/b/perouter.log" 50
  echo "BRIDGE-REFRESH-FAILED"
else
  echo "BRIDGE-REFRESH-PASSED"
fi
exit "$FAIL"
