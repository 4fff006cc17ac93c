//! The Router Advertisements of unnumbered neighbours' interfaces on the real kernel: sent
//! from the router namespace on the named interface, received on the other end of the link as
//! ICMPv6 type 134 from our link-local address (what FRR's `neighbor IF interface` learns the
//! peer's address from). Needs root (creates a network namespace); skipped otherwise.

use std::mem::MaybeUninit;
use std::net::{Ipv6Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use perouter_bgp::session::socket::{in_netns, NetnsTarget};
use perouter_bgp::speaker::ra;
use socket2::{Domain, Protocol, Socket, Type};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn link_local(ns: &str, dev: &str) -> Option<Ipv6Addr> {
    let out = Command::new("ip")
        .args([
            "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let addr = text
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)?;
    addr.split('/').next()?.parse().ok()
}

struct Ns(String);
impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn router_advertisements_leave_the_interface_from_its_link_local_address() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let name = format!("pra{}", std::process::id());
    ip(&["netns", "add", &name]);
    let _guard = Ns(name.clone());
    let exec = |args: &[&str]| {
        let mut a = vec!["netns", "exec", name.as_str()];
        a.extend_from_slice(args);
        ip(&a);
    };
    exec(&["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
    ip(&[
        "-n", &name, "link", "add", "ra0", "type", "veth", "peer", "name", "ra1",
    ]);
    ip(&["-n", &name, "link", "set", "ra0", "up"]);
    ip(&["-n", &name, "link", "set", "ra1", "up"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let ours = loop {
        if let Some(a) = link_local(&name, "ra0") {
            break a;
        }
        assert!(Instant::now() < deadline, "no link-local address on ra0");
        std::thread::sleep(Duration::from_millis(100));
    };
    let target = NetnsTarget::Named(name.clone());
    let listener = in_netns(&target, || {
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        s.bind_device(Some(b"ra1"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    })
    .expect("listening socket");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let task = rt.spawn(ra::run(target, "ra0".into()));
    let received = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
            let Ok((n, from)) = listener.recv_from(&mut buf) else {
                continue;
            };
            // SAFETY: recv_from initialised the first n bytes.
            let bytes: Vec<u8> = buf[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect();
            if bytes.first() == Some(&ra::ROUTER_ADVERTISEMENT) {
                return Some((bytes, from.as_socket()));
            }
        }
        None
    });
    let got = rt.block_on(async {
        tokio::task::spawn_blocking(move || received.join().unwrap())
            .await
            .unwrap()
    });
    task.abort();
    let (bytes, from) = got.expect("no router advertisement received on the other end");
    let sent = ra::advertisement();
    assert_eq!(bytes.len(), sent.len(), "{bytes:?}");
    assert_eq!(
        (&bytes[..2], &bytes[4..]),
        (&sent[..2], &sent[4..]),
        "the RA as built (the kernel fills the checksum)"
    );
    assert_ne!(&bytes[2..4], &[0, 0], "checksum computed by the kernel");
    match from {
        Some(SocketAddr::V6(a)) => assert_eq!(*a.ip(), ours, "sent from ra0's link-local"),
        other => panic!("unexpected source {other:?}"),
    }
}
