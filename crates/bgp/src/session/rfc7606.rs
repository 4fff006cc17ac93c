//! RFC 7606 on received UPDATEs, after the codec has classified each error:
//! "treat-as-withdraw" turns every route the UPDATE announced into a
//! withdrawal (§2, §5.2), "attribute discard" has already dropped the
//! attribute (counted here), and "session reset" never reaches this point
//! (the codec returns an error and the FSM sends the NOTIFICATION).
//! Also the prefix accounting used by counters and max-prefix.

use std::collections::HashSet;

use bytes::Bytes;
use tracing::warn;

use super::counters::Counters;
use crate::wire::Update;

/// Applies treat-as-withdraw and counts discarded attributes.
pub fn apply(mut u: Update, counters: &mut Counters) -> Update {
    if !u.attribute_errors.is_empty() {
        counters.attributes_discarded += u.attribute_errors.len() as u64;
    }
    if u.treat_as_withdraw {
        counters.updates_treated_as_withdraw += 1;
        warn!(errors = ?u.attribute_errors, announced = announced_count(&u),
            "UPDATE treated as withdraw (RFC 7606)");
        let nlri = std::mem::take(&mut u.nlri);
        u.withdrawn.extend(nlri);
    }
    u
}

/// NLRI the UPDATE announces (all families).
pub fn announced_count(u: &Update) -> usize {
    u.nlri.len()
}

/// NLRI the UPDATE withdraws (all families).
pub fn withdrawn_count(u: &Update) -> usize {
    u.withdrawn.len()
}

/// Keeps `held` equal to the set of prefixes the peer currently announces.
pub fn track_prefixes(u: &Update, held: &mut HashSet<Bytes>) {
    for n in &u.withdrawn {
        held.remove(&key(n));
    }
    for n in &u.nlri {
        held.insert(key(n));
    }
}

fn key(n: &crate::wire::Nlri) -> Bytes {
    Bytes::from(format!("{:?}/{}", n.path_id, n.prefix))
}
