#!/usr/bin/env bash
# The perouter demo: a living lab in network namespaces on this machine.
#
#   sudo interop/frr-lab/demo.sh up        # build what is missing, start, wait until converged
#   sudo interop/frr-lab/demo.sh check     # assert what the demo promises (exit 1 on any failure)
#   sudo interop/frr-lab/demo.sh status    # what is up
#   sudo interop/frr-lab/demo.sh down      # remove every namespace and process `up` started
#   sudo interop/frr-lab/demo.sh up --guest   # the whole demo, L3VNI included, in a virtme-ng
#                                             # guest whose kernel has VRF: up + check, then a
#                                             # shell in the guest (on a terminal), then down
#
# Topology: demo-topology.txt (one line per node, link, address; topology.clab.yml describes the
# same lab for containerlab). An FRR spine (AS 64512) is the nodes' ToR; an FRR leaf (AS 64520,
# VTEP 100.64.0.1) is a remote PE with servers behind it; two Kubernetes nodes (nodea, nodeb) each
# run `perouter run` from OpenPERouter static files (AS 64514, VTEPs 100.65.0.0 and 100.65.0.1),
# an FRR host speaker standing in for MetalLB/Calico (AS 64517 for passthrough, 64515 for VRF red),
# and a pod on the stretched L2 segment (L2VNI 110). Where the kernel has VRF devices, L3VNI red
# (VNI 100) carries the nodes' service IPs as EVPN type-5 routes to the leaf's VRF red and back.
#
# State (configs, logs, pids, the list of namespaces) lives in $PEROUTER_DEMO_DIR
# (/tmp/perouter-demo); `down` removes exactly what is listed there. Run lab commands under the
# shared lock when other labs may run: flock /tmp/perouter-lab.lock interop/frr-lab/demo.sh up
# PEROUTER_BIN=path uses that binary (CI reuses target/debug/perouter).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=demo
. "$HERE/lib.sh"
S=${PEROUTER_DEMO_DIR:-/tmp/perouter-demo}
TOPO=$HERE/demo-topology.txt
P=demo-                       # namespace prefix
LEAF_RMAC=aa:bb:cc:00:00:65   # the leaf's router MAC for L3VNI 100
L2VNI=110

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

# --- the topology file -------------------------------------------------------------------------
# topo_lines KIND: the lines of that kind that apply here (with VRF: all; without: not "vrf" ones).
topo_lines() {
  local want=$1 kind rest
  while read -r kind rest; do
    [ "$kind" = "$want" ] || continue
    case " $rest " in *" vrf "*) [ "$(cat "$S/vrf" 2>/dev/null)" = 1 ] || continue ;; esac
    echo "${rest% vrf}"
  done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOPO")
}
nodes_of() { topo_lines node | awk -v k="$1" '$2 == k { print $1 }'; }

# --- state -------------------------------------------------------------------------------------
track_ns() { echo "$1" >> "$S/netns"; }
track_pid() { echo "$1 $2" >> "$S/pids"; }   # PID WHAT
vrf_mode() { [ "$(cat "$S/vrf" 2>/dev/null)" = 1 ]; }
sock() { echo "$S/$1/api.sock"; }
prlog() { echo "$S/$1/perouter.log"; }
node_index() { case $1 in nodea) echo 0 ;; nodeb) echo 1 ;; esac; }
svc_ip() { echo "10.200.0.$(($(node_index "$1") + 1))"; }
red_ip() { echo "10.250.0.$(($(node_index "$1") + 1))"; }

fail_logs() {
  local n
  for n in $(nodes_of perouter); do lab_log_tail "$(prlog "$n")" 40; done
}

# --- up ----------------------------------------------------------------------------------------
build_topology() {
  local n kind a b ifa ifb nsa nsb br ports cidr
  while read -r n kind; do
    ip netns add "$P$n"; track_ns "$P$n"
    ip -n "$P$n" link set lo up
  done < <(topo_lines node)
  while read -r a b; do
    nsa=$P${a%%:*}; ifa=${a#*:}; nsb=$P${b%%:*}; ifb=${b#*:}
    ip link add "$ifa" netns "$nsa" type veth peer name "$ifb" netns "$nsb"
  done < <(topo_lines link)
  while read -r br ports; do
    ip -n "$P${br%%:*}" link add "${br#*:}" type bridge
    for p in $ports; do ip -n "$P${br%%:*}" link set "$p" master "${br#*:}"; done
  done < <(topo_lines bridge)
  while read -r a cidr; do
    ip -n "$P${a%%:*}" addr add "$cidr" dev "${a#*:}"
  done < <(topo_lines addr)
  for n in $(topo_lines node | awk '{print $1}'); do
    for l in $(ip -n "$P$n" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip -n "$P$n" link set "$l" up
    done
  done
  for n in spine leaf; do ip netns exec "$P$n" sysctl -qw net.ipv4.ip_forward=1; done
}

build_leaf_vnis() {
  local L=${P}leaf
  # L2VNI 110: a bridge with the VXLAN device and the port towards hostl2 (no VRF needed).
  ip -n $L link add br$L2VNI type bridge
  ip -n $L link add vxlan$L2VNI type vxlan id $L2VNI dstport 4789 local 100.64.0.1 nolearning
  ip -n $L link set vxlan$L2VNI master br$L2VNI addrgenmode none
  ip -n $L link set vxlan$L2VNI type bridge_slave learning off
  ip -n $L link set swp2 master br$L2VNI
  ip -n $L link set br$L2VNI up; ip -n $L link set vxlan$L2VNI up
  vrf_mode || return 0
  # L3VNI 100 in VRF red, as upstream's lab builds it; hostred behind swp3.
  ip -n $L link add red type vrf table 1100
  ip -n $L link set red up
  ip -n $L link add br100 type bridge
  ip -n $L link set br100 master red address $LEAF_RMAC addrgenmode none
  ip -n $L link add vxlan100 type vxlan id 100 dstport 4789 local 100.64.0.1 nolearning
  ip -n $L link set vxlan100 master br100 addrgenmode none
  ip -n $L link set vxlan100 type bridge_slave neigh_suppress on learning off
  ip -n $L link set br100 up; ip -n $L link set vxlan100 up
  ip -n $L link set swp3 master red
  ip -n ${P}hostred route add default via 192.168.20.1
}

write_frr_configs() {
  mkdir -p "$S/spine" "$S/leaf"
  cat > "$S/spine/frr.conf" <<CONF
hostname spine
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor nodes peer-group
 neighbor nodes remote-as 64514
 neighbor nodes timers 3 9
 bgp listen range 192.168.11.0/24 peer-group nodes
 neighbor 192.168.1.2 remote-as 64520
 neighbor 192.168.1.2 timers 3 9
 address-family ipv4 unicast
  neighbor nodes activate
  neighbor 192.168.1.2 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor nodes activate
  neighbor nodes attribute-unchanged next-hop
  neighbor 192.168.1.2 activate
  neighbor 192.168.1.2 attribute-unchanged next-hop
 exit-address-family
CONF
  local vrfblock="" vrfhead=""
  if vrf_mode; then
    vrfhead=$'vrf red\n vni 100\nexit-vrf'
    vrfblock="router bgp 64520 vrf red
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
 address-family l2vpn evpn
  advertise ipv4 unicast
 exit-address-family"
  fi
  cat > "$S/leaf/frr.conf" <<CONF
hostname leaf
$vrfhead
router bgp 64520
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 192.168.1.1 remote-as 64512
 neighbor 192.168.1.1 timers 3 9
 address-family ipv4 unicast
  network 100.64.0.1/32
  network 10.100.0.0/24
  neighbor 192.168.1.1 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 192.168.1.1 activate
  advertise-all-vni
 exit-address-family
$vrfblock
CONF
}

# The host speaker of node N (FRR standing in for MetalLB/Calico): passthrough session with AS
# 64517 announcing the node's service IP; with VRF, a session in VRF red as AS 64515 announcing
# the red service IP.
write_host_speaker() { # NODE
  local n=$1 i svc red pt_peer=192.169.100.1 red_peer=192.169.10.1
  i=$(node_index "$n"); svc=$(svc_ip "$n"); red=$(red_ip "$n")
  mkdir -p "$S/$n/hostfrr"
  {
    echo "hostname $n-speaker"
    echo "ip prefix-list passthrough seq 5 permit $svc/32"
    vrf_mode && echo "ip prefix-list red seq 5 permit $red/32"
    echo "router bgp 64517"
    echo " bgp router-id $svc"
    echo " no bgp ebgp-requires-policy"
    echo " no bgp default ipv4-unicast"
    echo " bgp graceful-restart"
    echo " neighbor $pt_peer remote-as 64514"
    echo " neighbor $pt_peer timers 3 9"
    if vrf_mode; then
      echo " neighbor $red_peer remote-as 64514"
      echo " neighbor $red_peer local-as 64515 no-prepend replace-as"
      echo " neighbor $red_peer timers 3 9"
    fi
    echo " address-family ipv4 unicast"
    echo "  network $svc/32"
    echo "  neighbor $pt_peer activate"
    echo "  neighbor $pt_peer prefix-list passthrough out"
    if vrf_mode; then
      echo "  network $red/32"
      echo "  neighbor $red_peer activate"
      echo "  neighbor $red_peer prefix-list red out"
    fi
    echo " exit-address-family"
  } > "$S/$n/hostfrr/frr.conf"
  : "$i"
}

# The node's configuration: OpenPERouter static files, the same on both nodes but the node index.
write_node_config() { # NODE
  local n=$1 c="$S/$1/cfg"
  mkdir -p "$c/configs"
  cat > "$c/configs/openpe_underlay.yaml" <<CONF
underlays:
  - asn: 64514
    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
    neighbors:
      - {asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
CONF
  cat > "$c/configs/openpe_l2vni.yaml" <<CONF
l2vnis:
  - name: layer2
    vni: $L2VNI
    hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}
CONF
  cat > "$c/configs/openpe_passthrough.yaml" <<CONF
bgppassthrough:
  hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: 192.169.100.0/24}}
CONF
  if vrf_mode; then
    cat > "$c/configs/openpe_l3vni.yaml" <<CONF
l3vnis:
  - name: red
    vrf: red
    vni: 100
    hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24}}
CONF
  fi
  printf 'nodeIndex: {index: %s}\nnodeName: %s\n' "$(node_index "$n")" "$n" > "$c/node-config.yaml"
}

start_perouter() { # NODE
  local n=$1
  RUST_LOG=${RUST_LOG:-info} lab_nofds setsid "$PEROUTER" run --config-dir "$S/$n/cfg" \
    --router-netns "$P$n-pe" --host-netns "$P$n" --api-socket "$(sock "$n")" --config-poll 1 \
    >>"$(prlog "$n")" 2>&1 < /dev/null &
  track_pid $! "perouter-$n"
  track_ns "$P$n-pe"
}

# A timed wait with visible progress: a line when it starts, one when it is done (or failed).
T0=$(date +%s.%N)
since() { printf '%.1f' "$(echo "$(date +%s.%N) - ${1:-$T0}" | bc)"; }
step_wait() { # SECONDS WHAT CMD...
  local t=$1 what=$2 t1; shift 2
  t1=$(date +%s.%N)
  say "waiting: $what ..."
  if wait_until "$t" "$@"; then say "  done:  $what ($(since "$t1") s)"; return 0; fi
  say "  TIMEOUT after ${t} s: $what"
  return 1
}

spine_established() { # ADDR
  lab_vty "$S/spine" "show bgp summary json" | \
    lab_json_true --arg a "$1" '[.ipv4Unicast.peers[$a].state, .l2VpnEvpn.peers[$a].state] | all(. == "Established")'
}
node_sessions_up() { # NODE
  local n=$1
  pr_session_up "$(sock "$n")" 192.168.11.2 || return 1
  pr_session_up "$(sock "$n")" "192.169.100.$(($(node_index "$n") + 2))" || return 1
  if vrf_mode; then pr_session_up "$(sock "$n")" "192.169.10.$(($(node_index "$n") + 2))" || return 1; fi
}
# The leaf has the type-3 (inclusive multicast) route of VTEP V for VNI 110.
leaf_has_type3() { # VTEP
  lab_vty "$S/leaf" "show bgp l2vpn evpn route type multicast json" | \
    lab_json_true --arg v "$1" '[.. | objects | select(has("paths")) | .paths[][] | select(.valid == true)
      | .nexthops[]?.ip] | index($v) != null'
}
node_has_type3() { # NODE VTEP: perouter's EVPN table has VTEP's type-3 for VNI 110
  "$PEROUTER" show bgp evpn --type 3 --vni $L2VNI --api-socket "$(sock "$1")" -o json 2>/dev/null | \
    lab_json_true --arg v "$2" '[.[] | select(.next_hop == $v)] | length > 0'
}
mac_of() { ip -n "$P$1" -j link show eth0 | jq -r '.[0].address'; }
leaf_has_type2() { # MAC VTEP: the leaf has a valid type-2 for MAC with next hop VTEP
  lab_vty "$S/leaf" "show bgp l2vpn evpn route type macip json" | \
    lab_json_true --arg m "[2]:[0]:[48]:[$1]" --arg v "$2" \
      '[.[] | objects | to_entries[] | select(.key == $m) | .value.paths[][] | select(.valid == true)
        | .nexthops[]?.ip] | index($v) != null'
}
node_has_type2() { # NODE MAC VTEP: perouter on NODE has a type-2 for MAC with next hop VTEP
  "$PEROUTER" show bgp evpn --type 2 --vni $L2VNI --api-socket "$(sock "$1")" -o json 2>/dev/null | \
    lab_json_true --arg m "[2]:[0]:[48]:[$2]" --arg v "$3" '[.[] | select(.prefix == $m and .next_hop == $v)] | length > 0'
}
node_advertises_only_local() { # NODE MAC...: none of the MACs (behind other VTEPs) is among NODE's own type-2
  local out
  out=$("$PEROUTER" show bgp evpn --type 2 --vni $L2VNI --api-socket "$(sock "$1")" -o json 2>/dev/null)
  [ -n "$out" ] || return 1
  shift
  local m
  for m in "$@"; do
    printf '%s' "$out" | lab_json_true --arg m "[2]:[0]:[48]:[$m]" '[.[] | select(.local == true and .prefix == $m)] | length == 0' || {
      say "  a remote MAC $m is advertised as local"; return 1; }
  done
}
node_mac_is() { # NODE MAC TYPE [VTEP]: `show evpn mac vni` on NODE lists MAC as TYPE (towards VTEP)
  "$PEROUTER" show evpn mac vni $L2VNI --api-socket "$(sock "$1")" -o json 2>/dev/null | \
    lab_json_true --arg m "$2" --arg t "$3" --arg v "${4:-}" \
      '[.[] | select(.mac == $m and .type == $t and ($v == "" or .vtep == $v))] | length == 1'
}
rd_filter_works() { # NODE: `show bgp evpn --rd RD` lists exactly the routes with that RD, each with its source
  local all rd want got
  all=$("$PEROUTER" show bgp evpn --api-socket "$(sock "$1")" -o json 2>/dev/null) || return 1
  rd=$(printf '%s' "$all" | jq -r '[.[] | select(.local == false)][0].rd // empty')
  [ -n "$rd" ] || return 1
  want=$(printf '%s' "$all" | jq --arg rd "$rd" '[.[] | select(.rd == $rd)] | length')
  got=$("$PEROUTER" show bgp evpn --rd "$rd" --api-socket "$(sock "$1")" -o json 2>/dev/null | \
    jq --arg rd "$rd" 'if all(.[]; .rd == $rd and .from != "local" and .from != "") then length else -1 end')
  [ "$want" -ge 1 ] && [ "$got" = "$want" ]
}
one_best_per_route() { # NODE: `show bgp evpn` lists every path; exactly one best per route
  "$PEROUTER" show bgp evpn --api-socket "$(sock "$1")" -o json 2>/dev/null | \
    lab_json_true 'length > 0 and ([group_by(.prefix + " " + .rd)[] | map(select(.best)) | length] | all(. == 1))'
}
both() { # CMD1... -- CMD2...: both succeed
  local a=()
  while [ "$1" != -- ]; do a+=("$1"); shift; done
  shift
  "${a[@]}" && "$@"
}
pod_ping() { ip netns exec "$P$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
pt_ping() { ip netns exec "$P$1" ping -c 1 -W 1 -I "$(svc_ip "$1")" 10.100.0.1 >/dev/null 2>&1; }
red_ping() { ip netns exec ${P}hostred ping -c 1 -W 1 "$1" >/dev/null 2>&1; }
leaf_has_type5() { # IP
  lab_vty "$S/leaf" "show bgp l2vpn evpn route type prefix json" | grep -q "\[$1\]"
}
host_has_route() { # NODE PREFIX: the host speaker of NODE installed PREFIX
  ip -n "$P$1" route show "$2" | grep -q via
}
has_link() { ip -n "$P$1" link show "$2" >/dev/null 2>&1; } # NODE IFNAME
attach_pod() { # NODE: the pod's veth joins the managed host bridge once perouter made it
  local n=$1
  ip -n "$P$n" link show br-hs-$L2VNI >/dev/null 2>&1 || return 1
  ip -n "$P$n" link set "pod${n#node}" master br-hs-$L2VNI && ip -n "$P$n" link set "pod${n#node}" up
}

up() {
  if [ -e "$S/netns" ]; then
    echo "demo: a demo is already up (state in $S); run '$0 status' or '$0 down' first" >&2
    exit 1
  fi
  lab_need_tools
  local vrf=0
  if lab_has_vrf; then vrf=1; fi
  lab_find_perouter
  mkdir -p "$S"; chmod 755 "$S"
  echo "$vrf" > "$S/vrf"
  echo "$PEROUTER" > "$S/binary"
  T0=$(date +%s.%N)
  if [ $vrf = 1 ]; then
    say "this kernel has VRF devices: the demo includes L3VNI red (type-5 routes)"
  else
    say "this kernel has no VRF devices (CONFIG_NET_VRF): L2VNI and passthrough only;"
    say "  '$0 up --guest' runs the whole demo, L3VNI included, in a virtme-ng guest"
  fi
  say "building the namespaces from $(basename "$TOPO")"
  build_topology
  build_leaf_vnis
  write_frr_configs
  lab_start_frr demo-spine ${P}spine "$S/spine"
  lab_start_frr demo-leaf ${P}leaf "$S/leaf"
  local n ok=0
  for n in $(nodes_of perouter); do
    write_node_config "$n"
    write_host_speaker "$n"
    start_perouter "$n"
  done
  say "started FRR spine and leaf, perouter on $(nodes_of perouter | xargs)"
  for n in $(nodes_of perouter); do
    step_wait 60 "perouter on $n built its router namespace and host veths" \
      has_link "$n" pt-host || ok=1
    lab_start_frr "demo-$n-speaker" "$P$n" "$S/$n/hostfrr"
    step_wait 60 "the pod of $n joins br-hs-$L2VNI" attach_pod "$n" || ok=1
  done
  for n in $(nodes_of perouter); do
    step_wait 90 "$n: sessions Established (perouter's view: spine, host speaker)" node_sessions_up "$n" || ok=1
  done
  for a in 192.168.11.3 192.168.11.4 192.168.1.2; do
    step_wait 60 "spine <-> $a Established" spine_established $a || ok=1
  done
  step_wait 60 "leaf has the type-3 routes of both nodes (VTEPs 100.65.0.0, 100.65.0.1)" \
    both leaf_has_type3 100.65.0.0 -- leaf_has_type3 100.65.0.1 || ok=1
  step_wait 60 "pods reach the host behind the leaf across VXLAN" \
    both pod_ping poda 192.170.1.20 -- pod_ping podb 192.170.1.20 || ok=1
  step_wait 60 "passthrough: each node's host reaches 10.100.0.1 behind the leaf" \
    both pt_ping nodea -- pt_ping nodeb || ok=1
  if vrf_mode; then
    step_wait 90 "hostred (VRF red behind the leaf) reaches both nodes' red service IPs (type-5)" \
      both red_ping 10.250.0.1 -- red_ping 10.250.0.2 || ok=1
  fi
  if [ $ok -ne 0 ]; then
    say "the demo did not converge (it stays up for inspection; '$0 down' removes it)"
    fail_logs
    exit 1
  fi
  say "converged in $(since) s after start"
  echo "$(since)" > "$S/converged"
  try
}

try() {
  local n
  cat <<EOF

The demo is up. Things to try (as root):

  # perouter's view, per node
EOF
  for n in $(nodes_of perouter); do
    echo "  $PEROUTER show bgp summary --api-socket $(sock "$n")"
  done
  cat <<EOF
  $PEROUTER show bgp evpn --api-socket $(sock nodea)      # type-2/3 of L2VNI $L2VNI$(vrf_mode && echo " and type-5 of VRF red")
  $PEROUTER show vni --api-socket $(sock nodea)
  $PEROUTER show evpn mac vni $L2VNI --api-socket $(sock nodea)   # pod A local, pod B and hostl2 remote
  $PEROUTER show bgp ipv4 unicast --api-socket $(sock nodea)     # underlay and passthrough routes
  $PEROUTER show status --api-socket $(sock nodeb)
$(vrf_mode && echo "  $PEROUTER show vrf red --api-socket $(sock nodea)
")
  # FRR's view: the leaf (remote PE) and the spine
  vtysh --vty_socket $S/leaf -c 'show bgp l2vpn evpn route'
  vtysh --vty_socket $S/leaf -c 'show evpn mac vni $L2VNI'
  vtysh --vty_socket $S/spine -c 'show bgp summary'
  vtysh --vty_socket $S/nodea/hostfrr -c 'show ip bgp'      # node A's host speaker

  # The stretched L2 segment (VXLAN $L2VNI): pod A, pod B, the host behind the leaf
  ip netns exec ${P}poda ping 192.170.1.11        # pod on nodea -> pod on nodeb
  ip netns exec ${P}poda ping 192.170.1.20        # pod on nodea -> hostl2 behind the leaf
  # Passthrough: the node's host -> a network behind the leaf, plain BGP through the fabric
  ip netns exec ${P}nodea ping -I 10.200.0.1 10.100.0.1
$(vrf_mode && echo "  # L3VNI red: the server behind the leaf -> node A's service IP, a type-5 route
  ip netns exec ${P}hostred ping 10.250.0.1")
  # What crosses the wire
  ip netns exec ${P}spine tcpdump -ni swp3 udp port 4789      # VXLAN between the nodes and the leaf

  perouter logs: $S/nodea/perouter.log, $S/nodeb/perouter.log
  $0 check    # assert all of the above;   $0 down    # remove the lab
EOF
}

# --- check -------------------------------------------------------------------------------------
check_cmd() {
  [ -e "$S/netns" ] || { echo "demo: not up ($S/netns missing); run '$0 up'" >&2; exit 1; }
  PEROUTER=$(cat "$S/binary")
  local n a
  for n in $(nodes_of perouter); do
    check "$n-sessions-perouter-view" wait_until 30 node_sessions_up "$n"
  done
  for a in 192.168.11.3 192.168.11.4 192.168.1.2; do
    check "spine-session-$a-frr-view" wait_until 30 spine_established $a
  done
  check pod-a-to-pod-b wait_until 20 pod_ping poda 192.170.1.11
  check pod-a-to-hostl2 wait_until 20 pod_ping poda 192.170.1.20
  check pod-b-to-hostl2 wait_until 20 pod_ping podb 192.170.1.20
  # The pings cross VXLAN: the leaf's vxlan110 counts them.
  local before after
  before=$(ip -n ${P}leaf -s -j link show vxlan$L2VNI | jq '.[0].stats64.rx.packets')
  ip netns exec ${P}poda ping -c 5 -i 0.2 -W 1 192.170.1.20 >/dev/null 2>&1
  after=$(ip -n ${P}leaf -s -j link show vxlan$L2VNI | jq '.[0].stats64.rx.packets')
  say "leaf vxlan$L2VNI rx packets: $before -> $after"
  check l2-ping-crosses-vxlan test $((after - before)) -ge 5
  local vnia_before vnia_after
  vnia_before=$(ip -n ${P}nodea-pe -s -j link show vni$L2VNI | jq '.[0].stats64.tx.packets')
  ip netns exec ${P}poda ping -c 5 -i 0.2 -W 1 192.170.1.11 >/dev/null 2>&1
  vnia_after=$(ip -n ${P}nodea-pe -s -j link show vni$L2VNI | jq '.[0].stats64.tx.packets')
  say "nodea vni$L2VNI tx packets (pod A -> pod B): $vnia_before -> $vnia_after"
  check pod-to-pod-crosses-vxlan test $((vnia_after - vnia_before)) -ge 5
  check leaf-type3-nodea wait_until 20 leaf_has_type3 100.65.0.0
  check leaf-type3-nodeb wait_until 20 leaf_has_type3 100.65.0.1
  check nodea-type3-leaf wait_until 20 node_has_type3 nodea 100.64.0.1
  check nodea-type3-nodeb wait_until 20 node_has_type3 nodea 100.65.0.1
  check nodeb-type3-nodea wait_until 20 node_has_type3 nodeb 100.65.0.0
  local ma mb mh
  ma=$(mac_of poda); mb=$(mac_of podb); mh=$(mac_of hostl2)
  check leaf-type2-pod-a wait_until 20 leaf_has_type2 "$ma" 100.65.0.0
  check leaf-type2-pod-b wait_until 20 leaf_has_type2 "$mb" 100.65.0.1
  check nodea-type2-hostl2 wait_until 20 node_has_type2 nodea "$mh" 100.64.0.1
  check nodea-type2-pod-b wait_until 20 node_has_type2 nodea "$mb" 100.65.0.1
  check nodeb-type2-pod-a wait_until 20 node_has_type2 nodeb "$ma" 100.65.0.0
  check nodea-mac-table-pod-a-local wait_until 20 node_mac_is nodea "$ma" local
  check nodea-mac-table-pod-b-remote wait_until 20 node_mac_is nodea "$mb" remote 100.65.0.1
  check nodea-mac-table-hostl2-remote wait_until 20 node_mac_is nodea "$mh" remote 100.64.0.1
  check nodea-show-evpn-rd-filter rd_filter_works nodea
  check nodea-show-evpn-one-best-per-route one_best_per_route nodea
  check nodea-advertises-only-its-macs node_advertises_only_local nodea "$mb" "$mh"
  check nodeb-advertises-only-its-macs node_advertises_only_local nodeb "$ma" "$mh"
  check passthrough-nodea wait_until 20 pt_ping nodea
  check passthrough-nodeb wait_until 20 pt_ping nodeb
  check passthrough-route-at-host-speaker host_has_route nodea 10.100.0.0/24
  if vrf_mode; then
    check leaf-type5-nodea wait_until 30 leaf_has_type5 10.250.0.1
    check leaf-type5-nodeb wait_until 30 leaf_has_type5 10.250.0.2
    check leaf-route-at-host-speaker wait_until 30 host_has_route nodea 192.168.20.0/24
    check hostred-to-nodea-red wait_until 30 red_ping 10.250.0.1
    check hostred-to-nodeb-red wait_until 30 red_ping 10.250.0.2
  else
    say "no VRF on this kernel: L3VNI (type-5) checks need '$0 up --guest'"
  fi
  echo
  lab_results 32
  if [ "$FAIL" -ne 0 ]; then fail_logs; echo "DEMO-CHECK-FAILED"; exit 1; fi
  echo "DEMO-CHECK-PASSED"
}

# --- status ------------------------------------------------------------------------------------
status() {
  if [ ! -e "$S/netns" ]; then echo "demo: down (nothing in $S)"; return 0; fi
  PEROUTER=$(cat "$S/binary")
  echo "demo: state in $S, VRF/L3VNI part: $(vrf_mode && echo yes || echo 'no (this kernel has no VRF)')"
  local pid what ns n
  echo "processes:"
  while read -r pid what; do
    if kill -0 "$pid" 2>/dev/null; then echo "  $what (pid $pid) running"; else echo "  $what (pid $pid) NOT RUNNING"; fi
  done < "$S/pids"
  for f in "$S"/*/zebra.pid "$S"/*/bgpd.pid "$S"/*/*/zebra.pid "$S"/*/*/bgpd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); what=${f#$S/}
    if kill -0 "$pid" 2>/dev/null; then echo "  FRR ${what%.pid} (pid $pid) running"; else echo "  FRR ${what%.pid} NOT RUNNING"; fi
  done
  echo "namespaces:"
  while read -r ns; do
    if ip netns list | grep -q "^$ns\b"; then echo "  $ns"; else echo "  $ns MISSING"; fi
  done < "$S/netns"
  for n in $(nodes_of perouter); do
    echo "perouter on $n (--api-socket $(sock "$n")):"
    "$PEROUTER" show bgp summary --api-socket "$(sock "$n")" 2>&1 | sed 's/^/  /'
  done
}

# --- down --------------------------------------------------------------------------------------
# Kills a pid only if it still runs the program we started (pids can be reused).
kill_ours() { # PID PATTERN
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$2" && kill "$1" 2>/dev/null
  return 0
}
down() {
  if [ ! -d "$S" ]; then echo "demo: nothing to remove ($S missing)"; return 0; fi
  local pid what f ns i
  if [ -f "$S/pids" ]; then
    while read -r pid what; do kill_ours "$pid" "$S"; done < "$S/pids"
  fi
  for f in "$S"/*/*.pid "$S"/*/*/*.pid; do
    [ -f "$f" ] && kill_ours "$(cat "$f")" "$S"
  done
  # Wait for them to exit (perouter leaves its namespace as it is, by design).
  for i in $(seq 20); do
    local alive=0
    if [ -f "$S/pids" ]; then
      while read -r pid what; do kill -0 "$pid" 2>/dev/null && alive=1; done < "$S/pids"
    fi
    for f in "$S"/*/*.pid "$S"/*/*/*.pid; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.25
  done
  if [ -f "$S/netns" ]; then
    while read -r ns; do ip netns del "$ns" 2>/dev/null; done < "$S/netns"
  fi
  rm -rf "$S"
  say "down: processes stopped, namespaces removed, $S deleted"
}

# --- guest ---------------------------------------------------------------------------------------
guest() {
  local kernel
  kernel="${PEROUTER_GUEST_KERNEL:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)}"
  if [[ -z "$kernel" || ! -f "$kernel" ]]; then
    echo "demo: no guest kernel (/boot/vmlinuz-*-amd64); apt-get install -y linux-image-amd64 qemu-system-x86 busybox-static" >&2
    exit 2
  fi
  command -v vng >/dev/null || { echo "demo: vng missing; pip install virtme-ng" >&2; exit 2; }
  lab_need_tools
  lab_find_perouter
  # A private copy: the guest sees this filesystem live, and a rebuild must not swap the binary.
  local bindir; bindir=$(mktemp -d /tmp/perouter-demo-bin.XXXXXX)
  cp "$PEROUTER" "$bindir/perouter"
  local me="$HERE/demo.sh" log
  log=$(mktemp /tmp/perouter-demo-guest.XXXXXX.log)
  local inner="export PEROUTER_BIN=$bindir/perouter PEROUTER_DEMO_DIR=/tmp/perouter-demo-guest; $me up && $me check"
  if [ -t 0 ] && [ -t 1 ] && [ -z "${DEMO_GUEST_BATCH:-}" ]; then
    inner="$inner; echo; echo 'A shell in the guest with the demo running: try the commands above; exit leaves the guest.'; bash -i"
  fi
  inner="$inner; $me down"
  [ -n "${DEMO_DEBUG:-}" ] && say "guest command: $inner"
  say "booting $kernel in virtme-ng (emulated, no KVM here: 1-3 minutes before the lab starts)"
  local t1; t1=$(date +%s)
  # Through a pipe: vng reopens /dev/stdout, which would truncate a file the caller redirects into.
  local rc=0 batch=1
  [ -t 0 ] && [ -t 1 ] && [ -z "${DEMO_GUEST_BATCH:-}" ] && batch=0
  if [ $batch = 0 ]; then
    vng --run "$kernel" --user root --disable-kvm --cpus 2 --memory 2G --exec "$inner" || rc=$?
  else
    vng --run "$kernel" --user root --disable-kvm --cpus 2 --memory 2G --exec "$inner" 2>&1 | tee "$log"
  fi
  rm -rf "$bindir"
  say "the guest ran $(($(date +%s) - t1)) s including boot"
  if [ $batch = 1 ]; then
    # No terminal: the verdict is the check's last line in the guest's output.
    if tr -d '\r' < "$log" | grep -qx 'DEMO-CHECK-PASSED'; then rm -f "$log"; exit 0; fi
    echo "demo: the guest's demo FAILED or gave no verdict (its output kept in $log)" >&2
    exit 1
  fi
  rm -f "$log"
  exit $rc
}

cmd=${1:-}; shift || true
GUEST=0
for a in "$@"; do case $a in --guest) GUEST=1 ;; *) usage ;; esac; done
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 2; }
case $cmd in
  up) if [ $GUEST = 1 ]; then guest; else up; fi ;;
  check) check_cmd ;;
  status) status ;;
  down) down ;;
  try) try ;;
  *) usage ;;
esac
