//! `perouter show ...`: ask a running daemon over its local socket; human tables by default,
//! `-o json` for the raw answer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::api::{query, Request, Response, DEFAULT_SOCKET};

/// Arguments of `perouter show`.
#[derive(Debug, Args)]
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
    /// The VNIs of this node.
    Vni,
    /// Applied configuration, failed resources with reasons, datapath state.
    Status,
}

/// `perouter show bgp ...`.
#[derive(Debug, Subcommand)]
pub enum BgpWhat {
    /// One line per session.
    Summary,
    /// One session in detail.
    Neighbor {
        /// The peer's address.
        address: String,
    },
    /// The EVPN table.
    Evpn {
        /// Only this route type (2, 3 or 5).
        #[arg(long = "type")]
        route_type: Option<u8>,
        /// Only this VNI.
        #[arg(long)]
        vni: Option<u32>,
    },
}

fn request(w: &ShowWhat) -> Request {
    match w {
        ShowWhat::Bgp {
            what: BgpWhat::Summary,
        } => Request::BgpSummary,
        ShowWhat::Bgp {
            what: BgpWhat::Neighbor { address },
        } => Request::BgpNeighbor {
            address: address.clone(),
        },
        ShowWhat::Bgp {
            what: BgpWhat::Evpn { route_type, vni },
        } => Request::BgpEvpn {
            route_type: *route_type,
            vni: *vni,
        },
        ShowWhat::Vrf { name } => Request::Vrf { name: name.clone() },
        ShowWhat::Vni => Request::Vni,
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
        Request::BgpSummary => {
            out.push_str(&format!(
                "{:<40} {:<12} {:<12} {:>8} {:>8} {:>8}\n",
                "Neighbor", "AS", "State", "MsgRcvd", "MsgSent", "PfxRcd"
            ));
            for p in v.as_array().into_iter().flatten() {
                let session = p.get("session").cloned().unwrap_or_default();
                out.push_str(&format!(
                    "{:<40} {:<12} {:<12} {:>8} {:>8} {:>8}\n",
                    s(p, &["remote"]),
                    s(&session, &["peer_as"]),
                    s(&session, &["state"]),
                    s(&session, &["counters", "messages_in"]),
                    s(&session, &["counters", "messages_out"]),
                    s(&session, &["counters", "prefixes_received"]),
                ));
            }
        }
        Request::BgpEvpn { .. } => {
            out.push_str(&format!(
                "{:<56} {:<18} {:<9} {:<16} {:<18} {}\n",
                "Route", "RD", "VNI", "Next hop", "Router MAC", "RTs"
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
                out.push_str(&format!(
                    "{:<56} {:<18} {:<9} {:<16} {:<18} {}{}\n",
                    s(r, &["prefix"]),
                    s(r, &["rd"]),
                    s(r, &["vni"]),
                    s(r, &["next_hop"]),
                    s(r, &["router_mac"]),
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
        Request::Vni => {
            out.push_str(&format!(
                "{:<9} {:<4} {:<12} {:<8} {:<10} {:<16} {}\n",
                "VNI", "Type", "Name", "VRF", "VXLAN", "VTEP", "RD"
            ));
            for n in v.as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "{:<9} {:<4} {:<12} {:<8} {:<10} {:<16} {}\n",
                    s(n, &["vni"]),
                    s(n, &["type"]),
                    s(n, &["name"]),
                    s(n, &["vrf"]),
                    s(n, &["vxlan"]),
                    s(n, &["vtep"]),
                    s(n, &["rd"])
                ));
            }
        }
        Request::Status => {
            out.push_str(&format!(
                "configuration generation {}\n",
                s(v, &["generation"])
            ));
            for f in v
                .get("failed_resources")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
            {
                out.push_str(&format!(
                    "  FAILED {} {}: {} ({})\n",
                    s(f, &["kind"]),
                    s(f, &["name"]),
                    s(f, &["message"]),
                    s(f, &["reason"])
                ));
            }
            // Files that could not be used (what they last gave stays in force).
            for e in v
                .get("file_errors")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
            {
                out.push_str(&format!(
                    "  FILE ERROR {}: {} (its last good resources stay in force)\n",
                    s(e, &["path"]),
                    s(e, &["message"])
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
                    "  keeping the running plan: {}\n",
                    s(v, &["plan_error"])
                ));
            }
            out.push_str(&format!(
                "datapath: {} passes, last pass {} ops, {} failures, {} netlink messages sent, last error {}\n",
                s(v, &["datapath", "passes"]), s(v, &["datapath", "last_ops"]),
                v["datapath"]["last_failures"].as_array().map_or(0, |a| a.len()),
                s(v, &["datapath", "messages_sent"]), s(v, &["datapath", "last_error"])
            ));
        }
        _ => out.push_str(&serde_json::to_string_pretty(v).unwrap_or_default()),
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
        Ok(Response::Ok(v)) => {
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
