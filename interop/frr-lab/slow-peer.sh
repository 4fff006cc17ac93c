#!/usr/bin/env bash
# No peer can hurt another (issue 10): `perouter run` with an FRR ToR, an FRR host speaker
# (passthrough), a scripted peer that establishes and then never reads (its TCP window closes,
# it keeps sending KEEPALIVEs), and a scripted peer that announces and withdraws ROUTES /24s
# (default 200000). Checks that the ToR session never resets, `perouter show` answers, a new ToR
# prefix still reaches the host speaker, and the slow peer is closed by the RFC 9687
# SendHoldTimer (NOTIFICATION 8). Then: max-prefix (Cease/1 and hold-down), the underlay link
# going down ending the ToR session at once, and `ip netns delete` of the router namespace
# making perouter exit non-zero. Reports perouter's RSS idle, at ROUTES routes and after their
# withdrawal, beside the ToR's FRR (bgpd+zebra) holding the same routes in the same run.
#
#   cargo build -p perouter-agent && sudo flock /tmp/perouter-lab.lock interop/frr-lab/slow-peer.sh
#
# Topology (names prefixed with a per-run tag):
#   TAG-host  host namespace: FRR host speaker AS 64517 (10.200.0.1/32); toswitch1 192.168.11.3
#   TAG-pe    the router namespace perouter builds (AS 64514)
#   TAG-tor   FRR ToR AS 64512, 192.168.11.2 on br0 (a bridge joining every underlay link)
#   TAG-slow  scripted peer AS 64601, 192.168.11.5: never reads
#   TAG-gen   scripted peer AS 64600, 192.168.11.6: announces/withdraws ROUTES prefixes
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEROUTER=${PEROUTER:-$ROOT/target/debug/perouter}
PEER=$ROOT/interop/frr-lab/lib/bgp_peer.py
ROUTES=${ROUTES:-200000}
TAG=sp$$
DIR=$(mktemp -d /tmp/perouter-slowpeer.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor; SLOW=${TAG}slow; GEN=${TAG}gen
FAIL=0
PIDS=()
declare -A RESULT

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for f in "$DIR"/*/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
  for n in $HOST $PE $TOR $SLOW $GEN; do ip netns del "$n" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

say() { echo "[slow-peer $(date +%T)] $*"; }
check() { # NAME CMD...
  local name=$1; shift
  if "$@"; then RESULT[$name]=ok; say "ok    $name"; else RESULT[$name]=FAIL; FAIL=1; say "FAIL  $name"; fi
}
wait_until() { # SECONDS CMD...
  local t=$1; shift
  for _ in $(seq $((t * 2))); do "$@" && return 0; sleep 0.5; done
  return 1
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { echo "$(( $1 / 1024 )) MB"; }

for n in $HOST $TOR $SLOW $GEN; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add toswitch1 netns $HOST type veth peer name tor-eth0 netns $TOR
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $TOR link add br0 type bridge
ip -n $TOR link set tor-eth0 master br0
for x in slow:$SLOW:192.168.11.5 gen:$GEN:192.168.11.6; do
  IFS=: read -r name ns addr <<<"$x"
  ip link add "tor-$name" netns $TOR type veth peer name eth0 netns "$ns"
  ip -n $TOR link set "tor-$name" master br0
  ip -n $TOR link set "tor-$name" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
done
ip -n $TOR addr add 192.168.11.2/24 dev br0
for l in tor-eth0 br0; do ip -n $TOR link set $l up; done
ip -n $TOR addr add 10.100.0.1/24 dev lo
ip -n $HOST addr add 10.200.0.1/32 dev lo

start_frr() { # NAME NS
  mkdir -p "$DIR/$1"; chown -R frr:frr "$DIR/$1"
  ip netns exec "$2" /usr/lib/frr/zebra -d -N "$TAG$1" -f "$DIR/$1/frr.conf" -i "$DIR/$1/zebra.pid" \
    -z "$DIR/$1/zserv.api" --vty_socket "$DIR/$1" >/dev/null 2>&1
  ip netns exec "$2" /usr/lib/frr/bgpd -d -N "$TAG$1" -f "$DIR/$1/frr.conf" -i "$DIR/$1/bgpd.pid" \
    -z "$DIR/$1/zserv.api" --vty_socket "$DIR/$1" >/dev/null 2>&1
}
vty() { vtysh --vty_socket "$DIR/$1" -c "$2" 2>/dev/null; }

mkdir -p "$DIR/tor" "$DIR/hostfrr"
cat > "$DIR/tor/frr.conf" <<CONF
hostname tor
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 address-family ipv4 unicast
  network 10.100.0.0/24
  neighbor 192.168.11.3 activate
 exit-address-family
CONF
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
start_frr tor $TOR

mkdir -p "$DIR/cfg/configs"
cat > "$DIR/cfg/configs/openpe_underlay.yaml" <<CONF
underlays:
  - asn: 64514
    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
    neighbors:
      - {asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
      - {asn: 64601, address: 192.168.11.5, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
      - {asn: 64600, address: 192.168.11.6, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
      - {asn: 64610, listenRange: 192.168.11.64/28, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
CONF
cat > "$DIR/cfg/configs/openpe_passthrough.yaml" <<CONF
bgppassthrough:
  hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: 192.169.100.0/24}}
CONF
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

SOCK=$DIR/api.sock
METRICS=127.0.0.1:$((40000 + $$ % 20000))
start_perouter() { # extra flags...
  RUST_LOG=${RUST_LOG:-info} "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
    --api-socket "$SOCK" --config-poll 1 --metrics-addr "$METRICS" --send-hold-time 20 --listen-limit 2 "$@" \
    >>"$DIR/perouter.log" 2>&1 &
  PR=$!
  PIDS+=("$PR")
}
show() { timeout 5 "$PEROUTER" show "$@" --api-socket "$SOCK" -o json 2>/dev/null; }
neighbor_json() { show bgp neighbor "$1"; }
state_of() { neighbor_json "$1" | jq -r '.state // empty'; }
session_up() { [ "$(state_of "$1")" = Established ]; }
tor_conns() { vty tor "show bgp neighbors 192.168.11.3 json" | jq -r '.["192.168.11.3"].connectionsEstablished // 0'; }
tor_has() { vty tor "show ip bgp $1 json" | grep -q '"valid":true'; }
tor_count() { vty tor "show ip bgp summary json" | jq -r '.ipv4Unicast.peers["192.168.11.3"].pfxRcd // 0'; }
host_has() { vty hostfrr "show ip bgp $1 json" | grep -q '"valid":true'; }
frr_rss() { echo $(( $(rss_kb "$(cat "$DIR/tor/bgpd.pid")") + $(rss_kb "$(cat "$DIR/tor/zebra.pid")") )); }

start_perouter
wait_until 30 ip -n $HOST link show pt-host >/dev/null 2>&1
start_frr hostfrr $HOST
ip netns exec $SLOW python3 "$PEER" slow 64601 192.168.11.5 "$DIR" > "$DIR/slow.log" 2>&1 &
PIDS+=("$!")
ip netns exec $GEN python3 "$PEER" flood 64600 192.168.11.6 "$DIR" 0 > "$DIR/gen0.log" 2>&1 &
GEN0=$!; PIDS+=("$GEN0")

check tor-session wait_until 40 session_up 192.168.11.2
check host-session wait_until 40 session_up 192.169.100.2
check slow-session wait_until 40 session_up 192.168.11.5
check gen-session wait_until 40 session_up 192.168.11.6
check tor-route-at-host wait_until 30 host_has 10.100.0.0/24
sleep 3
conns0=$(tor_conns)
count0=$(tor_count)
rss_idle=$(rss_kb $PR); frr_idle=$(frr_rss)
say "ToR connectionsEstablished=$conns0; RSS idle: perouter $(mb "$rss_idle"), ToR FRR bgpd+zebra $(mb "$frr_idle")"

# The generator now floods ROUTES prefixes (a new connection with the count).
kill "$GEN0" 2>/dev/null
ip netns exec $GEN python3 "$PEER" flood 64600 192.168.11.6 "$DIR" "$ROUTES" > "$DIR/gen.log" 2>&1 &
PIDS+=("$!")
t0=$(date +%s)
got_all() { [ "$(tor_count)" -ge "$ROUTES" ]; }
check tor-gets-all-routes wait_until 300 got_all
say "ToR holds $(tor_count) routes from perouter after $(( $(date +%s) - t0 )) s"
rss_full=$(rss_kb $PR); frr_full=$(frr_rss)
say "RSS at $ROUTES routes: perouter $(mb "$rss_full"), ToR FRR bgpd+zebra $(mb "$frr_full")"
stalled() { neighbor_json 192.168.11.5 | jq -e '.send_stalled_since != null' >/dev/null; }
check slow-peer-shows-stalled wait_until 20 stalled
check show-answers-while-stuck sh -c "timeout 5 '$PEROUTER' show bgp summary --api-socket '$SOCK' >/dev/null"
neighbor_json 192.168.11.5 | jq -c '{state, send_queue_bytes, send_stalled_since, outbox_depth}'
# A new ToR prefix reaches the host speaker while the slow peer is stuck.
ip -n $TOR addr add 10.101.0.1/24 dev lo
vtysh --vty_socket "$DIR/tor" -c "configure terminal" -c "router bgp 64512" -c "address-family ipv4 unicast" -c "network 10.101.0.0/24" >/dev/null 2>&1
check new-tor-prefix-at-host wait_until 30 host_has 10.101.0.0/24
# The SendHoldTimer (20 s) closes the slow peer with NOTIFICATION 8.
sent8() { neighbor_json 192.168.11.5 | jq -e 'any(.notifications_sent[]; .code == 8)' >/dev/null; }
check slow-peer-closed-by-send-hold-timer wait_until 60 sent8
check slow-peer-saw-the-close wait_until 30 test -f "$DIR/slow-closed"
# Withdraw everything.
touch "$DIR/withdraw"
# What the ToR had before the flood (VTEP, host route...), the new ToR prefix aside.
none_left() { [ "$(tor_count)" -le $((count0 + 1)) ]; }
check withdrawal-reaches-tor wait_until 300 none_left
sleep 5
rss_after=$(rss_kb $PR); frr_after=$(frr_rss)
say "RSS after withdrawal: perouter $(mb "$rss_after"), ToR FRR bgpd+zebra $(mb "$frr_after")"
conns1=$(tor_conns)
say "ToR connectionsEstablished before/after: $conns0/$conns1"
check tor-session-never-reset test "$conns0" = "$conns1"
check tor-session-still-up session_up 192.168.11.2

# Max-prefix: restart perouter with a node-wide limit below what the generator sends.
kill -TERM $PR; wait $PR 2>/dev/null
rm -f "$DIR/flood-notification"
start_perouter --max-prefix 1000 --max-prefix-restart 30
check tor-back-after-restart wait_until 40 session_up 192.168.11.2
conns_r=$(tor_conns)
cease1() { grep -q '^6 1$' "$DIR/flood-notification" 2>/dev/null; }
check max-prefix-cease-1 wait_until 60 cease1
not_up() { ! session_up 192.168.11.6; }
sleep 5
check max-prefix-held-down not_up
check tor-unaffected-by-max-prefix test "$(tor_conns)" = "$conns_r"

# Listen-range exhaustion (--listen-limit 2): a third dynamic neighbour from the range is
# refused while two hold their slots; when one leaves, the third gets in. The ToR session is
# untouched throughout.
conns_l=$(tor_conns)
for a in 65 66 67; do ip -n $GEN addr add 192.168.11.$a/24 dev eth0; done
dialer() { # LAST-OCTET [evpn]
  ip netns exec $GEN python3 "$PEER" dial 64610 "192.168.11.$1" "$DIR" 192.168.11.3 ${2:-} > "$DIR/dial$1.log" 2>&1 &
  PIDS+=("$!")
}
refused_family() {
  curl -s "http://$METRICS/metrics" | \
    awk '/^perouter_rib_refused_nlri_total\{reason="family_not_negotiated"\}/ {print $2}'
}
fam0=$(refused_family)
# .66 also sends an EVPN MP_REACH_NLRI on its IPv4-only session: ignored and counted, the
# session stays up (RFC 4760 §7 would allow a reset; a confused peer must not cost a session).
dialer 65; dialer 66 evpn
check listen-range-two-up wait_until 30 sh -c "[ -e '$DIR/up-192.168.11.65' ] && [ -e '$DIR/up-192.168.11.66' ]"
check unnegotiated-family-sent wait_until 10 grep -q 'sent EVPN MP_REACH' "$DIR/dial66.log"
fam_counted() { [ "$(refused_family)" -gt "${fam0:-0}" ]; }
check unnegotiated-family-counted wait_until 10 fam_counted
check unnegotiated-family-logged grep -q 'address family not negotiated on the session ignored' "$DIR/perouter.log"
check unnegotiated-family-session-kept session_up 192.168.11.66
say "refused NLRI (family not negotiated): ${fam0:-0} -> $(refused_family)"
dialer 67
refused67() { [ "$(cat "$DIR/refused-192.168.11.67" 2>/dev/null | wc -l)" -ge 2 ]; }
check listen-range-third-refused wait_until 20 refused67
check listen-range-third-not-up test ! -e "$DIR/up-192.168.11.67"
check listen-range-limit-logged grep -q 'dynamic neighbor limit reached' "$DIR/perouter.log"
touch "$DIR/stop-192.168.11.65"
check listen-range-slot-freed-third-up wait_until 40 test -e "$DIR/up-192.168.11.67"
check listen-range-third-established wait_until 10 session_up 192.168.11.67
say "listen range: $(cat "$DIR/refused-192.168.11.67" | wc -l) refusals of the third neighbour before a slot was freed"
check listen-range-tor-untouched test "$(tor_conns)" = "$conns_l"

# Underlay link down: the ToR session ends at once, not at hold-timer expiry (9 s).
t0=$(date +%s.%N)
ip -n $PE link set toswitch1 down
down_now() { ! session_up 192.168.11.2; }
check link-down-ends-session wait_until 5 down_now
t1=$(date +%s.%N)
say "link down -> ToR session down in $(echo "$t1 - $t0" | bc) s (hold time 9 s)"
grep -q 'link down: closing the session' "$DIR/perouter.log"
check link-down-logged grep -q 'link down: closing the session' "$DIR/perouter.log"
ip -n $PE link set toswitch1 up

# The router namespace deleted under perouter: it says so and exits non-zero.
ip netns delete $PE
exited() { ! kill -0 $PR 2>/dev/null; }
check netns-delete-exits wait_until 10 exited
wait $PR; rc=$?
check netns-delete-exit-code test "$rc" -ne 0
check netns-delete-logged grep -q 'router namespace was deleted' "$DIR/perouter.log"

echo
printf '%-36s %s\n' CHECK RESULT
for k in "${!RESULT[@]}"; do printf '%-36s %s\n' "$k" "${RESULT[$k]}"; done | sort
echo "RSS perouter idle/$ROUTES/after: $(mb "$rss_idle") / $(mb "$rss_full") / $(mb "$rss_after");" \
  "ToR FRR bgpd+zebra: $(mb "$frr_idle") / $(mb "$frr_full") / $(mb "$frr_after")"
if [ $FAIL -ne 0 ]; then
  echo "--- perouter log (tail)"; tail -n 60 "$DIR/perouter.log"
  echo "--- slow peer"; cat "$DIR/slow.log"; echo "--- generator"; cat "$DIR/gen.log"
fi
exit $FAIL
