//! Best-path selection (RFC 4271 §9.1.2) and ECMP multipath.
//!
//! Selection works by elimination, step by step, exactly as RFC 4271 §9.1.2.2 describes it:
//! each step keeps the candidates that are best on that criterion. The MED step compares only
//! routes from the same neighbouring AS, which makes a pairwise "compare two routes" order
//! dependent (RFC 3345); eliminating over the whole set does not, so the result never depends
//! on the order in which routes arrived (a property test checks this).
//!
//! Routes that are still tied after the eBGP-over-iBGP step are equal "up to the IGP step" and
//! form the multipath (ECMP) set; the remaining tie-breakers only order them so that the best
//! path is deterministic.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use perouter_bgp::wire::{AsPath, Origin};

/// The facts about one candidate path that selection looks at.
#[derive(Debug, Clone, Copy)]
pub struct Rank<'a> {
    /// LOCAL_PREF, or its default (RFC 4271 §9.1.1: degree of preference).
    pub local_pref: u32,
    /// Originated by this router (`network`, local MAC, our VTEP): preferred after LOCAL_PREF,
    /// as FRR and Cisco do.
    pub local: bool,
    /// The AS_PATH (its length per §9.1.2.2 a; compared whole for strict multipath).
    pub as_path: &'a AsPath,
    /// ORIGIN.
    pub origin: Origin,
    /// MULTI_EXIT_DISC; absent is the lowest possible value, 0 (§9.1.2.2 c).
    pub med: u32,
    /// Neighbouring AS (first AS of the path); `None` for routes from our own AS.
    pub neighbor_as: Option<u32>,
    /// Learned over eBGP (§9.1.2.2 d).
    pub ebgp: bool,
    /// ORIGINATOR_ID if present, else the peer's BGP identifier (RFC 4456 §9; §9.1.2.2 f).
    pub router_id: Ipv4Addr,
    /// CLUSTER_LIST length (RFC 4456 §9).
    pub cluster_len: u32,
    /// Peer address (§9.1.2.2 g); `None` for local routes.
    pub peer_addr: Option<IpAddr>,
    /// Last resort, a total order among otherwise identical paths (e.g. the route
    /// distinguisher of an EVPN route imported twice from the same peer).
    pub tiebreak: u64,
}

/// The step of the decision process that decided between the best path and the runner-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionStep {
    /// Only one eligible path.
    OnlyPath,
    /// Higher LOCAL_PREF.
    LocalPref,
    /// Locally originated.
    LocalOrigin,
    /// Shorter AS_PATH.
    AsPathLength,
    /// Lower ORIGIN.
    Origin,
    /// Lower MED among routes from the same neighbouring AS.
    Med,
    /// eBGP over iBGP.
    Ebgp,
    /// Lower router ID / ORIGINATOR_ID (paths still equal for multipath).
    RouterId,
    /// Shorter CLUSTER_LIST.
    ClusterList,
    /// Lower peer address.
    PeerAddress,
    /// Final deterministic tie-break.
    Tiebreak,
}

impl std::fmt::Display for DecisionStep {
    /// Why the best path won, in the words of RFC 4271 §9.1.2.2 (what `show` prints).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecisionStep::OnlyPath => "only eligible path",
            DecisionStep::LocalPref => "higher LOCAL_PREF",
            DecisionStep::LocalOrigin => "locally originated",
            DecisionStep::AsPathLength => "shorter AS_PATH",
            DecisionStep::Origin => "lower ORIGIN",
            DecisionStep::Med => "lower MED (same neighbouring AS)",
            DecisionStep::Ebgp => "eBGP over iBGP",
            DecisionStep::RouterId => "lower router ID",
            DecisionStep::ClusterList => "shorter CLUSTER_LIST",
            DecisionStep::PeerAddress => "lower peer address",
            DecisionStep::Tiebreak => "final tie-break",
        })
    }
}

/// Multipath settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipathConfig {
    /// Maximum number of paths installed for one prefix (1 disables ECMP).
    pub max_paths: u8,
    /// Accept paths of equal AS_PATH length but different ASes as multipath (FRR's
    /// `bgp bestpath as-path multipath-relax`): needed where every leaf has its own AS.
    pub relax: bool,
}

impl Default for MultipathConfig {
    fn default() -> Self {
        Self {
            max_paths: 16,
            relax: true,
        }
    }
}

/// The outcome of a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// Number of paths in the multipath set (0 when nothing was eligible); the set is the
    /// first `multipath` indices written to the output buffer, best first.
    pub multipath: usize,
    /// What decided the best path.
    pub reason: DecisionStep,
}

/// Selects among `ranks[i]` for every `i` with `eligible(i)`, writing the multipath set (best
/// first) into `out`, which is cleared first. `out` is a caller-owned scratch buffer so that
/// selection does not allocate in steady state.
pub fn select(
    ranks: &[Rank<'_>],
    eligible: impl Fn(usize) -> bool,
    cfg: MultipathConfig,
    out: &mut Vec<usize>,
) -> Selection {
    out.clear();
    out.extend((0..ranks.len()).filter(|&i| eligible(i)));
    let mut reason = None;
    let mut decided = |out: &Vec<usize>, step: DecisionStep| {
        if reason.is_none() && out.len() == 1 {
            reason = Some(step);
        }
    };
    if out.is_empty() {
        return Selection {
            multipath: 0,
            reason: DecisionStep::OnlyPath,
        };
    }
    decided(out, DecisionStep::OnlyPath);
    keep_best(out, |i| std::cmp::Reverse(ranks[i].local_pref));
    decided(out, DecisionStep::LocalPref);
    keep_best(out, |i| !ranks[i].local);
    decided(out, DecisionStep::LocalOrigin);
    keep_best(out, |i| ranks[i].as_path.length());
    decided(out, DecisionStep::AsPathLength);
    keep_best(out, |i| ranks[i].origin);
    decided(out, DecisionStep::Origin);
    // §9.1.2.2 c: within each neighbouring AS, remove routes whose MED is not the lowest.
    if out.len() > 1 {
        let snapshot = out.clone();
        out.retain(|&i| {
            let r = &ranks[i];
            !snapshot
                .iter()
                .any(|&j| ranks[j].neighbor_as == r.neighbor_as && ranks[j].med < r.med)
        });
    }
    decided(out, DecisionStep::Med);
    keep_best(out, |i| !ranks[i].ebgp);
    decided(out, DecisionStep::Ebgp);
    // Everything left is equal up to the IGP-cost step: order by the tie-breakers.
    out.sort_by(|&a, &b| tie_break(&ranks[a], &ranks[b]).0);
    let reason = match reason {
        Some(r) => r,
        None => tie_break(&ranks[out[0]], &ranks[out[1]]).1,
    };
    if !cfg.relax {
        let best_path = ranks[out[0]].as_path;
        out.retain(|&i| ranks[i].as_path == best_path);
    }
    out.truncate(usize::from(cfg.max_paths.max(1)));
    Selection {
        multipath: out.len(),
        reason,
    }
}

/// Keeps the candidates with the lowest `key`.
fn keep_best<K: Ord>(out: &mut Vec<usize>, key: impl Fn(usize) -> K) {
    if out.len() < 2 {
        return;
    }
    if let Some(min) = out.iter().map(|&i| key(i)).min() {
        out.retain(|&i| key(i) == min);
    }
}

/// The tie-breakers after the IGP step (§9.1.2.2 f, g; RFC 4456 §9), in order.
fn tie_break(a: &Rank<'_>, b: &Rank<'_>) -> (Ordering, DecisionStep) {
    let steps = [
        (a.router_id.cmp(&b.router_id), DecisionStep::RouterId),
        (a.cluster_len.cmp(&b.cluster_len), DecisionStep::ClusterList),
        (a.peer_addr.cmp(&b.peer_addr), DecisionStep::PeerAddress),
        (a.tiebreak.cmp(&b.tiebreak), DecisionStep::Tiebreak),
    ];
    steps
        .into_iter()
        .find(|(o, _)| o.is_ne())
        .unwrap_or((Ordering::Equal, DecisionStep::Tiebreak))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base(path: &AsPath) -> Rank<'_> {
        Rank {
            local_pref: 100,
            local: false,
            as_path: path,
            origin: Origin::Igp,
            med: 0,
            neighbor_as: crate::attrs::neighbor_as(path),
            ebgp: true,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            cluster_len: 0,
            peer_addr: Some(IpAddr::from([192, 0, 2, 1])),
            tiebreak: 0,
        }
    }

    fn run(ranks: &[Rank<'_>], cfg: MultipathConfig) -> (Vec<usize>, DecisionStep) {
        let mut out = Vec::new();
        let s = select(ranks, |_| true, cfg, &mut out);
        assert_eq!(s.multipath, out.len());
        (out, s.reason)
    }

    /// One row per decision step: path 1 differs from path 0 only in that step and must win.
    #[test]
    fn each_decision_step_decides() {
        let short = AsPath::sequence([65001]);
        let long = AsPath::sequence([65001, 65002]);
        let strict = MultipathConfig {
            max_paths: 1,
            relax: true,
        };
        type Tweak = fn(&mut Rank<'_>, &mut Rank<'_>);
        let rows: Vec<(&str, Tweak, DecisionStep)> = vec![
            (
                "local pref",
                |_, b| b.local_pref = 200,
                DecisionStep::LocalPref,
            ),
            (
                "local origin",
                |_, b| b.local = true,
                DecisionStep::LocalOrigin,
            ),
            (
                "origin",
                |a, _| a.origin = Origin::Incomplete,
                DecisionStep::Origin,
            ),
            (
                "med same AS",
                |a, b| {
                    a.med = 20;
                    b.med = 10
                },
                DecisionStep::Med,
            ),
            ("ebgp over ibgp", |a, _| a.ebgp = false, DecisionStep::Ebgp),
            (
                "router id",
                |a, b| {
                    a.router_id = Ipv4Addr::new(10, 0, 0, 9);
                    b.router_id = Ipv4Addr::new(10, 0, 0, 2)
                },
                DecisionStep::RouterId,
            ),
            (
                "cluster list",
                |a, b| {
                    a.cluster_len = 2;
                    b.cluster_len = 1
                },
                DecisionStep::ClusterList,
            ),
            (
                "peer address",
                |a, b| {
                    a.peer_addr = Some(IpAddr::from([192, 0, 2, 9]));
                    b.peer_addr = Some(IpAddr::from([192, 0, 2, 3]))
                },
                DecisionStep::PeerAddress,
            ),
            (
                "tiebreak",
                |a, b| {
                    a.tiebreak = 5;
                    b.tiebreak = 4
                },
                DecisionStep::Tiebreak,
            ),
        ];
        for (name, tweak, step) in rows {
            let mut a = base(&short);
            let mut b = base(&short);
            tweak(&mut a, &mut b);
            for order in [[a, b], [b, a]] {
                let (out, reason) = run(&order, strict);
                let winner = &order[out[0]];
                assert_eq!(reason, step, "{name}");
                assert_eq!(
                    format!("{winner:?}"),
                    format!("{b:?}"),
                    "{name}: b must win"
                );
            }
        }
        // AS path length needs two different paths.
        let a = base(&long);
        let b = base(&short);
        let (out, reason) = run(&[a, b], strict);
        assert_eq!((out[0], reason), (1, DecisionStep::AsPathLength));
    }

    #[test]
    fn med_is_compared_only_within_the_same_neighbor_as() {
        let p1 = AsPath::sequence([65001]);
        let p2 = AsPath::sequence([65002]);
        let mut a = base(&p1);
        a.med = 50;
        let mut b = base(&p2);
        b.med = 10;
        b.router_id = Ipv4Addr::new(10, 0, 0, 5);
        // Different neighbour AS: MED ignored, router id decides (a has the lower one).
        let (out, reason) = run(
            &[a, b],
            MultipathConfig {
                max_paths: 1,
                relax: true,
            },
        );
        assert_eq!((out[0], reason), (0, DecisionStep::RouterId));
        // RFC 3345's case: A(AS1,med 10) B(AS2) C(AS1, med 5). Any order gives the same winner.
        let mut c = base(&p1);
        c.med = 5;
        c.router_id = Ipv4Addr::new(10, 0, 0, 9);
        let cands = [a, b, c];
        let (first, _) = run(
            &cands,
            MultipathConfig {
                max_paths: 1,
                relax: true,
            },
        );
        let rev = [c, b, a];
        let (second, _) = run(
            &rev,
            MultipathConfig {
                max_paths: 1,
                relax: true,
            },
        );
        assert_eq!(cands[first[0]].router_id, rev[second[0]].router_id);
        assert_eq!(
            cands[first[0]].router_id,
            Ipv4Addr::new(10, 0, 0, 5),
            "a was eliminated by c's MED"
        );
    }

    #[test]
    fn ecmp_set_is_paths_equal_up_to_igp_step() {
        let p1 = AsPath::sequence([65001, 65101]);
        let p2 = AsPath::sequence([65001, 65102]);
        let mut a = base(&p1);
        let mut b = base(&p2);
        b.router_id = Ipv4Addr::new(10, 0, 0, 0);
        a.tiebreak = 1;
        let c = {
            let mut c = base(&p1);
            c.local_pref = 50;
            c
        };
        let (out, _) = run(&[a, b, c], MultipathConfig::default());
        assert_eq!(
            out,
            vec![1, 0],
            "c has lower local pref; b has the lower router id"
        );
        let (out, _) = run(
            &[a, b, c],
            MultipathConfig {
                max_paths: 16,
                relax: false,
            },
        );
        assert_eq!(out, vec![1], "strict multipath needs identical AS paths");
        let (out, _) = run(
            &[a, b, c],
            MultipathConfig {
                max_paths: 1,
                relax: true,
            },
        );
        assert_eq!(out, vec![1]);
        a.ebgp = false;
        let (out, reason) = run(&[a, b], MultipathConfig::default());
        assert_eq!((out, reason), (vec![1], DecisionStep::Ebgp));
    }

    #[test]
    fn ineligible_paths_are_skipped() {
        let p = AsPath::sequence([1]);
        let mut out = Vec::new();
        let r = [base(&p), base(&p)];
        let s = select(&r, |i| i == 1, MultipathConfig::default(), &mut out);
        assert_eq!((s.multipath, out.as_slice()), (1, &[1][..]));
        let s = select(&r, |_| false, MultipathConfig::default(), &mut out);
        assert_eq!(s.multipath, 0);
    }

    proptest! {
        /// The selected best path and multipath set do not depend on arrival order.
        #[test]
        fn selection_is_independent_of_order(
            specs in proptest::collection::vec(
                (0u32..3, any::<bool>(), 1usize..4, 0u8..3, 0u32..3, 0u32..3, any::<bool>(), 0u8..4, 0u32..2, 0u8..4),
                1..8),
            seed in any::<u64>(),
        ) {
            let paths: Vec<AsPath> = specs.iter().map(|s| {
                let mut v = vec![65000 + s.4];
                v.extend(std::iter::repeat_n(65100, s.2 - 1));
                AsPath::sequence(v)
            }).collect();
            let ranks: Vec<Rank<'_>> = specs.iter().zip(&paths).enumerate().map(|(i, (s, p))| Rank {
                local_pref: 100 + s.0 * 10,
                local: s.1,
                as_path: p,
                origin: [Origin::Igp, Origin::Egp, Origin::Incomplete][usize::from(s.3)],
                med: s.5,
                neighbor_as: crate::attrs::neighbor_as(p),
                ebgp: s.6,
                router_id: Ipv4Addr::new(10, 0, 0, s.7),
                cluster_len: s.8,
                peer_addr: Some(IpAddr::from([192, 0, 2, s.9])),
                tiebreak: i as u64,
            }).collect();
            let mut perm: Vec<usize> = (0..ranks.len()).collect();
            // Fisher-Yates with a tiny LCG from the seed.
            let mut x = seed | 1;
            for i in (1..perm.len()).rev() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                perm.swap(i, (x >> 33) as usize % (i + 1));
            }
            let shuffled: Vec<Rank<'_>> = perm.iter().map(|&i| ranks[i]).collect();
            for cfg in [MultipathConfig::default(), MultipathConfig { max_paths: 2, relax: false }] {
                let (a, ra) = run(&ranks, cfg);
                let (b, rb) = run(&shuffled, cfg);
                let a: Vec<u64> = a.iter().map(|&i| ranks[i].tiebreak).collect();
                let b: Vec<u64> = b.iter().map(|&i| shuffled[i].tiebreak).collect();
                prop_assert_eq!(a, b);
                prop_assert_eq!(ra, rb);
            }
        }
    }
}
