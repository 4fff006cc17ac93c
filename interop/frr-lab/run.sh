#!/usr/bin/env bash
# Interop lab on network namespaces (needs root; Debian's frr, gobgpd, bird2,
# exabgp). Each peer runs in its own namespace, linked to the perouter
# speaker's namespace by a veth; the speaker is crates/bgp/examples/speaker.rs.
# Prints a peer x family table; exits non-zero if any cell failed.
#
#   cargo build -p perouter-bgp --example speaker && sudo interop/frr-lab/run.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SPEAKER=${SPEAKER:-$ROOT/target/debug/examples/speaker}
TAG=pr$$
DIR=$(mktemp -d /tmp/perouter-lab.XXXXXX)
chmod 755 "$DIR"
NS=${TAG}dut
declare -A RESULT
FAIL=0
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for f in "$DIR"/*/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
  for n in $(ip netns list | awk '{print $1}' | grep "^$TAG"); do ip netns del "$n"; done
  [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up

# link NAME INDEX: namespace $TAG$NAME with veth to the DUT,
# 10.99.INDEX.1/24 + fd99:INDEX::1/64 on the DUT, .2 / ::2 on the peer.
link() {
  local name=$1 i=$2 pns=$TAG$1
  ip netns add "$pns"
  ip -n "$pns" link set lo up
  ip link add "${TAG}d$i" netns "$NS" type veth peer name "${TAG}p$i" netns "$pns"
  ip -n "$NS" addr add 10.99.$i.1/24 dev "${TAG}d$i"
  ip -n "$NS" addr add fd99:$i::1/64 dev "${TAG}d$i" nodad
  ip -n "$pns" addr add 10.99.$i.2/24 dev "${TAG}p$i"
  ip -n "$pns" addr add fd99:$i::2/64 dev "${TAG}p$i" nodad
  ip -n "$NS" link set "${TAG}d$i" up
  ip -n "$pns" link set "${TAG}p$i" up
}

link frr 1; link gobgp 2; link bird 3; link exa 4; link frr2 5
# A second address pair on FRR #2's link for the TCP-MD5 mismatch in the other direction.
ip -n "$NS" addr add fd99:5::11/64 dev "${TAG}d5" nodad
ip -n ${TAG}frr2 addr add fd99:5::12/64 dev "${TAG}p5" nodad

# FRR originates an EVPN type-3 route for VNI 100 (advertise-all-vni, a
# VXLAN device in an up bridge; no VRF needed).
ip -n ${TAG}frr link add br100 type bridge
ip -n ${TAG}frr link add vx100 type vxlan id 100 local 10.99.1.2 dstport 4789 nolearning
ip -n ${TAG}frr link set vx100 master br100
ip -n ${TAG}frr link set br100 up
ip -n ${TAG}frr link set vx100 up

# ---------------------------------------------------------------- FRR (AS 65001)
mkdir -p "$DIR/frr"
cat > "$DIR/frr/frr.conf" <<CONF
hostname frr
router bgp 65001
 bgp router-id 10.99.1.2
 bgp graceful-restart
 bgp graceful-restart restart-time 6
 bgp graceful-restart preserve-fw-state
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 neighbor 10.99.1.1 remote-as 4200000000
 neighbor 10.99.1.1 password labsecret
 neighbor 10.99.1.1 timers 3 9
 neighbor fd99:1::1 remote-as 4200000000
 neighbor fd99:1::1 timers 3 9
 address-family ipv4 unicast
  network 192.0.2.0/24
  neighbor 10.99.1.1 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:1::/48
  neighbor fd99:1::1 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 10.99.1.1 activate
  advertise-all-vni
 exit-address-family
ip route 192.0.2.0/24 blackhole
ipv6 route 2001:db8:1::/48 blackhole
CONF
chown -R frr:frr "$DIR/frr"
ip netns exec ${TAG}frr /usr/lib/frr/zebra -d -N ${TAG}frr -f "$DIR/frr/frr.conf" -i "$DIR/frr/zebra.pid" \
  -z "$DIR/frr/zserv.api" --vty_socket "$DIR/frr" >/dev/null 2>&1
sleep 1
ip netns exec ${TAG}frr /usr/lib/frr/bgpd -d -N ${TAG}frr -f "$DIR/frr/frr.conf" -i "$DIR/frr/bgpd.pid" \
  -z "$DIR/frr/zserv.api" --vty_socket "$DIR/frr" >/dev/null 2>&1
vtyfrr() { vtysh --vty_socket "$DIR/frr" -c "$1" 2>/dev/null; }
start_bgpd() { # NAME
  ip netns exec $TAG$1 /usr/lib/frr/bgpd -d -N $TAG$1 -f "$DIR/$1/frr.conf" -i "$DIR/$1/bgpd.pid" \
    -z "$DIR/$1/zserv.api" --vty_socket "$DIR/$1" >/dev/null 2>&1
}

# ------------------------------------------- FRR #2 (iBGP, AS 4200000000)
# iBGP over IPv4 (unicast + EVPN, hold 3 s: frozen with SIGSTOP later) and two sessions over
# IPv6 where only one side has a TCP-MD5 key: perouter keyed and FRR not (fd99:5::1 <-> ::2),
# FRR keyed and perouter not (fd99:5::11 <-> ::12). Each would come up if the unkeyed side
# were keyed or the keyed side were not, so "never Established" shows that perouter installs
# exactly the keys it is configured with.
mkdir -p "$DIR/frr2"
cat > "$DIR/frr2/frr.conf" <<CONF
hostname frr2
router bgp 4200000000
 bgp router-id 10.99.5.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 neighbor 10.99.5.1 remote-as internal
 neighbor 10.99.5.1 timers 1 3
 neighbor 10.99.5.1 timers connect 1
 neighbor fd99:5::1 remote-as internal
 neighbor fd99:5::1 update-source fd99:5::2
 neighbor fd99:5::1 timers connect 1
 neighbor fd99:5::11 remote-as internal
 neighbor fd99:5::11 password labsecret
 neighbor fd99:5::11 update-source fd99:5::12
 neighbor fd99:5::11 timers connect 1
 address-family ipv4 unicast
  network 192.0.2.128/25
  neighbor 10.99.5.1 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor fd99:5::1 activate
  neighbor fd99:5::11 activate
 exit-address-family
ip route 192.0.2.128/25 blackhole
CONF
chown -R frr:frr "$DIR/frr2"
ip netns exec ${TAG}frr2 /usr/lib/frr/zebra -d -N ${TAG}frr2 -f "$DIR/frr2/frr.conf" -i "$DIR/frr2/zebra.pid" \
  -z "$DIR/frr2/zserv.api" --vty_socket "$DIR/frr2" >/dev/null 2>&1
sleep 1
start_bgpd frr2
vtyfrr2() { vtysh --vty_socket "$DIR/frr2" -c "$1" 2>/dev/null; }

# -------------------------------------------------------------- GoBGP (AS 65002)
mkdir -p "$DIR/gobgp"
cat > "$DIR/gobgp/gobgp.toml" <<CONF
[global.config]
  as = 65002
  router-id = "10.99.2.2"
  port = 179
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.99.2.1"
    peer-as = 4200000000
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "fd99:2::1"
    peer-as = 4200000000
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
CONF
ip netns exec ${TAG}gobgp gobgpd -f "$DIR/gobgp/gobgp.toml" --api-hosts 127.0.0.1:50551 -l warn \
  > "$DIR/gobgp/log" 2>&1 &
PIDS+=($!)
gob() { ip netns exec ${TAG}gobgp gobgp -p 50551 "$@"; }

# --------------------------------------------------------------- BIRD (AS 65003)
mkdir -p "$DIR/bird"
cat > "$DIR/bird/bird.conf" <<CONF
router id 10.99.3.2;
protocol device {}
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:3::/48 blackhole; }
protocol bgp dut4 {
  local 10.99.3.2 as 65003; neighbor 10.99.3.1 as 4200000000;
  hold time 9; keepalive time 3;
  ipv4 { import all; export all; };
}
protocol bgp dut6 {
  local fd99:3::2 as 65003; neighbor fd99:3::1 as 4200000000;
  ipv6 { import all; export all; };
}
CONF
ip netns exec ${TAG}bird bird -c "$DIR/bird/bird.conf" -s "$DIR/bird/ctl" -P "$DIR/bird/bird.pid"
birdc() { birdc -s "$DIR/bird/ctl" "$@"; }

# ------------------------------------------------------------- ExaBGP (AS 65004)
mkdir -p "$DIR/exa"
cat > "$DIR/exa/exa.conf" <<CONF
neighbor 10.99.4.1 {
  router-id 10.99.4.2; local-address 10.99.4.2; local-as 65004; peer-as 4200000000;
  hold-time 9;
  family { ipv4 unicast; }
  static { route 198.18.4.0/24 next-hop 10.99.4.2; }
}
neighbor fd99:4::1 {
  router-id 10.99.4.2; local-address fd99:4::2; local-as 65004; peer-as 4200000000;
  family { ipv6 unicast; }
  static { route 2001:db8:4::/48 next-hop fd99:4::2; }
}
CONF
env exabgp.daemon.user=root exabgp.log.destination="$DIR/exa/log" exabgp.api.cli=false \
  ip netns exec ${TAG}exa exabgp "$DIR/exa/exa.conf" >/dev/null 2>&1 &
PIDS+=($!)

# ------------------------------------------------------------- perouter speaker
cat > "$DIR/dut.yaml" <<CONF
local_as: 4200000000
router_id: 10.99.0.1
listen: ["[::]:179"]
neighbors:
  - { address: 10.99.1.2, remote_as: 65001, families: [ipv4-unicast, l2vpn-evpn], password: labsecret, hold_time: 9 }
  - { address: "fd99:1::2", remote_as: 65001, families: [ipv6-unicast], hold_time: 9 }
  - { address: 10.99.2.2, remote_as: 65002, families: [ipv4-unicast, l2vpn-evpn], hold_time: 9 }
  - { address: "fd99:2::2", remote_as: 65002, families: [ipv6-unicast] }
  - { address: 10.99.3.2, remote_as: external, families: [ipv4-unicast], hold_time: 9 }
  - { address: "fd99:3::2", remote_as: 65003, families: [ipv6-unicast] }
  - { listen-range: 10.99.4.0/24, limit: 4, remote_as: 65004, families: [ipv4-unicast], hold_time: 9 }
  - { address: 10.99.5.2, remote_as: internal, families: [ipv4-unicast], hold_time: 3, connect_retry: 1, connect_retry_max: 2 }
  - { address: "fd99:5::2", remote_as: internal, families: [ipv6-unicast], password: labsecret, local_address: "fd99:5::1", connect_retry: 1 }
  - { address: "fd99:5::12", remote_as: internal, families: [ipv6-unicast], local_address: "fd99:5::11", connect_retry: 1 }
  - { address: "fd99:4::2", remote_as: 65004, families: [ipv6-unicast], passive: true }
originate:
  - { prefix: 100.64.0.0/24 }
  - { prefix: "2001:db8:100::/48" }
shutdown_message: "perouter interop: shutting down"
CONF
ip netns exec "$NS" "$SPEAKER" "$DIR/dut.yaml" > "$DIR/dut.jsonl" 2> "$DIR/dut.log" &
DUT=$!
PIDS+=($DUT)

# Wait for the sessions.
for _ in $(seq 1 60); do
  n=$(grep -c '"event":"up"' "$DIR/dut.jsonl" 2>/dev/null)
  [ "${n:-0}" -ge 9 ] && break
  sleep 1
done
sleep 3
# GoBGP injects an EVPN type-5 route after the session is up.
gob global rib add -a evpn prefix 10.10.10.0/24 esi 0 etag 0 rd 192.0.2.2:200 rt 64514:200 gw 0.0.0.0 \
  label 200 router-mac aa:bb:cc:00:00:01 encap vxlan nexthop 10.99.2.2 >/dev/null 2>&1
sleep 3

up() { grep '"event":"up"' "$DIR/dut.jsonl" | grep -q "\"remote\":\"$1"; }
got() { grep '"event":"announce"' "$DIR/dut.jsonl" | grep -q "$1"; }
check() { # name cell condition...
  local key=$1; shift
  if "$@"; then RESULT[$key]=ok; else RESULT[$key]=FAIL; FAIL=1; fi
}
frr_has() { vtyfrr "show bgp $1 unicast $2 json" | grep -q "\"$2\""; }

check frr/ipv4 bash -c "$(declare -f up got); DIR=$DIR; up 10.99.1.2 && got 192.0.2.0/24" 
check frr/ipv6 bash -c "$(declare -f up got); DIR=$DIR; up '\\[fd99:1::2\\]' && got 2001:db8:1::/48"
check frr/ipv4-out bash -c "vtysh --vty_socket $DIR/frr -c 'show bgp ipv4 unicast 100.64.0.0/24' | grep -q 4200000000"
check frr/md5 bash -c "$(declare -f up); DIR=$DIR; up 10.99.1.2"
check gobgp/ipv4 bash -c "$(declare -f up); DIR=$DIR; up 10.99.2.2 && ip netns exec ${TAG}gobgp gobgp -p 50551 global rib -a ipv4 | grep -q 100.64.0.0/24"
check gobgp/ipv6 bash -c "$(declare -f up); DIR=$DIR; up '\\[fd99:2::2\\]' && ip netns exec ${TAG}gobgp gobgp -p 50551 global rib -a ipv6 | grep -q 2001:db8:100::/48"
check gobgp/evpn-type5 bash -c "grep '\"event\":\"announce\"' $DIR/dut.jsonl | grep l2vpn-evpn | grep -q '10.10.10.0'"
check bird/ipv4 bash -c "$(declare -f up got); DIR=$DIR; up 10.99.3.2 && got 203.0.113.0/24"
check bird/ipv6 bash -c "$(declare -f up got); DIR=$DIR; up '\\[fd99:3::2\\]' && got 2001:db8:3::/48"
check exabgp/ipv4 bash -c "$(declare -f up got); DIR=$DIR; up 10.99.4.2 && got 198.18.4.0/24"
check exabgp/ipv6 bash -c "$(declare -f up got); DIR=$DIR; up '\\[fd99:4::2\\]' && got 2001:db8:4::/48"

# Helpers over the speaker's JSON lines.
peer_of() { grep '"event":"up"' "$DIR/dut.jsonl" | grep "\"remote\":\"$1" | head -1 | jq -r .peer; }
seq_of() { jq -r --argjson p "$1" 'select(.peer == $p and .event != "announce" and .event != "withdraw")
  | .event + (if .graceful != null then "/graceful=" + (.graceful|tostring) else "" end)
  + (if .family != null and .event != "announce" then "/" + .family else "" end)' "$DIR/dut.jsonl" 2>/dev/null | tr '\n' ' '; }
wait_until() { # SECONDS CMD...: polls CMD every 0.5 s
  local n=$(( $1 * 2 )); shift
  for _ in $(seq 1 $n); do "$@" && return 0; sleep 0.5; done; return 1
}
count_ev() { seq_of "$1" | tr ' ' '\n' | grep -c "^$2" ; }

# FRR's EVPN type-3 (VNI 100, originator 10.99.1.2) arrives intact.
check frr/evpn-type3-in bash -c "grep '\"event\":\"announce\"' $DIR/dut.jsonl | grep l2vpn-evpn | grep -q '\[3\]:\[0\]:\[32\]:\[10.99.1.2\]'"

# iBGP with FRR #2: up, its route received, ours installed with LOCAL_PREF 100 and an empty AS_PATH.
check frr2/ibgp-ipv4 bash -c "grep '\"event\":\"up\"' $DIR/dut.jsonl | grep '\"remote\":\"10.99.5.2' | grep -q '\"ibgp\":true' \
  && grep '\"event\":\"announce\"' $DIR/dut.jsonl | grep -q 192.0.2.128/25 \
  && [ \"\$(vtysh --vty_socket $DIR/frr2 -c 'show bgp ipv4 unicast 100.64.0.0/24 json' | jq '.paths[0].locPrf == 100 and .paths[0].aspath.length == 0')\" = true ]"
# TCP-MD5 on one side only: never Established, seen from both sides. FRR's state must be
# read (a failed vtysh or jq query fails the check instead of passing it).
frr2_state() { # NEIGHBOR: FRR #2's bgpState for it, or nothing
  vtysh --vty_socket "$DIR/frr2" -c "show bgp neighbor $1 json" 2>/dev/null | jq -er ".[\"$1\"].bgpState" 2>/dev/null
}
md5_never_up() { # OUR-NEIGHBOR FRR-NEIGHBOR
  local st
  st=$(frr2_state "$2") || { echo "md5: no state from FRR for $2" >&2; return 1; }
  [ -n "$st" ] && [ "$st" != Established ] || { echo "md5: FRR has $2 in state '$st'" >&2; return 1; }
  ! grep '"event":"up"' "$DIR/dut.jsonl" | grep -q "\"remote\":\"\\[$1\\]"
}
check frr2/md5-ours-keyed-peer-not-never-up md5_never_up fd99:5::2 fd99:5::1
check frr2/md5-peer-keyed-ours-not-never-up md5_never_up fd99:5::12 fd99:5::11
# Dynamic neighbour from a listen range (ExaBGP connects to us).
check exabgp/listen-range bash -c "grep '\"event\":\"up\"' $DIR/dut.jsonl | grep -q '\"remote\":\"10.99.4.2'"

# Hold timer expiry: freeze FRR #2 (SIGSTOP); hold time 3 s.
P5=$(peer_of 10.99.5.2)
if [ -n "$P5" ]; then
  kill -STOP "$(cat "$DIR/frr2/bgpd.pid")"
  ps -o pid,stat,comm -p "$(cat "$DIR/frr2/bgpd.pid")" >&2
  hold_down() { grep '"event":"down"' "$DIR/dut.jsonl" | grep "\"peer\":$P5[,}]" | grep -q 'code: 4,'; }
  check frr2/hold-timer-expiry wait_until 6 hold_down
  kill -CONT "$(cat "$DIR/frr2/bgpd.pid")"
  check frr2/recovers-after-freeze wait_until 15 bash -c "[ \$(grep -c '\"event\":\"up\".*\"remote\":\"10.99.5.2' $DIR/dut.jsonl) -ge 2 ]"
else
  RESULT[frr2/hold-timer-expiry]=FAIL; FAIL=1
fi

# Graceful restart helper: FRR's bgpd dies (SIGKILL: no NOTIFICATION) and comes back.
P1=$(peer_of 10.99.1.2)
gr_ok=0
if [ -n "$P1" ]; then
  kill -KILL "$(cat "$DIR/frr/bgpd.pid")"
  check frr/gr-down-graceful wait_until 5 bash -c "$(declare -f seq_of); DIR=$DIR; seq_of $P1 | grep -q 'down/graceful=true'"
  start_bgpd frr
  # Back: a second "up", then FRR's End-of-RIBs; nothing purged (F bit set).
  gr_back() { seq_of "$P1" | grep -q 'down/graceful=true up .*end-of-rib'; }
  check frr/gr-restart-eor wait_until 30 gr_back
  seq_of "$P1" | sed 's/.*down\/graceful=true//' | grep -q stale-expired && { RESULT[frr/gr-restart-eor]="FAIL (purged)"; FAIL=1; }
  # Dies again and stays down: purged after FRR's restart time (6 s).
  kill -KILL "$(cat "$DIR/frr/bgpd.pid")"
  # Purged in THIS episode: a stale-expired after the second graceful down (a wrong purge in
  # the first episode is not credited to this one).
  gr_purged() {
    local s; s=$(seq_of "$P1")
    [ "$(tr ' ' '\n' <<<"$s" | grep -c '^down/graceful=true')" -ge 2 ] \
      && sed 's/.*down\/graceful=true//' <<<"$s" | tr ' ' '\n' | grep -q '^stale-expired'
  }
  t0=$(date +%s)
  check frr/gr-stale-purged wait_until 12 gr_purged
  echo "GR: purge $(( $(date +%s) - t0 )) s after the second loss; events: $(seq_of "$P1")" >&2
  start_bgpd frr
  wait_until 30 bash -c "[ \$(grep -c '\"event\":\"up\".*\"remote\":\"10.99.1.2' $DIR/dut.jsonl) -ge 3 ]"
  sleep 1
else
  RESULT[frr/gr-down-graceful]=FAIL; FAIL=1
fi

# Admin shutdown message visible in FRR.
kill -TERM $DUT; wait $DUT 2>/dev/null
sleep 1
vtyfrr "show bgp neighbor 10.99.1.1" > "$DIR/frr-neighbor.txt"
check frr/admin-shutdown grep -q "Notification received (Cease/Administrative Shutdown" "$DIR/frr-neighbor.txt"
vtyfrr "show bgp neighbor 10.99.1.1 json" > "$DIR/frr-neighbor.json"
echo "FRR after our admin shutdown: $(jq -c '.["10.99.1.1"] | with_entries(select(.key | test("^last|Reset|Notif|Shutdown"; "i")))' "$DIR/frr-neighbor.json")" >&2
# RFC 9003 text: FRR 8.4 shows it in the JSON (lastShutdownDescription), not in the text output.
check frr/shutdown-text bash -c "[ \"\$(jq -r '.[\"10.99.1.1\"].lastShutdownDescription' $DIR/frr-neighbor.json)\" = 'perouter interop: shutting down' ]"

printf '\n%-22s %s\n' "peer/check" "result"
for k in $(printf '%s\n' "${!RESULT[@]}" | sort); do printf '%-22s %s\n' "$k" "${RESULT[$k]}"; done
if [ $FAIL -ne 0 ]; then
  echo "--- speaker log (tail)"; tail -30 "$DIR/dut.log"
  echo "--- speaker events"; head -40 "$DIR/dut.jsonl"
fi
exit $FAIL
