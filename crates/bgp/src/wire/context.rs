//! The per-direction codec context: what the OPEN exchange negotiated that
//! changes how UPDATEs are encoded (RFC 6793 4-octet AS, RFC 7911 ADD-PATH,
//! RFC 8654 extended messages), and whether the session is iBGP (which
//! changes RFC 7606 error handling).

use serde::Serialize;

use super::capability::code;
use super::family::AfiSafi;
use super::header::{MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
use super::open::Open;

/// The families whose NLRI carry an ADD-PATH path identifier in one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct AddPathFamilies(Vec<AfiSafi>);

impl AddPathFamilies {
    /// No family.
    pub fn none() -> Self {
        AddPathFamilies(Vec::new())
    }

    /// These families.
    pub fn of(families: &[AfiSafi]) -> Self {
        let mut s = Self::none();
        for f in families {
            s.insert(*f);
        }
        s
    }

    /// Adds a family.
    pub fn insert(&mut self, family: AfiSafi) {
        if !self.0.contains(&family) {
            self.0.push(family);
        }
    }

    /// True when NLRI of `family` carry path identifiers.
    #[inline]
    pub fn contains(&self, family: AfiSafi) -> bool {
        self.0.contains(&family)
    }

    /// The families.
    pub fn iter(&self) -> impl Iterator<Item = AfiSafi> + '_ {
        self.0.iter().copied()
    }
}

/// How messages flowing in one direction (sender → receiver) are encoded.
/// `Default` is plain RFC 4271: 2-octet AS, no ADD-PATH, 4096-byte messages,
/// session type unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct WireContext {
    /// AS numbers in AS_PATH and AGGREGATOR are 4 octets (RFC 6793 §4.1).
    pub four_octet_as: bool,
    /// Messages other than OPEN and KEEPALIVE may be up to 65535 bytes (RFC 8654).
    pub extended_message: bool,
    /// Families whose NLRI carry a path identifier (RFC 7911 §3).
    pub add_path: AddPathFamilies,
    /// `Some(true)` for iBGP, `Some(false)` for eBGP, `None` when unknown
    /// (RFC 7606 §7.5, §7.9, §7.10 then use the iBGP handling for
    /// well-formedness and never discard for being from eBGP).
    pub ibgp: Option<bool>,
}

impl WireContext {
    /// The context for messages flowing from the speaker that sent `sender`
    /// to the one that sent `receiver`:
    /// - 4-octet AS iff both advertised capability 65 (RFC 6793 §4);
    /// - extended messages iff both advertised capability 6 (RFC 8654 §3);
    /// - path ids for family F iff the sender advertised send/both for F and
    ///   the receiver advertised receive/both for F (RFC 7911 §4);
    /// - iBGP iff both ASes are equal.
    pub fn negotiate(sender: &Open, receiver: &Open) -> WireContext {
        let four_octet_as = sender.four_octet_as().is_some() && receiver.four_octet_as().is_some();
        let extended_message = sender.has_capability(code::EXTENDED_MESSAGE)
            && receiver.has_capability(code::EXTENDED_MESSAGE);
        let recv = receiver.add_path();
        let mut add_path = AddPathFamilies::none();
        for (f, mode) in sender.add_path() {
            if mode.can_send() && recv.iter().any(|(g, m)| *g == f && m.can_receive()) {
                add_path.insert(f);
            }
        }
        WireContext {
            four_octet_as,
            extended_message,
            add_path,
            ibgp: Some(sender.asn() == receiver.asn()),
        }
    }

    /// A context with 4-octet AS numbers and nothing else negotiated: what
    /// every modern peer uses.
    pub fn four_octet() -> Self {
        WireContext {
            four_octet_as: true,
            ..Default::default()
        }
    }

    /// Maximum message size in this direction (RFC 4271 §4, RFC 8654 §4).
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// True when NLRI of `family` carry path identifiers in this direction.
    #[inline]
    pub fn add_path(&self, family: AfiSafi) -> bool {
        self.add_path.contains(family)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::capability::{AddPathMode, Capability};

    fn open(asn: u32, caps: Vec<Capability>) -> Open {
        Open::new(asn, 90, Ipv4Addr::new(10, 0, 0, 1), caps)
    }

    #[test]
    fn add_path_is_per_direction() {
        let a = open(
            65001,
            vec![
                Capability::FourOctetAs(65001),
                Capability::AddPath(vec![
                    (AfiSafi::IPV4_UNICAST, AddPathMode::Send),
                    (AfiSafi::IPV6_UNICAST, AddPathMode::Both),
                    (AfiSafi::L2VPN_EVPN, AddPathMode::Receive),
                ]),
                Capability::ExtendedMessage,
            ],
        );
        let b = open(
            65002,
            vec![
                Capability::FourOctetAs(65002),
                Capability::AddPath(vec![
                    (AfiSafi::IPV4_UNICAST, AddPathMode::Receive),
                    (AfiSafi::IPV6_UNICAST, AddPathMode::Send),
                    (AfiSafi::L2VPN_EVPN, AddPathMode::Both),
                ]),
            ],
        );
        let ab = WireContext::negotiate(&a, &b);
        assert!(ab.four_octet_as);
        assert!(!ab.extended_message, "only one side advertised it");
        assert!(ab.add_path(AfiSafi::IPV4_UNICAST));
        assert!(!ab.add_path(AfiSafi::IPV6_UNICAST));
        assert!(!ab.add_path(AfiSafi::L2VPN_EVPN));
        assert_eq!(ab.ibgp, Some(false));
        let ba = WireContext::negotiate(&b, &a);
        assert!(!ba.add_path(AfiSafi::IPV4_UNICAST));
        assert!(ba.add_path(AfiSafi::IPV6_UNICAST));
        assert!(ba.add_path(AfiSafi::L2VPN_EVPN));
        assert_eq!(ba.max_message_len(), 4096);
    }

    #[test]
    fn two_octet_when_one_side_lacks_the_capability() {
        let a = open(65001, vec![Capability::FourOctetAs(65001)]);
        let b = open(65001, vec![]);
        let ctx = WireContext::negotiate(&a, &b);
        assert!(!ctx.four_octet_as);
        assert_eq!(ctx.ibgp, Some(true));
        assert_eq!(WireContext::default().max_message_len(), 4096);
    }
}
