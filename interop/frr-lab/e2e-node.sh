#!/usr/bin/env bash
# End-to-end test of `perouter run` on this kernel (no VRF needed): one node built from
# OpenPERouter static files, with an underlay session to an FRR ToR and a passthrough host
# session to an FRR host speaker. Checks that routes flow both ways and pings pass, that a
# live config change (adding a second ToR neighbour) leaves the first session up, and that a
# restart of perouter keeps forwarding (ping loss measured and reported).
#
#   sudo interop/frr-lab/e2e-node.sh        (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary,
#                                            else target/release, else target/debug, else it builds)
#
# Topology (all namespaces created here, names prefixed with a per-run tag):
#   TAG-host   the node's host namespace: FRR host speaker AS 64517, service 10.200.0.1/32 on lo
#              toswitch1 192.168.11.3/24 (moved by perouter into the router namespace)
#   TAG-pe     the router namespace perouter builds (pt-ns, toswitch1, lo VTEP)
#   TAG-tor    FRR ToR AS 64512, 192.168.11.2/24, network 10.100.0.0/24 on lo
set -u
LAB=e2e
. "$(dirname "$0")/lib.sh"
lab_need_tools
lab_find_perouter
TAG=e2e$$
DIR=$(mktemp -d /tmp/perouter-e2e.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor; TOR2=${TAG}tor2
PIDS=()

# KEEP=1: the lab (namespaces, FRR, perouter) and its logs stay up for inspection.
cleanup() {
  local rc=$?
  [ $rc -ne 0 ] && [ "$FAIL" -eq 0 ] && lab_log_tail "$DIR/perouter.log" 60
  if [ -n "${KEEP:-}" ]; then
    echo "KEEP=1: lab left up: namespaces $HOST $PE $TOR $TOR2, perouter --api-socket $DIR/api.sock, logs in $DIR"
    local alive=() p
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    echo "  remove it: kill ${alive[*]} \$(cat $DIR/*/*.pid); for n in $HOST $PE $TOR $TOR2; do ip netns del \$n; done; rm -rf $DIR"
    return
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  lab_kill_pidfiles "$DIR"
  sleep 0.5
  for n in $HOST $PE $TOR $TOR2; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$DIR"
}
trap cleanup EXIT

# The router namespace ($PE) is perouter's to create.
for n in $HOST $TOR $TOR2; do ip netns add "$n"; ip -n "$n" link set lo up; done
# The underlay link: toswitch1 in the host namespace, moved into the router namespace by perouter.
ip link add toswitch1 netns $HOST type veth peer name tor-eth0 netns $TOR
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
# The ToRs' switch: a bridge in the ToR namespace joins tor-eth0 and the second ToR's link.
ip -n $TOR link add br0 type bridge
ip -n $TOR link set tor-eth0 master br0
ip link add tor-l2 netns $TOR type veth peer name tor2-eth0 netns $TOR2
ip -n $TOR link set tor-l2 master br0
ip -n $TOR addr add 192.168.11.2/24 dev br0
ip -n $TOR2 addr add 192.168.11.4/24 dev tor2-eth0
for l in tor-eth0 tor-l2 br0; do ip -n $TOR link set $l up; done
ip -n $TOR2 link set tor2-eth0 up
ip -n $TOR addr add 10.100.0.1/24 dev lo
ip -n $HOST addr add 10.200.0.1/32 dev lo
ip netns exec $TOR sysctl -qw net.ipv4.ip_forward=1

start_frr() { lab_start_frr "$TAG$1" "$2" "$DIR/$1"; } # NAME NS
vty() { lab_vty "$DIR/$1" "$2"; }

mkdir -p "$DIR/tor" "$DIR/tor2" "$DIR/hostfrr"
cat > "$DIR/tor/frr.conf" <<CONF
hostname tor
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor nodes peer-group
 neighbor nodes remote-as 64514
 bgp listen range 192.168.11.0/24 peer-group nodes
 neighbor nodes timers 3 9
 address-family ipv4 unicast
  network 10.100.0.0/24
  neighbor nodes activate
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
sed -e 's/hostname tor/hostname tor2/' -e 's/router-id 192.168.11.2/router-id 192.168.11.4/' \
  -e '/network 10.100.0.0/d' "$DIR/tor/frr.conf" > "$DIR/tor2/frr.conf"
start_frr tor $TOR
start_frr tor2 $TOR2

# The node's configuration: upstream's static files.
mkdir -p "$DIR/cfg/configs"
cat > "$DIR/cfg/configs/openpe_underlay.yaml" <<CONF
underlays:
  - asn: 64514
    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
    neighbors:
      - {asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
CONF
cat > "$DIR/cfg/configs/openpe_passthrough.yaml" <<CONF
bgppassthrough:
  hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: 192.169.100.0/24}}
CONF
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

SOCK=$DIR/api.sock
METRICS=127.0.0.1:$((20000 + $$ % 20000))
start_perouter() {
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
    --api-socket "$SOCK" --config-poll 1 --metrics-addr "$METRICS" >>"$DIR/perouter.log" 2>&1 &
  PPID_RUN=$!
  PIDS+=("$PPID_RUN")
}
start_t=$(date +%s.%N)
start_perouter
# The host speaker peers with pt-ns once perouter created the passthrough veth.
wait_until 30 ip -n $HOST link show pt-host >/dev/null 2>&1
start_frr hostfrr $HOST

tor_has() { vty tor "show ip bgp 10.200.0.1/32 json" | grep -q '"valid":true'; }
host_has() { vty hostfrr "show ip bgp 10.100.0.0/24 json" | grep -q '"valid":true'; }
pe_route() { ip -n $PE route show 10.100.0.0/24 | grep -q 'via 192.168.11.2'; }
ping_ok() { ip netns exec $HOST ping -c 1 -W 1 -I 10.200.0.1 10.100.0.1 >/dev/null 2>&1; }
session_up() { pr_session_up "$SOCK" "$1"; } # ADDR: Established per `perouter show bgp summary`

check toswitch1-moved wait_until 20 ip -n $PE link show toswitch1
check vtep-on-lo wait_until 10 sh -c "ip -n $PE -4 addr show dev lo | grep -q 100.65.0.0/32"
check tor-session wait_until 40 session_up 192.168.11.2
check host-session wait_until 40 session_up 192.169.100.2
up_t=$(date +%s.%N)
check host-route-at-tor wait_until 30 tor_has
check tor-route-at-host wait_until 30 host_has
check tor-route-in-router-ns wait_until 30 pe_route
check ping-host-to-tor wait_until 20 ping_ok
conv_t=$(date +%s.%N)
say "start -> sessions Established: $(echo "$up_t - $start_t" | bc) s; -> routes installed and ping: $(echo "$conv_t - $start_t" | bc) s"
check show-status sh -c "'$PEROUTER' show status --api-socket '$SOCK' | grep -q 'configuration generation 1'"
check check-cli "$PEROUTER" check "$DIR/cfg"
# The operator's view, printed next to vtysh's for the same session.
"$PEROUTER" show bgp summary --api-socket "$SOCK" > "$DIR/show-summary.txt" 2>&1
"$PEROUTER" show bgp neighbor 192.168.11.2 --api-socket "$SOCK" > "$DIR/show-neighbor.txt" 2>&1
check show-summary-row grep -Eq '^192\.168\.11\.2 +4 +64512 ' "$DIR/show-summary.txt"
check show-neighbor-as grep -q 'remote AS 64512, local AS 64514' "$DIR/show-neighbor.txt"
check show-neighbor-with-port sh -c "'$PEROUTER' show bgp neighbor 192.168.11.2:179 --api-socket '$SOCK' -o json >/dev/null"
# Negotiated values agree with the ToR's own view of the same session (FRR's JSON).
ours_ng() { "$PEROUTER" show bgp neighbor 192.168.11.2 --api-socket "$SOCK" -o json 2>/dev/null | jq -r "$1"; }
frr_nb() { vty tor "show bgp neighbors 192.168.11.3 json" | jq -r --arg f "$1" '.["192.168.11.3"][$f]'; }
check show-neighbor-negotiated-hold test "$(ours_ng .negotiated.hold_time)" = "$(( $(frr_nb bgpTimerHoldTimeMsecs) / 1000 ))"
check show-neighbor-peer-router-id test "$(ours_ng .negotiated.peer_router_id)" = "$(vty tor "show bgp summary json" | jq -r '.ipv4Unicast.routerId')"
check show-neighbor-received-capabilities sh -c "'$PEROUTER' show bgp neighbor 192.168.11.2 --api-socket '$SOCK' -o json | jq -e '.negotiated.received_capabilities | (index(\"route-refresh\") != null) and any(.[]; startswith(\"hostname \"))' >/dev/null"
check show-neighbor-negotiated-family sh -c "'$PEROUTER' show bgp neighbor 192.168.11.2 --api-socket '$SOCK' -o json | jq -e '.negotiated.families | index(\"ipv4-unicast\")' >/dev/null"
# The default table: the ToR's route best from the ToR, the host's /32 (longest match on an
# address) best from the passthrough host session; the text table next to the ToR's vtysh.
best_from() {
  "$PEROUTER" show bgp ipv4 unicast "$1" --api-socket "$SOCK" -o json 2>/dev/null | \
    jq -e --arg f "$2" 'any(.[]; .best and .valid and .from == $f)' >/dev/null
}
check show-unicast-tor-route best_from 10.100.0.0/24 192.168.11.2
check show-unicast-host-route best_from 10.200.0.1 192.169.100.2
"$PEROUTER" show bgp ipv4 unicast --api-socket "$SOCK" > "$DIR/show-unicast.txt" 2>&1
check show-unicast-text grep -Eq '^ \*> 10\.100\.0\.0/24 +192\.168\.11\.2 ' "$DIR/show-unicast.txt"
# Adj-RIB-In and Adj-RIB-Out of the ToR session: what we list as received is what the ToR
# advertises to us, what we list as advertised is what the ToR holds from us (FRR's view).
adj() { "$PEROUTER" show bgp neighbor 192.168.11.2 "$1" --family ipv4-unicast --api-socket "$SOCK" -o json 2>/dev/null | jq -r '[.[].prefix] | sort | join(",")'; }
frr_from_us=$(vty tor "show ip bgp neighbors 192.168.11.3 routes json" | jq -r '[.routes | keys[]] | sort | join(",")')
frr_to_us=$(vty tor "show ip bgp neighbors 192.168.11.3 advertised-routes json" | jq -r '[.advertisedRoutes | keys[]] | sort | join(",")')
say "advertised to the ToR: perouter [$(adj advertised-routes)] FRR holds [$frr_from_us]"
say "received from the ToR: perouter [$(adj received-routes)] FRR sent [$frr_to_us]"
check show-advertised-routes-match-frr test -n "$frr_from_us" -a "$(adj advertised-routes)" = "$frr_from_us"
check show-received-routes-match-frr test -n "$frr_to_us" -a "$(adj received-routes)" = "$frr_to_us"
"$PEROUTER" show bgp neighbor 192.168.11.2 advertised-routes --api-socket "$SOCK" > "$DIR/show-advertised.txt" 2>&1
# /metrics from the running node: promtool-clean, with the session's families.
curl -s "http://$METRICS/metrics" > "$DIR/metrics.txt"
if command -v promtool >/dev/null; then check metrics-promtool sh -c "promtool check metrics < '$DIR/metrics.txt'"; fi
check metrics-session grep -q 'perouter_bgp_session_established{peer="192.168.11.2"} 1' "$DIR/metrics.txt"
say "metric families: $(grep -c '^# TYPE' "$DIR/metrics.txt")"
check http-405 sh -c "curl -s -o /dev/null -w '%{http_code}' -X POST 'http://$METRICS/metrics' | grep -q 405"
say "perouter show bgp summary:"; cat "$DIR/show-summary.txt"
say "vtysh (ToR) show bgp summary:"; vty tor "show bgp summary"
say "perouter show bgp neighbor 192.168.11.2:"; cat "$DIR/show-neighbor.txt"
say "perouter show bgp ipv4 unicast:"; cat "$DIR/show-unicast.txt"
say "vtysh (ToR) show bgp ipv4 unicast:"; vty tor "show bgp ipv4 unicast"
say "perouter show bgp neighbor 192.168.11.2 advertised-routes:"; cat "$DIR/show-advertised.txt"

# ROUTE-REFRESH (RFC 2918): the ToR asks for our routes again; we answer with UPDATEs and keep them.
updates_out() { "$PEROUTER" show bgp neighbor "$1" --api-socket "$SOCK" -o json 2>/dev/null | jq -r '.messages_sent.update // 0'; }
refreshes_in() { "$PEROUTER" show bgp neighbor "$1" --api-socket "$SOCK" -o json 2>/dev/null | jq -r '.messages_received.route_refresh // 0'; }
sleep 2  # let the initial exchange settle, so only the refresh can move the counter
upd_before=$(updates_out 192.168.11.2); rr_before=$(refreshes_in 192.168.11.2)
sleep 2
# The counter is quiet without a refresh: what moves it below is the refresh.
check updates-quiet-before-refresh test "$(updates_out 192.168.11.2)" = "$upd_before"
vty tor "clear bgp ipv4 unicast 192.168.11.3 soft in" >/dev/null
refresh_received() { [ "$(refreshes_in 192.168.11.2)" -eq $((rr_before + 1)) ]; }
check route-refresh-received wait_until 15 refresh_received
refresh_answered() { [ "$(updates_out 192.168.11.2)" -gt "$upd_before" ]; }
check route-refresh-answered wait_until 15 refresh_answered
say "ROUTE-REFRESH: $((  $(refreshes_in 192.168.11.2) - rr_before )) received, answered with $(( $(updates_out 192.168.11.2) - upd_before )) UPDATEs"
check route-kept-after-refresh tor_has

# Live change: a second ToR neighbour; the first session must not flap.
uptime_of() { "$PEROUTER" show bgp neighbor "$1" --api-socket "$SOCK" -o json 2>/dev/null | jq -r '(.up_seconds // -1) | floor'; }
sleep 2
up_tor_before=$(uptime_of 192.168.11.2); up_host_before=$(uptime_of 192.169.100.2)
sed -i 's|      - {asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}|&\n      - {asn: 64512, address: 192.168.11.4, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}|' \
  "$DIR/cfg/configs/openpe_underlay.yaml"
check live-add-neighbor wait_until 40 session_up 192.168.11.4
up_tor_after=$(uptime_of 192.168.11.2); up_host_after=$(uptime_of 192.169.100.2)
say "session uptimes before/after the change: ToR ${up_tor_before}s/${up_tor_after}s, host ${up_host_before}s/${up_host_after}s"
check sessions-untouched-by-change test "$up_tor_before" -ge 2 -a "$up_tor_after" -ge "$up_tor_before" -a "$up_host_after" -ge "$up_host_before"

# Restart: pings continue while perouter is away (forwarding state stays in the kernel).
ip netns exec $HOST ping -i 0.2 -c 100 -W 1 -I 10.200.0.1 10.100.0.1 > "$DIR/ping.txt" 2>&1 &
PING=$!
sleep 2
kill -TERM "$PPID_RUN"; wait "$PPID_RUN" 2>/dev/null
sleep 2
start_perouter
check restart-sessions-back wait_until 40 session_up 192.168.11.2
wait "$PING"
loss=$(grep -o '[0-9.]*% packet loss' "$DIR/ping.txt")
say "restart: $loss over 20 s of pings at 5/s (perouter stopped for 2 s, then restarted)"
check restart-no-loss grep -q ' 0% packet loss' "$DIR/ping.txt"

echo
lab_results 28
if [ $FAIL -ne 0 ]; then
  lab_log_tail "$DIR/perouter.log" 60
fi
exit $FAIL
