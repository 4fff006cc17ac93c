//! The runtime side of the Container Network Interface, CNI 1.0
//! (<https://github.com/containernetworking/cni/blob/main/SPEC.md>): what a container runtime
//! does to have plugins attach an interface to a network namespace.
//!
//! - [`config`]: the network configuration list (SPEC §1, "conflist") a caller hands over, and
//!   the per-plugin configuration it derives from it (SPEC §3: `name`, `cniVersion`,
//!   `runtimeConfig` for declared capabilities, `prevResult`).
//! - [`request`]: an ADD / CHECK / DEL invocation as environment and stdin (SPEC §2), pure.
//! - [`result`]: a plugin's stdout and exit status parsed into a success result (SPEC §5.1) or a
//!   typed error (SPEC §5.2); malformed output is an error, never a panic.
//! - [`exec`]: the thin driver: finds the binary on `CNI_PATH`, runs it with a timeout,
//!   optionally from another network namespace, and runs a whole list (ADD in order, DEL in
//!   reverse, SPEC §4).
//!
//! Sans-IO where it can be: everything but [`exec`] is pure and unit-tested on bytes.

pub mod config;
pub mod exec;
pub mod request;
pub mod result;

pub use config::{ConfigError, NetworkConfigList};
pub use exec::{Driver, DriverConfig, ExecError};
pub use request::{Command, Request};
pub use result::{CniResult, PluginError};
