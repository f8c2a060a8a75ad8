//! The demo's data: synthetic Cloudflare firewall events from `logpivot::synth`.

use std::path::Path;

use logpivot::synth::{Synth, SynthConfig};

/// Write `events` events and the rule map; returns a one-line description.
pub fn generate(
    events: u64,
    seed: u64,
    events_path: &Path,
    rules_path: &Path,
) -> anyhow::Result<String> {
    let cfg = SynthConfig {
        events,
        seed,
        ..SynthConfig::default()
    };
    let mut synth = Synth::new(cfg);
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(events_path)?);
    let summary = synth.write_events(&mut f, None)?;
    std::io::Write::flush(&mut f)?;
    let mut r = std::io::BufWriter::new(std::fs::File::create(rules_path)?);
    synth.write_rule_map(&mut r)?;
    std::io::Write::flush(&mut r)?;
    Ok(format!(
        "wrote {} events ({} lines, {} malformed on purpose, {} attack events) = {} bytes",
        summary.events,
        summary.lines,
        summary.malformed_lines.len(),
        summary.attack_events,
        summary.bytes
    ))
}
