#!/usr/bin/env bash
# Upstream's cni_lifecycle.go (CNI underlay lifecycle) and the DHCP underlay lifecycle against
# perouter, on this kernel (no VRF needed), with Debian's real CNI plugins
# (containernetworking-plugins: macvlan, static, dhcp) and dnsmasq as the DHCP server.
#
#   ToR (FRR, AS 64512, 192.168.11.2) --veth-- toswitch in the node's host namespace
#   underlay: interfaces: [{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: <macvlan
#   on toswitch, IPAM static 192.168.11.3/24>}}]: perouter runs the plugins with
#   CNI_NETNS = the router namespace, CNI_IFNAME = net1
#
# MacvlanStatic: net1 appears in the router namespace with its address, toswitch stays in the
# host namespace, the session with the ToR comes up over net1; a restart (SIGTERM) and a crash
# (kill -9) keep net1 (same ifindex, no new CNI ADD) and the session recovers; `ip link del
# net1` and `ip link set net1 name foo` are re-provisioned in place by the next reconcile; the
# interface renamed in the configuration (underlay1) replaces net1; a plugin error (an unknown
# master) is logged and shown in `perouter show status` naming the plugin and its message while
# perouter keeps serving;
# deleting the underlay DELs underlay1.
# MacvlanDHCP: the dhcp plugin (its daemon started here) gets a lease from dnsmasq on the ToR,
# the session comes up over it, the lease and address stay across a restart, and deleting the
# underlay DELs the interface and releases the lease (dnsmasq's lease file empties).
#
#   flock /tmp/perouter-lab.lock interop/frr-lab/cni-underlay.sh
#   (KEEP=1 leaves the lab up; PEROUTER_BIN=path picks the binary; CNI_PLUGINS=dir the plugins)
set -u
LAB=cni-underlay
. "$(dirname "$0")/lib.sh"
LAB_PKG[/usr/lib/cni/macvlan]=containernetworking-plugins
LAB_PKG[dnsmasq]=dnsmasq-base
CNI_PLUGINS=${CNI_PLUGINS:-/usr/lib/cni}
lab_need_tools "$CNI_PLUGINS/macvlan" dnsmasq
lab_find_perouter
say "running on: $(uname -r) (host kernel; no VRF needed)"
TAG=cni$$
DIR=$(mktemp -d /tmp/perouter-cni.XXXXXX)
chmod 755 "$DIR"
HOST=${TAG}host; PE=${TAG}pe; TOR=${TAG}tor
NSS="$HOST $PE $TOR"
PIDS=()
T0=$(date +%s.%N)
trap lab_cleanup EXIT

ip netns add $HOST; ip netns add $TOR
ip link add toswitch netns $HOST type veth peer name eth0 netns $TOR
ip -n $HOST link set toswitch up
ip -n $TOR addr add 192.168.11.2/24 dev eth0
ip -n $TOR link set eth0 up; ip -n $TOR link set lo up
mkdir -p "$DIR/tor"
cat > "$DIR/tor/frr.conf" <<CONF
hostname tor
router bgp 64512
 bgp router-id 192.168.11.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers 3 9
 neighbor 192.168.11.3 timers connect 2
 neighbor 192.168.11.50 remote-as 64514
 neighbor 192.168.11.50 timers 3 9
 neighbor 192.168.11.50 timers connect 2
 address-family ipv4 unicast
  network 10.100.0.0/24
  neighbor 192.168.11.3 activate
  neighbor 192.168.11.50 activate
 exit-address-family
CONF
ip -n $TOR route add blackhole 10.100.0.0/24
lab_start_frr tor $TOR "$DIR/tor"
tor_up() { # ADDR: FRR's view
  lab_vty "$DIR/tor" "show bgp neighbors $1 json" | lab_json_true --arg a "$1" '.[$a].bgpState == "Established"'
}
tor_down() { ! tor_up "$1"; }

SOCK=$DIR/api.sock
STATE=$DIR/cni-state
mkdir -p "$DIR/cfg/configs"
echo "nodeIndex: {index: 0}" > "$DIR/cfg/node-config.yaml"
underlay() { # IFNAME IPAM-JSON NEIGHBOUR [MASTER]
  cat > "$DIR/cfg/configs/openpe_underlay.yaml.tmp" <<YAML
underlays:
  - asn: 64514
    interfaces:
      - type: CNIDevice
        cniDevice:
          type: RawConfig
          interfaceName: $1
          rawConfig: {"cniVersion": "1.0.0", "name": "underlay", "plugins": [{"type": "macvlan", "master": "${4:-toswitch}", "mode": "bridge", "ipam": $2}]}
    neighbors:
      - {asn: 64512, address: $3, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
YAML
  mv "$DIR/cfg/configs/openpe_underlay.yaml.tmp" "$DIR/cfg/configs/openpe_underlay.yaml"
}
start_pr() {
  RUST_LOG=${RUST_LOG:-info} lab_nofds "$PEROUTER" run --config-dir "$DIR/cfg" --router-netns $PE --host-netns $HOST \
    --api-socket "$SOCK" --config-poll 1 --reconcile-period 2 --cni-path "$CNI_PLUGINS" --cni-state-dir "$STATE" \
    --no-handoff >>"$DIR/perouter.log" 2>&1 &
  PR=$!
  PIDS+=("$PR")
}
ifindex() { ip -n $PE -o link show dev "$1" 2>/dev/null | cut -d: -f1; } # IFNAME
has_addr() { ip -n $PE -o addr show dev "$1" 2>/dev/null | grep -q "inet $2/"; } # IFNAME ADDR
gone() { ! ip -n $PE link show dev "$1" >/dev/null 2>&1; }
adds() { grep -c "CNI ADD done" "$DIR/perouter.log"; }
dels() { grep -c "CNI DEL" "$DIR/perouter.log"; }
serving() { "$PEROUTER" show bgp summary --api-socket "$SOCK" -o json >/dev/null 2>&1; }

# ---- MacvlanStatic
STATIC='{"type": "static", "addresses": [{"address": "192.168.11.3/24"}]}'
underlay net1 "$STATIC" 192.168.11.2
start_pr
check static-net1-created wait_until 30 has_addr net1 192.168.11.3
check static-parent-stays-in-host ip -n $HOST link show dev toswitch
check static-macvlan-on-parent bash -c "ip -n $PE -d link show dev net1 | grep -q 'macvlan mode bridge'"
check static-session-up wait_until 40 pr_session_up "$SOCK" 192.168.11.2
check static-session-up-frr wait_until 10 tor_up 192.168.11.3
check static-cache-recorded test -f "$STATE/net1.json"
IDX=$(ifindex net1); A0=$(adds)
say "net1 ifindex $IDX, CNI ADDs so far $A0"

say "restart (SIGTERM, start again)"
kill "$PR"; wait "$PR" 2>/dev/null
check restart-keeps-net1 test "$(ifindex net1)" = "$IDX"
T_R=$(date +%s.%N)
start_pr
check restart-session-recovers wait_until 40 pr_session_up "$SOCK" 192.168.11.2
say "session back $(echo "$(date +%s.%N) - $T_R" | bc | cut -c1-5) s after the restart"
sleep 3 # a few reconcile passes
check restart-no-readd test "$(adds)" = "$A0" -a "$(ifindex net1)" = "$IDX"

say "crash (kill -9, start again)"
kill -9 "$PR"; wait "$PR" 2>/dev/null
start_pr
check crash-session-recovers wait_until 40 pr_session_up "$SOCK" 192.168.11.2
sleep 3
check crash-keeps-net1-no-readd test "$(adds)" = "$A0" -a "$(ifindex net1)" = "$IDX"

say "drift: ip link del net1 in the router namespace"
ip -n $PE link del net1
check drift-reprovisioned wait_until 20 has_addr net1 192.168.11.3
check drift-new-interface test "$(ifindex net1)" != "$IDX"
check drift-session-recovers wait_until 40 pr_session_up "$SOCK" 192.168.11.2

say "drift: ip link set net1 name foo"
IDX=$(ifindex net1)
ip -n $PE link set net1 down; ip -n $PE link set net1 name foo
check rename-reprovisioned-in-place wait_until 20 has_addr net1 192.168.11.3
check rename-stray-removed wait_until 10 gone foo
check rename-session-recovers wait_until 40 pr_session_up "$SOCK" 192.168.11.2

say "configuration: interfaceName net1 -> underlay1"
underlay underlay1 "$STATIC" 192.168.11.2
check cfg-rename-new-present wait_until 20 has_addr underlay1 192.168.11.3
check cfg-rename-old-gone wait_until 10 gone net1
check cfg-rename-session-up wait_until 40 pr_session_up "$SOCK" 192.168.11.2

say "plugin error: master nosuch"
underlay underlay1 "$STATIC" 192.168.11.2 nosuch
check error-names-plugin-and-message wait_until 20 grep -q 'CNI plugin macvlan ADD underlay1: error code [0-9]*: ' "$DIR/perouter.log"
grep -m1 'CNI plugin macvlan ADD underlay1' "$DIR/perouter.log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-300
check error-still-serving serving
check error-status-shows-it bash -c "'$PEROUTER' show status --api-socket '$SOCK' 2>/dev/null | grep -q 'CNI plugin macvlan'"
underlay underlay1 "$STATIC" 192.168.11.2
check error-recovers wait_until 20 has_addr underlay1 192.168.11.3
check error-recovers-session wait_until 40 pr_session_up "$SOCK" 192.168.11.2

say "underlay deleted"
D0=$(dels)
rm "$DIR/cfg/configs/openpe_underlay.yaml"
check delete-removes-interface wait_until 20 gone underlay1
check delete-ran-cni-del test "$(dels)" -gt "$D0"
check delete-cache-empty wait_until 5 bash -c "[ -z \"\$(ls -A '$STATE')\" ]"
check delete-session-down wait_until 20 tor_down 192.168.11.3
kill "$PR"; wait "$PR" 2>/dev/null

# ---- MacvlanDHCP
say "DHCP: dnsmasq on the ToR, the dhcp plugin's daemon"
LEASES=$DIR/dnsmasq.leases
ip netns exec $TOR dnsmasq --no-daemon --port=0 --interface=eth0 --bind-interfaces \
  --dhcp-range=192.168.11.50,192.168.11.50,255.255.255.0,10m --dhcp-leasefile="$LEASES" \
  --pid-file="$DIR/dnsmasq.pid" >"$DIR/dnsmasq.log" 2>&1 &
PIDS+=("$!")
lab_nofds "$CNI_PLUGINS/dhcp" daemon -socketpath "$DIR/dhcp.sock" >"$DIR/dhcp.log" 2>&1 &
PIDS+=("$!")
wait_until 10 test -S "$DIR/dhcp.sock"
DHCP="{\"type\": \"dhcp\", \"daemonSocketPath\": \"$DIR/dhcp.sock\"}"
underlay net1 "$DHCP" 192.168.11.2
start_pr
check dhcp-lease-acquired wait_until 40 has_addr net1 192.168.11.50
check dhcp-lease-at-server wait_until 5 grep -q 192.168.11.50 "$LEASES"
check dhcp-session-up wait_until 40 pr_session_up "$SOCK" 192.168.11.2
check dhcp-session-up-frr wait_until 10 tor_up 192.168.11.50
IDX=$(ifindex net1); A0=$(adds)
kill "$PR"; wait "$PR" 2>/dev/null
start_pr
check dhcp-restart-session-recovers wait_until 40 pr_session_up "$SOCK" 192.168.11.2
sleep 3
check dhcp-restart-keeps-lease test "$(adds)" = "$A0" -a "$(ifindex net1)" = "$IDX"
check dhcp-restart-address-kept has_addr net1 192.168.11.50
rm "$DIR/cfg/configs/openpe_underlay.yaml"
check dhcp-delete-removes-interface wait_until 20 gone net1
check dhcp-delete-releases-lease wait_until 10 bash -c "! grep -q 192.168.11.50 '$LEASES'"

echo
lab_results 36
say "total $(echo "$(date +%s.%N) - $T0" | bc | cut -c1-5) s"
[ "$FAIL" -eq 0 ] || { lab_log_tail "$DIR/perouter.log" 80; exit 1; }
