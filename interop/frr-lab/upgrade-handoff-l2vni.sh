#!/usr/bin/env bash
# Upgrade of an L2VNI node without a session flap (issue 19), on this kernel (an L2VNI without a
# routing domain needs no VRF device). FRR 8.4 has no graceful restart for L2VPN EVPN: the moment
# the session closes, the leaf flushes our type-2/type-3 routes and the pod is cut off from the
# host behind the leaf. A perouter node with one L2VNI (VNI 110, a managed host bridge) and a pod
# on it; an FRR leaf (advertise-all-vni) with a VXLAN device and a bridge for VNI 110 and a host
# behind it. Pings every 10 ms pod -> host across VXLAN while perouter is replaced four ways:
#
#   (a) handoff to a second `perouter run` started from another copy of the binary (a copy at
#       another path stands for the rebuilt one): FRR's view shows one session throughout
#       (connectionsEstablished and connectionsDropped unchanged, no NOTIFICATION either way,
#       uptime growing), our type-2 and type-3 routes stay at the leaf, the L2VNI's kernel objects
#       are adopted as they are (same ifindexes, the leaf's MAC still in the VXLAN FDB); loss
#       reported (aim: 0).
#   (b) abandon: a successor that sent Hello and received the sessions is killed (-9) before it
#       says Taken (a small Python stand-in speaking the handoff protocol, so the moment is exact):
#       the running perouter thaws and keeps every session (FRR's counters unchanged), pings keep
#       flowing, it still answers `perouter show`, and a later handoff still works.
#   (c) ordinary restart (SIGTERM, start again), for comparison: loss and flaps reported.
#   (d) the running perouter SIGSTOPped in the middle of a handoff, then killed (-9): the new one
#       falls back to an ordinary start (graceful restart) and the lab recovers.
#
#   sudo interop/frr-lab/upgrade-handoff-l2vni.sh  (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary)
#
# Namespaces (prefix TAG): host (the node's host namespace: toswitch1, the managed bridge
# br-hs-110 with the pod's veth), pe (perouter's router namespace), leaf (FRR AS 64512, ToR and
# VTEP 100.64.0.1, br110 + vxlan110 + swp110), pod (192.170.1.10/24), hl (192.170.1.20/24, behind
# the leaf).
set -u
LAB=upgrade-l2
. "$(dirname "$0")/lib.sh"
lab_need_tools python3
lab_find_perouter
TAG=u2$$
DIR=$(mktemp -d /tmp/perouter-upgrade-l2.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; LEAF=${TAG}leaf; POD=${TAG}pod; HL=${TAG}hl
NSS="$HOST $PE $LEAF $POD $HL"
PIDS=()
POD_MAC=02:00:c0:aa:01:10
HL_MAC=02:00:c0:aa:01:20

cleanup() {
  local p
  if [ -z "${KEEP:-}" ]; then
    for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; done
  fi
  lab_cleanup
  if [ -z "${KEEP:-}" ]; then
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  fi
}
trap cleanup EXIT

# --- topology --------------------------------------------------------------------------------------
for n in $HOST $LEAF $POD $HL; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add toswitch1 netns $HOST type veth peer name tor-eth0 netns $LEAF
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $LEAF addr add 192.168.11.2/24 dev tor-eth0
ip -n $LEAF link set tor-eth0 up
ip -n $LEAF addr add 100.64.0.1/32 dev lo
ip netns exec $LEAF sysctl -qw net.ipv4.ip_forward=1
# The leaf's L2VNI: a bridge with the VXLAN device and the port towards the host behind it.
ip -n $LEAF link add br110 type bridge
ip -n $LEAF link add vxlan110 type vxlan id 110 dstport 4789 local 100.64.0.1 nolearning
ip -n $LEAF link set vxlan110 master br110 addrgenmode none
ip -n $LEAF link set vxlan110 type bridge_slave learning off
ip link add swp110 netns $LEAF type veth peer name eth0 netns $HL
ip -n $LEAF link set swp110 master br110
for l in br110 vxlan110 swp110; do ip -n $LEAF link set $l up; done
ip -n $HL link set eth0 address $HL_MAC
ip -n $HL addr add 192.170.1.20/24 dev eth0; ip -n $HL link set eth0 up
# The pod: a veth whose host end joins the managed host bridge once perouter made it.
ip link add p1 netns $HOST type veth peer name eth0 netns $POD
ip -n $POD link set eth0 address $POD_MAC
ip -n $POD addr add 192.170.1.10/24 dev eth0; ip -n $POD link set eth0 up

mkdir -p "$DIR/leaf"
# No graceful restart at all (FRR 8.4 has none for EVPN): a closed session flushes our routes.
cat > "$DIR/leaf/frr.conf" <<CONF
hostname leaf
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart-disable
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 neighbor 192.168.11.3 advertisement-interval 0
 address-family ipv4 unicast
  network 100.64.0.1/32
  neighbor 192.168.11.3 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 192.168.11.3 activate
  advertise-all-vni
 exit-address-family
CONF
lab_start_frr "${TAG}leaf" $LEAF "$DIR/leaf"

# --- the node (OpenPERouter static files) ----------------------------------------------------------
mkdir -p "$DIR/cfg/configs"
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
lab_underlay "$DIR/cfg" toswitch1 "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
cat > "$DIR/cfg/configs/openpe_l2vni.yaml" <<CONF
l2vnis:
  - {name: first, vni: 110, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}
CONF

SOCK=$DIR/api.sock
HANDOFF=$DIR/handoff.sock  # the default: beside the API socket
# The rebuilt binary: another file with the same content (the process image differs by path).
NEWBIN=$DIR/perouter-rebuilt
cp "$PEROUTER" "$NEWBIN"
start_perouter() { # BINARY: sets PR (its pid)
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$1" run --config-dir "$DIR/cfg" --router-netns $PE \
    --host-netns $HOST --api-socket "$SOCK" --config-poll 1 >>"$DIR/perouter.log" 2>&1 &
  PR=$!
  PIDS+=("$PR")
}

# --- views -----------------------------------------------------------------------------------------
vty() { lab_vty "$DIR/leaf" "$1"; }
# FRR's view of its session with us: "established dropped notif-sent notif-recv uptime-ms updates-recv"
snapshot() {
  vty "show bgp neighbors 192.168.11.3 json" | jq -r '.["192.168.11.3"] |
    "\(.connectionsEstablished) \(.connectionsDropped) \(.messageStats.notificationsSent) \(.messageStats.notificationsRecv) \(.bgpTimerUpMsec) \(.messageStats.updatesRecv)"'
}
same_session() { # BEFORE AFTER: established, dropped and NOTIFICATIONs unchanged, uptime grown
  local b=($1) a=($2)
  [ ${#a[@]} -eq 6 ] && [ "${a[0]}" = "${b[0]}" ] && [ "${a[1]}" = "${b[1]}" ] &&
    [ "${a[2]}" = "${b[2]}" ] && [ "${a[3]}" = "${b[3]}" ] && [ "${a[4]}" -gt "${b[4]}" ]
}
field() { echo "$1" | cut -d' ' -f"$2"; }
leaf_established() {
  vty "show bgp summary json" | \
    lab_json_true '[.ipv4Unicast.peers["192.168.11.3"].state, .l2VpnEvpn.peers["192.168.11.3"].state] | all(. == "Established")'
}
leaf_type3() { # the leaf holds a valid type-3 for VNI 110 (RT 64514:110) from VTEP 100.65.0.0
  vty "show bgp l2vpn evpn route type multicast json" | \
    lab_json_true '[.. | objects | select(has("paths")) | .paths[][]
      | select(.valid == true and (.extendedCommunity.string // "" | contains("RT:64514:110")))
      | .nexthops[]?.ip] | index("100.65.0.0") != null'
}
leaf_type2() { # the leaf's zebra has the pod's MAC (our type-2) as a remote MAC behind VTEP 100.65.0.0
  vty "show evpn mac vni 110 json" | \
    lab_json_true --arg m "$POD_MAC" '.macs[$m].type == "remote" and .macs[$m].remoteVtep == "100.65.0.0"'
}
leaf_routes() { leaf_type3 && leaf_type2; }
session_up() { pr_session_up "$SOCK" 192.168.11.2; }
attach() { # the pod's veth on the managed bridge
  ip -n $HOST link show br-hs-110 >/dev/null 2>&1 || return 1
  ip -n $HOST link set p1 master br-hs-110 && ip -n $HOST link set p1 up
}
ping_ok() { ip netns exec $POD ping -c 1 -W 1 192.170.1.20 >/dev/null 2>&1; }
# The L2VNI's kernel objects: "NAME=IFINDEX ..." (a device deleted and made again changes it).
datapath_ids() {
  local d
  for d in "$PE vni110" "$PE br-pe-110" "$PE pe-e-110" "$HOST host-e-110" "$HOST br-hs-110"; do
    set -- $d
    echo -n "$2=$(ip -n "$1" -j link show "$2" 2>/dev/null | jq -r '.[0].ifindex // "none"') "
  done
}
fdb_has_leaf_mac() { # the leaf host's MAC in vni110's FDB, towards VTEP 100.64.0.1
  bridge -n $PE -j fdb show dev vni110 2>/dev/null | \
    lab_json_true --arg m "$HL_MAC" 'map(select(.mac == $m and .dst == "100.64.0.1")) | length > 0'
}
show_answers() { "$PEROUTER" show status --api-socket "$SOCK" >/dev/null 2>&1 && \
  "$PEROUTER" show bgp summary --api-socket "$SOCK" -o json 2>/dev/null | lab_json_true '.peers | length > 0'; }
pings() { # COUNT: 10 ms apart, in the background; sets PING, output in $DIR/ping.txt
  ip netns exec $POD ping -i 0.01 -c "$1" -W 1 192.170.1.20 > "$DIR/ping.txt" 2>&1 &
  PING=$!
}
lost() { # "LOST/SENT" from the last ping run
  local tx rx
  tx=$(grep -o '[0-9]* packets transmitted' "$DIR/ping.txt" | grep -o '^[0-9]*')
  rx=$(grep -o '[0-9]* received' "$DIR/ping.txt" | grep -o '^[0-9]*')
  echo "$((tx - rx))/$tx"
}
lost_n() { echo "$1" | cut -d/ -f1; }
since() { echo "$(date +%s.%N) - $1" | bc | xargs printf '%.1f'; }  # seconds since T0

# A successor that dies between Hello and Taken: speaks the handoff protocol (4-byte big-endian
# length, JSON), takes the State and the sockets, says it is ready, then waits to be killed.
STATE_VERSION=$(sed -n 's/^pub const HANDOFF_VERSION: u32 = \([0-9]*\);/\1/p' "$LAB_ROOT/crates/bgp/src/session/handoff.rs")
PROTO_VERSION=$(sed -n 's/^pub const PROTOCOL_VERSION: u32 = \([0-9]*\);/\1/p' "$LAB_ROOT/crates/agent/src/runtime/handoff.rs")
cat > "$DIR/dying-successor.py" <<'PY'
import json, socket, struct, sys, time
path, netns, version, state_version, ready = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
body = json.dumps({"type": "hello", "version": int(version), "state_version": int(state_version),
                   "router_netns": netns}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
def exact(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit("closed")
        b += c
    return b
msg = json.loads(exact(struct.unpack(">I", exact(4))[0]))
if msg.get("type") != "state":
    sys.exit("no state: %r" % msg)
want = len(msg["sessions"]) + msg["listeners"]
fds = []
while len(fds) < want:
    _, got, _, _ = socket.recv_fds(s, 1, 200)
    fds += got
open(ready, "w").write("%d sessions, %d sockets\n" % (len(msg["sessions"]), len(fds)))
time.sleep(3600)
PY

# --- converge --------------------------------------------------------------------------------------
start_perouter "$PEROUTER"
A=$PR
check session-up wait_until 40 session_up
check leaf-established wait_until 40 leaf_established
check pod-attached wait_until 30 attach
check ping-before wait_until 30 ping_ok
check leaf-type3 wait_until 30 leaf_type3
check leaf-type2 wait_until 30 leaf_type2
check fdb-leaf-mac wait_until 20 fdb_has_leaf_mac
check handoff-socket-root-only test "$(stat -c %a "$HANDOFF" 2>/dev/null)" = 600
sleep 3  # some uptime to watch grow

# --- (a) handoff to the rebuilt binary -------------------------------------------------------------
ids0=$(datapath_ids)
pings 600
sleep 2
s0=$(snapshot)
say "before the handoff: FRR (established dropped notif-sent notif-recv uptime-ms updates-recv) [$s0]; devices $ids0"
t0=$(date +%s.%N)
start_perouter "$NEWBIN"
B=$PR
wait "$A"; a_rc=$?
t1=$(date +%s.%N)
check a-old-exits-0 test "$a_rc" -eq 0
wait "$PING"
loss_a=$(lost)
s1=$(snapshot)
ids1=$(datapath_ids)
say "after the handoff:  FRR [$s1]; devices $ids1"
check a-frr-one-session same_session "$s0" "$s1"
check a-leaf-type3-kept leaf_type3
check a-leaf-type2-kept leaf_type2
check a-devices-adopted test "$ids0" = "$ids1"
check a-fdb-kept fdb_has_leaf_mac
check a-new-binary-serves sh -c "[ \"\$(readlink /proc/$B/exe)\" = '$NEWBIN' ] && kill -0 $B"
check a-taken-logged grep -q "sessions taken over from the previous process" "$DIR/perouter.log"
check a-new-process-answers wait_until 10 show_answers
check a-zero-loss test "$(lost_n "$loss_a")" -eq 0
say "(a) handoff: $loss_a pings lost; old process gone $(echo "$t1 - $t0" | bc) s after the new one started; UPDATEs the leaf received across it: $(( $(field "$s1" 6) - $(field "$s0" 6) ))"

# --- (b) abandon: the successor dies after the State, before Taken ---------------------------------
sleep 2
s0=$(snapshot)
pings 500
sleep 1
READY=$DIR/dying-ready
python3 "$DIR/dying-successor.py" "$HANDOFF" "$PE" "$PROTO_VERSION" "$STATE_VERSION" "$READY" \
  > "$DIR/dying.log" 2>&1 &
DYING=$!
PIDS+=("$DYING")
check b-successor-got-sessions wait_until 10 test -s "$READY"
[ -s "$READY" ] && say "the dying successor holds $(cat "$READY")"
kill -9 "$DYING"; wait "$DYING" 2>/dev/null
check b-predecessor-thawed wait_until 10 grep -q "handoff abandoned: the sessions continue here" "$DIR/perouter.log"
check b-predecessor-alive kill -0 "$B"
check b-predecessor-answers wait_until 5 show_answers
check b-session-up session_up
wait "$PING"
loss_b=$(lost)
sleep 1
s1=$(snapshot)
say "abandon: FRR before [$s0] after [$s1]"
check b-frr-one-session same_session "$s0" "$s1"
check b-leaf-routes-kept leaf_routes
check b-zero-loss test "$(lost_n "$loss_b")" -eq 0
# After an abandon the node still hands over: the next upgrade is not stuck.
s0=$(snapshot)
start_perouter "$PEROUTER"
C=$PR
wait "$B"; b_rc=$?
check b-later-handoff-works test "$b_rc" -eq 0
sleep 1
check b-later-handoff-one-session same_session "$s0" "$(snapshot)"
say "(b) abandon: $loss_b pings lost while the successor took the sessions and died; the predecessor kept them"

# --- (c) ordinary restart, for comparison ----------------------------------------------------------
check c-ping-before wait_until 10 ping_ok
s0=$(snapshot)
pings 800
sleep 1
t0=$(date +%s.%N)
kill -TERM "$C"; wait "$C" 2>/dev/null
start_perouter "$NEWBIN"
D=$PR
check c-session-back wait_until 40 session_up
check c-leaf-type3-back wait_until 30 leaf_type3
# After an ordinary start our type-2 for the pod's MAC comes back late (tens of seconds: not the
# handoff's business, measured and reported).
check c-leaf-type2-back wait_until 45 leaf_type2
t2_c=$(since "$t0")
wait "$PING"
loss_c=$(lost)
s1=$(snapshot)
flaps_c=$(( $(field "$s1" 2) - $(field "$s0" 2) ))
check c-flap-seen test "$flaps_c" -ge 1
say "(c) restart: $loss_c pings lost; the leaf dropped the session $flaps_c time(s); the pod's type-2 back at the leaf $t2_c s after SIGTERM"

# --- (d) the running perouter stopped mid-handoff, then killed: the new one falls back ------------
check d-ping-before wait_until 30 ping_ok
check d-leaf-routes-before wait_until 30 leaf_routes
s0=$(snapshot)
pings 1000
sleep 1
t0=$(date +%s.%N)
kill -STOP "$D"
start_perouter "$PEROUTER"
E=$PR
sleep 2
kill -9 "$D"; wait "$D" 2>/dev/null
check d-fallback-logged wait_until 20 grep -q "session handoff not possible" "$DIR/perouter.log"
check d-session-back wait_until 40 session_up
check d-leaf-type3-back wait_until 30 leaf_type3
check d-leaf-type2-back wait_until 45 leaf_type2
t2_d=$(since "$t0")
check d-ping-recovers wait_until 30 ping_ok
check d-devices-kept test "$(datapath_ids)" = "$ids0"
wait "$PING"
loss_d=$(lost)
s1=$(snapshot)
flaps_d=$(( $(field "$s1" 2) - $(field "$s0" 2) ))
say "(d) kill -9 mid-handoff: $loss_d pings lost; the leaf dropped the session $flaps_d time(s); recovered; the pod's type-2 back $t2_d s after SIGSTOP"

echo
say "FIGURES (pings every 10 ms pod -> host behind the FRR 8.4 leaf across VXLAN 110; no EVPN GR):"
say "  (a) handoff to a rebuilt binary:   $loss_a lost; session flaps 0 (connectionsEstablished/Dropped unchanged)"
say "  (b) successor killed before Taken: $loss_b lost; session flaps 0; predecessor kept the sessions"
say "  (c) ordinary restart:              $loss_c lost; session dropped $flaps_c time(s); pod's type-2 back after $t2_c s"
say "  (d) kill -9 mid-handoff:           $loss_d lost; session dropped $flaps_d time(s); recovered; pod's type-2 back after $t2_d s"
echo "UPGRADE-L2VNI-JSON {\"handoff\":\"$loss_a\",\"abandon\":\"$loss_b\",\"restart\":\"$loss_c\",\"restart_flaps\":$flaps_c,\"kill9_mid_handoff\":\"$loss_d\"}"
echo
lab_results 32
if [ $FAIL -ne 0 ]; then
  lab_log_tail "$DIR/perouter.log" 80
fi
exit $FAIL
