# Shared library of the network-namespace labs (demo.sh, e2e-node.sh, e2e-l3vni.sh).
# Source it after setting LAB (the prefix of every message), e.g.
#   LAB=e2e; . "$(dirname "$0")/lib.sh"
#
# What it gives:
#   say MSG                    a timestamped progress line
#   check NAME CMD...          runs CMD, records ok/FAIL in RESULT[NAME], sets FAIL=1 on failure
#   wait_until SECONDS CMD...  retries CMD every 0.5 s until it succeeds or SECONDS have passed
#   wait_for SECONDS CMD...    the same by the wall clock (in the emulated guest a spawn takes 0.1-0.5 s)
#   record NAME ok|FAIL        records a verdict computed elsewhere (as check does)
#   par_pings SECONDS          the pings listed in $DIR/pings (NAME NS DEST a line), in parallel, each
#                              retried until it answers or SECONDS have passed; records each
#   lab_results [WIDTH]        the table of every check's result
#   lab_need_tools             exits 2 naming the missing packages and the one apt-get command
#   lab_has_vrf                true when this kernel can create VRF devices (CONFIG_NET_VRF)
#   lab_find_perouter          sets PEROUTER: $PEROUTER_BIN / $PEROUTER, else target/release,
#                              else target/debug, else builds the release binary
#   lab_nofds CMD...           runs CMD without inherited descriptors (daemons must not hold the lock)
#   lab_start_frr NAME NS DIR [DAEMON...]
#                              zebra + bgpd (or the daemons named, e.g. zebra bfdd bgpd) in
#                              namespace NS with DIR/frr.conf (pid files in DIR)
#   lab_vty DIR CMD            one vtysh command against the instance in DIR
#   lab_nogr_passthrough_frr DIR
#                              the upgrade labs' ToR and host speaker configs (no graceful restart)
#   lab_underlay CFG-DIR IFACES NEIGHBOUR...
#                              writes CFG-DIR/configs/openpe_underlay.yaml atomically: AS 64514,
#                              the NICs (comma-separated), one YAML flow map per neighbour,
#                              VTEP pool 100.65.0.0/24
#   lab_kill_pidfiles DIR...   kills the daemons whose *.pid files are in DIR/*/
#   lab_log_tail LOG [LINES]   prints the tail of a perouter log (called on every failure)
#   lab_cleanup                EXIT trap: kills PIDS and the FRR daemons under DIR, deletes NSS and DIR (KEEP=1 keeps them)
#   lab_json_true JQ-ARGS...   JSON on stdin is non-empty and passes `jq -e JQ-ARGS`
#   pr_session_up SOCK ADDR    the session with ADDR is Established per `perouter show bgp summary`
set -u
LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=${LAB:-lab}
FAIL=${FAIL:-0}
declare -A RESULT

say() { echo "[$LAB $(date +%T)] $*"; }

check() { # NAME CMD...
  local name=$1; shift
  if "$@"; then RESULT[$name]=ok; say "ok    $name"; else RESULT[$name]=FAIL; FAIL=1; say "FAIL  $name"; fi
}

wait_until() { # SECONDS CMD...
  local t=$1; shift
  for _ in $(seq $((t * 2))); do "$@" && return 0; sleep 0.5; done
  return 1
}

wait_for() { # SECONDS CMD...
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.5; done
}

record() { # NAME ok|FAIL
  RESULT[$1]=$2; [ "$2" = ok ] || FAIL=1; say "$(printf '%-5s' "$2") $1"
}

par_pings() { # SECONDS
  local n ns d r jobs=()
  rm -f "$DIR"/res.*
  while read -r n ns d; do
    ( wait_for "$1" lab_ping_ok "$ns" "$d"; echo $? > "$DIR/res.$n" ) &
    jobs+=($!)
  done < "$DIR/pings"
  wait "${jobs[@]}" # these only: a bare `wait` would wait for the lab's daemons too
  while read -r n ns d; do
    r=$([ "$(cat "$DIR/res.$n" 2>/dev/null)" = 0 ] && echo ok || echo FAIL)
    record "$n" "$r"
  done < "$DIR/pings"
}
lab_ping_ok() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; } # NS DEST

lab_results() { # [WIDTH]
  local w=${1:-28} k
  printf "%-${w}s %s\n" CHECK RESULT
  for k in "${!RESULT[@]}"; do printf "%-${w}s %s\n" "$k" "${RESULT[$k]}"; done | sort
}

# Command -> Debian package that provides it.
declare -A LAB_PKG=(
  [ip]=iproute2 [bridge]=iproute2 [ping]=iputils-ping [jq]=jq [bc]=bc [vtysh]=frr
  [/usr/lib/frr/bgpd]=frr [/usr/lib/frr/zebra]=frr [python3]=python3 [flock]=util-linux
  [sysctl]=procps [cargo]=rustup
)

# Exits 2 when a tool is missing, naming the packages and the one command that installs them.
lab_need_tools() { # [EXTRA-COMMAND...]
  local t missing=() pkgs=()
  for t in ip bridge ping jq bc vtysh /usr/lib/frr/bgpd /usr/lib/frr/zebra python3 "$@"; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  for t in "${missing[@]}"; do pkgs+=("${LAB_PKG[$t]:-$t}"); done
  pkgs=($(printf '%s\n' "${pkgs[@]}" | sort -u))
  echo "$LAB: missing ${missing[*]}" >&2
  echo "$LAB: install them with:  apt-get install -y ${pkgs[*]}" >&2
  exit 2
}

lab_has_vrf() {
  local probe="lbvrf$$"
  ip link add "$probe" type vrf table 4242 2>/dev/null || return 1
  ip link del "$probe"
}

# The binary: $PEROUTER_BIN (or $PEROUTER), else the release build, else the debug build, else
# build the release binary. Says which one and how old it is.
lab_find_perouter() {
  PEROUTER=${PEROUTER_BIN:-${PEROUTER:-}}
  if [ -z "$PEROUTER" ]; then
    if [ -x "$LAB_ROOT/target/release/perouter" ]; then PEROUTER=$LAB_ROOT/target/release/perouter
    elif [ -x "$LAB_ROOT/target/debug/perouter" ]; then PEROUTER=$LAB_ROOT/target/debug/perouter
    else
      command -v cargo >/dev/null || { echo "$LAB: no perouter binary and no cargo (install rustup: https://rustup.rs)" >&2; exit 2; }
      say "building perouter (cargo build --release -p perouter-agent --bin perouter; ~5-10 min on 2 cores)"
      (cd "$LAB_ROOT" && cargo build --release -p perouter-agent --bin perouter) || { echo "$LAB: build failed" >&2; exit 2; }
      PEROUTER=$LAB_ROOT/target/release/perouter
    fi
  fi
  [ -x "$PEROUTER" ] || { echo "$LAB: $PEROUTER is not an executable" >&2; exit 2; }
  say "perouter binary: $PEROUTER (built $(date -r "$PEROUTER" '+%F %T'))"
}

# Runs CMD with no open descriptor but stdin, stdout and stderr. Daemons a lab leaves running
# (the demo, KEEP=1) must not inherit the descriptor of `flock /tmp/perouter-lab.lock`, or the
# shared lock stays held by them after the lab command ended and every other lab waits.
# It execs CMD: call it in the background (`lab_nofds CMD &`, then $! is CMD's pid) or in a subshell.
lab_nofds() { # CMD...
  local fd
  for fd in $(ls /proc/$BASHPID/fd); do
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
  done
  exec "$@"
}

lab_start_frr() { # NAME NS DIR [DAEMON...]: DIR holds frr.conf; the daemons (default: zebra bgpd;
  # add bfdd for BFD) write their pid files there
  local name=$1 ns=$2 dir=$3 d extra daemons
  shift 3
  daemons=("$@"); [ ${#daemons[@]} -eq 0 ] && daemons=(zebra bgpd)
  mkdir -p "$dir"; chown -R frr:frr "$dir"
  for d in "${daemons[@]}"; do
    extra=()
    [ "$d" = bfdd ] && extra=(--bfdctl "$dir/bfdd.sock")
    (lab_nofds ip netns exec "$ns" /usr/lib/frr/"$d" -d -N "$name" -f "$dir/frr.conf" -i "$dir/$d.pid" \
      -z "$dir/zserv.api" --vty_socket "$dir" "${extra[@]}" >"$dir/$d.out" 2>&1)
  done
}

lab_nogr_passthrough_frr() { # DIR: DIR/tor/frr.conf and DIR/hostfrr/frr.conf of the upgrade labs'
  # passthrough node: an FRR ToR (AS 64512, 10.100.0.0/24) and an FRR host speaker (AS 64517,
  # 10.200.0.1/32), timers 3/9 and NO graceful restart, so a closed session withdraws our routes at once.
  mkdir -p "$1/tor" "$1/hostfrr"
  cat > "$1/tor/frr.conf" <<CONF
hostname tor
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart-disable
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 address-family ipv4 unicast
  network 10.100.0.0/24
  neighbor 192.168.11.3 activate
 exit-address-family
CONF
  cat > "$1/hostfrr/frr.conf" <<CONF
hostname hostspeaker
router bgp 64517
 bgp router-id 10.200.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart-disable
 neighbor 192.169.100.1 remote-as 64514
 neighbor 192.169.100.1 timers 3 9
 address-family ipv4 unicast
  network 10.200.0.1/32
  neighbor 192.169.100.1 activate
 exit-address-family
CONF
}

lab_vty() { vtysh --vty_socket "$1" -c "$2" 2>/dev/null; }

# The node's underlay as an OpenPERouter static file, written to a temporary name and renamed, so
# a perouter polling the directory never reads half a file.
lab_underlay() { # CFG-DIR IFACES NEIGHBOUR...
  local dir=$1/configs ifaces=$2 i n
  shift 2
  mkdir -p "$dir"
  {
    echo "underlays:"
    echo "  - asn: 64514"
    echo "    interfaces:"
    for i in ${ifaces//,/ }; do
      echo "      - {type: NetworkDevice, networkDevice: {interfaceName: $i}}"
    done
    echo "    neighbors:"
    for n in "$@"; do echo "      - $n"; done
    echo "    tunnelEndpoint: {cidrs: [100.65.0.0/24]}"
  } > "$dir/openpe_underlay.yaml.tmp"
  mv "$dir/openpe_underlay.yaml.tmp" "$dir/openpe_underlay.yaml"
}

lab_kill_pidfiles() { # DIR...: the FRR daemons started with lab_start_frr under DIR/*/
  local d f
  for d in "$@"; do
    for f in "$d"/*/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  done
  return 0
}

# JSON on stdin passes the jq test (`jq -e ARGS`): false on empty input too, which jq 1.6
# would call true (a daemon that does not answer must fail a check, not pass it).
lab_json_true() { # JQ-ARGS...
  local in
  in=$(cat)
  [ -n "$in" ] || return 1
  printf '%s' "$in" | jq -e "$@" >/dev/null 2>&1
}

lab_log_tail() { # LOG [LINES]
  [ -f "$1" ] || return 0
  echo "--- perouter log (tail of $1)"
  tail -n "${2:-60}" "$1" | sed 's/\x1b\[[0-9;]*m//g'
}

pr_session_up() { # SOCK ADDR
  local st
  st=$("$PEROUTER" show bgp summary --api-socket "$1" -o json 2>/dev/null | \
    jq -r --arg a "$2" '.peers[] | select(.neighbor == $a) | .state' 2>/dev/null | head -1)
  [ "$st" = Established ]
}

lab_cleanup() { # EXIT trap of a lab: kills PIDS and the FRR daemons under DIR, deletes the namespaces
  # in NSS and DIR; shows perouter's log when the script failed outside a check; KEEP=1 leaves it up.
  local rc=$?
  [ $rc -ne 0 ] && [ "$FAIL" -eq 0 ] && lab_log_tail "$DIR/perouter.log" 60
  if [ -n "${KEEP:-}" ]; then
    echo "KEEP=1: lab left up: namespaces $NSS, perouter --api-socket $DIR/api.sock, logs in $DIR"
    return
  fi
  local p n
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  lab_kill_pidfiles "$DIR"
  sleep 0.5
  for n in $NSS; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$DIR"
}
