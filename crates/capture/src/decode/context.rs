//! Which codec context applies to a message: negotiated from the connection's OPEN exchange
//! when both OPENs have been seen (exactly as a session computes it), otherwise the fallback the
//! command-line flags describe.

use std::fmt;
use std::str::FromStr;

use perouter_bgp::wire::{AddPathFamilies, AfiSafi, Open, WireContext};

use crate::reassembly::Direction;

/// Which directions an `--add-path` flag applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddPathDirection {
    /// Messages in both directions carry path identifiers.
    Both,
    /// Only messages sent by the connection's initiator (for input without direction
    /// information, every message counts as forward).
    Forward,
    /// Only messages sent by the responder.
    Reverse,
}

impl AddPathDirection {
    fn applies(self, direction: Direction) -> bool {
        matches!(
            (self, direction),
            (AddPathDirection::Both, _)
                | (AddPathDirection::Forward, Direction::Forward)
                | (AddPathDirection::Reverse, Direction::Reverse)
        )
    }
}

/// One `--add-path FAMILY[:DIR]` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPathFlag {
    /// The family whose NLRI carry path identifiers.
    pub family: AfiSafi,
    /// In which directions.
    pub direction: AddPathDirection,
}

impl FromStr for AddPathFlag {
    type Err = String;

    /// `ipv4-unicast`, `l2vpn-evpn:both`, `ipv6-unicast:forward`, `ipv4-unicast:reverse`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (fam, dir) = match s.rsplit_once(':') {
            Some((f, d)) => (f, Some(d)),
            None => (s, None),
        };
        let family = fam.parse::<AfiSafi>().map_err(|e| e.to_string())?;
        let direction = match dir.map(str::to_ascii_lowercase).as_deref() {
            None | Some("both") => AddPathDirection::Both,
            Some("forward" | "fwd") => AddPathDirection::Forward,
            Some("reverse" | "rev") => AddPathDirection::Reverse,
            Some(other) => {
                return Err(format!(
                    "unknown direction {other:?} (expected both, forward or reverse)"
                ))
            }
        };
        Ok(AddPathFlag { family, direction })
    }
}

/// The context described by command-line flags, used wherever no OPEN exchange says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackContext {
    /// 4-octet AS numbers (the default; `--as2` turns it off).
    pub four_octet_as: bool,
    /// RFC 8654 extended messages.
    pub extended_message: bool,
    /// ADD-PATH families and directions.
    pub add_path: Vec<AddPathFlag>,
}

impl Default for FallbackContext {
    fn default() -> Self {
        FallbackContext {
            four_octet_as: true,
            extended_message: false,
            add_path: Vec::new(),
        }
    }
}

impl FallbackContext {
    /// The context for messages flowing in `direction` (`None`: direction unknown, treated as
    /// forward).
    pub fn context(&self, direction: Option<Direction>) -> WireContext {
        let direction = direction.unwrap_or(Direction::Forward);
        let mut add_path = AddPathFamilies::none();
        for f in &self.add_path {
            if f.direction.applies(direction) {
                add_path.insert(f.family);
            }
        }
        WireContext {
            four_octet_as: self.four_octet_as,
            extended_message: self.extended_message,
            add_path,
            ibgp: None,
        }
    }
}

/// Where a message's context came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextSource {
    /// Negotiated from the connection's two OPEN messages.
    Negotiated,
    /// From the command-line flags (no OPEN exchange seen, or following disabled).
    Flags,
}

impl fmt::Display for ContextSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextSource::Negotiated => "negotiated",
            ContextSource::Flags => "flags",
        })
    }
}

/// The OPEN exchange of one connection and the contexts it negotiated per direction.
#[derive(Debug, Clone, Default)]
pub struct OpenExchange {
    opens: [Option<Open>; 2],
    negotiated: [Option<WireContext>; 2],
}

fn index(d: Direction) -> usize {
    match d {
        Direction::Forward => 0,
        Direction::Reverse => 1,
    }
}

impl OpenExchange {
    /// An exchange with no OPEN seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the OPEN sent in `direction`. A second OPEN from the same side starts a new
    /// session on the connection, so the other side's earlier OPEN no longer counts.
    pub fn handle_open(&mut self, direction: Direction, open: &Open) {
        let (me, other) = (index(direction), index(direction.opposite()));
        if self.opens[me].is_some() {
            self.opens[other] = None;
        }
        self.opens[me] = Some(open.clone());
        self.negotiated = [None, None];
        if let (Some(fwd), Some(rev)) = (&self.opens[0], &self.opens[1]) {
            self.negotiated = [
                Some(WireContext::negotiate(fwd, rev)),
                Some(WireContext::negotiate(rev, fwd)),
            ];
            tracing::debug!(forward = ?self.negotiated[0], reverse = ?self.negotiated[1], "OPEN exchange complete");
        }
    }

    /// The context negotiated for messages sent in `direction`, once both OPENs are known.
    pub fn negotiated(&self, direction: Direction) -> Option<&WireContext> {
        self.negotiated[index(direction)].as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_path_flags_parse() {
        assert_eq!(
            "ipv4-unicast".parse::<AddPathFlag>(),
            Ok(AddPathFlag {
                family: AfiSafi::IPV4_UNICAST,
                direction: AddPathDirection::Both
            })
        );
        assert_eq!(
            "l2vpn-evpn:reverse".parse::<AddPathFlag>(),
            Ok(AddPathFlag {
                family: AfiSafi::L2VPN_EVPN,
                direction: AddPathDirection::Reverse
            })
        );
        assert!("ipv4-unicast:sideways".parse::<AddPathFlag>().is_err());
        assert!("ipx".parse::<AddPathFlag>().is_err());
    }

    #[test]
    fn fallback_applies_directions() {
        let f = FallbackContext {
            four_octet_as: false,
            extended_message: true,
            add_path: vec![
                "ipv4-unicast:forward".parse().unwrap(),
                "ipv6-unicast".parse().unwrap(),
            ],
        };
        let fwd = f.context(Some(Direction::Forward));
        assert!(fwd.add_path(AfiSafi::IPV4_UNICAST) && fwd.add_path(AfiSafi::IPV6_UNICAST));
        assert!(!fwd.four_octet_as && fwd.extended_message);
        let rev = f.context(Some(Direction::Reverse));
        assert!(!rev.add_path(AfiSafi::IPV4_UNICAST) && rev.add_path(AfiSafi::IPV6_UNICAST));
        assert_eq!(f.context(None), fwd);
        assert!(FallbackContext::default().context(None).four_octet_as);
    }
}
