//! `perouter show ...`: ask a running daemon over its local socket; human tables by default,
//! `-o json` for the raw answer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::api::{query, Request, Response, DEFAULT_SOCKET};
use crate::views::{BgpSummary, NeighborDetail, VniRow};

/// Arguments of `perouter show`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  perouter show bgp summary
  perouter show bgp neighbor 192.168.11.2
  perouter show bgp neighbor 192.168.11.2 -o json
  perouter show bgp neighbor 192.168.11.2 received-routes
  perouter show bgp neighbor 192.168.11.2 advertised-routes --family l2vpn-evpn
  perouter show bgp ipv4 unicast
  perouter show bgp ipv4 unicast 10.100.0.0/24
  perouter show bgp evpn --type 5 --vni 100
  perouter show bgp evpn --rd 10.0.0.1:100
  perouter show evpn vni
  perouter show evpn vni 100
  perouter show evpn mac vni 110
  perouter show vrf red
  perouter show status

-o json prints the daemon's answer as JSON. The schema is stable: fields are only ever added,
never renamed or retyped; unknown values are null. `bgp summary` is {router_id, local_as,
total_peers, established, peers: [{neighbor, version, remote_as, msg_rcvd, msg_sent,
up_seconds, state, pfx_rcd, pfx_snt, desc, vrf}]}; `bgp neighbor` and `evpn vni` are described
in the crate docs (perouter_agent::views).")]
pub struct ShowArgs {
    /// The daemon's API socket.
    #[arg(long, global = true, default_value = DEFAULT_SOCKET)]
    pub api_socket: PathBuf,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_parser = ["text", "json"], default_value = "text")]
    pub output: String,
    /// What to show.
    #[command(subcommand)]
    pub what: ShowWhat,
}

/// What `perouter show` can show.
#[derive(Debug, Subcommand)]
pub enum ShowWhat {
    /// BGP state.
    Bgp {
        /// Which part.
        #[command(subcommand)]
        what: BgpWhat,
    },
    /// VRF routes with next hop (VTEP) and router MAC; all VRFs or one.
    Vrf {
        /// The VRF.
        name: Option<String>,
    },
    /// The VNIs of this node (same as `show evpn vni`).
    Vni,
    /// EVPN state.
    Evpn {
        /// Which part.
        #[command(subcommand)]
        what: EvpnWhat,
    },
    /// BFD state.
    Bfd {
        /// Which part.
        #[command(subcommand)]
        what: BfdWhat,
    },
    /// Applied configuration, every failed resource and datapath failure with its reason.
    Status,
}

/// `perouter show evpn ...`.
#[derive(Debug, Subcommand)]
pub enum EvpnWhat {
    /// The VNIs with remote VTEPs, remote MAC and neighbour counts.
    #[command(
        after_help = "Examples:\n  perouter show evpn vni\n  perouter show evpn vni 100 -o json"
    )]
    Vni {
        /// Only this VNI.
        vni: Option<u32>,
    },
    /// MACs of the L2VNIs: local or remote, the VTEP the bridge forwards to, IPs, sequence
    /// numbers (RFC 7432 §15), sticky and duplicate flags.
    Mac {
        /// Which VNIs.
        #[command(subcommand)]
        what: MacWhat,
    },
}

/// `perouter show evpn mac ...`.
#[derive(Debug, Subcommand)]
pub enum MacWhat {
    /// One VNI's MACs, or every VNI's (`all`).
    #[command(after_help = "\
Examples:
  perouter show evpn mac vni 110
  perouter show evpn mac vni all -o json

Flags: S sticky (static, never moves), D duplicate (moved too often, frozen; RFC 7432 §15.1).
Seq #'s: local/remote MAC mobility sequence numbers.")]
    Vni {
        /// A VNI (1..16777215), or `all`.
        vni: VniOrAll,
    },
}

/// A VNI or `all`, as vtysh's `show evpn mac vni <1-16777215|all>` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VniOrAll(pub Option<u32>);

impl std::str::FromStr for VniOrAll {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(VniOrAll(None));
        }
        match s.parse::<u32>() {
            Ok(v) if (1..=16_777_215).contains(&v) => Ok(VniOrAll(Some(v))),
            _ => Err(format!("{s:?} is neither a VNI (1..16777215) nor `all`")),
        }
    }
}

/// `perouter show bgp ...`.
#[derive(Debug, Subcommand)]
pub enum BgpWhat {
    /// One line per session, like vtysh's `show bgp summary`.
    #[command(
        after_help = "Examples:\n  perouter show bgp summary\n  perouter show bgp summary -o json"
    )]
    Summary,
    /// One session in detail: AS, router ID, state, timers, capabilities, GR, counters, last reset.
    #[command(
        after_help = "Examples:\n  perouter show bgp neighbor 192.168.11.2\n  perouter show bgp neighbor fd00::2 -o json\n  perouter show bgp neighbor 192.168.11.2 received-routes\n  perouter show bgp neighbor 192.168.11.2 advertised-routes --family ipv4-unicast"
    )]
    Neighbor {
        /// The peer's address (a `:port` suffix is accepted and ignored).
        address: String,
        /// The routes it sent us (its Adj-RIB-In, as received) or those it holds from us (its
        /// Adj-RIB-Out, with the attributes as sent) instead of the session's details.
        #[arg(value_enum)]
        routes: Option<NeighborRoutes>,
        /// With `received-routes`/`advertised-routes`: only this family.
        #[arg(long, requires = "routes", value_parser = ["ipv4-unicast", "ipv6-unicast", "l2vpn-evpn"])]
        family: Option<String>,
    },
    /// The IPv4 default table (underlay and passthrough routes): every path, best and
    /// multipath flagged, the session it came from.
    Ipv4 {
        /// Which table.
        #[command(subcommand)]
        what: UnicastWhat,
    },
    /// The IPv6 default table, as `ipv4 unicast`.
    Ipv6 {
        /// Which table.
        #[command(subcommand)]
        what: UnicastWhat,
    },
    /// The EVPN table.
    Evpn {
        /// Only this route type (2, 3 or 5).
        #[arg(long = "type")]
        route_type: Option<u8>,
        /// Only this VNI.
        #[arg(long)]
        vni: Option<u32>,
        /// Only this route distinguisher (`ASN:NN` or `A.B.C.D:NN`).
        #[arg(long)]
        rd: Option<String>,
    },
}

/// Which routes of a neighbour `show bgp neighbor ADDR` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NeighborRoutes {
    /// What the neighbour sent us and we hold (Adj-RIB-In), best paths flagged.
    ReceivedRoutes,
    /// What the neighbour holds from us (Adj-RIB-Out), attributes as sent.
    AdvertisedRoutes,
}

/// `perouter show bgp ipv4|ipv6 ...`.
#[derive(Debug, Subcommand)]
pub enum UnicastWhat {
    /// The unicast table: every path of every prefix, or of one.
    #[command(after_help = "\
Examples:
  perouter show bgp ipv4 unicast
  perouter show bgp ipv4 unicast 10.100.0.0/24     (this prefix exactly)
  perouter show bgp ipv4 unicast 10.100.0.7        (the longest prefix covering it)
  perouter show bgp ipv6 unicast -o json
  perouter show bgp ipv4 unicast --vrf red         (VRF red's table)

Status codes, as vtysh prints them: * valid (next hop usable), > best, = multipath (installed
as ECMP), S stale (kept while its peer restarts gracefully, RFC 4724).")]
    Unicast {
        /// A prefix (exact match) or an address (longest match); every prefix when absent.
        prefix: Option<String>,
        /// A VRF's table (routes imported from EVPN type-5 and from its host session) instead
        /// of the default table.
        #[arg(long)]
        vrf: Option<String>,
    },
}

/// `perouter show bfd ...`.
#[derive(Debug, Subcommand)]
pub enum BfdWhat {
    /// One line per BFD session: state, discriminators, negotiated intervals, uptime, last down reason.
    Peers,
}

fn request(w: &ShowWhat) -> Request {
    match w {
        ShowWhat::Bgp {
            what: BgpWhat::Summary,
        } => Request::BgpSummary,
        ShowWhat::Bgp {
            what:
                BgpWhat::Neighbor {
                    address,
                    routes: None,
                    ..
                },
        } => Request::BgpNeighbor {
            address: address.clone(),
        },
        ShowWhat::Bgp {
            what:
                BgpWhat::Neighbor {
                    address,
                    routes: Some(r),
                    family,
                },
        } => Request::BgpNeighborRoutes {
            address: address.clone(),
            advertised: *r == NeighborRoutes::AdvertisedRoutes,
            family: family.clone(),
        },
        ShowWhat::Bgp {
            what:
                family @ (BgpWhat::Ipv4 {
                    what: UnicastWhat::Unicast { prefix, vrf },
                }
                | BgpWhat::Ipv6 {
                    what: UnicastWhat::Unicast { prefix, vrf },
                }),
        } => Request::BgpUnicast {
            ipv6: matches!(family, BgpWhat::Ipv6 { .. }),
            prefix: prefix.clone(),
            vrf: vrf.clone(),
        },
        ShowWhat::Bgp {
            what:
                BgpWhat::Evpn {
                    route_type,
                    vni,
                    rd,
                },
        } => Request::BgpEvpn {
            route_type: *route_type,
            vni: *vni,
            rd: rd.clone(),
            all_paths: true,
        },
        ShowWhat::Vrf { name } => Request::Vrf { name: name.clone() },
        ShowWhat::Vni
        | ShowWhat::Evpn {
            what: EvpnWhat::Vni { .. },
        } => Request::Vni,
        ShowWhat::Evpn {
            what: EvpnWhat::Mac {
                what: MacWhat::Vni { vni },
            },
        } => Request::EvpnMac { vni: vni.0 },
        ShowWhat::Bfd {
            what: BfdWhat::Peers,
        } => Request::BfdPeers,
        ShowWhat::Status => Request::Status,
    }
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return "-".into(),
        }
    }
    match cur {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Renders an answer as a human table (falls back to pretty JSON for shapes it doesn't know).
pub fn render(req: &Request, v: &Value) -> String {
    let mut out = String::new();
    match req {
        Request::BgpSummary => match serde_json::from_value::<BgpSummary>(v.clone()) {
            Ok(sum) => out.push_str(&render_summary(&sum)),
            Err(e) => out.push_str(&format!("unexpected answer ({e}):\n{v:#}\n")),
        },
        Request::BgpNeighbor { .. } => match serde_json::from_value::<NeighborDetail>(v.clone()) {
            Ok(n) => out.push_str(&render_neighbor(&n)),
            Err(e) => out.push_str(&format!("unexpected answer ({e}):\n{v:#}\n")),
        },
        Request::BgpUnicast { ipv6, prefix, vrf } => {
            render_unicast(*ipv6, vrf.as_deref(), prefix.is_some(), v, &mut out)
        }
        Request::BgpEvpn { .. } => {
            out.push_str(&format!(
                "   {:<56} {:<18} {:<9} {:<16} {:<18} {:<16} {:<8} {:<16} {}\n",
                "Route", "RD", "VNI", "Next hop", "Router MAC", "AS path", "Origin", "From", "RTs"
            ));
            for r in v.as_array().into_iter().flatten() {
                let rts: Vec<String> = r
                    .get("route_targets")
                    .and_then(|x| x.as_array())
                    .into_iter()
                    .flatten()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect();
                let local = if r.get("local").and_then(|l| l.as_bool()) == Some(true) {
                    " (local)"
                } else {
                    ""
                };
                let path = match s(r, &["as_path"]) {
                    p if p.is_empty() => "i".to_string(),
                    p => p,
                };
                let best = if r.get("best").and_then(Value::as_bool) == Some(true) {
                    '>'
                } else {
                    ' '
                };
                out.push_str(&format!(
                    " {best} {:<56} {:<18} {:<9} {:<16} {:<18} {:<16} {:<8} {:<16} {}{}\n",
                    s(r, &["prefix"]),
                    s(r, &["rd"]),
                    s(r, &["vni"]),
                    s(r, &["next_hop"]),
                    s(r, &["router_mac"]),
                    path,
                    s(r, &["origin"]),
                    s(r, &["from"]),
                    rts.join(","),
                    local
                ));
            }
        }
        Request::Vrf { .. } => {
            for (vrf, routes) in v.as_object().into_iter().flatten() {
                out.push_str(&format!("VRF {vrf}:\n"));
                for r in routes.as_array().into_iter().flatten() {
                    let nhs: Vec<String> = r
                        .get("next_hops")
                        .and_then(|n| n.as_array())
                        .into_iter()
                        .flatten()
                        .map(|x| x.as_str().unwrap_or("").to_string())
                        .collect();
                    out.push_str(&format!("  {:<24} {}\n", s(r, &["prefix"]), nhs.join(", ")));
                }
            }
        }
        Request::Vni => match serde_json::from_value::<Vec<VniRow>>(v.clone()) {
            Ok(rows) => out.push_str(&render_vnis(&rows)),
            Err(e) => out.push_str(&format!("unexpected answer ({e}):\n{v:#}\n")),
        },
        Request::BfdPeers => render_bfd_peers(v, &mut out),
        Request::EvpnMac { .. } => render_macs(v, &mut out),
        Request::BgpNeighborRoutes {
            address,
            advertised,
            ..
        } => render_exchanged(address, *advertised, v, &mut out),
        Request::Status => out.push_str(&render_status(v)),
    }
    out
}

/// vtysh's Path column: the AS path followed by the ORIGIN code (`i`, `e`, `?`).
fn path_column(r: &Value) -> String {
    let origin = match s(r, &["origin"]).as_str() {
        "IGP" => "i",
        "EGP" => "e",
        _ => "?",
    };
    match s(r, &["as_path"]) {
        p if p.is_empty() || p == "-" => origin.to_string(),
        p => format!("{p} {origin}"),
    }
}

/// The `show bgp ipv4|ipv6 unicast` table, vtysh's columns plus the session a path came from.
/// With `detail` (one prefix asked for), the decision step that chose each best path follows.
fn render_unicast(ipv6: bool, vrf: Option<&str>, detail: bool, v: &Value, out: &mut String) {
    let rows = v.as_array().map(Vec::as_slice).unwrap_or_default();
    let table = match vrf {
        Some(name) => format!("VRF {name}"),
        None => "Default table (underlay and passthrough)".into(),
    };
    out.push_str(&format!(
        "{table}, {} unicast\n\
         Status codes: * valid, > best, = multipath, S stale\n\n",
        if ipv6 { "IPv6" } else { "IPv4" }
    ));
    out.push_str(&format!(
        "    {:<40} {:<26} {:>10} {:>10}  {:<20} {}\n",
        "Network", "Next Hop", "Metric", "LocPrf", "Path", "From"
    ));
    let mut prefixes = std::collections::BTreeSet::new();
    for r in rows {
        let flag = |k: &str| r.get(k).and_then(Value::as_bool) == Some(true);
        let status = format!(
            "{}{}{}",
            if flag("stale") { 'S' } else { ' ' },
            if flag("valid") { '*' } else { ' ' },
            if flag("best") {
                '>'
            } else if flag("multipath") {
                '='
            } else {
                ' '
            }
        );
        let path = path_column(r);
        let next_hop = match s(r, &["next_hop"]) {
            n if n == "-" => "0.0.0.0".to_string(),
            n => n,
        };
        let prefix = s(r, &["prefix"]);
        out.push_str(&format!(
            "{status} {:<40} {:<26} {:>10} {:>10}  {:<20} {}\n",
            prefix,
            next_hop,
            s(r, &["med"]),
            s(r, &["local_pref"]),
            path,
            s(r, &["from"]),
        ));
        prefixes.insert(prefix);
    }
    out.push_str(&format!(
        "\nDisplayed {} prefixes, {} paths\n",
        prefixes.len(),
        rows.len()
    ));
    if detail {
        for r in rows {
            if let Some(Value::String(why)) = r.get("decided_by") {
                out.push_str(&format!(
                    "Best path to {} is from {}: {why}\n",
                    s(r, &["prefix"]),
                    s(r, &["from"])
                ));
            }
        }
    }
}

/// `show bgp neighbor ADDR received-routes|advertised-routes`: one block per family.
fn render_exchanged(address: &str, advertised: bool, v: &Value, out: &mut String) {
    let rows = v.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut by_family: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for r in rows {
        by_family.entry(s(r, &["family"])).or_default().push(r);
    }
    out.push_str(&format!(
        "{} {address}{}\n",
        if advertised {
            "Routes advertised to"
        } else {
            "Routes received from"
        },
        if advertised {
            " (attributes as sent; P: change queued, not yet sent)"
        } else {
            " (>: best path of its prefix)"
        }
    ));
    if by_family.is_empty() {
        out.push_str("No routes\n");
    }
    for (family, routes) in by_family {
        out.push_str(&format!("\n{family}: {} routes\n", routes.len()));
        out.push_str(&format!(
            "   {:<56} {:<26} {:>10} {:>10}  {}\n",
            "Network", "Next Hop", "Metric", "LocPrf", "Path"
        ));
        for r in routes {
            let flag = |k: &str| r.get(k).and_then(Value::as_bool) == Some(true);
            let mark = match (advertised, flag("pending"), flag("best")) {
                (true, true, _) => 'P',
                (true, false, _) => ' ',
                (false, _, true) => '>',
                (false, _, false) => ' ',
            };
            let path = path_column(r);
            let line = format!(
                " {mark} {:<56} {:<26} {:>10} {:>10}  {path}",
                s(r, &["prefix"]),
                s(r, &["next_hop"]),
                s(r, &["med"]),
                s(r, &["local_pref"]),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// The `show evpn mac vni` table, one block per VNI like vtysh's.
fn render_macs(v: &Value, out: &mut String) {
    let rows = v.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut by_vni: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for r in rows {
        by_vni.entry(s(r, &["vni"])).or_default().push(r);
    }
    if by_vni.is_empty() {
        out.push_str("No MACs\n");
    }
    for (vni, macs) in by_vni {
        out.push_str(&format!("VNI {vni}: {} MACs\n", macs.len()));
        out.push_str(&format!(
            "{:<18} {:<6} {:<5} {:<40} {:<9} {}\n",
            "MAC", "Type", "Flags", "Remote VTEP", "Seq #'s", "IPs"
        ));
        for m in macs {
            let flag = |k: &str| m.get(k).and_then(Value::as_bool) == Some(true);
            let flags = format!(
                "{}{}",
                if flag("sticky") { "S" } else { "" },
                if flag("duplicate") { "D" } else { "" }
            );
            let ips: Vec<String> = m
                .get("ips")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect();
            let seq = |k: &str| match s(m, &[k]) {
                x if x == "-" => "0".to_string(),
                x => x,
            };
            let line = format!(
                "{:<18} {:<6} {:<5} {:<40} {:<9} {}",
                s(m, &["mac"]),
                s(m, &["type"]),
                flags,
                s(m, &["vtep"]),
                format!("{}/{}", seq("local_seq"), seq("remote_seq")),
                ips.join(",")
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// The `show bfd peers` table; intervals in ms.
fn render_bfd_peers(v: &Value, out: &mut String) {
    let ms = |p: &Value, k: &str| match p.get(k).and_then(|x| x.as_u64()) {
        Some(us) => format!("{}", us / 1000),
        None => "-".into(),
    };
    out.push_str(&format!(
        "{:<40} {:<5} {:<10} {:>10} {:>10} {:>6} {:>6} {:>7} {:>10} {:<31} {:>8} {:>8}\n",
        "Peer",
        "Hop",
        "State",
        "LocalDisc",
        "RemoteDisc",
        "TX ms",
        "RX ms",
        "Det ms",
        "Uptime s",
        "Last down",
        "PktIn",
        "PktOut"
    ));
    for p in v.as_array().into_iter().flatten() {
        let hop = if p.get("multihop").and_then(|m| m.as_bool()) == Some(true) {
            "multi"
        } else {
            "single"
        };
        let uptime = p
            .get("uptime_ms")
            .and_then(|u| u.as_u64())
            .map_or("-".into(), |u| (u / 1000).to_string());
        let last_down = match p.get("last_down_diag") {
            Some(Value::Null) | None => "-".to_string(),
            Some(Value::String(d)) => d.clone(),
            Some(other) => other.to_string(),
        };
        out.push_str(&format!(
            "{:<40} {:<5} {:<10} {:>10} {:>10} {:>6} {:>6} {:>7} {:>10} {:<31} {:>8} {:>8}\n",
            s(p, &["peer"]),
            hop,
            s(p, &["state"]),
            s(p, &["local_discriminator"]),
            s(p, &["remote_discriminator"]),
            ms(p, "tx_interval_us"),
            ms(p, "rx_interval_us"),
            ms(p, "detection_time_us"),
            uptime,
            last_down,
            s(p, &["counters", "packets_in"]),
            s(p, &["counters", "packets_out"]),
        ));
    }
}

/// vtysh's Up/Down column: `hh:mm:ss` under a day, `XdYYhZZm` under a week, `XwYdZZh` after.
pub fn up_down(secs: Option<u64>) -> String {
    let Some(t) = secs else {
        return "never".into();
    };
    let (w, d, h, m, s) = (
        t / 604_800,
        t / 86_400 % 7,
        t / 3600 % 24,
        t / 60 % 60,
        t % 60,
    );
    if t < 86_400 {
        format!("{:02}:{:02}:{:02}", t / 3600, m, s)
    } else if t < 604_800 {
        format!("{}d{:02}h{:02}m", t / 86_400, h, m)
    } else {
        format!("{w}w{d}d{h:02}h")
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// `show bgp summary`, laid out like vtysh's.
pub fn render_summary(sum: &BgpSummary) -> String {
    let mut out = format!(
        "BGP router identifier {}, local AS number {}\n\n",
        sum.router_id, sum.local_as
    );
    out.push_str(&format!(
        "{:<39} {:>1} {:>10} {:>9} {:>9} {:>8} {:>12} {:>8} {}\n",
        "Neighbor", "V", "AS", "MsgRcvd", "MsgSent", "Up/Down", "State/PfxRcd", "PfxSnt", "Desc"
    ));
    for r in &sum.peers {
        let st = match (r.state.as_str(), r.pfx_rcd) {
            ("Established", Some(n)) => n.to_string(),
            (s, _) => s.to_string(),
        };
        out.push_str(&format!(
            "{:<39} {:>1} {:>10} {:>9} {:>9} {:>8} {:>12} {:>8} {}\n",
            r.neighbor,
            r.version,
            r.remote_as,
            r.msg_rcvd,
            r.msg_sent,
            up_down(r.up_seconds),
            st,
            r.pfx_snt,
            r.desc
        ));
    }
    out.push_str(&format!(
        "\nTotal number of neighbors {} ({} Established)\n",
        sum.total_peers, sum.established
    ));
    out
}

/// `show bgp neighbor ADDR`, in the spirit of vtysh's.
pub fn render_neighbor(n: &NeighborDetail) -> String {
    let mut o = String::new();
    let link = match n.remote_as.parse::<u32>() {
        Ok(a) if a == n.local_as => "internal",
        Ok(_) => "external",
        Err(_) => n.remote_as.as_str(),
    };
    o.push_str(&format!(
        "BGP neighbor is {}, port {}, remote AS {}, local AS {}, {} link\n",
        n.neighbor, n.port, n.remote_as, n.local_as, link
    ));
    o.push_str(&format!("  Description: {}\n", n.desc));
    if let Some(v) = &n.vrf {
        o.push_str(&format!("  VRF: {v}\n"));
    }
    match n.up_seconds {
        Some(_) => o.push_str(&format!(
            "  BGP state = {}, up for {}\n",
            n.state,
            up_down(n.up_seconds)
        )),
        None => o.push_str(&format!("  BGP state = {}\n", n.state)),
    }
    o.push_str(&format!(
        "  Local router ID {}, local address {}\n",
        n.local_router_id,
        opt(&n.local_address)
    ));
    o.push_str(&format!(
        "  Configured hold time {} s, keepalive {}, connect retry {} s\n",
        n.hold_time,
        n.keepalive.map_or_else(
            || format!("{} s (hold/3)", n.hold_time / 3),
            |k| format!("{k} s")
        ),
        n.connect_retry
    ));
    o.push_str(&format!("  Families: {}\n", n.families.join(", ")));
    o.push_str(&format!(
        "  Capabilities offered: {}\n",
        n.capabilities.join(", ")
    ));
    if let Some(ng) = &n.negotiated {
        o.push_str(&format!(
            "  Peer router ID {}, peer AS {}; hold time {} s, keepalive {} (negotiated)\n",
            ng.peer_router_id,
            ng.peer_as,
            ng.hold_time,
            ng.keepalive
                .map_or_else(|| "none".into(), |k| format!("{k} s"))
        ));
        o.push_str(&format!(
            "  Negotiated families: {}\n",
            ng.families.join(", ")
        ));
        o.push_str(&format!(
            "  Capabilities received: {}\n",
            ng.received_capabilities.join(", ")
        ));
        o.push_str(&format!(
            "  Negotiated capabilities: {}\n",
            ng.capabilities.join(", ")
        ));
        match ng.peer_restart_time {
            Some(t) => o.push_str(&format!(
                "  Peer graceful restart: restart time {t} s, forwarding kept for {}\n",
                if ng.peer_gr_forwarding.is_empty() {
                    "none".to_string()
                } else {
                    ng.peer_gr_forwarding.join(", ")
                }
            )),
            None => o.push_str("  Peer graceful restart: not offered (or not by us)\n"),
        }
    }
    let gr = &n.graceful_restart;
    if gr.enabled {
        o.push_str(&format!(
            "  Graceful restart: enabled, restart time {} s, stale time {} s{}\n",
            gr.restart_time,
            gr.stale_time,
            if gr.restarting {
                ", restarting (R bit)"
            } else {
                ""
            }
        ));
    } else {
        o.push_str("  Graceful restart: disabled\n");
    }
    o.push_str(&format!(
        "  TCP-MD5: {}\n",
        if n.tcp_md5 { "on" } else { "off" }
    ));
    if let Some(h) = n.ebgp_multihop {
        o.push_str(&format!("  eBGP multihop: {h} hops\n"));
    }
    o.push_str("  Message statistics:\n");
    o.push_str(&format!("    {:<16} {:>10} {:>10}\n", "", "Sent", "Rcvd"));
    let (s, r) = (&n.messages_sent, &n.messages_received);
    for (name, a, b) in [
        ("Opens:", s.open, r.open),
        ("Notifications:", s.notification, r.notification),
        ("Updates:", s.update, r.update),
        ("Keepalives:", s.keepalive, r.keepalive),
        ("Route Refresh:", s.route_refresh, r.route_refresh),
        ("Total:", s.total(), r.total()),
    ] {
        o.push_str(&format!("    {name:<16} {a:>10} {b:>10}\n"));
    }
    for (dir, list) in [
        ("sent", &n.notifications_sent),
        ("received", &n.notifications_received),
    ] {
        for c in list {
            o.push_str(&format!(
                "  Notifications {dir}: code {} subcode {}: {}\n",
                c.code, c.subcode, c.count
            ));
        }
    }
    o.push_str(&format!(
        "  Established {} times, dropped {} times\n",
        n.established_transitions, n.flaps
    ));
    if n.handoffs > 0 {
        o.push_str(&format!(
            "  Handed over to a new perouter process {} times (the peer saw one session)\n",
            n.handoffs
        ));
    }
    let reset = n
        .last_notification_received
        .as_ref()
        .map(|x| format!("NOTIFICATION received: {x}"))
        .or_else(|| {
            n.last_notification_sent
                .as_ref()
                .map(|x| format!("NOTIFICATION sent: {x}"))
        })
        .or_else(|| n.last_error.clone());
    match (&reset, n.flaps) {
        (Some(r), _) => o.push_str(&format!("  Last reset: {r}\n")),
        (None, 0) => o.push_str("  Last reset: never\n"),
        (None, _) => o.push_str("  Last reset: connection closed\n"),
    }
    if let (Some(_), Some(e)) = (&reset, &n.last_error) {
        if Some(e) != reset.as_ref() {
            o.push_str(&format!("  Last error: {e}\n"));
        }
    }
    o.push_str(&format!(
        "  Prefixes: received {}, withdrawn {}, advertised {}, current {}, limit {}\n",
        n.prefixes_received,
        n.prefixes_withdrawn,
        n.prefixes_advertised,
        opt(&n.prefixes_current),
        opt(&n.max_prefix)
    ));
    o.push_str(&format!(
        "  RFC 7606: {} UPDATEs treated as withdraw, {} attributes discarded\n",
        n.updates_treated_as_withdraw, n.attributes_discarded
    ));
    o.push_str(&format!(
        "  Send queue: {} bytes, {} batches waiting",
        n.send_queue_bytes, n.outbox_depth
    ));
    match n
        .send_stalled_since
        .and_then(|t| i64::try_from(t).ok())
        .and_then(|t| k8s_openapi::jiff::Timestamp::from_second(t).ok())
    {
        Some(t) => o.push_str(&format!(
            ", not draining since {t} (RFC 9687 send hold timer)\n"
        )),
        None => o.push('\n'),
    }
    o
}

/// `show evpn vni`.
pub fn render_vnis(rows: &[VniRow]) -> String {
    let mut out = format!(
        "{:<9} {:<4} {:<12} {:<10} {:<12} {:<16} {:<20} {:>5} {:>6} {:>6} {:>6} {}\n",
        "VNI",
        "Type",
        "Name",
        "VRF",
        "VXLAN",
        "VTEP",
        "RD",
        "#MACs",
        "#Neigh",
        "#Local",
        "#Pfx",
        "Remote VTEPs"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<9} {:<4} {:<12} {:<10} {:<12} {:<16} {:<20} {:>5} {:>6} {:>6} {:>6} {}\n",
            r.vni,
            r.kind,
            r.name,
            opt(&r.vrf),
            r.vxlan,
            opt(&r.vtep),
            r.rd,
            r.remote_macs,
            r.remote_neighbors,
            r.local_macs,
            r.remote_prefixes,
            if r.remote_vteps.is_empty() {
                "-".to_string()
            } else {
                r.remote_vteps.join(",")
            }
        ));
    }
    out
}

/// `show status`: the generation, every failed resource and file, the plan error, and the
/// datapath with each failure of its last pass.
pub fn render_status(v: &Value) -> String {
    let mut out = String::new();
    if let Some(p) = v.get("process").filter(|p| p.is_object()) {
        let how = match p["start"].as_str().unwrap_or_default() {
            "handoff" => format!(
                "took {} session(s) over from pid {} ({} could not be resumed) in {} ms",
                s(p, &["sessions_taken_over"]),
                s(p, &["predecessor"]),
                s(p, &["sessions_failed"]),
                s(p, &["handoff_ms"])
            ),
            "fallback" => format!(
                "restarted without a handoff: {}",
                s(p, &["fallback_reason"])
            ),
            "restart" => "restarted (graceful restart)".to_string(),
            _ => "fresh start".to_string(),
        };
        out.push_str(&format!(
            "process {} ({}): {how}\n",
            s(p, &["pid"]),
            s(p, &["version"])
        ));
    }
    out.push_str(&format!(
        "configuration generation {}\n",
        s(v, &["generation"])
    ));
    let failed: Vec<&Value> = v
        .get("failed_resources")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .collect();
    out.push_str(&format!("failed resources: {}\n", failed.len()));
    for f in failed {
        out.push_str(&format!(
            "  {} {}: {}: {}\n",
            s(f, &["kind"]),
            s(f, &["name"]),
            s(f, &["reason"]),
            s(f, &["message"])
        ));
    }
    for f in v
        .get("file_errors")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  FILE ERROR {}: {} (its last good resources stay in force)\n",
            s(f, &["path"]),
            s(f, &["message"])
        ));
    }
    for w in v
        .get("warnings")
        .and_then(|w| w.as_array())
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  deprecated: {}\n",
            w.as_str().unwrap_or_default()
        ));
    }
    if v.get("plan_error").is_some_and(|e| !e.is_null()) {
        out.push_str(&format!(
            "keeping the running plan: {}\n",
            s(v, &["plan_error"])
        ));
    }
    if let Some(d) = v.get("datapath").filter(|d| !d.is_null()) {
        let fails: Vec<&Value> = d
            .get("last_failures")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
            .collect();
        out.push_str(&format!(
            "datapath: {} passes, last pass {} operations, {} failed, {} netlink messages sent\n",
            s(d, &["passes"]),
            s(d, &["last_ops"]),
            fails.len(),
            s(d, &["messages_sent"])
        ));
        if d.get("last_error").is_some_and(|e| !e.is_null()) {
            out.push_str(&format!("  last pass failed: {}\n", s(d, &["last_error"])));
        }
        for f in fails {
            out.push_str(&format!("  failed: {}\n", f.as_str().unwrap_or_default()));
        }
    }
    out
}

/// Runs `perouter show`.
pub fn run(args: &ShowArgs) -> ExitCode {
    let req = request(&args.what);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("perouter show: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(query(&args.api_socket, &req)) {
        Ok(Response::Ok(mut v)) => {
            if let ShowWhat::Evpn {
                what: EvpnWhat::Vni { vni: Some(n) },
            } = &args.what
            {
                if let Some(a) = v.as_array_mut() {
                    a.retain(|r| r.get("vni").and_then(Value::as_u64) == Some(u64::from(*n)));
                }
            }
            if args.output == "json" {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", render(&req, &v));
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Error(e)) => {
            eprintln!("perouter show: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("perouter show: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sessions::planned_sessions;
    use crate::views;
    use perouter_bgp::config::NeighborTarget;

    #[test]
    fn status_says_how_the_process_started() {
        let v = serde_json::json!({"generation": 3, "process": {"pid": 42, "version": "perouter 0.1.0",
            "start": "handoff", "predecessor": 41, "sessions_taken_over": 2, "sessions_failed": 0,
            "handoff_ms": 6, "fallback_reason": null}});
        assert!(render_status(&v).starts_with(
            "process 42 (perouter 0.1.0): took 2 session(s) over from pid 41 (0 could not be resumed) in 6 ms\nconfiguration generation 3\n"
        ));
        let v = serde_json::json!({"generation": 1, "process": {"pid": 43, "version": "v",
            "start": "fallback", "fallback_reason": "handoff refused: 1 BFD session(s) configured"}});
        assert!(render_status(&v)
            .starts_with("process 43 (v): restarted without a handoff: handoff refused: 1 BFD"));
        // An older daemon without `process`: the generation line comes first, as before.
        assert!(render_status(&serde_json::json!({"generation": 1})).starts_with("configuration"));
    }

    /// Compares `got` with the golden file `name` under src/cli/golden (UPDATE_GOLDEN=1
    /// rewrites it).
    fn golden(name: &str, got: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/cli/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(got, want, "{name} differs from its golden file");
    }

    /// The example node's planned sessions with the representative peers attached to the
    /// first fabric neighbour and the first host session.
    fn fixture() -> (
        Vec<perouter_bgp::speaker::PeerStatus>,
        Vec<crate::runtime::sessions::PlannedSession>,
        std::sync::Arc<crate::plan::NodePlan>,
    ) {
        let applied = crate::metrics::tests::example_applied();
        let plan = applied.plan.clone().unwrap();
        let sessions = planned_sessions(&plan);
        let (_, input) = crate::metrics::tests::representative();
        let mut peers = input.peers.unwrap();
        let addr = |i: usize| match &sessions[i].neighbor.target {
            NeighborTarget::Address(a) => *a,
            other => panic!("{other:?}"),
        };
        for (i, p) in peers.iter_mut().enumerate() {
            let a = addr(i.min(sessions.len() - 1));
            p.target = NeighborTarget::Address(a);
            p.remote = std::net::SocketAddr::new(a, 179);
        }
        (peers, sessions, plan)
    }

    #[test]
    fn bgp_summary_golden_and_schema() {
        let (peers, sessions, plan) = fixture();
        let sum = views::bgp_summary(plan.router_id.to_string(), plan.asn, &peers, &sessions);
        let v = serde_json::to_value(&sum).unwrap();
        // Schema: the documented fields, with their JSON types.
        for k in [
            "router_id",
            "local_as",
            "total_peers",
            "established",
            "peers",
        ] {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        let row = &v["peers"][0];
        for (k, ty) in [
            ("neighbor", "string"),
            ("version", "number"),
            ("remote_as", "string"),
            ("msg_rcvd", "number"),
            ("msg_sent", "number"),
            ("up_seconds", "number"),
            ("state", "string"),
            ("pfx_rcd", "number"),
            ("pfx_snt", "number"),
            ("desc", "string"),
        ] {
            let got = match &row[k] {
                Value::String(_) => "string",
                Value::Number(_) => "number",
                other => panic!("{k}: {other}"),
            };
            assert_eq!(got, ty, "{k}");
        }
        assert!(!row["neighbor"].as_str().unwrap().contains(":179"));
        assert_eq!(v["peers"][1]["pfx_rcd"], Value::Null);
        assert_eq!(v["peers"][1]["up_seconds"], Value::Null);
        // The client renders the JSON it receives.
        golden("bgp-summary.txt", &render(&Request::BgpSummary, &v));
    }

    #[test]
    fn bgp_neighbor_golden_and_lookup() {
        let (peers, sessions, plan) = fixture();
        let addr = peers[0].remote.ip().to_string();
        for q in [addr.clone(), format!("{addr}:179")] {
            assert!(views::matches(&peers[0], &q), "{q}");
            assert!(!views::matches(&peers[1], &q), "{q}");
        }
        let n = views::neighbor_detail(plan.router_id.to_string(), plan.asn, &peers[0], &sessions);
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["messages_received"]["keepalive"], 10);
        assert_eq!(v["notifications_received"][0]["code"], 6);
        assert!(v["tcp_md5"].is_boolean());
        assert!(v.get("password").is_none() && !v.to_string().contains("password"));
        golden(
            "bgp-neighbor.txt",
            &render(&Request::BgpNeighbor { address: addr }, &v),
        );
    }

    #[test]
    fn evpn_vni_golden() {
        let (_, _, plan) = fixture();
        let (_, input) = crate::metrics::tests::representative();
        let rows = views::vnis(&plan, &input.evpn.unwrap());
        let v = serde_json::to_value(&rows).unwrap();
        assert!(v[0]["remote_vteps"].is_array());
        golden("evpn-vni.txt", &render(&Request::Vni, &v));
    }

    #[test]
    fn status_lists_every_failure_with_its_reason() {
        let v = serde_json::json!({
            "generation": 3,
            "failed_resources": [
                {"kind": "L3VNI", "name": "red", "reason": "Invalid", "message": "spec.vni 0 is outside 1..16777215"},
                {"kind": "L2VNI", "name": "blue", "reason": "Conflict", "message": "spec.vni 100 is used by L3VNI red"}
            ],
            "file_errors": [{"path": "/etc/x/openpe_bad.yaml", "message": "line 3: bad indentation"}],
            "plan_error": null,
            "datapath": {"passes": 4, "last_ops": 2, "last_failures": ["add route 10.0.0.0/24 table 100: No such device (errno 19)"],
                "last_error": null, "messages_sent": 40}
        });
        golden("status.txt", &render(&Request::Status, &v));
    }

    #[test]
    fn bgp_evpn_golden() {
        let (_, input) = crate::metrics::tests::representative();
        let mut v = serde_json::to_value(input.evpn.unwrap()).unwrap();
        assert_eq!(v[0]["as_path"], "64512 64520");
        // Listed with every path: the second path of the first route is not its best.
        v[1]["best"] = Value::Bool(false);
        golden(
            "bgp-evpn.txt",
            &render(
                &Request::BgpEvpn {
                    route_type: None,
                    vni: None,
                    rd: None,
                    all_paths: true,
                },
                &v,
            ),
        );
    }

    /// A real RIB with two ToRs: a prefix from both (one best, one not), a passthrough-like
    /// route with MED and communities, a path through our own router ID (not valid), our VTEP.
    #[test]
    fn bgp_ipv4_unicast_golden() {
        use perouter_rib::*;
        use std::net::{IpAddr, Ipv4Addr};
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut rib = Rib::new(RibConfig {
            asn: 64514,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            vtep: ip("100.65.0.1"),
            multipath: MultipathConfig::default(),
            default_networks: vec![],
            cluster_id: None,
        });
        let tor = |addr: &str| PeerConfig {
            role: PeerRole::Fabric,
            local_asn: 64514,
            remote_asn: 64512,
            remote_address: ip(addr),
            local_address: ip("192.168.11.3"),
            remote_router_id: match ip(addr) {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => unreachable!(),
            },
            families: vec![Family::Ipv4Unicast],
            route_reflector_client: false,
            allowas_in: 0,
        };
        let a = rib.handle_peer_up(tor("192.168.11.2")).unwrap();
        let b = rib.handle_peer_up(tor("192.168.12.2")).unwrap();
        let mut update = |p, path: &[u32], nh: &str, prefix: &str, med, comms: Vec<Community>| {
            rib.handle_update(
                p,
                RouteUpdate {
                    attrs: PathAttrs {
                        as_path: AsPath::sequence(path.iter().copied()),
                        next_hop: Some(ip(nh)),
                        med,
                        communities: comms.into(),
                        ..Default::default()
                    },
                    announced: vec![Nlri::V4(prefix.parse().unwrap())],
                    withdrawn: vec![],
                    path_id: 0,
                },
            )
            .unwrap();
        };
        update(
            b,
            &[64512, 64520],
            "192.168.12.2",
            "10.100.0.0/24",
            None,
            vec![],
        );
        update(a, &[64512], "192.168.11.2", "10.100.0.0/24", None, vec![]);
        update(
            a,
            &[64512, 65001],
            "192.168.11.2",
            "10.200.0.0/16",
            Some(20),
            vec![Community(0xfbf0_0064)],
        );
        update(a, &[64512], "10.0.0.1", "10.201.0.0/24", None, vec![]);
        let names = [
            (a, "192.168.11.2".to_string()),
            (b, "192.168.12.2".to_string()),
        ]
        .into_iter()
        .collect();
        let views = crate::runtime::routing::unicast_views(
            rib.unicast_paths(false, None, PrefixMatch::All),
            &names,
        );
        let v = serde_json::to_value(&views).unwrap();
        let best: Vec<_> = views
            .iter()
            .filter(|r| r.best)
            .map(|r| r.prefix.to_string())
            .collect();
        assert_eq!(best, ["10.100.0.0/24", "10.200.0.0/16", "100.65.0.1/32"]);
        let req = Request::BgpUnicast {
            ipv6: false,
            prefix: None,
            vrf: None,
        };
        golden("bgp-ipv4-unicast.txt", &render(&req, &v));
        // What the first ToR sent (Adj-RIB-In) and holds from us (Adj-RIB-Out, once sent).
        let rin: Vec<crate::runtime::routing::ExchangedRouteView> =
            rib.adj_rib_in(a).into_iter().map(Into::into).collect();
        let req = Request::BgpNeighborRoutes {
            address: "192.168.11.2".into(),
            advertised: false,
            family: None,
        };
        golden(
            "bgp-neighbor-received.txt",
            &render(&req, &serde_json::to_value(&rin).unwrap()),
        );
        while rib.poll_adj_out(b, 1000).is_some() {}
        let rout: Vec<crate::runtime::routing::ExchangedRouteView> =
            rib.adj_rib_out(b).into_iter().map(Into::into).collect();
        assert!(
            rout.iter().all(|r| r.as_path.starts_with("64514")),
            "our AS prepended"
        );
        let req = Request::BgpNeighborRoutes {
            address: "192.168.12.2".into(),
            advertised: true,
            family: None,
        };
        golden(
            "bgp-neighbor-advertised.txt",
            &render(&req, &serde_json::to_value(&rout).unwrap()),
        );
        // One prefix: its paths and why the best won.
        let one = crate::runtime::routing::unicast_views(
            rib.unicast_paths(
                false,
                None,
                PrefixMatch::Exact("10.100.0.0/24".parse().unwrap()),
            ),
            &names,
        );
        let req = Request::BgpUnicast {
            ipv6: false,
            prefix: Some("10.100.0.0/24".into()),
            vrf: None,
        };
        golden(
            "bgp-ipv4-unicast-prefix.txt",
            &render(&req, &serde_json::to_value(&one).unwrap()),
        );
    }

    #[test]
    fn evpn_mac_golden() {
        use crate::runtime::routing::MacView;
        use perouter_evpn::MacAddress;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let rows: Vec<MacView> = [
            perouter_rib::MacEntry {
                vni: 110,
                mac: MacAddress([0x02, 0x42, 0, 0, 0, 0x0a]),
                local: true,
                vtep: None,
                ips: vec![ip("192.170.1.10")],
                local_seq: Some(2),
                remote_seq: Some(1),
                sticky: false,
                duplicate: false,
                remote_vteps: vec![],
            },
            perouter_rib::MacEntry {
                vni: 110,
                mac: MacAddress([0x02, 0x42, 0, 0, 0, 0x0b]),
                local: false,
                vtep: Some(ip("100.65.0.1")),
                ips: vec![],
                local_seq: None,
                remote_seq: Some(0),
                sticky: true,
                duplicate: false,
                remote_vteps: vec![ip("100.65.0.1")],
            },
            perouter_rib::MacEntry {
                vni: 120,
                mac: MacAddress([0x02, 0x42, 0, 0, 0, 0x0c]),
                local: true,
                vtep: None,
                ips: vec![],
                local_seq: Some(7),
                remote_seq: None,
                sticky: false,
                duplicate: true,
                remote_vteps: vec![],
            },
        ]
        .into_iter()
        .map(MacView::from)
        .collect();
        let v = serde_json::to_value(&rows).unwrap();
        assert_eq!(v[1]["type"], "remote");
        assert_eq!(v[1]["mac"], "02:42:00:00:00:0b");
        golden("evpn-mac.txt", &render(&Request::EvpnMac { vni: None }, &v));
        assert_eq!(
            "all".parse::<VniOrAll>().unwrap().0,
            None,
            "`all` is every VNI"
        );
        assert_eq!("110".parse::<VniOrAll>().unwrap().0, Some(110));
        assert!("0".parse::<VniOrAll>().is_err());
        assert!("16777216".parse::<VniOrAll>().is_err());
    }

    #[test]
    fn up_down_like_vtysh() {
        assert_eq!(up_down(None), "never");
        assert_eq!(up_down(Some(90)), "00:01:30");
        assert_eq!(up_down(Some(86_400 + 3_660)), "1d01h01m");
        assert_eq!(up_down(Some(8 * 86_400 + 7_200)), "1w1d02h");
    }
}
