//! VRFs (IP-VRFs of RFC 9135 with an L3VNI): identity, route distinguisher and route targets,
//! explicit or derived the way FRR derives them (landscape pitfall 9).

use std::net::Ipv4Addr;

use ipnet::IpNet;
use perouter_evpn::{derive, MacAddress, RouteDistinguisher, RouteTarget, RouteTargetMatch};

/// A VRF handle chosen by the configuration owner (e.g. the kernel routing table number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VrfId(pub u32);

/// One VRF's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrfConfig {
    /// Handle.
    pub id: VrfId,
    /// Name (for logs; the kernel VRF device name).
    pub name: String,
    /// The L3VNI: label of exported type-5 routes (RFC 9135 §5.1, symmetric IRB).
    pub l3vni: u32,
    /// Our router MAC for this L3VNI (the L3VNI bridge's MAC; RFC 9135 §8.1).
    pub router_mac: MacAddress,
    /// Explicit RD, or `None` for the auto type-1 RD `router-id:rd_index`.
    pub rd: Option<RouteDistinguisher>,
    /// Index for the auto RD (stable for the same configuration: the caller derives it from
    /// the configuration, not from arrival order).
    pub rd_index: u16,
    /// Explicit import RTs; empty means auto: the `*:L3VNI` wildcard (FRR on eBGP fabrics).
    pub import_rts: Vec<RouteTargetMatch>,
    /// Explicit export RTs; empty means auto `ASN:L3VNI` (FRR's form, AS truncated to 16 bits).
    pub export_rts: Vec<RouteTarget>,
    /// Local networks originated into the VRF (the host-side veth address, as `network` does).
    pub networks: Vec<IpNet>,
}

/// A VRF's configuration with its derived values resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedVrf {
    /// The configuration as given.
    pub config: VrfConfig,
    /// Effective RD.
    pub rd: RouteDistinguisher,
    /// Effective import matches.
    pub import: Vec<RouteTargetMatch>,
    /// Effective export RTs.
    pub export: Vec<RouteTarget>,
}

impl ResolvedVrf {
    /// Resolves auto values from our router ID and ASN (RFC 7432 §7.9 for the type-1 RD;
    /// FRR's `ASN:VNI` for RTs with the `*:VNI` import wildcard).
    pub fn resolve(config: VrfConfig, router_id: Ipv4Addr, asn: u32) -> Self {
        let rd = config
            .rd
            .unwrap_or_else(|| derive::auto_route_distinguisher(router_id, config.rd_index));
        let import = if config.import_rts.is_empty() {
            vec![derive::wildcard_import(config.l3vni)]
        } else {
            config.import_rts.clone()
        };
        let export = if config.export_rts.is_empty() {
            vec![derive::frr_auto_route_target(asn, config.l3vni)]
        } else {
            config.export_rts.clone()
        };
        Self {
            config,
            rd,
            import,
            export,
        }
    }

    /// Whether a route carrying `rts` is imported (any RT matches any import rule).
    pub fn imports(&self, mut rts: impl Iterator<Item = RouteTarget>) -> bool {
        rts.any(|rt| self.import.iter().any(|m| m.matches(&rt)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(l3vni: u32) -> VrfConfig {
        VrfConfig {
            id: VrfId(1),
            name: "red".into(),
            l3vni,
            router_mac: MacAddress([2, 0, 0, 0, 0, 1]),
            rd: None,
            rd_index: 3,
            import_rts: vec![],
            export_rts: vec![],
            networks: vec![],
        }
    }

    #[test]
    fn auto_rd_and_rts_follow_frr() {
        let v = ResolvedVrf::resolve(cfg(100), Ipv4Addr::new(10, 0, 0, 7), 4_200_000_001);
        assert_eq!(v.rd.to_string(), "10.0.0.7:3");
        assert_eq!(v.export[0].to_string(), "59905:100");
        // The wildcard imports RTs from any AS with our VNI, and nothing else.
        assert!(v.imports([derive::frr_auto_route_target(64999, 100)].into_iter()));
        assert!(!v.imports([derive::frr_auto_route_target(64999, 200)].into_iter()));
        // Stable: the same config resolves to the same RD.
        let again = ResolvedVrf::resolve(cfg(100), Ipv4Addr::new(10, 0, 0, 7), 4_200_000_001);
        assert_eq!(v, again);
    }

    #[test]
    fn explicit_rts_replace_auto_ones() {
        let mut c = cfg(100);
        let rt: RouteTarget = "64512:5000".parse().unwrap();
        c.import_rts = vec![RouteTargetMatch::Exact(rt)];
        c.export_rts = vec![rt];
        let v = ResolvedVrf::resolve(c, Ipv4Addr::new(10, 0, 0, 7), 64512);
        assert!(v.imports([rt].into_iter()));
        assert!(!v.imports([derive::frr_auto_route_target(64512, 100)].into_iter()));
        assert_eq!(v.export, vec![rt]);
    }
}
