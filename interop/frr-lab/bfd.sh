#!/usr/bin/env bash
# BFD interop with FRR's bfdd and the failover it buys, on this kernel (no VRF needed).
#
#   cargo build -p perouter-agent --bin perouter && flock /tmp/perouter-lab.lock interop/frr-lab/bfd.sh
#
# One node (perouter, from OpenPERouter static files) with an underlay neighbour 192.168.11.2: an
# FRR ToR running zebra + bgpd + bfdd, BGP timers 3/9 (upstream's) and BFD 100 ms x 3 both sides.
#   1. BGP Established and BFD Up; FRR's `show bfd peers json` agrees with `perouter show bfd
#      peers -o json` on state, discriminators and intervals.
#   2. Live timer change (transmitInterval 100 -> 200 ms in the file): FRR sees the new interval
#      (Poll sequence), neither BFD nor BGP resets.
#   3. Failover: the ToR goes silent (nftables drops everything it sends, in its namespace; no
#      link event). Measured from the drop: BFD Down on the node (log timestamp), the ToR's route
#      10.100.0.0/24 leaving the router namespace's table.
#   4. Multihop (RFC 5883): ebgpMultiHop on the neighbour, `ebgp-multihop` at FRR: both sides run
#      a multihop session (UDP 4784) and agree; the silent-ToR failover again. Then BFD removed
#      from our side: the session leaves `show bfd peers`.
# Two ToRs, ECMP, pings every 10 ms, the same without BFD and FRR as the node beside perouter:
# bfd-failover.sh.
#
# Topology (namespaces prefixed with a per-run tag):
#   TAG-host  the node's host namespace: toswitch1 192.168.11.3/24 (moved into the router namespace)
#   TAG-pe    the router namespace perouter builds
#   TAG-tor   FRR ToR AS 64512, 192.168.11.2/24, network 10.100.0.0/24 on lo
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEROUTER=${PEROUTER:-$ROOT/target/debug/perouter}
TAG=bfd$$
DIR=$(mktemp -d /tmp/perouter-bfd.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor
FAIL=0
PIDS=()
declare -A RESULT

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for f in "$DIR"/*/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
  for n in $HOST $PE $TOR; do ip netns del "$n" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

say() { echo "[bfd $(date +%T)] $*"; }
check() { # NAME CMD...
  local name=$1; shift
  if "$@"; then RESULT[$name]=ok; say "ok    $name"; else RESULT[$name]=FAIL; FAIL=1; say "FAIL  $name"; fi
}
wait_until() { # SECONDS CMD...
  local t=$1; shift
  for _ in $(seq $((t * 2))); do "$@" && return 0; sleep 0.5; done
  return 1
}

for n in $HOST $TOR; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add toswitch1 netns $HOST type veth peer name tor-eth0 netns $TOR
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $TOR addr add 192.168.11.2/24 dev tor-eth0
ip -n $TOR link set tor-eth0 up
ip -n $TOR addr add 10.100.0.1/24 dev lo

mkdir -p "$DIR/tor"
cat > "$DIR/tor/frr.conf" <<CONF
hostname tor
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 neighbor 192.168.11.3 bfd 3 100 100
 address-family ipv4 unicast
  network 10.100.0.0/24
  neighbor 192.168.11.3 activate
 exit-address-family
CONF
chown -R frr:frr "$DIR/tor"
for d in zebra bfdd bgpd; do
  extra=(); [ $d != bfdd ] && extra=(-z "$DIR/tor/zserv.api")
  [ $d = bfdd ] && extra=(-z "$DIR/tor/zserv.api" --bfdctl "$DIR/tor/bfdd.sock")
  ip netns exec $TOR /usr/lib/frr/$d -d -N "${TAG}tor" -f "$DIR/tor/frr.conf" -i "$DIR/tor/$d.pid" \
    "${extra[@]}" --vty_socket "$DIR/tor" >"$DIR/tor/$d.out" 2>&1
done
vty() { vtysh --vty_socket "$DIR/tor" -c "$1" 2>/dev/null; }

mkdir -p "$DIR/cfg/configs"
underlay() { # BFD settings ('' = none) [more neighbour fields]
  local bfd=""
  [ -n "$1" ] && bfd=", bfd: $1"
  bfd="$bfd${2:-}"
  cat > "$DIR/cfg/configs/openpe_underlay.yaml.tmp" <<CONF
underlays:
  - asn: 64514
    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
    neighbors:
      - {asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3$bfd}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
CONF
  mv "$DIR/cfg/configs/openpe_underlay.yaml.tmp" "$DIR/cfg/configs/openpe_underlay.yaml"
}
underlay "{receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}"
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

SOCK=$DIR/api.sock
RUST_LOG=${RUST_LOG:-info} "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 >>"$DIR/perouter.log" 2>&1 &
PIDS+=("$!")

ours() { "$PEROUTER" show bfd peers --api-socket "$SOCK" -o json 2>/dev/null | jq -c '.[0] // empty'; }
frr() { vty "show bfd peers json" | jq -c '.[] | select(.peer == "192.168.11.3")'; }
bgp_up() {
  "$PEROUTER" show bgp summary --api-socket "$SOCK" -o json 2>/dev/null |
    jq -e '.peers[] | select(.neighbor == "192.168.11.2") | select(.state == "Established")' >/dev/null
}
bgp_uptime() {
  "$PEROUTER" show bgp neighbor 192.168.11.2 --api-socket "$SOCK" -o json 2>/dev/null | jq -r '(.up_seconds // -1) | floor'
}
both_up() { [ "$(ours | jq -r .state)" = Up ] && [ "$(frr | jq -r .status)" = up ]; }
pe_route() { ip -n $PE route show 10.100.0.0/24 | grep -q 'via 192.168.11.2'; }

check bgp-established wait_until 40 bgp_up
check bfd-up-both-sides wait_until 30 both_up
check route-installed wait_until 20 pe_route
sleep 2
O=$(ours); F=$(frr)
say "perouter: $(echo "$O" | jq -c '{state,local_discriminator,remote_discriminator,tx_interval_us,rx_interval_us,detection_time_us}')"
say "FRR:      $(echo "$F" | jq -c '{status,id,"remote-id","transmit-interval","receive-interval","remote-transmit-interval","remote-receive-interval","detect-multiplier","remote-detect-multiplier"}')"
agree() {
  [ "$(echo "$F" | jq -r '.id')" = "$(echo "$O" | jq -r .remote_discriminator)" ] &&
  [ "$(echo "$F" | jq -r '."remote-id"')" = "$(echo "$O" | jq -r .local_discriminator)" ] &&
  [ "$(echo "$F" | jq -r '."remote-transmit-interval"')" = 100 ] &&
  [ "$(echo "$F" | jq -r '."remote-receive-interval"')" = 100 ] &&
  [ "$(echo "$F" | jq -r '."remote-detect-multiplier"')" = 3 ] &&
  [ "$(echo "$O" | jq -r .tx_interval_us)" = 100000 ] &&
  [ "$(echo "$O" | jq -r .detection_time_us)" = 300000 ]
}
check frr-agrees agree
check show-bfd-peers-text sh -c "'$PEROUTER' show bfd peers --api-socket '$SOCK' | grep -q '192.168.11.2 .* Up'"

# 2. Live timer change: a Poll sequence, no reset.
changes_before=$(ours | jq -r .counters.state_changes); bgp_before=$(bgp_uptime)
[ "$bgp_before" -ge 0 ] || { say "FAIL: no BGP uptime in show bgp neighbor -o json"; FAIL=1; }
underlay "{receiveInterval: 100, transmitInterval: 200, detectMultiplier: 3}"
frr_sees_200() { [ "$(frr | jq -r '."remote-transmit-interval"')" = 200 ]; }
check live-change-frr-sees-200ms wait_until 15 frr_sees_200
check live-change-no-bfd-reset test "$(ours | jq -r .counters.state_changes)" = "$changes_before" -a "$(ours | jq -r .state)" = Up
check live-change-no-bgp-reset test "$(bgp_uptime)" -ge "$bgp_before"
underlay "{receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}"
back_100() { [ "$(frr | jq -r '."remote-transmit-interval"')" = 100 ] && [ "$(ours | jq -r .poll_active)" = false ]; }
check live-change-back-to-100ms wait_until 15 back_100

# 3. Failover: the ToR goes silent. Times from the drop to BFD Down (perouter's log) and to the
#    route leaving the router namespace.
silence() { ip netns exec $TOR nft -f - <<NFT
table inet silent {
  chain out { type filter hook output priority 0; policy drop; }
}
NFT
}
unsilence() { ip netns exec $TOR nft delete table inet silent; }
measure() { # LABEL -> sets ROUTE_MS, BFD_MS
  local t0 t1 now
  t0=$(date +%s%N)
  silence
  ROUTE_MS=timeout
  for _ in $(seq 3000); do
    if ! pe_route; then t1=$(date +%s%N); ROUTE_MS=$(( (t1 - t0) / 1000000 )); break; fi
    sleep 0.005
  done
  BFD_MS=-
  local line ts
  line=$(sed 's/\x1b\[[0-9;]*m//g' "$DIR/perouter.log" | grep 'bfd session state changed' | grep 'to=down' | tail -1)
  if [ -n "$line" ]; then
    ts=$(echo "$line" | grep -oE '^[^ ]+')
    now=$(date -d "$ts" +%s%N 2>/dev/null || echo 0)
    [ "$now" -gt "$t0" ] && BFD_MS=$(( (now - t0) / 1000000 ))
  fi
  say "$1: BFD Down after ${BFD_MS} ms, route gone from the router namespace after ${ROUTE_MS} ms"
}
measure "with BFD 100 ms x 3"
BFD_ROUTE=$ROUTE_MS; BFD_DOWN=$BFD_MS
check failover-bfd-down test "$BFD_DOWN" != - -a "$BFD_DOWN" != timeout
check failover-route-gone-under-1s test "$BFD_ROUTE" != timeout -a "${BFD_ROUTE/timeout/99999}" -lt 1000
unsilence
check recovered-bgp wait_until 40 bgp_up
check recovered-bfd wait_until 30 both_up
check recovered-route wait_until 20 pe_route

# 4. Multihop (RFC 5883): the neighbour with ebgpMultiHop on our side and `ebgp-multihop` on
#    FRR's (bgpd then asks bfdd for a multihop session, UDP 4784). Both say multihop and Up, the
#    intervals agree, and a silent ToR is still detected within a second.
vtysh --vty_socket "$DIR/tor" -c "configure terminal" -c "router bgp 64512" \
  -c "neighbor 192.168.11.3 ebgp-multihop 2" >/dev/null 2>&1
underlay "{receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}" \
  ", properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 2}}]"
mh_up() {
  [ "$(ours | jq -r '"\(.state) \(.multihop)"')" = "Up true" ] &&
  [ "$(frr | jq -r '"\(.status) \(.multihop)"')" = "up true" ]
}
check multihop-up-both-sides wait_until 40 mh_up
check multihop-bgp-established wait_until 40 bgp_up
check multihop-route-installed wait_until 20 pe_route
sleep 1
O=$(ours); F=$(frr)
say "multihop perouter: $(echo "$O" | jq -c '{state,multihop,local_discriminator,remote_discriminator,tx_interval_us,detection_time_us}')"
say "multihop FRR:      $(echo "$F" | jq -c '{status,multihop,id,"remote-id","remote-transmit-interval","remote-detect-multiplier"}')"
check multihop-frr-agrees agree
measure "multihop, BFD 100 ms x 3"
MH_ROUTE=$ROUTE_MS; MH_DOWN=$BFD_MS
check multihop-failover-route-gone-under-1s test "$MH_ROUTE" != timeout -a "${MH_ROUTE/timeout/99999}" -lt 1000
unsilence
check multihop-recovered-bfd wait_until 30 mh_up
check multihop-recovered-bgp wait_until 40 bgp_up

# Removing BFD from our side: the session goes AdminDown and leaves `show bfd peers`. (FRR 8.4's
# bgpd takes a peer's AdminDown for a failure and resets the session with Cease/BFD Down;
# reported, not asserted: perouter's own handling of a peer's AdminDown is covered by
# crates/bfd/tests/netns.rs and runtime::bfd's tests.)
bgp_before=$(bgp_uptime)
underlay "" ", properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 2}}]"
no_session() { [ -z "$(ours)" ]; }
check bfd-removed wait_until 15 no_session
sleep 1
if [ "$(bgp_uptime)" -ge "$bgp_before" ]; then say "FRR kept BGP when our BFD session went AdminDown"
else say "FRR reset BGP when our BFD session went AdminDown (FRR 8.4 behaviour)"; fi

echo
say "FAILOVER (ToR silenced by nftables): single-hop BFD 100ms x3: BFD down ${BFD_DOWN} ms, route withdrawn ${BFD_ROUTE} ms; multihop: BFD down ${MH_DOWN} ms, route withdrawn ${MH_ROUTE} ms (two ToRs, pings, no BFD and FRR beside: bfd-failover.sh)"
printf '%-32s %s\n' CHECK RESULT
for k in "${!RESULT[@]}"; do printf '%-32s %s\n' "$k" "${RESULT[$k]}"; done | sort
if [ $FAIL -ne 0 ]; then
  echo "--- perouter log (tail)"; tail -n 60 "$DIR/perouter.log"
  echo "--- FRR bfd peers"; vty "show bfd peers"
fi
exit $FAIL
