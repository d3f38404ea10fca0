//! Logging with `tracing`: JSON lines by default, a human format on a terminal,
//! and a level that can be changed while running (config hot reload).
//! Request ids are span fields, so every line logged inside a request carries it.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// Parses a level or filter (`info`, `warn,quant=debug`). Fails with the
/// parser's explanation.
pub fn parse_filter(level: &str) -> Result<EnvFilter, String> {
    if level.trim().is_empty() {
        return Err("must not be empty".into());
    }
    // A bare word is taken by tracing as a target name; for people a bare word
    // is a level, so insist it is one (catches `level = "loud"`).
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    for part in level.split(',').map(str::trim) {
        if !part.contains('=')
            && !part.contains('[')
            && !LEVELS.contains(&part.to_lowercase().as_str())
        {
            return Err(format!(
                "`{part}` is not a level (use trace, debug, info, warn, error or off, or target=level)"
            ));
        }
    }
    EnvFilter::builder()
        .with_regex(false)
        .parse(level)
        .map_err(|e| e.to_string())
}

/// Changes the log level of the running process.
#[derive(Clone)]
pub struct LogHandle {
    inner: reload::Handle<EnvFilter, Registry>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogHandle")
    }
}

impl LogHandle {
    /// Replaces the active filter. Fails when the filter does not parse or the
    /// subscriber is gone.
    pub fn set_level(&self, level: &str) -> Result<(), String> {
        let f = parse_filter(level)?;
        self.inner.reload(f).map_err(|e| e.to_string())
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Standard output (the service).
    Stdout,
    /// Standard error (one-shot CLI commands, whose stdout is their answer).
    Stderr,
}

/// Installs the global subscriber. Returns a handle to change the level, or
/// `None` when a subscriber was already installed (e.g. a second call).
pub fn init(level: &str, format: LogFormat, sink: Sink) -> Option<LogHandle> {
    let filter = parse_filter(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let tty = match sink {
        Sink::Stdout => std::io::stdout().is_terminal(),
        Sink::Stderr => std::io::stderr().is_terminal(),
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !tty,
    };
    let writer = move || -> Box<dyn std::io::Write> {
        match sink {
            Sink::Stdout => Box::new(std::io::stdout()),
            Sink::Stderr => Box::new(std::io::stderr()),
        }
    };
    let fmt_layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(tty)
            .with_writer(writer)
            .boxed()
    };
    Registry::default()
        .with(filter)
        .with(fmt_layer)
        .try_init()
        .ok()
        .map(|_| LogHandle { inner: handle })
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_parse_or_explain() {
        assert!(super::parse_filter("info").is_ok());
        assert!(super::parse_filter("warn,quant::db=debug").is_ok());
        assert!(super::parse_filter("loud").is_err());
        assert!(super::parse_filter("").is_err());
    }
}
