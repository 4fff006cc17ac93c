#!/usr/bin/env bash
# L2VNI host legs on Open vSwitch bridges (hostMaster.type: OVSBridge), the way KubeVirt's OVS-CNI
# attaches VMs, against a real FRR ToR and a real Open vSwitch (Debian's openvswitch-switch).
#
#   flock /tmp/perouter-lab.lock interop/frr-lab/ovs-host-leg.sh
#   OVS_DATAPATH=system interop/frr-lab/ovs-host-leg.sh   # OVS's kernel datapath (needs the
#       openvswitch module, which this host's kernel lacks; Debian's has it, e.g. in a virtme-ng
#       guest: vng --run /boot/vmlinuz-*-amd64 --user root --disable-kvm --exec '...')
#
# Topology (namespaces ovsl-*):
#   tor     FRR 8.4, AS 64512, VTEP 100.64.0.1, `advertise-all-vni`; L2 segments 110, 120, 130 as
#           bridges with VXLAN devices; behind it hosts h110 (192.170.1.20), h120 (192.170.2.20),
#           h130 (192.170.3.20)
#   node    the Kubernetes node (perouter --host-netns), AS 64514, VTEP 100.65.0.0; ovs-vswitchd
#           runs here, by default with the userspace datapath (netdev: this kernel has no
#           openvswitch module)
#   pe      perouter's router namespace
#   pod110  on L2VNI 110 (OVS, lifecycle Managed: perouter creates br-hs-110), 192.170.1.10
#   pod120  on L2VNI 120 (OVS, lifecycle External: ovs-ext, created here), 192.170.2.10
#   pod130  on L2VNI 130 (Linux bridge, Managed), 192.170.3.10: the VNI that must not notice OVS
# Each pod is attached by a veth whose node end is a port of its bridge (as OVS-CNI does).
# ovsdb-server and ovs-vswitchd are our own, on a private database, socket and run directory in
# the lab's temporary directory: nothing system-wide is touched (the distribution's service is
# stopped if it runs).
#
# Checks: the bridges and ports (ovs-vsctl), the marker on the managed bridge, the pods' MACs as
# type-2 routes from our VTEP at FRR, pings pod <-> remote host both ways over VXLAN, ovsdb
# stopped (a clear error in the log and the status, the other VNIs still forward, the ToR session
# untouched), recovery when it returns (including a VNI added meanwhile), and deleting each L2VNI
# (its port leaves the external bridge; the managed bridge is deleted).
set -u
LAB=ovs
. "$(dirname "$0")/lib.sh"
for t in ovsdb-server ovs-vswitchd ovs-vsctl ovsdb-tool; do LAB_PKG[$t]=openvswitch-switch; done
LAB_PKG[curl]=curl
lab_need_tools vtysh jq curl ovsdb-server ovs-vswitchd ovs-vsctl ovsdb-tool
lab_find_perouter
T0=$(date +%s)
OVS_DATAPATH=${OVS_DATAPATH:-netdev}
if [ "$OVS_DATAPATH" = system ] && ! modprobe openvswitch 2>/dev/null && [ ! -d /sys/module/openvswitch ]; then
  echo "$LAB: OVS_DATAPATH=system needs the openvswitch kernel module, which this kernel lacks" >&2
  exit 2
fi
say "OVS datapath: $OVS_DATAPATH"
P=ovsl-
TOR=${P}tor NODE=${P}node PE=${P}pe
DIR=$(mktemp -d /tmp/perouter-ovs.XXXXXX)
chmod 755 "$DIR"
OVS=$DIR/ovs
SOCK=$OVS/db.sock
CFG=$DIR/cfg
LOG=$DIR/perouter.log
API=$DIR/api.sock
PR_PID=""
mkdir -p "$OVS" "$CFG/configs"

vsctl() { ovs-vsctl --db=unix:"$SOCK" --timeout=5 "$@"; }
start_ovsdb() {
  (lab_nofds ovsdb-server "$OVS/conf.db" --remote=punix:"$SOCK" --pidfile="$OVS/ovsdb-server.pid" \
    --unixctl="$OVS/ovsdb-server.ctl" --log-file="$OVS/ovsdb-server.log" --detach)
}
stop_pidfile() { # FILE: kill the daemon and wait until it is gone
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$1"
}

cleanup() {
  [ -n "$PR_PID" ] && { kill "$PR_PID" 2>/dev/null; wait "$PR_PID" 2>/dev/null; }
  stop_pidfile "$OVS/ovs-vswitchd.pid"
  stop_pidfile "$OVS/ovsdb-server.pid"
  lab_kill_pidfiles "$DIR"
  sleep 0.3
  for n in $(ip netns list | awk '{print $1}' | grep "^$P"); do ip netns del "$n" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

# --- topology ---------------------------------------------------------------------------------
for n in tor node h110 h120 h130 pod110 pod120 pod130; do
  ip netns add "$P$n"; ip -n "$P$n" link set lo up
done
ip link add toswitch1 netns "$NODE" type veth peer name eth0 netns "$TOR"
ip -n "$NODE" addr add 192.168.11.3/24 dev toswitch1; ip -n "$NODE" link set toswitch1 up
ip -n "$TOR" addr add 192.168.11.2/24 dev eth0; ip -n "$TOR" link set eth0 up
ip -n "$TOR" addr add 100.64.0.1/32 dev lo
for v in 110 120 130; do
  ip -n "$TOR" link add br$v type bridge
  ip -n "$TOR" link add vxlan$v type vxlan id $v dstport 4789 local 100.64.0.1 nolearning
  ip -n "$TOR" link set vxlan$v master br$v addrgenmode none
  ip -n "$TOR" link set vxlan$v type bridge_slave learning off
  ip link add swp$v netns "$TOR" type veth peer name eth0 netns "${P}h$v"
  ip -n "$TOR" link set swp$v master br$v
  for l in br$v vxlan$v swp$v; do ip -n "$TOR" link set $l up; done
  ip -n "${P}h$v" addr add 192.170.$((v / 10 - 10)).20/24 dev eth0; ip -n "${P}h$v" link set eth0 up
  # The pod: its eth0, and the node end (vpod<vni>) that becomes a bridge port.
  ip link add vpod$v netns "$NODE" type veth peer name eth0 netns "${P}pod$v"
  ip -n "${P}pod$v" addr add 192.170.$((v / 10 - 10)).10/24 dev eth0
  ip -n "${P}pod$v" link set eth0 up; ip -n "$NODE" link set vpod$v up
done
mkdir -p "$DIR/tor"
cat > "$DIR/tor/frr.conf" <<CONF
hostname tor
router bgp 64512
 bgp router-id 100.64.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
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
lab_start_frr "${P}tor" "$TOR" "$DIR/tor"

# --- Open vSwitch: private database and socket; vswitchd in the node's namespace --------------
systemctl stop openvswitch-switch 2>/dev/null || true
ovsdb-tool create "$OVS/conf.db" /usr/share/openvswitch/vswitch.ovsschema
start_ovsdb
vsctl --no-wait init
(OVS_RUNDIR=$OVS lab_nofds ip netns exec "$NODE" ovs-vswitchd unix:"$SOCK" --pidfile="$OVS/ovs-vswitchd.pid" \
  --unixctl="$OVS/ovs-vswitchd.ctl" --log-file="$OVS/ovs-vswitchd.log" --detach)
# The External bridge (as OVS-CNI's admin would create it), with pod120's port.
vsctl add-br ovs-ext -- set bridge ovs-ext datapath_type="$OVS_DATAPATH"
vsctl add-port ovs-ext vpod120

# --- perouter ---------------------------------------------------------------------------------
lab_underlay "$CFG" toswitch1 "{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}"
l2vnis() { # VNI...: the L2VNI file with those VNIs (140, 150: more Managed OVS bridges)
  local v
  { echo "l2vnis:"
    for v in "$@"; do
      case $v in
        110|140|150) echo "  - {name: ovs-managed-$v, vni: $v, hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: Managed}}}" ;;
        120) echo "  - {name: ovs-external-$v, vni: $v, hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: External, name: ovs-ext}}}" ;;
        130) echo "  - {name: linux-$v, vni: $v, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}" ;;
      esac
    done; } > "$CFG/configs/openpe_l2vni.yaml.tmp"
  mv "$CFG/configs/openpe_l2vni.yaml.tmp" "$CFG/configs/openpe_l2vni.yaml"
}
l2vnis 110 120 130
echo "nodeIndex: {index: 0}" > "$CFG/node-config.yaml"
check check-shows-ovs-legs bash -c "'$PEROUTER' check '$CFG' | grep -q 'host-e-110 a port of managed OVS bridge br-hs-110' &&
  '$PEROUTER' check '$CFG' | grep -q 'host-e-120 a port of existing OVS bridge ovs-ext'"
METRICS=127.0.0.1:$((20000 + RANDOM % 20000))
RUST_LOG=${RUST_LOG:-info} "$PEROUTER" run --config-dir "$CFG" --router-netns "$PE" --host-netns "$NODE" \
  --api-socket "$API" --metrics-addr "$METRICS" --config-poll 1 --ovsdb-socket "$SOCK" --ovs-datapath-type "$OVS_DATAPATH" >"$LOG" 2>&1 &
PR_PID=$!

# --- assertions -------------------------------------------------------------------------------
tor_session_up() {
  lab_vty "$DIR/tor" "show bgp summary json" | lab_json_true '[.ipv4Unicast.peers["192.168.11.3"].state, .l2VpnEvpn.peers["192.168.11.3"].state] | all(. == "Established")'
}
ports_are() { [ "$(vsctl list-ports "$1" 2>/dev/null | tr '\n' ' ')" = "$2" ]; }
no_bridge() { ! vsctl br-exists "$1"; }
attach_pod110() { # pod110's port joins br-hs-110 once perouter made it (as OVS-CNI would)
  vsctl br-exists br-hs-110 && vsctl --may-exist add-port br-hs-110 vpod110
}
mac_of() { ip -n "$P$1" -j link show eth0 | jq -r '.[0].address'; }
tor_has_type2() { # MAC VTEP
  lab_vty "$DIR/tor" "show bgp l2vpn evpn route type macip json" | \
    lab_json_true --arg m "[2]:[0]:[48]:[$1]" --arg v "$2" \
      '[.[] | objects | to_entries[] | select(.key == $m) | .value.paths[][] | select(.valid == true)
        | .nexthops[]?.ip] | index($v) != null'
}
ping_ok() { ip netns exec "$P$1" ping -c 2 -i 0.2 -W 1 "$2" >/dev/null 2>&1; }
pod_ip() { echo "192.170.$(($1 / 10 - 10)).10"; }
host_ip() { echo "192.170.$(($1 / 10 - 10)).20"; }
status_json() { "$PEROUTER" show status --api-socket "$API" -o json 2>/dev/null; }
failed_l2vni_says() { # NAME TEXT: the status lists L2VNI NAME as failed with TEXT in its message
  status_json | lab_json_true --arg n "$1" --arg t "$2" \
    '[.failed_resources[] | select(.kind == "L2VNI" and .name == $n and .reason == "OverlayAttachmentFailed") | .message | contains($t)] | any'
}
no_failed_resources() { status_json | lab_json_true '.failed_resources | length == 0'; }
log_has() { sed 's/\x1b\[[0-9;]*m//g' "$LOG" | grep -q "$1"; }
tor_established() { lab_vty "$DIR/tor" "show bgp neighbors 192.168.11.3 json" | jq -r '.["192.168.11.3"].connectionsEstablished // empty'; }
metric() { curl -s "http://$METRICS/metrics" | awk -v m="$1" '$1 == m {print $2 + 0}'; }
attach_pod130() { ip -n "$NODE" link show br-hs-130 >/dev/null 2>&1 && ip -n "$NODE" link set vpod130 master br-hs-130; }

check tor-session-up wait_until 60 tor_session_up
check managed-bridge-created wait_until 30 vsctl br-exists br-hs-110
check managed-bridge-marked test "$(vsctl get bridge br-hs-110 external_ids:created-by 2>/dev/null)" = openperouter
check managed-bridge-datapath-type test "$(vsctl get bridge br-hs-110 datapath_type 2>/dev/null)" = "$OVS_DATAPATH"
check pod110-attached wait_until 10 attach_pod110
check managed-bridge-ports wait_until 10 ports_are br-hs-110 "host-e-110 vpod110 "
check external-bridge-ports wait_until 30 ports_are ovs-ext "host-e-120 vpod120 "
check linux-vni-untouched-by-ovs test -z "$(vsctl port-to-br host-e-130 2>/dev/null)"
check pod130-attached wait_until 20 attach_pod130
for v in 110 120 130; do
  check "pod$v-to-h$v" wait_until 30 ping_ok pod$v "$(host_ip $v)"
  check "h$v-to-pod$v" wait_until 10 ping_ok h$v "$(pod_ip $v)"
done
before=$(ip -n "$TOR" -s -j link show vxlan110 | jq '.[0].stats64.rx.packets')
ping_ok pod110 "$(host_ip 110)"
after=$(ip -n "$TOR" -s -j link show vxlan110 | jq '.[0].stats64.rx.packets')
check ovs-leg-ping-crosses-vxlan test $((after - before)) -ge 2
for v in 110 120; do
  check "tor-type2-pod$v-from-our-vtep" wait_until 30 tor_has_type2 "$(mac_of pod$v)" 100.65.0.0
done
check status-clean wait_until 10 no_failed_resources
check metrics-ovs-connected test "$(metric perouter_ovs_connected)" = 1
check metrics-ovs-legs test "$(metric perouter_ovs_host_legs)" = 2

# ovsdb goes away: a clear error; the other VNIs forward, the ToR session and our routes stay.
# (Measured with the userspace datapath: the OVS legs themselves stop switching meanwhile, because
# ovs-vswitchd runs it only while it holds its database lock; they resume when ovsdb returns.)
est_before=$(tor_established)
stop_pidfile "$OVS/ovsdb-server.pid"
l2vnis 110 120 130 140
check ovsdb-down-logged wait_until 20 log_has "ovsdb unreachable"
check ovsdb-down-in-status wait_until 10 failed_l2vni_says ovs-managed-140 "ovsdb unreachable at $SOCK"
check ovsdb-down-status-names-leg failed_l2vni_says ovs-managed-140 "host-e-140"
check ovsdb-down-pod130-still-forwards ping_ok pod130 "$(host_ip 130)"
check ovsdb-down-tor-keeps-type2-pod110 tor_has_type2 "$(mac_of pod110)" 100.65.0.0
check ovsdb-down-linux-vni-not-failed bash -c "! '$PEROUTER' show status --api-socket '$API' -o json | jq -e '.failed_resources[] | select(.name == \"linux-130\")' >/dev/null"
check ovsdb-down-vni140-built-in-kernel wait_until 10 ip -n "$PE" link show vni140
check ovsdb-down-metrics test "$(metric perouter_ovs_connected)/$(metric perouter_ovs_last_pass_failures)" = 0/3
t_back=$(date +%s)
start_ovsdb
check ovsdb-back-logged wait_until 45 log_has "ovsdb reachable again"
check ovsdb-back-vni140-attached wait_until 10 ports_are br-hs-140 "host-e-140 "
say "recovery: br-hs-140 attached $(( $(date +%s) - t_back )) s after ovsdb-server restarted (backoff up to 30 s)"
check ovsdb-back-status-clean wait_until 10 no_failed_resources
for v in 110 120; do check "ovsdb-back-pod$v-forwards" wait_until 20 ping_ok pod$v "$(host_ip $v)"; done
check ovsdb-back-metrics test "$(metric perouter_ovs_connected)/$(metric perouter_ovs_last_pass_failures)" = 1/0
check tor-session-never-reset test "$(tor_established)" = "$est_before"

# Deleting L2VNIs: the external bridge loses only our port; a managed bridge is deleted. VNI 150
# is added in the same change, with ovsdb up: OVS may get the port before the kernel has the veth,
# and must end up using it (a real ofport, no interface error).
l2vnis 110 130 140 150
check external-port-removed wait_until 20 ports_are ovs-ext "vpod120 "
check live-add-vni150-attached wait_until 20 ports_are br-hs-150 "host-e-150 "
iface_ok() { [ "$(vsctl get interface "$1" ofport 2>/dev/null)" -gt 0 ] 2>/dev/null && [ "$(vsctl get interface "$1" error 2>/dev/null)" = "[]" ]; }
check live-add-vni150-interface-up wait_until 20 iface_ok host-e-150
l2vnis 130 140 150
check managed-bridge-deleted wait_until 20 no_bridge br-hs-110
check external-bridge-kept vsctl br-exists ovs-ext
check other-ovs-vni-kept ports_are br-hs-140 "host-e-140 "
check linux-vni-after-deletes ping_ok pod130 "$(host_ip 130)"
check status-clean-after-deletes wait_until 10 no_failed_resources
check no-ovs-port-of-ours-left bash -c "! ovs-vsctl --db=unix:'$SOCK' --bare --columns=name list port | grep -qE '^host-e-1(10|20)$'"

[ "$FAIL" = 0 ] || { lab_log_tail "$LOG" 80; tail -20 "$OVS/ovs-vswitchd.log"; }
say "done in $(( $(date +%s) - T0 )) s (datapath $OVS_DATAPATH)"
lab_results 40
exit $FAIL
