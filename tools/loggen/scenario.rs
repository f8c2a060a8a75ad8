//! `loggen --scenario`: events with a thin attack of known shape, and its ground truth, for
//! judging how `contrast` ranks (docs/STATISTICS.md, "Choosing the default ranking").
//!
//! Normal traffic: `days` days of diurnal web traffic whose user agents, ASNs, paths,
//! countries and client IPs follow Zipf laws over large vocabularies (so the window holds many
//! rare values by chance). The attack: `share` of the events of a window of `window` minutes,
//! sent with one user agent, from `spread` ASNs, to a handful of paths. Each of those
//! indicator values also occurs in normal traffic: a normal event takes the attack's user
//! agent, one of its ASNs, or one of its paths with probability `overlap` each. The truth
//! file lists the window and the indicator values.
//!
//! Benign bursts make the window hard to read: a crawler's user agent, a CDN's ASN and a
//! campaign's landing path each come in two-hour bursts at seeded times over the days, so some
//! fall in the window by chance and are over-represented there without being the attack.

use std::io::Write;

/// The knobs of a scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub events: u64,
    pub seed: u64,
    pub days: u32,
    pub start_s: i64,
    /// Attack events as a share of the window's events.
    pub share: f64,
    /// Probability that a normal event carries each indicator value.
    pub overlap: f64,
    /// Window length in minutes.
    pub window_min: u64,
    /// Attack ASNs.
    pub spread: usize,
    /// Attack paths.
    pub paths: usize,
}

impl Scenario {
    /// Parse `share=0.01,overlap=0.001,window=6h,spread=4,paths=5` (any subset).
    pub fn parse(
        spec: &str,
        events: u64,
        seed: u64,
        days: u32,
        start_s: i64,
    ) -> anyhow::Result<Scenario> {
        let mut s = Scenario {
            events,
            seed,
            days,
            start_s,
            share: 0.1,
            overlap: 0.0,
            window_min: 360,
            spread: 2,
            paths: 5,
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--scenario: `{part}` is not KEY=VALUE"))?;
            let bad = || anyhow::anyhow!("--scenario: invalid {k} `{v}`");
            match k {
                "share" => s.share = v.parse().map_err(|_| bad())?,
                "overlap" => s.overlap = v.parse().map_err(|_| bad())?,
                "spread" => s.spread = v.parse().map_err(|_| bad())?,
                "paths" => s.paths = v.parse().map_err(|_| bad())?,
                "window" => {
                    let (n, unit) =
                        v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
                    let n: u64 = n.parse().map_err(|_| bad())?;
                    s.window_min = match unit {
                        "m" | "" => n,
                        "h" => n * 60,
                        "d" => n * 1440,
                        _ => return Err(bad()),
                    };
                }
                _ => anyhow::bail!(
                    "--scenario: unknown knob `{k}` (share, overlap, window, spread, paths)"
                ),
            }
        }
        if !(0.0..1.0).contains(&s.share) || !(0.0..=1.0).contains(&s.overlap) {
            anyhow::bail!("--scenario: share must be in [0, 1) and overlap in [0, 1]");
        }
        if s.spread == 0 || s.paths == 0 || s.window_min == 0 {
            anyhow::bail!("--scenario: spread, paths and window must be at least 1");
        }
        if s.window_min > u64::from(days) * 1440 {
            anyhow::bail!("--scenario: the window is longer than the {days} days");
        }
        Ok(s)
    }
}

/// A benign burst: (field: 0 user agent, 1 ASN, 2 path; its value; its [start, end) minutes).
type Burst = (usize, String, Vec<(u64, u64)>);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Zipf(1.1) over `n` ranks by inverse-CDF on a table.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut c = Vec::with_capacity(n);
        for k in 1..=n {
            acc += 1.0 / (k as f64).powf(s);
            c.push(acc);
        }
        for x in &mut c {
            *x /= acc;
        }
        Zipf(c)
    }
    fn sample(&self, r: &mut Rng) -> usize {
        let u = r.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

/// Relative traffic of each minute of the day: a day curve peaking in the afternoon.
fn diurnal(minute_of_day: u64) -> f64 {
    let h = minute_of_day as f64 / 60.0;
    1.0 + 0.8 * (std::f64::consts::PI * (h - 9.0) / 12.0).sin()
}

/// Write the events, and the truth as JSON to `truth`.
pub fn write(
    s: &Scenario,
    out: &mut dyn Write,
    truth: Option<&mut dyn Write>,
) -> anyhow::Result<(u64, u64)> {
    let mut rng = Rng(s.seed ^ 0x5CE7_A710);
    let minutes = u64::from(s.days) * 1440;
    // The window starts at a seeded minute, leaving room for it.
    let w0 = rng.below(minutes - s.window_min + 1);
    let w1 = w0 + s.window_min;
    // Events per minute, by the day curve.
    let weights: Vec<f64> = (0..minutes).map(|m| diurnal(m % 1440)).collect();
    let total: f64 = weights.iter().sum();
    let mut per_min: Vec<u64> = weights
        .iter()
        .map(|w| (w / total * s.events as f64).floor() as u64)
        .collect();
    let mut short = s.events - per_min.iter().sum::<u64>();
    let mut k = 0;
    while short > 0 {
        per_min[(k * 7919) % minutes as usize] += 1;
        short -= 1;
        k += 1;
    }
    let in_window: u64 = per_min[w0 as usize..w1 as usize].iter().sum();
    let attack_total = (in_window as f64 * s.share).round() as u64;
    // Vocabularies: normal values and the attack's own.
    let uas = Zipf::new(2_000, 1.1);
    let asns = Zipf::new(1_500, 1.1);
    let paths = Zipf::new(20_000, 1.05);
    let countries = Zipf::new(80, 1.3);
    let ips = Zipf::new(100_000, 1.0);
    let attack_ua = "python-requests/2.31.0 (scanner)";
    let attack_asns: Vec<u64> = (0..s.spread as u64).map(|i| 64_512 + i * 7).collect();
    let attack_paths: Vec<String> = (0..s.paths)
        .map(|i| format!("/wp-admin/admin-ajax.php?action=probe{i}"))
        .collect();
    let ua_text = |i: usize| {
        format!(
            "Mozilla/5.0 (agent {i}) Gecko/2010{:04} Firefox/{}",
            i % 9973,
            60 + i % 70
        )
    };
    let country_text = |i: usize| {
        let a = b'A' + (i % 26) as u8;
        let b = b'A' + ((i / 26 + 3) % 26) as u8;
        format!("{}{}", a as char, b as char)
    };
    // Benign bursts: (field, value, bursts as [start, end) minutes).
    let bursts: Vec<Burst> = (0..9)
        .map(|i| {
            let value = match i % 3 {
                0 => {
                    format!("Mozilla/5.0 (compatible; Crawler{i}/2.1; +https://crawler{i}.example)")
                }
                1 => (20_000 + i as u64).to_string(),
                _ => format!("/landing/campaign-{i}"),
            };
            let spans = (0..6)
                .map(|_| {
                    let b0 = rng.below(minutes.saturating_sub(120).max(1));
                    (b0, b0 + 120)
                })
                .collect();
            (i % 3, value, spans)
        })
        .collect();
    let mut attack_left = attack_total;
    let mut window_left = in_window;
    let mut written = 0u64;
    let mut line = String::with_capacity(512);
    for m in 0..minutes {
        let n = per_min[m as usize];
        let in_w = (w0..w1).contains(&m);
        for j in 0..n {
            // Attack events are spread evenly over the window's events.
            let attack = in_w && attack_left > 0 && rng.below(window_left) < attack_left;
            if in_w {
                window_left -= 1;
                if attack {
                    attack_left -= 1;
                }
            }
            let sec = s.start_s + (m * 60) as i64 + (j * 60 / n.max(1)) as i64;
            let (ua, asn, path, country, ip, action);
            if attack {
                ua = attack_ua.to_string();
                let a = rng.below(s.spread as u64) as usize;
                asn = attack_asns[a];
                // A few paths, the first most used.
                let p = ((rng.unit().powi(2)) * s.paths as f64) as usize;
                path = attack_paths[p.min(s.paths - 1)].clone();
                // Countries as normal traffic's: not an indicator.
                country = country_text(countries.sample(&mut rng));
                ip = format!("198.51.{}.{}", a % 250, 10 + rng.below(40));
                action = "block";
            } else {
                ua = if rng.unit() < s.overlap {
                    attack_ua.to_string()
                } else {
                    ua_text(uas.sample(&mut rng))
                };
                asn = if rng.unit() < s.overlap {
                    attack_asns[rng.below(s.spread as u64) as usize]
                } else {
                    1_000 + asns.sample(&mut rng) as u64
                };
                path = if rng.unit() < s.overlap {
                    attack_paths[rng.below(s.paths as u64) as usize].clone()
                } else {
                    let p = paths.sample(&mut rng);
                    format!("/{}/{}", ["static", "api", "shop", "blog", "img"][p % 5], p)
                };
                country = country_text(countries.sample(&mut rng));
                let i = ips.sample(&mut rng);
                ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
                action =
                    ["allow", "allow", "allow", "log", "block", "challenge"][rng.below(6) as usize];
            }
            let (mut ua, mut asn, mut path) = (ua, asn, path);
            if !attack {
                // A burst in progress replaces its field's value for 3% of the events.
                for (f, v, spans) in &bursts {
                    if spans.iter().any(|&(a, b)| (a..b).contains(&m)) && rng.unit() < 0.03 {
                        match f {
                            0 => ua = v.clone(),
                            1 => asn = v.parse().unwrap_or(asn),
                            _ => path = v.clone(),
                        }
                    }
                }
            }
            line.clear();
            line.push_str(&format!(
                "{{\"Datetime\":{},\"ClientRequestUserAgent\":{},\"ClientASN\":{asn},\"ClientRequestPath\":{},\"ClientCountry\":\"{country}\",\"ClientIP\":\"{ip}\",\"Action\":\"{action}\"}}\n",
                sec * 1_000_000_000,
                serde_json::Value::from(ua),
                serde_json::Value::from(path),
            ));
            out.write_all(line.as_bytes())?;
            written += 1;
        }
    }
    if let Some(t) = truth {
        let ns = |m: u64| (s.start_s + (m * 60) as i64) * 1_000_000_000;
        let mut indicators =
            vec![serde_json::json!({"field": "ClientRequestUserAgent", "value": attack_ua})];
        for a in &attack_asns {
            indicators.push(serde_json::json!({"field": "ClientASN", "value": a.to_string()}));
        }
        for p in &attack_paths {
            indicators.push(serde_json::json!({"field": "ClientRequestPath", "value": p}));
        }
        let doc = serde_json::json!({
            "scenario": {"share": s.share, "overlap": s.overlap, "window_minutes": s.window_min,
                          "spread": s.spread, "paths": s.paths, "events": s.events, "seed": s.seed},
            "window_start_ns": ns(w0),
            "window_end_ns": ns(w1),
            "window_events": in_window,
            "attack_events": attack_total,
            "indicators": indicators,
        });
        writeln!(t, "{}", serde_json::to_string_pretty(&doc)?)?;
    }
    Ok((written, attack_total))
}
