//! RFC 7606 on received UPDATEs, after the codec has classified each error.
//! "Treat-as-withdraw" is carried by [`Update::treat_as_withdraw`] and
//! honoured by [`Update::announced`] / [`Update::withdrawals`] (so the RIB
//! sees every announced route as withdrawn, §2, §5.2); "attribute discard"
//! has already dropped the attribute; "session reset" never reaches this
//! point (the codec returns an error and the FSM sends the NOTIFICATION).
//! Here: counting, logging, and the prefix accounting used by max-prefix.

use std::collections::HashSet;

use bytes::Bytes;
use tracing::warn;

use super::counters::Counters;
use crate::wire::{NlriBlock, Update};

/// Counts and logs (with the peer and the action taken) the RFC 7606 treatment of `u` received
/// from `peer`.
pub fn apply(u: Update, counters: &mut Counters, peer: std::net::IpAddr) -> Update {
    let errors = || {
        u.attribute_errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !u.attribute_errors.is_empty() {
        counters.attributes_discarded += u.attribute_errors.len() as u64;
        if !u.treat_as_withdraw {
            warn!(%peer, action = "attribute-discard", errors = %errors(),
                "UPDATE repaired: attributes discarded (RFC 7606 §2)");
        }
    }
    if u.treat_as_withdraw {
        counters.updates_treated_as_withdraw += 1;
        warn!(%peer, action = "treat-as-withdraw", errors = %errors(), withdrawn = withdrawn_count(&u),
            "UPDATE refused: its routes treated as withdrawn (RFC 7606 §2)");
    }
    u
}

/// NLRI the UPDATE announces (all families; none under treat-as-withdraw).
pub fn announced_count(u: &Update) -> usize {
    u.announced().map(NlriBlock::len).sum()
}

/// NLRI the UPDATE withdraws (all families).
pub fn withdrawn_count(u: &Update) -> usize {
    u.withdrawals().map(NlriBlock::len).sum()
}

/// Keeps `held` equal to the set of NLRI the peer currently announces: each
/// NLRI is keyed by its family and encoded bytes.
pub fn track_prefixes(u: &Update, held: &mut HashSet<Bytes>) {
    for b in u.withdrawals() {
        for k in keys(b) {
            held.remove(&k);
        }
    }
    for b in u.announced() {
        held.extend(keys(b));
    }
}

fn keys(b: &NlriBlock) -> Vec<Bytes> {
    let fam = format!("{:?}", b.kind);
    match b.kind {
        k if k == crate::wire::AfiSafi::L2VPN_EVPN => b
            .evpn_routes()
            .map(|r| Bytes::from(format!("{fam}{r:?}")))
            .collect(),
        _ => b
            .iter()
            .map(|n| Bytes::from(format!("{fam}{:?}{}", n.path_id, n.prefix)))
            .collect(),
    }
}
