//! Connection collision resolution (RFC 4271 §6.8, RFC 6286 §2.3).
//!
//! When both speakers connect at the same time, two TCP connections exist
//! for one peering. Once the peer's BGP Identifier is known (from an OPEN),
//! exactly one survives: the connection initiated by the speaker with the
//! higher BGP Identifier; with equal identifiers (allowed between ASes by
//! RFC 6286), the one initiated by the speaker with the larger AS number.
//! The loser is closed with Cease / Connection Collision Resolution.

use std::net::Ipv4Addr;

/// Which side opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// We connected out.
    Local,
    /// The peer connected in.
    Remote,
}

/// The initiator whose connection survives a collision.
pub fn winner(local_id: Ipv4Addr, local_as: u32, remote_id: Ipv4Addr, remote_as: u32) -> Initiator {
    let (l, r) = (u32::from(local_id), u32::from(remote_id));
    if l > r || (l == r && local_as > remote_as) {
        Initiator::Local
    } else {
        Initiator::Remote
    }
}

/// Whether the connection `existing` (initiated by `existing_by`) is kept
/// over the other one; the other one is then closed.
pub fn keep_existing(
    existing_by: Initiator,
    local_id: Ipv4Addr,
    local_as: u32,
    remote_id: Ipv4Addr,
    remote_as: u32,
) -> bool {
    winner(local_id, local_as, remote_id, remote_as) == existing_by
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn higher_identifier_keeps_its_own_connection() {
        assert_eq!(
            winner(id("10.0.0.2"), 1, id("10.0.0.1"), 2),
            Initiator::Local
        );
        assert_eq!(
            winner(id("10.0.0.1"), 1, id("10.0.0.2"), 2),
            Initiator::Remote
        );
        // Compared as unsigned 32-bit numbers, not bytes of text.
        assert_eq!(
            winner(id("192.0.2.1"), 1, id("9.255.255.255"), 2),
            Initiator::Local
        );
    }

    #[test]
    fn equal_identifiers_fall_back_to_as_numbers() {
        assert_eq!(
            winner(id("10.0.0.1"), 65002, id("10.0.0.1"), 65001),
            Initiator::Local
        );
        assert_eq!(
            winner(id("10.0.0.1"), 65001, id("10.0.0.1"), 65002),
            Initiator::Remote
        );
    }

    #[test]
    fn both_sides_agree_on_the_survivor() {
        let (a, b) = (id("10.0.0.1"), id("10.0.0.9"));
        // From a's view the surviving connection is initiated by the remote (b);
        // from b's view by itself: the same connection.
        assert_eq!(winner(a, 1, b, 2), Initiator::Remote);
        assert_eq!(winner(b, 2, a, 1), Initiator::Local);
        assert!(keep_existing(Initiator::Remote, a, 1, b, 2));
        assert!(!keep_existing(Initiator::Local, a, 1, b, 2));
    }
}
