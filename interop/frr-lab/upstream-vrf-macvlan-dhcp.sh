#!/usr/bin/env bash
# upstream-vrf.sh over a CNIDevice underlay: Debian's macvlan CNI plugin with a DHCP lease (the CNI dhcp daemon and dnsmasq),
# upstream's [MacvlanDHCP] variants of the L3VNI cases. A script of its own so that
# CI's single guest boot can run it beside the default upstream-vrf.sh (guest-labs.sh runs scripts, not
# environments). Guest only (VRF):
#
#   flock /tmp/perouter-guest.lock interop/frr-lab/guest-labs.sh upstream-vrf-macvlan-dhcp.sh
UNDERLAY_KIND=macvlan-dhcp exec bash "$(dirname "$0")/upstream-vrf.sh" "$@"
