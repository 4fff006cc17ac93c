#!/usr/bin/env bash
# Upstream's underlay_address_families.go against perouter, on this kernel (no VRF needed):
# `perouter run` from an OpenPERouter static underlay with three kinds of neighbour, each with
# its own FRR 8.4 ToR:
#   ipv6        `address: 2001:db8:11::2`: one IPv6 session carrying IPv4 unicast (RFC 8950
#               extended next hop), IPv6 unicast and L2VPN EVPN (our L2VNI 110's type-3 at FRR)
#   unnumbered  `interface: ulun`: FRR's `neighbor tun-eth0 interface` learns our link-local
#               address from our Router Advertisements and connects to it; IPv4 routes both
#               ways with IPv6 link-local next hops (RFC 8950); the kernel route in the router
#               namespace `via inet6 fe80::… dev ulun`
#   listen      `listenRange: 192.168.13.0/28`: a ToR connecting from 192.168.13.2 is accepted
#               with the configured AS; one connecting from 192.168.13.20 is refused
#   listen6     `listenRange: 2001:db8:14::/64`: a ToR connecting from 2001:db8:14::2 is accepted
#               (ListenRangeIPv6), IPv4 and IPv6 routes over it
#   passthrough an FRR host speaker on the passthrough (frr-k8s' role, AS 64517, 10.200.0.1/32):
#               its route reaches every ToR above and every ToR's route reaches it, host -> ToR
#               pings over each underlay kind (passthrough_routes.go [IPv6|Unnumbered|ListenRange|
#               ListenRangeIPv6])
# Each asserts the kernel state in the router namespace, FRR's view (vtysh JSON) and traffic.
#
#   sudo flock /tmp/perouter-lab.lock interop/frr-lab/underlay-address-families.sh
#   (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary)
set -u
LAB=underlay-af
. "$(dirname "$0")/lib.sh"
lab_need_tools
lab_find_perouter
say "running on: $(uname -r) ($(lab_has_vrf && echo 'VRF available' || echo 'host kernel, no VRF device'))"
TAG=uaf$$
DIR=$(mktemp -d /tmp/perouter-uaf.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; T6=${TAG}t6; TUN=${TAG}tun; TLR=${TAG}tlr; TOUT=${TAG}tout; TL6=${TAG}tl6
NSS="$HOST $PE $T6 $TUN $TLR $TOUT $TL6"
PIDS=()
T0=$(date +%s.%N)

trap lab_cleanup EXIT

for n in $HOST $T6 $TUN $TLR $TOUT $TL6; do ip netns add "$n"; ip -n "$n" link set lo up; done
# IPv6 numbered link.
ip link add ul6 netns $HOST type veth peer name t6-eth0 netns $T6
ip -n $HOST addr add 2001:db8:11::3/64 dev ul6 nodad
ip -n $T6 addr add 2001:db8:11::2/64 dev t6-eth0 nodad
ip -n $T6 addr add 10.106.0.1/24 dev lo
ip -n $T6 addr add 2001:db8:106::1/48 dev lo
# Unnumbered link: link-local addresses only.
ip link add ulun netns $HOST type veth peer name tun-eth0 netns $TUN
ip -n $TUN addr add 10.107.0.1/24 dev lo
# Listen range: the in-range ToR and the out-of-range one on one switch (a bridge in $TLR).
ip link add ulv4 netns $HOST type veth peer name tlr-eth0 netns $TLR
ip -n $HOST addr add 192.168.13.3/24 dev ulv4
ip -n $TLR link add br0 type bridge
ip -n $TLR link set tlr-eth0 master br0
ip link add tlr-l2 netns $TLR type veth peer name tout-eth0 netns $TOUT
ip -n $TLR link set tlr-l2 master br0
ip -n $TLR addr add 192.168.13.2/24 dev br0
ip -n $TOUT addr add 192.168.13.20/24 dev tout-eth0
ip -n $TLR addr add 10.108.0.1/24 dev lo
# IPv6 listen range: the ToR at 2001:db8:14::2 connects to us.
ip link add ul6lr netns $HOST type veth peer name tl6-eth0 netns $TL6
ip -n $HOST addr add 2001:db8:14::3/64 dev ul6lr nodad
ip -n $TL6 addr add 2001:db8:14::2/64 dev tl6-eth0 nodad
ip -n $TL6 addr add 10.109.0.1/24 dev lo
ip -n $TL6 addr add 2001:db8:109::1/48 dev lo
ip -n $TL6 link set tl6-eth0 up
ip -n $HOST addr add 10.200.0.1/32 dev lo
for l in ul6 ulun ulv4 ul6lr; do ip -n $HOST link set $l up; done
ip -n $T6 link set t6-eth0 up; ip -n $TUN link set tun-eth0 up
for l in tlr-eth0 tlr-l2 br0; do ip -n $TLR link set $l up; done
ip -n $TOUT link set tout-eth0 up
for n in $T6 $TUN $TLR $TL6; do
  ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
done

mkdir -p "$DIR/t6" "$DIR/tun" "$DIR/tlr" "$DIR/tout" "$DIR/tl6" "$DIR/hostfrr"
cat > "$DIR/t6/frr.conf" <<CONF
hostname t6
router bgp 64512
 bgp router-id 10.0.6.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 2001:db8:11::3 remote-as 64514
 neighbor 2001:db8:11::3 timers 3 9
 neighbor 2001:db8:11::3 capability extended-nexthop
 address-family ipv4 unicast
  network 10.106.0.0/24
  neighbor 2001:db8:11::3 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:106::/48
  neighbor 2001:db8:11::3 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 2001:db8:11::3 activate
 exit-address-family
CONF
cat > "$DIR/tun/frr.conf" <<CONF
hostname tun
router bgp 64513
 bgp router-id 10.0.7.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor tun-eth0 interface remote-as 64514
 neighbor tun-eth0 timers 3 9
 address-family ipv4 unicast
  network 10.107.0.0/24
  neighbor tun-eth0 activate
 exit-address-family
CONF
for t in tlr:192.168.13.2 tout:192.168.13.20; do
  cat > "$DIR/${t%%:*}/frr.conf" <<CONF
hostname ${t%%:*}
router bgp 64515
 bgp router-id ${t#*:}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.13.3 remote-as 64514
 neighbor 192.168.13.3 timers 3 9
 neighbor 192.168.13.3 timers connect 2
 address-family ipv4 unicast
  network 10.108.0.0/24
  neighbor 192.168.13.3 activate
 exit-address-family
CONF
done
sed -i '/network 10.108.0.0/d' "$DIR/tout/frr.conf"
cat > "$DIR/tl6/frr.conf" <<CONF
hostname tl6
router bgp 64516
 bgp router-id 10.0.9.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 2001:db8:14::3 remote-as 64514
 neighbor 2001:db8:14::3 timers 3 9
 neighbor 2001:db8:14::3 timers connect 2
 neighbor 2001:db8:14::3 capability extended-nexthop
 address-family ipv4 unicast
  network 10.109.0.0/24
  neighbor 2001:db8:14::3 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:109::/48
  neighbor 2001:db8:14::3 activate
 exit-address-family
CONF
# The host speaker on the passthrough (frr-k8s' role).
cat > "$DIR/hostfrr/frr.conf" <<CONF
hostname hostspeaker
router bgp 64517
 bgp router-id 10.200.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.169.100.1 remote-as 64514
 neighbor 192.169.100.1 timers 3 9
 address-family ipv4 unicast
  network 10.200.0.1/32
  neighbor 192.169.100.1 activate
 exit-address-family
CONF
lab_start_frr "${TAG}t6" $T6 "$DIR/t6"
lab_start_frr "${TAG}tun" $TUN "$DIR/tun"
lab_start_frr "${TAG}tlr" $TLR "$DIR/tlr"
lab_start_frr "${TAG}tout" $TOUT "$DIR/tout"
lab_start_frr "${TAG}tl6" $TL6 "$DIR/tl6"
vty() { lab_vty "$DIR/$1" "$2"; }

lab_underlay "$DIR/cfg" ul6,ulun,ulv4,ul6lr \
  "{asn: 64512, address: '2001:db8:11::2', holdTimeSeconds: 9, keepaliveTimeSeconds: 3, addressFamilies: [{type: ipv4unicast}, {type: ipv6unicast}, {type: evpn}]}" \
  "{asn: 64513, interface: ulun, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}" \
  "{asn: 64515, listenRange: 192.168.13.0/28, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}" \
  "{asn: 64516, listenRange: '2001:db8:14::/64', holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
echo "bgppassthrough: {hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: 192.169.100.0/24}}}" \
  > "$DIR/cfg/configs/openpe_passthrough.yaml"
# One L2VNI (no VRF): its type-3 route must reach the ToR over the IPv6 session.
echo "l2vnis: [{name: l2-110, vni: 110, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}]" \
  > "$DIR/cfg/configs/openpe_l2vni.yaml"
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
SOCK=$DIR/api.sock
RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 --metrics-addr 127.0.0.1:0 >>"$DIR/perouter.log" 2>&1 &
PIDS+=("$!")
T1=$(date +%s.%N)
check nics-moved wait_until 20 sh -c "ip -n $PE link show ul6 && ip -n $PE link show ulun && ip -n $PE link show ulv4 && ip -n $PE link show ul6lr >/dev/null"
# The host speaker peers with pt-ns once perouter created the passthrough veth.
check pt-host-created wait_until 20 ip -n $HOST link show pt-host
lab_start_frr "${TAG}hostfrr" $HOST "$DIR/hostfrr"

nb_json() { vty "$1" "show bgp neighbors $2 json"; } # TOR NEIGHBOUR
frr_established() { nb_json "$1" "$2" | lab_json_true --arg n "$2" '.[$n].bgpState == "Established"'; }
frr_best_nh() { # TOR PREFIX JQ: a best path of PREFIX whose next hops pass JQ
  vty "$1" "show bgp ipv4 unicast $2 json" | lab_json_true "any(.paths[]; (.bestpath.overall // false) and ($3))"
}
pe_ping() { ip netns exec "$1" ping -c 1 -W 1 -I "$2" 100.65.0.0 >/dev/null 2>&1; } # NS SOURCE

# --- IPv6 underlay neighbour -----------------------------------------------------------------
say "ipv6: numbered IPv6 session, IPv4 unicast + IPv6 unicast + L2VPN EVPN"
check ipv6-frr-established wait_until 40 frr_established t6 2001:db8:11::3
check ipv6-perouter-established wait_until 10 pr_session_up "$SOCK" 2001:db8:11::2
caps=$(nb_json t6 2001:db8:11::3 | jq -c '.["2001:db8:11::3"].neighborCapabilities')
say "ipv6: FRR's view of the capabilities: $(jq -c '{multiprotocolExtensions, extendedNexthop}' <<<"$caps")"
for f in ipv4Unicast ipv6Unicast l2VpnEvpn; do
  check "ipv6-family-$f" lab_json_true --arg f "$f" '.multiprotocolExtensions[$f].advertisedAndReceived == true' <<<"$caps"
done
check ipv6-extended-nexthop-negotiated lab_json_true '.extendedNexthop == "advertisedAndReceived"' <<<"$caps"
evpn_imet() { vty t6 "show bgp l2vpn evpn route type multicast json" | lab_json_true '[.. | objects | select(has("paths")) | .paths[] | (if type == "array" then .[] else . end) | .nexthops[]?.ip] | index("100.65.0.0") != null'; }
check ipv6-evpn-type3-at-frr wait_until 20 evpn_imet
check ipv6-frr-has-vtep-via-v6-nexthop wait_until 20 frr_best_nh t6 100.65.0.0/32 'any(.nexthops[]; .ip == "2001:db8:11::3")'
v4_via() { ip -n $PE -j route show "$1" | jq -e --arg g "$2" '.[0] | .via.family == "inet6" and .via.host == $g' >/dev/null; }
check ipv6-kernel-v4-route-via-inet6 wait_until 20 v4_via 10.106.0.0/24 2001:db8:11::2
check ipv6-kernel-v6-route wait_until 20 sh -c "ip -n $PE -6 route show 2001:db8:106::/48 | grep -q 'via 2001:db8:11::2 dev ul6 proto bgp'"
check ipv6-ping-v4-over-v6-nexthop wait_until 20 pe_ping $T6 10.106.0.1
ping6_ok() { ip netns exec $PE ping -6 -c 1 -W 1 2001:db8:106::1 >/dev/null 2>&1; }
check ipv6-ping-v6 wait_until 20 ping6_ok
say "ipv6: router namespace: $(ip -n $PE route show 10.106.0.0/24) | $(ip -n $PE -6 route show 2001:db8:106::/48)"

# --- Unnumbered neighbour ----------------------------------------------------------------------
say "unnumbered: FRR learns our link-local from our RAs"
check unnumbered-frr-established wait_until 60 frr_established tun tun-eth0
our_ll=$(ip -n $PE -6 -j addr show dev ulun scope link | jq -r '.[0].addr_info[0].local')
their_ll=$(ip -n $TUN -6 -j addr show dev tun-eth0 scope link | jq -r '.[0].addr_info[0].local')
say "unnumbered: our link-local $our_ll, FRR's $their_ll"
over_ll() { nb_json tun tun-eth0 | lab_json_true --arg ll "$our_ll" '.["tun-eth0"].hostForeign == $ll'; }
check unnumbered-over-link-local over_ll
check unnumbered-perouter-established wait_until 10 pr_session_up "$SOCK" "$their_ll"
check unnumbered-frr-has-vtep-via-link-local wait_until 20 frr_best_nh tun 100.65.0.0/32 \
  "any(.nexthops[]; .afi == \"ipv6\" and ((.ip // \"\") | startswith(\"fe80\") or . == \"::\"))"
via_ll() { ip -n $PE -j route show 10.107.0.0/24 | lab_json_true --arg g "$their_ll" '.[0] | .via.family == "inet6" and .via.host == $g and .dev == "ulun"'; }
check unnumbered-kernel-route-via-link-local wait_until 20 via_ll
say "unnumbered: router namespace: $(ip -n $PE route show 10.107.0.0/24)"
say "unnumbered: FRR's kernel route to our VTEP: $(ip -n $TUN route show 100.65.0.0/32)"
check unnumbered-ping wait_until 20 pe_ping $TUN 10.107.0.1

# --- Listen range ------------------------------------------------------------------------------
say "listen: 192.168.13.0/28, ToRs at .2 (in range) and .20 (outside)"
check listen-in-range-established wait_until 40 frr_established tlr 192.168.13.3
check listen-perouter-established wait_until 10 pr_session_up "$SOCK" 192.168.13.2
check listen-kernel-route wait_until 20 sh -c "ip -n $PE route show 10.108.0.0/24 | grep -q 'via 192.168.13.2 dev ulv4'"
check listen-ping wait_until 20 pe_ping $TLR 10.108.0.1
sleep 6  # the out-of-range ToR retries every 2 s
check listen-out-of-range-refused-by-us grep -q 'connection from an unconfigured address refused.*192.168.13.20' "$DIR/perouter.log"
not_established() { ! frr_established "$@"; }
no_session() { ! "$PEROUTER" show bgp summary --api-socket "$SOCK" -o json | jq -e --arg a "$1" '.peers[] | select(.neighbor == $a)' >/dev/null; }
check listen-out-of-range-not-established not_established tout 192.168.13.3
check listen-out-of-range-no-session no_session 192.168.13.20
say "listen: $("$PEROUTER" show bgp summary --api-socket "$SOCK" 2>/dev/null | grep -E '192.168.13|fe80|2001' | tr -s ' ' | tr '\n' ';')"

# --- IPv6 listen range (ListenRangeIPv6) --------------------------------------------------------
say "listen6: 2001:db8:14::/64, ToR at 2001:db8:14::2"
check listen6-frr-established wait_until 40 frr_established tl6 2001:db8:14::3
check listen6-perouter-established wait_until 10 pr_session_up "$SOCK" 2001:db8:14::2
l6caps=$(nb_json tl6 2001:db8:14::3 | jq -c '.["2001:db8:14::3"].neighborCapabilities')
for f in ipv4Unicast ipv6Unicast; do
  check "listen6-family-$f" lab_json_true --arg f "$f" '.multiprotocolExtensions[$f].advertisedAndReceived == true' <<<"$l6caps"
done
check listen6-kernel-v4-route-via-inet6 wait_until 20 v4_via 10.109.0.0/24 2001:db8:14::2
check listen6-kernel-v6-route wait_until 20 sh -c "ip -n $PE -6 route show 2001:db8:109::/48 | grep -q 'via 2001:db8:14::2 dev ul6lr'"
check listen6-ping-v4 wait_until 20 pe_ping $TL6 10.109.0.1
check listen6-ping-v6 wait_until 20 ip netns exec $PE ping -6 -c 1 -W 1 2001:db8:109::1

# --- Passthrough host speaker over each underlay kind (passthrough_routes.go) ------------------
say "passthrough: host speaker AS 64517, 10.200.0.1/32, over every underlay kind"
check pt-host-frr-established wait_until 40 frr_established hostfrr 192.169.100.1
check pt-host-perouter-established wait_until 10 pr_session_up "$SOCK" 192.169.100.2
frr_valid() { vty "$1" "show bgp ipv4 unicast $2 json" | lab_json_true 'any(.paths[]; .valid)'; } # FRR PREFIX
host_ping() { ip netns exec $HOST ping -c 1 -W 1 -I 10.200.0.1 "$1" >/dev/null 2>&1; }
for k in ipv6:t6:10.106 unnumbered:tun:10.107 listen:tlr:10.108 listen6:tl6:10.109; do
  IFS=: read -r kind tor net <<<"$k"
  check "pt-$kind-host-route-at-tor" wait_until 20 frr_valid $tor 10.200.0.1/32
  check "pt-$kind-tor-route-at-host" wait_until 20 frr_valid hostfrr $net.0.0/24
  check "pt-$kind-host-ping-tor" wait_until 20 host_ping $net.0.1
done
check pt-host-route-in-router-ns sh -c "ip -n $PE route show 10.200.0.1 | grep -q 'via 192.169.100.2'"
say "passthrough: host namespace routes: $(ip -n $HOST route show proto bgp | tr '\n' ';')"

T2=$(date +%s.%N)
echo
lab_results 44
say "where: $(uname -r) host kernel; perouter start -> all checks: $(echo "$T2 - $T1" | bc) s; whole lab $(echo "$T2 - $T0" | bc) s"
[ $FAIL -ne 0 ] && lab_log_tail "$DIR/perouter.log" 80
exit $FAIL
