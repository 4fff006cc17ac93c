#!/usr/bin/env bash
# Upgrade of an L3VNI node without a session flap (issue 19), against an FRR 8.4 leaf that has no
# graceful restart for EVPN (it flushes our type-5 routes the moment the session closes). Needs a
# kernel with VRF (CONFIG_NET_VRF): run it in the virtme-ng guest,
#
#   flock /tmp/perouter-lab.lock interop/frr-lab/guest-labs.sh upgrade-l3vni.sh
#
# The topology of e2e-l3vni.sh: the FRR leaf (AS 64520, `vrf red vni 100`) with hostA_red
# 192.168.20.2 behind it; the perouter node (L3VNI red, VNI 100) with an FRR host speaker (AS
# 64515) advertising the service IP 10.250.0.1/32. hostA_red pings the service IP every 10 ms
# (across VXLAN) while
#
#   (a) the node is upgraded: `perouter upgrade --binary COPY` (a copy of the binary stands for the
#       rebuilt one). Asserted: exit 0, the new process serves, the old one is gone, FRR's
#       connectionsEstablished / connectionsDropped / NOTIFICATIONs unchanged at the leaf and at the
#       host speaker, and our type-5 route for the service IP never left the leaf's VRF red (sampled
#       every 50 ms throughout);
#   (b) the node is restarted the ordinary way (SIGTERM, start), for comparison: the leaf drops the
#       session and flushes the route until the node is back.
#
# Reported: the pings lost in both, from the same run.
set -u
LAB=upgrade-l3vni
. "$(dirname "$0")/lib.sh"
TAG=u3$$
DIR=$(mktemp -d /tmp/perouter-upgrade-l3vni.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; LEAF=${TAG}leaf; HA=${TAG}ha
NSS="$HOST $PE $LEAF $HA"
LEAF_RMAC=aa:bb:cc:00:00:65
PIDS=()
trap lab_cleanup EXIT

if ! lab_has_vrf; then
  echo "upgrade-l3vni: this kernel has no VRF support (CONFIG_NET_VRF); run it with interop/frr-lab/guest-labs.sh upgrade-l3vni.sh" >&2
  exit 2
fi
lab_need_tools python3
lab_find_perouter

for n in $HOST $LEAF $HA; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add toswitch1 netns $HOST type veth peer name leaf-eth0 netns $LEAF
ip -n $HOST addr add 192.168.11.3/24 dev toswitch1
ip -n $HOST link set toswitch1 up
ip -n $LEAF addr add 192.168.11.2/24 dev leaf-eth0
ip -n $LEAF link set leaf-eth0 up
ip -n $LEAF addr add 100.64.0.1/32 dev lo
ip -n $LEAF link add red type vrf table 1100
ip -n $LEAF link set red up
ip -n $LEAF link add br100 type bridge
ip -n $LEAF link set br100 master red address $LEAF_RMAC addrgenmode none
ip -n $LEAF link add vxlan100 type vxlan id 100 dstport 4789 local 100.64.0.1 nolearning
ip -n $LEAF link set vxlan100 master br100 addrgenmode none
ip -n $LEAF link set vxlan100 type bridge_slave neigh_suppress on learning off
ip -n $LEAF link set br100 up
ip -n $LEAF link set vxlan100 up
ip link add leaf-red netns $LEAF type veth peer name eth0 netns $HA
ip -n $LEAF link set leaf-red master red
ip -n $LEAF addr add 192.168.20.1/24 dev leaf-red
ip -n $LEAF link set leaf-red up
ip -n $HA addr add 192.168.20.2/24 dev eth0
ip -n $HA link set eth0 up
ip -n $HA route add default via 192.168.20.1
ip netns exec $LEAF sysctl -qw net.ipv4.ip_forward=1
ip -n $HOST addr add 10.250.0.1/32 dev lo

vty() { lab_vty "$DIR/$1" "$2"; }
mkdir -p "$DIR/leaf" "$DIR/hostfrr"
cat > "$DIR/leaf/frr.conf" <<CONF
hostname leaf
vrf red
 vni 100
exit-vrf
router bgp 64520
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 address-family ipv4 unicast
  network 100.64.0.1/32
  neighbor 192.168.11.3 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 192.168.11.3 activate
  advertise-all-vni
 exit-address-family
router bgp 64520 vrf red
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
 address-family l2vpn evpn
  advertise ipv4 unicast
 exit-address-family
CONF
cat > "$DIR/hostfrr/frr.conf" <<CONF
hostname hostspeaker
router bgp 64515
 bgp router-id 10.250.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 192.169.10.1 remote-as 64514
 neighbor 192.169.10.1 timers 3 9
 address-family ipv4 unicast
  network 10.250.0.1/32
  neighbor 192.169.10.1 activate
 exit-address-family
CONF
lab_start_frr ${TAG}leaf $LEAF "$DIR/leaf"

mkdir -p "$DIR/cfg/configs"
lab_underlay "$DIR/cfg" toswitch1 "{asn: 64520, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
cat > "$DIR/cfg/configs/openpe_red.yaml" <<CONF
l3vnis:
  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24}}}
CONF
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"

SOCK=$DIR/api.sock
start_perouter() {
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
    --api-socket "$SOCK" --config-poll 1 >>"$DIR/perouter.log" 2>&1 &
  PIDS+=($!)
}
pid_serving() { "$PEROUTER" show status --api-socket "$SOCK" -o json 2>/dev/null | jq -r '.process.pid // empty'; }
gone() { ! [ -e "/proc/$1" ] || grep -qE '^[0-9]+ \(.*\) [ZX]' "/proc/$1/stat" 2>/dev/null; }
both_up() { pr_session_up "$SOCK" 192.168.11.2 && pr_session_up "$SOCK" 192.169.10.2; }
leaf_has_service() { ip -n $LEAF route show table 1100 10.250.0.1 | grep -q 'via 100.65.0.0 dev br100'; }
ping_ok() { ip netns exec $HA ping -c 1 -W 1 10.250.0.1 >/dev/null 2>&1; }
snapshot() { # INSTANCE PEER: "established dropped notif-sent notif-recv"
  vty "$1" "show bgp neighbors $2 json" | jq -r --arg p "$2" \
    '.[$p] | "\(.connectionsEstablished) \(.connectionsDropped) \(.messageStats.notificationsSent) \(.messageStats.notificationsRecv)"'
}
pings_start() { ip netns exec $HA ping -i 0.01 -W 1 10.250.0.1 > "$DIR/ping.txt" 2>&1 & PING=$!; }
pings_stop() { # prints "LOST/SENT"
  kill -INT "$PING"; wait "$PING"
  local tx rx
  tx=$(grep -o '[0-9]* packets transmitted' "$DIR/ping.txt" | grep -o '^[0-9]*')
  rx=$(grep -o '[0-9]* received' "$DIR/ping.txt" | grep -o '^[0-9]*')
  echo "$((tx - rx))/$tx"
}
# Samples the leaf's VRF red every 50 ms (plus the time one `ip route` takes): a line per sample,
# "ok" or "missing" (our service route absent).
watch_leaf() { while :; do if leaf_has_service; then echo ok; else echo "missing $(date +%T.%N)"; fi; sleep 0.05; done > "$DIR/leaf-watch.txt" & WATCH=$!; }
samples() { echo "$(grep -c missing "$DIR/leaf-watch.txt")/$(wc -l < "$DIR/leaf-watch.txt")"; }

start_perouter
wait_until 60 ip -n $HOST link show host-e-100 >/dev/null 2>&1
lab_start_frr ${TAG}hostfrr $HOST "$DIR/hostfrr"
check sessions-up wait_until 120 both_up
check service-type5-at-leaf wait_until 90 leaf_has_service
check ping-before wait_until 60 ping_ok
sleep 3
A=$(pid_serving)

# (a) The upgrade.
cp "$PEROUTER" "$DIR/perouter.new"
leaf0=$(snapshot leaf 192.168.11.3); host0=$(snapshot hostfrr 192.169.10.1)
watch_leaf
pings_start
sleep 2
t0=$(date +%s.%N)
"$PEROUTER" upgrade --api-socket "$SOCK" --binary "$DIR/perouter.new" --timeout 120 > "$DIR/upgrade.txt" 2>&1
rc=$?
t1=$(date +%s.%N)
sleep 3
loss_a=$(pings_stop)
kill "$WATCH"; wait "$WATCH" 2>/dev/null
cat "$DIR/upgrade.txt"
B=$(pid_serving); [ -n "$B" ] && PIDS+=("$B")
leaf1=$(snapshot leaf 192.168.11.3); host1=$(snapshot hostfrr 192.169.10.1)
say "FRR (established dropped notif-sent notif-recv): leaf [$leaf0] -> [$leaf1], host speaker [$host0] -> [$host1]"
check upgrade-exit-0 test "$rc" -eq 0
check upgrade-handed-over grep -q "handed over: 2 BGP session(s)" "$DIR/upgrade.txt"
check upgrade-new-process-serves test -n "$B" -a "$B" != "$A"
check upgrade-old-process-gone gone "$A"
check upgrade-leaf-one-session test -n "$leaf0" -a "$leaf0" = "$leaf1"
check upgrade-host-one-session test -n "$host0" -a "$host0" = "$host1"
samples_a=$(samples)
check upgrade-type5-sampled grep -q ok "$DIR/leaf-watch.txt"
check upgrade-type5-never-left-leaf sh -c "! grep -q missing '$DIR/leaf-watch.txt'"
check upgrade-type5-at-leaf leaf_has_service
check upgrade-ping-after wait_until 10 ping_ok
say "upgrade: exit $rc after $(echo "$t1 - $t0" | bc) s; $loss_a pings lost (10 ms apart); our type-5 missing at the leaf in $samples_a samples"

# (b) An ordinary restart, for comparison.
sleep 2
watch_leaf
pings_start
sleep 2
log_mark=$(wc -l < "$DIR/perouter.log")
t0=$(date +%s.%N)
kill -TERM "$B"
wait_until 30 gone "$B"
start_perouter
check restart-sessions-back wait_until 120 both_up
converged_again() { tail -n "+$((log_mark + 1))" "$DIR/perouter.log" | grep -q 'RIB converged'; }
wait_until 60 converged_again
check restart-type5-back-at-leaf wait_until 60 leaf_has_service
t1=$(date +%s.%N)
check restart-ping-back wait_until 30 ping_ok
sleep 2
loss_b=$(pings_stop)
kill "$WATCH"; wait "$WATCH" 2>/dev/null
leaf2=$(snapshot leaf 192.168.11.3)
flaps=$(( $(echo "$leaf2" | cut -d' ' -f2) - $(echo "$leaf1" | cut -d' ' -f2) ))
samples_b=$(samples)
check restart-leaf-saw-a-flap test "$flaps" -ge 1
say "restart: $loss_b pings lost; the leaf dropped the session $flaps time(s), our type-5 missing at the leaf in $samples_b samples; back $(echo "$t1 - $t0" | bc) s after SIGTERM"

echo
say "FIGURES (hostA_red -> service IP every 10 ms across VXLAN; FRR 8.4 leaf without EVPN GR; same run):"
say "  perouter upgrade (handoff): $loss_a lost; leaf [$leaf0] -> [$leaf1] (established dropped notif-sent notif-recv); type-5 missing in $samples_a samples"
say "  ordinary restart:           $loss_b lost; leaf dropped the session $flaps time(s); type-5 missing in $samples_b samples"
lab_results 34
if [ $FAIL -ne 0 ]; then
  vty leaf "show bgp summary"; ip -n $LEAF route show table 1100
  lab_log_tail "$DIR/perouter.log" 80
fi
exit $FAIL
