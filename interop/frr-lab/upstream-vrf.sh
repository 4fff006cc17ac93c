#!/usr/bin/env bash
# Upstream OpenPERouter's VRF end-to-end cases (e2etests/tests/evpn_routes.go, route_target.go and
# the L3VNI host types of sessions.go) against `perouter run`, with upstream's topology reduced to
# fit one emulated guest. Needs a kernel with VRF (CONFIG_NET_VRF): run it in the virtme-ng guest,
#
#   flock /tmp/perouter-lab.lock interop/frr-lab/guest-labs.sh upstream-vrf.sh
#
# (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary). Topology (namespaces prefixed
# with a per-run tag `ev<pid>`):
#   sw       a bridge: the node's toswitch1 192.168.11.3, leafA 192.168.11.2, leafB 192.168.11.4
#   leafA    FRR AS 64520, VTEP 100.64.0.1; vrf red vni 100 (table 1100), vrf blue vni 200
#            (table 1101), advertise-all-vni; hostA_red 192.168.20.2 2001:db8:20::2,
#            hostA_blue 192.168.21.2 2001:db8:21::2
#   leafB    FRR AS 64520, VTEP 100.64.0.2; the same VRFs; hostB_red 192.169.20.2 2001:db8:120::2,
#            hostB_blue 192.169.21.2 2001:db8:121::2
#   host     the node's host namespace: FRR host speaker AS 64515 (upstream's frr-k8s), dual stack
#            sessions in both VRFs; service IPs red 10.250.0.1 fd00:250::1, blue 10.250.1.1 fd00:251::1
#   pe       perouter's router namespace: L3VNIs red (VNI 100, table 1100) and blue (VNI 200,
#            table 1200), localCIDR 192.169.10.0/24 + 2001:db8:1::/64 and 192.169.11.0/24 +
#            2001:db8:2::/64
#
# Route targets (route_target.go): red has explicit RTs, blue auto RTs. leafA's red exports
# 64520:1100 and imports 64514:1100; leafB's red exports 10.10.10.2:100 and imports 10.10.10.1:100.
# Our red imports 64520:1100 (ASN:NN) and exports 64514:1100 + 10.10.10.1:100 (A.B.C.D:NN), so
# leafB's red routes must NOT land until 10.10.10.2:100 is added to importRTs live; then they do.
#
# Phases: (1) evpn_routes + route_target with red hostASN 64515 and blue hostType External;
# (2) blue deleted (its sessions go down), red switched to hostType Internal with the host speaker
# restarted as AS 64514 (iBGP, next-hop-self: the host sees our address, not the VTEP, as next hop);
# (3) an L3VNI with neither hostASN nor hostType (and one with hostASN = ASN) is refused by
# `perouter check` and by the running daemon, and the rest stays applied.
# 64 checks; about 85 s in the emulated guest (104 s with its boot).
#
# UNDERLAY_KIND picks the node's underlay NIC (upstream's [MacvlanStatic] / [MacvlanDHCP] variants):
#   networkdevice   (default) toswitch1 (192.168.11.3) is moved into the router namespace
#   macvlan-static  a CNIDevice: Debian's macvlan CNI plugin on toswitch1, which stays in the host
#                   namespace without an address; net1 in the router namespace, static IPAM 192.168.11.3/24
#   macvlan-dhcp    the same with the dhcp IPAM plugin (its daemon started here) and dnsmasq on the
#                   switch (br0 192.168.11.254) leasing 192.168.11.3
# The macvlan kinds add 3 (static) or 4 (dhcp) checks on net1. CNI_PLUGINS=dir picks the plugins.
set -u
LAB=upstream-vrf
. "$(dirname "$0")/lib.sh"
TAG=ev$$
DIR=$(mktemp -d /tmp/perouter-upstream-vrf.XXXXXX)
chmod 755 "$DIR"
SW=${TAG}sw; HOST=${TAG}host; PE=${TAG}pe; LA=${TAG}la; LB=${TAG}lb
HAR=${TAG}har; HAB=${TAG}hab; HBR=${TAG}hbr; HBB=${TAG}hbb
NSS="$SW $HOST $PE $LA $LB $HAR $HAB $HBR $HBB"
PIDS=()
declare -A DETAIL
trap lab_cleanup EXIT

if ! lab_has_vrf; then
  echo "upstream-vrf: this kernel has no VRF support (CONFIG_NET_VRF); run it through interop/frr-lab/guest-labs.sh" >&2
  exit 2
fi
UNDERLAY_KIND=${UNDERLAY_KIND:-networkdevice}
CNI_PLUGINS=${CNI_PLUGINS:-/usr/lib/cni}
case $UNDERLAY_KIND in
networkdevice) lab_need_tools python3 ;;
macvlan-static) LAB_PKG[$CNI_PLUGINS/macvlan]=containernetworking-plugins; lab_need_tools python3 "$CNI_PLUGINS/macvlan" ;;
macvlan-dhcp) LAB_PKG[$CNI_PLUGINS/macvlan]=containernetworking-plugins; LAB_PKG[dnsmasq]=dnsmasq-base
  lab_need_tools python3 "$CNI_PLUGINS/macvlan" dnsmasq ;;
*) echo "upstream-vrf: UNDERLAY_KIND=$UNDERLAY_KIND: expected networkdevice, macvlan-static or macvlan-dhcp" >&2; exit 2 ;;
esac
lab_find_perouter
say "running on kernel $(uname -r) ($( [ -n "${PEROUTER_BIN:-}" ] && echo "guest-labs" || echo "direct")), underlay $UNDERLAY_KIND"
t0=$(date +%s.%N)

for n in $SW $HOST $LA $LB $HAR $HAB $HBR $HBB; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n $SW link add br0 type bridge
ip -n $SW link set br0 up
ip link add toswitch1 netns $HOST type veth peer name sw-n netns $SW
ip -n $SW link set sw-n master br0 up
# A macvlan underlay leaves the parent in the host namespace without the node's address (net1 has it).
[ "$UNDERLAY_KIND" = networkdevice ] && ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $HOST addr add 10.250.0.1/32 dev lo
ip -n $HOST addr add 10.250.1.1/32 dev lo
ip -n $HOST addr add fd00:250::1/128 dev lo nodad
ip -n $HOST addr add fd00:251::1/128 dev lo nodad

# leaf NAME NS VTEP UNDERLAY-ADDR SW-PORT RMAC-PREFIX RED4 RED6 BLUE4 BLUE6 HOST-RED HOST-BLUE
# The leaf's kernel objects as upstream's lab builds them, and its two hosts.
leaf() {
  local ns=$2 vtep=$3 addr=$4 port=$5 mac=$6 r4=$7 r6=$8 b4=$9 b6=${10} hr=${11} hb=${12}
  ip link add eth0 netns "$ns" type veth peer name "$port" netns $SW
  ip -n $SW link set "$port" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$vtep/32" dev lo
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  local vrf vni table rmac h a4 a6
  for vrf in red blue; do
    if [ $vrf = red ]; then vni=100 table=1100 rmac=${mac}:65 h=$hr a4=$r4 a6=$r6
    else vni=200 table=1101 rmac=${mac}:66 h=$hb a4=$b4 a6=$b6; fi
    ip -n "$ns" link add $vrf type vrf table $table
    ip -n "$ns" link set $vrf up
    ip -n "$ns" link add br$vni type bridge
    ip -n "$ns" link set br$vni master $vrf address "$rmac" addrgenmode none
    ip -n "$ns" link add vxlan$vni type vxlan id $vni dstport 4789 local "$vtep" nolearning
    ip -n "$ns" link set vxlan$vni master br$vni addrgenmode none
    ip -n "$ns" link set vxlan$vni type bridge_slave neigh_suppress on learning off
    ip -n "$ns" link set br$vni up
    ip -n "$ns" link set vxlan$vni up
    ip link add leaf-$vrf netns "$ns" type veth peer name eth0 netns "$h"
    ip -n "$ns" link set leaf-$vrf master $vrf
    ip -n "$ns" addr add "$a4.1/24" dev leaf-$vrf
    ip -n "$ns" addr add "$a6::1/64" dev leaf-$vrf nodad
    ip -n "$ns" link set leaf-$vrf up
    ip -n "$h" addr add "$a4.2/24" dev eth0
    ip -n "$h" addr add "$a6::2/64" dev eth0 nodad
    ip -n "$h" link set eth0 up
    ip -n "$h" route add default via "$a4.1"
    ip -n "$h" -6 route add default via "$a6::1"
  done
}
leaf A $LA 100.64.0.1 192.168.11.2 sw-a aa:bb:cc:00:0a 192.168.20 2001:db8:20 192.168.21 2001:db8:21 $HAR $HAB
leaf B $LB 100.64.0.2 192.168.11.4 sw-b aa:bb:cc:00:0b 192.169.20 2001:db8:120 192.169.21 2001:db8:121 $HBR $HBB

start_frr() { lab_start_frr "$TAG$1" "$2" "$DIR/$1"; } # NAME NS
vty() { lab_vty "$DIR/$1" "$2"; }

leaf_conf() { # NAME VTEP RED-IMPORT RED-EXPORT
  cat <<CONF
hostname $1
vrf red
 vni 100
exit-vrf
vrf blue
 vni 200
exit-vrf
router bgp 64520
 bgp router-id $2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 address-family ipv4 unicast
  network $2/32
  neighbor 192.168.11.3 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 192.168.11.3 activate
  advertise-all-vni
 exit-address-family
router bgp 64520 vrf red
 bgp router-id $2
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
  route-target import $3
  route-target export $4
 exit-address-family
router bgp 64520 vrf blue
 bgp router-id $2
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
}
mkdir -p "$DIR/la" "$DIR/lb" "$DIR/hs"
leaf_conf leafA 100.64.0.1 64514:1100 64520:1100 > "$DIR/la/frr.conf"
leaf_conf leafB 100.64.0.2 10.10.10.1:100 10.10.10.2:100 > "$DIR/lb/frr.conf"
start_frr la $LA
start_frr lb $LB

# The host speaker (upstream's frr-k8s): one instance, sessions in both VRFs, each VRF's service
# IPs advertised only into that VRF.
host_conf() { # AS REMOTE-AS-RED REMOTE-AS-BLUE(empty: no blue)
  cat <<CONF
hostname hostspeaker
ip prefix-list red4 seq 5 permit 10.250.0.1/32
ip prefix-list blue4 seq 5 permit 10.250.1.1/32
ipv6 prefix-list red6 seq 5 permit fd00:250::1/128
ipv6 prefix-list blue6 seq 5 permit fd00:251::1/128
route-map red4 permit 10
 match ip address prefix-list red4
route-map blue4 permit 10
 match ip address prefix-list blue4
route-map red6 permit 10
 match ipv6 address prefix-list red6
route-map blue6 permit 10
 match ipv6 address prefix-list blue6
router bgp $1
 bgp router-id 10.250.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.169.10.1 remote-as $2
 neighbor 192.169.10.1 timers 3 9
 neighbor 2001:db8:1::1 remote-as $2
 neighbor 2001:db8:1::1 timers 3 9
CONF
  [ -n "$3" ] && cat <<CONF
 neighbor 192.169.11.1 remote-as $3
 neighbor 192.169.11.1 timers 3 9
 neighbor 2001:db8:2::1 remote-as $3
 neighbor 2001:db8:2::1 timers 3 9
CONF
  cat <<CONF
 address-family ipv4 unicast
  network 10.250.0.1/32
  network 10.250.1.1/32
  neighbor 192.169.10.1 activate
  neighbor 192.169.10.1 route-map red4 out
CONF
  [ -n "$3" ] && cat <<CONF
  neighbor 192.169.11.1 activate
  neighbor 192.169.11.1 route-map blue4 out
CONF
  cat <<CONF
 exit-address-family
 address-family ipv6 unicast
  network fd00:250::1/128
  network fd00:251::1/128
  neighbor 2001:db8:1::1 activate
  neighbor 2001:db8:1::1 route-map red6 out
CONF
  [ -n "$3" ] && cat <<CONF
  neighbor 2001:db8:2::1 activate
  neighbor 2001:db8:2::1 route-map blue6 out
CONF
  echo " exit-address-family"
}
host_conf 64515 64514 64514 > "$DIR/hs/frr.conf"

# The node: upstream's static files.
mkdir -p "$DIR/cfg/configs"
CNI_ARGS=()
if [ "$UNDERLAY_KIND" = networkdevice ]; then
  lab_underlay "$DIR/cfg" toswitch1 \
    "{asn: 64520, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}" \
    "{asn: 64520, address: 192.168.11.4, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
else
  if [ "$UNDERLAY_KIND" = macvlan-static ]; then
    IPAM='{"type": "static", "addresses": [{"address": "192.168.11.3/24"}]}'
  else
    ip -n $SW addr add 192.168.11.254/24 dev br0
    LEASES=$DIR/dnsmasq.leases
    ip netns exec $SW dnsmasq --no-daemon --port=0 --interface=br0 --bind-interfaces \
      --dhcp-range=192.168.11.3,192.168.11.3,255.255.255.0,10m --dhcp-leasefile="$LEASES" \
      --pid-file="$DIR/dnsmasq.pid" >"$DIR/dnsmasq.log" 2>&1 &
    PIDS+=("$!")
    lab_nofds "$CNI_PLUGINS/dhcp" daemon -socketpath "$DIR/dhcp.sock" >"$DIR/dhcp.log" 2>&1 &
    PIDS+=("$!")
    wait_until 20 test -S "$DIR/dhcp.sock"
    IPAM="{\"type\": \"dhcp\", \"daemonSocketPath\": \"$DIR/dhcp.sock\"}"
  fi
  cat > "$DIR/cfg/configs/openpe_underlay.yaml" <<YAML
underlays:
  - asn: 64514
    interfaces:
      - type: CNIDevice
        cniDevice:
          type: RawConfig
          interfaceName: net1
          rawConfig: {"cniVersion": "1.0.0", "name": "underlay", "plugins": [{"type": "macvlan", "master": "toswitch1", "mode": "bridge", "ipam": $IPAM}]}
    neighbors:
      - {asn: 64520, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
      - {asn: 64520, address: 192.168.11.4, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
YAML
  CNI_ARGS=(--cni-path "$CNI_PLUGINS")
fi
red_file() { # HOST-AS-FIELD IMPORTS
  cat > "$DIR/cfg/configs/openpe_red.yaml.tmp" <<CONF
l3vnis:
  - {name: red, vrf: red, vni: 100, importRTs: [$2], exportRTs: ["64514:1100", "10.10.10.1:100"], hostSession: {asn: 64514, $1, localCIDR: {ipv4: 192.169.10.0/24, ipv6: "2001:db8:1::/64"}}}
CONF
  mv "$DIR/cfg/configs/openpe_red.yaml.tmp" "$DIR/cfg/configs/openpe_red.yaml"
}
red_file "hostASN: 64515" '"64520:1100"'
cat > "$DIR/cfg/configs/openpe_blue.yaml" <<CONF
l3vnis:
  - {name: blue, vrf: blue, vni: 200, hostSession: {asn: 64514, hostType: External, localCIDR: {ipv4: 192.169.11.0/24, ipv6: "2001:db8:2::/64"}}}
CONF
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

SOCK=$DIR/api.sock
RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 "${CNI_ARGS[@]}" >>"$DIR/perouter.log" 2>&1 &
PIDS+=("$!")
pr() { "$PEROUTER" "$@" --api-socket "$SOCK"; }
session_up() { pr_session_up "$SOCK" "$1"; }
wait_until 60 sh -c "ip -n $HOST link show host-e-100 && ip -n $HOST link show host-e-200" >/dev/null 2>&1
start_frr hs $HOST
# FRR's view of a neighbour: STATE of `show bgp neighbor ADDR json`.
frr_state() { vty "$1" "show bgp neighbor $2 json" | jq -r --arg p "$2" '.[$p].bgpState // empty'; }
frr_up() { [ "$(frr_state "$1" "$2")" = Established ]; }

# --- sessions: both leaves, and the four host sessions (red hostASN, blue hostType External).
all_up() { # one `show bgp summary` (a debug binary is slow to start in the emulated guest)
  pr show bgp summary -o json 2>/dev/null | lab_json_true '[.peers[] | select(.state == "Established") | .neighbor] as $e
    | ["192.168.11.2", "192.168.11.4", "192.169.10.2", "2001:db8:1::2", "192.169.11.2", "2001:db8:2::2"] | all(. as $a | $e | index([$a]))'
}
check sessions-established wait_until 120 all_up
check frr-leafA-session frr_up la 192.168.11.3
check frr-leafB-session frr_up lb 192.168.11.3
if [ "$UNDERLAY_KIND" != networkdevice ]; then
  check macvlan:net1-in-router-ns-with-address sh -c "ip -n $PE -o addr show dev net1 | grep -q 'inet 192.168.11.3/24'"
  check macvlan:net1-is-macvlan-on-parent sh -c "ip -n $PE -d link show dev net1 | grep -q 'macvlan mode bridge'"
  check macvlan:parent-stays-in-host-ns ip -n $HOST link show dev toswitch1
  [ "$UNDERLAY_KIND" = macvlan-dhcp ] && check macvlan-dhcp:lease-at-server grep -q 192.168.11.3 "$LEASES"
fi
ext_view() { # the host speaker's view of the blue (hostType External) session: eBGP, AS 64514
  vty hs "show bgp neighbor 192.169.11.1 json" | lab_json_true '.["192.169.11.1"] | .bgpState == "Established" and .remoteAs == 64514 and .localAs == 64515 and (.nbrExternalLink // false)'
}
check sessions.go:hostType-external-established ext_view
check sessions.go:hostASN-established frr_up hs 192.169.10.1
v6_up() { frr_up hs 2001:db8:1::1 && frr_up hs 2001:db8:2::1; }
check evpn_routes:host-v6-sessions v6_up
up_t=$(date +%s.%N)

# --- evpn_routes.go: type-5 from both leaves in the right VRF table.
# in_table NS FAMILY TABLE PREFIX PATTERN
in_table() { ip -n "$1" "$2" route show table "$3" "$4" 2>/dev/null | grep -q "$5"; }
check evpn_routes:leafA-red-v4-in-1100 wait_until 90 in_table $PE -4 1100 192.168.20.0/24 'via 100.64.0.1 dev br-pe-100'
check evpn_routes:leafA-red-v6-in-1100 wait_until 30 in_table $PE -6 1100 2001:db8:20::/64 'dev br-pe-100'
check evpn_routes:leafA-blue-v4-in-1200 wait_until 30 in_table $PE -4 1200 192.168.21.0/24 'via 100.64.0.1 dev br-pe-200'
check evpn_routes:leafA-blue-v6-in-1200 wait_until 30 in_table $PE -6 1200 2001:db8:21::/64 'dev br-pe-200'
check evpn_routes:leafB-blue-v4-in-1200 wait_until 30 in_table $PE -4 1200 192.169.21.0/24 'via 100.64.0.2 dev br-pe-200'
check evpn_routes:leafB-blue-v6-in-1200 wait_until 30 in_table $PE -6 1200 2001:db8:121::/64 'dev br-pe-200'
evpn_has() { pr show bgp evpn --type 5 -o json 2>/dev/null | jq -e "$1" >/dev/null; }
check perouter-evpn-view-leafB-red evpn_has '.[] | select(.prefix == "[5]:[0]:[24]:[192.169.20.0]" and .next_hop == "100.64.0.2" and (.route_targets | index("10.10.10.2:100")))'

# --- route_target.go: leafB's red exports 10.10.10.2:100, which red does not import yet.
sleep 2
not_in() { ! ip -n "$1" "$2" route show table "$3" 2>/dev/null | grep -q "$4"; }
check route_target:leafB-red-not-imported sh -c "$(declare -f not_in); not_in $PE -4 1100 192.169.20.0/24 && not_in $PE -6 1100 2001:db8:120::"
check route_target:leafB-red-not-in-vrf-bgp sh -c "! '$PEROUTER' show bgp ipv4 unicast --vrf red --api-socket '$SOCK' -o json | grep -q 192.169.20.0"
# Isolation: nothing of red in blue's table and the other way round.
check evpn_routes:isolation-blue-has-no-red sh -c "$(declare -f not_in); not_in $PE -4 1200 '192.168.20.0\|192.169.20.0\|10.250.0.1' && not_in $PE -6 1200 '2001:db8:20::\|2001:db8:120::\|fd00:250::1'"
check evpn_routes:isolation-red-has-no-blue sh -c "$(declare -f not_in); not_in $PE -4 1100 '192.168.21.0\|192.169.21.0\|10.250.1.1' && not_in $PE -6 1100 '2001:db8:21::\|2001:db8:121::\|fd00:251::1'"

# Host prefixes into the VRFs, then to both leaves.
check host-red-v4-in-1100 wait_until 60 in_table $PE -4 1100 10.250.0.1 'via 192.169.10.2 dev pe-e-100'
check host-red-v6-in-1100 wait_until 30 in_table $PE -6 1100 fd00:250::1 'dev pe-e-100'
check host-blue-v4-in-1200 wait_until 30 in_table $PE -4 1200 10.250.1.1 'via 192.169.11.2 dev pe-e-200'
check host-blue-v6-in-1200 wait_until 30 in_table $PE -6 1200 fd00:251::1 'dev pe-e-200'
# leaf_has LEAF FAMILY TABLE PREFIX: the leaf's VRF table routes PREFIX over VXLAN to our VTEP.
leaf_has() { ip -n "$1" "$2" route show table "$3" "$4" 2>/dev/null | grep -q "100.65.0.0"; }
check route_target:leafA-imports-red-via-asn-rt wait_until 60 leaf_has $LA -4 1100 10.250.0.1
check route_target:leafB-imports-red-via-ip-rt wait_until 30 leaf_has $LB -4 1100 10.250.0.1
check evpn_routes:leafA-red-v6-host-prefix wait_until 30 leaf_has $LA -6 1100 fd00:250::1
check evpn_routes:leafB-red-v6-host-prefix wait_until 30 leaf_has $LB -6 1100 fd00:250::1
check evpn_routes:leafA-blue-host-prefixes wait_until 30 sh -c "$(declare -f leaf_has); leaf_has $LA -4 1101 10.250.1.1 && leaf_has $LA -6 1101 fd00:251::1"
check evpn_routes:leafB-blue-host-prefixes wait_until 30 sh -c "$(declare -f leaf_has); leaf_has $LB -4 1101 10.250.1.1 && leaf_has $LB -6 1101 fd00:251::1"
# FRR's view at leafA: our red type-5 carries both explicit RTs and not the auto one.
leaf_rt_view() {
  vty la "show bgp l2vpn evpn route type prefix json" | python3 -c '
import json, sys
d = json.load(sys.stdin); ok = False
for rd, v in d.items():
    if not isinstance(v, dict): continue
    for k, r in v.items():
        if isinstance(r, dict) and "[10.250.0.1]" in k:
            for g in r.get("paths", []):
                for p in (g if isinstance(g, list) else [g]):
                    ec = p.get("extendedCommunity", {}).get("string", "")
                    if "RT:64514:1100" in ec and "RT:10.10.10.1:100" in ec and "RT:64514:100" not in ec: ok = True
sys.exit(0 if ok else 1)'
}
check route_target:frr-sees-explicit-export-rts leaf_rt_view
# No leak into the other VRF at the leaves.
check evpn_routes:leafA-isolation sh -c "$(declare -f not_in); not_in $LA -4 1101 10.250.0.1 && not_in $LA -4 1100 10.250.1.1"

# The host speaker: each VRF's remote prefixes, from the right session only.
hs_route_from() { # PREFIX NEIGHBOUR-ADDR (v4 or v6 family from the prefix)
  local fam=ip; case $1 in *:*) fam=ipv6 ;; esac
  vty hs "show bgp $([ $fam = ip ] && echo ipv4 || echo ipv6) unicast $1 json" | \
    lab_json_true --arg n "$2" 'any(.paths[]; .valid and (.peer.peerId == $n))'
}
check evpn_routes:translated-red-v4-to-host wait_until 60 hs_route_from 192.168.20.0/24 192.169.10.1
check evpn_routes:translated-red-v6-to-host wait_until 30 hs_route_from 2001:db8:20::/64 2001:db8:1::1
check evpn_routes:translated-blue-v4-to-host wait_until 30 hs_route_from 192.169.21.0/24 192.169.11.1
check evpn_routes:translated-blue-v6-to-host wait_until 30 hs_route_from 2001:db8:121::/64 2001:db8:2::1
check evpn_routes:host-red-session-no-blue sh -c "! vtysh --vty_socket $DIR/hs -c 'show bgp ipv4 unicast neighbors 192.169.10.1 routes' 2>/dev/null | grep -q '192.168.21.0\|192.169.21.0'"

# Traffic: each remote host pings its VRF's service IP (v4 and v6), and back.
pingv() { ip netns exec "$1" ping $2 -c 1 -W 1 "$3" >/dev/null 2>&1; } # NS FAMILY-AND-OPTIONS DEST
check "evpn_routes:vni-red-hostA-ipv4" wait_until 30 pingv $HAR -4 10.250.0.1
check "evpn_routes:vni-red-hostA-ipv6" wait_until 30 pingv $HAR -6 fd00:250::1
check "evpn_routes:vni-blue-hostA-ipv4" wait_until 30 pingv $HAB -4 10.250.1.1
check "evpn_routes:vni-blue-hostA-ipv6" wait_until 30 pingv $HAB -6 fd00:251::1
check "evpn_routes:vni-blue-hostB-ipv4" wait_until 30 pingv $HBB -4 10.250.1.1
check "evpn_routes:vni-blue-hostB-ipv6" wait_until 30 pingv $HBB -6 fd00:251::1
check "evpn_routes:host-to-hostA-red-ipv4" pingv $HOST "-4 -I 10.250.0.1" 192.168.20.2
check "evpn_routes:host-to-hostB-blue-ipv6" pingv $HOST "-6 -I fd00:251::1" 2001:db8:121::2
check "evpn_routes:red-cannot-reach-blue" sh -c "! ip netns exec $HAR ping -c 2 -W 1 10.250.1.1 >/dev/null 2>&1"
check "route_target:hostB-red-unreachable-before" sh -c "! ip netns exec $HBR ping -c 2 -W 1 10.250.0.1 >/dev/null 2>&1"
conv_t=$(date +%s.%N)

# --- route_target.go: import leafB's A.B.C.D:NN RT live; its red routes land, the rest untouched.
leafA_est=$(vty la "show bgp neighbor 192.168.11.3 json" | jq -r '.["192.168.11.3"].connectionsEstablished')
red_file "hostASN: 64515" '"64520:1100", "10.10.10.2:100"'
check route_target:leafB-red-v4-lands-after-import wait_until 60 in_table $PE -4 1100 192.169.20.0/24 'via 100.64.0.2 dev br-pe-100'
check route_target:leafB-red-v6-lands-after-import wait_until 30 in_table $PE -6 1100 2001:db8:120::/64 'dev br-pe-100'
check route_target:leafB-red-not-in-blue sh -c "$(declare -f not_in); not_in $PE -4 1200 192.169.20.0"
check "evpn_routes:vni-red-hostB-ipv4" wait_until 30 pingv $HBR -4 10.250.0.1
check "evpn_routes:vni-red-hostB-ipv6" wait_until 30 pingv $HBR -6 fd00:250::1
check route_target:leafA-session-untouched sh -c "[ \"\$(vtysh --vty_socket $DIR/la -c 'show bgp neighbor 192.168.11.3 json' 2>/dev/null | jq -r '.[\"192.168.11.3\"].connectionsEstablished')\" = '$leafA_est' ]"

# --- sessions.go: deleting blue (hostType External) tears its host sessions down.
rm "$DIR/cfg/configs/openpe_blue.yaml"
check sessions.go:external-removed-with-vni wait_until 60 sh -c "! ip -n $HOST link show host-e-200 >/dev/null 2>&1 && ! ip -n $PE link show blue >/dev/null 2>&1"
check sessions.go:external-session-down-at-host wait_until 30 sh -c "[ \"\$(vtysh --vty_socket $DIR/hs -c 'show bgp neighbor 192.169.11.1 json' 2>/dev/null | jq -r '.[\"192.169.11.1\"].bgpState')\" != Established ]"

# --- sessions.go: hostType Internal (upstream's "HostASN the same as FRR ASN (iBGP)" case
# configures exactly this): the host speaker is AS 64514, iBGP, and we set next-hop-self.
HS_PIDS=$(cat "$DIR"/hs/*.pid)
kill $HS_PIDS 2>/dev/null
red_file "hostType: Internal" '"64520:1100", "10.10.10.2:100"'
hs_gone() { local p; for p in $HS_PIDS; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_until 20 hs_gone
mkdir -p "$DIR/hs2"
host_conf 64514 internal "" > "$DIR/hs2/frr.conf"
start_frr hs2 $HOST
ibgp_view() {
  vty hs2 "show bgp neighbor 192.169.10.1 json" | lab_json_true '.["192.169.10.1"] | .bgpState == "Established" and .remoteAs == 64514 and .localAs == 64514 and (.nbrInternalLink // false)'
}
check sessions.go:hostType-internal-established wait_until 90 ibgp_view
check sessions.go:internal-perouter-view wait_until 30 session_up 192.169.10.2
nhs() { # the iBGP host speaker reaches hostA_red's prefix through our address: next-hop-self
  vty hs2 "show bgp ipv4 unicast 192.168.20.0/24 json" | \
    lab_json_true 'any(.paths[]; .valid and any(.nexthops[]; .ip == "192.169.10.1"))'
}
check sessions.go:internal-next-hop-self wait_until 60 nhs
check sessions.go:internal-v6-session wait_until 60 sh -c "[ \"\$(vtysh --vty_socket $DIR/hs2 -c 'show bgp neighbor 2001:db8:1::1 json' 2>/dev/null | jq -r '.[\"2001:db8:1::1\"].bgpState')\" = Established ]"
check sessions.go:internal-host-prefix-at-leafA wait_until 60 leaf_has $LA -4 1100 10.250.0.1
check sessions.go:internal-ping-hostA-red wait_until 30 pingv $HAR -4 10.250.0.1
check sessions.go:internal-ping-hostB-red-v6 wait_until 30 pingv $HBR -6 fd00:250::1

# --- sessions.go: an L3VNI with neither hostASN nor hostType is refused; so is hostASN = asn
# (upstream's rule for L3VNIs); the rest stays applied.
hs_est=$(vty hs2 "show bgp neighbor 192.169.10.1 json" | jq -r '.["192.169.10.1"].connectionsEstablished')
cat > "$DIR/cfg/configs/openpe_bad.yaml.tmp" <<CONF
l3vnis:
  - {name: green, vrf: green, vni: 300, hostSession: {asn: 64514, localCIDR: {ipv4: 192.169.12.0/24}}}
  - {name: same, vrf: same, vni: 400, hostSession: {asn: 64514, hostASN: 64514, localCIDR: {ipv4: 192.169.13.0/24}}}
CONF
mv "$DIR/cfg/configs/openpe_bad.yaml.tmp" "$DIR/cfg/configs/openpe_bad.yaml"
"$PEROUTER" check "$DIR/cfg" > "$DIR/check.txt" 2>&1
check sessions.go:neither-refused-by-check grep -q 'FAILED L3VNI green: either spec.hostSession.hostASN or spec.hostSession.hostType must be set' "$DIR/check.txt"
check sessions.go:same-asn-refused-by-check grep -q 'FAILED L3VNI same: spec.hostSession.hostASN must be different' "$DIR/check.txt"
status_has() { pr show status 2>/dev/null | grep -q "$1"; }
check sessions.go:neither-refused-by-run wait_until 30 status_has 'either spec.hostSession.hostASN or spec.hostSession.hostType must be set'
check sessions.go:neither-nothing-built sh -c "! ip -n $PE link show green >/dev/null 2>&1 && ! ip -n $HOST link show host-e-300 >/dev/null 2>&1 && ! ip -n $PE link show same >/dev/null 2>&1"
sleep 2
check sessions.go:rest-still-applied sh -c "[ \"\$(vtysh --vty_socket $DIR/hs2 -c 'show bgp neighbor 192.169.10.1 json' 2>/dev/null | jq -r '.[\"192.169.10.1\"].connectionsEstablished')\" = '$hs_est' ] && ip netns exec $HAR ping -c 1 -W 1 10.250.0.1 >/dev/null"
pr show status 2>&1 | sed 's/^/  /' | head -20

end_t=$(date +%s.%N)
DETAIL[timing]="start -> all sessions Established $(echo "$up_t - $t0" | bc) s; -> routes and pings (phase 1) $(echo "$conv_t - $t0" | bc) s; whole lab $(echo "$end_t - $t0" | bc) s"
echo
lab_results 56
for k in "${!DETAIL[@]}"; do echo "$k: ${DETAIL[$k]}"; done
if [ "$FAIL" -ne 0 ]; then
  echo "--- router namespace"; ip -n $PE -br link; ip -n $PE route show table 1100; ip -n $PE -6 route show table 1100; ip -n $PE route show table 1200
  echo "--- perouter"; pr show bgp summary 2>&1; pr show bgp evpn --type 5 2>&1 | head -40
  echo "--- leafA"; vty la "show bgp summary"; vty la "show bgp l2vpn evpn route type prefix" | head -60; ip -n $LA route show table 1100
  echo "--- leafB"; vty lb "show bgp summary"; ip -n $LB route show table 1100
  echo "--- host speaker"; vty hs "show bgp summary"; vty hs2 "show bgp summary"; vty hs "show ip bgp"
  lab_log_tail "$DIR/perouter.log" 80
  echo "UPSTREAM-VRF-FAILED"
else
  echo "UPSTREAM-VRF-PASSED"
fi
exit "$FAIL"
