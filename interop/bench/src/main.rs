//! `perouter-bench`: blasts a pre-encoded table at a DUT on one session and times its arrival
//! on another. See `interop/bench/README.md` and `perouter-bench --help`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use perouter_bench::change::{self, ChangeReport, KernelMonitor};
use perouter_bench::report::{latencies, RunReport};
use perouter_bench::session::{self, kind, Established, FrameReader, PeerSpec};
use perouter_bench::sink::Sink;
use perouter_bench::table::{self, Family, TableSpec};
use perouter_bench::{fibcount, procstat};
use perouter_bgp::wire::WireContext;

/// Propagation bench: blaster → DUT → sink, one process, one clock.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address family of the table.
    #[arg(long, value_enum, default_value = "ipv4")]
    family: Family,
    /// Number of distinct routes.
    #[arg(long, default_value_t = 100_000)]
    routes: usize,
    /// Distinct attribute sets (MED varies per group): a number, or `real` for about 2.6 routes
    /// per set.
    #[arg(long, default_value = "1")]
    sets: String,
    /// Prefix length of the generated IPv4 prefixes (24 or 32), from 16.0.0.0.
    #[arg(long, default_value_t = 24)]
    prefix_len: u8,
    /// The DUT's address.
    #[arg(long, default_value = "192.168.11.3")]
    dut: Ipv4Addr,
    /// The DUT's BGP port.
    #[arg(long, default_value_t = 179)]
    port: u16,
    /// The blaster's source address (the DUT must have it as a neighbour).
    #[arg(long, default_value = "192.168.11.2")]
    blaster_addr: Ipv4Addr,
    /// The blaster's AS.
    #[arg(long, default_value_t = 64512)]
    blaster_as: u32,
    /// The sink's source address.
    #[arg(long, default_value = "192.168.11.4")]
    sink_addr: Ipv4Addr,
    /// The sink's AS.
    #[arg(long, default_value_t = 64513)]
    sink_as: u32,
    /// The family the sink session negotiates and counts (default: --family). The PE job sends
    /// EVPN type-5 routes and sinks the IPv4 unicast routes the DUT imported from them into a
    /// VRF and advertises on its host session: `--family evpn --sink-family ipv4`.
    #[arg(long, value_enum)]
    sink_family: Option<Family>,
    /// The DUT's address for the sink session (default: --dut), e.g. its side of the host
    /// session's veth.
    #[arg(long)]
    sink_dut: Option<Ipv4Addr>,
    /// The network namespace the sink session is opened in (a name under /run/netns, or a
    /// path); default: the harness' own. The blaster stays in the harness' namespace.
    #[arg(long)]
    sink_netns: Option<String>,
    /// Hold time offered, seconds (KEEPALIVEs every third of it).
    #[arg(long, default_value_t = 90)]
    hold: u16,
    /// PIDs of the DUT's processes (comma-separated or repeated) for memory and CPU.
    #[arg(long, value_delimiter = ',')]
    dut_pid: Vec<u32>,
    /// Name of the DUT in the report.
    #[arg(long, default_value = "dut")]
    label: String,
    /// Calibration: no DUT, the blaster writes straight into the sink over loopback TCP.
    #[arg(long)]
    no_dut: bool,
    /// Give up waiting for the routes after this many seconds from t0.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Seconds to wait for the sessions to come up.
    #[arg(long, default_value_t = 120)]
    connect_timeout: u64,
    /// Seconds to wait for the DUT's End-of-RIB on each session before t0.
    #[arg(long, default_value_t = 30)]
    eor_timeout: u64,
    /// Seconds of quiet before t0 (after End-of-RIB), when the idle figures are read.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Bytes of consecutive UPDATEs per write.
    #[arg(long, default_value_t = 65536)]
    batch: usize,
    /// After convergence, change the next hop of this many routes (IPv4), one at a time, and
    /// time each until the DUT's kernel holds it (needs --kernel-netns).
    #[arg(long, default_value_t = 0)]
    changes: usize,
    /// The next hop the changed routes move to (on the blaster's subnet).
    #[arg(long, default_value = "192.168.11.5")]
    alt_next_hop: Ipv4Addr,
    /// The network namespace of the DUT's FIB, watched with `ip -n NS monitor route`.
    #[arg(long)]
    kernel_netns: Option<String>,
    /// The DUT's kernel table to time (needs --kernel-netns): t0 → the table holds every route
    /// of the run more than just before t0 (counted from /proc/net/fib_triestat every 50 ms).
    /// The PE job's VRF table.
    #[arg(long)]
    kernel_table: Option<u32>,
}

/// Which session an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Blaster,
    Sink,
}

#[derive(Debug)]
enum Event {
    EndOfRib(Side),
    Complete,
    Failed(Side, String),
}

fn since(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

/// The sink's loop: frames, parses and counts until stopped or closed. Returns the sink as it
/// was when stopped, and the reader (with any bytes not yet framed) for the drain.
fn run_sink(
    mut stream: TcpStream,
    mut reader: FrameReader,
    mut sink: Sink,
    base: Instant,
    stop: Arc<AtomicBool>,
    events: mpsc::Sender<Event>,
) -> (Sink, FrameReader) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut done = false;
    loop {
        let now = since(base);
        loop {
            match reader.next_frame() {
                Ok(Some((kind::UPDATE, body))) => match sink.on_update(body, now) {
                    Ok(s) => {
                        if s.end_of_rib.is_some() {
                            let _ = events.send(Event::EndOfRib(Side::Sink));
                        }
                        if !done && sink.complete() {
                            done = true;
                            let _ = events.send(Event::Complete);
                        }
                    }
                    Err(e) => {
                        let _ = events.send(Event::Failed(Side::Sink, e.to_string()));
                        return (sink, reader);
                    }
                },
                Ok(Some((kind::NOTIFICATION, body))) => {
                    let _ = events.send(Event::Failed(
                        Side::Sink,
                        format!("NOTIFICATION {:?}", body.get(..2)),
                    ));
                    return (sink, reader);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = events.send(Event::Failed(Side::Sink, e.to_string()));
                    return (sink, reader);
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            return (sink, reader);
        }
        if !fill(&mut reader, &mut stream, Side::Sink, &events) {
            return (sink, reader);
        }
    }
}

/// Reads what the socket has into `reader`; false (and a `Failed` event for `side`) when the
/// connection closed or failed. A read timeout is not a failure: the caller checks its stop flag.
fn fill(
    reader: &mut FrameReader,
    stream: &mut TcpStream,
    side: Side,
    events: &mpsc::Sender<Event>,
) -> bool {
    match reader.fill(stream) {
        Ok(0) => {
            let _ = events.send(Event::Failed(side, "connection closed".into()));
            false
        }
        Ok(_) => true,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            true
        }
        Err(e) => {
            let _ = events.send(Event::Failed(side, e.to_string()));
            false
        }
    }
}

/// A read side that only drains: the blaster's (what the DUT sends it: its own routes,
/// echoes), and the sink's once the measurement is over. Notes End-of-RIB and NOTIFICATIONs.
fn run_drain(
    mut stream: TcpStream,
    mut reader: FrameReader,
    stop: Arc<AtomicBool>,
    events: mpsc::Sender<Event>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    loop {
        loop {
            match reader.next_frame() {
                Ok(Some((kind::UPDATE, body))) => {
                    if perouter_bench::sink::end_of_rib(body).is_some() {
                        let _ = events.send(Event::EndOfRib(Side::Blaster));
                    }
                }
                Ok(Some((kind::NOTIFICATION, body))) => {
                    let _ = events.send(Event::Failed(
                        Side::Blaster,
                        format!("NOTIFICATION {:?}", body.get(..2)),
                    ));
                    return;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = events.send(Event::Failed(Side::Blaster, e.to_string()));
                    return;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if !fill(&mut reader, &mut stream, Side::Blaster, &events) {
            return;
        }
    }
}

/// Groups consecutive messages into writes of about `batch` bytes: (bytes, messages in it).
fn batches(messages: &[bytes::Bytes], batch: usize) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(batch);
    let mut n = 0;
    for m in messages {
        if !cur.is_empty() && cur.len() + m.len() > batch {
            out.push((std::mem::replace(&mut cur, Vec::with_capacity(batch)), n));
            n = 0;
        }
        cur.extend_from_slice(m);
        n += 1;
    }
    if !cur.is_empty() {
        out.push((cur, n));
    }
    out
}

fn sets_of(arg: &str, routes: usize) -> Result<usize, String> {
    if arg == "real" {
        return Ok(((routes as f64 / 2.6).ceil() as usize).max(1));
    }
    arg.parse()
        .map_err(|_| format!("--sets {arg}: a number or `real`"))
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("perouter-bench: {msg}");
    ExitCode::from(2)
}

/// The sink session's family, the DUT's address and namespace for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SinkSide {
    family: Family,
    dut: Ipv4Addr,
    netns: Option<String>,
}

impl Args {
    /// The sink's side from the flags: each defaults to the blaster's.
    fn sink_side(&self) -> Result<SinkSide, String> {
        if self.no_dut
            && (self.sink_family.is_some() || self.sink_dut.is_some() || self.sink_netns.is_some())
        {
            return Err(
                "--sink-family, --sink-dut and --sink-netns need a DUT (not --no-dut)".into(),
            );
        }
        Ok(SinkSide {
            family: self.sink_family.unwrap_or(self.family),
            dut: self.sink_dut.unwrap_or(self.dut),
            netns: self.sink_netns.clone(),
        })
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    let sink_side = match a.sink_side() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let sets = match sets_of(&a.sets, a.routes) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let spec = TableSpec {
        family: a.family,
        routes: a.routes,
        sets,
        prefix_len: a.prefix_len,
        asn: a.blaster_as,
        next_hop: a.blaster_addr,
    };
    if let Err(e) = spec.validate() {
        return fail(e);
    }
    if a.kernel_table.is_some() && (a.kernel_netns.is_none() || a.no_dut) {
        return fail("--kernel-table needs --kernel-netns and a DUT");
    }
    if a.changes > 0 && (a.kernel_netns.is_none() || a.family != Family::Ipv4 || a.no_dut) {
        return fail("--changes needs --kernel-netns, --family ipv4 and a DUT");
    }
    let ctx = WireContext::four_octet();
    let t_enc = Instant::now();
    let encoded = match table::encode(&spec, &ctx) {
        Ok(e) => e,
        Err(e) => return fail(format!("encoding: {e}")),
    };
    let writes = batches(&encoded.messages, a.batch);
    let encode_s = t_enc.elapsed().as_secs_f64();
    eprintln!(
        "encoded {} routes in {} UPDATEs ({} bytes, {} writes) in {:.2} s",
        spec.routes,
        encoded.messages.len(),
        encoded.bytes(),
        writes.len(),
        encode_s
    );

    let base = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Event>();
    let eor = match table::end_of_rib(a.family, &ctx) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let sink_eor = match table::end_of_rib(sink_side.family, &ctx) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };

    // The two streams: through the DUT, or straight over loopback for the calibration.
    let (blaster, sink_est, blaster_reader, hold) = if a.no_dut {
        let l = match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let to = l.local_addr().expect("bound");
        let b = match TcpStream::connect(to) {
            Ok(b) => b,
            Err(e) => return fail(e),
        };
        let (s, _) = match l.accept() {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        (b, s, None, a.hold)
    } else {
        let deadline = Instant::now() + Duration::from_secs(a.connect_timeout);
        let peer = |local, asn, dut, family| PeerSpec {
            local,
            remote: SocketAddr::new(IpAddr::V4(dut), a.port),
            asn,
            family,
            hold: a.hold,
        };
        let (pb, ps) = (
            peer(a.blaster_addr, a.blaster_as, a.dut, a.family),
            peer(a.sink_addr, a.sink_as, sink_side.dut, sink_side.family),
        );
        let sink_netns = sink_side.netns.clone();
        let hs = thread::spawn(move || {
            if let Some(ns) = &sink_netns {
                session::enter_netns(ns)?;
            }
            session::establish(&ps, deadline)
        });
        let b: Established = match session::establish(&pb, deadline) {
            Ok(b) => b,
            Err(e) => return fail(format!("blaster session: {e}")),
        };
        let s: Established = match hs.join().expect("sink thread") {
            Ok(s) => s,
            Err(e) => return fail(format!("sink session: {e}")),
        };
        eprintln!(
            "sessions Established (hold {} s / {} s) after {:.1} s",
            b.hold,
            s.hold,
            base.elapsed().as_secs_f64()
        );
        let hold = b.hold.min(s.hold);
        // The sink thread reads with the handshake's leftover bytes.
        let sink_stream = s.stream;
        let sink_reader = s.reader;
        (b.stream, sink_stream, Some((b.reader, sink_reader)), hold)
    };

    let (drain_reader, sink_reader) = match blaster_reader {
        Some((d, s)) => (Some(d), s),
        None => (None, FrameReader::new()),
    };
    // The sink is stopped as soon as the measurement ends (complete, failed or timed out), so
    // that what it holds is what had arrived by then.
    let sink_stop = Arc::new(AtomicBool::new(false));
    let sink_thread = {
        let stream = sink_est.try_clone().expect("clone");
        let (stop, tx, sink) = (sink_stop.clone(), tx.clone(), Sink::new(&spec));
        thread::spawn(move || run_sink(stream, sink_reader, sink, base, stop, tx))
    };
    let sink_drain_stream = sink_est.try_clone().expect("clone");
    if let Some(r) = drain_reader {
        let stream = blaster.try_clone().expect("clone");
        let (stop, tx) = (stop.clone(), tx.clone());
        thread::spawn(move || run_drain(stream, r, stop, tx));
    }
    let blaster_w = Arc::new(Mutex::new(blaster));
    let sink_w = Arc::new(Mutex::new(sink_est));
    if !a.no_dut && hold > 0 {
        let (bw, sw, stop) = (blaster_w.clone(), sink_w.clone(), stop.clone());
        let every = Duration::from_secs(u64::from(hold / 3).max(1));
        thread::spawn(move || {
            let ka = session::keepalive();
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= every {
                    last = Instant::now();
                    for w in [&bw, &sw] {
                        let _ = w.lock().expect("writer").write_all(&ka);
                    }
                }
            }
        });
    }

    // End-of-RIB both ways before t0.
    let mut eor_before_t0 = true;
    if !a.no_dut {
        for (w, m) in [(&blaster_w, &eor), (&sink_w, &sink_eor)] {
            if let Err(e) = w.lock().expect("writer").write_all(m) {
                return fail(format!("sending End-of-RIB: {e}"));
            }
        }
        let (mut eb, mut es) = (false, false);
        let deadline = Instant::now() + Duration::from_secs(a.eor_timeout);
        while !(eb && es) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Event::EndOfRib(Side::Blaster)) => eb = true,
                Ok(Event::EndOfRib(Side::Sink)) => es = true,
                Ok(Event::Failed(side, e)) => return fail(format!("{side:?} session: {e}")),
                Ok(Event::Complete) => {}
                Err(_) => {
                    eprintln!(
                        "no End-of-RIB from the DUT within {} s (blaster {eb}, sink {es}); going on",
                        a.eor_timeout
                    );
                    eor_before_t0 = false;
                    break;
                }
            }
        }
    }
    thread::sleep(Duration::from_secs_f64(a.settle));
    let idle = procstat::read(&a.dut_pid);
    let hwm_not_reset = procstat::reset_hwm(&a.dut_pid);
    if hwm_not_reset > 0 && !a.dut_pid.is_empty() {
        eprintln!(
            "VmHWM could not be reset for {hwm_not_reset} process(es): the peak may predate t0"
        );
    }

    let table_watch = match (a.kernel_table, a.kernel_netns.as_deref()) {
        (Some(t), Some(ns)) => match fibcount::TableWatch::start(
            ns,
            t,
            spec.routes as u64,
            base,
            Duration::from_millis(50),
            Duration::from_secs(a.timeout),
        ) {
            Ok(w) => {
                eprintln!(
                    "kernel table {t} in {ns}: {} prefixes before t0",
                    w.baseline
                );
                Some(w)
            }
            Err(e) => return fail(format!("kernel table {t} in {ns}: {e}")),
        },
        _ => None,
    };

    // t0: write everything, noting when each write returned.
    let t0 = since(base);
    let mut written_ns = Vec::with_capacity(encoded.messages.len());
    {
        for (bytes, n) in &writes {
            let r = blaster_w.lock().expect("writer").write_all(bytes);
            if let Err(e) = r {
                return fail(format!("blaster write: {e}"));
            }
            let now = since(base);
            written_ns.extend(std::iter::repeat_n(now, *n));
        }
    }
    let blast_s = (since(base) - t0) as f64 / 1e9;

    // Until every route arrived, the sink failed, or the timeout.
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    let mut failure = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Complete) => break,
            Ok(Event::Failed(side, e)) => {
                failure = Some(format!("{side:?} session: {e}"));
                break;
            }
            Ok(Event::EndOfRib(_)) => {}
            Err(_) => {
                failure = Some(format!("timeout after {} s", a.timeout));
                break;
            }
        }
    }
    let done_at = Instant::now();
    sink_stop.store(true, Ordering::Relaxed);
    // The kernel table may fill after the sink got everything (or before).
    let (kernel_s, kernel_routes) = match table_watch {
        Some(w) => {
            let (at, n) = w.wait();
            if at.is_none() && failure.is_none() {
                failure = Some(format!(
                    "the kernel table holds {n} of {} routes after {} s",
                    spec.routes, a.timeout
                ));
            }
            (at.map(|at| at.saturating_sub(t0) as f64 / 1e9), Some(n))
        }
        None => (None, None),
    };
    let (sink, sink_reader) = sink_thread.join().expect("sink thread");
    if !a.no_dut {
        // Keep reading what the DUT sends the sink while its CPU is watched.
        let (stop, tx) = (stop.clone(), tx.clone());
        thread::spawn(move || run_drain(sink_drain_stream, sink_reader, stop, tx));
    }

    // The DUT's CPU window: until its CPU time stops moving for 1 s (at most 120 s).
    let mut last = procstat::read(&a.dut_pid);
    let mut quiet_since = Instant::now();
    let mut last_change = done_at;
    if !a.dut_pid.is_empty() {
        while quiet_since.elapsed() < Duration::from_secs(1)
            && done_at.elapsed() < Duration::from_secs(120)
        {
            thread::sleep(Duration::from_millis(200));
            let r = procstat::read(&a.dut_pid);
            if r.cpu_ticks != last.cpu_ticks {
                quiet_since = Instant::now();
                last_change = quiet_since;
            }
            last = r;
        }
    }
    let end = last;

    // One change at a time, each timed to the DUT's kernel.
    let mut changes = None;
    if let (true, Some(ns)) = (
        a.changes > 0 && failure.is_none(),
        a.kernel_netns.as_deref(),
    ) {
        match one_changes(&a, &spec, &ctx, ns, base, &blaster_w) {
            Ok(r) => changes = Some(r),
            Err(e) => failure = Some(format!("one-change latency: {e}")),
        }
    }
    stop.store(true, Ordering::Relaxed);

    let received = sink.count();
    let convergence_s = if received > 0 {
        sink.last_new_ns.saturating_sub(t0) as f64 / 1e9
    } else {
        0.0
    };
    let mem_delta = end.hwm.saturating_sub(idle.rss);
    let tps = procstat::ticks_per_second() as f64;
    let cpu_window_s = if a.dut_pid.is_empty() {
        0.0
    } else {
        (last_change.duration_since(base).as_nanos() as u64).saturating_sub(t0) as f64 / 1e9
    };
    let report = RunReport {
        dut: if a.no_dut {
            "none".into()
        } else {
            a.label.clone()
        },
        family: a.family,
        routes: spec.routes,
        sets,
        messages: encoded.messages.len(),
        bytes: encoded.bytes(),
        encode_s,
        blast_s,
        received,
        complete: sink.complete(),
        convergence_s,
        routes_per_s: if convergence_s > 0.0 {
            received as f64 / convergence_s
        } else {
            0.0
        },
        latency: latencies(&sink, &encoded.message_of, &written_ns),
        repeated: sink.repeated,
        foreign: sink.foreign,
        idle_rss: idle.rss,
        peak_hwm: end.hwm,
        mem_delta,
        bytes_per_route: mem_delta as f64 / spec.routes as f64,
        cpu_s: end.cpu_ticks.saturating_sub(idle.cpu_ticks) as f64 / tps,
        cpu_window_s,
        eor_before_t0,
        dut_pids: a.dut_pid.len(),
        changes,
        kernel_s,
        kernel_routes,
    };
    println!("{}", serde_json::to_string(&report).expect("serializable"));
    if let Some(f) = &failure {
        eprintln!("perouter-bench: {f}");
    }
    eprintln!("{}", report.human());
    if report.complete && failure.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `--changes`: waits for the DUT's kernel to go quiet (the table installed), then moves routes
/// spread over the table to `--alt-next-hop`, one at a time, timing each from the write of its
/// UPDATE to the kernel's notification.
fn one_changes(
    a: &Args,
    spec: &TableSpec,
    ctx: &WireContext,
    netns: &str,
    base: Instant,
    blaster: &Mutex<TcpStream>,
) -> Result<ChangeReport, String> {
    let mon = KernelMonitor::start(netns, base).map_err(|e| format!("ip monitor: {e}"))?;
    let (settle_lines, quiet) =
        mon.wait_quiet(Duration::from_secs(2), Duration::from_secs(a.timeout));
    if !quiet {
        return Err(format!(
            "the kernel of {netns} did not go quiet within {} s",
            a.timeout
        ));
    }
    eprintln!(
        "kernel quiet ({settle_lines} route notifications drained); {} changes",
        a.changes
    );
    let mut lat = Vec::with_capacity(a.changes);
    for i in change::spread(spec.routes, a.changes) {
        let msg = table::encode_next_hop_change(spec, i, a.alt_next_hop, ctx)
            .map_err(|e| format!("encoding: {e}"))?;
        let t = since(base);
        blaster
            .lock()
            .expect("writer")
            .write_all(&msg)
            .map_err(|e| format!("blaster write: {e}"))?;
        let seen = mon.wait_route(spec.prefix(i), a.alt_next_hop, Duration::from_secs(10));
        lat.push(seen.map(|at| at.saturating_sub(t)));
        thread::sleep(Duration::from_millis(20));
    }
    Ok(ChangeReport::of(&lat, settle_lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_real_is_about_2_6_routes_per_set() {
        assert_eq!(sets_of("real", 1_000_000), Ok(384_616));
        assert_eq!(sets_of("1", 10), Ok(1));
        assert!(sets_of("many", 10).is_err());
    }

    #[test]
    fn sink_side_defaults_to_the_blasters() {
        let a = Args::try_parse_from(["perouter-bench", "--family", "evpn"]).unwrap();
        assert_eq!(
            a.sink_side(),
            Ok(SinkSide {
                family: Family::Evpn,
                dut: Ipv4Addr::new(192, 168, 11, 3),
                netns: None
            })
        );
    }

    #[test]
    fn pe_job_sinks_ipv4_on_another_address_and_namespace() {
        let a = Args::try_parse_from([
            "perouter-bench",
            "--family",
            "evpn",
            "--sink-family",
            "ipv4",
            "--sink-dut",
            "192.169.10.1",
            "--sink-netns",
            "pehost",
        ])
        .unwrap();
        assert_eq!(
            a.sink_side(),
            Ok(SinkSide {
                family: Family::Ipv4,
                dut: Ipv4Addr::new(192, 169, 10, 1),
                netns: Some("pehost".into())
            })
        );
    }

    #[test]
    fn sink_flags_are_refused_without_a_dut() {
        let a =
            Args::try_parse_from(["perouter-bench", "--no-dut", "--sink-family", "ipv4"]).unwrap();
        assert!(a.sink_side().unwrap_err().contains("--no-dut"));
    }

    #[test]
    fn batches_keep_whole_messages_in_order() {
        let msgs: Vec<bytes::Bytes> = (0..10u8).map(|i| bytes::Bytes::from(vec![i; 30])).collect();
        let b = batches(&msgs, 100);
        assert_eq!(b.iter().map(|x| x.1).collect::<Vec<_>>(), [3, 3, 3, 1]);
        let all: Vec<u8> = b.iter().flat_map(|x| x.0.clone()).collect();
        assert_eq!(all, msgs.concat());
    }
}
