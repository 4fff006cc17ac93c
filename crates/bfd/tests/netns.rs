//! The driver against the real kernel: two drivers in two network namespaces
//! joined by a veth pair. Needs root and `ip`/`nft`: without them the tests fail
//! (saying why) rather than pass having checked nothing; CI runs as root. The
//! namespaces are named after the process id and removed afterwards. Run under `flock /tmp/perouter-lab.lock` on shared machines.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use perouter_bfd::driver::{self, Event, Hop, PeerSpec, PeerStatus};
use perouter_bfd::{Config, Diagnostic, State};
use perouter_bgp::session::socket::{in_netns, NetnsTarget};
use tokio::sync::{mpsc, watch};

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

struct Lab(String, String);
impl Drop for Lab {
    fn drop(&mut self) {
        sh(&["ip", "netns", "del", &self.0]);
        sh(&["ip", "netns", "del", &self.1]);
    }
}

fn lab(tag: &str) -> Lab {
    // SAFETY: geteuid has no preconditions.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "these tests create network namespaces and need root (CI runs them as root); \
         skip them explicitly with `cargo test -- --skip netns` if you must"
    );
    let pid = std::process::id();
    let (a, b) = (format!("pbfd{tag}a{pid}"), format!("pbfd{tag}b{pid}"));
    let lab = Lab(a.clone(), b.clone());
    let ok = sh(&["ip", "netns", "add", &a])
        && sh(&["ip", "netns", "add", &b])
        && sh(&[
            "ip", "-n", &a, "link", "add", "va", "type", "veth", "peer", "vb", "netns", &b,
        ])
        && sh(&["ip", "-n", &a, "addr", "add", "10.98.0.1/24", "dev", "va"])
        && sh(&["ip", "-n", &b, "addr", "add", "10.98.0.2/24", "dev", "vb"])
        && sh(&["ip", "-n", &a, "link", "set", "va", "up"])
        && sh(&["ip", "-n", &b, "link", "set", "vb", "up"])
        && sh(&["ip", "-n", &a, "link", "set", "lo", "up"])
        && sh(&["ip", "-n", &b, "link", "set", "lo", "up"]);
    assert!(ok, "setting up namespaces {a} and {b} with ip(8) failed");
    lab
}

fn cfg(passive: bool) -> Config {
    Config {
        desired_min_tx: Duration::from_millis(100),
        required_min_rx: Duration::from_millis(100),
        detect_mult: 3,
        passive,
        admin_down: false,
    }
}

fn spec(peer: &str, passive: bool) -> PeerSpec {
    spec_hop(peer, passive, Hop::Single)
}

fn spec_hop(peer: &str, passive: bool, hop: Hop) -> PeerSpec {
    PeerSpec {
        peer: peer.parse().unwrap(),
        local: None,
        interface: None,
        hop,
        config: cfg(passive),
    }
}

async fn wait_for(
    status: &mut watch::Receiver<Vec<PeerStatus>>,
    what: &str,
    f: impl Fn(&PeerStatus) -> bool,
) -> PeerStatus {
    let r = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(p) = status.borrow_and_update().iter().find(|p| f(p)) {
                return p.clone();
            }
            status.changed().await.unwrap();
        }
    })
    .await;
    r.unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", status.borrow()))
}

async fn next_event(ev: &mut mpsc::Receiver<Event>, to: State) -> Event {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let e = ev.recv().await.unwrap();
            if e.change.to == to {
                return e;
            }
        }
    })
    .await
    .expect("state change event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_hop_up_gtsm_detection_and_admin_down() {
    let lab = lab("s");
    let (a, mut a_ev) = driver::spawn(NetnsTarget::Named(lab.0.clone()));
    let (b, mut b_ev) = driver::spawn(NetnsTarget::Named(lab.1.clone()));
    let mut a_status = a.status.clone();
    let mut b_status = b.status.clone();
    // b passive: it must wait for a, and both come Up.
    b.set(vec![spec("10.98.0.1", true)]).await.unwrap();
    a.set(vec![spec("10.98.0.2", false)]).await.unwrap();
    next_event(&mut a_ev, State::Up).await;
    next_event(&mut b_ev, State::Up).await;
    let sa = wait_for(&mut a_status, "a settled", |p| {
        p.session.state == State::Up
            && !p.session.poll_active
            && p.session.tx_interval_us == 100_000
    })
    .await;
    let sb = wait_for(&mut b_status, "b settled", |p| p.session.state == State::Up).await;
    assert_eq!(
        sa.session.remote_discriminator,
        sb.session.local_discriminator
    );
    assert_eq!(
        sb.session.remote_discriminator,
        sa.session.local_discriminator
    );
    assert_eq!(sa.session.detection_time_us, Some(300_000));

    // GTSM: a well-formed packet for a's session sent with TTL 64 is dropped.
    let forged = perouter_bfd::ControlPacket {
        diag: Diagnostic::None,
        state: State::AdminDown,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: sb.session.local_discriminator,
        your_discriminator: sa.session.local_discriminator,
        desired_min_tx_us: 100_000,
        required_min_rx_us: 100_000,
        required_min_echo_rx_us: 0,
        auth: None,
    };
    let bytes = forged.emit();
    in_netns(&NetnsTarget::Named(lab.1.clone()), move || {
        let s = std::net::UdpSocket::bind("10.98.0.2:0")?;
        s.set_ttl(64)?;
        s.send_to(
            &bytes,
            SocketAddr::new("10.98.0.1".parse::<IpAddr>().unwrap(), 3784),
        )
    })
    .unwrap();
    wait_for(&mut a_status, "the forged packet counted as dropped", |p| {
        p.dropped >= 1
    })
    .await;
    assert_eq!(a_status.borrow()[0].session.state, State::Up);

    // b goes silent (nftables drops its output): a goes Down, detection time expired.
    assert!(sh(&[
        "ip", "netns", "exec", &lab.1, "nft", "add table inet t; add chain inet t o { type filter hook output priority 0; }; add rule inet t o udp dport 3784 drop"
    ]));
    let down = next_event(&mut a_ev, State::Down).await;
    assert_eq!(down.change.diag, Diagnostic::ControlDetectionTimeExpired);
    assert_eq!(down.change.from, State::Up);
    assert!(sh(&[
        "ip",
        "netns",
        "exec",
        &lab.1,
        "nft",
        "delete table inet t"
    ]));
    next_event(&mut a_ev, State::Up).await;

    // b removes its session: it says AdminDown, a goes Down with the remote AdminDown
    // (a client must not take that for a failure, RFC 5882 §3.2).
    b.set(Vec::new()).await.unwrap();
    let down = next_event(&mut a_ev, State::Down).await;
    assert_eq!(down.change.diag, Diagnostic::NeighborSignaledSessionDown);
    assert_eq!(down.change.remote_state, State::AdminDown);
}

/// Sends `p` from namespace `ns` to `to` with the given TTL.
fn send_with_ttl(ns: &str, from: &str, to: SocketAddr, ttl: u32, p: &perouter_bfd::ControlPacket) {
    let bytes = p.emit();
    let from = from.to_string();
    in_netns(&NetnsTarget::Named(ns.to_string()), move || {
        let s = std::net::UdpSocket::bind(format!("{from}:0"))?;
        s.set_ttl(ttl)?;
        s.send_to(&bytes, to)
    })
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multihop_up_on_4784_and_minimum_ttl() {
    let lab = lab("m");
    let hop = Hop::Multi { min_ttl: 254 };
    let (a, mut a_ev) = driver::spawn(NetnsTarget::Named(lab.0.clone()));
    let (b, mut b_ev) = driver::spawn(NetnsTarget::Named(lab.1.clone()));
    let mut a_status = a.status.clone();
    a.set(vec![spec_hop("10.98.0.2", false, hop)])
        .await
        .unwrap();
    b.set(vec![spec_hop("10.98.0.1", false, hop)])
        .await
        .unwrap();
    next_event(&mut a_ev, State::Up).await;
    next_event(&mut b_ev, State::Up).await;
    let sa = wait_for(&mut a_status, "a up", |p| {
        p.session.state == State::Up && p.multihop
    })
    .await;
    // TTL 253 is below the minimum: dropped, the session stays Up.
    let forged = perouter_bfd::ControlPacket {
        diag: Diagnostic::None,
        state: State::AdminDown,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: sa.session.remote_discriminator,
        your_discriminator: sa.session.local_discriminator,
        desired_min_tx_us: 100_000,
        required_min_rx_us: 100_000,
        required_min_echo_rx_us: 0,
        auth: None,
    };
    let to: SocketAddr = "10.98.0.1:4784".parse().unwrap();
    send_with_ttl(&lab.1, "10.98.0.2", to, 253, &forged);
    wait_for(
        &mut a_status,
        "the low-TTL packet counted as dropped",
        |p| p.dropped >= 1,
    )
    .await;
    assert_eq!(a_status.borrow()[0].session.state, State::Up);
    // The same packet at TTL 254 is accepted: the peer says AdminDown.
    send_with_ttl(&lab.1, "10.98.0.2", to, 254, &forged);
    let down = next_event(&mut a_ev, State::Down).await;
    assert_eq!(down.change.remote_state, State::AdminDown);
}
