#!/usr/bin/env bash
# Upgrade without a session flap (issue 19), on this kernel (no VRF needed): a perouter node with
# a passthrough host session and an underlay session to an FRR 8.4 ToR that is NOT a graceful-
# restart helper (like FRR before 10.5 for EVPN: it flushes our routes the moment TCP closes).
# Pings every 10 ms from the host's service address to the ToR's network cross the router
# namespace while perouter is replaced three ways:
#
#   (a) handoff: a second `perouter run` (the same binary stands for the rebuilt one) takes the
#       live sessions over from the running one. FRR's view must show one session throughout:
#       connectionsEstablished and connectionsDropped unchanged, no NOTIFICATION either way,
#       uptime still growing; the loss is reported (aim: 0).
#   (b) ordinary restart (SIGTERM, start again), for comparison: loss and flaps reported.
#   (c) the running perouter SIGSTOPped in the middle of a handoff, then killed (-9): the new one
#       falls back to an ordinary start (graceful restart) and the lab recovers.
#   (d) BFD configured (not carried by a handoff yet): the running perouter refuses, stops the
#       ordinary way, and the new one starts as a restart.
#
#   sudo interop/frr-lab/upgrade-handoff.sh   (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary)
#
# Namespaces: TAG-host (FRR host speaker AS 64517, 10.200.0.1/32), TAG-pe (perouter's router
# namespace), TAG-tor (FRR ToR AS 64512, 10.100.0.0/24).
set -u
LAB=upgrade
. "$(dirname "$0")/lib.sh"
lab_need_tools
lab_find_perouter
TAG=up$$
DIR=$(mktemp -d /tmp/perouter-upgrade.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor
PIDS=()

cleanup() {
  local rc=$?
  [ $rc -ne 0 ] && [ "$FAIL" -eq 0 ] && lab_log_tail "$DIR/perouter.log" 60
  if [ -n "${KEEP:-}" ]; then
    echo "KEEP=1: lab left up: namespaces $HOST $PE $TOR, logs in $DIR"
    return
  fi
  local p
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  lab_kill_pidfiles "$DIR"
  sleep 0.5
  for n in $HOST $PE $TOR; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$DIR"
}
trap cleanup EXIT

for n in $HOST $TOR; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add toswitch1 netns $HOST type veth peer name tor-eth0 netns $TOR
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $TOR addr add 192.168.11.2/24 dev tor-eth0
ip -n $TOR link set tor-eth0 up
ip -n $TOR addr add 10.100.0.1/24 dev lo
ip -n $HOST addr add 10.200.0.1/32 dev lo
ip netns exec $TOR sysctl -qw net.ipv4.ip_forward=1

start_frr() { lab_start_frr "$TAG$1" "$2" "$DIR/$1"; } # NAME NS
vty() { lab_vty "$DIR/$1" "$2"; }
lab_nogr_passthrough_frr "$DIR"
start_frr tor $TOR

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
HANDOFF=$DIR/handoff.sock  # the default: beside the API socket
start_perouter() { # [EXTRA-ARG...]: sets PR (its pid)
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE \
    --host-netns $HOST --api-socket "$SOCK" --config-poll 1 "$@" \
    >>"$DIR/perouter.log" 2>&1 &
  PR=$!
  PIDS+=("$PR")
}
session_up() { pr_session_up "$SOCK" "$1"; }
ping_ok() { ip netns exec $HOST ping -c 1 -W 1 -I 10.200.0.1 10.100.0.1 >/dev/null 2>&1; }
# FRR's view of its session with us (the ToR's and the host speaker's).
frr_field() { # INSTANCE PEER JQ
  vty "$1" "show bgp neighbors $2 json" | jq -r --arg p "$2" ".[\$p] | $3"
}
tor_view() { frr_field tor 192.168.11.3 "$1"; }
host_view() { frr_field hostfrr 192.169.100.1 "$1"; }
snapshot() { # INSTANCE PEER: "established dropped notif-sent notif-recv uptime-ms"
  frr_field "$1" "$2" '"\(.connectionsEstablished) \(.connectionsDropped) \(.messageStats.notificationsSent) \(.messageStats.notificationsRecv) \(.bgpTimerUpMsec)"'
}
pings() { # COUNT: 10 ms apart, in the background; sets PING, output in $DIR/ping.txt
  ip netns exec $HOST ping -i 0.01 -c "$1" -W 1 -I 10.200.0.1 10.100.0.1 > "$DIR/ping.txt" 2>&1 &
  PING=$!
}
lost() { # "LOST/SENT" from the last ping run
  local tx rx
  tx=$(grep -o '[0-9]* packets transmitted' "$DIR/ping.txt" | grep -o '^[0-9]*')
  rx=$(grep -o '[0-9]* received' "$DIR/ping.txt" | grep -o '^[0-9]*')
  echo "$((tx - rx))/$tx"
}

start_perouter
A=$PR
wait_until 30 ip -n $HOST link show pt-host >/dev/null 2>&1
start_frr hostfrr $HOST
check tor-session wait_until 40 session_up 192.168.11.2
check host-session wait_until 40 session_up 192.169.100.2
check ping-before wait_until 30 ping_ok
check handoff-socket-root-only test "$(stat -c %a "$HANDOFF" 2>/dev/null)" = 600
sleep 4  # some uptime to watch grow

# (a) Handoff to a second process.
tor0=$(snapshot tor 192.168.11.3); host0=$(snapshot hostfrr 192.169.100.1)
say "before the handoff, FRR (established dropped notif-sent notif-recv uptime-ms): ToR [$tor0] host [$host0]"
pings 800
sleep 2
t0=$(date +%s.%N)
start_perouter
B=$PR
wait "$A"; a_rc=$?
t1=$(date +%s.%N)
check handoff-old-exits-0 test "$a_rc" -eq 0
wait "$PING"
loss_a=$(lost)
sleep 1
tor1=$(snapshot tor 192.168.11.3); host1=$(snapshot hostfrr 192.169.100.1)
say "after the handoff,  FRR (established dropped notif-sent notif-recv uptime-ms): ToR [$tor1] host [$host1]"
same_session() { # BEFORE AFTER: established, dropped and NOTIFICATIONs unchanged, uptime grown
  local b=($1) a=($2)
  [ "${a[0]}" = "${b[0]}" ] && [ "${a[1]}" = "${b[1]}" ] && [ "${a[2]}" = "${b[2]}" ] && \
    [ "${a[3]}" = "${b[3]}" ] && [ "${a[4]}" -gt "${b[4]}" ]
}
check handoff-tor-one-session same_session "$tor0" "$tor1"
check handoff-host-one-session same_session "$host0" "$host1"
handoffs_of() { "$PEROUTER" show bgp neighbor "$1" --api-socket "$SOCK" -o json 2>/dev/null | jq -r '.handoffs'; }
check handoff-counted wait_until 10 sh -c "[ \"\$('$PEROUTER' show bgp neighbor 192.168.11.2 --api-socket '$SOCK' -o json | jq -r .handoffs)\" = 1 ]"
check handoff-new-process-serves session_up 192.168.11.2
check handoff-logged grep -q "sessions taken over from the previous process" "$DIR/perouter.log"
check handoff-ping-after wait_until 10 ping_ok
"$PEROUTER" show bgp neighbor 192.168.11.2 --api-socket "$SOCK" > "$DIR/show-neighbor.txt" 2>&1
say "handoff: $loss_a pings lost (every 10 ms); old process gone $(echo "$t1 - $t0" | bc) s after the new one started"
say "perouter's log of the handoff:"
grep -hE "handoff requested|session state sent|sessions handed over|state received|sessions taken over" "$DIR/perouter.log" | sed 's/\x1b\[[0-9;]*m//g'
say "perouter show bgp neighbor 192.168.11.2 after the handoff:"; cat "$DIR/show-neighbor.txt"

# (b) Ordinary restart, for comparison.
pings 800
sleep 2
kill -TERM "$B"; wait "$B" 2>/dev/null
start_perouter
C=$PR
check restart-sessions-back wait_until 40 session_up 192.168.11.2
wait "$PING"
loss_b=$(lost)
tor2=$(snapshot tor 192.168.11.3)
flaps_b=$(( $(echo "$tor2" | cut -d' ' -f2) - $(echo "$tor1" | cut -d' ' -f2) ))
say "restart: $loss_b pings lost; the ToR dropped the session $flaps_b time(s)"
check restart-flaps-seen test "$flaps_b" -ge 1

# (c) The running perouter stopped mid-handoff, then killed: the new one falls back.
check c-ping-before wait_until 30 ping_ok
sleep 3
pings 1500
sleep 1
kill -STOP "$C"
start_perouter
D=$PR
sleep 2
kill -9 "$C"; wait "$C" 2>/dev/null
check fallback-logged wait_until 20 grep -q "session handoff not possible" "$DIR/perouter.log"
check fallback-sessions-back wait_until 40 session_up 192.168.11.2
check fallback-host-session wait_until 40 session_up 192.169.100.2
check fallback-ping-recovers wait_until 30 ping_ok
wait "$PING"
loss_c=$(lost)
say "kill -9 mid-handoff: $loss_c pings lost; the new process fell back to an ordinary start"

# (d) A feature the handoff cannot carry (BFD) configured: the running perouter refuses, stops the
# ordinary way, and the new one starts as a restart.
sed -i 's|keepaliveTimeSeconds: 3}|keepaliveTimeSeconds: 3, bfd: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}}|' \
  "$DIR/cfg/configs/openpe_underlay.yaml"
bfd_applied() { "$PEROUTER" show status --api-socket "$SOCK" 2>/dev/null | grep -q 'configuration generation 2'; }
check d-bfd-config-applied wait_until 20 bfd_applied
start_perouter
E=$PR
wait "$D"; d_rc=$?
check refused-logged grep -q "handoff refused: stopping the ordinary way" "$DIR/perouter.log"
check refused-old-stops test "$d_rc" -eq 0
check refused-new-starts-as-restart grep -q "session handoff not possible" "$DIR/perouter.log"
check refused-sessions-back wait_until 40 session_up 192.168.11.2
check refused-ping-recovers wait_until 30 ping_ok

echo
say "FIGURES (pings every 10 ms host -> ToR through the router namespace; FRR 8.4 ToR without GR):"
say "  handoff:              $loss_a lost; FRR ToR connectionsEstablished $(echo "$tor0" | cut -d' ' -f1) -> $(echo "$tor1" | cut -d' ' -f1), dropped $(echo "$tor0" | cut -d' ' -f2) -> $(echo "$tor1" | cut -d' ' -f2)"
say "  ordinary restart:     $loss_b lost; ToR session dropped $flaps_b time(s)"
say "  kill -9 mid-handoff:  $loss_c lost; recovered"
echo
lab_results 30
if [ $FAIL -ne 0 ]; then
  lab_log_tail "$DIR/perouter.log" 80
fi
exit $FAIL
