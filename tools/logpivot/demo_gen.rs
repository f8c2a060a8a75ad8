//! The demo's data: synthetic Cloudflare firewall events from `logpivot_synth`.

use std::path::Path;

use logpivot_synth::{Synth, SynthConfig};

/// What was generated: a one-line description and the attack window `[start, end)` in unix
/// ns (both 0 when the sample is too small to hold an attack).
pub struct Generated {
    pub description: String,
    pub attack: (i64, i64),
}

/// Write `events` events and the rule map.
pub fn generate(
    events: u64,
    seed: u64,
    events_path: &Path,
    rules_path: &Path,
) -> anyhow::Result<Generated> {
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
    Ok(Generated {
        description: format!(
            "wrote {} events ({} lines, {} malformed on purpose, {} attack events) = {} bytes",
            summary.events,
            summary.lines,
            summary.malformed_lines.len(),
            summary.attack_events,
            summary.bytes
        ),
        attack: (summary.attack_start_ns, summary.attack_end_ns),
    })
}
