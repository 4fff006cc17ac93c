//! The netlink driver: dumps what the kernel has, and sends planned operations in batches.
//!
//! Many requests go out in one `send(2)`; the kernel handles them in order in the sender's
//! context and queues one acknowledgement each, which are then collected and mapped back to
//! their operations by sequence number. A failed operation is reported and the rest are applied.
//! Device names are resolved to indexes from a per-namespace cache; an operation naming a device
//! the cache does not know (one created earlier in the same run) flushes the batch and refreshes
//! the cache first, which is the only synchronisation point between phases.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::{RouteHeader, RouteMessage, RouteProtocol, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::desired::{ForwardingState, NodeDatapath, ROUTE_PROTOCOL};
use crate::diff::{diff_with_defaults, Plan};
use crate::index::{AuditResult, RouteIndex};
use crate::message::{build, BuildError, Payload, Resolve};
use crate::netns::{self, NetnsHandle};
use crate::nexthop::{self, ObservedNhObjects};
use crate::observed::{link_from_message, Link, NamespaceState, ObservedNode};
use crate::op::{Ns, Op, Phase};
use perouter_evpn::MacAddress;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;

/// Driver settings.
#[derive(Debug, Clone)]
pub struct DatapathConfig {
    /// Namespace standing for the host: `None` is the calling process's namespace (production);
    /// tests name one they created.
    pub host_netns: Option<String>,
    /// Requests per `send(2)`.
    pub batch_messages: usize,
    /// Receive buffer to ask for (acknowledgements of a whole batch must fit).
    pub rcvbuf_bytes: usize,
    /// Install routes through kernel nexthop objects ([`crate::nexthop`]) when the kernel takes
    /// them; `false` (or a kernel without them) puts the gateways in every route.
    pub nexthop_objects: bool,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            host_netns: None,
            batch_messages: 512,
            rcvbuf_bytes: 8 << 20,
            nexthop_objects: true,
        }
    }
}

/// Errors of the driver itself (not of single operations, which are [`OpFailure`]s).
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    /// A socket, namespace or dump failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// The desired state is invalid.
    #[error("invalid desired state: {0}")]
    Desired(#[from] crate::desired::DesiredError),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> FibError {
    let context = context.into();
    move |source| FibError::Io { context, source }
}

/// One operation the kernel (or the driver) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFailure {
    /// Position in the applied list.
    pub index: usize,
    /// The operation.
    pub op: Op,
    /// `errno` (positive), or 0 when the driver could not build the request.
    pub errno: i32,
    /// The kernel's extended-ack text, or the driver's reason.
    pub message: String,
}

impl std::fmt::Display for OpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.op,
            io::Error::from_raw_os_error(self.errno),
            self.message
        )
    }
}

/// What one [`Datapath::apply`] did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Operations attempted.
    pub attempted: usize,
    /// Operations that failed (the others were applied).
    pub failures: Vec<OpFailure>,
    /// Netlink write requests sent.
    pub messages_sent: u64,
    /// `send(2)` calls carrying them.
    pub sends: u64,
}

/// What one [`Datapath::reconcile`] did.
#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    /// The plan that was applied.
    pub plan: Plan,
    /// How applying it went.
    pub apply: ApplyReport,
    /// Routes installed with their gateways because the kernel refused the nexthop object
    /// they were planned on (a device without carrier): the per-route fallback of
    /// [`crate::nexthop::fallback_routes`].
    pub nexthop_fallback_routes: usize,
}

/// A blocking `NETLINK_ROUTE` socket in one namespace.
struct NlSocket {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
}

impl NlSocket {
    fn open(ns: &NetnsHandle, rcvbuf: usize) -> io::Result<NlSocket> {
        let sock = ns.run(|| -> io::Result<Socket> {
            let mut s = Socket::new(NETLINK_ROUTE)?;
            s.bind_auto()?;
            s.connect(&SocketAddr::new(0, 0))?;
            Ok(s)
        })??;
        let fd = sock.as_raw_fd();
        for (opt, val) in [(NETLINK_CAP_ACK, 1), (NETLINK_EXT_ACK, 1)] {
            setsockopt_int(fd, SOL_NETLINK, opt, val)?;
        }
        let size = libc::c_int::try_from(rcvbuf).unwrap_or(libc::c_int::MAX);
        if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size).is_err() {
            setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, size)?;
        }
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20);
        Ok(NlSocket {
            sock,
            seq: 1,
            rx: vec![0; 1 << 20],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn recv(&mut self) -> io::Result<usize> {
        // SAFETY: rx is a valid, writable buffer of rx.len() bytes for the whole call.
        let n = unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                self.rx.as_mut_ptr().cast(),
                self.rx.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Sends a dump request and collects every reply message.
    fn dump(&mut self, req: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.dump_map(req, Some)
    }

    /// [`NlSocket::dump`], keeping only what `keep` makes of each message as it is decoded: a
    /// dump of thousands of links is never held as full messages at once (each decoded link
    /// message is kilobytes; what the driver needs of it is a few dozen bytes).
    fn dump_map<T>(
        &mut self,
        req: RouteNetlinkMessage,
        mut keep: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        let mut out = Vec::new();
        self.dump_frames(
            |seq| {
                let mut h = NetlinkHeader::default();
                h.flags = NLM_F_REQUEST | NLM_F_DUMP;
                h.sequence_number = seq;
                let mut m = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(req.clone()));
                m.finalize();
                let mut buf = vec![0; m.buffer_len()];
                m.serialize(&mut buf);
                buf
            },
            |frame| match frame {
                None => out.clear(),
                Some(frame) => match NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame) {
                    Ok(NetlinkMessage {
                        payload: NetlinkPayload::InnerMessage(m),
                        ..
                    }) => out.extend(keep(m)),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "skipping undecodable dump message"),
                },
            },
        )?;
        Ok(out)
    }

    /// Sends the dump request `request(seq)` builds and hands each reply message (the whole
    /// frame) to `each` as it arrives. When the kernel flags the dump as interrupted by a
    /// concurrent change, `each(None)` drops what was gathered and the dump is retried.
    fn dump_frames(
        &mut self,
        request: impl Fn(u32) -> Vec<u8>,
        mut each: impl FnMut(Option<&[u8]>),
    ) -> io::Result<()> {
        for _attempt in 0..5 {
            let seq = self.next_seq();
            self.sock.send(&request(seq), 0)?;
            let mut interrupted = false;
            'recv: loop {
                let n = self.recv()?;
                let mut off = 0;
                while let Some(frame) = next_frame(&self.rx[..n], &mut off) {
                    if frame.seq != seq {
                        continue;
                    }
                    interrupted |= frame.flags & NLM_F_DUMP_INTR != 0;
                    match frame.kind {
                        NLMSG_DONE => break 'recv,
                        NLMSG_ERROR => {
                            let (code, text) = parse_error(frame.bytes, frame.flags);
                            if code != 0 {
                                return Err(io::Error::new(
                                    io::Error::from_raw_os_error(code).kind(),
                                    format!(
                                        "dump refused: {} {text}",
                                        io::Error::from_raw_os_error(code)
                                    ),
                                ));
                            }
                            break 'recv;
                        }
                        _ => each(Some(frame.bytes)),
                    }
                }
            }
            if !interrupted {
                return Ok(());
            }
            each(None);
            tracing::debug!("dump interrupted by a concurrent change; retrying");
        }
        Err(io::Error::other("dump kept being interrupted"))
    }

    /// Our nexthop objects and every id taken (one `RTM_GETNEXTHOP` dump). An error means the
    /// kernel has no nexthop objects (`EOPNOTSUPP`/`EINVAL` before Linux 5.3).
    fn dump_nexthops(&mut self) -> io::Result<ObservedNhObjects> {
        let mut objs = ObservedNhObjects {
            supported: true,
            ..Default::default()
        };
        self.dump_frames(
            |seq| {
                raw_message(
                    nexthop::RTM_GETNEXTHOP,
                    NLM_F_REQUEST | NLM_F_DUMP,
                    seq,
                    &nexthop::encode_dump(),
                )
            },
            |frame| match frame {
                None => {
                    objs.ours.clear();
                    objs.taken.clear();
                }
                Some(f) => {
                    if u16::from_ne_bytes([f[4], f[5]]) != nexthop::RTM_NEWNEXTHOP {
                        return;
                    }
                    if let Some((id, proto, o)) = f.get(16..).and_then(nexthop::parse) {
                        objs.taken.insert(id);
                        if proto == ROUTE_PROTOCOL {
                            objs.ours.insert(id, o);
                        }
                    }
                }
            },
        )?;
        Ok(objs)
    }
}

/// A whole netlink message (`struct nlmsghdr` then `body`).
fn raw_message(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = 16 + body.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    m
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: val lives for the call and the length matches its type.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One netlink message inside a received datagram.
struct Frame<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    bytes: &'a [u8],
}

/// The next well-formed message at `*off`, advancing `*off`; `None` at the end or on a
/// malformed length (the rest of the datagram is then ignored).
fn next_frame<'a>(buf: &'a [u8], off: &mut usize) -> Option<Frame<'a>> {
    let rest = buf.get(*off..)?;
    let hdr = rest.get(..16)?;
    let len = u32::from_ne_bytes(hdr[0..4].try_into().ok()?) as usize;
    if len < 16 || len > rest.len() {
        return None;
    }
    let frame = Frame {
        kind: u16::from_ne_bytes(hdr[4..6].try_into().ok()?),
        flags: u16::from_ne_bytes(hdr[6..8].try_into().ok()?),
        seq: u32::from_ne_bytes(hdr[8..12].try_into().ok()?),
        bytes: &rest[..len],
    };
    *off += (len + 3) & !3;
    Some(frame)
}

/// The errno (positive, 0 = ACK) and extended-ack text of an `NLMSG_ERROR` message.
fn parse_error(bytes: &[u8], flags: u16) -> (i32, String) {
    let Some(code) = bytes
        .get(16..20)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
    else {
        return (libc::EPROTO, "truncated error message".into());
    };
    let mut text = String::new();
    if flags & NLM_F_ACK_TLVS != 0 {
        // With NETLINK_CAP_ACK the original request is echoed as its 16-byte header only.
        let mut off = 20 + 16;
        while let Some(tlv) = bytes.get(off..off + 4) {
            let len = u16::from_ne_bytes([tlv[0], tlv[1]]) as usize;
            let kind = u16::from_ne_bytes([tlv[2], tlv[3]]) & 0x3fff;
            if len < 4 {
                break;
            }
            if kind == NLMSGERR_ATTR_MSG {
                if let Some(v) = bytes.get(off + 4..off + len) {
                    text = String::from_utf8_lossy(v)
                        .trim_end_matches('\0')
                        .to_string();
                }
            }
            off += (len + 3) & !3;
        }
    }
    (code.saturating_neg(), text)
}

/// The MTU of the link `ifname` in namespace `netns` (None = the caller's), read over netlink
/// (RTM_GETLINK dump): `Ok(None)` when there is no such link or the namespace does not exist.
/// The agent reads the underlay NICs' MTU this way, without the `ip` command (which the
/// distroless image does not have).
pub fn link_mtu(netns: Option<&str>, ifname: &str) -> io::Result<Option<u32>> {
    let handle = match netns {
        Some(n) if !crate::netns::exists(n) => return Ok(None),
        Some(n) => NetnsHandle::open(n)?,
        None => NetnsHandle::current()?,
    };
    let mut conn = NsConn::open(handle, 1 << 20)?;
    let links = conn.dump_links()?;
    Ok(links
        .into_iter()
        .find(|l| l.name == ifname)
        .and_then(|l| l.mtu))
}

/// A namespace the driver works in: its handle, socket and name → index cache.
struct NsConn {
    handle: NetnsHandle,
    sock: NlSocket,
    index: BTreeMap<String, u32>,
    /// Route messages received from route dumps.
    routes_dumped: u64,
}

impl NsConn {
    fn open(handle: NetnsHandle, rcvbuf: usize) -> io::Result<NsConn> {
        let sock = NlSocket::open(&handle, rcvbuf)?;
        Ok(NsConn {
            handle,
            sock,
            index: BTreeMap::new(),
            routes_dumped: 0,
        })
    }

    /// Every link of the namespace, translated as it arrives (see [`NlSocket::dump_map`]);
    /// refreshes the name → index cache.
    fn dump_links(&mut self) -> io::Result<Vec<Link>> {
        let mut req = LinkMessage::default();
        req.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let links = self
            .sock
            .dump_map(RouteNetlinkMessage::GetLink(req), |m| match m {
                RouteNetlinkMessage::NewLink(l) => link_from_message(&l),
                _ => None,
            })?;
        self.index = links.iter().map(|l| (l.name.clone(), l.ifindex)).collect();
        Ok(links)
    }

    /// Dumps the routes of ours (protocol [`ROUTE_PROTOCOL`], unicast) of every table, both
    /// families, into `st` as they arrive: each message is decoded and translated on its own,
    /// and a route `audit` finds installed as wanted is not kept at all (see
    /// [`crate::index::Audit`]). With `NETLINK_GET_STRICT_CHK` (Linux 4.20+) the kernel applies
    /// the protocol and type filter itself (`ip_valid_fib_dump_req`), so the routes of other
    /// protocols — the local table, connected routes, anything else sharing the namespace — are
    /// never serialised; without it everything comes and the parser drops what is not ours.
    fn dump_our_routes(
        &mut self,
        st: &mut NamespaceState,
        mut audit: Option<&mut crate::index::Audit<'_>>,
    ) -> io::Result<()> {
        let fd = self.sock.sock.as_raw_fd();
        let strict = setsockopt_int(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1).is_ok();
        let mut result = Ok(());
        let mut dumped = 0u64;
        for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut r = RouteMessage::default();
            r.header = RouteHeader {
                address_family: fam,
                ..Default::default()
            };
            if strict {
                r.header.protocol = RouteProtocol::from(ROUTE_PROTOCOL);
                r.header.kind = RouteType::Unicast;
            }
            let req = RouteNetlinkMessage::GetRoute(r);
            let res = self.sock.dump_frames(
                |seq| {
                    let mut h = NetlinkHeader::default();
                    h.flags = NLM_F_REQUEST | NLM_F_DUMP;
                    h.sequence_number = seq;
                    let mut m = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(req.clone()));
                    m.finalize();
                    let mut buf = vec![0; m.buffer_len()];
                    m.serialize(&mut buf);
                    buf
                },
                |frame| match frame {
                    None => {
                        // Interrupted: this family's dump starts over.
                        st.routes
                            .retain(|(_, p), _| p.addr().is_ipv4() != (fam == AddressFamily::Inet));
                        st.stray_routes.retain(|((_, p), _)| {
                            p.addr().is_ipv4() != (fam == AddressFamily::Inet)
                        });
                        if let Some(a) = audit.as_deref_mut() {
                            a.restart(fam == AddressFamily::Inet);
                        }
                    }
                    Some(frame) => {
                        let Ok(NetlinkMessage {
                            payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)),
                            ..
                        }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame)
                        else {
                            return;
                        };
                        dumped += 1;
                        let Some((key, route)) = crate::observed::route_from_message(&m) else {
                            return;
                        };
                        if let Some(a) = audit.as_deref_mut() {
                            if a.check(st, &key, &route) {
                                return;
                            }
                        }
                        st.insert_route(key, route);
                    }
                },
            );
            if let Err(e) = res {
                result = Err(e);
                break;
            }
        }
        if strict {
            // The other dumps keep the lenient checking their requests were written for.
            setsockopt_int(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 0)?;
        }
        result?;
        self.routes_dumped += dumped;
        Ok(())
    }

    fn observe(&mut self, full: bool, sysctls: &[String]) -> io::Result<NamespaceState> {
        let links = self.dump_links()?;
        let addrs: Vec<AddressMessage> = self
            .sock
            .dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .collect();
        let neighs = if full {
            let mut neighs = Vec::new();
            for fam in [AddressFamily::Unspec, AddressFamily::Bridge] {
                let mut n = NeighbourMessage::default();
                n.header.family = fam;
                neighs.extend(
                    self.sock
                        .dump(RouteNetlinkMessage::GetNeighbour(n))?
                        .into_iter()
                        .filter_map(|m| match m {
                            RouteNetlinkMessage::NewNeighbour(n) => Some(n),
                            _ => None,
                        }),
                );
            }
            neighs
        } else {
            Vec::new()
        };
        let mut st = NamespaceState::from_links(links, &addrs, &[], &neighs);
        if !sysctls.is_empty() {
            let values = self.handle.read_sysctls(sysctls)?;
            st.sysctls = sysctls.iter().cloned().zip(values).collect();
        }
        Ok(st)
    }
}

/// The datapath driver: owns the netlink sockets of the host and router namespaces.
pub struct Datapath {
    cfg: DatapathConfig,
    router_name: String,
    host: NsConn,
    router: Option<NsConn>,
    messages_sent: u64,
    /// Whether the kernel takes nexthop objects: `None` until first asked (detected once).
    nexthop_objects: Option<bool>,
    /// The nexthop objects in the kernel after the last clean pass.
    nh_index: crate::nexthop::NhIndex,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("router_netns", &self.router_name)
            .field("host_netns", &self.cfg.host_netns)
            .field("messages_sent", &self.messages_sent)
            .finish()
    }
}

struct Resolver<'a> {
    host: &'a NsConn,
    router: Option<&'a NsConn>,
}

impl Resolve for Resolver<'_> {
    fn ifindex(&self, ns: Ns, name: &str) -> Option<u32> {
        match ns {
            Ns::Host => self.host.index.get(name).copied(),
            Ns::Router => self.router?.index.get(name).copied(),
        }
    }
    fn netns_fd(&self, ns: Ns) -> Option<RawFd> {
        match ns {
            Ns::Host => Some(self.host.handle.fd().as_raw_fd()),
            Ns::Router => Some(self.router?.handle.fd().as_fd().as_raw_fd()),
        }
    }
}

/// A request waiting in the current batch.
struct Pending {
    op_index: usize,
    seq: u32,
}

impl Datapath {
    /// Opens the driver for router namespace `router_netns` (which may not exist yet).
    pub fn open(router_netns: &str, cfg: DatapathConfig) -> Result<Datapath, FibError> {
        let host_handle = match &cfg.host_netns {
            Some(n) => NetnsHandle::open(n),
            None => NetnsHandle::current(),
        }
        .map_err(io_err("open host namespace"))?;
        let host =
            NsConn::open(host_handle, cfg.rcvbuf_bytes).map_err(io_err("host netlink socket"))?;
        let mut dp = Datapath {
            cfg,
            router_name: router_netns.to_string(),
            host,
            router: None,
            messages_sent: 0,
            nexthop_objects: None,
            nh_index: crate::nexthop::NhIndex::default(),
        };
        dp.open_router()?;
        Ok(dp)
    }

    fn open_router(&mut self) -> Result<(), FibError> {
        if self.router.is_none() && netns::exists(&self.router_name) {
            let h =
                NetnsHandle::open(&self.router_name).map_err(io_err("open router namespace"))?;
            self.router = Some(
                NsConn::open(h, self.cfg.rcvbuf_bytes).map_err(io_err("router netlink socket"))?,
            );
        }
        Ok(())
    }

    /// Netlink write requests sent since the driver was opened (dumps are not counted).
    pub fn messages_sent(&self) -> u64 {
        self.messages_sent
    }

    /// Route messages the router namespace's route dumps returned since the driver was opened:
    /// with kernel-side filtering, only routes of ours are ever sent.
    pub fn routes_dumped(&self) -> u64 {
        self.router.as_ref().map_or(0, |r| r.routes_dumped)
    }

    /// The router namespace handle, once it exists.
    pub fn router_netns(&self) -> Option<&NetnsHandle> {
        self.router.as_ref().map(|r| &r.handle)
    }

    /// Reads what the kernel has: links and addresses in the host namespace; links, addresses,
    /// our routes, neighbours, FDB and the sysctls `desired` manages in the router namespace.
    pub fn observe(&mut self, desired: &NodeDatapath) -> Result<ObservedNode, FibError> {
        Ok(self.observe_auditing(desired, None)?.0)
    }

    /// [`Datapath::observe`]; with `audit`, the main table's routes are compared with the
    /// index as the dump arrives ([`crate::index::Audit`]) and only the differences are kept
    /// in the observation.
    fn observe_auditing(
        &mut self,
        desired: &NodeDatapath,
        audit: Option<(Option<&mut RouteIndex>, &ForwardingState)>,
    ) -> Result<(ObservedNode, Option<AuditResult>), FibError> {
        self.open_router()?;
        let host = self
            .host
            .observe(false, &[])
            .map_err(io_err("observe host namespace"))?;
        let keys: Vec<String> = desired.sysctls().into_iter().map(|s| s.path).collect();
        let use_objects = self.cfg.nexthop_objects && self.nexthop_objects != Some(false);
        let mut refused = None;
        let mut audited = None;
        let router = match &mut self.router {
            Some(r) => {
                let mut st = r
                    .observe(true, &keys)
                    .map_err(io_err("observe router namespace"))?;
                if use_objects {
                    match r.sock.dump_nexthops() {
                        Ok(objs) => st.nexthops = objs,
                        Err(e) => refused = Some(e),
                    }
                }
                match audit {
                    Some((index, fwd)) => {
                        let mut a = crate::index::Audit::new(index, fwd, &st);
                        r.dump_our_routes(&mut st, Some(&mut a))
                            .map_err(io_err("dump router routes"))?;
                        let res = a.finish();
                        st.nexthops.audited = res.used_objects.clone();
                        audited = Some(res);
                    }
                    None => r
                        .dump_our_routes(&mut st, None)
                        .map_err(io_err("dump router routes"))?,
                }
                Some(st)
            }
            None => {
                // No router namespace yet: the kernel has none of the wanted routes.
                if let Some((Some(index), _)) = audit {
                    audited = Some(AuditResult {
                        unmatched: index.to_map(),
                        ..Default::default()
                    });
                }
                None
            }
        };
        if let Some(e) = refused {
            self.nexthops_refused(&e.to_string());
        } else if use_objects && router.is_some() {
            self.nexthop_objects = Some(true);
        }
        Ok((ObservedNode { host, router }, audited))
    }

    /// The nexthop objects in the kernel after the last pass (empty after a failed pass, or
    /// without nexthop objects): what [`crate::edge::use_objects`] points routes at.
    pub fn nexthop_index(&self) -> &crate::nexthop::NhIndex {
        &self.nh_index
    }

    /// [`Datapath::nexthop_index`], for the edge path to record the objects it creates.
    pub fn nexthop_index_mut(&mut self) -> &mut crate::nexthop::NhIndex {
        &mut self.nh_index
    }

    /// Whether routes go through nexthop objects: the kernel takes them (once the router
    /// namespace has been observed) and [`DatapathConfig::nexthop_objects`] allows them.
    pub fn uses_nexthop_objects(&self) -> bool {
        self.cfg.nexthop_objects && self.nexthop_objects == Some(true)
    }

    /// The kernel refused nexthop objects: fall back to per-route gateways from now on.
    fn nexthops_refused(&mut self, why: &str) {
        if self.nexthop_objects != Some(false) {
            tracing::warn!(
                error = why,
                "the kernel refuses nexthop objects; routes carry their gateways instead"
            );
        }
        self.nexthop_objects = Some(false);
    }

    /// The MAC each L3VNI bridge of `desired` has now (one link dump of the router namespace):
    /// the router MAC to advertise when [`crate::desired::L3Vni::router_mac`] is `None`.
    pub fn l3vni_router_macs(
        &mut self,
        desired: &NodeDatapath,
    ) -> Result<BTreeMap<u32, MacAddress>, FibError> {
        self.open_router()?;
        let Some(r) = &mut self.router else {
            return Ok(BTreeMap::new());
        };
        let links = r.dump_links().map_err(io_err("dump router links"))?;
        let router = NamespaceState::from_links(links, &[], &[], &[]);
        Ok(ObservedNode {
            host: NamespaceState::default(),
            router: Some(router),
        }
        .l3vni_router_macs(desired))
    }

    /// Observe, diff, apply: one level-triggered pass.
    pub fn reconcile(
        &mut self,
        desired: &NodeDatapath,
        forwarding: &ForwardingState,
    ) -> Result<ReconcileReport, FibError> {
        self.reconcile_adopting(desired, Some(forwarding))
    }

    /// Like [`Datapath::reconcile`]; with `forwarding` = `None` (not known yet, e.g. right after
    /// a restart) the devices are converged but the kernel's routes, FDB and neighbour entries
    /// are adopted as they are: no forwarding entry is removed.
    pub fn reconcile_adopting(
        &mut self,
        desired: &NodeDatapath,
        forwarding: Option<&ForwardingState>,
    ) -> Result<ReconcileReport, FibError> {
        match forwarding {
            Some(f) => {
                let mut index = RouteIndex::from_map(f.default_routes.clone());
                self.reconcile_indexed(desired, Some((f, &mut index)))
            }
            None => self.reconcile_indexed(desired, None),
        }
    }

    /// One level-triggered pass with the main table's wanted routes in `forwarding`'s
    /// [`RouteIndex`] (the state's own `default_routes` are not used): the kernel's main-table
    /// routes are compared with the index as the dump is parsed, and only the differences are
    /// planned ([`crate::index`]). `None` adopts, as in [`Datapath::reconcile_adopting`].
    pub fn reconcile_indexed(
        &mut self,
        desired: &NodeDatapath,
        forwarding: Option<(&ForwardingState, &mut RouteIndex)>,
    ) -> Result<ReconcileReport, FibError> {
        let empty = ForwardingState::default();
        let (fwd, index) = match forwarding {
            Some((f, ix)) => (f, Some(ix)),
            None => (&empty, None),
        };
        let adopting = index.is_none();
        let (observed, audited) = self.observe_auditing(desired, Some((index, fwd)))?;
        let unmatched = audited.map(|a| a.unmatched).unwrap_or_default();
        let mut plan = diff_with_defaults(desired, fwd, &unmatched, &observed)?;
        drop(unmatched);
        if adopting {
            plan.ops.retain(|op| {
                !matches!(
                    op.phase(),
                    Phase::DelRoute | Phase::DelNeighbour | Phase::DelNextHop
                )
            });
        }
        for w in &plan.warnings {
            tracing::warn!(warning = %w, "datapath plan");
        }
        let mut apply = self.apply(&plan.ops);
        let failed: std::collections::BTreeSet<usize> =
            apply.failures.iter().map(|f| f.index).collect();
        if let Some(f) = apply.failures.iter().find(|f| {
            matches!(f.op, Op::ReplaceNhObject { .. })
                && matches!(f.errno, libc::EOPNOTSUPP | libc::EAFNOSUPPORT)
        }) {
            let why = f.to_string();
            self.nexthops_refused(&why);
        }
        let retry = nexthop::fallback_routes(&plan.ops, &failed);
        let objects_refused = !retry.is_empty();
        let nexthop_fallback_routes = retry.len();
        if !retry.is_empty() {
            // Objects the kernel refused (a device without carrier): the routes that needed
            // them go in with their gateways; the next pass moves them to objects.
            tracing::info!(
                routes = retry.len(),
                "nexthop objects refused; routes installed with their gateways"
            );
            let (index, ops): (Vec<usize>, Vec<Op>) = retry.into_iter().unzip();
            let again = self.apply(&ops);
            let still: std::collections::BTreeSet<usize> =
                again.failures.iter().map(|f| index[f.index]).collect();
            let retried: std::collections::BTreeSet<usize> = index.iter().copied().collect();
            apply.failures.retain(|f| {
                !matches!(plan.ops[f.index], Op::ReplaceNhObject { .. })
                    && (!retried.contains(&f.index) || still.contains(&f.index))
            });
            apply.messages_sent += again.messages_sent;
            apply.sends += again.sends;
        }
        self.nh_index = match &observed.router {
            Some(r)
                if apply.failures.is_empty() && !objects_refused && self.uses_nexthop_objects() =>
            {
                crate::nexthop::NhIndex::after(r, &plan.ops)
            }
            _ => crate::nexthop::NhIndex::default(),
        };
        if plan.ops.is_empty() {
            tracing::debug!("datapath converged, nothing to write");
        } else {
            tracing::info!(
                ops = plan.ops.len(),
                failed = apply.failures.len(),
                messages = apply.messages_sent,
                sends = apply.sends,
                "datapath reconciled"
            );
        }
        Ok(ReconcileReport {
            plan,
            apply,
            nexthop_fallback_routes,
        })
    }

    /// Executes `ops` in order, batching consecutive netlink requests to one namespace.
    pub fn apply(&mut self, ops: &[Op]) -> ApplyReport {
        let mut report = ApplyReport {
            attempted: ops.len(),
            ..Default::default()
        };
        let mut batch: Vec<u8> = Vec::with_capacity(64 << 10);
        let mut pending: Vec<Pending> = Vec::new();
        let mut batch_ns = Ns::Host;
        for (i, op) in ops.iter().enumerate() {
            if !op.is_netlink() {
                self.flush(batch_ns, &mut batch, &mut pending, ops, &mut report);
                if let Err(f) = self.run_local(i, op) {
                    tracing::warn!(error = %f, "datapath operation failed");
                    report.failures.push(f);
                }
                continue;
            }
            let built = match build(op, &self.resolver()) {
                Err(BuildError::UnknownLink { ns, .. }) => {
                    // Something created earlier in this run: flush, refresh names, retry.
                    self.flush(batch_ns, &mut batch, &mut pending, ops, &mut report);
                    if let Err(e) = self.refresh(ns) {
                        tracing::warn!(error = %e, "link dump failed");
                    }
                    build(op, &self.resolver())
                }
                other => other,
            };
            let req = match built {
                Ok(r) => r,
                Err(e) => {
                    let f = OpFailure {
                        index: i,
                        op: op.clone(),
                        errno: libc::ENODEV,
                        message: e.to_string(),
                    };
                    tracing::warn!(error = %f, "datapath operation failed");
                    report.failures.push(f);
                    continue;
                }
            };
            if (req.ns != batch_ns && !pending.is_empty())
                || pending.len() >= self.cfg.batch_messages
            {
                self.flush(batch_ns, &mut batch, &mut pending, ops, &mut report);
            }
            batch_ns = req.ns;
            let Some(conn) = self.conn(req.ns) else {
                report.failures.push(OpFailure {
                    index: i,
                    op: op.clone(),
                    errno: libc::ENOENT,
                    message: "router namespace does not exist".into(),
                });
                continue;
            };
            let seq = conn.sock.next_seq();
            let mut h = NetlinkHeader::default();
            h.flags = req.flags;
            h.sequence_number = seq;
            match req.message {
                Payload::Route(message) => {
                    let mut m = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(message));
                    m.finalize();
                    let start = batch.len();
                    batch.resize(start + m.buffer_len(), 0);
                    m.serialize(&mut batch[start..]);
                }
                Payload::Raw { kind, body } => {
                    batch.extend_from_slice(&raw_message(kind, req.flags, seq, &body));
                }
            }
            pending.push(Pending { op_index: i, seq });
            // Names this op removes or moves must be looked up afresh by later ops.
            match op {
                Op::DeleteLink { ns, name } => {
                    self.forget(*ns, name);
                    if let Some(vni) =
                        crate::desired::names::vni_of(name, crate::desired::names::HOST_VETH_PREFIX)
                    {
                        self.forget(Ns::Router, &crate::desired::names::router_veth(vni));
                    }
                }
                Op::MoveLink { name, .. } => {
                    self.forget(Ns::Host, name);
                    self.forget(Ns::Router, name);
                }
                _ => {}
            }
        }
        self.flush(batch_ns, &mut batch, &mut pending, ops, &mut report);
        report
    }

    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            host: &self.host,
            router: self.router.as_ref(),
        }
    }

    fn conn(&mut self, ns: Ns) -> Option<&mut NsConn> {
        match ns {
            Ns::Host => Some(&mut self.host),
            Ns::Router => self.router.as_mut(),
        }
    }

    fn forget(&mut self, ns: Ns, name: &str) {
        if let Some(c) = self.conn(ns) {
            c.index.remove(name);
        }
    }

    fn refresh(&mut self, ns: Ns) -> io::Result<()> {
        match self.conn(ns) {
            Some(c) => c.dump_links().map(|_| ()),
            None => Ok(()),
        }
    }

    fn run_local(&mut self, i: usize, op: &Op) -> Result<(), OpFailure> {
        let fail = |e: io::Error| OpFailure {
            index: i,
            op: op.clone(),
            errno: e.raw_os_error().unwrap_or(0),
            message: e.to_string(),
        };
        match op {
            Op::CreateNetns { name } => {
                match netns::create(name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(fail(e)),
                }
                self.open_router()
                    .map_err(|e| fail(io::Error::other(e.to_string())))?;
                self.refresh(Ns::Router).map_err(fail)
            }
            Op::SetSysctl {
                path,
                value,
                optional,
                ..
            } => {
                let Some(r) = &self.router else {
                    return Err(fail(io::Error::from_raw_os_error(libc::ENOENT)));
                };
                match r.handle.write_sysctl(path, value) {
                    Ok(()) => Ok(()),
                    Err(e) if *optional && e.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(fail(e)),
                }
            }
            _ => Ok(()),
        }
    }

    /// Sends the batch and collects one acknowledgement per request.
    fn flush(
        &mut self,
        ns: Ns,
        batch: &mut Vec<u8>,
        pending: &mut Vec<Pending>,
        ops: &[Op],
        report: &mut ApplyReport,
    ) {
        if pending.is_empty() {
            return;
        }
        let n = pending.len() as u64;
        let result = match self.conn(ns) {
            Some(c) => send_and_collect(&mut c.sock, batch, pending),
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        };
        self.messages_sent += n;
        report.messages_sent += n;
        report.sends += 1;
        match result {
            Ok(errors) => {
                for (op_index, errno, message) in errors {
                    let f = OpFailure {
                        index: op_index,
                        op: ops[op_index].clone(),
                        errno,
                        message,
                    };
                    tracing::warn!(error = %f, "datapath operation failed");
                    report.failures.push(f);
                }
            }
            Err(e) => {
                for p in pending.iter() {
                    report.failures.push(OpFailure {
                        index: p.op_index,
                        op: ops[p.op_index].clone(),
                        errno: e.raw_os_error().unwrap_or(0),
                        message: format!("batch not delivered: {e}"),
                    });
                }
            }
        }
        batch.clear();
        pending.clear();
    }
}

/// Sends `batch` in one `send(2)` and waits for an acknowledgement of each pending request;
/// returns the failed ones as (operation index, errno, text).
fn send_and_collect(
    sock: &mut NlSocket,
    batch: &[u8],
    pending: &[Pending],
) -> io::Result<Vec<(usize, i32, String)>> {
    sock.sock.send(batch, 0)?;
    let by_seq: BTreeMap<u32, usize> = pending.iter().map(|p| (p.seq, p.op_index)).collect();
    let mut outstanding = pending.len();
    let mut errors = Vec::new();
    while outstanding > 0 {
        let n = sock.recv()?;
        let mut off = 0;
        while let Some(frame) = next_frame(&sock.rx[..n], &mut off) {
            if frame.kind != NLMSG_ERROR {
                continue;
            }
            let Some(&op_index) = by_seq.get(&frame.seq) else {
                continue;
            };
            outstanding = outstanding.saturating_sub(1);
            let (code, text) = parse_error(frame.bytes, frame.flags);
            if code != 0 {
                errors.push((op_index, code, text));
            }
        }
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_never_read_past_the_buffer() {
        // A header claiming more bytes than there are, and one claiming fewer than a header.
        let mut b = vec![0u8; 16];
        b[0..4].copy_from_slice(&100u32.to_ne_bytes());
        let mut off = 0;
        assert!(next_frame(&b, &mut off).is_none());
        b[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(next_frame(&b, &mut off).is_none());
        assert!(next_frame(&[1, 2, 3], &mut off).is_none());
    }

    #[test]
    fn error_messages_decode_code_and_ext_ack_text() {
        let mut b = vec![0u8; 16];
        b.extend_from_slice(&(-libc::EEXIST).to_ne_bytes());
        b.extend_from_slice(&[0u8; 16]);
        let text = b"File exists\0";
        let len = 4 + text.len();
        b.extend_from_slice(&(len as u16).to_ne_bytes());
        b.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        b.extend_from_slice(text);
        let (code, msg) = parse_error(&b, NLM_F_ACK_TLVS);
        assert_eq!(code, libc::EEXIST);
        assert_eq!(msg, "File exists");
        // Truncated: no panic, a protocol error.
        assert_eq!(parse_error(&b[..10], 0).0, libc::EPROTO);
        // A TLV running past the end is ignored.
        let mut bad = b.clone();
        let at = 36;
        bad[at..at + 2].copy_from_slice(&200u16.to_ne_bytes());
        assert_eq!(parse_error(&bad, NLM_F_ACK_TLVS).1, "");
    }
}
