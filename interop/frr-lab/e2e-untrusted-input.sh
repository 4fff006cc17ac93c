#!/usr/bin/env bash
# End-to-end check of input that is well-formed but wrong (issue 10) against a running
# `perouter run`: a GoBGP ToR announces routes whose NEXT_HOP is loopback, multicast, class E,
# broadcast or our own address, next to a valid one; an FRR host speaker on the passthrough
# session echoes our AS back (explicitly with a prepend, and by re-advertising what it learned
# from us). Checks that the valid route is installed and re-advertised while none of the
# invalid ones reaches the kernel or the host, that the refusals are counted in the log once,
# and that no path with our AS twice reaches the ToR.
#
#   cargo build -p perouter-agent --bin perouter && sudo flock /tmp/perouter-lab.lock interop/frr-lab/e2e-untrusted-input.sh
#
# Topology (names prefixed with a per-run tag):
#   TAG-host  the node's host namespace: FRR host speaker AS 64517 (10.200.0.1/32, 10.201.0.0/24)
#             toswitch1 192.168.11.3/24 (moved by perouter into the router namespace)
#   TAG-pe    the router namespace perouter builds
#   TAG-tor   GoBGP ToR AS 64512, 192.168.11.2/24
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEROUTER=${PEROUTER:-$ROOT/target/debug/perouter}
TAG=ui$$
DIR=$(mktemp -d /tmp/perouter-ui.XXXXXX)
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

say() { echo "[untrusted-input $(date +%T)] $*"; }
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
ip -n $HOST addr add 10.200.0.1/32 dev lo
ip -n $HOST addr add 10.201.0.1/24 dev lo

# ------------------------------------------------------------------ GoBGP ToR (AS 64512)
mkdir -p "$DIR/tor"
cat > "$DIR/tor/gobgp.toml" <<CONF
[global.config]
  as = 64512
  router-id = "192.168.11.2"
  port = 179
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.168.11.3"
    peer-as = 64514
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
CONF
ip netns exec $TOR gobgpd -f "$DIR/tor/gobgp.toml" --api-hosts 127.0.0.1:50561 -l warn \
  > "$DIR/tor/log" 2>&1 &
PIDS+=($!)
gob() { ip netns exec $TOR gobgp -p 50561 "$@"; }

# ------------------------------------------------------- FRR host speaker (AS 64517)
mkdir -p "$DIR/hostfrr"
cat > "$DIR/hostfrr/frr.conf" <<CONF
hostname hostspeaker
ip prefix-list ECHO seq 5 permit 10.201.0.0/24
route-map OUT permit 10
 match ip address prefix-list ECHO
 set as-path prepend 64514
route-map OUT permit 20
router bgp 64517
 bgp router-id 10.200.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.169.100.1 remote-as 64514
 neighbor 192.169.100.1 timers 3 9
 address-family ipv4 unicast
  network 10.200.0.1/32
  network 10.201.0.0/24
  neighbor 192.169.100.1 activate
  neighbor 192.169.100.1 route-map OUT out
 exit-address-family
CONF
start_frr() { # NAME NS
  chown -R frr:frr "$DIR/$1"
  ip netns exec "$2" /usr/lib/frr/zebra -d -N "$TAG$1" -f "$DIR/$1/frr.conf" -i "$DIR/$1/zebra.pid" \
    -z "$DIR/$1/zserv.api" --vty_socket "$DIR/$1" >/dev/null 2>&1
  ip netns exec "$2" /usr/lib/frr/bgpd -d -N "$TAG$1" -f "$DIR/$1/frr.conf" -i "$DIR/$1/bgpd.pid" \
    -z "$DIR/$1/zserv.api" --vty_socket "$DIR/$1" >/dev/null 2>&1
}
vty() { vtysh --vty_socket "$DIR/$1" -c "$2" 2>/dev/null; }

# ------------------------------------------------------------------------- the node
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
RUST_LOG=${RUST_LOG:-info} "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 --metrics-addr 127.0.0.1:0 >>"$DIR/perouter.log" 2>&1 &
PIDS+=($!)
wait_until 30 ip -n $HOST link show pt-host >/dev/null 2>&1
start_frr hostfrr $HOST

session_up() { # ADDR
  local st
  st=$("$PEROUTER" show bgp summary --api-socket "$SOCK" -o json 2>/dev/null | \
    jq -r --arg a "$1" '.peers[] | select(.neighbor == $a) | .state' 2>/dev/null | head -1)
  [ "$st" = Established ]
}
check tor-session wait_until 40 session_up 192.168.11.2
check host-session wait_until 40 session_up 192.169.100.2

# The ToR's routes: one valid (next hop: itself), the rest with invalid next hops.
BAD=(127.0.0.1 224.0.0.1 240.0.0.1 255.255.255.255 192.168.11.3 100.65.0.0)
gob global rib add -a ipv4 10.100.0.0/24 nexthop 192.168.11.2 >/dev/null
i=4
for nh in "${BAD[@]}"; do
  gob global rib add -a ipv4 172.17.$i.0/24 nexthop "$nh" >/dev/null || say "gobgp refused next hop $nh"
  i=$((i + 1))
done
pe_has() { ip -n $PE route show "$1" | grep -q .; }
host_has() { vty hostfrr "show ip bgp $1 json" | grep -q '"valid":true'; }
check valid-route-installed wait_until 30 pe_has 10.100.0.0/24
check valid-route-at-host wait_until 30 host_has 10.100.0.0/24
sleep 3 # the invalid ones were sent with the valid one: give them time to (wrongly) land
none_bad() {
  local i=4 nh
  for nh in "${BAD[@]}"; do
    if pe_has 172.17.$i.0/24; then say "172.17.$i.0/24 via $nh is in the kernel"; return 1; fi
    if host_has 172.17.$i.0/24; then say "172.17.$i.0/24 via $nh reached the host"; return 1; fi
    i=$((i + 1))
  done
}
# The ToR really sent them with those next hops (the check above means something).
sent_bad() { local out; out=$(gob neighbor 192.168.11.3 adj-out -a ipv4); echo "$out" | grep 172.17.4.0/24 | grep -q 127.0.0.1 && echo "$out" | grep 172.17.5.0/24 | grep -q 224.0.0.1; }
check tor-sent-invalid-next-hops sent_bad
check invalid-next-hops-not-installed-nor-advertised none_bad
check invalid-next-hop-logged-once test "$(grep -c 'routes with an invalid next hop kept but not used' "$DIR/perouter.log")" -eq 1

# The echo: nothing with our AS twice reaches the ToR; the host's clean route does.
tor_has() { gob global rib -a ipv4 | grep -q "$1"; }
check host-route-at-tor wait_until 30 tor_has 10.200.0.1/32
sleep 3
echo_free() {
  local rib
  rib=$(gob neighbor 192.168.11.3 adj-in -a ipv4)
  if echo "$rib" | grep -E '64514 .*64514' >/dev/null; then say "a path with our AS twice: $(echo "$rib" | grep -E '64514 .*64514')"; return 1; fi
  if echo "$rib" | grep -q 10.201.0.0/24; then say "the host's echo reached the ToR"; return 1; fi
}
# The host really sent the echo (with our AS in the path) and re-advertised our routes.
host_echoed() { vty hostfrr "show ip bgp neighbors 192.169.100.1 advertised-routes" | grep 10.201.0.0/24 | tee -a "$DIR/echo.txt" | grep -q 64514; }
check host-sent-echo host_echoed
check no-echo-at-tor echo_free
check echo-not-installed sh -c "! ip -n $PE route show 10.201.0.0/24 | grep -q ."

echo
printf '%-44s %s\n' CHECK RESULT
for k in "${!RESULT[@]}"; do printf '%-44s %s\n' "$k" "${RESULT[$k]}"; done | sort
if [ $FAIL -ne 0 ]; then
  echo "--- perouter log (tail)"; tail -n 60 "$DIR/perouter.log"
fi
exit $FAIL
