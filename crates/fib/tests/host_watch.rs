//! The kernel watch and the Reconciler task against the real kernel (no VRF needed): a MAC
//! learned on an L2VNI bridge port and a neighbour resolved on the bridge are reported; deleting
//! one of our routes or devices is reported as drift while foreign changes are not; STALE
//! neighbours are probed; the Reconciler applies what it is sent and repairs external deletions,
//! both on its period and when the watch reports drift.

mod common;

use std::time::{Duration, Instant};

use common::*;
use perouter_fib::desired::{HostLeg, L2Vni, NodeDatapath, VrfRoutes};
use perouter_fib::reconcile::{Command, Reconciler, ReconcilerConfig, Status};
use perouter_fib::watch::{self, KernelEvent};
use perouter_fib::{Datapath, DatapathConfig, ForwardingState, MacAddress};
use tokio::sync::{mpsc, watch as tokio_watch};

const TABLE: u32 = 1000;

fn node(router: &str) -> NodeDatapath {
    let mut d = NodeDatapath::new(router);
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    d.l2vnis.push(L2Vni {
        vni: 110,
        vxlan_port: 4789,
        local_vtep: "100.65.0.1".parse().unwrap(),
        vrf: None,
        gateway_ips: vec![],
        host_leg: HostLeg::Bare,
        mtu: None,
    });
    d
}

fn forwarding() -> ForwardingState {
    let mut f = ForwardingState::default();
    let vtep = "100.65.0.2".parse().unwrap();
    let mut vr = VrfRoutes {
        table: TABLE,
        ..Default::default()
    };
    vr.router_macs
        .insert(vtep, "aa:bb:cc:00:00:02".parse().unwrap());
    vr.routes
        .insert("10.10.0.0/24".parse().unwrap(), [vtep].into());
    f.vrf_routes.insert(110, vr);
    f.remote_macs
        .insert((110, "02:00:00:00:01:10".parse().unwrap()), vtep);
    f.flood.insert((110, vtep));
    f
}

/// Receives events until one satisfies `pred` (returning it and everything seen before it), or
/// panics after `secs` seconds with what was seen.
fn wait_for(
    rx: &mut mpsc::Receiver<KernelEvent>,
    secs: u64,
    what: &str,
    pred: impl Fn(&KernelEvent) -> bool,
) -> (KernelEvent, Vec<KernelEvent>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.try_recv() {
            Ok(ev) if pred(&ev) => return (ev, seen),
            Ok(ev) => seen.push(ev),
            Err(mpsc::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("watch channel closed: {e}"),
        }
    }
    panic!("no event {what} within {secs} s; saw {seen:#?}");
}

fn mac_of(ns: &str, dev: &str) -> MacAddress {
    link(ns, dev).unwrap()["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn neigh_state(ns: &str, dev: &str, ip: &str) -> Vec<String> {
    ipj(ns, &["neigh", "show", "dev", dev])
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["dst"] == ip)
        .map(|n| {
            n["state"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn watch_reports_local_macs_neighbours_and_drift() {
    println!("{}", where_we_run());
    let host = netns("pwh");
    let router = netns("pwr");
    let (h, r) = (host.name(), router.name());
    let d = node(r);
    let f = forwarding();
    let cfg = DatapathConfig {
        host_netns: Some(h.into()),
        ..Default::default()
    };
    let mut dp = Datapath::open(r, cfg).unwrap();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let seed = dp.observe(&d).unwrap().router.unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let thread = watch::spawn(dp.router_netns().unwrap(), &seed, tx).unwrap();

    // A host behind the L2VNI's veth speaks: the bridge learns its MAC on pe-e-110.
    let host_mac = mac_of(h, "host-e-110");
    ip(h, &["addr", "add", "192.168.110.5/24", "dev", "host-e-110"]);
    ip(h, &["link", "set", "host-e-110", "up"]);
    // The bridge answers for the subnet (as an anycast gateway would), so the host's ARP
    // request makes the kernel create a neighbour entry for it on br-pe-110.
    ip(r, &["addr", "add", "192.168.110.1/24", "dev", "br-pe-110"]);
    let ping = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            h,
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "192.168.110.1",
        ])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let (ev, _) = wait_for(
        &mut rx,
        5,
        "LocalMac",
        |e| matches!(e, KernelEvent::LocalMac { mac, .. } if *mac == host_mac),
    );
    assert_eq!(
        ev,
        KernelEvent::LocalMac {
            vni: 110,
            mac: host_mac,
            present: true
        }
    );
    let (ev, _) = wait_for(&mut rx, 5, "LocalNeighbour", |e| {
        matches!(e, KernelEvent::LocalNeighbour { present: true, .. })
    });
    assert_eq!(
        ev,
        KernelEvent::LocalNeighbour {
            vni: 110,
            ip: "192.168.110.5".parse().unwrap(),
            mac: Some(host_mac),
            present: true
        }
    );

    // The refresher: a STALE entry is probed (NTF_USE) and leaves STALE.
    ip(
        r,
        &[
            "neigh",
            "change",
            "192.168.110.5",
            "lladdr",
            &host_mac.to_string(),
            "dev",
            "br-pe-110",
            "nud",
            "stale",
        ],
    );
    assert_eq!(neigh_state(r, "br-pe-110", "192.168.110.5"), ["STALE"]);
    // Two STALE neighbours that must not be probed: one whose MAC the bridge holds behind the
    // VXLAN port (a workload on another node: the probe would refresh that node's FDB), one
    // whose MAC the bridge does not know at all.
    for (addr, mac) in [
        ("192.168.110.9", "02:00:00:00:01:10"),
        ("192.168.110.10", "02:00:00:00:0f:0f"),
    ] {
        ip(
            r,
            &[
                "neigh",
                "replace",
                addr,
                "lladdr",
                mac,
                "dev",
                "br-pe-110",
                "nud",
                "stale",
            ],
        );
        assert_eq!(neigh_state(r, "br-pe-110", addr), ["STALE"]);
    }
    let observed = dp.observe(&d).unwrap();
    let probes = watch::stale_probes(&d, observed.router.as_ref().unwrap());
    assert_eq!(
        probes,
        vec![perouter_fib::Op::ProbeNeighbour {
            dev: "br-pe-110".into(),
            ip: "192.168.110.5".parse().unwrap(),
        }],
        "only the neighbour whose MAC is on a local port is probed"
    );
    let rep = dp.apply(&probes);
    assert!(rep.failures.is_empty(), "{:#?}", rep.failures);
    let state = neigh_state(r, "br-pe-110", "192.168.110.5");
    assert!(
        state
            .iter()
            .any(|s| ["DELAY", "PROBE", "REACHABLE"].contains(&s.as_str())),
        "probed entry is {state:?}"
    );

    // Drift: a foreign route's removal is no drift; our route's is, and so is our device's.
    ip(
        r,
        &[
            "route",
            "add",
            "10.88.0.0/16",
            "dev",
            "br-pe-110",
            "table",
            &TABLE.to_string(),
            "proto",
            "static",
        ],
    );
    ip(
        r,
        &["route", "del", "10.88.0.0/16", "table", &TABLE.to_string()],
    );
    ip(
        r,
        &["route", "del", "10.10.0.0/24", "table", &TABLE.to_string()],
    );
    let (ev, before) = wait_for(&mut rx, 5, "route drift", |e| {
        matches!(e, KernelEvent::Drift { .. })
    });
    assert_eq!(
        ev,
        KernelEvent::Drift {
            what: format!("route 10.10.0.0/24 table {TABLE} deleted")
        },
        "the foreign route's removal came first? {before:?}"
    );
    ip(r, &["link", "del", "vni110"]);
    wait_for(
        &mut rx,
        5,
        "link drift",
        |e| matches!(e, KernelEvent::Drift { what } if what == "link vni110 deleted"),
    );

    // The repair puts everything back; the watch thread ends when the channel closes.
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let again = dp.reconcile(&d, &f).unwrap();
    assert!(again.plan.ops.is_empty(), "{:#?}", again.plan.ops);
    drop(rx);
    // Any notification now makes the thread notice the closed channel.
    ip(r, &["link", "set", "vni110", "down"]);
    ip(r, &["link", "del", "vni110"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(thread.is_finished(), "watch thread outlived its channel");
}

fn table_routes(ns: &str) -> Vec<String> {
    ipj_or_empty(ns, &["route", "show", "table", &TABLE.to_string()])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dst"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
async fn eventually(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {secs} s: {what}");
}

async fn next_status(st: &mut tokio_watch::Receiver<Status>) -> Status {
    tokio::time::timeout(Duration::from_secs(10), st.changed())
        .await
        .expect("a reconcile pass within 10 s")
        .expect("reconciler alive");
    st.borrow_and_update().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciler_applies_commands_and_repairs_drift() {
    println!("{}", where_we_run());
    let host = netns("pwh");
    let router_name = unique("pwr");
    let _router_guard = perouter_fib::netns::NetnsGuard::adopt(&router_name);
    let r = router_name.clone();
    let d = node(&r);
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        ..Default::default()
    };
    let dp = Datapath::open(&r, cfg).unwrap();
    // A long period: every repair below comes from a command or the watch, except the one
    // the test waits a period for, with a short-period reconciler.
    let rcfg = ReconcilerConfig {
        period: Duration::from_secs(3600),
        retry: Duration::from_millis(100),
        probe_period: Duration::from_secs(3600),
    };
    let (tx, rx) = mpsc::channel(16);
    let (st_tx, mut st_rx) = tokio_watch::channel(Status::default());
    let task = tokio::spawn(Reconciler::new(dp, d.clone(), rcfg).run(rx, st_tx));

    // The first pass builds the node (the namespace included).
    let st = next_status(&mut st_rx).await;
    assert!(
        st.last_error.is_none() && st.last_failures.is_empty(),
        "{st:?}"
    );
    assert!(st.last_ops > 0);
    assert!(st.router_macs.is_empty(), "no L3VNI here");
    assert!(link(&r, "vni110").is_some());

    // A change over the channel is applied.
    tx.send(Command::SetForwarding(Box::new(forwarding())))
        .await
        .unwrap();
    let st = next_status(&mut st_rx).await;
    assert!(st.last_failures.is_empty(), "{st:?}");
    assert_eq!(table_routes(&r), ["10.10.0.0/24"]);
    let messages = st.messages_sent;

    // Watch → Reconcile: an external deletion is reported and repaired without waiting for the
    // period.
    let seed = {
        let mut probe_dp = Datapath::open(
            &r,
            DatapathConfig {
                host_netns: Some(host.name().into()),
                ..Default::default()
            },
        )
        .unwrap();
        probe_dp.observe(&d).unwrap().router.unwrap()
    };
    let netns_handle = perouter_fib::netns::NetnsHandle::open(&r).unwrap();
    let (ev_tx, mut ev_rx) = mpsc::channel(64);
    let _watch = watch::spawn(&netns_handle, &seed, ev_tx).unwrap();
    let forward = tx.clone();
    let forwarder = tokio::spawn(async move {
        while let Some(ev) = ev_rx.recv().await {
            if let KernelEvent::Drift { .. } = ev {
                if forward.send(Command::Reconcile).await.is_err() {
                    return;
                }
            }
        }
    });
    ip(
        &r,
        &["route", "del", "10.10.0.0/24", "table", &TABLE.to_string()],
    );
    ip(&r, &["link", "del", "br-pe-110"]);
    let rr = r.clone();
    eventually(10, "route and bridge restored after drift", move || {
        table_routes(&rr) == ["10.10.0.0/24"]
            && master(&rr, "vni110").as_deref() == Some("br-pe-110")
    })
    .await;
    let st = st_rx.borrow().clone();
    assert!(st.messages_sent > messages, "{st:?}");

    // Closing the channel (both senders: ours and the forwarder's) ends the task.
    forwarder.abort();
    let _ = forwarder.await;
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("reconciler ends when its channel closes")
        .unwrap();

    // The periodic pass alone repairs drift (no command, no watch).
    let dp = Datapath::open(
        &r,
        DatapathConfig {
            host_netns: Some(host.name().into()),
            ..Default::default()
        },
    )
    .unwrap();
    let rcfg = ReconcilerConfig {
        period: Duration::from_millis(300),
        retry: Duration::from_millis(100),
        probe_period: Duration::from_secs(3600),
    };
    let (tx2, rx2) = mpsc::channel(16);
    let (st_tx2, mut st_rx2) = tokio_watch::channel(Status::default());
    tx2.send(Command::SetForwarding(Box::new(forwarding())))
        .await
        .unwrap();
    let task2 = tokio::spawn(Reconciler::new(dp, d.clone(), rcfg).run(rx2, st_tx2));
    let st = next_status(&mut st_rx2).await;
    assert!(st.last_failures.is_empty(), "{st:?}");
    // The command queued before the start counted for the first pass: nothing was withdrawn.
    assert_eq!(st.last_ops, 0, "{st:?}");
    assert_eq!(table_routes(&r), ["10.10.0.0/24"]);
    ip(
        &r,
        &["route", "del", "10.10.0.0/24", "table", &TABLE.to_string()],
    );
    let rr = r.clone();
    eventually(5, "route restored by the periodic pass", move || {
        table_routes(&rr) == ["10.10.0.0/24"]
    })
    .await;
    drop(tx2);
    tokio::time::timeout(Duration::from_secs(5), task2)
        .await
        .expect("reconciler ends when its channel closes")
        .unwrap();
}

/// The watch's pre-filter on real notifications: the kernel announces 500 routes of ours
/// (`proto bgp`) and 500 foreign ones (`proto static`) being added, then all 1000 deleted. Only
/// the deletions of ours are decoded (each is drift); every other notification is skipped
/// without decoding — and the decoder would have ignored each skipped one (checked one by one).
#[test]
fn real_route_notifications_only_our_deletions_are_decoded() {
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
    use std::os::fd::AsRawFd;

    let g = netns("pwr");
    let ns = g.name().to_string();
    ip(&ns, &["link", "add", "d0", "type", "veth", "peer", "d1"]);
    ip(&ns, &["addr", "add", "192.0.2.1/24", "dev", "d0"]);
    ip(&ns, &["link", "set", "d1", "up"]);
    ip(&ns, &["link", "set", "d0", "up"]);
    let h = perouter_fib::netns::NetnsHandle::open(&ns).unwrap();
    let sock = h
        .run(|| -> std::io::Result<Socket> {
            let mut s = Socket::new(NETLINK_ROUTE)?;
            s.bind_auto()?;
            s.add_membership(7)?; // RTNLGRP_IPV4_ROUTE
            s.set_non_blocking(true)?;
            // Room for every notification of the batch, read after it ran (root may force it).
            let size: libc::c_int = 32 << 20;
            // SAFETY: a valid socket, a c_int option value of the given size.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
            Ok(s)
        })
        .unwrap()
        .unwrap();

    let mut batch = String::new();
    for i in 0..1000u32 {
        let proto = if i % 2 == 0 { "bgp" } else { "static" };
        batch += &format!(
            "route add 10.{}.{}.0/24 via 192.0.2.2 proto {proto}\n",
            i >> 8,
            i & 0xff
        );
    }
    for i in 0..1000u32 {
        batch += &format!("route del 10.{}.{}.0/24\n", i >> 8, i & 0xff);
    }
    let file = std::env::temp_dir().join(format!("{ns}.batch"));
    std::fs::write(&file, batch).unwrap();
    ip(&ns, &["-batch", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);

    // Everything the kernel sent, one recv buffer at a time.
    let mut buffers = Vec::new();
    let mut idle = 0;
    let mut buf = vec![0u8; 1 << 20];
    while idle < 20 {
        // SAFETY: buf is valid for writes of buf.len() bytes during the call.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 {
            buffers.push(buf[..n as usize].to_vec());
            idle = 0;
        } else {
            idle += 1;
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    let mut d = watch::WatchDecoder::default();
    let mut counts = watch::FrameCounts::default();
    let mut events = Vec::new();
    for b in &buffers {
        watch::decode_frames(b, &mut d, &mut counts, |e| {
            events.push(e);
            true
        });
    }
    assert_eq!(
        counts.frames, 2000,
        "1000 additions and 1000 deletions announced"
    );
    assert_eq!(
        counts.skipped, 1500,
        "additions and foreign deletions skipped"
    );
    assert_eq!(events.len(), 500, "one drift per deleted route of ours");
    assert!(events.iter().all(|e| matches!(e,
        KernelEvent::Drift { what } if what.starts_with("route 10.") && what.ends_with("table 254 deleted"))));

    // Nothing skipped would have produced an event.
    let mut full = watch::WatchDecoder::default();
    let mut skipped_seen = 0;
    for b in &buffers {
        let mut off = 0;
        while off + 16 <= b.len() {
            let len = u32::from_ne_bytes(b[off..off + 4].try_into().unwrap()) as usize;
            let frame = &b[off..off + len];
            if !watch::worth_decoding(frame) {
                skipped_seen += 1;
                let Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(m),
                    ..
                }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame)
                else {
                    panic!("a kernel notification that does not decode")
                };
                assert!(full.handle_message(&m).is_empty(), "{m:?}");
            }
            off += (len + 3) & !3;
        }
    }
    assert_eq!(skipped_seen, 1500);
}
