#!/usr/bin/env bash
# Propagation bench (issue 16): for each DUT, a namespace lab, the DUT pinned to core 1, the
# harness (target/*/perouter-bench) pinned to core 0, one blaster session in and one sink
# session out; prints one JSON line per run and a table of medians. See interop/bench/README.md.
#
#   flock /tmp/perouter-lab.lock interop/bench/run.sh              # 100k IPv4, every DUT, 1 run
#   ROUTES=1000000 SETS=real REPEAT=3 DUTS="perouter bird frr" flock /tmp/perouter-lab.lock interop/bench/run.sh
#   FAMILY=evpn DUTS="perouter frr" ... interop/bench/run.sh
#   ROUTES=100000 DUTS="perouter bird frr" interop/bench/run.sh --smoke   # CI: fails unless every
#                                                                           # route reached the sink
# Options (environment):
#   ROUTES  routes in the table (default 100000)
#   FAMILY  ipv4 | evpn (default ipv4; EVPN type-5 only for perouter and FRR)
#   SETS    distinct attribute sets: a number, or `real` (about 2.6 routes per set); default 1
#   DUTS    among: perouter bird bird-fib frr frr-zebra (default: all of them)
#   REPEAT  runs per DUT; the table shows medians (default 1)
#   PEROUTER_BIN / BENCH_BIN  binaries (default target/release, else target/debug, else built)
#   KEEP=1  keep the per-run logs and JSON in the work directory
#   PAUSE=N keep each lab up N seconds after its run, for inspection
#   BENCH_ARGS  extra perouter-bench flags for every run (e.g. "--prefix-len 32", "--timeout 60")
#   CHANGES=N after convergence, move N routes (spread over the table) to another next hop one
#             at a time and time each until the DUT's kernel holds it (IPv4; DUTs with a FIB:
#             perouter, bird-fib, frr-zebra); column chg_med_ms
#   DUT_CPUS  cores the DUT runs on (default 1; e.g. 0,1 gives it both cores: its rows are then
#             labelled DUT@0,1 and share core 0 with the harness)
#
# DUTs (eBGP everywhere, no policy, advertisement interval 0, hold 90 s, logging quiet):
#   perouter   `perouter run` from OpenPERouter static files, the harness as two underlay
#              (fabric) neighbours on toswitch1; it always installs IPv4 routes in the kernel
#   bird       BIRD 2 without a kernel protocol (no FIB)
#   bird-fib   BIRD 2 with a kernel protocol exporting every route to kernel table 100
#   frr        FRR bgpd alone (-Z: no zebra, no FIB)
#   frr-zebra  FRR bgpd + zebra, installing the routes in the kernel
set -u
LAB=bench
. "$(dirname "$0")/../frr-lab/lib.sh"
ROOT=$LAB_ROOT
ROUTES=${ROUTES:-100000}
FAMILY=${FAMILY:-ipv4}
SETS=${SETS:-1}
REPEAT=${REPEAT:-1}
DUT_CPUS=${DUT_CPUS:-1}
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
if [ "$FAMILY" = evpn ]; then DEFAULT_DUTS="perouter frr"; else DEFAULT_DUTS="perouter bird bird-fib frr frr-zebra"; fi
DUTS=${DUTS:-$DEFAULT_DUTS}
TAG=bn$$
DIR=$(mktemp -d /tmp/perouter-bench.XXXXXX)
chmod 755 "$DIR"
GEN=${TAG}g; HOST=${TAG}h; PE=${TAG}p; DUTNS=${TAG}d
DUT_PIDS=()

LAB_PKG[bird]=bird2; LAB_PKG[taskset]=util-linux; LAB_PKG[pgrep]=procps
if [[ " $DUTS " == *" bird"* ]]; then lab_need_tools taskset pgrep bird; else lab_need_tools taskset pgrep; fi
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 cores (DUT on core 1, harness on core 0)" >&2; exit 2; }

teardown() { # the current DUT and its namespaces
  local p
  for p in "${DUT_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${DUT_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  DUT_PIDS=()
  # Big kernel tables go with their namespace.
  for n in $GEN $HOST $PE $DUTNS; do ip netns del "$n" 2>/dev/null; done
  # FRR's -N makes a directory named after the instance.
  rm -rf "/var/run/frr/$TAG"
  return 0
}
cleanup() {
  teardown
  if [ -n "${KEEP:-}" ]; then echo "bench: logs and JSON kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab_find_perouter
BENCH=${BENCH_BIN:-}
if [ -z "$BENCH" ]; then
  if [ -x "$ROOT/target/release/perouter-bench" ]; then BENCH=$ROOT/target/release/perouter-bench
  elif [ -x "$ROOT/target/debug/perouter-bench" ]; then BENCH=$ROOT/target/debug/perouter-bench
  else
    say "building the harness (cargo build --release -p perouter-bench)"
    (cd "$ROOT" && cargo build --release -p perouter-bench) || exit 2
    BENCH=$ROOT/target/release/perouter-bench
  fi
fi
say "harness: $BENCH (built $(date -r "$BENCH" '+%F %T'))"

# The harness' namespace: the blaster 192.168.11.2 (AS 64512) and the sink 192.168.11.4
# (AS 64513) on one link to the DUT at 192.168.11.3 (AS 64514). DUT_IF lands in namespace $1.
lab_link() { # DUT-NAMESPACE DUT-IFNAME
  ip netns add $GEN; ip -n $GEN link set lo up
  ip link add eth0 netns $GEN type veth peer name "$2" netns "$1"
  ip -n $GEN addr add 192.168.11.2/24 dev eth0
  ip -n $GEN addr add 192.168.11.4/24 dev eth0
  ip -n $GEN link set eth0 up
  ip -n "$1" addr add 192.168.11.3/24 dev "$2"
  ip -n "$1" link set "$2" up
}

start_perouter() {
  ip netns add $HOST; ip -n $HOST link set lo up
  lab_link $HOST toswitch1
  lab_underlay "$DIR/cfg" toswitch1 \
    "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 90, keepaliveTimeSeconds: 30}" \
    "{asn: 64513, address: 192.168.11.4, holdTimeSeconds: 90, keepaliveTimeSeconds: 30}"
  echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
  RUST_LOG=warn lab_nofds taskset -c "$DUT_CPUS" "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE \
    --host-netns $HOST --api-socket "$DIR/api.sock" --config-poll 30 \
    --metrics-addr "127.0.0.1:$((30000 + $$ % 20000))" >"$DIR/perouter.log" 2>&1 &
  DUT_PIDS=($!)
}

start_bird() { # fib: with a kernel protocol into table 100
  ip netns add $DUTNS; ip -n $DUTNS link set lo up
  lab_link $DUTNS eth0
  local kernel=""
  [ "${1:-}" = fib ] && kernel="protocol kernel { kernel table 100; ipv4 { export all; import none; }; }"
  cat > "$DIR/bird.conf" <<CONF
log "$DIR/bird.log" { error, fatal };
router id 192.168.11.3;
protocol device { }
$kernel
template bgp dut {
  local 192.168.11.3 as 64514;
  hold time 90;
  ipv4 { import all; export all; };
}
protocol bgp blaster from dut { neighbor 192.168.11.2 as 64512; }
protocol bgp sink from dut { neighbor 192.168.11.4 as 64513; }
CONF
  (lab_nofds taskset -c "$DUT_CPUS" ip netns exec $DUTNS bird -c "$DIR/bird.conf" -s "$DIR/bird.ctl" -P "$DIR/bird.pid")
  wait_until 10 test -s "$DIR/bird.pid" || { say "BIRD did not start"; return 1; }
  DUT_PIDS=($(cat "$DIR/bird.pid"))
}

start_frr() { # zebra: bgpd + zebra installing routes; else bgpd -Z alone
  ip netns add $DUTNS; ip -n $DUTNS link set lo up
  lab_link $DUTNS eth0
  local d=$DIR/frr evpn=""
  mkdir -p "$d"
  [ "$FAMILY" = evpn ] && evpn=" address-family l2vpn evpn
  neighbor 192.168.11.2 activate
  neighbor 192.168.11.4 activate
 exit-address-family"
  cat > "$d/frr.conf" <<CONF
hostname dut
no log unique-id
log syslog critical
router bgp 64514
 bgp router-id 192.168.11.3
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 neighbor 192.168.11.2 remote-as 64512
 neighbor 192.168.11.4 remote-as 64513
 neighbor 192.168.11.2 timers 30 90
 neighbor 192.168.11.4 timers 30 90
 neighbor 192.168.11.2 advertisement-interval 0
 neighbor 192.168.11.4 advertisement-interval 0
 address-family ipv4 unicast
  neighbor 192.168.11.2 activate
  neighbor 192.168.11.4 activate
 exit-address-family
$evpn
CONF
  chown -R frr:frr "$d"
  local name=$TAG
  if [ "${1:-}" = zebra ]; then
    (lab_nofds taskset -c "$DUT_CPUS" ip netns exec $DUTNS /usr/lib/frr/zebra -d -N "$name" -f "$d/frr.conf" \
      -i "$d/zebra.pid" -z "$d/zserv.api" --vty_socket "$d" >"$d/zebra.out" 2>&1)
    wait_until 10 test -s "$d/zebra.pid" || { say "zebra did not start"; return 1; }
    (lab_nofds taskset -c "$DUT_CPUS" ip netns exec $DUTNS /usr/lib/frr/bgpd -d -N "$name" -f "$d/frr.conf" \
      -i "$d/bgpd.pid" -z "$d/zserv.api" --vty_socket "$d" >"$d/bgpd.out" 2>&1)
    wait_until 10 test -s "$d/bgpd.pid" || { say "bgpd did not start"; return 1; }
    DUT_PIDS=($(cat "$d/bgpd.pid") $(cat "$d/zebra.pid"))
  else
    (lab_nofds taskset -c "$DUT_CPUS" ip netns exec $DUTNS /usr/lib/frr/bgpd -d -Z -N "$name" -f "$d/frr.conf" \
      -i "$d/bgpd.pid" --vty_socket "$d" >"$d/bgpd.out" 2>&1)
    wait_until 10 test -s "$d/bgpd.pid" || { say "bgpd did not start"; return 1; }
    DUT_PIDS=($(cat "$d/bgpd.pid"))
  fi
}

# Calibration: no DUT, blaster into sink over loopback, harness on core 0.
run_calibration() {
  taskset -c 0 "$BENCH" --no-dut --family "$FAMILY" --routes "$ROUTES" --sets "$SETS" ${BENCH_ARGS:-} \
    > "$DIR/none.$1.json" 2> "$DIR/none.$1.log"
}

# Routes of the table (16.0.0.0/4) in an `ip route show` listing on stdin.
fib_count() { awk '{ split($1, a, "."); if (a[1] >= 16 && a[1] < 32) n++ } END { print n + 0 }'; }

run_dut() { # DUT REP
  local dut=$1 rep=$2 rc=0 label=$1
  [ "$DUT_CPUS" = 1 ] || label="$dut@$DUT_CPUS"
  case $dut in
    perouter) start_perouter ;;
    bird) start_bird ;;
    bird-fib) start_bird fib ;;
    frr) start_frr ;;
    frr-zebra) start_frr zebra ;;
    *) echo "bench: unknown DUT $dut" >&2; return 2 ;;
  esac || { teardown; return 1; }
  # IPv4 DUTs with a FIB: the harness times t0 -> every route in the kernel table (kernel_s,
  # counted from fib_triestat), and the DUT's CPU and memory are read after that, so a run
  # whose DUT paused (a loaded machine) is not measured before its kernel work is done.
  local changes=() kns="" ktable=""
  if [ "$FAMILY" = ipv4 ]; then
    case $dut in
      perouter) kns=$PE; ktable=254 ;;
      bird-fib) kns=$DUTNS; ktable=100 ;;
      frr-zebra) kns=$DUTNS; ktable=254 ;;
    esac
  fi
  if [ -n "$kns" ]; then
    changes=(--kernel-netns "$kns" --kernel-table "$ktable")
    [ -n "${CHANGES:-}" ] && changes+=(--changes "$CHANGES")
  fi
  taskset -c 0 ip netns exec $GEN "$BENCH" --family "$FAMILY" --routes "$ROUTES" --sets "$SETS" \
    --label "$label" --dut-pid "$(IFS=,; echo "${DUT_PIDS[*]}")" "${changes[@]}" ${BENCH_ARGS:-} \
    > "$DIR/$dut.$rep.json" 2> "$DIR/$dut.$rep.log" || rc=$?
  tail -n 1 "$DIR/$dut.$rep.log" | sed "s/^/[$LAB] /"
  # After the run (the DUT's CPU went quiet): how many of the table's routes the kernel holds.
  local fib=null
  case $dut in
    perouter) [ "$FAMILY" = ipv4 ] && fib=$(ip -n $PE -4 route show | fib_count) ;;
    bird-fib) fib=$(ip -n $DUTNS -4 route show table 100 | fib_count) ;;
    frr-zebra) [ "$FAMILY" = ipv4 ] && fib=$(ip -n $DUTNS -4 route show | fib_count) ;;
  esac
  [ "$fib" = null ] || say "$dut: the kernel holds $fib of the $ROUTES routes after the run"
  jq -c --argjson fib "$fib" '. + {fib_routes: $fib}' "$DIR/$dut.$rep.json" > "$DIR/$dut.$rep.json.t" 2>/dev/null \
    && mv "$DIR/$dut.$rep.json.t" "$DIR/$dut.$rep.json"
  # Every DUT process (and child) pinned to DUT_CPUS: daemons inherit the affinity through forks.
  local p
  for p in "${DUT_PIDS[@]}" $(for p in "${DUT_PIDS[@]}"; do pgrep -P "$p"; done); do
    [ "$(taskset -pc "$p" 2>/dev/null | awk '{print $NF}')" = "$DUT_CPUS" ] || say "warning: $dut pid $p is not pinned to cores $DUT_CPUS"
  done
  if [ $rc -ne 0 ]; then
    say "$dut run $rep failed (exit $rc):"; sed 's/^/    /' "$DIR/$dut.$rep.log" | tail -n 15
    [ "$dut" = perouter ] && lab_log_tail "$DIR/perouter.log" 30
  fi
  if [ -n "${PAUSE:-}" ]; then
    say "PAUSE=$PAUSE: lab up for inspection (namespaces $GEN $HOST $PE $DUTNS, work directory $DIR)"
    sleep "$PAUSE"
  fi
  teardown
  return $rc
}

# The kernel's own pace, as a reference for kernel_s: ROUTES /24s through one nexthop object
# (`nhid`) into a fresh namespace with `ip -batch` (iproute2: one request and acknowledgement at
# a time), pinned to the DUT's cores. Issue 16's target: a DUT's kernel_s within 1.2x of this.
kernel_reference() {
  local ns=${TAG}k f=$DIR/ref.batch t0 t1
  ip netns add $ns
  # A veth pair (this host's kernel has no dummy driver): d0 has carrier once d1 is up.
  ip -n $ns link add d0 type veth peer name d1
  ip -n $ns addr add 192.168.11.3/24 dev d0
  ip -n $ns link set d1 up
  ip -n $ns link set d0 up
  ip -n $ns nexthop add id 1 via 192.168.11.2 dev d0
  awk -v n="$ROUTES" 'BEGIN { for (i = 0; i < n; i++) printf "route add %d.%d.%d.0/24 nhid 1 proto bgp metric 20\n", 16 + int(i / 65536), int(i / 256) % 256, i % 256 }' > "$f"
  t0=$(date +%s.%N)
  taskset -c "$DUT_CPUS" ip -n $ns -batch "$f" || { ip netns del $ns; return 1; }
  t1=$(date +%s.%N)
  local n
  n=$(ip -n $ns -4 route show | grep -c nhid)
  ip netns del $ns
  rm -f "$f"
  [ "$n" -eq "$ROUTES" ] || { say "kernel reference: $n of $ROUTES routes installed"; return 1; }
  printf "%.3f\n" "$(echo "$t1 - $t0" | bc)"
}

FAILED=()
T_START=$(date +%s)
KREF=""
if [ "$FAMILY" = ipv4 ] && [ "${KERNEL_REF:-1}" = 1 ] && [[ " $DUTS " =~ \ (perouter|bird-fib|frr-zebra)\  ]]; then
  KREF=$(kernel_reference) || KREF=""
  [ -n "$KREF" ] && say "kernel reference: $ROUTES routes via one nexthop object with ip -batch in $KREF s"
fi
say "ROUTES=$ROUTES FAMILY=$FAMILY SETS=$SETS REPEAT=$REPEAT DUTS=\"$DUTS\"; perouter: $PEROUTER"
for rep in $(seq "$REPEAT"); do
  run_calibration "$rep" || FAILED+=("none#$rep")
  tail -n 1 "$DIR/none.$rep.log" | sed "s/^/[$LAB] /"
done
for dut in $DUTS; do
  if [ "$FAMILY" = evpn ] && [[ $dut == bird* ]]; then say "skipping $dut: no EVPN in BIRD 2"; continue; fi
  for rep in $(seq "$REPEAT"); do
    run_dut "$dut" "$rep" || FAILED+=("$dut#$rep")
  done
done

# Tab-separated lines as left-aligned columns two spaces apart (`column -t`, which is not in a
# bare Debian).
align() {
  awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n[NR] = NF }
    END { for (r = 1; r <= NR; r++) { line = ""
      for (i = 1; i <= n[r]; i++) line = line (i < n[r] ? sprintf("%-" w[i] + 2 "s", c[r, i]) : c[r, i])
      print line } }'
}

# The table: medians over the runs of each DUT.
echo
cat "$DIR"/*.json > "$DIR/all.jsonl"
[ -n "${KEEP:-}" ] && say "every run's JSON: $DIR/all.jsonl"
printf '%s\n' "routes=$ROUTES family=$FAMILY sets=$SETS repeat=$REPEAT (medians); load $(cut -d" " -f1-3 /proc/loadavg); $(date -u +%F) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); $(basename "$PEROUTER") from ${PEROUTER#$ROOT/}"
jq -rs '
  def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
  def f(d): if . == null then "-" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
  ["DUT", "runs", "complete", "conv_s", "routes/s", "lat_med_s", "lat_p99_s", "kernel_s", "mem_MB", "B/route", "cpu_s", "fib", "chg_med_ms"],
  (group_by(.dut) | sort_by(if .[0].dut == "none" then 0 else 1 end)[] |
    [ .[0].dut, (length | tostring),
      ((map(select(.complete)) | length | tostring) + "/" + (length | tostring)),
      (map(.convergence_s) | med | f(3)),
      (map(.routes_per_s) | med | round | tostring),
      (map(.latency.median_s) | med | f(3)),
      (map(.latency.p99_s) | med | f(3)),
      (map(.kernel_s // empty) | med | f(3)),
      (if .[0].dut == "none" then "-" else (map(.mem_delta) | med / 1e6 | f(1)) end),
      (if .[0].dut == "none" then "-" else (map(.bytes_per_route) | med | round | tostring) end),
      (if .[0].dut == "none" then "-" else (map(.cpu_s) | med | f(2)) end),
      (map(.fib_routes // empty) | med | if . == null then "-" else tostring end),
      (map(.changes.median_ms // empty) | med | f(2)) ])
  | @tsv' "$DIR/all.jsonl" | align
if [ -n "$KREF" ]; then
  echo "kernel reference (ip -batch, one nexthop object, same run): $KREF s"
  jq -rs --argjson ref "$KREF" '
    group_by(.dut)[] | select(.[0].dut != "none") | [.[0].dut, (map(.kernel_s // empty) | sort)] as [$d, $k]
    | select($k | length > 0) | "  \($d): kernel_s / reference = \(($k[(($k | length) - 1) / 2 | floor] / $ref * 100 | round) / 100)"' "$DIR/all.jsonl"
fi
# The calibration must stay under 10% of every DUT's convergence.
jq -rs '
  (map(select(.dut == "none") | .convergence_s) | sort | .[(length - 1) / 2 | floor]) as $cal
  | map(select(.dut != "none" and .complete))
  | map(select(.convergence_s < 10 * $cal)) | .[] | "calibration \($cal) s is not under 10% of \(.dut)'"'"'s \(.convergence_s) s"' \
  "$DIR/all.jsonl"
echo "took $(( $(date +%s) - T_START )) s"
if [ ${#FAILED[@]} -ne 0 ]; then
  echo "bench: FAILED (not every route reached the sink, or the run broke): ${FAILED[*]}"
  exit 1
fi
[ $SMOKE -eq 1 ] && echo "bench smoke: every route reached the sink for every DUT ($DUTS)"
exit 0
