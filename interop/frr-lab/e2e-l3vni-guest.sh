#!/usr/bin/env bash
# Runs the L3VNI end-to-end test (e2e-l3vni.sh) inside one virtme-ng guest with Debian's kernel,
# which has CONFIG_NET_VRF (kernels without it cannot create VRF devices). Kept for the commands
# in the docs; guest-labs.sh runs any number of guest labs in one boot.
#
# Usage: interop/frr-lab/e2e-l3vni-guest.sh      (KEEP=1 keeps the guest's logs in /tmp)
exec bash "$(cd "$(dirname "$0")" && pwd)/guest-labs.sh" e2e-l3vni.sh
