#!/usr/bin/env bash
# Upstream's route_reflector.go against perouter, on this kernel (no VRF needed): perouter is
# the iBGP route reflector (`routeReflector.clusterID: 10.255.0.9`, not its router ID) of four
# FRR 8.4 EVPN nodes in AS 64514, each with an L2VNI 100 (`advertise-all-vni`) and a "pod" on its
# bridge:
#   c1, c2  `addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]`
#   n1, n2  iBGP neighbours that are not clients
# Checks (RFC 4456 §8): the pods' type-2 routes are reflected client -> client, client ->
# non-client and non-client -> client, never non-client -> non-client; ORIGINATOR_ID is the
# originating node's router ID and CLUSTER_LIST is [the configured clusterID] (not our router
# ID), per FRR's JSON; FRR installs the reflected MACs in its kernel's FDB towards the right
# VTEP, and the pods on c1 and c2 ping each other over VXLAN.
#
#   sudo flock /tmp/perouter-lab.lock interop/frr-lab/route-reflector.sh
#   (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary)
set -u
LAB=route-reflector
. "$(dirname "$0")/lib.sh"
lab_need_tools
lab_find_perouter
say "running on: $(uname -r) ($(lab_has_vrf && echo 'VRF available' || echo 'host kernel, no VRF device'))"
TAG=rrl$$
DIR=$(mktemp -d /tmp/perouter-rrl.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; SW=${TAG}sw
NODES="c1 c2 n1 n2"
NSS="$HOST $PE $SW"; for n in $NODES; do NSS="$NSS $TAG$n"; done
CLUSTER=10.255.0.9
PIDS=()
T0=$(date +%s.%N)

trap lab_cleanup EXIT

# One switch (a bridge in $SW) joins the node's NIC and the three FRR nodes.
ip netns add $HOST; ip netns add $SW
ip -n $SW link add br0 type bridge; ip -n $SW link set br0 up
ip link add ulrr netns $HOST type veth peer name sw-pe netns $SW
ip -n $HOST addr add 10.10.0.1/24 dev ulrr
ip -n $HOST link set ulrr up
ip -n $SW link set sw-pe master br0; ip -n $SW link set sw-pe up
declare -A ADDR=([c1]=10.10.0.11 [c2]=10.10.0.12 [n1]=10.10.0.13 [n2]=10.10.0.14)
declare -A MAC=([c1]=02:00:00:00:01:01 [c2]=02:00:00:00:01:02 [n1]=02:00:00:00:01:03 [n2]=02:00:00:00:01:04)
declare -A POD=([c1]=192.168.100.11 [c2]=192.168.100.12 [n1]=192.168.100.13 [n2]=192.168.100.14)
for n in $NODES; do
  ns=$TAG$n a=${ADDR[$n]}
  ip netns add "$ns"; ip -n "$ns" link set lo up
  ip link add eth0 netns "$ns" type veth peer name "sw-$n" netns $SW
  ip -n $SW link set "sw-$n" master br0; ip -n $SW link set "sw-$n" up
  ip -n "$ns" addr add "$a/24" dev eth0; ip -n "$ns" link set eth0 up
  # L2VNI 100: the VTEP is the node's address on the switch; the pod is a veth on the bridge.
  ip -n "$ns" link add br100 type bridge
  ip -n "$ns" link add vxlan100 type vxlan id 100 local "$a" dstport 4789 nolearning
  ip -n "$ns" link set vxlan100 master br100
  ip -n "$ns" link set vxlan100 type bridge_slave neigh_suppress off learning off
  ip -n "$ns" link add pod type veth peer name pod-br
  ip -n "$ns" link set pod-br master br100
  ip -n "$ns" link set pod address "${MAC[$n]}"
  ip -n "$ns" addr add "${POD[$n]}/24" dev pod
  for l in br100 vxlan100 pod pod-br; do ip -n "$ns" link set $l up; done
  mkdir -p "$DIR/$n"
  cat > "$DIR/$n/frr.conf" <<CONF
hostname $n
router bgp 64514
 bgp router-id $a
 no bgp default ipv4-unicast
 neighbor 10.10.0.1 remote-as 64514
 neighbor 10.10.0.1 timers 3 9
 neighbor 10.10.0.1 timers connect 2
 address-family l2vpn evpn
  neighbor 10.10.0.1 activate
  advertise-all-vni
 exit-address-family
CONF
  lab_start_frr "$TAG$n" "$ns" "$DIR/$n"
done
vty() { lab_vty "$DIR/$1" "$2"; }

lab_underlay "$DIR/cfg" ulrr \
  "{type: Internal, address: 10.10.0.11, holdTimeSeconds: 9, keepaliveTimeSeconds: 3, addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]}" \
  "{type: Internal, address: 10.10.0.12, holdTimeSeconds: 9, keepaliveTimeSeconds: 3, addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]}" \
  "{type: Internal, address: 10.10.0.13, holdTimeSeconds: 9, keepaliveTimeSeconds: 3, addressFamilies: [{type: evpn}]}" \
  "{type: Internal, address: 10.10.0.14, holdTimeSeconds: 9, keepaliveTimeSeconds: 3, addressFamilies: [{type: evpn}]}"
echo "    routeReflector: {clusterID: $CLUSTER}" >> "$DIR/cfg/configs/openpe_underlay.yaml"
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
SOCK=$DIR/api.sock
RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 --metrics-addr 127.0.0.1:0 >>"$DIR/perouter.log" 2>&1 &
PIDS+=("$!")
T1=$(date +%s.%N)

for n in $NODES; do
  check "session-$n" wait_until 40 pr_session_up "$SOCK" "${ADDR[$n]}"
done
# The pods speak once, so each node's bridge learns its pod's MAC and FRR advertises it.
for n in $NODES; do ip netns exec "$TAG$n" ping -c 1 -W 1 192.168.100.254 >/dev/null 2>&1; done
# A node's type-2 MAC route for MAC as FRR shows it at AT: the reflection attributes of its path.
mac_path() { # AT MAC -> JSON {originatorId, clusterList} of the first path, empty when none
  vty "$1" "show bgp l2vpn evpn route detail type macip json" | jq -c --arg m "$2" '
    [.. | objects | to_entries[]
     | select((.key | ascii_downcase | contains($m)) and (.value | type == "object") and (.value | has("paths")))
     | .value.paths[] | (if type == "array" then .[] else . end)
     | {originatorId, clusterList: [(.clusterList // {}) | .. | strings]}] | first // empty' 2>/dev/null
}
reflected() { # AT FROM: the MAC of FROM's pod at AT with ORIGINATOR_ID = FROM and CLUSTER_LIST = [clusterID]
  local p
  p=$(mac_path "$1" "${MAC[$2]}")
  [ -n "$p" ] && jq -e --arg o "${ADDR[$2]}" --arg c "$CLUSTER" \
    '.originatorId == $o and .clusterList == [$c]' <<<"$p" >/dev/null
}
absent() { [ -z "$(mac_path "$1" "${MAC[$2]}")" ]; } # AT FROM
check reflect-client-to-client-c1-c2 wait_until 30 reflected c2 c1
check reflect-client-to-client-c2-c1 wait_until 30 reflected c1 c2
check reflect-client-to-non-client wait_until 30 reflected n1 c1
check reflect-non-client-to-client wait_until 30 reflected c1 n1
RID=$(vty c1 "show bgp neighbors 10.10.0.1 json" | jq -r '.["10.10.0.1"].remoteRouterId')
say "at c2, c1's MAC: $(mac_path c2 "${MAC[c1]}")   (perouter's router ID per FRR: $RID, clusterID $CLUSTER)"
check cluster-id-is-not-the-router-id test -n "$RID" -a "$RID" != null -a "$RID" != "$CLUSTER"
say "at c1, n1's MAC: $(mac_path c1 "${MAC[n1]}")"
fdb_to() { bridge -n "$TAG$1" fdb show dev vxlan100 | grep -q "${MAC[$2]} dst ${ADDR[$2]}"; } # AT FROM
check kernel-fdb-c2-to-c1 wait_until 20 fdb_to c2 c1
check kernel-fdb-c1-to-c2 wait_until 20 fdb_to c1 c2
pods_ping() { ip netns exec "${TAG}c1" ping -c 1 -W 1 "${POD[c2]}" >/dev/null 2>&1; }
check pods-ping-over-vxlan wait_until 20 pods_ping
# Non-client to non-client: never reflected (n1 and n2 have each other's MAC nowhere, after the
# reflections above have all happened).
check no-reflection-non-client-to-non-client-n1-n2 absent n2 n1
check no-reflection-non-client-to-non-client-n2-n1 absent n1 n2
check non-clients-got-clients-routes reflected n2 c2
T2=$(date +%s.%N)
echo
lab_results 40
say "where: $(uname -r) host kernel; perouter start -> all checks: $(echo "$T2 - $T1" | bc) s; whole lab $(echo "$T2 - $T0" | bc) s"
[ $FAIL -ne 0 ] && lab_log_tail "$DIR/perouter.log" 80
exit $FAIL
