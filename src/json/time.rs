//! Timestamp parsing and formatting for log events.
//!
//! Owns the conversion between the many textual and numeric timestamp forms
//! found in security logs and the store's single time representation: `i64`
//! nanoseconds since the Unix epoch, UTC (range 1677-09-21 .. 2262-04-11).
//! It also owns RFC 3339 output (printed by jiff) and the calendar arithmetic parsing
//! needs; the whole-range calendar helpers jiff's printer replaced stay as test models.
//!
//! It must not: allocate or build strings while parsing, use floating point
//! for textual fractions, panic on any input (no indexing past bounds, no
//! `unwrap`, no arithmetic overflow), know about JSON fields or time zones
//! other than fixed numeric offsets.
//!
//! Documented decisions:
//! - Second `60` (leap second) is accepted and counted as `:59` plus one
//!   second, i.e. it lands on second `00` of the next minute.
//! - Fractions may have any number of digits; digits beyond the 9th are
//!   ignored (truncated toward the earlier nanosecond). `,` is accepted as the
//!   decimal separator as well as `.` (Python `logging` writes `12:34:56,789`).
//! - Offset `+01` means `+01:00`; offset hours 00..=23, minutes 00..=59.
//!   A single space before a numeric offset is tolerated in ISO forms.
//! - Missing offset means UTC. `24:00:00` and minute 60 are rejected.
//! - Decimal epoch text uses the same magnitude rule as [`from_epoch_f64`]
//!   but exact integer arithmetic; sub-nanosecond digits are truncated.
//! - Results outside the `i64` nanosecond range are `None`.

use std::fmt::Write as _;

use jiff::fmt::temporal::DateTimePrinter;
use jiff::tz::Offset;
use jiff::Timestamp;

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;
/// Nanoseconds in one minute.
pub const NANOS_PER_MIN: i64 = 60 * NANOS_PER_SEC;
/// Nanoseconds in one hour.
pub const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MIN;
/// Nanoseconds in one day.
pub const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

const SECS_PER_DAY: i64 = 86_400;

const MONTH_NAMES: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Parse a timestamp written as text (surrounding ASCII whitespace trimmed).
///
/// Accepted forms:
/// - RFC 3339 / ISO 8601: `2024-06-09T12:34:56Z`; `T`, `t` or one space
///   between date and time; optional fraction (`.` or `,`, 1+ digits, more
///   than 9 truncated); offset `Z`/`z`, `+01:00`, `-0600`, `+0100`, `+01`, or
///   none (= UTC).
/// - Date only `YYYY-MM-DD` (midnight UTC).
/// - Apache/ModSecurity `13/May/2017:08:39:31 -0400`, also the quirky
///   `--0400` (= `-0400`); month names are English, 3 letters, any case.
/// - Epoch numbers: integers (optional sign, unit by magnitude, see
///   [`from_epoch_int`]) and decimals such as `1520456543.123456` (seconds
///   when the integer part is below 1e11, parsed exactly without floats).
///
/// Returns `None` for anything else, including invalid calendar dates.
pub fn parse_time_str(s: &str) -> Option<i64> {
    let b = s.as_bytes().trim_ascii();
    if b.len() >= 10 && b.get(4) == Some(&b'-') {
        parse_iso(b)
    } else if b.get(2) == Some(&b'/') {
        parse_apache(b)
    } else {
        parse_epoch_text(b)
    }
}

/// Epoch integer with the unit guessed by the magnitude of `|v|`:
/// below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds,
/// otherwise nanoseconds. `None` when the result does not fit `i64` ns.
pub fn from_epoch_int(v: i64) -> Option<i64> {
    v.checked_mul(unit_for(v.unsigned_abs()))
}

/// Unsigned variant of [`from_epoch_int`] (e.g. Cloudflare `EdgeStartTimestamp`
/// in unixnano); values above `i64::MAX` give `None`.
pub fn from_epoch_u64(v: u64) -> Option<i64> {
    i64::try_from(v).ok().and_then(from_epoch_int)
}

/// Epoch float: seconds when `|v| < 1e11` (Zeek `ts`), rounded to the
/// nearest microsecond because f64 carries no nanosecond precision there;
/// otherwise the magnitude rule of [`from_epoch_int`], rounded to the nearest
/// nanosecond. NaN, infinities and out-of-range values give `None`.
pub fn from_epoch_f64(v: f64) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let a = v.abs();
    // (ns per unit, rounding step in ns for the fractional part)
    let (unit, step) = if a < 1e11 {
        (NANOS_PER_SEC, 1_000)
    } else {
        (unit_for(a as u64), 1)
    };
    // Integer and fractional parts separately: `v - trunc(v)` is exact, so
    // integral values (e.g. `1520456543123.0` ms) convert without rounding.
    let whole = f64_to_i64(v.trunc())?;
    let steps = (v - v.trunc()) * (unit / step) as f64;
    let sub = steps.round() as i64 * step; // |steps| <= 1e6: no overflow
    whole.checked_mul(unit)?.checked_add(sub)
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d`
/// (Howard Hinnant's `days_from_civil`). Exact for any year whose result fits
/// `i64`; saturates to `i64::MIN`/`i64::MAX` beyond. `m` must be 1..=12 and
/// `d` 1..=31 for a meaningful result (other values never panic).
#[cfg(test)] // the model of the formatting tests (and of `query::tz`'s)
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil_checked(y, m, d).unwrap_or(if y < 0 { i64::MIN } else { i64::MAX })
}

/// Proleptic Gregorian `(year, month 1..=12, day 1..=31)` of a day count
/// since 1970-01-01 (Howard Hinnant's `civil_from_days`). Total: never
/// overflows for any `i64`.
#[cfg(test)] // the model of the formatting tests (and of `query::tz`'s)
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 (719_468 = 4 * 146_097 + 135_080) without
    // adding to `z` itself, so that `z` near `i64::MAX` cannot overflow.
    let mut era = z.div_euclid(146_097) + 4;
    let mut doe = z.rem_euclid(146_097) + 135_080;
    if doe >= 146_097 {
        doe -= 146_097;
        era += 1;
    }
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// Format as RFC 3339 UTC, e.g. `2024-06-09T12:34:56Z`. A fraction is written
/// only when non-zero, with 3, 6 or 9 digits (`.123Z`, `.123456Z`,
/// `.123456789Z`). Works for the whole `i64` range, including before 1970.
pub fn format_rfc3339(ns: i64) -> String {
    let mut out = String::with_capacity(32);
    push_wall_clock(&mut out, ns, 0);
    out.push('Z');
    out
}

/// The printers of [`push_wall_clock`]: 0, 3, 6 and 9 fraction digits.
const PRINTERS: [DateTimePrinter; 4] = [
    DateTimePrinter::new().precision(Some(0)),
    DateTimePrinter::new().precision(Some(3)),
    DateTimePrinter::new().precision(Some(6)),
    DateTimePrinter::new().precision(Some(9)),
];

/// Append the wall-clock time of the UTC instant `utc_ns` at `offset_secs` east of UTC,
/// `YYYY-MM-DDTHH:MM:SS`, with a fraction of 3, 6 or 9 digits, whichever is exact (none when
/// zero); no offset. Printed by jiff (4x faster than `format!` here; `benches/time.rs`).
/// Offsets beyond jiff's ±25:59:59 are clamped.
pub fn push_wall_clock(out: &mut String, utc_ns: i64, offset_secs: i32) {
    let digits = match utc_ns.rem_euclid(NANOS_PER_SEC) {
        0 => 0,
        f if f % 1_000_000 == 0 => 1,
        f if f % 1_000 == 0 => 2,
        _ => 3,
    };
    let off = Offset::from_seconds(offset_secs.clamp(-93_599, 93_599)).unwrap_or(Offset::UTC);
    // Every i64 of nanoseconds is a jiff timestamp (jiff spans the years -9999 to 9999).
    let Ok(ts) = Timestamp::from_nanosecond(i128::from(utc_ns)) else {
        let _ = write!(out, "{utc_ns}ns");
        return;
    };
    let dt = off.to_datetime(ts);
    if PRINTERS[digits].print_datetime(&dt, &mut *out).is_err() {
        let _ = write!(out, "{utc_ns}ns");
    }
}

/// Split into (days since epoch, nanoseconds within the day), with floor
/// semantics for negative times: the second part is always `0..NANOS_PER_DAY`.
#[cfg(test)] // the model of the formatting tests (and of `query::tz`'s)
pub fn split_day(ns: i64) -> (i64, i64) {
    (ns.div_euclid(NANOS_PER_DAY), ns.rem_euclid(NANOS_PER_DAY))
}

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

/// Nanoseconds per unit for an epoch integer of magnitude `mag`.
fn unit_for(mag: u64) -> i64 {
    if mag < 100_000_000_000 {
        NANOS_PER_SEC
    } else if mag < 100_000_000_000_000 {
        1_000_000
    } else if mag < 100_000_000_000_000_000 {
        1_000
    } else {
        1
    }
}

/// Integral f64 to i64, `None` outside `[-2^63, 2^63)`.
fn f64_to_i64(x: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if (-LIMIT..LIMIT).contains(&x) {
        Some(x as i64)
    } else {
        None
    }
}

fn days_from_civil_checked(y: i64, m: u32, d: u32) -> Option<i64> {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?.checked_add(doe - 719_468)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Validated date to days since epoch.
fn checked_date(y: u32, m: u32, d: u32) -> Option<i64> {
    let y = i64::from(y);
    if d == 0 || d > days_in_month(y, m) {
        return None;
    }
    days_from_civil_checked(y, m, d)
}

/// Combine the parts exactly; `None` when outside the `i64` ns range.
fn assemble(days: i64, secs_of_day: i64, frac_ns: i64, offset_secs: i64) -> Option<i64> {
    let secs = i128::from(days) * i128::from(SECS_PER_DAY) + i128::from(secs_of_day)
        - i128::from(offset_secs);
    let total = secs * i128::from(NANOS_PER_SEC) + i128::from(frac_ns);
    i64::try_from(total).ok()
}

/// Fraction digits to nanoseconds: at least one digit, all digits, the
/// first nine are used and the rest truncated.
fn frac_to_ns(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for i in 0..9 {
        let digit = digits.get(i).map_or(0, |c| i64::from(c - b'0'));
        v = v * 10 + digit;
    }
    Some(v)
}

/// Unsigned decimal integer, at least one digit, `None` on overflow.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        if !c.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

/// A byte cursor over the trimmed input.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cur { b, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.i.checked_add(ahead)?).copied()
    }

    fn done(&self) -> bool {
        self.i >= self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// Exactly `n` ASCII digits (n <= 9).
    fn fixed(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        let v = s.iter().try_fold(0u32, |acc, &c| {
            if !c.is_ascii_digit() {
                return None;
            }
            acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
        })?;
        self.i += n;
        Some(v)
    }

    /// Optional `.`/`,` fraction; returns nanoseconds (0 when absent).
    fn fraction(&mut self) -> Option<i64> {
        if !(self.eat(b'.') || self.eat(b',')) {
            return Some(0);
        }
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        frac_to_ns(self.b.get(start..self.i)?)
    }

    /// `HH:MM:SS[.frac]` -> (seconds of day, fraction ns).
    fn clock(&mut self) -> Option<(i64, i64)> {
        let hh = self.fixed(2)?;
        self.expect(b':')?;
        let mm = self.fixed(2)?;
        self.expect(b':')?;
        let ss = self.fixed(2)?;
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        let frac = self.fraction()?;
        Some((i64::from(hh * 3600 + mm * 60 + ss), frac))
    }

    /// `Z`, `+HH`, `+HH:MM`, `+HHMM` (or `-`) to seconds east of UTC;
    /// end of input means UTC.
    fn offset(&mut self) -> Option<i64> {
        let sign = match self.peek() {
            None => return Some(0),
            Some(b'Z' | b'z') => {
                self.i += 1;
                return Some(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            Some(_) => return None,
        };
        self.i += 1;
        let hh = self.fixed(2)?;
        let colon = self.eat(b':');
        let mm = if colon || self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.fixed(2)?
        } else {
            0
        };
        if hh > 23 || mm > 59 {
            return None;
        }
        Some(sign * i64::from(hh * 3600 + mm * 60))
    }

    /// English 3-letter month abbreviation, any case.
    fn month_name(&mut self) -> Option<u32> {
        let s = self.b.get(self.i..self.i.checked_add(3)?)?;
        let lower = [
            s.first()?.to_ascii_lowercase(),
            s.get(1)?.to_ascii_lowercase(),
            s.get(2)?.to_ascii_lowercase(),
        ];
        let idx = MONTH_NAMES.iter().position(|n| **n == lower)?;
        self.i += 3;
        u32::try_from(idx + 1).ok()
    }
}

/// `YYYY-MM-DD[(T|t| )HH:MM:SS[.frac][offset]]`.
fn parse_iso(b: &[u8]) -> Option<i64> {
    let mut c = Cur::new(b);
    let y = c.fixed(4)?;
    c.expect(b'-')?;
    let m = c.fixed(2)?;
    c.expect(b'-')?;
    let d = c.fixed(2)?;
    let days = checked_date(y, m, d)?;
    if c.done() {
        return assemble(days, 0, 0, 0);
    }
    match c.peek() {
        Some(b'T' | b't' | b' ') => c.i += 1,
        _ => return None,
    }
    let (secs, frac) = c.clock()?;
    if c.peek() == Some(b' ') && matches!(c.peek_at(1), Some(b'+' | b'-')) {
        c.i += 1;
    }
    let off = c.offset()?;
    if !c.done() {
        return None;
    }
    assemble(days, secs, frac, off)
}

/// `DD/Mon/YYYY:HH:MM:SS[.frac][ (+|-|--)HHMM]`.
fn parse_apache(b: &[u8]) -> Option<i64> {
    let mut c = Cur::new(b);
    let d = c.fixed(2)?;
    c.expect(b'/')?;
    let m = c.month_name()?;
    c.expect(b'/')?;
    let y = c.fixed(4)?;
    c.expect(b':')?;
    let days = checked_date(y, m, d)?;
    let (secs, frac) = c.clock()?;
    let off = if c.done() {
        0
    } else {
        c.expect(b' ')?;
        if c.peek() == Some(b'-') && c.peek_at(1) == Some(b'-') {
            c.i += 1; // ModSecurity writes `--0400` for `-0400`
        }
        if c.done() {
            return None;
        }
        c.offset()?
    };
    if !c.done() {
        return None;
    }
    assemble(days, secs, frac, off)
}

/// `[+-]digits[.digits]` epoch text.
fn parse_epoch_text(b: &[u8]) -> Option<i64> {
    let (neg, rest) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, b),
    };
    let mut parts = rest.splitn(2, |&c| c == b'.');
    let mag = parse_u64(parts.next()?)?;
    let Some(frac_digits) = parts.next() else {
        let v = if neg {
            0i64.checked_sub_unsigned(mag)?
        } else {
            i64::try_from(mag).ok()?
        };
        return from_epoch_int(v);
    };
    let f9 = frac_to_ns(frac_digits)?;
    let unit = unit_for(mag);
    let whole = i64::try_from(mag).ok()?.checked_mul(unit)?;
    // f9 < 1e9 and unit <= 1e9: the product fits i64.
    let total = whole.checked_add(f9 * unit / NANOS_PER_SEC)?;
    Some(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {

    /// The arithmetic formatter jiff's printer replaced: the model of the differential test.
    fn naive_format(ns: i64) -> String {
        let (days, rem) = split_day(ns);
        let (y, m, d) = civil_from_days(days);
        let secs = rem / NANOS_PER_SEC;
        let frac = rem % NANOS_PER_SEC;
        let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut out = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
        // Writing to a String cannot fail.
        let _ = match frac {
            0 => Ok(()),
            f if f % 1_000_000 == 0 => write!(out, ".{:03}", f / 1_000_000),
            f if f % 1_000 == 0 => write!(out, ".{:06}", f / 1_000),
            f => write!(out, ".{f:09}"),
        };
        out.push('Z');
        out
    }
    use super::*;

    const S: i64 = NANOS_PER_SEC;

    fn p(s: &str) -> Option<i64> {
        parse_time_str(s)
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    #[test]
    fn constants() {
        assert_eq!(NANOS_PER_MIN, 60 * S);
        assert_eq!(NANOS_PER_HOUR, 3_600 * S);
        assert_eq!(NANOS_PER_DAY, 86_400 * S);
    }

    #[test]
    fn iso_forms() {
        assert_eq!(p("2022-05-10 06:36:57"), Some(1_652_164_617_000_000_000));
        assert_eq!(p("2022-05-10T06:36:57"), Some(1_652_164_617_000_000_000));
        assert_eq!(p("2022-05-10t06:36:57z"), Some(1_652_164_617_000_000_000));
        assert_eq!(p("2019-01-01T00:00:00Z"), Some(1_546_300_800 * S));
        assert_eq!(p("  2019-01-01T00:00:00Z\n"), Some(1_546_300_800 * S));
        assert_eq!(
            p("2015-10-12T14:35:00.031929-0600"),
            Some(1_444_682_100_031_929_000)
        );
        assert_eq!(
            p("2015-10-12T14:35:00.031929-06:00"),
            Some(1_444_682_100_031_929_000)
        );
        assert_eq!(
            p("2015-10-12T14:35:00.031929-06"),
            Some(1_444_682_100_031_929_000)
        );
        assert_eq!(
            p("2018-03-07T22:00:00.123456+0100"),
            Some(1_520_456_400_123_456_000)
        );
        assert_eq!(
            p("2018-03-07T22:00:00.123456+01:00"),
            Some(1_520_456_400_123_456_000)
        );
        assert_eq!(
            p("2018-03-07T22:00:00.123456+01"),
            Some(1_520_456_400_123_456_000)
        );
        assert_eq!(
            p("2018-03-07T22:00:00.000123"),
            Some(1_520_460_000_000_123_000)
        );
        assert_eq!(p("2000-02-29T12:00:00+05:30"), Some(951_805_800 * S));
        assert_eq!(p("2000-02-29 12:00:00 +05:30"), Some(951_805_800 * S));
        assert_eq!(p("2024-06-09T12:34:56-00:00"), p("2024-06-09T12:34:56Z"));
    }

    #[test]
    fn fractions() {
        let base = 1_546_300_800 * S;
        assert_eq!(p("2019-01-01T00:00:00.1Z"), Some(base + 100_000_000));
        assert_eq!(p("2019-01-01T00:00:00,789Z"), Some(base + 789_000_000));
        assert_eq!(
            p("2019-01-01T00:00:00.123456789Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(
            p("2019-01-01T00:00:00.1234567891234Z"),
            Some(base + 123_456_789)
        );
        let long = format!("2019-01-01T00:00:00.{}Z", "9".repeat(200));
        assert_eq!(p(&long), Some(base + 999_999_999));
    }

    #[test]
    fn date_only_and_leap_second() {
        assert_eq!(p("2024-06-09"), Some(1_717_891_200 * S));
        assert_eq!(p("2024-02-29"), Some(1_709_164_800 * S));
        // Leap second: 23:59:60 == 23:59:59 + 1s == next day 00:00:00.
        assert_eq!(p("2016-12-31T23:59:60Z"), p("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn apache_forms() {
        let want = p("2017-05-13T12:39:31Z");
        assert_eq!(want, Some(1_494_679_171 * S));
        assert_eq!(p("13/May/2017:08:39:31 --0400"), want);
        assert_eq!(p("13/May/2017:08:39:31 -0400"), want);
        assert_eq!(p("13/MAY/2017:08:39:31 -04:00"), want);
        assert_eq!(p("13/may/2017:14:39:31 +0200"), want);
        assert_eq!(p("13/May/2017:12:39:31"), want);
        assert_eq!(p("13/May/2017:12:39:31 Z"), want);
        assert_eq!(p("10/Oct/2000:13:55:36 -0700"), Some(971_211_336 * S));
    }

    #[test]
    fn pre_1970() {
        assert_eq!(p("1969-07-20T20:17:40Z"), Some(-14_182_940 * S));
        assert_eq!(p("1900-01-01T00:00:00Z"), Some(-2_208_988_800 * S));
        assert_eq!(p("1969-12-31T23:59:59.999999999Z"), Some(-1));
        assert_eq!(p("1970-01-01T00:00:00+01:00"), Some(-3_600 * S));
        assert_eq!(p("1677-09-21T00:12:43.145224192Z"), Some(i64::MIN));
        assert_eq!(p("2262-04-11T23:47:16.854775807Z"), Some(i64::MAX));
        assert_eq!(p("1677-09-21T00:12:43.145224191Z"), None);
        assert_eq!(p("2262-04-11T23:47:16.854775808Z"), None);
        assert_eq!(p("0001-01-01"), None);
        assert_eq!(p("9999-12-31T23:59:59Z"), None);
    }

    #[test]
    fn epoch_ints() {
        assert_eq!(from_epoch_int(1_520_456_543), Some(1_520_456_543 * S));
        assert_eq!(
            from_epoch_int(1_520_456_543_123),
            Some(1_520_456_543_123_000_000)
        );
        assert_eq!(
            from_epoch_int(1_520_456_543_123_456),
            Some(1_520_456_543_123_456_000)
        );
        assert_eq!(
            from_epoch_int(1_718_000_000_123_456_789),
            Some(1_718_000_000_123_456_789)
        );
        assert_eq!(
            from_epoch_u64(1_718_000_000_123_456_789),
            Some(1_718_000_000_123_456_789)
        );
        assert_eq!(from_epoch_int(0), Some(0));
        assert_eq!(from_epoch_int(-86_400), Some(-NANOS_PER_DAY));
        assert_eq!(from_epoch_int(-1_000), Some(-1_000 * S));
        assert_eq!(from_epoch_int(99_999_999_999), None); // seconds beyond 2262
        assert_eq!(from_epoch_int(i64::MIN), Some(i64::MIN));
        assert_eq!(from_epoch_int(i64::MAX), Some(i64::MAX));
        assert_eq!(from_epoch_u64(u64::MAX), None);
        assert_eq!(from_epoch_u64(1 << 63), None);
    }

    #[test]
    fn epoch_text() {
        assert_eq!(p("1520456543"), Some(1_520_456_543 * S));
        assert_eq!(p("+1520456543"), Some(1_520_456_543 * S));
        assert_eq!(p("-1520456543"), Some(-1_520_456_543 * S));
        assert_eq!(p("1520456543123"), Some(1_520_456_543_123_000_000));
        assert_eq!(p("1520456543123456"), Some(1_520_456_543_123_456_000));
        assert_eq!(p("1718000000123456789"), Some(1_718_000_000_123_456_789));
        assert_eq!(p("1520456543.123456"), Some(1_520_456_543_123_456_000));
        assert_eq!(p("1520456543.1234567891"), Some(1_520_456_543_123_456_789));
        assert_eq!(p("-1.5"), Some(-1_500_000_000));
        assert_eq!(p("1520456543123.456"), Some(1_520_456_543_123_456_000));
        assert_eq!(p("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(p("9223372036854775808"), None);
    }

    #[test]
    fn epoch_floats() {
        assert_eq!(
            from_epoch_f64(1_520_456_543.123_456),
            Some(1_520_456_543_123_456_000)
        );
        assert_eq!(from_epoch_f64(0.0), Some(0));
        assert_eq!(from_epoch_f64(-1.5), Some(-1_500_000_000));
        assert_eq!(
            from_epoch_f64(1_520_456_543_123.0),
            Some(1_520_456_543_123_000_000)
        );
        assert_eq!(
            from_epoch_f64(1_520_456_543_123.5),
            Some(1_520_456_543_123_500_000)
        );
        assert_eq!(
            from_epoch_f64(1_520_456_543.123_456_7),
            Some(1_520_456_543_123_457_000)
        );
        assert_eq!(from_epoch_f64(-0.000_000_4), Some(0));
        assert_eq!(
            from_epoch_f64(1_520_456_543_123_456.0),
            Some(1_520_456_543_123_456_000)
        );
        assert_eq!(from_epoch_f64(1.5e18), Some(1_500_000_000_000_000_000));
        assert_eq!(from_epoch_f64(f64::NAN), None);
        assert_eq!(from_epoch_f64(f64::INFINITY), None);
        assert_eq!(from_epoch_f64(f64::NEG_INFINITY), None);
        assert_eq!(from_epoch_f64(1e19), None);
        assert_eq!(from_epoch_f64(-1e19), None);
        assert_eq!(from_epoch_f64(9.9e10), None);
        assert_eq!(from_epoch_f64(f64::MAX), None);
    }

    #[test]
    fn rejections() {
        let bad = [
            "",
            "   ",
            "garbage",
            "2024-13-01",
            "2024-00-10",
            "2024-02-30",
            "2023-02-29",
            "2024-06-00",
            "2024-06-31",
            "25:00:00",
            "2024-06-09T24:00:00Z",
            "2024-06-09T12:60:00Z",
            "2024-06-09T12:00:61Z",
            "2024-06-09T12:34:56Zjunk",
            "2024-06-09T12:34:56 junk",
            "2024-06-09x",
            "2024-06-09T12:34",
            "2024-06-09T1:2:3",
            "2024-06-09T12:34:56.",
            "2024-06-09T12:34:56.Z",
            "2024-06-09T12:34:56+1",
            "2024-06-09T12:34:56+24:00",
            "2024-06-09T12:34:56+01:60",
            "2024-06-09T12:34:56+01:",
            "2024-06-09T12:34:56 Z",
            "2024-06-09  12:34:56",
            "24-06-09",
            "2024/06/09",
            "13/Foo/2017:08:39:31 -0400",
            "13/May/2017:08:39:31 ---0400",
            "13/May/2017:08:39:31 \u{0}",
            "13/May/2017 08:39:31",
            "32/May/2017:08:39:31",
            "13/May/2017:08:39:31 -0400x",
            "1520456543.",
            ".5",
            "-",
            "+",
            "1e9",
            "12 34",
            "0x1F",
            "1520456543.12a",
            "１２３",
        ];
        for s in bad {
            assert_eq!(p(s), None, "{s:?} should be rejected");
        }
        assert_eq!(p(&"9".repeat(200)), None);
        assert_eq!(p(&format!("-{}", "9".repeat(200))), None);
        assert_eq!(p(&format!("{}.5", "9".repeat(200))), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_546_300_800 * S), "2019-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(1_546_300_800 * S + 120_000_000),
            "2019-01-01T00:00:00.120Z"
        );
        assert_eq!(
            format_rfc3339(1_546_300_800 * S + 123_456_000),
            "2019-01-01T00:00:00.123456Z"
        );
        assert_eq!(
            format_rfc3339(1_546_300_800 * S + 1),
            "2019-01-01T00:00:00.000000001Z"
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_rfc3339(-14_182_940 * S), "1969-07-20T20:17:40Z");
        assert_eq!(format_rfc3339(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_rfc3339(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn round_trips() {
        let fixed = [
            0,
            1,
            -1,
            999,
            -999_999_999,
            S,
            -S,
            NANOS_PER_DAY - 1,
            -NANOS_PER_DAY,
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let random = (0..200_000).map(|i| {
            let r = rng.next() as i64;
            // Mix full-range values with ones rounded to ms/us precision.
            match i % 3 {
                0 => r,
                1 => r / 1_000_000 * 1_000_000,
                _ => r / 1_000 * 1_000,
            }
        });
        for ns in fixed.into_iter().chain([i64::MIN, i64::MAX]).chain(random) {
            let s = format_rfc3339(ns);
            assert_eq!(p(&s), Some(ns), "{s}");
            assert_eq!(s, naive_format(ns));
        }
    }

    #[test]
    fn split_day_floor() {
        assert_eq!(split_day(0), (0, 0));
        assert_eq!(split_day(-1), (-1, NANOS_PER_DAY - 1));
        assert_eq!(split_day(NANOS_PER_DAY), (1, 0));
        assert_eq!(split_day(-NANOS_PER_DAY), (-1, 0));
        let (d, r) = split_day(i64::MIN);
        assert!((0..NANOS_PER_DAY).contains(&r));
        assert_eq!(
            i128::from(d) * i128::from(NANOS_PER_DAY) + i128::from(r),
            i128::from(i64::MIN)
        );
    }

    #[test]
    fn civil_helpers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(days_from_civil(-1, 12, 31), -719_529);
        // Every day from -9999-01-01 to 9999-12-31 advances the date by one.
        let start = days_from_civil(-9999, 1, 1);
        let end = days_from_civil(9999, 12, 31);
        let mut prev = civil_from_days(start);
        assert_eq!(prev, (-9999, 1, 1));
        for z in start + 1..=end {
            let cur = civil_from_days(z);
            let (y, m, d) = prev;
            let expect = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            assert_eq!(cur, expect);
            assert_eq!(days_from_civil(cur.0, cur.1, cur.2), z);
            prev = cur;
        }
        assert_eq!(prev, (9999, 12, 31));
    }

    #[test]
    fn civil_extremes_do_not_panic() {
        for z in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 719_468] {
            let (_, m, d) = civil_from_days(z);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
        }
        assert_eq!(days_from_civil(i64::MAX, 12, 31), i64::MAX);
        assert_eq!(days_from_civil(i64::MIN, 1, 1), i64::MIN);
        assert_eq!(days_from_civil(i64::MIN, 12, 31), i64::MIN);
        let _ = days_from_civil(2024, 0, 0);
        let _ = days_from_civil(2024, u32::MAX, u32::MAX);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        let alphabet = b"0123456789-+:./,TZtz WMay\t\xff\xc3";
        for _ in 0..200_000 {
            let len = (rng.next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    if r.is_multiple_of(4) {
                        r as u8 >> 1
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            let _ = p(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn mutated_valid_inputs_never_panic() {
        let seeds = [
            "2015-10-12T14:35:00.031929-0600",
            "13/May/2017:08:39:31 --0400",
            "1520456543.123456",
            "2024-06-09",
            "-1718000000123456789",
        ];
        let mut rng = XorShift(42);
        for i in 0..200_000 {
            let mut bytes = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..=(rng.next() % 3) {
                let r = rng.next();
                let pos = (r as usize >> 8) % (bytes.len() + 1);
                match r % 3 {
                    0 if pos < bytes.len() => bytes[pos] = (r >> 32) as u8,
                    1 if pos < bytes.len() => {
                        bytes.remove(pos);
                    }
                    _ => bytes.insert(pos, b"09:-+.Z "[(r >> 40) as usize % 8]),
                }
            }
            let _ = p(&String::from_utf8_lossy(&bytes));
        }
    }
}
