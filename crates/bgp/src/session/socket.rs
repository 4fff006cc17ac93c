//! Socket plumbing for BGP sessions: TCP-MD5 (RFC 2385), TTL security
//! (GTSM, RFC 5082) and eBGP multihop TTL, binding to a source address or an
//! interface, `TCP_NODELAY`, and creating sockets inside a named network
//! namespace while the process itself stays in its own.
//!
//! Everything here is a thin wrapper over `setsockopt(2)`; the only state is
//! the socket itself. Sockets are created blocking-free (non-blocking) so that
//! tokio can adopt them.

use std::ffi::CString;
use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use ipnet::IpNet;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The kernel's `struct tcp_md5sig` (include/uapi/linux/tcp.h). libc only has
/// the constants, so the layout is written out here.
#[repr(C)]
struct TcpMd5Sig {
    tcpm_addr: libc::sockaddr_storage,
    tcpm_flags: u8,
    tcpm_prefixlen: u8,
    tcpm_keylen: u16,
    tcpm_ifindex: libc::c_int,
    tcpm_key: [u8; libc::TCP_MD5SIG_MAXKEYLEN],
}

/// `TCP_MD5SIG_FLAG_PREFIX`: the entry matches a prefix, not one address.
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// Where a socket is created: the current network namespace, or a named one
/// under `/var/run/netns` (the router namespace `perouter`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NetnsTarget {
    /// The namespace of the calling thread.
    #[default]
    Current,
    /// A namespace by name, as `ip netns add NAME` creates it.
    Named(String),
}

impl NetnsTarget {
    /// The bind-mounted namespace file for a named namespace.
    fn path(&self) -> Option<PathBuf> {
        match self {
            NetnsTarget::Current => None,
            NetnsTarget::Named(name) => Some(PathBuf::from("/var/run/netns").join(name)),
        }
    }
}

/// Per-socket options a BGP session asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// Namespace the socket lives in.
    pub netns: NetnsTarget,
    /// Source address to bind to before connecting (or listen address).
    pub local_addr: Option<IpAddr>,
    /// Interface to bind to (`SO_BINDTODEVICE`), e.g. for unnumbered peers.
    pub bind_device: Option<String>,
    /// Outgoing TTL / hop limit (eBGP multihop); `None` leaves the default
    /// (1 for eBGP is the driver's choice, the kernel default is 64).
    pub ttl: Option<u8>,
    /// GTSM (RFC 5082): the minimum TTL accepted on received packets
    /// (`IP_MINTTL` / `IPV6_MINHOPCOUNT`); outgoing TTL is set to 255.
    pub min_ttl: Option<u8>,
}

/// Runs `f` on a helper thread that has entered the namespace `target`, so the
/// calling thread (and the process) stays where it is. A socket keeps the
/// namespace it was created in, so the returned socket works from any thread.
pub fn in_netns<T: Send + 'static>(
    target: &NetnsTarget,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let Some(path) = target.path() else {
        return f();
    };
    std::thread::Builder::new()
        .name("netns-socket".into())
        .spawn(move || {
            let file = std::fs::File::open(&path).map_err(|e| {
                io::Error::new(e.kind(), format!("open netns {}: {e}", path.display()))
            })?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| io::Error::other(format!("setns {}: {e}", path.display())))?;
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("netns helper thread panicked"))?
}

fn domain_for(addr: &IpAddr) -> Domain {
    match addr {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    }
}

fn sockaddr_storage_of(addr: IpAddr) -> libc::sockaddr_storage {
    let sa = SockAddr::from(SocketAddr::new(addr, 0));
    // SAFETY: SockAddr holds a sockaddr_storage-sized, initialized buffer
    // of `sa.len()` valid bytes; copying them into a zeroed storage is sound.
    unsafe {
        let mut storage: libc::sockaddr_storage = mem::zeroed();
        std::ptr::copy_nonoverlapping(
            sa.as_ptr() as *const u8,
            &mut storage as *mut _ as *mut u8,
            sa.len() as usize,
        );
        storage
    }
}

/// Installs (or, with an empty key, removes) a TCP-MD5 key (RFC 2385) for a
/// peer address or a prefix on `socket`. Set it on the listening socket for
/// passive peers and on the connecting socket before `connect`.
/// IPv4 peers on an IPv6 socket must be given as v4-mapped addresses.
pub fn set_tcp_md5(socket: &Socket, peer: IpNet, key: &[u8]) -> io::Result<()> {
    if key.len() > libc::TCP_MD5SIG_MAXKEYLEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP-MD5 key is {} bytes, the kernel takes at most {}",
                key.len(),
                libc::TCP_MD5SIG_MAXKEYLEN
            ),
        ));
    }
    let mut sig = TcpMd5Sig {
        tcpm_addr: sockaddr_storage_of(peer.addr()),
        tcpm_flags: 0,
        tcpm_prefixlen: 0,
        tcpm_keylen: key.len() as u16,
        tcpm_ifindex: 0,
        tcpm_key: [0; libc::TCP_MD5SIG_MAXKEYLEN],
    };
    sig.tcpm_key[..key.len()].copy_from_slice(key);
    let host = peer.prefix_len() == peer.max_prefix_len();
    let opt = if host {
        libc::TCP_MD5SIG
    } else {
        sig.tcpm_flags = TCP_MD5SIG_FLAG_PREFIX;
        // For a v4-mapped address the kernel wants the IPv4 prefix length
        // (net/ipv6/tcp_ipv6.c: at most 32).
        sig.tcpm_prefixlen = match peer {
            IpNet::V6(n) if n.addr().to_ipv4_mapped().is_some() => {
                n.prefix_len().saturating_sub(96)
            }
            _ => peer.prefix_len(),
        };
        libc::TCP_MD5SIG_EXT
    };
    // SAFETY: `sig` is a valid, fully initialized tcp_md5sig of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            opt,
            &sig as *const _ as *const libc::c_void,
            mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(
            e.kind(),
            format!("TCP_MD5SIG for {peer}: {e}"),
        ))
    }
}

fn set_int_opt(
    socket: &Socket,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passing a pointer to a live c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            opt,
            &v as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Applies TTL options: outgoing TTL (multihop) and GTSM minimum TTL.
pub fn apply_ttl(socket: &Socket, v6: bool, opts: &SocketOptions) -> io::Result<()> {
    let out_ttl = if opts.min_ttl.is_some() {
        Some(255)
    } else {
        opts.ttl
    };
    if let Some(ttl) = out_ttl {
        if v6 {
            socket.set_unicast_hops_v6(u32::from(ttl))?;
        } else {
            socket.set_ttl_v4(u32::from(ttl))?;
        }
    }
    if let Some(min) = opts.min_ttl {
        if v6 {
            set_int_opt(
                socket,
                libc::IPPROTO_IPV6,
                libc::IPV6_MINHOPCOUNT,
                min.into(),
            )?;
        } else {
            set_int_opt(socket, libc::IPPROTO_IP, libc::IP_MINTTL, min.into())?;
        }
    }
    Ok(())
}

fn bind_device(socket: &Socket, dev: &str) -> io::Result<()> {
    let c = CString::new(dev)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    socket
        .bind_device(Some(c.as_bytes()))
        .map_err(|e| io::Error::new(e.kind(), format!("SO_BINDTODEVICE {dev}: {e}")))
}

/// Creates a non-blocking TCP socket to reach `peer`, with every option set
/// (MD5 key, TTL, bind address/device, `TCP_NODELAY`), in the requested
/// namespace. The caller connects it (e.g. `tokio::net::TcpSocket::from_std_stream`).
pub fn connecting_socket(
    peer: SocketAddr,
    opts: &SocketOptions,
    md5_key: Option<&[u8]>,
) -> io::Result<Socket> {
    let opts = opts.clone();
    let key = md5_key.map(|k| k.to_vec());
    in_netns(&opts.netns.clone(), move || {
        let socket = Socket::new(domain_for(&peer.ip()), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        if let Some(dev) = &opts.bind_device {
            bind_device(&socket, dev)?;
        }
        if let Some(local) = opts.local_addr {
            let mut la = SocketAddr::new(local, 0);
            if let (SocketAddr::V6(p), SocketAddr::V6(l)) = (&peer, &mut la) {
                l.set_scope_id(p.scope_id());
            }
            socket.bind(&la.into())?;
        }
        apply_ttl(&socket, peer.is_ipv6(), &opts)?;
        if let Some(key) = &key {
            set_tcp_md5(&socket, IpNet::from(peer.ip()), key)?;
        }
        Ok(socket)
    })
}

/// Creates a non-blocking listening TCP socket on `addr` (`SO_REUSEADDR`,
/// IPv6 sockets dual-stack) in the requested namespace.
pub fn listening_socket(addr: SocketAddr, opts: &SocketOptions) -> io::Result<Socket> {
    let opts = opts.clone();
    in_netns(&opts.netns.clone(), move || {
        let socket = Socket::new(domain_for(&addr.ip()), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(false)?;
        }
        socket.set_nonblocking(true)?;
        if let Some(dev) = &opts.bind_device {
            bind_device(&socket, dev)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(128)?;
        Ok(socket)
    })
}

/// Maps an IPv4 network to its v4-mapped IPv6 form, for MD5 keys and
/// comparisons on a dual-stack IPv6 listening socket.
pub fn v4_mapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V4(n) => {
            let a = n.addr().to_ipv6_mapped();
            IpNet::new(IpAddr::V6(a), n.prefix_len() + 96).unwrap_or(IpNet::from(IpAddr::V6(a)))
        }
        v6 => v6,
    }
}

/// Undoes v4-mapping: `::ffff:a.b.c.d` becomes `a.b.c.d`.
pub fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_md5sig_layout_matches_the_kernel() {
        // include/uapi/linux/tcp.h: 128 (storage) + 1 + 1 + 2 + 4 + 80.
        assert_eq!(mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn md5_key_too_long_is_refused() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let err = set_tcp_md5(&s, "192.0.2.1/32".parse().unwrap(), &[0u8; 81]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn md5_key_is_accepted_for_host_and_prefix() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        set_tcp_md5(&s, "192.0.2.1/32".parse().unwrap(), b"secret").unwrap();
        set_tcp_md5(&s, "192.0.2.0/24".parse().unwrap(), b"secret").unwrap();
        let s6 = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        set_tcp_md5(&s6, v4_mapped("192.0.2.0/24".parse().unwrap()), b"x").unwrap();
    }

    #[test]
    fn ttl_and_gtsm_options_are_set() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let opts = SocketOptions {
            min_ttl: Some(254),
            ..Default::default()
        };
        apply_ttl(&s, false, &opts).unwrap();
        assert_eq!(s.ttl_v4().unwrap(), 255);
        let opts = SocketOptions {
            ttl: Some(3),
            ..Default::default()
        };
        apply_ttl(&s, false, &opts).unwrap();
        assert_eq!(s.ttl_v4().unwrap(), 3);
    }

    #[test]
    fn v4_mapping_round_trips() {
        let n = v4_mapped("10.0.0.0/8".parse().unwrap());
        assert_eq!(n.to_string(), "::ffff:10.0.0.0/104");
        let a: SocketAddr = "[::ffff:10.1.2.3]:179".parse().unwrap();
        assert_eq!(unmap(a).to_string(), "10.1.2.3:179");
    }

    #[test]
    fn socket_is_created_in_a_named_netns() {
        // Needs root and `ip` (CI runs as root); creates its own uniquely named namespace and
        // fails, rather than passing unchecked, when it cannot.
        let name = format!("pbgpsock{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status();
        assert!(
            matches!(ok, Ok(s) if s.success()),
            "ip netns add {name} failed ({ok:?}): this test needs root and iproute2"
        );
        struct Guard(String);
        impl Drop for Guard {
            fn drop(&mut self) {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", &self.0])
                    .status();
            }
        }
        let _g = Guard(name.clone());
        // SO_NETNS_COOKIE names the namespace a socket lives in: it differs
        // between a socket made through `in_netns` and one made here.
        fn cookie(s: &Socket) -> u64 {
            let mut v: u64 = 0;
            let mut len = mem::size_of::<u64>() as libc::socklen_t;
            // SAFETY: v and len are valid for writing and describe a u64.
            let rc = unsafe {
                libc::getsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_NETNS_COOKIE,
                    &mut v as *mut u64 as *mut libc::c_void,
                    &mut len,
                )
            };
            assert_eq!(rc, 0, "SO_NETNS_COOKIE: {}", io::Error::last_os_error());
            v
        }
        let target = NetnsTarget::Named(name);
        let inside = in_netns(&target, || Socket::new(Domain::IPV4, Type::STREAM, None)).unwrap();
        let here = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let here2 = in_netns(&NetnsTarget::Current, || {
            Socket::new(Domain::IPV4, Type::STREAM, None)
        })
        .unwrap();
        assert_ne!(
            cookie(&inside),
            cookie(&here),
            "socket made in the named namespace"
        );
        assert_eq!(cookie(&here), cookie(&here2));
        // The calling thread stayed where it was.
        let after = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        assert_eq!(cookie(&after), cookie(&here));
    }
}
