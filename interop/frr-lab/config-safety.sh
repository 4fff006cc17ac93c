#!/usr/bin/env bash
# A configuration mistake never hurts the fabric (issue 11), against a real FRR ToR on this kernel:
# while `perouter run` runs, its static files are broken in the ways users break them (syntax
# error, half-written file, unknown field, type error, over-long TCP-MD5 password), the only VNI
# is added and removed, and a host session is added. Throughout, FRR's view of the session must
# not change (connectionsEstablished and bgpTimerUpEstablishedEpoch from `show bgp neighbors
# json`) and the ToR's route must never leave the router namespace's kernel table. Then: SIGTERM
# exits 0 and removes the API socket, repeated stops never panic, and a fresh start beside a
# leftover namespace advertises without the End-of-RIB wait.
#
#   cargo build -p perouter-agent --bin perouter && flock /tmp/perouter-lab.lock interop/frr-lab/config-safety.sh
#
# Namespaces (prefixed with a per-run tag): TAG-host (the node's host side, toswitch1 moved by
# perouter into TAG-pe), TAG-pe (perouter's router namespace), TAG-tor (FRR AS 64512, 10.100.0.0/24).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEROUTER=${PEROUTER:-$ROOT/target/debug/perouter}
TAG=cs$$
DIR=$(mktemp -d /tmp/perouter-cs.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor
FAIL=0
PIDS=()
RESULTS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for f in "$DIR"/*/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  [ -n "${WATCH:-}" ] && kill "$WATCH" 2>/dev/null
  sleep 0.5
  for n in $HOST $PE $TOR; do ip netns del "$n" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

say() { echo "[config-safety $(date +%T)] $*"; }
check() { # NAME CMD...
  local name=$1; shift
  if "$@"; then RESULTS+=("ok    $name"); say "ok    $name"; else RESULTS+=("FAIL  $name"); FAIL=1; say "FAIL  $name"; fi
}
wait_until() { # SECONDS CMD...
  local t=$1; shift
  for _ in $(seq $((t * 5))); do "$@" && return 0; sleep 0.2; done
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
 bgp graceful-restart
 neighbor nodes peer-group
 neighbor nodes remote-as 64514
 bgp listen range 192.168.11.0/24 peer-group nodes
 neighbor nodes timers 3 9
 address-family ipv4 unicast
  network 10.100.0.0/24
  neighbor nodes activate
 exit-address-family
 address-family l2vpn evpn
  neighbor nodes activate
 exit-address-family
CONF
chown -R frr:frr "$DIR/tor"
ip netns exec $TOR /usr/lib/frr/zebra -d -N "${TAG}tor" -f "$DIR/tor/frr.conf" -i "$DIR/tor/zebra.pid" \
  -z "$DIR/tor/zserv.api" --vty_socket "$DIR/tor" >/dev/null 2>&1
ip netns exec $TOR /usr/lib/frr/bgpd -d -N "${TAG}tor" -f "$DIR/tor/frr.conf" -i "$DIR/tor/bgpd.pid" \
  -z "$DIR/tor/zserv.api" --vty_socket "$DIR/tor" >/dev/null 2>&1
vty() { vtysh --vty_socket "$DIR/tor" -c "$1" 2>/dev/null; }
nbr() { vty "show bgp neighbors 192.168.11.3 json" | jq -r --arg f "$1" '.["192.168.11.3"][$f] // empty'; }

mkdir -p "$DIR/cfg/configs"
UL="$DIR/cfg/configs/openpe_underlay.yaml"
cat > "$DIR/underlay.good" <<CONF
underlays:
  - asn: 64514
    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
    neighbors:
      - asn: 64512
        address: 192.168.11.2
        holdTimeSeconds: 9
        keepaliveTimeSeconds: 3
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
CONF
cp "$DIR/underlay.good" "$UL"
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

SOCK=$DIR/api.sock
start_perouter() {
  RUST_LOG=${RUST_LOG:-info} "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
    --api-socket "$SOCK" --config-poll 1 --metrics-addr 127.0.0.1:0 >>"$DIR/perouter.log" 2>&1 &
  RUN=$!
  PIDS+=("$RUN")
}
stop_perouter() { # -> the exit status
  kill -TERM "$RUN"; wait "$RUN"
}
status() { "$PEROUTER" show status --api-socket "$SOCK" 2>&1; }
established() { [ "$(nbr bgpState)" = Established ]; }
pe_route() { ip -n $PE route show 10.100.0.0/24 2>/dev/null | grep -q 'via 192.168.11.2'; }

start_perouter
check tor-session-up wait_until 60 established
check tor-route-in-kernel wait_until 30 pe_route
evpn_negotiated() {
  vty "show bgp neighbors 192.168.11.3 json" | \
    jq -e '.["192.168.11.3"].addressFamilyInfo | keys | map(ascii_downcase) | any(test("evpn"))' >/dev/null
}
check evpn-negotiated-without-any-vni evpn_negotiated
sleep 2
EST0=$(nbr connectionsEstablished); UP=$(nbr bgpTimerUpMsec)
say "ToR session: connectionsEstablished=$EST0 bgpTimerUpEstablishedEpoch=$(nbr bgpTimerUpEstablishedEpoch) uptime ${UP} ms"

# The ToR's route is watched every 0.2 s for the rest of the test.
( while :; do pe_route || echo "$(date +%T.%N) route missing" >> "$DIR/missing"; sleep 0.2; done ) &
WATCH=$!

# Untouched: still Established, never re-established, and its uptime only grew (FRR's
# bgpTimerUpEstablishedEpoch is derived from the uptime and jitters by a second: not compared).
session_untouched() {
  local st est up
  st=$(nbr bgpState); est=$(nbr connectionsEstablished); up=$(nbr bgpTimerUpMsec)
  if [ "$st" = Established ] && [ "$est" = "$EST0" ] && [ "${up:-0}" -ge "$UP" ]; then UP=$up; return 0; fi
  say "session: state=$st connectionsEstablished=$est (was $EST0) uptime=${up}ms (was ${UP}ms)"
  return 1
}
# Settling takes config-poll (1 s) + SETTLE (1 s); 4 s leaves a margin.
break_file() { # NAME EXPECTED-IN-STATUS: $UL already holds the broken content
  local name=$1 want=$2
  sleep 4
  local st; st=$(status)
  grep -qF -- "$want" <<<"$st" || echo "$st"
  check "$name-reported" grep -qF -- "$want" <<<"$st"
  check "$name-session-untouched" session_untouched
  check "$name-route-kept" pe_route
  cp "$DIR/underlay.good" "$UL"
  sleep 3
}

printf 'underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice\n' > "$UL"
break_file syntax-error "openpe_underlay.yaml:"
# Half-written and left so: cut inside a flow mapping.
head -c 90 "$DIR/underlay.good" > "$UL"
break_file half-written "openpe_underlay.yaml:"
# Written in two steps 0.5 s apart (an editor, `kubectl cp`): the first half, valid YAML without
# the timers, must never be applied (other timers need a new OPEN: the session would reset).
grep -v TimeSeconds "$DIR/underlay.good" > "$UL"; sleep 0.5; cp "$DIR/underlay.good" "$UL"
sleep 3
check two-step-write-session-untouched session_untouched
sed 's/holdTimeSeconds: 9/holdTimeSecs: 9/' "$DIR/underlay.good" > "$UL"
break_file unknown-field "did you mean \`holdTimeSeconds\`"
sed 's/asn: 64514/asn: [64514]/' "$DIR/underlay.good" > "$UL"
break_file type-error "openpe_underlay.yaml:2:10"
sed "s/holdTimeSeconds: 9/password: $(printf 'p%.0s' $(seq 100))\n        holdTimeSeconds: 9/" "$DIR/underlay.good" > "$UL"
break_file long-password "TCP-MD5 keys are at most 80 bytes"
check broken-file-then-fixed-applies sh -c "'$PEROUTER' show status --api-socket '$SOCK' | grep -q FAILED; [ \$? -ne 0 ]"

# The only VNI, added and removed (L2VNI: no VRF needed on this kernel).
vxlan110() { ip -n $PE -d link show type vxlan 2>/dev/null | grep -q 'id 110 '; }
echo 'l2vnis: [{name: only, vni: 110}]' > "$DIR/cfg/configs/openpe_vni.yaml"
check first-vni-added wait_until 15 vxlan110
sleep 1
check first-vni-session-untouched session_untouched
rm "$DIR/cfg/configs/openpe_vni.yaml"
check last-vni-removed wait_until 15 sh -c "! ip -n $PE -d link show type vxlan 2>/dev/null | grep -q 'id 110 '"
sleep 1
check last-vni-session-untouched session_untouched

check route-never-left-the-kernel test ! -s "$DIR/missing"
[ -s "$DIR/missing" ] && head "$DIR/missing"

# A host session added (the passthrough): the ToR session stays, and the fabric's routes never
# leave the kernel (the passthrough's /32 is originated in place, the RIB is not rebuilt).
: > "$DIR/missing"
printf 'bgppassthrough:\n  hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: 192.169.100.0/24}}\n' \
  > "$DIR/cfg/configs/openpe_passthrough.yaml"
pt_host() { ip -n $HOST link show pt-host >/dev/null 2>&1; }
check host-session-added wait_until 15 pt_host
sleep 2
check host-session-session-untouched session_untouched
kill "$WATCH"; WATCH=
[ -s "$DIR/missing" ] && say "the ToR's route left the kernel: $(head -1 "$DIR/missing")"
check host-session-route-kept test ! -s "$DIR/missing"
check host-session-no-rib-rebuild sh -c "! grep -q 'rebuilding the RIB' '$DIR/perouter.log'"
check host-session-network-in-place grep -q 'originated networks changed: updated in place' "$DIR/perouter.log"
say "ToR session after everything: connectionsEstablished=$(nbr connectionsEstablished) (was $EST0)"

# SIGTERM: exit 0, socket removed, what is kept is said.
stop_perouter; rc=$?
check sigterm-exits-0 test "$rc" -eq 0
check sigterm-removes-socket test ! -e "$SOCK"
check sigterm-logs-what-is-kept grep -q "are kept (forwarding continues)" "$DIR/perouter.log"

# 50 SIGTERMs at every stage of a start (0 to 1.96 s after exec: creating the namespace,
# dialling the ToR, exchanging routes, programming the kernel): never a panic, always exit 0.
# A SIGTERM that lands before the process has even logged (still exec'ing) kills it with the
# default action (status 143, which systemd also counts as a clean stop); once it has logged
# anything, it must exit 0.
stops_ok=1; stops=0; early=0
for i in $(seq 0 49); do
  before=$(stat -c %s "$DIR/perouter.log")
  start_perouter
  sleep "$(printf '%d.%02d' $((i * 4 / 100)) $((i * 4 % 100)))"
  stop_perouter; rc=$?
  if [ "$rc" -eq 143 ] && [ "$(stat -c %s "$DIR/perouter.log")" = "$before" ]; then
    early=$((early + 1))
  elif [ "$rc" -ne 0 ]; then
    say "stop $i: exit $rc"; stops_ok=0
  fi
  stops=$((stops + 1))
done
say "$stops SIGTERM shutdowns, 0 to 1.96 s after start ($early before the process had started)"
check repeated-sigterm-exit-0 test $stops_ok -eq 1 -a $stops -eq 50
check restart-detected-from-marker grep -q "restart: perouter ran router namespace $PE during this boot" "$DIR/perouter.log"
check no-panic sh -c "! grep -q panicked '$DIR/perouter.log'"

# A fresh start beside a leftover namespace (no marker from a perouter run): no 30 s End-of-RIB
# wait before advertising. The VTEP /32 reaching the ToR shows we advertised.
rm -f "$DIR/.perouter-ran-$PE"
vty "clear bgp *" >/dev/null
t0=$(date +%s.%N)
start_perouter
check fresh-start-detected wait_until 10 grep -q "fresh start: router namespace $PE exists but no perouter ran it" "$DIR/perouter.log"
# Only a fresh (not stale, RFC 4724) path counts: the ToR keeps our old one as stale meanwhile.
vtep_at_tor() { local j; j=$(vty "show ip bgp 100.65.0.0/32 json"); grep -q '"valid":true' <<<"$j" && ! grep -q '"stale":true' <<<"$j"; }
check fresh-start-advertises-within-10s wait_until 10 vtep_at_tor
say "fresh start beside a leftover namespace: VTEP route at the ToR after $(echo "$(date +%s.%N) - $t0" | bc) s"
stop_perouter >/dev/null

echo
printf '%s\n' "${RESULTS[@]}"
if [ $FAIL -ne 0 ]; then
  echo "--- perouter log (tail)"; tail -n 80 "$DIR/perouter.log"
fi
exit $FAIL
