#!/usr/bin/env bash
# `perouter upgrade` (issue 19), on this kernel (no VRF needed): a perouter node with a passthrough
# host session and an underlay session to an FRR 8.4 ToR without graceful restart, started with
# NOTIFY_SOCKET pointing at a small systemd stand-in (a Python datagram listener that records each
# notification with its sender's pid, SO_PASSCRED, as systemd reads them). Then:
#
#   (a) `perouter upgrade --binary COPY` while pings run every 10 ms: exit 0, "handed over"; the new
#       process (running COPY) serves `perouter show`, the old pid is gone, the ToR's
#       connectionsEstablished/Dropped unchanged, the new process logs to the old one's log file,
#       holds none of the upgrade command's descriptors, and told the notify socket MAINPID=<itself>
#       and READY=1 (sent by itself).
#   (b) `--binary` that does not exist: exit 2, a message naming it, the running node untouched.
#   (c) the wrong --api-socket: exit 2, "no perouter offers a session handoff".
#   (d) BFD configured (the handoff refuses): exit 1, the reason (BFD) printed, the new process
#       serves the node after an ordinary restart.
#
#   sudo interop/frr-lab/upgrade-command.sh   (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary)
#
# Namespaces: TAG-host (FRR host speaker AS 64517, 10.200.0.1/32), TAG-pe (router namespace),
# TAG-tor (FRR ToR AS 64512, 10.100.0.0/24).
set -u
LAB=upgrade-command
. "$(dirname "$0")/lib.sh"
lab_need_tools python3
lab_find_perouter
TAG=uc$$
DIR=$(mktemp -d /tmp/perouter-upgrade-command.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor
NSS="$HOST $PE $TOR"
PIDS=()
trap lab_cleanup EXIT

for n in $HOST $TOR; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add toswitch1 netns $HOST type veth peer name tor-eth0 netns $TOR
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $TOR addr add 192.168.11.2/24 dev tor-eth0
ip -n $TOR link set tor-eth0 up
ip -n $TOR addr add 10.100.0.1/24 dev lo
ip -n $HOST addr add 10.200.0.1/32 dev lo
ip netns exec $TOR sysctl -qw net.ipv4.ip_forward=1

lab_nogr_passthrough_frr "$DIR"
lab_start_frr ${TAG}tor $TOR "$DIR/tor"

mkdir -p "$DIR/cfg/configs"
lab_underlay "$DIR/cfg" toswitch1 "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
cat > "$DIR/cfg/configs/openpe_passthrough.yaml" <<CONF
bgppassthrough:
  hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: 192.169.100.0/24}}
CONF
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

# systemd's stand-in: records "SENDER-PID<TAB>MESSAGE" per datagram (SO_PASSCRED, as systemd).
NOTIFY=$DIR/notify.sock
python3 - "$NOTIFY" "$DIR/notify.txt" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack("iII", d)[0] for l, t, d in anc
                if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS), -1)
    out.write("%d\t%s\n" % (pid, msg.decode().replace("\n", " ")))
PY
PIDS+=($!)
wait_until 10 test -S "$NOTIFY"

SOCK=$DIR/api.sock
# The node as systemd would run it: NOTIFY_SOCKET in its environment.
RUST_LOG=info NOTIFY_SOCKET=$NOTIFY lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE \
  --host-netns $HOST --api-socket "$SOCK" --config-poll 1 >>"$DIR/perouter.log" 2>&1 &
A=$!
PIDS+=("$A")
wait_until 30 ip -n $HOST link show pt-host >/dev/null 2>&1
lab_start_frr ${TAG}hostfrr $HOST "$DIR/hostfrr"
check tor-session wait_until 40 pr_session_up "$SOCK" 192.168.11.2
check host-session wait_until 40 pr_session_up "$SOCK" 192.169.100.2
ping_ok() { ip netns exec $HOST ping -c 1 -W 1 -I 10.200.0.1 10.100.0.1 >/dev/null 2>&1; }
check ping-before wait_until 30 ping_ok
check first-start-ready wait_until 10 grep -q "^$A	MAINPID=$A READY=1" "$DIR/notify.txt"
sleep 3

# Gone: no such process, or a zombie (an orphan's reaper may be slow, or absent in containers).
gone() { ! [ -e "/proc/$1" ] || grep -qE '^[0-9]+ \(.*\) [ZX]' "/proc/$1/stat" 2>/dev/null; }
pid_serving() { "$PEROUTER" show status --api-socket "$SOCK" -o json 2>/dev/null | jq -r '.process.pid // empty'; }
tor_snap() { # "established dropped"
  lab_vty "$DIR/tor" "show bgp neighbors 192.168.11.3 json" | \
    jq -r '.["192.168.11.3"] | "\(.connectionsEstablished) \(.connectionsDropped)"'
}
lost() { # "LOST/SENT" of $DIR/ping.txt
  local tx rx
  tx=$(grep -o '[0-9]* packets transmitted' "$DIR/ping.txt" | grep -o '^[0-9]*')
  rx=$(grep -o '[0-9]* received' "$DIR/ping.txt" | grep -o '^[0-9]*')
  echo "$((tx - rx))/$tx"
}

# (a) Upgrade to a copy of the binary (it stands for the rebuilt one).
cp "$PEROUTER" "$DIR/perouter.new"
tor0=$(tor_snap)
ip netns exec $HOST ping -i 0.01 -c 600 -W 1 -I 10.200.0.1 10.100.0.1 > "$DIR/ping.txt" 2>&1 &
PING=$!
sleep 1
t0=$(date +%s.%N)
"$PEROUTER" upgrade --api-socket "$SOCK" --binary "$DIR/perouter.new" > "$DIR/upgrade-a.txt" 2>&1
rc_a=$?
t1=$(date +%s.%N)
cat "$DIR/upgrade-a.txt"
check a-exit-0 test "$rc_a" -eq 0
check a-says-handed-over grep -q "handed over: 2 BGP session(s)" "$DIR/upgrade-a.txt"
B=$(pid_serving); PIDS+=("$B")
check a-new-process-serves test -n "$B" -a "$B" != "$A"
check a-runs-the-new-binary test "$(readlink /proc/$B/exe)" = "$DIR/perouter.new"
check a-old-pid-gone gone "$A"
check a-tor-session-up pr_session_up "$SOCK" 192.168.11.2
check a-host-session-up pr_session_up "$SOCK" 192.169.100.2
wait "$PING"
loss_a=$(lost)
tor1=$(tor_snap)
say "ToR (connectionsEstablished connectionsDropped): before [$tor0] after [$tor1]"
check a-tor-one-session test "$tor0" = "$tor1"
check a-logs-to-the-same-file grep -q "sessions taken over from the previous process" "$DIR/perouter.log"
check a-no-inherited-descriptors sh -c "! ls -l /proc/$B/fd | grep -q upgrade-a.txt"
check a-notify-mainpid-from-successor grep -q "^$B	MAINPID=$B\$" "$DIR/notify.txt"
check a-notify-ready-from-successor grep -q "^$B	MAINPID=$B READY=1" "$DIR/notify.txt"
check a-setsid test "$(ps -o sid= -p "$B" | tr -d ' ')" = "$B"
check a-ping-after wait_until 10 ping_ok
say "notifications received (sender pid, message):"; sed 's/^/  /' "$DIR/notify.txt"
say "(a) upgrade: exit $rc_a in $(echo "$t1 - $t0" | bc) s, $loss_a pings lost (every 10 ms)"

# (b) A --binary that does not exist: clear error, the node untouched.
"$PEROUTER" upgrade --api-socket "$SOCK" --binary "$DIR/no-such-perouter" > "$DIR/upgrade-b.txt" 2>&1
rc_b=$?
cat "$DIR/upgrade-b.txt"
check b-exit-2 test "$rc_b" -eq 2
check b-names-the-path grep -q "no-such-perouter.*nothing was changed" "$DIR/upgrade-b.txt"
check b-node-untouched test "$(pid_serving)" = "$B"
check b-tor-one-session test "$(tor_snap)" = "$tor1"

# (c) Nothing runs behind another API socket.
"$PEROUTER" upgrade --api-socket "$DIR/elsewhere/api.sock" > "$DIR/upgrade-c.txt" 2>&1
rc_c=$?
cat "$DIR/upgrade-c.txt"
check c-exit-2 test "$rc_c" -eq 2
check c-says-no-perouter grep -q "no perouter offers a session handoff" "$DIR/upgrade-c.txt"

# (d) BFD configured: the handoff is refused, the new process starts as a restart.
lab_underlay "$DIR/cfg" toswitch1 "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3, bfd: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}}"
bfd_applied() { "$PEROUTER" show status --api-socket "$SOCK" -o json 2>/dev/null | jq -e '.generation >= 2' >/dev/null; }
check d-bfd-config-applied wait_until 20 bfd_applied
"$PEROUTER" upgrade --api-socket "$SOCK" --binary "$DIR/perouter.new" > "$DIR/upgrade-d.txt" 2>&1
rc_d=$?
cat "$DIR/upgrade-d.txt"
check d-exit-1 test "$rc_d" -eq 1
check d-says-why grep -q "NO handoff: handoff refused: .*BFD" "$DIR/upgrade-d.txt"
C=$(pid_serving); PIDS+=("$C")
check d-new-process-serves test -n "$C" -a "$C" != "$B"
check d-old-pid-gone gone "$B"
check d-sessions-back wait_until 40 pr_session_up "$SOCK" 192.168.11.2
check d-notify-mainpid-from-successor grep -q "^$C	MAINPID=$C READY=1" "$DIR/notify.txt"

echo
say "FIGURES: perouter upgrade (handoff): $loss_a pings lost every 10 ms; ToR [$tor0] -> [$tor1]"
lab_results 34
[ $FAIL -ne 0 ] && lab_log_tail "$DIR/perouter.log" 80
exit $FAIL
