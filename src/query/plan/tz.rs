//! Named and fixed time zones for local-time buckets (`--tz Europe/Berlin`).
//!
//! Owns: a zone's offset changes as a table for fast lookups, bucket alignment in local time,
//! local RFC 3339 formatting, local hour of day and weekday. The zone data itself (TZif files,
//! POSIX TZ rules, the IANA database) is `jiff`'s: the system's tzdata when there is one
//! (`TZDIR` is honoured), else the copy of the database compiled into the binary, so `--tz`
//! works on a machine without tzdata.
//!
//! It must not: panic or overflow on any input (malformed TZif bytes, any `i64` instant, any
//! width), or know about columns, events or the CLI.
//!
//! Documented decisions:
//! - Instants are `i64` UTC seconds ([`Tz::offset_at`]) or nanoseconds (the free functions);
//!   offsets are seconds east of UTC.
//! - A zone's offset changes between 1677 and 2263 (the `i64` nanosecond range) are taken
//!   from jiff once, when the `Tz` is built (about a thousand for a zone with DST, a few
//!   hundred microseconds), so a lookup is a binary search of that table (~15 ns) and a
//!   bucket does not call into jiff. Before 1677 the offset of 1677 applies, after 2263 that
//!   of 2263. Only real offset changes are kept (not changes of abbreviation or DST flag).
//! - Buckets: widths that are whole days align to local midnight (counting days from
//!   1970-01-01, or from Monday 1970-01-05 when the width is whole weeks); a day bucket then
//!   spans the real local day (23 or 25 h). Other widths align the local wall clock to the
//!   local epoch; when the aligned wall time does not exist in the current offset (a DST
//!   change inside the bucket), the bucket starts at that change instead. A local midnight
//!   that occurs twice resolves to the earlier instant, one skipped by a DST gap to the end
//!   of the gap. Widths <= 0 return the instant unchanged.
//! - Formatting: `Z` only for the UTC zone ([`Tz::utc`], `UTC`/`Z` in [`Tz::parse_fixed`]);
//!   other zones print `±HH:MM` (`+00:00` too), with `:SS` added for historic offsets that
//!   have seconds. Fractions print as 3, 6 or 9 digits, whichever is exact.

use std::fmt;

use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::Timestamp;

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = SECS_PER_DAY * NANOS_PER_SEC;
/// Largest UTC offset magnitude (jiff's, and RFC 8536's 93599 s).
const MAX_OFFSET: i32 = 93_599;
/// Offset changes are tabulated between these instants (1677-01-01 and 2263-01-01 UTC),
/// which bound `i64` nanoseconds.
const TABLE_START: i64 = -9_246_096_000;
const TABLE_END: i64 = 9_246_182_400;
/// Day number of Monday 1970-01-05, the origin of whole-week buckets.
const MONDAY_ORIGIN: i64 = 4;

/// An unknown zone name or malformed TZif data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TzError(pub String);

impl fmt::Display for TzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TzError {}

/// A time zone: a table of offset changes.
#[derive(Clone, Debug)]
pub struct Tz {
    name: String,
    /// Offset before the first change.
    initial: i32,
    /// UTC seconds at which the offset changes, strictly ascending; only real changes.
    trans: Vec<i64>,
    /// `offsets[i]` is in force from `trans[i]` on.
    offsets: Vec<i32>,
    /// Print `Z` for offset zero.
    zulu: bool,
}

impl Tz {
    pub fn utc() -> Tz {
        Tz {
            zulu: true,
            ..Tz::constant("UTC".to_string(), 0)
        }
    }

    /// A fixed offset, named like `+05:30`. Offsets beyond ±93599 s are clamped.
    pub fn fixed(offset_secs: i32) -> Tz {
        let off = offset_secs.clamp(-MAX_OFFSET, MAX_OFFSET);
        Tz::constant(format_offset(off), off)
    }

    fn constant(name: String, off: i32) -> Tz {
        Tz {
            name,
            initial: off,
            trans: Vec::new(),
            offsets: Vec::new(),
            zulu: false,
        }
    }

    /// Parse a fixed offset spelled `+05:30`, `-0800`, `+05`, `UTC`, `Z`
    /// (letters in any case); None if not such a spelling.
    pub fn parse_fixed(s: &str) -> Option<Tz> {
        if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
            return Some(Tz::utc());
        }
        let (sign, rest) = match s.as_bytes().split_first()? {
            (b'+', rest) => (1, rest),
            (b'-', rest) => (-1, rest),
            _ => return None,
        };
        let (h, m) = match rest {
            [h1, h2] => (two_digits(*h1, *h2)?, 0),
            [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => {
                (two_digits(*h1, *h2)?, two_digits(*m1, *m2)?)
            }
            _ => return None,
        };
        (h <= 23 && m <= 59).then(|| Tz::fixed(sign * (h * 3600 + m * 60)))
    }

    /// An IANA zone (`Europe/Berlin`) from jiff's database: the system's tzdata, or the
    /// compiled-in copy when the system has none or lacks the name.
    pub fn named(name: &str) -> Result<Tz, TzError> {
        let zone = jiff::tz::db()
            .get(name)
            .or_else(|_| TimeZoneDatabase::bundled().get(name))
            .map_err(|_| TzError(format!("unknown time zone `{name}`")))?;
        Ok(Tz::from_zone(name, &zone))
    }

    /// An IANA zone from the database compiled into the binary (whatever the system has).
    pub fn bundled(name: &str) -> Result<Tz, TzError> {
        let zone = TimeZoneDatabase::bundled()
            .get(name)
            .map_err(|_| TzError(format!("unknown time zone `{name}`")))?;
        Ok(Tz::from_zone(name, &zone))
    }

    /// A zone from TZif bytes (RFC 8536, as in `/usr/share/zoneinfo`), decoded by jiff.
    pub fn from_tzif(name: &str, data: &[u8]) -> Result<Tz, TzError> {
        let zone = TimeZone::tzif(name, data).map_err(|e| TzError(format!("{name}: {e}")))?;
        Ok(Tz::from_zone(name, &zone))
    }

    /// Tabulate `zone`'s offset changes between 1677 and 2263.
    fn from_zone(name: &str, zone: &TimeZone) -> Tz {
        let start = Timestamp::from_second(TABLE_START).unwrap_or(Timestamp::MIN);
        let initial = zone.to_offset(start).seconds();
        let mut tz = Tz::constant(name.to_string(), initial);
        let mut cur = initial;
        for t in zone.following(start) {
            let at = t.timestamp().as_second();
            if at > TABLE_END {
                break;
            }
            let off = t.offset().seconds();
            if off != cur {
                tz.trans.push(at);
                tz.offsets.push(off);
                cur = off;
            }
        }
        tz
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the zone is UTC at every instant (no transitions, offset 0).
    pub fn is_fixed_utc(&self) -> bool {
        self.initial == 0 && self.trans.is_empty()
    }

    /// UTC offset in seconds in force at the UTC instant `utc_secs`.
    pub fn offset_at(&self, utc_secs: i64) -> i32 {
        match self.trans.partition_point(|&t| t <= utc_secs) {
            0 => self.initial,
            i => self.offsets.get(i - 1).copied().unwrap_or(self.initial),
        }
    }

    /// The latest instant `<= t` at which the offset changes, if any.
    fn prev_change(&self, t: i64) -> Option<i64> {
        match self.trans.partition_point(|&x| x <= t) {
            0 => None,
            i => self.trans.get(i - 1).copied(),
        }
    }
    /// The UTC instant of local wall time `local` (seconds): the earlier one
    /// if it occurs twice, the end of the gap if it is skipped.
    fn local_to_utc(&self, local: i64) -> i64 {
        let o1 = i64::from(self.offset_at(local.saturating_sub(SECS_PER_DAY)));
        let o2 = i64::from(self.offset_at(local.saturating_add(SECS_PER_DAY)));
        let (u1, u2) = (local.saturating_sub(o1), local.saturating_sub(o2));
        let ok1 = i64::from(self.offset_at(u1)) == o1;
        let ok2 = i64::from(self.offset_at(u2)) == o2;
        match (ok1, ok2) {
            (true, true) => u1.min(u2),
            (true, false) => u1,
            (false, true) => u2,
            (false, false) => {
                let late = u1.max(u2);
                self.prev_change(late).unwrap_or(late)
            }
        }
    }
}

fn two_digits(a: u8, b: u8) -> Option<i32> {
    let d = |c: u8| c.is_ascii_digit().then(|| i32::from(c - b'0'));
    Some(d(a)? * 10 + d(b)?)
}

// ------------------------------------------------- buckets and output ----

/// Local wall-clock seconds and the offset in force at `utc_ns`.
fn local_secs(utc_ns: i64, tz: &Tz) -> (i64, i32) {
    let secs = utc_ns.div_euclid(NANOS_PER_SEC);
    let off = tz.offset_at(secs);
    (secs + i64::from(off), off)
}

fn clamp_ns(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Start (UTC nanoseconds) of the bucket of width `width_ns` containing the
/// UTC instant `utc_ns`, with buckets aligned in *local* time of `tz`
/// (1h buckets start at local :00, 1d buckets at local midnight). Whole-day
/// widths span real local days (23 or 25 h on DST change days); other widths
/// align the local wall clock, so the repeated hour of a fall-back change
/// yields two distinct buckets. See the module doc for the exact rules.
pub fn bucket_start(utc_ns: i64, width_ns: i64, tz: &Tz) -> i64 {
    if tz.is_fixed_utc()
        && width_ns > 0
        && width_ns <= 86_400_000_000_000
        && 86_400_000_000_000 % width_ns == 0
    {
        // UTC and a width that divides a day: plain floor division (when it cannot overflow).
        if let Some(b) = utc_ns.div_euclid(width_ns).checked_mul(width_ns) {
            return b;
        }
    }
    if width_ns <= 0 {
        return utc_ns;
    }
    if width_ns % NANOS_PER_DAY == 0 {
        day_bucket(utc_ns, width_ns / NANOS_PER_DAY, tz)
    } else {
        wall_bucket(utc_ns, width_ns, tz)
    }
}

/// Buckets of `days` local days starting at local midnight.
fn day_bucket(utc_ns: i64, days: i64, tz: &Tz) -> i64 {
    let (local, _) = local_secs(utc_ns, tz);
    let day = local.div_euclid(SECS_PER_DAY);
    let origin = if days % 7 == 0 { MONDAY_ORIGIN } else { 0 };
    let first = day - (day - origin).rem_euclid(days);
    let start = tz.local_to_utc(first.saturating_mul(SECS_PER_DAY));
    clamp_ns(i128::from(start) * i128::from(NANOS_PER_SEC))
}

/// Buckets aligned on the local wall clock (local epoch origin).
fn wall_bucket(utc_ns: i64, width_ns: i64, tz: &Tz) -> i64 {
    let secs = utc_ns.div_euclid(NANOS_PER_SEC);
    let off = tz.offset_at(secs);
    let off_ns = i128::from(off) * i128::from(NANOS_PER_SEC);
    let local = i128::from(utc_ns) + off_ns;
    let start = local - local.rem_euclid(i128::from(width_ns)) - off_ns;
    let start_secs = clamp_ns(start.div_euclid(i128::from(NANOS_PER_SEC)));
    if tz.offset_at(start_secs) == off {
        return clamp_ns(start);
    }
    // The offset changed inside the bucket: it starts at the change.
    match tz.prev_change(secs) {
        Some(change) => clamp_ns(start.max(i128::from(change) * i128::from(NANOS_PER_SEC))),
        None => clamp_ns(start),
    }
}

/// Format a UTC instant as local RFC 3339 with offset:
/// `2024-11-03T01:00:00-04:00` (UTC: `Z`). No fraction if zero.
pub fn format_local(utc_ns: i64, tz: &Tz) -> String {
    let off = tz.offset_at(utc_ns.div_euclid(NANOS_PER_SEC));
    let mut s = String::with_capacity(36);
    crate::json::time::push_wall_clock(&mut s, utc_ns, off);
    if tz.zulu && off == 0 {
        s.push('Z');
    } else {
        s.push_str(&format_offset(off));
    }
    s
}

/// `+05:30`, `-04:00`, or `+00:53:28` when there are seconds.
fn format_offset(off: i32) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.unsigned_abs();
    let hm = format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60);
    match a % 60 {
        0 => hm,
        s => format!("{hm}:{s:02}"),
    }
}

/// Local hour of day (0..=23) of a UTC instant.
pub fn hour_of_day(utc_ns: i64, tz: &Tz) -> u32 {
    let (local, _) = local_secs(utc_ns, tz);
    (local.rem_euclid(SECS_PER_DAY) / 3600) as u32
}

/// Local ISO weekday (1 = Monday .. 7 = Sunday) of a UTC instant.
pub fn weekday(utc_ns: i64, tz: &Tz) -> u32 {
    let (local, _) = local_secs(utc_ns, tz);
    // 1970-01-01 was a Thursday (ISO 4).
    ((local.div_euclid(SECS_PER_DAY) + 3).rem_euclid(7) + 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::time::days_from_civil;

    const H: i64 = 3600;
    const NS: i64 = NANOS_PER_SEC;
    /// UTC seconds of a civil date-time.
    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
        days_from_civil(y, mo, d) * SECS_PER_DAY + h * H + mi * 60 + s
    }

    fn unhex(s: &str) -> Vec<u8> {
        let digit = |c: u8| (c as char).to_digit(16).expect("hex digit") as u8;
        s.as_bytes()
            .chunks_exact(2)
            .map(|p| digit(p[0]) * 16 + digit(p[1]))
            .collect()
    }

    fn tzif(name: &str, data: &[u8]) -> Tz {
        Tz::from_tzif(name, data).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn berlin() -> Tz {
        tzif("Europe/Berlin", &unhex(BERLIN_HEX))
    }

    fn new_york() -> Tz {
        tzif("America/New_York", &unhex(NEW_YORK_HEX))
    }

    /// indicator arrays, which must be skipped) and the footer.
    fn build(version: u8, times: &[i64], idx: &[u8], offs: &[i32], footer: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let header = |out: &mut Vec<u8>, v: u8, counts: [u32; 6]| {
            out.extend_from_slice(b"TZif");
            out.push(if v == 1 { 0 } else { b'0' + v });
            out.extend_from_slice(&[0; 15]);
            for c in counts {
                out.extend_from_slice(&c.to_be_bytes());
            }
        };
        let block = |out: &mut Vec<u8>, tsize: usize, leap: u32| {
            for &t in times {
                out.extend_from_slice(&t.to_be_bytes()[8 - tsize..]);
            }
            out.extend_from_slice(idx);
            for &o in offs {
                out.extend_from_slice(&o.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            out.extend_from_slice(b"ABC\0");
            for _ in 0..leap {
                out.extend_from_slice(&vec![0; tsize + 4]);
            }
            out.extend(std::iter::repeat_n(0u8, 2 * offs.len()));
        };
        let n = offs.len() as u32;
        let counts = |leap| [n, n, leap, times.len() as u32, n, 4];
        if version == 1 {
            header(&mut out, 1, counts(0));
            block(&mut out, 4, 0);
            return out;
        }
        header(&mut out, version, [0, 0, 0, 0, 1, 1]);
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0]);
        header(&mut out, version, counts(1));
        block(&mut out, 8, 1);
        out.extend_from_slice(format!("\n{footer}\n").as_bytes());
        out
    }

    #[test]
    fn berlin_fat_file() {
        let tz = berlin();
        assert_eq!(tz.name(), "Europe/Berlin");
        assert_eq!(tz.offset_at(at(2024, 3, 31, 0, 59, 59)), 3600);
        assert_eq!(tz.offset_at(at(2024, 3, 31, 1, 0, 0)), 7200);
        assert_eq!(tz.offset_at(at(2024, 10, 27, 0, 59, 59)), 7200);
        assert_eq!(tz.offset_at(at(2024, 10, 27, 1, 0, 0)), 3600);
        // After the last stored transition (2037): the footer rule.
        assert_eq!(tz.offset_at(at(2100, 3, 28, 0, 59, 59)), 3600);
        assert_eq!(tz.offset_at(at(2100, 3, 28, 1, 0, 0)), 7200);
        assert_eq!(tz.offset_at(at(2100, 10, 31, 0, 59, 59)), 7200);
        assert_eq!(tz.offset_at(at(2100, 10, 31, 1, 0, 0)), 3600);
        // Before the first transition: local mean time, +00:53:28.
        assert_eq!(tz.offset_at(at(1850, 1, 1, 0, 0, 0)), 3208);
        assert_eq!(
            format_local(at(1850, 1, 1, 0, 0, 0) * NS, &tz),
            "1850-01-01T00:53:28+00:53:28"
        );
        // Double summer time 1945.
        assert_eq!(tz.offset_at(at(1945, 6, 1, 0, 0, 0)), 3 * 3600);
    }

    #[test]
    fn new_york_slim_file() {
        let tz = new_york();
        assert_eq!(tz.offset_at(at(2024, 3, 10, 6, 59, 59)), -5 * 3600);
        assert_eq!(tz.offset_at(at(2024, 3, 10, 7, 0, 0)), -4 * 3600);
        assert_eq!(tz.offset_at(at(2024, 11, 3, 5, 59, 59)), -4 * 3600);
        assert_eq!(tz.offset_at(at(2024, 11, 3, 6, 0, 0)), -5 * 3600);
        assert_eq!(tz.offset_at(at(2100, 3, 14, 6, 59, 59)), -5 * 3600);
        assert_eq!(tz.offset_at(at(2100, 3, 14, 7, 0, 0)), -4 * 3600);
        assert_eq!(tz.offset_at(at(2100, 11, 7, 5, 59, 59)), -4 * 3600);
        assert_eq!(tz.offset_at(at(2100, 11, 7, 6, 0, 0)), -5 * 3600);
        // Table region: 2006 used the old US rule (first Sunday in April).
        assert_eq!(tz.offset_at(at(2006, 4, 2, 6, 59, 59)), -5 * 3600);
        assert_eq!(tz.offset_at(at(2006, 4, 2, 7, 0, 0)), -4 * 3600);
        assert_eq!(tz.offset_at(i64::MIN), -17_762);
        assert!([-4 * 3600, -5 * 3600].contains(&tz.offset_at(i64::MAX)));
    }

    fn hours(day: (i64, u32, u32), from_h: i64, to_h: i64, tz: &Tz, width: i64) -> Vec<i64> {
        let base = at(day.0, day.1, day.2, 0, 0, 0);
        let mut starts: Vec<i64> = (from_h * 6..to_h * 6)
            .map(|k| bucket_start((base + k * 600) * NS, width, tz))
            .collect();
        starts.dedup();
        starts
    }

    #[test]
    fn new_york_fall_back_buckets() {
        let tz = new_york();
        // Local 2024-11-03 runs from 04:00Z to 2024-11-04 05:00Z: 25 hours.
        let starts = hours((2024, 11, 3), 4, 29, &tz, H * NS);
        assert_eq!(starts.len(), 25);
        assert!(starts.windows(2).all(|w| w[1] - w[0] == H * NS));
        let labels: Vec<String> = starts[..4].iter().map(|&s| format_local(s, &tz)).collect();
        assert_eq!(
            labels,
            [
                "2024-11-03T00:00:00-04:00",
                "2024-11-03T01:00:00-04:00",
                "2024-11-03T01:00:00-05:00",
                "2024-11-03T02:00:00-05:00"
            ]
        );
        let day = NANOS_PER_DAY;
        let d0 = bucket_start(at(2024, 11, 3, 4, 0, 0) * NS, day, &tz);
        assert_eq!(d0, at(2024, 11, 3, 4, 0, 0) * NS);
        assert_eq!(bucket_start(at(2024, 11, 4, 4, 59, 59) * NS, day, &tz), d0);
        let d1 = bucket_start(at(2024, 11, 4, 5, 0, 0) * NS, day, &tz);
        assert_eq!(d1 - d0, 25 * H * NS);
        assert_eq!(
            bucket_start(at(2024, 11, 3, 3, 59, 59) * NS, day, &tz),
            d0 - 24 * H * NS
        );
        // 2h buckets: the change splits the local 00:00-02:00 bucket.
        let two = 2 * H * NS;
        assert_eq!(
            bucket_start(at(2024, 11, 3, 5, 30, 0) * NS, two, &tz),
            at(2024, 11, 3, 4, 0, 0) * NS
        );
        assert_eq!(
            bucket_start(at(2024, 11, 3, 6, 30, 0) * NS, two, &tz),
            at(2024, 11, 3, 6, 0, 0) * NS
        );
        assert_eq!(
            bucket_start(at(2024, 11, 3, 7, 30, 0) * NS, two, &tz),
            at(2024, 11, 3, 7, 0, 0) * NS
        );
    }

    #[test]
    fn new_york_spring_forward_buckets() {
        let tz = new_york();
        let starts = hours((2024, 3, 10), 5, 28, &tz, H * NS);
        assert_eq!(starts.len(), 23);
        let d0 = bucket_start(at(2024, 3, 10, 12, 0, 0) * NS, NANOS_PER_DAY, &tz);
        let d1 = bucket_start(at(2024, 3, 11, 12, 0, 0) * NS, NANOS_PER_DAY, &tz);
        assert_eq!((d0, d1 - d0), (at(2024, 3, 10, 5, 0, 0) * NS, 23 * H * NS));
        let two = 2 * H * NS;
        assert_eq!(
            bucket_start(at(2024, 3, 10, 6, 30, 0) * NS, two, &tz),
            at(2024, 3, 10, 5, 0, 0) * NS
        );
        assert_eq!(
            bucket_start(at(2024, 3, 10, 7, 30, 0) * NS, two, &tz),
            at(2024, 3, 10, 7, 0, 0) * NS
        );
        assert_eq!(
            bucket_start(at(2024, 3, 10, 8, 30, 0) * NS, two, &tz),
            at(2024, 3, 10, 8, 0, 0) * NS
        );
        // Whole weeks start on local Monday midnight.
        let week = bucket_start(at(2024, 11, 6, 12, 0, 0) * NS, 7 * NANOS_PER_DAY, &tz);
        assert_eq!(format_local(week, &tz), "2024-11-04T00:00:00-05:00");
        let fortnight = 14 * NANOS_PER_DAY;
        assert_eq!(
            weekday(
                bucket_start(at(2024, 11, 6, 0, 0, 0) * NS, fortnight, &tz),
                &tz
            ),
            1
        );
    }

    #[test]
    fn half_hour_dst_buckets() {
        let data = build(
            3,
            &[],
            &[],
            &[37_800],
            "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        );
        let tz = tzif("Australia/Lord_Howe", &data);
        let b = |h, m| bucket_start(at(2024, 4, 6, h, m, 0) * NS, H * NS, &tz) / NS;
        assert_eq!(b(14, 30), at(2024, 4, 6, 14, 0, 0));
        assert_eq!(b(15, 0), at(2024, 4, 6, 15, 0, 0));
        assert_eq!(b(15, 29), at(2024, 4, 6, 15, 0, 0));
        assert_eq!(b(15, 30), at(2024, 4, 6, 15, 30, 0));
        assert_eq!(
            format_local(b(15, 10) * NS, &tz),
            "2024-04-07T01:30:00+10:30"
        );
        let s = |h, m| bucket_start(at(2024, 10, 5, h, m, 0) * NS, H * NS, &tz) / NS;
        assert_eq!(s(15, 20), at(2024, 10, 5, 14, 30, 0));
        assert_eq!(s(15, 45), at(2024, 10, 5, 15, 30, 0));
        assert_eq!(s(16, 5), at(2024, 10, 5, 16, 0, 0));
    }

    #[test]
    fn berlin_buckets_and_odd_widths() {
        let tz = berlin();
        let d0 = bucket_start(at(2024, 3, 31, 12, 0, 0) * NS, NANOS_PER_DAY, &tz);
        let d1 = bucket_start(at(2024, 4, 1, 12, 0, 0) * NS, NANOS_PER_DAY, &tz);
        assert_eq!((d0, d1 - d0), (at(2024, 3, 30, 23, 0, 0) * NS, 23 * H * NS));
        let q = 15 * 60 * NS;
        assert_eq!(
            bucket_start(at(2024, 10, 27, 0, 59, 59) * NS, q, &tz),
            at(2024, 10, 27, 0, 45, 0) * NS
        );
        assert_eq!(
            bucket_start(at(2024, 10, 27, 1, 0, 0) * NS, q, &tz),
            at(2024, 10, 27, 1, 0, 0) * NS
        );
        // 7 minutes does not divide a day: aligned to the local epoch.
        let w = 7 * 60 * NS;
        let t = at(2024, 7, 1, 12, 3, 17) * NS + 5;
        let local = t + 7200 * NS;
        assert_eq!(
            bucket_start(t, w, &tz),
            local - local.rem_euclid(w) - 7200 * NS
        );
        assert_eq!(bucket_start(t, w, &Tz::utc()), t - t.rem_euclid(w));
        // 36h is not whole days: also local-epoch aligned.
        let w = 36 * H * NS;
        assert_eq!(bucket_start(t, w, &Tz::utc()), t - t.rem_euclid(w));
        assert_eq!(bucket_start(t, 0, &tz), t);
        assert_eq!(bucket_start(t, -5, &tz), t);
        assert_eq!(bucket_start(t, 1, &tz), t);
    }

    #[test]
    fn buckets_never_overflow() {
        let zones = [
            Tz::utc(),
            Tz::fixed(-MAX_OFFSET),
            Tz::fixed(MAX_OFFSET),
            berlin(),
            new_york(),
        ];
        for tz in &zones {
            for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
                for w in [
                    1,
                    7 * 60 * NS,
                    H * NS,
                    NANOS_PER_DAY,
                    7 * NANOS_PER_DAY,
                    i64::MAX,
                ] {
                    let b = bucket_start(t, w, tz);
                    assert!(b <= t || t > i64::MAX - 2 * NANOS_PER_DAY, "{t} {w} {b}");
                }
                let _ = (format_local(t, tz), hour_of_day(t, tz), weekday(t, tz));
            }
        }
    }

    #[test]
    fn hour_weekday_and_format() {
        let ny = new_york();
        let t = at(2024, 11, 3, 5, 30, 0) * NS;
        assert_eq!((hour_of_day(t, &ny), weekday(t, &ny)), (1, 7));
        let t = at(2024, 11, 4, 4, 59, 59) * NS;
        assert_eq!((hour_of_day(t, &ny), weekday(t, &ny)), (23, 7));
        let t = at(2024, 3, 31, 22, 30, 0) * NS;
        let be = berlin();
        assert_eq!((hour_of_day(t, &be), weekday(t, &be)), (0, 1));
        assert_eq!(
            (hour_of_day(t, &Tz::utc()), weekday(t, &Tz::utc())),
            (22, 7)
        );
        assert_eq!(
            (hour_of_day(-1, &Tz::utc()), weekday(-1, &Tz::utc())),
            (23, 3)
        );
        let t = at(2024, 11, 3, 6, 0, 0) * NS;
        assert_eq!(format_local(t, &ny), "2024-11-03T01:00:00-05:00");
        assert_eq!(
            format_local(t - 1, &ny),
            "2024-11-03T01:59:59.999999999-04:00"
        );
        assert_eq!(format_local(t, &Tz::utc()), "2024-11-03T06:00:00Z");
        assert_eq!(
            format_local(t + 500_000_000, &Tz::utc()),
            "2024-11-03T06:00:00.500Z"
        );
        assert_eq!(
            format_local(t + 1_000, &Tz::utc()),
            "2024-11-03T06:00:00.000001Z"
        );
        assert_eq!(
            format_local(-1, &Tz::utc()),
            "1969-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            format_local(t, &Tz::fixed(19_800)),
            "2024-11-03T11:30:00+05:30"
        );
        assert_eq!(format_local(t, &Tz::fixed(0)), "2024-11-03T06:00:00+00:00");
        assert_eq!(
            format_local(i64::MIN, &Tz::utc()),
            "1677-09-21T00:12:43.145224192Z"
        );
        assert_eq!(
            format_local(i64::MAX, &Tz::utc()),
            "2262-04-11T23:47:16.854775807Z"
        );
    }

    #[test]
    fn fixed_offsets() {
        let name = |s: &str| Tz::parse_fixed(s).map(|t| t.name().to_string());
        assert_eq!(name("+05:30").as_deref(), Some("+05:30"));
        assert_eq!(name("-0800").as_deref(), Some("-08:00"));
        assert_eq!(name("+05").as_deref(), Some("+05:00"));
        assert_eq!(name("-00:00").as_deref(), Some("+00:00"));
        assert_eq!(name("UTC").as_deref(), Some("UTC"));
        assert_eq!(name("z").as_deref(), Some("UTC"));
        for bad in [
            "",
            "+",
            "5:30",
            "+5:30",
            "+24:00",
            "+05:60",
            "+05:3",
            "+05-30",
            "Europe/Berlin",
            "+0530x",
        ] {
            assert!(Tz::parse_fixed(bad).is_none(), "{bad:?}");
        }
        let tz = Tz::parse_fixed("-08:00").expect("fixed");
        assert_eq!(tz.offset_at(0), -8 * 3600);
        assert_eq!(Tz::utc().offset_at(i64::MAX), 0);
        assert_eq!(Tz::fixed(-12_600).name(), "-03:30");
        assert_eq!(Tz::fixed(3208).name(), "+00:53:28");
    }

    #[test]
    fn synthetic_files_and_footers() {
        let times = [
            at(2000, 1, 1, 0, 0, 0),
            at(2001, 1, 1, 0, 0, 0),
            at(2002, 1, 1, 0, 0, 0),
        ];
        for version in [2, 3, 4] {
            let tz = tzif(
                "v",
                &build(
                    version,
                    &times,
                    &[1, 1, 2],
                    &[100, 200, 3600],
                    "CET-1CEST,M3.5.0,M10.5.0/3",
                ),
            );
            assert_eq!(tz.offset_at(times[0]), 200);
            assert_eq!(
                tz.offset_at(times[1] + 5),
                200,
                "no change at a no-op transition"
            );
            assert_eq!(tz.offset_at(times[2]), 3600);
            // After the last transition the footer rule governs.
            assert_eq!(tz.offset_at(at(2002, 7, 1, 0, 0, 0)), 7200);
            assert_eq!(tz.prev_change(at(2002, 2, 1, 0, 0, 0)), Some(times[2]));
            assert_eq!(
                tz.prev_change(at(2002, 7, 1, 0, 0, 0)),
                Some(at(2002, 3, 31, 1, 0, 0))
            );
            assert_eq!(tz.prev_change(times[0] - 1), None);
            assert!(tz.trans.windows(2).all(|w| w[0] < w[1]));
            assert!(
                tz.offsets.windows(2).all(|w| w[0] != w[1]),
                "only real changes"
            );
        }
        // No transitions, footer only.
        let tz = tzif("v2", &build(2, &[], &[], &[0], "EST5EDT,M3.2.0,M11.1.0"));
        assert_eq!(tz.offset_at(at(2024, 7, 1, 0, 0, 0)), -4 * 3600);
        assert_eq!(tz.offset_at(at(2024, 1, 1, 0, 0, 0)), -5 * 3600);
        assert_eq!(tz.offset_at(at(2262, 7, 1, 0, 0, 0)), -4 * 3600);
    }

    #[test]
    fn malformed_tzif_is_an_error() {
        let mut v = build(2, &[], &[], &[0], "UTC0");
        assert!(Tz::from_tzif("x", &v).is_ok());
        for bad in [&b"TZif"[..], b"TZjf2", b"", &v[..30]] {
            assert!(Tz::from_tzif("x", bad).is_err(), "{bad:?}");
        }
        v[0] = b'X';
        assert!(Tz::from_tzif("x", &v).is_err_and(|e| e.0.starts_with("x: ")));
    }

    #[test]
    fn named_zones_from_the_compiled_in_database() {
        // The compiled-in copy works whatever the machine has, and agrees with the TZif files
        // of the test vectors on the offsets they share.
        let be = Tz::bundled("Europe/Berlin").expect("bundled Berlin");
        let ny = Tz::bundled("America/New_York").expect("bundled New York");
        for (bundled, file) in [(&be, berlin()), (&ny, new_york())] {
            for y in [1900, 1945, 1970, 2006, 2024, 2037, 2100] {
                for m in 1..=12 {
                    let t = at(y, m, 15, 12, 0, 0);
                    assert_eq!(bundled.offset_at(t), file.offset_at(t), "{y}-{m}");
                }
            }
        }
        let starts = hours((2024, 11, 3), 4, 29, &ny, H * NS);
        assert_eq!(starts.len(), 25, "a 25-hour local day");
        assert_eq!(
            format_local(at(2024, 3, 31, 1, 0, 0) * NS, &be),
            "2024-03-31T03:00:00+02:00"
        );
        // The default lookup (system tzdata, else the copy) finds the same zone.
        let named = Tz::named("Europe/Berlin").expect("named Berlin");
        assert_eq!(named.offset_at(at(2024, 7, 1, 0, 0, 0)), 7200);
        for bad in ["Europe/Nowhere", "", "../etc/passwd", "Europe/Berlin\0"] {
            assert!(Tz::named(bad).is_err(), "{bad:?}");
        }
    }

    fn exercise(tz: &Tz) {
        for t in [
            i64::MIN,
            -1 << 40,
            0,
            at(2024, 11, 3, 6, 0, 0),
            1 << 40,
            i64::MAX,
        ] {
            let _ = tz.offset_at(t);
        }
        for t in [i64::MIN, 0, at(2024, 11, 3, 6, 0, 0) * NS, i64::MAX] {
            let _ = bucket_start(t, H * NS, tz);
            let _ = bucket_start(t, NANOS_PER_DAY, tz);
            let _ = format_local(t, tz);
        }
    }

    #[test]
    fn never_panics_on_mangled_tzif() {
        for data in [unhex(BERLIN_HEX), unhex(NEW_YORK_HEX)] {
            for cut in 0..data.len() {
                if let Ok(tz) = Tz::from_tzif("cut", &data[..cut]) {
                    exercise(&tz);
                }
            }
            for i in 0..data.len() {
                for x in [0x01, 0x80, 0xff] {
                    let mut v = data.clone();
                    v[i] ^= x;
                    if let Ok(tz) = Tz::from_tzif("flip", &v) {
                        exercise(&tz);
                    }
                }
            }
        }
        // Mangled footers.
        for s in [
            "<",
            "<>",
            "A",
            "AAA-",
            "AAA1BBB,M",
            "AAA1BBB,J",
            "AAA1BBB,M3.5.0/",
            "\u{1F600}",
            "AAA1BBB,M3.5.0/-167,M3.5.0/167",
        ] {
            if let Ok(tz) = Tz::from_tzif("f", &build(2, &[], &[], &[0], s)) {
                exercise(&tz);
            }
        }
    }

    /// /usr/share/zoneinfo/Europe/Berlin (tzdata 2025b, "fat" TZif2: transitions to 2037).
    const BERLIN_HEX: &str = "\
545a6966320000000000000000000000000000000000000900000009000000000000008f00000009000000128000\
00009b0c17609bd5daf09cd9ae909da4b5909eb990909f849790c8097190cce74b10cda91790cea24310cf923410\
d0822510d1721610d1b69600d258be80d2a14f10d3631b90d44b2390d539d120d567e790d5a87300d629b410d72c\
1a10d8099610d902c190d9e97810134d44101433fa901523eb901613dc901703cd9017f3be9018e3af9019d3a090\
1ac391901bbcbd101cacae101d9c9f101e8c90101f7c8110206c7210215c6310224c5410233c4510242c3610251c\
2710260c18102705439027f5349028e5259029d516902ac507902bb4f8902ca4e9902d94da902e84cb902f74bc90\
3064ad90315dd9103272b410333dbb1034529610351d9d103632781036fd7f10381b949038dd611039fb76903abd\
43103bdb58903ca65f903dbb3a903e8641903f9b1c9040662390418439104246059043641b104425e7904543fd10\
4605c9904723df1047eee6104903c11049cec8104ae3a3104baeaa104cccbf904d8e8c104eaca1904f6e6e10508c\
839051578a90526c659053376c90544c479055174e90562c299056f730905815461058d7129059f528105ab6f490\
5bd50a105ca011105db4ec105e7ff3105f94ce10605fd510617dea90623fb710635dcc90641f9910653dae906608\
b590671d909067e8979068fd729069c879906add54906ba85b906cc671106d883d906ea653106f681f9070863510\
71513c107266171073311e107445f91075110010762f159076f0e210780ef79078d0c41079eed9907ab0a6107bce\
bb907c99c2907dae9d907e79a4907f8e7f9002010203040304030403040304030501040304030601040304030407\
08070807080708070807080708070807080708070807080708070807080708070807080708070807080708070807\
08070807080708070807080708070807080708070807080708070807080708070807080708070807080708070807\
080708070807080708070807080708070807080708070800000c88000000001c20010400000e10000900001c2001\
0400000e10000900002a30010d00002a30010d00001c20010400000e1000094c4d54004345535400434554004345\
4d5400000000010100010101000000000000000101545a6966320000000000000000000000000000000000000900\
000009000000000000008f0000000900000012ffffffff6fa261f8ffffffff9b0c1760ffffffff9bd5daf0ffffff\
ff9cd9ae90ffffffff9da4b590ffffffff9eb99090ffffffff9f849790ffffffffc8097190ffffffffcce74b10ff\
ffffffcda91790ffffffffcea24310ffffffffcf923410ffffffffd0822510ffffffffd1721610ffffffffd1b696\
00ffffffffd258be80ffffffffd2a14f10ffffffffd3631b90ffffffffd44b2390ffffffffd539d120ffffffffd5\
67e790ffffffffd5a87300ffffffffd629b410ffffffffd72c1a10ffffffffd8099610ffffffffd902c190ffffff\
ffd9e9781000000000134d4410000000001433fa90000000001523eb90000000001613dc90000000001703cd9000\
00000017f3be900000000018e3af900000000019d3a090000000001ac39190000000001bbcbd10000000001cacae\
10000000001d9c9f10000000001e8c9010000000001f7c811000000000206c721000000000215c63100000000022\
4c541000000000233c451000000000242c361000000000251c271000000000260c18100000000027054390000000\
0027f534900000000028e525900000000029d51690000000002ac50790000000002bb4f890000000002ca4e99000\
0000002d94da90000000002e84cb90000000002f74bc90000000003064ad9000000000315dd910000000003272b4\
1000000000333dbb10000000003452961000000000351d9d1000000000363278100000000036fd7f100000000038\
1b94900000000038dd61100000000039fb7690000000003abd4310000000003bdb5890000000003ca65f90000000\
003dbb3a90000000003e864190000000003f9b1c9000000000406623900000000041843910000000004246059000\
00000043641b10000000004425e790000000004543fd10000000004605c990000000004723df100000000047eee6\
10000000004903c1100000000049cec810000000004ae3a310000000004baeaa10000000004cccbf90000000004d\
8e8c10000000004eaca190000000004f6e6e1000000000508c83900000000051578a9000000000526c6590000000\
0053376c9000000000544c47900000000055174e9000000000562c29900000000056f73090000000005815461000\
00000058d712900000000059f52810000000005ab6f490000000005bd50a10000000005ca01110000000005db4ec\
10000000005e7ff310000000005f94ce1000000000605fd51000000000617dea9000000000623fb7100000000063\
5dcc9000000000641f991000000000653dae90000000006608b59000000000671d90900000000067e89790000000\
0068fd72900000000069c87990000000006add5490000000006ba85b90000000006cc67110000000006d883d9000\
0000006ea65310000000006f681f9000000000708635100000000071513c1000000000726617100000000073311e\
10000000007445f910000000007511001000000000762f15900000000076f0e21000000000780ef7900000000078\
d0c4100000000079eed990000000007ab0a610000000007bcebb90000000007c99c290000000007dae9d90000000\
007e79a490000000007f8e7f90020102030403040304030403040305010403040306010403040304070807080708\
07080708070807080708070807080708070807080708070807080708070807080708070807080708070807080708\
07080708070807080708070807080708070807080708070807080708070807080708070807080708070807080708\
07080708070807080708070807080708070800000c88000000001c20010400000e10000900001c20010400000e10\
000900002a30010d00002a30010d00001c20010400000e1000094c4d540043455354004345540043454d54000000\
000101000101010000000000000001010a4345542d31434553542c4d332e352e302c4d31302e352e302f330a\
";

    /// America/New_York from tzdata 2025b compiled with `zic -b slim` (last transition 2007).
    const NEW_YORK_HEX: &str = "\
545a6966320000000000000000000000000000000000000000000000000000000000000000000001000000010000\
0000000000545a696632000000000000000000000000000000000000000000000000000000000000af0000000500\
000014ffffffff5e03f090ffffffff9ea61e70ffffffff9fbaeb60ffffffffa0860070ffffffffa19acd60ffffff\
ffa265e270ffffffffa383e9e0ffffffffa46aae70ffffffffa535a760ffffffffa653caf0ffffffffa7158960ff\
ffffffa833acf0ffffffffa8fea5e0ffffffffaa138ef0ffffffffaade87e0ffffffffabf370f0ffffffffacbe69\
e0ffffffffadd352f0ffffffffae9e4be0ffffffffafb334f0ffffffffb07e2de0ffffffffb19c5170ffffffffb2\
674a60ffffffffb37c3370ffffffffb4472c60ffffffffb55c1570ffffffffb6270e60ffffffffb73bf770ffffff\
ffb806f060ffffffffb91bd970ffffffffb9e6d260ffffffffbb04f5f0ffffffffbbc6b460ffffffffbce4d7f0ff\
ffffffbdafd0e0ffffffffbec4b9f0ffffffffbf8fb2e0ffffffffc0a49bf0ffffffffc16f94e0ffffffffc2847d\
f0ffffffffc34f76e0ffffffffc4645ff0ffffffffc52f58e0ffffffffc64d7c70ffffffffc70f3ae0ffffffffc8\
2d5e70ffffffffc8f85760ffffffffca0d4070ffffffffcad83960ffffffffcb88f070ffffffffd223f470ffffff\
ffd260fbe0ffffffffd375e4f0ffffffffd440dde0ffffffffd555c6f0ffffffffd620bfe0ffffffffd735a8f0ff\
ffffffd800a1e0ffffffffd9158af0ffffffffd9e083e0ffffffffdafea770ffffffffdbc065e0ffffffffdcde89\
70ffffffffdda98260ffffffffdebe6b70ffffffffdf896460ffffffffe09e4d70ffffffffe1694660ffffffffe2\
7e2f70ffffffffe3492860ffffffffe45e1170ffffffffe5572ee0ffffffffe6472df0ffffffffe73710e0ffffff\
ffe8270ff0ffffffffe916f2e0ffffffffea06f1f0ffffffffeaf6d4e0ffffffffebe6d3f0ffffffffecd6b6e0ff\
ffffffedc6b5f0ffffffffeebfd360ffffffffefafd270fffffffff09fb560fffffffff18fb470fffffffff27f97\
60fffffffff36f9670fffffffff45f7960fffffffff54f7870fffffffff63f5b60fffffffff72f5a70fffffffff8\
2877e0fffffffff90f3c70fffffffffa0859e0fffffffffaf858f0fffffffffbe83be0fffffffffcd83af0ffffff\
fffdc81de0fffffffffeb81cf0ffffffffffa7ffe0000000000097fef0000000000187e1e0000000000277e0f000\
0000000370fe60000000000460fd70000000000550e060000000000640df70000000000730c26000000000078d19\
70000000000910a4600000000009ad94f0000000000af08660000000000be08570000000000cd9a2e0000000000d\
c06770000000000eb984e0000000000fa983f000000000109966e000000000118965f000000000127948e0000000\
00136947f00000000014592ae000000000154929f00000000016390ce00000000017290bf0000000001822296000\
0000001908edf0000000001a020b60000000001af20a70000000001be1ed60000000001cd1ec70000000001dc1cf\
60000000001eb1ce70000000001fa1b16000000000207600f00000000021819360000000002255e2f00000000023\
6aafe0000000002435c4f000000000254a91e0000000002615a6f000000000272a73e00000000027fec370000000\
00290a55e00000000029dea570000000002aea37e0000000002bbe8770000000002cd35460000000002d9e697000\
0000002eb33660000000002f7e4b70000000003093186000000000316767f0000000003272fa6000000000334749\
f0000000003452dc600000000035272bf0000000003632be600000000037070df000000000381bdae00000000038\
e6eff00000000039fbbce0000000003ac6d1f0000000003bdb9ee0000000003cafee70000000003dbb80e0000000\
003e8fd070000000003f9b62e000000000406fb2700000000041847f6000000000424f9470000000004364616000\
000000442f767000000000454443600000000045f3a8f00201020102010201020102010201020102010201020102\
01020102010201020102010201020102010201020102010201020304020102010201020102010201020102010201\
02010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201\
02010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201\
0201020102010201020102010201ffffba9e0000ffffc7c00104ffffb9b00008ffffc7c0010cffffc7c001104c4d\
5400454454004553540045575400455054000a455354354544542c4d332e322e302c4d31312e312e300a\
";
}
