#!/usr/bin/env bash
# Upstream OpenPERouter's hostconfiguration.go L3 cases against `perouter run`: IPv6-only,
# dual-stack and mixed L3VNIs, then live edits of the VNI parameters (VNI number, host session,
# vxlanPort) and of the underlay (the neighbour's address, the tunnel endpoint CIDR). Each case
# asserts the kernel (router and host namespaces), FRR's view (vtysh JSON at the leaf and at the
# host speaker) and traffic, and the VNIs an edit does not touch keep working. Needs VRF devices:
#
#   flock /tmp/perouter-guest.lock interop/frr-lab/guest-labs.sh host-config-l3.sh
#
# Topology (namespaces prefixed hc<pid>):
#   sw      a bridge: the node's toswitch1 192.168.11.3, leafA 192.168.11.2 (and .5, the address
#           the underlay edit moves the neighbour to)
#   leafA   FRR AS 64520, VTEP 100.64.0.1, advertise-all-vni; VRFs red (VNI 100), blue (VNI 200),
#           blue2 (VNI 201: where blue lands after its VNI edit), green (VNI 300); one host each:
#           hostA_red 192.168.20.2 + 2001:db8:20::2, hostA_blue 192.168.21.2, hostA_blue2
#           192.168.22.2, hostA_green 2001:db8:23::2
#   host    the node's host namespace and its FRR host speaker AS 64515: red dual stack
#           (10.250.0.1, fd00:250::1), blue IPv4 only (10.250.1.1), green IPv6 only (fd00:252::1)
#   pe      perouter's router namespace: L3VNIs red (dual-stack localCIDR), blue (IPv4 only),
#           green (IPv6 only): upstream's "mixed" case, which holds the single-stack and the
#           dual-stack cases too
# Edits: (1) blue: VNI 200 -> 201 and its host session's localCIDR 192.169.11.0/24 ->
# 192.169.15.0/24 (the host speaker has a neighbour for each); (2) green: vxlanPort 4789 -> 4790
# (the leaf's vxlan300 is re-created with dstport 4790); (3) the underlay: neighbour 192.168.11.2
# -> 192.168.11.5 and tunnelEndpoint 100.65.0.0/24 -> 100.66.0.0/24.
# 62 checks; 308 s in the emulated guest on the loaded shared machine (2026-12-06, 8 agents on 2
# cores: the guest itself took 140 s to boot), 221 s of it until the mixed L3VNIs all pass.
set -u
LAB=host-config-l3
. "$(dirname "$0")/lib.sh"
TAG=hc$$
DIR=$(mktemp -d /tmp/perouter-host-config-l3.XXXXXX)
chmod 755 "$DIR"
SW=${TAG}sw; HOST=${TAG}host; PE=${TAG}pe; LA=${TAG}la
HR=${TAG}hr; HB=${TAG}hb; HB2=${TAG}hb2; HG=${TAG}hg
NSS="$SW $HOST $PE $LA $HR $HB $HB2 $HG"
PIDS=()
trap lab_cleanup EXIT

if ! lab_has_vrf; then
  echo "host-config-l3: this kernel has no VRF support (CONFIG_NET_VRF); run it through interop/frr-lab/guest-labs.sh" >&2
  exit 2
fi
lab_need_tools jq bc
lab_find_perouter
say "running on kernel $(uname -r)"
t0=$(date +%s.%N)

for n in $SW $HOST $LA $HR $HB $HB2 $HG; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n $SW link add br0 type bridge
ip -n $SW link set br0 up
ip link add toswitch1 netns $HOST type veth peer name sw-n netns $SW
ip -n $SW link set sw-n master br0 up
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $HOST addr add 10.250.0.1/32 dev lo
ip -n $HOST addr add 10.250.1.1/32 dev lo
ip -n $HOST addr add fd00:250::1/128 dev lo nodad
ip -n $HOST addr add fd00:252::1/128 dev lo nodad

ip link add eth0 netns $LA type veth peer name sw-a netns $SW
ip -n $SW link set sw-a master br0 up
ip -n $LA addr add 192.168.11.2/24 dev eth0
ip -n $LA addr add 192.168.11.5/24 dev eth0
ip -n $LA link set eth0 up
ip -n $LA addr add 100.64.0.1/32 dev lo
ip netns exec $LA sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# leaf_vxlan VNI PORT: (re)creates the leaf's VXLAN device of VNI on its bridge
leaf_vxlan() {
  ip -n $LA link del vxlan$1 2>/dev/null
  ip -n $LA link add vxlan$1 type vxlan id $1 dstport $2 local 100.64.0.1 nolearning
  ip -n $LA link set vxlan$1 master br$1 addrgenmode none
  ip -n $LA link set vxlan$1 type bridge_slave neigh_suppress on learning off
  ip -n $LA link set vxlan$1 up
}
# leaf_vrf VRF VNI TABLE HOST-NS V4-NET(or -) V6-NET(or -)
leaf_vrf() {
  local vrf=$1 vni=$2 table=$3 h=$4 a4=$5 a6=$6
  ip -n $LA link add $vrf type vrf table $table
  ip -n $LA link set $vrf up
  ip -n $LA link add br$vni type bridge
  ip -n $LA link set br$vni master $vrf address aa:bb:cc:00:0a:$(printf %02x $((table - 1000))) addrgenmode none
  ip -n $LA link set br$vni up
  leaf_vxlan $vni 4789
  ip link add l-$vrf netns $LA type veth peer name eth0 netns $h
  ip -n $LA link set l-$vrf master $vrf up
  ip -n $h link set eth0 up
  if [ "$a4" != - ]; then
    ip -n $LA addr add $a4.1/24 dev l-$vrf; ip -n $h addr add $a4.2/24 dev eth0
    ip -n $h route add default via $a4.1
  fi
  if [ "$a6" != - ]; then
    ip -n $LA addr add $a6::1/64 dev l-$vrf nodad; ip -n $h addr add $a6::2/64 dev eth0 nodad
    ip -n $h -6 route add default via $a6::1
  fi
}
leaf_vrf red 100 1100 $HR 192.168.20 2001:db8:20
leaf_vrf blue 200 1101 $HB 192.168.21 -
leaf_vrf blue2 201 1102 $HB2 192.168.22 -
leaf_vrf green 300 1103 $HG - 2001:db8:23

mkdir -p "$DIR/la" "$DIR/hs"
{
  echo "hostname leafA"
  for v in red:100 blue:200 blue2:201 green:300; do printf 'vrf %s\n vni %s\nexit-vrf\n' ${v%:*} ${v#*:}; done
  cat <<CONF
router bgp 64520
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
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
CONF
  for v in red blue blue2 green; do cat <<CONF
router bgp 64520 vrf $v
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
  done
} > "$DIR/la/frr.conf"
lab_start_frr "${TAG}la" $LA "$DIR/la"

# The host speaker: red v4+v6, blue v4 (before and after its localCIDR edit), green v6; each
# VRF's service IPs to its own sessions only.
cat > "$DIR/hs/frr.conf" <<CONF
hostname hostspeaker
ip prefix-list red4 seq 5 permit 10.250.0.1/32
ip prefix-list blue4 seq 5 permit 10.250.1.1/32
ipv6 prefix-list red6 seq 5 permit fd00:250::1/128
ipv6 prefix-list green6 seq 5 permit fd00:252::1/128
route-map red4 permit 10
 match ip address prefix-list red4
route-map blue4 permit 10
 match ip address prefix-list blue4
route-map red6 permit 10
 match ipv6 address prefix-list red6
route-map green6 permit 10
 match ipv6 address prefix-list green6
router bgp 64515
 bgp router-id 10.250.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.169.10.1 remote-as 64514
 neighbor 2001:db8:1::1 remote-as 64514
 neighbor 192.169.11.1 remote-as 64514
 neighbor 192.169.15.1 remote-as 64514
 neighbor 2001:db8:3::1 remote-as 64514
 neighbor 192.169.10.1 timers 3 9
 neighbor 2001:db8:1::1 timers 3 9
 neighbor 192.169.11.1 timers 3 9
 neighbor 192.169.15.1 timers 3 9
 neighbor 2001:db8:3::1 timers 3 9
 neighbor 192.169.11.1 timers connect 2
 neighbor 192.169.15.1 timers connect 2
 address-family ipv4 unicast
  network 10.250.0.1/32
  network 10.250.1.1/32
  neighbor 192.169.10.1 activate
  neighbor 192.169.10.1 route-map red4 out
  neighbor 192.169.11.1 activate
  neighbor 192.169.11.1 route-map blue4 out
  neighbor 192.169.15.1 activate
  neighbor 192.169.15.1 route-map blue4 out
 exit-address-family
 address-family ipv6 unicast
  network fd00:250::1/128
  network fd00:252::1/128
  neighbor 2001:db8:1::1 activate
  neighbor 2001:db8:1::1 route-map red6 out
  neighbor 2001:db8:3::1 activate
  neighbor 2001:db8:3::1 route-map green6 out
 exit-address-family
CONF

# The node's static files.
mkdir -p "$DIR/cfg/configs"
put() { cat > "$DIR/cfg/configs/$1.tmp"; mv "$DIR/cfg/configs/$1.tmp" "$DIR/cfg/configs/$1"; }
underlay() { # NEIGHBOUR TEP-CIDR
  put openpe_underlay.yaml <<CONF
underlays:
  - asn: 64514
    interfaces:
      - {type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}
    neighbors:
      - {asn: 64520, address: $1, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [$2]}
CONF
}
l3vnis() { # BLUE-VNI BLUE-CIDR GREEN-PORT
  put openpe_l3vnis.yaml <<CONF
l3vnis:
  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24, ipv6: "2001:db8:1::/64"}}}
  - {name: blue, vrf: blue, vni: $1, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: $2}}}
  - {name: green, vrf: green, vni: 300, vxlanPort: $3, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv6: "2001:db8:3::/64"}}}
CONF
}
underlay 192.168.11.2 100.65.0.0/24
l3vnis 200 192.169.11.0/24 4789
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
SOCK=$DIR/api.sock
RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 >>"$DIR/perouter.log" 2>&1 &
PIDS+=("$!")
wait_until 60 sh -c "ip -n $HOST link show host-e-100 && ip -n $HOST link show host-e-300" >/dev/null 2>&1
lab_start_frr "${TAG}hs" $HOST "$DIR/hs"

vty() { lab_vty "$DIR/$1" "$2"; }
frr_up() { [ "$(vty "$1" "show bgp neighbor $2 json" | jq -r --arg p "$2" '.[$p].bgpState // empty')" = Established ]; }
frr_down() { ! frr_up "$@"; }
pingv() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; } # NS DEST
# has_addr NS DEV ADDR/LEN
has_addr() { ip -n "$1" addr show dev "$2" 2>/dev/null | grep -q "inet6\? $3 "; }
no_family() { ! ip -n "$1" -"$3" addr show dev "$2" scope global 2>/dev/null | grep -q inet; } # NS DEV 4|6
vx() { ip -n $PE -d -j link show "$1" 2>/dev/null | jq -e "$2" >/dev/null; } # DEV JQ
in_vrf() { ip -n $PE "$1" route show vrf "$2" 2>/dev/null | grep -q "$3"; } # -4|-6 VRF PATTERN
# leaf_has FAMILY VRF PREFIX VTEP: the leaf's VRF routes PREFIX over VXLAN to our VTEP
leaf_has() { ip -n $LA "$1" route show vrf "$2" "$3" 2>/dev/null | grep -q "$4"; }
leaf_lacks() { ! ip -n $LA "$1" route show vrf "$2" 2>/dev/null | grep -q "$3"; }
# hs_from PREFIX NEIGHBOUR: the host speaker holds a valid path for PREFIX from NEIGHBOUR
hs_from() {
  local af=ipv4; case $1 in *:*) af=ipv6 ;; esac
  vty hs "show bgp $af unicast $1 json" | lab_json_true --arg n "$2" 'any(.paths[]; .valid and (.peer.peerId == $n))'
}

# --- the mixed L3VNIs (dual-stack red, IPv4-only blue, IPv6-only green): kernel
check sessions-leaf wait_until 60 frr_up la 192.168.11.3
check kernel:vrfs ip -n $PE link show red type vrf
check kernel:vrf-blue ip -n $PE link show blue type vrf
check kernel:vrf-green ip -n $PE link show green type vrf
check kernel:vxlan-ids sh -c "$(declare -f vx); PE=$PE; vx vni100 '.[0].linkinfo.info_data.id == 100' && vx vni200 '.[0].linkinfo.info_data.id == 200' && vx vni300 '.[0].linkinfo.info_data.id == 300 and .[0].linkinfo.info_data.port == 4789'"
check dual-stack:host-leg-v4 has_addr $HOST host-e-100 192.169.10.2/24
check dual-stack:host-leg-v6 has_addr $HOST host-e-100 2001:db8:1::2/64
check dual-stack:router-leg has_addr $PE pe-e-100 2001:db8:1::1/64
check ipv4-only:host-leg-v4 has_addr $HOST host-e-200 192.169.11.2/24
check ipv4-only:no-global-v6 no_family $HOST host-e-200 6
check ipv6-only:host-leg-v6 has_addr $HOST host-e-300 2001:db8:3::2/64
check ipv6-only:no-v4 no_family $HOST host-e-300 4
check ipv6-only:router-leg has_addr $PE pe-e-300 2001:db8:3::1/64
# FRR's view at the host speaker
check dual-stack:frr-session-v4 wait_until 60 frr_up hs 192.169.10.1
check dual-stack:frr-session-v6 wait_until 30 frr_up hs 2001:db8:1::1
check ipv4-only:frr-session wait_until 30 frr_up hs 192.169.11.1
check ipv6-only:frr-session wait_until 30 frr_up hs 2001:db8:3::1
# routes: leaf -> our VRFs -> host speaker, and the host prefixes -> the leaf's VRFs
check dual-stack:leaf-v4-in-vrf wait_until 60 in_vrf -4 red 192.168.20.0/24
check dual-stack:leaf-v6-in-vrf wait_until 30 in_vrf -6 red 2001:db8:20::/64
check ipv4-only:leaf-v4-in-vrf wait_until 30 in_vrf -4 blue 192.168.21.0/24
check ipv6-only:leaf-v6-in-vrf wait_until 30 in_vrf -6 green 2001:db8:23::/64
check dual-stack:frr-host-sees-v4 wait_until 60 hs_from 192.168.20.0/24 192.169.10.1
check dual-stack:frr-host-sees-v6 wait_until 30 hs_from 2001:db8:20::/64 2001:db8:1::1
check ipv4-only:frr-host-sees wait_until 30 hs_from 192.168.21.0/24 192.169.11.1
check ipv6-only:frr-host-sees wait_until 30 hs_from 2001:db8:23::/64 2001:db8:3::1
check dual-stack:frr-leaf-has-host-prefixes wait_until 60 sh -c "$(declare -f leaf_has); LA=$LA; leaf_has -4 red 10.250.0.1 100.65.0.0 && leaf_has -6 red fd00:250::1 100.65.0.0"
check ipv4-only:frr-leaf-has-host-prefix wait_until 30 leaf_has -4 blue 10.250.1.1 100.65.0.0
check ipv6-only:frr-leaf-has-host-prefix wait_until 30 leaf_has -6 green fd00:252::1 100.65.0.0
# traffic
check dual-stack:ping-v4 wait_until 30 pingv $HR 10.250.0.1
check dual-stack:ping-v6 wait_until 30 pingv $HR fd00:250::1
check ipv4-only:ping wait_until 30 pingv $HB 10.250.1.1
check ipv6-only:ping wait_until 30 pingv $HG fd00:252::1
check mixed:isolation sh -c "! ip netns exec $HB ping -c 2 -W 1 10.250.0.1 >/dev/null 2>&1 && ! ip netns exec $HG ping -c 2 -W 1 fd00:250::1 >/dev/null 2>&1"
ready_t=$(date +%s.%N)

# untouched NAME NS DEST...: pings that must keep answering through an edit of something else
untouched() { local ns=$2 d; shift 2; for d in "$@"; do pingv "$ns" "$d" || return 1; done; }
red_est() { vty hs "show bgp neighbor 192.169.10.1 json" | jq -r '.["192.169.10.1"].connectionsEstablished'; }

# --- edit the VNI parameters (1): blue's VNI 200 -> 201 and its host session 192.169.11.0/24 ->
# 192.169.15.0/24. Blue now meets the leaf's VRF blue2 (VNI 201), not blue (VNI 200).
est0=$(red_est)
e1=$(date +%s.%N)
l3vnis 201 192.169.15.0/24 4789
check edit-vni:kernel-vxlan-201 wait_until 30 sh -c "$(declare -f vx); PE=$PE; vx vni201 '.[0].linkinfo.info_data.id == 201' && ! ip -n $PE link show vni200 >/dev/null 2>&1"
check edit-vni:host-leg-moved wait_until 30 sh -c "$(declare -f has_addr); has_addr $HOST host-e-201 192.169.15.2/24 && ! ip -n $HOST link show host-e-200 >/dev/null 2>&1"
check edit-vni:frr-new-session wait_until 60 frr_up hs 192.169.15.1
check edit-vni:frr-old-session-down frr_down hs 192.169.11.1
check edit-vni:leaf-blue2-has-host wait_until 60 leaf_has -4 blue2 10.250.1.1 100.65.0.0
check edit-vni:leaf-blue-withdrawn wait_until 30 leaf_lacks -4 blue 10.250.1.1
check edit-vni:leaf-route-in-vrf wait_until 30 in_vrf -4 blue 192.168.22.0/24
check edit-vni:ping-blue2 wait_until 30 pingv $HB2 10.250.1.1
check edit-vni:blue-unreachable sh -c "! ip netns exec $HB ping -c 2 -W 1 10.250.1.1 >/dev/null 2>&1"
DETAIL_vni=$(echo "$(date +%s.%N) - $e1" | bc)
check edit-vni:untouched-traffic untouched red $HR 10.250.0.1 fd00:250::1
check edit-vni:untouched-green untouched green $HG fd00:252::1
check edit-vni:untouched-red-session sh -c "[ '$(red_est)' = '$est0' ]"

# --- edit the VNI parameters (2): green's vxlanPort 4789 -> 4790 (the leaf's device follows).
e2=$(date +%s.%N)
l3vnis 201 192.169.15.0/24 4790
leaf_vxlan 300 4790
check edit-port:kernel wait_until 30 vx vni300 '.[0].linkinfo.info_data.port == 4790'
check edit-port:frr-session frr_up hs 2001:db8:3::1
check edit-port:leaf-has-host wait_until 30 leaf_has -6 green fd00:252::1 100.65.0.0
check edit-port:ping-green wait_until 30 pingv $HG fd00:252::1
DETAIL_port=$(echo "$(date +%s.%N) - $e2" | bc)
check edit-port:untouched-traffic untouched red $HR 10.250.0.1 fd00:250::1
check edit-port:untouched-blue untouched blue $HB2 10.250.1.1
check edit-port:vni100-port-unchanged vx vni100 '.[0].linkinfo.info_data.port == 4789'

# --- edit the underlay: the neighbour 192.168.11.2 -> 192.168.11.5 (leafA's other address) and
# the tunnel endpoint 100.65.0.0/24 -> 100.66.0.0/24.
e3=$(date +%s.%N)
underlay 192.168.11.5 100.66.0.0/24
# our session now from toswitch1 to .5: at the leaf it is still 192.168.11.3, re-established
leaf_local() { vty la "show bgp neighbor 192.168.11.3 json" | lab_json_true '.["192.168.11.3"] | .bgpState == "Established" and .hostLocal == "192.168.11.5"'; }
check edit-underlay:frr-session-to-new-address wait_until 60 leaf_local
check edit-underlay:perouter-session wait_until 30 pr_session_up "$SOCK" 192.168.11.5
check edit-underlay:kernel-vtep wait_until 30 sh -c "$(declare -f vx); PE=$PE; vx vni100 '.[0].linkinfo.info_data.local == \"100.66.0.0\"' && vx vni300 '.[0].linkinfo.info_data.local == \"100.66.0.0\"'"
check edit-underlay:leaf-red-via-new-vtep wait_until 60 sh -c "$(declare -f leaf_has); LA=$LA; leaf_has -4 red 10.250.0.1 100.66.0.0 && leaf_has -6 red fd00:250::1 100.66.0.0"
check edit-underlay:leaf-blue2-via-new-vtep wait_until 30 leaf_has -4 blue2 10.250.1.1 100.66.0.0
check edit-underlay:leaf-green-via-new-vtep wait_until 30 leaf_has -6 green fd00:252::1 100.66.0.0
check edit-underlay:ping-red wait_until 30 sh -c "$(declare -f pingv); pingv $HR 10.250.0.1 && pingv $HR fd00:250::1"
check edit-underlay:ping-blue2 wait_until 30 pingv $HB2 10.250.1.1
check edit-underlay:ping-green wait_until 30 pingv $HG fd00:252::1
DETAIL_underlay=$(echo "$(date +%s.%N) - $e3" | bc)
check edit-underlay:host-sessions-kept sh -c "[ '$(red_est)' = '$est0' ]"

end_t=$(date +%s.%N)
echo
lab_results 48
say "timing: start -> mixed L3VNIs pass $(echo "$ready_t - $t0" | bc) s; VNI+host-session edit -> traffic ${DETAIL_vni} s; vxlanPort edit -> traffic ${DETAIL_port} s; underlay edit -> traffic ${DETAIL_underlay} s; whole lab $(echo "$end_t - $t0" | bc) s"
if [ "$FAIL" -ne 0 ]; then
  echo "--- router namespace"; ip -n $PE -br link; ip -n $PE -br addr; for v in red blue green; do ip -n $PE route show vrf $v; ip -n $PE -6 route show vrf $v; done
  echo "--- perouter"; "$PEROUTER" show bgp summary --api-socket "$SOCK" 2>&1; "$PEROUTER" show status --api-socket "$SOCK" 2>&1 | head -20
  echo "--- leafA"; vty la "show bgp summary"; for v in red blue blue2 green; do ip -n $LA route show vrf $v; ip -n $LA -6 route show vrf $v; done
  echo "--- host speaker"; vty hs "show bgp summary"; ip -n $HOST -br addr
  lab_log_tail "$DIR/perouter.log" 80
  echo "HOST-CONFIG-L3-FAILED"
else
  echo "HOST-CONFIG-L3-PASSED"
fi
exit "$FAIL"
