#!/usr/bin/env bash
# Upstream's sessions.go / hostconfiguration.go host-kernel cases against perouter (no VRF needed):
# one `perouter run` from OpenPERouter static files, three FRR ToRs on one switch (a bridge in
# $TOR) and an FRR host speaker on the passthrough (frr-k8s' role), driven through live file edits:
#   tor-types    ToR neighbours `type: External` (AS 64512), `type: Internal` (AS 64514) and
#                `asn: 64514` (iBGP by number); the External one with explicit
#                `addressFamilies: [ipv4unicast, ipv6unicast]` exchanging IPv4 and IPv6 routes
#   host types   the passthrough host session with hostType External, hostType Internal and
#                hostASN = ASN (iBGP): session up, routes both ways, host <-> ToR ping; deleting
#                the passthrough file tears the session and pt-host down, the ToR sessions stay
#   nic-change   interfaces[0] renamed to another NIC: the session moves to the new NIC, the
#                old NIC is back in the host namespace with its address, same perouter process
# Each asserts the kernel state, FRR's view (vtysh JSON) and traffic.
#
#   sudo flock /tmp/perouter-lab.lock interop/frr-lab/upstream-passthrough.sh
#   (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary)
set -u
LAB=upstream-pt
. "$(dirname "$0")/lib.sh"
lab_need_tools
lab_find_perouter
say "running on: $(uname -r) ($(lab_has_vrf && echo 'VRF available' || echo 'host kernel, no VRF device'))"
TAG=upt$$
DIR=$(mktemp -d /tmp/perouter-upt.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor; TI=${TAG}ti; TN=${TAG}tn
NSS="$HOST $PE $TOR $TI $TN"
PIDS=()
T0=$(date +%s.%N)
trap lab_cleanup EXIT

for n in $HOST $TOR $TI $TN; do ip netns add "$n"; ip -n "$n" link set lo up; done
# The switch: a bridge in $TOR (which is also the External ToR, 192.168.21.2) joining both NICs
# of the node (ula, then ulb after the NIC change) and the two iBGP ToRs.
ip -n $TOR link add br0 type bridge
ip -n $TOR addr add 192.168.21.2/24 dev br0
ip -n $TOR addr add 2001:db8:21::2/64 dev br0 nodad
ip -n $TOR addr add 10.121.0.1/24 dev lo
ip -n $TOR addr add 2001:db8:121::1/48 dev lo
for p in ula:t-ula ulb:t-ulb; do
  ip link add ${p%%:*} netns $HOST type veth peer name ${p#*:} netns $TOR
  ip -n $TOR link set ${p#*:} master br0; ip -n $TOR link set ${p#*:} up
done
ip -n $HOST addr add 192.168.21.3/24 dev ula
ip -n $HOST addr add 2001:db8:21::3/64 dev ula nodad
ip -n $HOST addr add 192.168.21.13/24 dev ulb
for t in $TI:4:122 $TN:5:123; do
  ns=${t%%:*}; rest=${t#*:}
  ip link add t-${rest%%:*} netns $TOR type veth peer name eth0 netns $ns
  ip -n $TOR link set t-${rest%%:*} master br0; ip -n $TOR link set t-${rest%%:*} up
  ip -n $ns addr add 192.168.21.${rest%%:*}/24 dev eth0; ip -n $ns link set eth0 up
  ip -n $ns addr add 10.${rest#*:}.0.1/24 dev lo
done
ip -n $TOR link set br0 up
ip -n $HOST link set ula up; ip -n $HOST link set ulb up
ip -n $HOST addr add 10.200.0.1/32 dev lo
for n in $TOR $TI $TN; do ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1; done

# The ToRs accept the node from anywhere on the switch (the NIC change moves its address).
tor_conf() { # NAME ROUTER-ID AS PREFIX [V6PREFIX]
  cat <<CONF
hostname $1
router bgp $3
 bgp router-id $2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart-disable
 neighbor nodes peer-group
 neighbor nodes remote-as 64514
 neighbor nodes timers 3 9
 bgp listen range 192.168.21.0/24 peer-group nodes
 address-family ipv4 unicast
  network $4
  neighbor nodes activate
 exit-address-family
CONF
  [ -n "${5:-}" ] && cat <<CONF
 address-family ipv6 unicast
  network $5
  neighbor nodes activate
 exit-address-family
CONF
}
mkdir -p "$DIR/tor" "$DIR/ti" "$DIR/tn"
tor_conf tor 192.168.21.2 64512 10.121.0.0/24 2001:db8:121::/48 > "$DIR/tor/frr.conf"
tor_conf ti 192.168.21.4 64514 10.122.0.0/24 > "$DIR/ti/frr.conf"
tor_conf tn 192.168.21.5 64514 10.123.0.0/24 > "$DIR/tn/frr.conf"
lab_start_frr ${TAG}tor $TOR "$DIR/tor"
lab_start_frr ${TAG}ti $TI "$DIR/ti"
lab_start_frr ${TAG}tn $TN "$DIR/tn"
vty() { lab_vty "$DIR/$1" "$2"; }

NB="holdTimeSeconds: 9, keepaliveTimeSeconds: 3"
underlay() { # NIC
  lab_underlay "$DIR/cfg" "$1" \
    "{type: External, address: 192.168.21.2, $NB, addressFamilies: [{type: ipv4unicast}, {type: ipv6unicast}]}" \
    "{type: Internal, address: 192.168.21.4, $NB}" \
    "{asn: 64514, address: 192.168.21.5, $NB}"
}
underlay ula
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
SOCK=$DIR/api.sock
RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 --metrics-addr 127.0.0.1:0 >>"$DIR/perouter.log" 2>&1 &
PR=$!
PIDS+=("$PR")
T1=$(date +%s.%N)

nb_json() { vty "$1" "show bgp neighbors $2 json"; } # FRR NEIGHBOUR
frr_nb() { nb_json "$1" "$2" | lab_json_true --arg n "$2" ".[\$n] | $3"; } # FRR NEIGHBOUR JQ
frr_established() { frr_nb "$1" "$2" '.bgpState == "Established"'; }
frr_valid() { vty "$1" "show bgp ipv4 unicast $2 json" | lab_json_true 'any(.paths[]; .valid)'; } # FRR PREFIX
pe_route() { ip -n $PE route show "$1" | grep -q "via $2"; } # PREFIX GW
host_ping() { ip netns exec $HOST ping -c 1 -W 1 -I 10.200.0.1 "$1" >/dev/null 2>&1; }
uptime_of() { "$PEROUTER" show bgp neighbor "$1" --api-socket "$SOCK" -o json 2>/dev/null | jq -r '(.up_seconds // -1) | floor'; }

# --- ToR neighbour types (Underlay external and internal configuration) -------------------------
check nics-moved wait_until 20 ip -n $PE link show ula
for t in tor:192.168.21.2:64512:external ti:192.168.21.4:64514:internal tn:192.168.21.5:64514:ibgp-asn; do
  IFS=: read -r fr addr as kind <<<"$t"
  check "tor-$kind-frr-established" wait_until 40 frr_established $fr 192.168.21.3
  check "tor-$kind-perouter-established" wait_until 10 pr_session_up "$SOCK" $addr
  link=$([ $as = 64514 ] && echo nbrInternalLink || echo nbrExternalLink)
  check "tor-$kind-frr-sees-$link" frr_nb $fr 192.168.21.3 ".$link == true and .remoteAs == 64514 and .localAs == $as"
  pfx=$(ip -n ${TAG}$fr -4 -j addr show dev lo | jq -r '.[0].addr_info[] | select(.local != "127.0.0.1") | .local' | sed 's/\.1$/.0\/24/')
  check "tor-$kind-route-in-kernel" wait_until 20 pe_route $pfx $addr
done
# Explicit address families on the External ToR: both negotiated, both exchanged.
caps() { nb_json tor 192.168.21.3 | jq -c '.["192.168.21.3"].neighborCapabilities.multiprotocolExtensions'; }
say "tor-types: FRR's families with the External ToR: $(caps)"
for f in ipv4Unicast ipv6Unicast; do
  check "af-$f-negotiated" lab_json_true --arg f $f '.[$f].advertisedAndReceived == true' <<<"$(caps)"
done
check af-no-evpn lab_json_true '.l2VpnEvpn == null' <<<"$(caps)"
check af-v6-route-in-kernel wait_until 20 sh -c "ip -n $PE -6 route show 2001:db8:121::/48 | grep -q 'via 2001:db8:21::2'"
check af-v4-route-in-kernel pe_route 10.121.0.0/24 192.168.21.2
check af-ping-v4 wait_until 10 ip netns exec $PE ping -c 1 -W 1 10.121.0.1
check af-ping-v6 wait_until 10 ip netns exec $PE ping -6 -c 1 -W 1 2001:db8:121::1
say "tor-types: $("$PEROUTER" show bgp summary --api-socket "$SOCK" 2>/dev/null | grep 192.168.21 | tr -s ' ' | tr '\n' ';')"

# --- Passthrough host session types ------------------------------------------------------------
host_frr() { # NAME AS: an FRR host speaker in $HOST announcing 10.200.0.1/32
  mkdir -p "$DIR/$1"
  cat > "$DIR/$1/frr.conf" <<CONF
hostname $1
router bgp $2
 bgp router-id 10.200.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart-disable
 neighbor 192.169.100.1 remote-as 64514
 neighbor 192.169.100.1 timers 3 9
 address-family ipv4 unicast
  network 10.200.0.1/32
  neighbor 192.169.100.1 activate
 exit-address-family
CONF
  lab_start_frr ${TAG}$1 $HOST "$DIR/$1"
}
PT=$DIR/cfg/configs/openpe_passthrough.yaml
for c in external:64517:"hostType: External" internal:64514:"hostType: Internal" ibgp:64514:"hostASN: 64514"; do
  IFS=: read -r kind as spec <<<"$c"
  say "passthrough: $spec (host speaker AS $as)"
  up_before=$(uptime_of 192.168.21.2)
  echo "bgppassthrough: {hostSession: {asn: 64514, $spec, localCIDR: {ipv4: 192.169.100.0/24}}}" > "$PT.tmp"; mv "$PT.tmp" "$PT"
  check "host-$kind-pt-host" wait_until 20 ip -n $HOST link show pt-host
  host_frr h$kind $as
  check "host-$kind-frr-established" wait_until 40 frr_established h$kind 192.169.100.1
  check "host-$kind-perouter-established" wait_until 10 pr_session_up "$SOCK" 192.169.100.2
  link=$([ $as = 64514 ] && echo nbrInternalLink || echo nbrExternalLink)
  check "host-$kind-frr-sees-$link" frr_nb h$kind 192.169.100.1 ".$link == true and .remoteAs == 64514"
  check "host-$kind-route-at-tor" wait_until 20 frr_valid tor 10.200.0.1/32
  check "host-$kind-tor-route-at-host" wait_until 20 frr_valid h$kind 10.121.0.0/24
  if [ $as = 64514 ]; then  # iBGP: we are the next hop of what we pass on (next-hop-self)
    check "host-$kind-next-hop-self" sh -c "vtysh --vty_socket '$DIR/h$kind' -c 'show bgp ipv4 unicast 10.121.0.0/24 json' | jq -e 'any(.paths[]; any(.nexthops[]; .ip == \"192.169.100.1\"))' >/dev/null"
  fi
  check "host-$kind-route-in-router-ns" wait_until 20 pe_route 10.200.0.1 192.169.100.2
  check "host-$kind-ping-tor" wait_until 20 host_ping 10.121.0.1
  # Deleting the passthrough: the host session and pt-host go, the ToR sessions stay.
  rm -f "$PT"
  gone() { ! ip -n $HOST link show pt-host >/dev/null 2>&1 && ! ip -n $PE link show pt-ns >/dev/null 2>&1; }
  check "host-$kind-delete-veth-gone" wait_until 20 gone
  no_session() { ! "$PEROUTER" show bgp summary --api-socket "$SOCK" -o json | jq -e '.peers[] | select(.neighbor == "192.169.100.2")' >/dev/null; }
  check "host-$kind-delete-no-session" wait_until 10 no_session
  not_est() { ! frr_established h$kind 192.169.100.1; }
  check "host-$kind-delete-frr-down" wait_until 20 not_est
  check "host-$kind-delete-route-withdrawn" wait_until 20 sh -c "! vtysh --vty_socket '$DIR/tor' -c 'show bgp ipv4 unicast 10.200.0.1/32 json' | jq -e '.paths | length > 0' >/dev/null"
  check "host-$kind-delete-tor-untouched" test "$(uptime_of 192.168.21.2)" -ge "$up_before"
  check "host-$kind-delete-tor-routes-kept" sh -c "ip -n $PE route show 10.121.0.0/24 | grep -q 'via 192.168.21.2' && ip -n $PE route show 10.122.0.0/24 | grep -q 'via 192.168.21.4'"
  for f in "$DIR/h$kind"/*.pid; do kill "$(cat "$f")" 2>/dev/null; done
  sleep 1
done

# --- Live underlay NIC change (hostconfiguration.go) -------------------------------------------
say "nic-change: interfaces[0] ula -> ulb"
underlay ulb
check nic-new-moved wait_until 20 ip -n $PE link show ulb
check nic-old-back-in-host wait_until 20 ip -n $HOST link show ula
check nic-old-address-back sh -c "ip -n $HOST -4 addr show dev ula | grep -q 192.168.21.3/24"
check nic-old-v6-address-back sh -c "ip -n $HOST -6 addr show dev ula | grep -q 2001:db8:21::3/64"
check nic-old-up sh -c "ip -n $HOST -j link show ula | jq -e '.[0].flags | index(\"UP\")' >/dev/null"
from_new() { frr_established tor 192.168.21.13; }
check nic-frr-session-from-new-address wait_until 40 from_new
check nic-perouter-established wait_until 10 pr_session_up "$SOCK" 192.168.21.2
check nic-route-via-new-nic wait_until 20 sh -c "ip -n $PE route show 10.121.0.0/24 | grep -q 'via 192.168.21.2 dev ulb'"
check nic-ping-from-router-ns wait_until 10 ip netns exec $PE ping -c 1 -W 1 -I 192.168.21.13 10.121.0.1
check nic-old-nic-reachable wait_until 10 ip netns exec $HOST ping -c 1 -W 1 -I ula 192.168.21.2
check nic-same-process kill -0 $PR

T2=$(date +%s.%N)
echo
lab_results 44
say "where: $(uname -r) host kernel; perouter start -> all checks: $(echo "$T2 - $T1" | bc) s; whole lab $(echo "$T2 - $T0" | bc) s"
[ $FAIL -ne 0 ] && lab_log_tail "$DIR/perouter.log" 80
exit $FAIL
