//! Small helpers of the CLI: sizes, human numbers, broken pipes, progress bars.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use logpivot::ingest::IngestProgress;

/// Parse `16M`, `256MiB`, `1g`, `4096` (the library's [`logpivot::query::parse_size`]).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    Ok(logpivot::query::parse_size(s)?)
}

/// `1.5 GB`, `312 kB`.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Is this error (somewhere in its chain) a closed pipe?
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c
            .downcast_ref::<std::io::Error>()
            .or(match c.downcast_ref::<logpivot::Error>() {
                Some(logpivot::Error::Io { error, .. }) => Some(error),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A progress bar fed from ingest counters, on its own thread; stops when dropped.
pub struct ProgressBar {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ProgressBar {
    /// Start drawing (only when stderr is a terminal and `enabled`).
    pub fn start(p: Arc<IngestProgress>, enabled: bool) -> ProgressBar {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if !enabled || !logpivot::io::stderr_is_terminal() {
            return ProgressBar { stop, handle: None };
        }
        let s2 = stop.clone();
        let handle = std::thread::spawn(move || draw(p, s2));
        ProgressBar {
            stop,
            handle: Some(handle),
        }
    }
}

fn draw(p: Arc<IngestProgress>, stop: Arc<std::sync::atomic::AtomicBool>) {
    let total = p.raw_total.load(Ordering::Relaxed);
    let bar = if total > 0 {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::no_length()
    };
    let template = if total > 0 {
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}"
    } else {
        "{spinner} [{elapsed_precise}] {bytes} {bytes_per_sec} {msg}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let start = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        bar.set_position(p.raw_bytes.load(Ordering::Relaxed));
        let ev = p.events.load(Ordering::Relaxed);
        let secs = start.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{} events ({:.0}/s), {} rejects",
            thousands(ev),
            ev as f64 / secs,
            thousands(p.rejects.load(Ordering::Relaxed))
        ));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
