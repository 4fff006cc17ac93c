#!/usr/bin/env bash
# Upstream OpenPERouter's underlay_address_families.go, "Routes between bgp and the fabric / with
# l2vni and l3vni [IPv6|Unnumbered|ListenRange|ListenRangeIPv6] / should create two pods connected
# to the l2 overlay", against two `perouter run` nodes and a real FRR leaf: L3VNI red (vni 100) and
# L2VNI 110 in red with the anycast gateway 192.171.24.1/24 on a managed Linux host bridge, one pod
# per node, over each kind of underlay neighbour in turn. Needs a VRF: run it in the virtme-ng guest,
#
#   flock /tmp/perouter-guest.lock interop/frr-lab/guest-labs.sh upstream-l2-underlays.sh
#
# (KEEP=1 keeps the logs). Topology (namespaces prefixed with a per-run tag `ul<pid>`):
#   sw      a bridge: leaf eth0 192.168.11.2 2001:db8:11::2, each node's toswitch1 .3/::3 (A), .4/::4 (B)
#   leaf    FRR AS 64520, VTEP 100.64.0.1, `vrf red` vni 100, advertise-all-vni, redistribute
#           connected in red; hostA_red 192.168.20.2 behind it. Point-to-point links without
#           addresses lf-a <-> nodeA's toleaf and lf-b <-> nodeB's toleaf for the unnumbered kind.
#           Every kind's neighbours are configured at once and for the whole run (timers connect 2);
#           which sessions come up is decided by perouter's underlay alone.
#   nodeA   perouter AS 64514, node index 1 (VTEP 100.65.0.1), host namespace ..na, router ..pa
#   nodeB   perouter AS 64514, node index 2 (VTEP 100.65.0.2), host namespace ..nb, router ..pb
#           underlay NICs toswitch1 and toleaf on both, for the whole run
#   pods    ..poda 192.171.24.2, ..podb 192.171.24.3, default route via the gateway, each a veth
#           port of its node's br-hs-110 (as the CNI would attach it)
#
# Phases: the underlay file's neighbour is rewritten live on both nodes (the L2VNI, the L3VNI, the
# pods stay), one kind at a time, as upstream's Context per underlay:
#   ipv6        {address: 2001:db8:11::2} (we connect; IPv4 unicast with IPv6 next hops, EVPN)
#   unnumbered  {interface: toleaf} (FRR's `neighbor lf-X interface` over link-local addresses)
#   listen      {listenRange: 192.168.11.0/28} (the leaf connects from 192.168.11.2)
#   listen6     {listenRange: 2001:db8:11::/64} (the leaf connects from 2001:db8:11::2)
# Each phase asserts: the previous kind's sessions are down at FRR, this kind's are Established
# at FRR (vtysh JSON, L2VPN EVPN negotiated) and in perouter, each node's kernel route to the
# leaf's VTEP goes over this kind's link, upstream's pings (pod <-> pod across the nodes, both
# pods -> hostA_red through the gateway, hostA_red -> both pods; IPv4, as upstream's single
# entry), and the pods' type-2 MAC+IP at the leaf from their node's VTEP with the L2VNI's and the
# L3VNI's route targets and a router MAC.
set -u
LAB=upstream-l2-underlays
. "$(dirname "$0")/lib.sh"
TAG=ul$$
DIR=$(mktemp -d /tmp/perouter-upstream-l2u.XXXXXX)
chmod 755 "$DIR"
SW=${TAG}sw LEAF=${TAG}lf HAR=${TAG}har
NSS="$SW $LEAF $HAR ${TAG}na ${TAG}nb ${TAG}pa ${TAG}pb ${TAG}poda ${TAG}podb"
PIDS=()
trap lab_cleanup EXIT

if ! lab_has_vrf; then
  echo "$LAB: this kernel has no VRF support (CONFIG_NET_VRF); run it through interop/frr-lab/guest-labs.sh" >&2
  exit 2
fi
lab_need_tools
lab_find_perouter
say "running on kernel $(uname -r) ($( [ -n "${PEROUTER_BIN:-}" ] && echo "guest-labs" || echo "direct"))"
T0=$SECONDS

for n in $NSS; do case $n in ${TAG}p[ab]) ;; *) ip netns add "$n"; ip -n "$n" link set lo up ;; esac; done
ip -n $SW link add br0 type bridge
ip -n $SW link set br0 up

# --- the leaf: red as upstream's leaves build it, hostA_red behind it.
ip link add eth0 netns $LEAF type veth peer name sw-l netns $SW
ip -n $SW link set sw-l master br0 up
ip -n $LEAF addr add 192.168.11.2/24 dev eth0
ip -n $LEAF addr add 2001:db8:11::2/64 dev eth0 nodad
ip -n $LEAF link set eth0 up
ip -n $LEAF addr add 100.64.0.1/32 dev lo
ip netns exec $LEAF sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n $LEAF link add red type vrf table 1100
ip -n $LEAF link set red up
ip -n $LEAF link add br100 type bridge
ip -n $LEAF link set br100 master red address aa:bb:cc:00:0a:65 addrgenmode none
ip -n $LEAF link add vxlan100 type vxlan id 100 dstport 4789 local 100.64.0.1 nolearning
ip -n $LEAF link set vxlan100 master br100 addrgenmode none
ip -n $LEAF link set vxlan100 type bridge_slave neigh_suppress on learning off
ip -n $LEAF link set br100 up
ip -n $LEAF link set vxlan100 up
ip link add leaf-red netns $LEAF type veth peer name eth0 netns $HAR
ip -n $LEAF link set leaf-red master red
ip -n $LEAF addr add 192.168.20.1/24 dev leaf-red
ip -n $LEAF link set leaf-red up
ip -n $HAR addr add 192.168.20.2/24 dev eth0
ip -n $HAR link set eth0 up
ip -n $HAR route add default via 192.168.20.1
{
  echo "hostname leaf"
  echo "vrf red"
  echo " vni 100"
  echo "exit-vrf"
  echo "router bgp 64520"
  echo " bgp router-id 100.64.0.1"
  echo " no bgp ebgp-requires-policy"
  echo " no bgp default ipv4-unicast"
  for p in 192.168.11.3 192.168.11.4 2001:db8:11::3 2001:db8:11::4 "lf-a interface" "lf-b interface"; do
    echo " neighbor $p remote-as 64514"
    p=${p% interface}
    echo " neighbor $p timers 3 9"
    echo " neighbor $p timers connect 2"
    echo " neighbor $p advertisement-interval 0"
    case $p in 2001:*) echo " neighbor $p capability extended-nexthop" ;; esac
  done
  for af in "ipv4 unicast" "l2vpn evpn"; do
    echo " address-family $af"
    [ "$af" = "ipv4 unicast" ] && echo "  network 100.64.0.1/32"
    for p in 192.168.11.3 192.168.11.4 2001:db8:11::3 2001:db8:11::4 lf-a lf-b; do echo "  neighbor $p activate"; done
    [ "$af" = "l2vpn evpn" ] && echo "  advertise-all-vni"
    echo " exit-address-family"
  done
  echo "router bgp 64520 vrf red"
  echo " bgp router-id 100.64.0.1"
  echo " no bgp ebgp-requires-policy"
  echo " address-family ipv4 unicast"
  echo "  redistribute connected"
  echo " exit-address-family"
  echo " address-family l2vpn evpn"
  echo "  advertise ipv4 unicast"
  echo " exit-address-family"
} > "$DIR/leaf.conf"
mkdir -p "$DIR/leaf"; mv "$DIR/leaf.conf" "$DIR/leaf/frr.conf"

# --- the nodes: toswitch1 (numbered and listen-range kinds), toleaf (unnumbered), the pod's veth.
underlay_of() { # KIND: the neighbour of the kind, as OpenPERouter's Underlay CR spells it
  local t="holdTimeSeconds: 9, keepaliveTimeSeconds: 3"
  case $1 in
    ipv6) echo "{asn: 64520, address: '2001:db8:11::2', $t}" ;;
    unnumbered) echo "{asn: 64520, interface: toleaf, $t}" ;;
    listen) echo "{asn: 64520, listenRange: 192.168.11.0/28, $t}" ;;
    listen6) echo "{asn: 64520, listenRange: '2001:db8:11::/64', $t}" ;;
  esac
}
KINDS="ipv6 unnumbered listen listen6"
i=0
for s in a b; do
  i=$((i + 1))
  N=${TAG}n$s
  ip link add toswitch1 netns $N type veth peer name sw-$s netns $SW
  ip -n $SW link set sw-$s master br0 up
  ip -n $N addr add 192.168.11.$((2 + i))/24 dev toswitch1
  ip -n $N addr add 2001:db8:11::$((2 + i))/64 dev toswitch1 nodad
  ip -n $N link set toswitch1 up
  ip link add toleaf netns $N type veth peer name lf-$s netns $LEAF
  ip -n $LEAF link set lf-$s up
  ip -n $N link set toleaf up
  ip link add vpod netns $N type veth peer name eth0 netns ${TAG}pod$s
  ip -n ${TAG}pod$s addr add 192.171.24.$((1 + i))/24 dev eth0
  ip -n ${TAG}pod$s link set eth0 up
  ip -n ${TAG}pod$s route add default via 192.171.24.1
  ip -n $N link set vpod up
  C=$DIR/$s/cfg
  mkdir -p "$C/configs"
  lab_underlay "$C" toswitch1,toleaf "$(underlay_of ipv6)"
  echo "l3vnis: [{name: red, vrf: red, vni: 100}]" > "$C/configs/openpe_red.yaml"
  echo "l2vnis: [{name: red110, vni: 110, routingDomain: {type: L3VNI, l3vni: {name: red}}, gatewayIPs: [192.171.24.1/24], hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}]" \
    > "$C/configs/openpe_l2vni.yaml"
  echo "nodeIndex: {index: $i}" > "$C/node-config.yaml"
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$C" --router-netns ${TAG}p$s \
    --host-netns $N --api-socket "$DIR/$s/api.sock" --config-poll 1 >"$DIR/$s/perouter.log" 2>&1 &
  PIDS+=("$!")
done
ln -s a/perouter.log "$DIR/perouter.log"
lab_start_frr "${TAG}leaf" $LEAF "$DIR/leaf"

vty() { lab_vty "$DIR/leaf" "$1"; }
frr_peers() { # KIND: the leaf's names of the kind's two sessions
  case $1 in
    ipv6 | listen6) echo "2001:db8:11::3 2001:db8:11::4" ;;
    unnumbered) echo "lf-a lf-b" ;;
    listen) echo "192.168.11.3 192.168.11.4" ;;
  esac
}
frr_state() { # up|down PEER...: every PEER Established with L2VPN EVPN negotiated (up) or none Established (down)
  local want=$1; shift
  vty "show bgp neighbors json" | lab_json_true --arg w "$want" --args '
    [$ARGS.positional[] as $p | (.[$p] // {}) |
      (.bgpState == "Established" and (.neighborCapabilities.multiprotocolExtensions.l2VpnEvpn.advertisedAndReceived // false))]
    | if $w == "up" then all else (map(not) | all) end' "$@"
}
pr_peer() { # KIND SIDE: the neighbour as perouter names it
  case $1 in
    ipv6 | listen6) echo 2001:db8:11::2 ;;
    listen) echo 192.168.11.2 ;;
    unnumbered) ip -n $LEAF -6 -j addr show dev lf-$2 scope link | jq -r '.[0].addr_info[0].local' ;;
  esac
}
vtep_route_ok() { # KIND SIDE: the router namespace's route to the leaf's VTEP goes over the kind's link
  local r
  r=$(ip -n ${TAG}p$2 -j route show 100.64.0.1 2>/dev/null)
  case $1 in
    ipv6 | listen6) jq -e '.[0] | .via.family == "inet6" and .via.host == "2001:db8:11::2" and .dev == "toswitch1"' <<<"$r" >/dev/null ;;
    unnumbered) jq -e '.[0] | .via.family == "inet6" and (.via.host | startswith("fe80")) and .dev == "toleaf"' <<<"$r" >/dev/null ;;
    listen) jq -e '.[0] | .gateway == "192.168.11.2" and .dev == "toswitch1"' <<<"$r" >/dev/null ;;
  esac
}
type2_ok() { # MAC IP VTEP: a valid MAC+IP route from VTEP with RT 64514:110 and 64514:100 and a router MAC
  vty "show bgp l2vpn evpn route type macip json" | lab_json_true --arg m "[$1]" --arg ip "[$2]" --arg nh "$3" '
    [.[] | objects | to_entries[] | select((.value | type == "object") and (.key | contains($m)) and (.key | contains($ip)))
     | .value.paths[]?
     | (if type == "array" then .[] else . end)
     | select(.valid == true and any(.nexthops[]?; .ip == $nh)
              and ((.extendedCommunity.string // "") | split(" ") as $c
                   | ($c | index("RT:64514:110")) and ($c | index("RT:64514:100")) and any($c[]; startswith("Rmac:"))))]
    | length > 0'
}
attach() { # the pods join br-hs-110 once perouter made it (as the CNI would)
  local s
  for s in a b; do
    ip -n ${TAG}n$s link show br-hs-110 >/dev/null 2>&1 && ip -n ${TAG}n$s link set vpod master br-hs-110 || return 1
  done
}
check pods-attached wait_for 90 attach

prev=""
for k in $KINDS; do
  t_phase=$SECONDS
  say "--- phase $k: underlay neighbour $(underlay_of $k)"
  if [ "$k" != ipv6 ]; then
    for s in a b; do lab_underlay "$DIR/$s/cfg" toswitch1,toleaf "$(underlay_of $k)"; done
  fi
  # shellcheck disable=SC2046
  [ -n "$prev" ] && check "$k:previous-kind-$prev-down-at-frr" wait_for 30 frr_state down $(frr_peers $prev)
  # shellcheck disable=SC2046
  check "$k:frr-sessions-established" wait_for 90 frr_state up $(frr_peers $k)
  for s in a b; do
    check "$k:perouter-session-established-node$s" wait_for 20 pr_session_up "$DIR/$s/api.sock" "$(pr_peer $k $s)"
    check "$k:kernel-vtep-route-over-$k-node$s" wait_for 20 vtep_route_ok $k $s
  done
  {
    echo "$k:ipv4-podA-to-podB ${TAG}poda 192.171.24.3"
    echo "$k:ipv4-podB-to-podA ${TAG}podb 192.171.24.2"
    echo "$k:ipv4-podA-to-hostA_red ${TAG}poda 192.168.20.2"
    echo "$k:ipv4-podB-to-hostA_red ${TAG}podb 192.168.20.2"
    echo "$k:ipv4-hostA_red-to-podA $HAR 192.171.24.2"
    echo "$k:ipv4-hostA_red-to-podB $HAR 192.171.24.3"
  } > "$DIR/pings"
  par_pings 60
  for s in a b; do
    mac=$(ip -n ${TAG}pod$s -j link show eth0 | jq -r '.[0].address')
    check "$k:frr-type2-macip-pod$s" wait_for 20 type2_ok "$mac" 192.171.24.$([ $s = a ] && echo 2 || echo 3) 100.65.0.$([ $s = a ] && echo 1 || echo 2)
  done
  say "phase $k: $((SECONDS - t_phase)) s"
  prev=$k
done

echo
lab_results 52
echo
printf '%-12s %s\n' KIND "CHECKS PASSED"
for k in $KINDS; do
  tot=0 ok=0
  for n in "${!RESULT[@]}"; do
    case $n in "$k":*) tot=$((tot + 1)); [ "${RESULT[$n]}" = ok ] && ok=$((ok + 1)) ;; esac
  done
  printf '%-12s %s/%s\n' "$k" "$ok" "$tot"
done
say "where: kernel $(uname -r) ($( [ -n "${PEROUTER_BIN:-}" ] && echo "virtme-ng guest" || echo "direct")); ${#RESULT[@]} checks, $((SECONDS - T0)) s"
if [ "$FAIL" -ne 0 ]; then
  for s in a b; do
    echo "--- node$s router namespace"; ip -n ${TAG}p$s -br link; ip -n ${TAG}p$s -br addr; ip -n ${TAG}p$s route; ip -n ${TAG}p$s route show table 1100
    bridge -n ${TAG}p$s fdb show | grep -v permanent | head -20
    "$PEROUTER" show bgp summary --api-socket "$DIR/$s/api.sock" 2>/dev/null
  done
  echo "--- leaf"; vty "show bgp summary"; vty "show bgp l2vpn evpn route" | head -60; ip -n $LEAF route; ip -n $LEAF route show table 1100
  lab_log_tail "$DIR/a/perouter.log" 60; lab_log_tail "$DIR/b/perouter.log" 40
  echo "UPSTREAM-L2-UNDERLAYS-FAILED"
else
  echo "UPSTREAM-L2-UNDERLAYS-PASSED"
fi
exit "$FAIL"
