//! From the node plan to the datapath's wanted state (`perouter_fib::NodeDatapath`): a pure
//! mapping, so what `perouter check` prints is exactly what `perouter run` programs.

use ipnet::IpNet;
use perouter_fib::desired::{
    self, HostLeg, L2Vni, L3Vni, NodeDatapath, Passthrough, VethAddresses,
};

use crate::config::model::UnderlayNic;
use crate::plan::{veth_mtu, HostLegPlan, HostSessionPlan, NodePlan};

fn veth(hs: Option<&HostSessionPlan>) -> VethAddresses {
    let mut out = VethAddresses::default();
    if let Some(hs) = hs {
        for v in hs.v4.iter().chain(hs.v6.iter()) {
            out.host.push(v.host);
            out.router.push(v.router);
        }
    }
    out
}

/// The datapath wanted for `plan`, given the smallest underlay NIC MTU when known (the veths get
/// that minus the VXLAN overhead, upstream's rule).
pub fn node_datapath(plan: &NodePlan, underlay_mtu: Option<u32>) -> NodeDatapath {
    let mtu = veth_mtu(underlay_mtu);
    let mut d = NodeDatapath::new(plan.router_netns.clone());
    d.underlay_nics = plan
        .underlay_nics
        .iter()
        .filter_map(|n| match n {
            UnderlayNic::NetworkDevice(name) => Some(name.clone()),
            // A CNI device is created inside the namespace by the CNI plugin, not moved in.
            UnderlayNic::CniDevice(_) => None,
        })
        .collect();
    d.vteps = plan
        .vtep_v4
        .map(|a| IpNet::new(a.into(), 32).expect("/32 is valid"))
        .into_iter()
        .chain(
            plan.vtep_v6
                .map(|a| IpNet::new(a.into(), 128).expect("/128 is valid")),
        )
        .collect();
    d.l3vnis = plan
        .l3vnis
        .iter()
        .map(|l| L3Vni {
            vrf: l.vrf.clone(),
            table: l.table,
            vni: l.vni,
            vxlan_port: l.vxlan_port,
            local_vtep: l.vtep,
            addresses: veth(l.host_session.as_ref()),
            mtu,
            router_mac: Some(plan.router_mac),
        })
        .collect();
    d.l2vnis = plan
        .l2vnis
        .iter()
        .map(|l| L2Vni {
            vni: l.vni,
            vxlan_port: l.vxlan_port,
            local_vtep: l.vtep,
            vrf: l.vrf.clone(),
            gateway_ips: l.gateway_ips.clone(),
            host_leg: match &l.host_leg {
                HostLegPlan::ManagedBridge(_) => HostLeg::ManagedBridge,
                HostLegPlan::ExistingBridge(b) => HostLeg::ExistingBridge(b.clone()),
                // An OVS leg is left unattached by the kernel datapath: the OVS task
                // (runtime::ovs) adds it to its bridge as a port.
                HostLegPlan::Bare
                | HostLegPlan::ManagedOvsBridge(_)
                | HostLegPlan::ExistingOvsBridge(_) => HostLeg::Bare,
            },
            mtu,
        })
        .collect();
    d.passthrough = plan.passthrough.as_ref().map(|p| Passthrough {
        addresses: veth(Some(&p.host_session)),
        mtu,
    });
    d
}

/// The names upstream gives each object, for display and for matching kernel state.
pub fn l3vni_names(vni: u32) -> [String; 4] {
    [
        desired::names::bridge(vni),
        desired::names::vxlan(vni),
        desired::names::host_veth(vni),
        desired::names::router_veth(vni),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resources::{Resource, ResourceKind, ResourceSet, Source};
    use crate::config::static_files::parse_config;
    use crate::config::validate::validate;
    use crate::plan::derive_plan;

    #[test]
    fn canonical_plan_maps_to_upstream_objects() {
        let cfg = parse_config(
            "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\nl3vnis:\n  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24, ipv6: '2001:db8:1::/64'}}}\nbgppassthrough:\n  hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: 192.169.100.0/24}}\n",
        )
        .unwrap();
        let src = Source::File("x".into());
        let mut set = ResourceSet::default();
        set.underlays.push(Resource::new(
            ResourceKind::Underlay,
            "u",
            src.clone(),
            cfg.underlays[0].clone(),
        ));
        for n in cfg.l3vnis {
            set.l3vnis.push(Resource::new(
                ResourceKind::L3Vni,
                n.name,
                src.clone(),
                n.spec,
            ));
        }
        set.passthroughs.push(Resource::new(
            ResourceKind::L3Passthrough,
            "pt",
            src,
            cfg.bgppassthrough.unwrap(),
        ));
        let plan = derive_plan(&validate(&set).intent, 0, "perouter").unwrap();
        let d = node_datapath(&plan, Some(1500));
        d.validate().unwrap();
        assert_eq!(d.underlay_nics, ["toswitch1"]);
        assert_eq!(d.vteps[0].to_string(), "100.65.0.0/32");
        let red = &d.l3vnis[0];
        assert_eq!(
            (red.vrf.as_str(), red.table, red.vni, red.mtu),
            ("red", 1100, 100, Some(1450))
        );
        assert_eq!(red.local_vtep.to_string(), "100.65.0.0");
        let host: Vec<String> = red.addresses.host.iter().map(|a| a.to_string()).collect();
        let router: Vec<String> = red.addresses.router.iter().map(|a| a.to_string()).collect();
        assert_eq!(host, ["192.169.10.2/24", "2001:db8:1::2/64"]);
        assert_eq!(router, ["192.169.10.1/24", "2001:db8:1::1/64"]);
        assert_eq!(
            d.passthrough.as_ref().unwrap().addresses.router[0].to_string(),
            "192.169.100.1/24"
        );
        assert_eq!(
            l3vni_names(100),
            ["br-pe-100", "vni100", "host-e-100", "pe-e-100"]
        );
    }
}
