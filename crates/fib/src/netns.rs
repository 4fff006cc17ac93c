//! Named network namespaces (`/var/run/netns/NAME`, as `ip netns` makes them), running code
//! inside one, and sysctls inside one.
//!
//! A thread enters a namespace with `setns(2)`; sockets keep the namespace they were created
//! in, so the driver opens its netlink socket on a short-lived thread and then uses it from
//! anywhere.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where named namespaces are bind-mounted (iproute2's `NETNS_RUN_DIR`).
pub const NETNS_RUN_DIR: &str = "/var/run/netns";

/// The bind-mount path of namespace `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Whether namespace `name` exists (its bind mount can be opened).
pub fn exists(name: &str) -> bool {
    File::open(path(name)).is_ok()
}

/// A handle on a network namespace: an open `nsfs` file descriptor.
#[derive(Debug)]
pub struct NetnsHandle {
    fd: OwnedFd,
}

impl NetnsHandle {
    /// Opens namespace `name`.
    pub fn open(name: &str) -> io::Result<NetnsHandle> {
        let f = File::open(path(name)).map_err(|e| annotate(e, &format!("open netns {name}")))?;
        Ok(NetnsHandle { fd: f.into() })
    }

    /// The namespace of the calling thread.
    pub fn current() -> io::Result<NetnsHandle> {
        let f = File::open("/proc/thread-self/ns/net")?;
        Ok(NetnsHandle { fd: f.into() })
    }

    /// The descriptor (for `IFLA_NET_NS_FD`).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs `f` on a dedicated thread that has entered this namespace, and returns its result.
    /// The calling thread's namespace is never changed.
    pub fn run<F, R>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                Ok(f())
            })
            .join()
            .map_err(|_| io::Error::other("thread inside the namespace panicked"))?
        })
    }

    /// Reads a sysctl (path below `/proc/sys`) inside this namespace; `Ok(None)` if the kernel
    /// has no such sysctl.
    pub fn read_sysctl(&self, key: &str) -> io::Result<Option<String>> {
        let p = Path::new("/proc/sys").join(key);
        self.run(move || match File::open(&p) {
            Ok(mut f) => {
                let mut s = String::new();
                f.read_to_string(&mut s)?;
                Ok(Some(s.trim().to_string()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })?
    }

    /// Reads several sysctls in one trip into the namespace.
    pub fn read_sysctls(&self, keys: &[String]) -> io::Result<Vec<Option<String>>> {
        self.run(|| {
            keys.iter()
                .map(
                    |k| match fs::read_to_string(Path::new("/proc/sys").join(k)) {
                        Ok(s) => Ok(Some(s.trim().to_string())),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e),
                    },
                )
                .collect()
        })?
    }

    /// Writes a sysctl inside this namespace.
    pub fn write_sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let p = Path::new("/proc/sys").join(key);
        self.run(move || {
            let mut f = fs::OpenOptions::new().write(true).open(&p)?;
            f.write_all(value.as_bytes())
        })?
        .map_err(|e| annotate(e, &format!("sysctl {key}={value}")))
    }
}

fn annotate(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Makes `NETNS_RUN_DIR` a shared mount point, as iproute2 does, so that namespace bind mounts
/// made here are visible in other mount namespaces and vice versa.
fn prepare_run_dir() -> io::Result<()> {
    fs::create_dir_all(NETNS_RUN_DIR)?;
    let flags = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(
        None::<&str>,
        NETNS_RUN_DIR,
        None::<&str>,
        flags,
        None::<&str>,
    ) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself, then share it.
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(io::Error::from)?;
            mount(
                None::<&str>,
                NETNS_RUN_DIR,
                None::<&str>,
                flags,
                None::<&str>,
            )
            .map_err(io::Error::from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates the named namespace (like `ip netns add NAME`); an existing one is an error
/// (`AlreadyExists`).
pub fn create(name: &str) -> io::Result<()> {
    prepare_run_dir()?;
    let p = path(name);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| annotate(e, &format!("create {}", p.display())))?;
    let target = p.clone();
    let made = std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(io::Error::from)
    })
    .join()
    .map_err(|_| io::Error::other("netns creation thread panicked"))?;
    if let Err(e) = made {
        let _ = fs::remove_file(&p);
        return Err(annotate(e, &format!("create netns {name}")));
    }
    tracing::info!(netns = name, "created network namespace");
    Ok(())
}

/// Deletes the named namespace (like `ip netns delete NAME`): the bind mount goes; the namespace
/// itself lives on while something still holds it.
pub fn delete(name: &str) -> io::Result<()> {
    let p = path(name);
    match umount2(&p, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes a namespace when dropped (for tests and benchmarks that make their own).
#[derive(Debug)]
pub struct NetnsGuard {
    name: String,
}

impl NetnsGuard {
    /// Creates namespace `name` and returns a guard that deletes it on drop.
    pub fn create(name: &str) -> io::Result<NetnsGuard> {
        create(name)?;
        Ok(NetnsGuard {
            name: name.to_string(),
        })
    }

    /// Takes ownership of a namespace someone else created (deleted on drop).
    pub fn adopt(name: &str) -> NetnsGuard {
        NetnsGuard {
            name: name.to_string(),
        }
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(e) = delete(&self.name) {
            tracing::warn!(netns = %self.name, error = %e, "could not delete network namespace");
        }
    }
}
