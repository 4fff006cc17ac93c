//! Logging: `tracing` to standard error, as text or JSON lines, with a level that can change
//! while the daemon runs.
//!
//! The level comes from, strongest first: `RUST_LOG` (then it is fixed), the `logLevel` of
//! node-config.yaml (re-read with the configuration, applied live through a reload handle),
//! and `info`. Colours are used only when standard error is a terminal.

use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO perouter_bgp::session: session Established peer=...`.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields, message).
    Json,
}

/// The level used when neither `RUST_LOG` nor `logLevel` says otherwise.
pub const DEFAULT_LEVEL: &str = "info";

struct Live {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: the configuration does not change the level.
    fixed: bool,
    /// The level last applied from the configuration.
    current: Mutex<String>,
}

static LIVE: OnceLock<Live> = OnceLock::new();

/// Installs the global subscriber (once; later calls do nothing) with `default` as the level
/// unless `RUST_LOG` is set.
pub fn init(format: LogFormat, default: &str) {
    let from_env = EnvFilter::try_from_default_env().ok();
    let fixed = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(default));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    let ok = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .try_init(),
    }
    .is_ok();
    if ok {
        let _ = LIVE.set(Live {
            handle,
            fixed,
            current: Mutex::new(default.to_string()),
        });
    }
}

/// Checks a `logLevel` value: `debug`, `info`, `warn` or `error` (any case; `trace` too);
/// empty means the default. Returns the filter directive: `debug` and `trace` apply to
/// perouter's own crates, the libraries (kube, hyper, rustls) stay at `info`.
pub fn parse_level(level: &str) -> Result<String, String> {
    let ours = |l: &str| {
        format!(
            "info,perouter={l},perouter_agent={l},perouter_bgp={l},perouter_rib={l},perouter_fib={l},perouter_evpn={l}"
        )
    };
    match level.trim().to_ascii_lowercase().as_str() {
        "" => Ok(DEFAULT_LEVEL.to_string()),
        "trace" => Ok(ours("trace")),
        "debug" => Ok(ours("debug")),
        "info" => Ok("info".into()),
        "warn" | "warning" => Ok("warn".into()),
        "error" => Ok("error".into()),
        other => Err(format!(
            "logLevel {other:?} is not one of debug, info, warn, error"
        )),
    }
}

/// Applies node-config.yaml's `logLevel` (a no-op when it did not change, when `RUST_LOG` is
/// set, or before [`init`]); an invalid value is logged and the running level kept.
pub fn apply_config_level(level: &str) {
    let Some(live) = LIVE.get() else { return };
    if live.fixed {
        return;
    }
    let Ok(mut current) = live.current.lock() else {
        return;
    };
    let wanted = match parse_level(level) {
        Ok(l) => l,
        Err(e) => {
            if *current != level {
                tracing::warn!("{e}: keeping level {current}");
                *current = level.to_string();
            }
            return;
        }
    };
    if *current == wanted {
        return;
    }
    match live.handle.reload(EnvFilter::new(&wanted)) {
        Ok(()) => {
            tracing::info!(from = %current, to = %wanted, "log level changed (logLevel)");
            *current = wanted;
        }
        Err(e) => tracing::warn!(error = %e, "cannot change the log level"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(parse_level("").unwrap(), "info");
        let d = parse_level("DEBUG").unwrap();
        assert!(
            d.starts_with("info,") && d.contains("perouter_bgp=debug"),
            "{d}"
        );
        EnvFilter::try_new(&d).unwrap();
        assert_eq!(parse_level(" warn ").unwrap(), "warn");
        assert_eq!(parse_level("error").unwrap(), "error");
        let e = parse_level("verbose").unwrap_err();
        assert!(e.contains("verbose"), "{e}");
    }

    /// The reload handle really changes what passes the filter.
    #[test]
    fn a_reloaded_filter_changes_what_is_logged() {
        use std::sync::{Arc, Mutex as M};
        #[derive(Clone, Default)]
        struct Buf(Arc<M<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let (filter, handle) = reload::Layer::new(EnvFilter::new("warn"));
        let w = buf.clone();
        let sub = tracing_subscriber::registry().with(filter).with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_ansi(false)
                .with_writer(move || w.clone()),
        );
        tracing::subscriber::with_default(sub, || {
            tracing::info!(peer = %std::net::IpAddr::from([192, 0, 2, 1]), "hidden");
            handle.reload(EnvFilter::new("info")).unwrap();
            tracing::info!(peer = %std::net::IpAddr::from([192, 0, 2, 1]), "shown");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(!out.contains("hidden"), "{out}");
        let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(line["message"], "shown");
        assert_eq!(line["peer"], "192.0.2.1");
        assert_eq!(line["level"], "INFO");
    }
}
