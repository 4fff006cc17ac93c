#!/usr/bin/env bash
# Failover of a dual-homed node when one ToR goes silent: perouter beside FRR doing the same job,
# measured on the same silence event, with BFD (100 ms x 3) and without it (hold timer, 3/9 s).
#
#   cargo build -p perouter-agent --bin perouter && flock /tmp/perouter-lab.lock interop/frr-lab/bfd-failover.sh
#
# Two FRR ToRs (zebra + bgpd + bfdd, AS 64512 both) each reach a destination 10.100.0.10 (on
# TAG-dst) and advertise 10.100.0.0/24. Two nodes are dual-homed to them at the same time:
#   - perouter (from OpenPERouter static files: two underlay interfaces, two neighbours with
#     upstream's 3/9 timers and `bfd`), its VTEP 100.65.0.0 as the ping source;
#   - FRR 8.4 as the node (zebra + bgpd + bfdd, maximum-paths, multipath-relax), a loopback
#     source in 100.65.1.0/28.
# Both install 10.100.0.0/24 as an ECMP route through both ToRs and ping 10.100.0.10 every 10 ms.
# The ToR that carries perouter's ping (the kernel's ECMP hash, `ip route get`) is made silent:
# nftables drops everything it receives, forwards or sends, in its namespace; no link goes down,
# ARP still answers, so only BFD or the hold timer can tell. The FRR node's ping source is chosen
# so that its flow crosses the same ToR. The destination answers through the other ToR.
# Measured from the moment of the drop, for each node:
#   (a) BFD Down: perouter's log line; FRR's bfdd `state-change` debug line (ms timestamps);
#   (b) the silent ToR's next hop leaving 10.100.0.0/24 in the node's table (polled every 5 ms);
#   (c) the ping recovering: the first reply after the gap (ping -D timestamps), and the replies lost.
# Then the same without BFD on any side: the hold timer (9 s) does the job.
#
# Topology (namespaces prefixed with a per-run tag):
#   TAG-host  perouter's host namespace: toswitch1 192.168.11.3/24, toswitch2 192.168.12.3/24
#             (both moved into the router namespace TAG-pe that perouter builds)
#   TAG-fn    the FRR node, AS 64515: eth1 192.168.11.4/24, eth2 192.168.12.4/24, lo 100.65.1.0/28
#   TAG-t1    ToR1: br0 192.168.11.2/24 (ports to both nodes), d1 10.101.1.1/24 to the destination
#   TAG-t2    ToR2: br0 192.168.12.2/24, d2 10.101.2.1/24
#   TAG-dst   the destination: e1 10.101.1.2/24, e2 10.101.2.2/24, lo 10.100.0.10/32
set -u
LAB=bfd-failover
. "$(dirname "$0")/lib.sh"
lab_need_tools vtysh nft jq ping
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEROUTER=${PEROUTER:-$ROOT/target/debug/perouter}
TAG=bfo$$
DIR=$(mktemp -d /tmp/perouter-bfd-failover.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; FN=${TAG}fn; T1=${TAG}t1; T2=${TAG}t2; DST=${TAG}dst
FAIL=0
PIDS=()
declare -A RESULT

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  lab_kill_pidfiles "$DIR"
  sleep 0.5
  for n in $HOST $PE $FN $T1 $T2 $DST; do ip netns del "$n" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

ns_sysctl() { # NS: forwarding on, reverse-path filter off (the destination answers asymmetrically)
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}
for n in $HOST $FN $T1 $T2 $DST; do ip netns add "$n"; ip -n "$n" link set lo up; ns_sysctl "$n"; done

# ToR i: bridge i with the two node ports, a link to the destination.
for i in 1 2; do
  T=${TAG}t$i
  ip -n "$T" link add br0 type bridge
  ip -n "$T" addr add 192.168.1$i.2/24 dev br0
  ip -n "$T" link set br0 up
  ip link add toswitch$i netns $HOST type veth peer name pe netns "$T"
  ip link add eth$i netns $FN type veth peer name fn netns "$T"
  for p in pe fn; do ip -n "$T" link set $p master br0; ip -n "$T" link set $p up; done
  ip -n $HOST addr add 192.168.1$i.3/24 dev toswitch$i; ip -n $HOST link set toswitch$i up
  ip -n $FN addr add 192.168.1$i.4/24 dev eth$i; ip -n $FN link set eth$i up
  ip link add d$i netns "$T" type veth peer name e$i netns $DST
  ip -n "$T" addr add 10.101.$i.1/24 dev d$i; ip -n "$T" link set d$i up
  ip -n $DST addr add 10.101.$i.2/24 dev e$i; ip -n $DST link set e$i up
  ip -n "$T" route add 10.100.0.0/24 via 10.101.$i.2
done
ip -n $DST addr add 10.100.0.10/32 dev lo
ip -n $FN addr add 100.65.1.0/28 dev lo

tor_conf() { # I
  cat <<CONF
hostname tor$1
log timestamp precision 3
router bgp 64512
 bgp router-id 192.168.1$1.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.1$1.3 remote-as 64514
 neighbor 192.168.1$1.3 timers 3 9
 neighbor 192.168.1$1.3 bfd 3 100 100
 neighbor 192.168.1$1.4 remote-as 64515
 neighbor 192.168.1$1.4 timers 3 9
 neighbor 192.168.1$1.4 bfd 3 100 100
 address-family ipv4 unicast
  network 10.100.0.0/24
  neighbor 192.168.1$1.3 activate
  neighbor 192.168.1$1.4 activate
 exit-address-family
CONF
}
for i in 1 2; do
  mkdir -p "$DIR/t$i"; tor_conf $i > "$DIR/t$i/frr.conf"
  lab_start_frr "${TAG}t$i" ${TAG}t$i "$DIR/t$i" zebra bfdd bgpd
done
mkdir -p "$DIR/fn"
cat > "$DIR/fn/frr.conf" <<CONF
hostname fnode
log file $DIR/fn/frr.log
log timestamp precision 3
! bfdd logs its state changes with this (bgpd says it does not know the command: harmless)
debug bfd peer
router bgp 64515
 bgp router-id 192.168.11.4
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 neighbor 192.168.11.2 remote-as 64512
 neighbor 192.168.11.2 timers 3 9
 neighbor 192.168.11.2 bfd 3 100 100
 neighbor 192.168.12.2 remote-as 64512
 neighbor 192.168.12.2 timers 3 9
 neighbor 192.168.12.2 bfd 3 100 100
 address-family ipv4 unicast
  network 100.65.1.0/28
  maximum-paths 16
  neighbor 192.168.11.2 activate
  neighbor 192.168.12.2 activate
 exit-address-family
CONF
lab_start_frr "${TAG}fn" $FN "$DIR/fn" zebra bfdd bgpd

underlay() { # BFD settings ('' = none)
  local bfd=""
  [ -n "$1" ] && bfd=", bfd: $1"
  lab_underlay "$DIR/cfg" toswitch1,toswitch2 \
    "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3$bfd}" \
    "{asn: 64512, address: 192.168.12.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3$bfd}"
}
BFD100="{receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}"
underlay "$BFD100"
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
SOCK=$DIR/api.sock
RUST_LOG=${RUST_LOG:-info} "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
  --api-socket "$SOCK" --config-poll 1 >>"$DIR/perouter.log" 2>&1 &
PIDS+=("$!")

fvty() { lab_vty "$DIR/$1" "$2"; }
pr_bfd() { "$PEROUTER" show bfd peers --api-socket "$SOCK" -o json 2>/dev/null; }
pr_ready() { # both sessions Established and (with BFD) both BFD sessions Up
  pr_session_up "$SOCK" 192.168.11.2 && pr_session_up "$SOCK" 192.168.12.2 || return 1
  [ "$1" = nobfd ] && return 0
  pr_bfd | lab_json_true '[.[] | select(.state == "Up")] | length == 2'
}
fn_ready() {
  fvty fn "show bgp ipv4 unicast summary json" |
    lab_json_true '[.peers[] | select(.state == "Established")] | length == 2' || return 1
  [ "$1" = nobfd ] && return 0
  fvty fn "show bfd peers json" | lab_json_true '[.[] | select(.status == "up")] | length == 2'
}
ecmp() { # NS: 10.100.0.0/24 with both ToRs as next hops
  local r; r=$(ip -n "$1" route show 10.100.0.0/24)
  echo "$r" | grep -q 'via 192.168.11.2' && echo "$r" | grep -q 'via 192.168.12.2'
}
tor_sees_vtep() { ip -n $T1 route show 100.65.0.0/32 | grep -q via && ip -n $T2 route show 100.65.0.0/32 | grep -q via; }
ping_ok() { ip netns exec "$1" ping -c 1 -W 1 -I "$2" 10.100.0.10 >/dev/null 2>&1; }

# The ToR the kernel's ECMP hash sends a flow through: its number (1 or 2).
via_tor() { # NS SRC
  ip -n "$1" route get 10.100.0.10 from "$2" | grep -oE 'via 192\.168\.1[12]\.2' | sed -E 's/.*192\.168\.1([12])\.2/\1/'
}

# One silence event, measured on both nodes. Sets ROW_pr and ROW_fn.
measure() { # LABEL TIMEOUT-S
  local label=$1 limit=$2 f o src s t0
  f=$(via_tor $PE 100.65.0.0); o=$((3 - f))
  FN_SRC=""
  for s in $(seq 1 14); do
    if [ "$(via_tor $FN 100.65.1.$s)" = "$f" ]; then FN_SRC=100.65.1.$s; break; fi
  done
  say "$label: perouter's flow crosses ToR$f; the FRR node pings from ${FN_SRC:-?} through it too; the destination answers through ToR$o"
  [ -n "$FN_SRC" ] || { say "FAIL: no FRR node source hashes to ToR$f"; FAIL=1; return; }
  ip -n $DST route replace 100.65.0.0/16 via 10.101.$o.1
  wait_until 10 ping_ok $PE 100.65.0.0 || say "perouter's ping does not work before the drop"
  wait_until 10 ping_ok $FN "$FN_SRC" || say "the FRR node's ping does not work before the drop"
  rm -f "$DIR"/route-gone.* "$DIR"/ping.*
  ip netns exec $PE ping -D -n -i 0.01 -I 100.65.0.0 10.100.0.10 > "$DIR/ping.pr" 2>&1 & local ppr=$!
  ip netns exec $FN ping -D -n -i 0.01 -I "$FN_SRC" 10.100.0.10 > "$DIR/ping.fn" 2>&1 & local pfn=$!
  for n in pr fn; do
    local ns=$PE; [ $n = fn ] && ns=$FN
    ( while ip -n "$ns" route show 10.100.0.0/24 | grep -q "via 192.168.1$f.2"; do sleep 0.005; done
      date +%s%N > "$DIR/route-gone.$n" ) & PIDS+=("$!")
  done
  sleep 1
  t0=$(date +%s%N)
  ip netns exec ${TAG}t$f nft -f - <<NFT
table inet silent {
  chain drop_in { type filter hook input priority 0; policy drop; }
  chain drop_forward { type filter hook forward priority 0; policy drop; }
  chain drop_out { type filter hook output priority 0; policy drop; }
}
NFT
  for _ in $(seq $((limit * 10))); do
    [ -f "$DIR/route-gone.pr" ] && [ -f "$DIR/route-gone.fn" ] && break
    sleep 0.1
  done
  sleep 1.5
  kill -INT $ppr $pfn 2>/dev/null; wait $ppr $pfn 2>/dev/null
  ROW_pr=$(row pr "$t0" "$f"); ROW_fn=$(row fn "$t0" "$f")
  ip netns exec ${TAG}t$f nft delete table inet silent
  SILENT=$f
}

# ms from T0 to an epoch-ns value, or "timeout".
since() { [ -n "$2" ] && echo $(( ($2 - $1) / 1000000 )) || echo timeout; }
# BFD Down of the session with ToR F on node N, from the node's own log (ms timestamps).
bfd_down_ns() { # N F T0
  local line ts ns
  if [ "$1" = pr ]; then
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$DIR/perouter.log" | grep 'bfd session state changed' |
      grep "peer=192.168.1$2.2" | grep 'to=down' | tail -1)
    ts=$(echo "$line" | grep -oE '^[^ ]+')
  else
    line=$(grep 'state-change' "$DIR/fn/frr.log" 2>/dev/null | grep "peer:192.168.1$2.2" | grep -- '-> down' | tail -1)
    ts=$(echo "$line" | grep -oE '^[0-9/]+ [0-9:.]+' | tr / -)
  fi
  [ -n "$ts" ] || return 0
  ns=$(date -d "$ts" +%s%N 2>/dev/null) || return 0
  [ "$ns" -gt "$3" ] && echo "$ns"
}
# "bfd_ms route_ms ping_ms lost" for node N.
row() { # N T0 F
  local bfd route rec lost
  bfd=$(bfd_down_ns "$1" "$3" "$2")
  bfd=$([ -n "$bfd" ] && since "$2" "$bfd" || echo -)
  route=$(since "$2" "$(cat "$DIR/route-gone.$1" 2>/dev/null)")
  # The largest hole in the reply sequence numbers: its end is the recovery.
  read -r rec lost < <(awk -v t0="$2" '
    /icmp_seq=/ { match($0, /\[[0-9.]+\]/); ts = substr($0, RSTART + 1, RLENGTH - 2)
                  match($0, /icmp_seq=[0-9]+/); seq = substr($0, RSTART + 9, RLENGTH - 9) + 0
                  if (n > 0 && seq - last > 1) { lost += seq - last - 1
                    if (seq - last > gap) { gap = seq - last; at = ts } }
                  last = seq; n++ }
    END { if (n == 0) print "timeout", "all"
          else if (gap == 0) print 0, 0
          else printf "%d %d\n", (at * 1000) - (t0 / 1000000), lost }' "$DIR/ping.$1")
  echo "$bfd $route $rec $lost"
}

check perouter-sessions-and-bfd-up wait_until 60 pr_ready bfd
check frr-node-sessions-and-bfd-up wait_until 60 fn_ready bfd
check perouter-ecmp-route wait_until 20 ecmp $PE
check frr-node-ecmp-route wait_until 20 ecmp $FN
check tors-learn-perouter-vtep wait_until 20 tor_sees_vtep
tor_bfd_up() { fvty "t$1" "show bfd peers json" | lab_json_true --arg p "192.168.1$1.3" '.[] | select(.peer == $p) | .status == "up"'; }
check tor1-bfd-up-with-perouter tor_bfd_up 1
check tor2-bfd-up-with-perouter tor_bfd_up 2
ip -n $DST route replace 100.65.0.0/16 via 10.101.1.1
check perouter-ping-before wait_until 10 ping_ok $PE 100.65.0.0
check frr-node-ping-before wait_until 10 ping_ok $FN 100.65.1.1

measure "with BFD 100 ms x 3" 10
read -r B_PR_BFD B_PR_ROUTE B_PR_PING B_PR_LOST <<<"$ROW_pr"
read -r B_FN_BFD B_FN_ROUTE B_FN_PING B_FN_LOST <<<"$ROW_fn"
say "perouter: BFD down ${B_PR_BFD} ms, route ${B_PR_ROUTE} ms, ping ${B_PR_PING} ms (${B_PR_LOST} lost)"
say "FRR node: BFD down ${B_FN_BFD} ms, route ${B_FN_ROUTE} ms, ping ${B_FN_PING} ms (${B_FN_LOST} lost)"
lt() { [ "$1" != timeout ] && [ "$1" != - ] && [ "$1" -lt "$2" ]; }
check bfd-perouter-bfd-down-logged test "$B_PR_BFD" != -
check bfd-perouter-route-gone-under-1s lt "$B_PR_ROUTE" 1000
check bfd-perouter-ping-recovered-under-1s lt "$B_PR_PING" 1000
check bfd-perouter-ping-lost-some test "$B_PR_LOST" != 0 -a "$B_PR_LOST" != all
check bfd-frr-node-route-gone lt "$B_FN_ROUTE" 5000

# Back to normal, then BFD off on every side.
check recovered-perouter wait_until 60 pr_ready bfd
check recovered-frr-node wait_until 60 fn_ready bfd
underlay ""
for i in 1 2; do
  vtysh --vty_socket "$DIR/t$i" -c "configure terminal" -c "router bgp 64512" \
    -c "no neighbor 192.168.1$i.3 bfd" -c "no neighbor 192.168.1$i.4 bfd" >/dev/null 2>&1
done
vtysh --vty_socket "$DIR/fn" -c "configure terminal" -c "router bgp 64515" \
  -c "no neighbor 192.168.11.2 bfd" -c "no neighbor 192.168.12.2 bfd" >/dev/null 2>&1
no_pr_bfd() { pr_bfd | lab_json_true 'length == 0'; }
check bfd-removed-perouter wait_until 15 no_pr_bfd
sleep 2
check nobfd-perouter-ready wait_until 60 pr_ready nobfd
check nobfd-frr-node-ready wait_until 60 fn_ready nobfd
check nobfd-perouter-ecmp wait_until 20 ecmp $PE
check nobfd-frr-node-ecmp wait_until 20 ecmp $FN
sleep 4

measure "without BFD (hold timer 9 s)" 20
read -r H_PR_BFD H_PR_ROUTE H_PR_PING H_PR_LOST <<<"$ROW_pr"
read -r H_FN_BFD H_FN_ROUTE H_FN_PING H_FN_LOST <<<"$ROW_fn"
check nobfd-perouter-route-gone lt "$H_PR_ROUTE" 15000
check nobfd-perouter-ping-recovered lt "$H_PR_PING" 15000
check nobfd-perouter-ping-lost-some test "$H_PR_LOST" != 0 -a "$H_PR_LOST" != all
check nobfd-frr-node-route-gone lt "$H_FN_ROUTE" 15000

echo
say "FAILOVER: one of two ToRs silenced by nftables (no link event), ms from the drop; 10 ms pings"
printf '%-34s %10s %12s %16s %8s\n' node "BFD down" "route gone" "ping recovered" lost
printf '%-34s %10s %12s %16s %8s\n' "perouter, BFD 100ms x3" $B_PR_BFD $B_PR_ROUTE $B_PR_PING $B_PR_LOST
printf '%-34s %10s %12s %16s %8s\n' "FRR 8.4 node, BFD 100ms x3" $B_FN_BFD $B_FN_ROUTE $B_FN_PING $B_FN_LOST
printf '%-34s %10s %12s %16s %8s\n' "perouter, no BFD (hold 9 s)" - $H_PR_ROUTE $H_PR_PING $H_PR_LOST
printf '%-34s %10s %12s %16s %8s\n' "FRR 8.4 node, no BFD (hold 9 s)" - $H_FN_ROUTE $H_FN_PING $H_FN_LOST
echo "FAILOVER-JSON {\"bfd\":{\"perouter\":[\"$B_PR_BFD\",\"$B_PR_ROUTE\",\"$B_PR_PING\",\"$B_PR_LOST\"],\"frr\":[\"$B_FN_BFD\",\"$B_FN_ROUTE\",\"$B_FN_PING\",\"$B_FN_LOST\"]},\"hold\":{\"perouter\":[\"$H_PR_ROUTE\",\"$H_PR_PING\",\"$H_PR_LOST\"],\"frr\":[\"$H_FN_ROUTE\",\"$H_FN_PING\",\"$H_FN_LOST\"]}}"
lab_results 40
if [ $FAIL -ne 0 ]; then
  lab_log_tail "$DIR/perouter.log"
  echo "--- FRR node"; fvty fn "show bgp ipv4 unicast summary"; fvty fn "show bfd peers brief"
  tail -n 20 "$DIR/fn/frr.log" 2>/dev/null
fi
exit $FAIL
