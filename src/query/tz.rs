//! Named and fixed time zones for local-time buckets (`--tz Europe/Berlin`).
//!
//! Owns: decoding TZif data (RFC 8536, versions 1 to 4), POSIX TZ rule
//! strings (the TZif footer), the UTC offset in force at an instant, bucket
//! alignment in local time, local RFC 3339 formatting, local hour of day and
//! weekday, and the proleptic Gregorian civil-date arithmetic behind them.
//!
//! It must not: read files or the environment (the caller reads
//! `/usr/share/zoneinfo/NAME` and passes the bytes), panic or overflow on any
//! input (malformed TZif bytes, any `i64` instant, any width), or know about
//! columns, events or the CLI.
//!
//! Documented decisions:
//! - Instants are `i64` UTC seconds ([`Tz::offset_at`]) or nanoseconds (the
//!   free functions); offsets are seconds east of UTC.
//! - TZif: for version 2 and later only the 64-bit block and the footer are
//!   used; version bytes above `4` are read like version 4. Before the first
//!   transition time type 0 applies. After the last transition the footer
//!   rule applies (for all instants if there are no transitions); with an
//!   empty footer (or version 1) the last transition's type stays in force.
//!   Leap-second records and the std/wall and UT/local indicators are
//!   ignored (so `right/` zones are off by the leap seconds). Transitions
//!   must be strictly ascending; offsets outside ±93599 s are rejected.
//! - POSIX rules accept the version 3 extensions (rule times -167..=167 h).
//!   A DST name without a rule uses the US rule `M3.2.0,M11.1.0` (as glibc).
//!   Rule evaluation clamps instants to ±2^50 s (about ±35 million years).
//! - `from_tzif` expands the footer rule into the transition table up to
//!   2263 (and from 1677 for rule-only files), so every lookup within the
//!   `i64` nanosecond range is a binary search (~15 ns); building costs a
//!   few hundred entries per zone, so build a `Tz` once and share it.
//! - Buckets: widths that are whole days align to local midnight (counting
//!   days from 1970-01-01, or from Monday 1970-01-05 when the width is whole
//!   weeks); a day bucket then spans the real local day (23 or 25 h). Other
//!   widths align the local wall clock to the local epoch; when the aligned
//!   wall time does not exist in the current offset (a DST change inside the
//!   bucket), the bucket starts at that change instead. A local midnight
//!   that occurs twice resolves to the earlier instant, one skipped by a DST
//!   gap to the end of the gap. Widths <= 0 return the instant unchanged.
//! - Formatting: `Z` only for the UTC zone ([`Tz::utc`], `UTC`/`Z` in
//!   [`Tz::parse_fixed`]); other zones print `±HH:MM` (`+00:00` too), with
//!   `:SS` added for historic offsets that have seconds. Fractions print as
//!   3, 6 or 9 digits, whichever is exact.

use std::fmt;

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = SECS_PER_DAY * NANOS_PER_SEC;
/// Largest accepted UTC offset magnitude (RFC 8536 suggests -89999..=93599).
const MAX_OFFSET: i32 = 93_599;
/// Rule evaluation clamps instants to this magnitude (seconds).
const MAX_RULE_SECS: i64 = 1 << 50;
/// Rule transitions are precomputed into the table between these instants
/// (1677-01-01 and 2263-01-01 UTC), which bound `i64` nanoseconds.
const RULE_TABLE_START: i64 = -9_246_096_000;
const RULE_TABLE_END: i64 = 9_246_182_400;
/// Day number of Monday 1970-01-05, the origin of whole-week buckets.
const MONDAY_ORIGIN: i64 = 4;

/// A malformed TZif file or POSIX TZ string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TzError(pub String);

impl fmt::Display for TzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TzError {}

fn err<T>(msg: impl Into<String>) -> Result<T, TzError> {
    Err(TzError(msg.into()))
}

/// A time zone: a table of offset changes plus an optional rule for later
/// instants.
#[derive(Clone, Debug)]
pub struct Tz {
    name: String,
    /// Offset before the first transition.
    initial: i32,
    /// UTC seconds at which the offset changes, strictly ascending; only
    /// real changes are kept.
    trans: Vec<i64>,
    /// `offsets[i]` is in force from `trans[i]` on.
    offsets: Vec<i32>,
    /// The rule governs instants `< rule_lo` or `> rule_hi`; in between,
    /// its transitions are precomputed into `trans`.
    rule_lo: i64,
    rule_hi: i64,
    rule: Option<Rule>,
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
            rule_lo: i64::MIN,
            rule_hi: i64::MAX,
            rule: None,
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

    /// Decode TZif bytes (RFC 8536, versions 1-4).
    pub fn from_tzif(name: &str, data: &[u8]) -> Result<Tz, TzError> {
        let mut r = Reader { data, pos: 0 };
        let h1 = Header::read(&mut r)?;
        let (block, footer) = if h1.version >= 2 {
            r.take(h1.block_len(4)?)?;
            let h2 = Header::read(&mut r)?;
            let block = Block::read(&mut r, &h2, 8)?;
            (block, read_footer(&mut r)?)
        } else {
            (Block::read(&mut r, &h1, 4)?, String::new())
        };
        let rule = if footer.is_empty() {
            None
        } else {
            Some(parse_rule(&footer)?)
        };
        Ok(block.into_tz(name, rule))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the zone is UTC at every instant (no transitions, offset 0).
    pub fn is_fixed_utc(&self) -> bool {
        self.initial == 0 && self.trans.is_empty() && self.rule.is_none()
    }

    /// UTC offset in seconds in force at the UTC instant `utc_secs`.
    pub fn offset_at(&self, utc_secs: i64) -> i32 {
        if let Some(rule) = self.rule_at(utc_secs) {
            return rule.offset_at(utc_secs);
        }
        match self.trans.partition_point(|&t| t <= utc_secs) {
            0 => self.initial,
            i => self.offsets.get(i - 1).copied().unwrap_or(self.initial),
        }
    }

    /// The footer rule, if it governs `t`.
    fn rule_at(&self, t: i64) -> Option<&Rule> {
        let outside = t < self.rule_lo || t > self.rule_hi;
        self.rule.as_ref().filter(|_| outside)
    }

    /// The latest table transition at or before `t`.
    fn table_change(&self, t: i64) -> Option<i64> {
        match self.trans.partition_point(|&x| x <= t) {
            0 => None,
            i => self.trans.get(i - 1).copied(),
        }
    }

    /// The latest instant `<= t` at which the offset changes, if known.
    fn prev_change(&self, t: i64) -> Option<i64> {
        let table = self.table_change(t);
        let Some(rule) = &self.rule else {
            return table;
        };
        let from_rule = || rule.last_event(t).map(|(at, _)| at);
        if t > self.rule_hi {
            return table.max(from_rule().filter(|&at| at > self.rule_hi));
        }
        let rule_only = self.rule_lo > i64::MIN;
        if t < self.rule_lo || (table.is_none() && rule_only) {
            return from_rule();
        }
        table
    }

    /// Append the rule's offset changes in `(from, RULE_TABLE_END]` to the
    /// table, so that lookups in the `i64` nanosecond range are table
    /// lookups; the rule then governs only `t > RULE_TABLE_END`.
    fn precompute_rule(&mut self, from: i64) {
        let Some(rule) = self.rule.clone() else {
            return;
        };
        let end = RULE_TABLE_END.max(from);
        let mut cur = self.offset_at(from);
        let first = from.saturating_add(1);
        let changes = rule.offsets_between(from, end);
        for (at, off) in std::iter::once((first, rule.offset_at(first))).chain(changes) {
            if off != cur {
                self.trans.push(at);
                self.offsets.push(off);
                cur = off;
            }
        }
        self.rule_hi = end;
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

// ---------------------------------------------------------------- TZif ----

/// Bounds-checked big-endian cursor over TZif bytes.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TzError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end.and_then(|e| self.data.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => err(format!(
                "TZif data truncated: need {n} bytes at offset {}, have {}",
                self.pos,
                self.data.len().saturating_sub(self.pos)
            )),
        }
    }

    fn u32(&mut self) -> Result<u32, TzError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Big-endian signed integer of 4 or 8 bytes.
fn be_i64(b: &[u8]) -> i64 {
    match b {
        [a, b, c, d] => i64::from(i32::from_be_bytes([*a, *b, *c, *d])),
        _ => b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)) as i64,
    }
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(r: &mut Reader<'_>) -> Result<Header, TzError> {
        if r.take(4)? != b"TZif" {
            return err("not a TZif file (bad magic)");
        }
        let version = match r.take(1)?.first().copied() {
            Some(0) => 1,
            Some(v @ b'2'..=b'9') => v - b'0',
            Some(v) => return err(format!("unsupported TZif version byte 0x{v:02x}")),
            None => return err("TZif header truncated"),
        };
        r.take(15)?;
        let mut counts = [0usize; 6];
        for c in &mut counts {
            *c = r.u32()? as usize;
        }
        let [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = counts;
        if typecnt == 0 {
            return err("TZif header has no local time types");
        }
        Ok(Header {
            version,
            isutcnt,
            isstdcnt,
            leapcnt,
            timecnt,
            typecnt,
            charcnt,
        })
    }

    /// Length of the data block that follows, with `tsize`-byte times.
    fn block_len(&self, tsize: usize) -> Result<usize, TzError> {
        let parts = [
            self.timecnt.checked_mul(tsize + 1),
            self.typecnt.checked_mul(6),
            Some(self.charcnt),
            self.leapcnt.checked_mul(tsize + 4),
            Some(self.isstdcnt),
            Some(self.isutcnt),
        ];
        parts
            .iter()
            .try_fold(0usize, |acc, p| acc.checked_add((*p)?))
            .map_or_else(|| err("TZif counts overflow"), Ok)
    }
}

/// The parts of a data block that matter: transitions and type offsets.
struct Block {
    times: Vec<i64>,
    type_idx: Vec<u8>,
    utoffs: Vec<i32>,
}

impl Block {
    fn read(r: &mut Reader<'_>, h: &Header, tsize: usize) -> Result<Block, TzError> {
        let mut b = Reader {
            data: r.take(h.block_len(tsize)?)?,
            pos: 0,
        };
        let times: Vec<i64> = b
            .take(h.timecnt * tsize)?
            .chunks_exact(tsize)
            .map(be_i64)
            .collect();
        let type_idx = b.take(h.timecnt)?.to_vec();
        let utoffs: Vec<i32> = b
            .take(h.typecnt * 6)?
            .chunks_exact(6)
            .map(|t| i32::from_be_bytes([t[0], t[1], t[2], t[3]]))
            .collect();
        let block = Block {
            times,
            type_idx,
            utoffs,
        };
        block.validate()?;
        Ok(block)
    }

    fn validate(&self) -> Result<(), TzError> {
        if let Some(w) = self.times.windows(2).find(|w| w[0] >= w[1]) {
            return err(format!(
                "TZif transitions not ascending ({} then {})",
                w[0], w[1]
            ));
        }
        if let Some(&i) = self
            .type_idx
            .iter()
            .find(|&&i| usize::from(i) >= self.utoffs.len())
        {
            return err(format!("TZif transition uses undefined type {i}"));
        }
        if let Some(o) = self
            .utoffs
            .iter()
            .find(|o| o.unsigned_abs() > MAX_OFFSET as u32)
        {
            return err(format!("TZif UTC offset {o} out of range"));
        }
        Ok(())
    }

    fn into_tz(self, name: &str, rule: Option<Rule>) -> Tz {
        let initial = self.utoffs.first().copied().unwrap_or(0);
        let mut tz = Tz::constant(name.to_string(), initial);
        let mut cur = initial;
        for (&t, &i) in self.times.iter().zip(&self.type_idx) {
            let off = self.utoffs.get(usize::from(i)).copied().unwrap_or(cur);
            if off != cur {
                tz.trans.push(t);
                tz.offsets.push(off);
                cur = off;
            }
        }
        let Some(rule) = rule else {
            return tz;
        };
        // With transitions, type 0 stays in force before the first one; with
        // none, the rule governs everything (precomputed from 1677 on).
        let last = self.times.last().copied();
        let from = last.unwrap_or(RULE_TABLE_START);
        if last.is_none() {
            tz.initial = rule.offset_at(from);
            tz.rule_lo = from;
        }
        tz.rule_hi = from;
        tz.rule = Some(rule);
        tz.precompute_rule(from);
        tz
    }
}

/// The footer of a v2+ file: `\n` TZ-string `\n`.
fn read_footer(r: &mut Reader<'_>) -> Result<String, TzError> {
    let rest = r.data.get(r.pos..).unwrap_or_default();
    let Some(body) = rest.strip_prefix(b"\n") else {
        return err("TZif footer missing");
    };
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return err("TZif footer not terminated");
    };
    match std::str::from_utf8(&body[..end]) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => err("TZif footer is not UTF-8"),
    }
}

// ------------------------------------------------------ POSIX TZ rules ----

/// A POSIX TZ rule such as `CET-1CEST,M3.5.0,M10.5.0/3`; offsets east of UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    std: i32,
    dst: Option<Dst>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dst {
    off: i32,
    start: DateRule,
    /// Local time of day (standard time) at which DST starts, seconds.
    start_time: i32,
    end: DateRule,
    /// Local time of day (DST) at which DST ends, seconds.
    end_time: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DateRule {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian(u16),
    /// `n`: zero-based day 0..=365, February 29 counted.
    ZeroBased(u16),
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Month { month: u32, week: u32, wday: u32 },
}

const US_START: DateRule = DateRule::Month {
    month: 3,
    week: 2,
    wday: 0,
};
const US_END: DateRule = DateRule::Month {
    month: 11,
    week: 1,
    wday: 0,
};

/// Parse a POSIX TZ string (TZif footer syntax, version 3 extensions).
fn parse_rule(s: &str) -> Result<Rule, TzError> {
    let mut p = RuleParser {
        s: s.as_bytes(),
        i: 0,
    };
    p.rule()
        .map_err(|e| TzError(format!("bad TZ rule {s:?}: {}", e.0)))
}

struct RuleParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl RuleParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn rule(&mut self) -> Result<Rule, TzError> {
        self.name()?;
        let std = -self.hms(24)?;
        if self.peek().is_none() {
            return Ok(Rule { std, dst: None });
        }
        self.name()?;
        let off = match self.peek() {
            Some(b'+' | b'-' | b'0'..=b'9') => -self.hms(24)?,
            _ => std + 3600,
        };
        let dst = if self.peek().is_none() {
            Dst {
                off,
                start: US_START,
                start_time: 7200,
                end: US_END,
                end_time: 7200,
            }
        } else {
            self.transitions(off)?
        };
        Ok(Rule {
            std,
            dst: Some(dst),
        })
    }

    fn transitions(&mut self, off: i32) -> Result<Dst, TzError> {
        let (start, start_time) = self.date_time()?;
        let (end, end_time) = self.date_time()?;
        match self.peek() {
            None => Ok(Dst {
                off,
                start,
                start_time,
                end,
                end_time,
            }),
            Some(_) => err(format!("unexpected text at byte {}", self.i)),
        }
    }

    /// `,date[/time]`
    fn date_time(&mut self) -> Result<(DateRule, i32), TzError> {
        if !self.eat(b',') {
            return err(format!("expected ',' at byte {}", self.i));
        }
        let date = self.date()?;
        let time = if self.eat(b'/') { self.hms(167)? } else { 7200 };
        Ok((date, time))
    }

    /// A zone abbreviation of at least 3 characters: letters, or `<...>`
    /// of letters, digits, `+` and `-`.
    fn name(&mut self) -> Result<(), TzError> {
        let start = self.i;
        let quoted = self.eat(b'<');
        let ok = |c: u8| {
            c.is_ascii_alphabetic() || (quoted && (c.is_ascii_digit() || c == b'+' || c == b'-'))
        };
        while matches!(self.peek(), Some(c) if ok(c)) {
            self.i += 1;
        }
        let len = self.i - start - usize::from(quoted);
        if len < 3 || (quoted && !self.eat(b'>')) {
            return err(format!("bad zone name at byte {start}"));
        }
        Ok(())
    }

    /// `[+-]h[h[h]][:mm[:ss]]` in seconds, hours at most `max_h`.
    fn hms(&mut self, max_h: u32) -> Result<i32, TzError> {
        let neg = self.eat(b'-');
        if !neg {
            self.eat(b'+');
        }
        let h = self.number(3, max_h)?;
        let (mut m, mut s) = (0, 0);
        if self.eat(b':') {
            m = self.number(2, 59)?;
            if self.eat(b':') {
                s = self.number(2, 59)?;
            }
        }
        let secs = (h * 3600 + m * 60 + s) as i32;
        Ok(if neg { -secs } else { secs })
    }

    /// 1 to `max_digits` decimal digits, value at most `max`.
    fn number(&mut self, max_digits: usize, max: u32) -> Result<u32, TzError> {
        let start = self.i;
        let mut v = 0u32;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if self.i - start == max_digits {
                return err(format!("number too long at byte {start}"));
            }
            v = v * 10 + u32::from(c - b'0');
            self.i += 1;
        }
        if self.i == start {
            return err(format!("expected a number at byte {start}"));
        }
        if v > max {
            return err(format!("number {v} out of range at byte {start}"));
        }
        Ok(v)
    }

    fn date(&mut self) -> Result<DateRule, TzError> {
        if self.eat(b'J') {
            let n = self.number(3, 365)?;
            if n == 0 {
                return err("J0 is not a day");
            }
            return Ok(DateRule::Julian(n as u16));
        }
        if self.eat(b'M') {
            let month = self.number(2, 12)?;
            let week = self.dot_number(5)?;
            let wday = self.dot_number(6)?;
            if month == 0 || week == 0 {
                return err("month and week start at 1");
            }
            return Ok(DateRule::Month { month, week, wday });
        }
        Ok(DateRule::ZeroBased(self.number(3, 365)? as u16))
    }

    fn dot_number(&mut self, max: u32) -> Result<u32, TzError> {
        if !self.eat(b'.') {
            return err(format!("expected '.' at byte {}", self.i));
        }
        self.number(1, max)
    }
}

impl Rule {
    fn offset_at(&self, t: i64) -> i32 {
        match (&self.dst, self.last_event(t)) {
            (Some(d), Some((_, true))) => d.off,
            _ => self.std,
        }
    }

    /// The latest DST start (`true`) or end (`false`) at or before `t`; on
    /// a tie the start wins (year-round DST).
    fn last_event(&self, t: i64) -> Option<(i64, bool)> {
        let d = self.dst.as_ref()?;
        let t = t.clamp(-MAX_RULE_SECS, MAX_RULE_SECS);
        let local_day = (t + i64::from(self.std)).div_euclid(SECS_PER_DAY);
        let year = civil_from_days(local_day).0;
        let mut best: Option<(i64, bool)> = None;
        for y in year - 2..=year + 1 {
            for ev in self.events(d, y) {
                let better = best.is_none_or(|b| ev.0 > b.0 || (ev.0 == b.0 && ev.1));
                if ev.0 <= t && better {
                    best = Some(ev);
                }
            }
        }
        best
    }

    /// The offset from each DST start or end instant in `(from, to]` on,
    /// ascending; of simultaneous events the start wins.
    fn offsets_between(&self, from: i64, to: i64) -> Vec<(i64, i32)> {
        let Some(d) = &self.dst else {
            return Vec::new();
        };
        let (from, to) = (from.max(-MAX_RULE_SECS), to.min(MAX_RULE_SECS));
        let year = |t: i64| civil_from_days(t.div_euclid(SECS_PER_DAY)).0;
        let mut events: Vec<(i64, bool)> = (year(from) - 1..=year(to) + 1)
            .flat_map(|y| self.events(d, y))
            .filter(|&(at, _)| at > from && at <= to)
            .collect();
        events.sort_unstable();
        let mut out: Vec<(i64, i32)> = Vec::with_capacity(events.len());
        for (at, is_dst) in events {
            let off = if is_dst { d.off } else { self.std };
            match out.last_mut() {
                Some(last) if last.0 == at => last.1 = off,
                _ => out.push((at, off)),
            }
        }
        out
    }

    /// DST start and end instants (UTC seconds) of `year`.
    fn events(&self, d: &Dst, year: i64) -> [(i64, bool); 2] {
        let start =
            d.start.day(year) * SECS_PER_DAY + i64::from(d.start_time) - i64::from(self.std);
        let end = d.end.day(year) * SECS_PER_DAY + i64::from(d.end_time) - i64::from(d.off);
        [(start, true), (end, false)]
    }
}

impl DateRule {
    /// Day number (days since 1970-01-01) of this date in `year`.
    fn day(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        match self {
            DateRule::Julian(n) => {
                let leap_shift = i64::from(is_leap(year) && n >= 60);
                jan1 + i64::from(n) - 1 + leap_shift
            }
            DateRule::ZeroBased(n) => jan1 + i64::from(n),
            DateRule::Month { month, week, wday } => nth_weekday(year, month, week, wday),
        }
    }
}

/// Day number of weekday `wday` (0 = Sunday) in week `week` (5 = last) of
/// `month` in `year`.
fn nth_weekday(year: i64, month: u32, week: u32, wday: u32) -> i64 {
    let first = days_from_civil(year, month, 1);
    let first_wday = (first + 4).rem_euclid(7);
    let mut dom = 1 + (i64::from(wday) - first_wday).rem_euclid(7) + 7 * (i64::from(week) - 1);
    while dom > i64::from(days_in_month(year, month)) {
        dom -= 7;
    }
    first + dom - 1
}

// ------------------------------------------------------ civil calendar ----

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date (Hinnant).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number (Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
    let (local, off) = local_secs(utc_ns, tz);
    let (y, m, d) = civil_from_days(local.div_euclid(SECS_PER_DAY));
    let sod = local.rem_euclid(SECS_PER_DAY);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    push_fraction(&mut s, utc_ns.rem_euclid(NANOS_PER_SEC));
    if tz.zulu && off == 0 {
        s.push('Z');
    } else {
        s.push_str(&format_offset(off));
    }
    s
}

/// `.mmm`, `.uuuuuu` or `.nnnnnnnnn`, whichever is exact; nothing for zero.
fn push_fraction(s: &mut String, nanos: i64) {
    if nanos == 0 {
        return;
    }
    let frac = if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    s.push_str(&frac);
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

    fn rule(s: &str) -> Rule {
        parse_rule(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A synthetic TZif file. `version` 1 writes only the 32-bit block; 2+
    /// write a slim v1 block, the 64-bit block (with one leap record and
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
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        for z in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(nth_weekday(2024, 3, 5, 0), days_from_civil(2024, 3, 31));
        assert_eq!(nth_weekday(2024, 11, 1, 0), days_from_civil(2024, 11, 3));
        assert_eq!(nth_weekday(2100, 3, 2, 0), days_from_civil(2100, 3, 14));
    }

    #[test]
    fn posix_rule_parser() {
        let cet = rule("CET-1CEST,M3.5.0,M10.5.0/3");
        let month = |month, week, wday| DateRule::Month { month, week, wday };
        assert_eq!(
            cet,
            Rule {
                std: 3600,
                dst: Some(Dst {
                    off: 7200,
                    start: month(3, 5, 0),
                    start_time: 7200,
                    end: month(10, 5, 0),
                    end_time: 10800,
                }),
            }
        );
        assert_eq!(rule("EST5EDT"), rule("EST5EDT,M3.2.0/2,M11.1.0/02:00:00"));
        assert_eq!(rule("EST5EDT,M3.2.0,M11.1.0").std, -5 * 3600);
        assert_eq!(
            rule("<+0330>-3:30"),
            Rule {
                std: 12_600,
                dst: None
            }
        );
        assert_eq!(rule("UTC0"), Rule { std: 0, dst: None });
        assert_eq!(rule("<-03>3").std, -3 * 3600);
        assert_eq!(rule("XXX+1:02:03").std, -3723);
        let lh = rule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
        assert_eq!((lh.std, lh.dst.map(|d| d.off)), (37_800, Some(39_600)));
        let j = rule("AAA3BBB2,J60/0,300/-1").dst.expect("dst");
        assert_eq!((j.start, j.start_time), (DateRule::Julian(60), 0));
        assert_eq!(
            (j.end, j.end_time, j.off),
            (DateRule::ZeroBased(300), -3600, -2 * 3600)
        );
        let v3 = rule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0").dst.expect("dst");
        assert_eq!(v3.start_time, -3600);
        assert_eq!(
            rule("EST5EDT,0/0,J365/25").dst.map(|d| d.end_time),
            Some(25 * 3600)
        );
        assert_eq!(
            rule("XXX0YYY,M1.1.1/167,M12.5.6/-167:59:59")
                .dst
                .map(|d| d.end_time),
            Some(-604_799)
        );
        for bad in [
            "",
            "EST",
            "E5",
            "ES5",
            "5",
            "<+1>1",
            "<+05",
            "EST5EDT,M13.1.0,M11.1.0",
            "EST5EDT,M3.2.0",
            "EST5EDT,M3.2.0,M11.1.0x",
            "EST25",
            "EST5EDT,M3.2.0/168,M11.1.0",
            "EST5EDT,M3.0.0,M11.1.0",
            "EST5EDT,M3.6.0,M11.1.0",
            "EST5EDT,M3.2.7,M11.1.0",
            "EST5EDT,J0,J365",
            "EST5EDT,366,J1",
            "EST5:60",
            "EST5EDT,M3.2.0,M11.1.0/1:2:3:4",
            "EST5EDT,M3.2.0,,M11.1.0",
            "EST 5",
            "EST5EDT4,",
            "EST0001",
        ] {
            assert!(parse_rule(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn precomputed_rule_table_matches_rule() {
        assert_eq!(RULE_TABLE_START, at(1677, 1, 1, 0, 0, 0));
        assert_eq!(RULE_TABLE_END, at(2263, 1, 1, 0, 0, 0));
        let ny = new_york();
        let us = rule("EST5EDT,M3.2.0,M11.1.0");
        let only = tzif(
            "rule-only",
            &build(2, &[], &[], &[0], "EST5EDT,M3.2.0,M11.1.0"),
        );
        assert_eq!(only.initial, -5 * 3600);
        let mut t = at(2007, 11, 5, 0, 0, 0);
        while t < RULE_TABLE_END + 400 * SECS_PER_DAY {
            assert_eq!(ny.offset_at(t), us.offset_at(t), "{t}");
            assert_eq!(only.offset_at(t), us.offset_at(t), "{t}");
            assert_eq!(ny.prev_change(t), us.last_event(t).map(|e| e.0), "{t}");
            t += 24_989;
        }
        let mut t = RULE_TABLE_START - 400 * SECS_PER_DAY;
        while t < at(1700, 1, 1, 0, 0, 0) {
            assert_eq!(only.offset_at(t), us.offset_at(t), "{t}");
            assert_eq!(only.prev_change(t), us.last_event(t).map(|e| e.0), "{t}");
            t += 24_989;
        }
        // A footer that disagrees with the last transition's type takes
        // over right after it.
        let tz = tzif("x", &build(2, &[1000], &[1], &[0, 60], "UTC0"));
        assert_eq!((tz.offset_at(1000), tz.offset_at(1001)), (60, 0));
        assert_eq!(tz.prev_change(5000), Some(1001));
    }

    #[test]
    fn posix_rule_evaluation() {
        let us = rule("EST5EDT,M3.2.0,M11.1.0");
        assert_eq!(us.offset_at(at(2024, 3, 10, 6, 59, 59)), -5 * 3600);
        assert_eq!(us.offset_at(at(2024, 3, 10, 7, 0, 0)), -4 * 3600);
        assert_eq!(us.offset_at(at(2024, 11, 3, 5, 59, 59)), -4 * 3600);
        assert_eq!(us.offset_at(at(2024, 11, 3, 6, 0, 0)), -5 * 3600);
        // Southern hemisphere, half-hour DST (Lord Howe's footer).
        let lh = rule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
        assert_eq!(lh.offset_at(at(2024, 4, 6, 14, 59, 59)), 39_600);
        assert_eq!(lh.offset_at(at(2024, 4, 6, 15, 0, 0)), 37_800);
        assert_eq!(lh.offset_at(at(2024, 10, 5, 15, 29, 59)), 37_800);
        assert_eq!(lh.offset_at(at(2024, 10, 5, 15, 30, 0)), 39_600);
        assert_eq!(lh.offset_at(at(2025, 1, 1, 0, 0, 0)), 39_600);
        // Jn skips Feb 29, n counts it; both at 00:00 UTC here.
        let j = rule("AAA0BBB-1,J60/0,J300/1");
        assert_eq!(j.offset_at(at(2024, 2, 29, 23, 59, 59)), 0);
        assert_eq!(j.offset_at(at(2024, 3, 1, 0, 0, 0)), 3600);
        let n = rule("AAA0BBB-1,59/0,300/1");
        assert_eq!(n.offset_at(at(2024, 2, 28, 23, 59, 59)), 0);
        assert_eq!(n.offset_at(at(2024, 2, 29, 0, 0, 0)), 3600);
        assert_eq!(n.offset_at(at(2023, 3, 1, 0, 0, 0)), 3600);
        // Year-round DST (v3): always the DST offset, even at year ends.
        let perm = rule("EST5EDT,0/0,J365/25");
        for t in [
            at(2024, 1, 1, 5, 0, 0),
            at(2024, 12, 31, 23, 0, 0),
            at(2025, 1, 1, 4, 59, 59),
        ] {
            assert_eq!(perm.offset_at(t), -4 * 3600, "{t}");
        }
        // Negative rule times (v3, America/Nuuk style).
        let nuuk = rule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
        assert_eq!(nuuk.offset_at(at(2024, 3, 31, 0, 59, 59)), -2 * 3600);
        assert_eq!(nuuk.offset_at(at(2024, 3, 31, 1, 0, 0)), -3600);
        assert_eq!(nuuk.offset_at(at(2024, 10, 27, 0, 59, 59)), -3600);
        assert_eq!(nuuk.offset_at(at(2024, 10, 27, 1, 0, 0)), -2 * 3600);
        assert_eq!(us.offset_at(i64::MIN), us.offset_at(-MAX_RULE_SECS));
        assert_eq!(us.offset_at(i64::MAX), us.offset_at(MAX_RULE_SECS));
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
    fn synthetic_versions() {
        let times = [
            at(2000, 1, 1, 0, 0, 0),
            at(2001, 1, 1, 0, 0, 0),
            at(2002, 1, 1, 0, 0, 0),
        ];
        // v1: 32-bit block only; the last type stays after the last transition.
        let v1 = tzif("v1", &build(1, &times, &[1, 1, 2], &[100, 200, 300], ""));
        assert_eq!(v1.offset_at(times[0] - 1), 100);
        assert_eq!(v1.offset_at(times[0]), 200);
        assert_eq!(v1.offset_at(times[1]), 200);
        assert_eq!(v1.offset_at(at(2100, 1, 1, 0, 0, 0)), 300);
        assert_eq!(v1.trans.len(), 2, "no-op transitions are dropped");
        for version in [2, 3, 4, 5] {
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
                "table until the last transition"
            );
            assert_eq!(tz.offset_at(times[2]), 3600);
            assert_eq!(tz.offset_at(at(2002, 7, 1, 0, 0, 0)), 7200);
            // prev_change spans the table and the rule.
            assert_eq!(tz.prev_change(at(2002, 2, 1, 0, 0, 0)), Some(times[2]));
            assert_eq!(
                tz.prev_change(at(2002, 7, 1, 0, 0, 0)),
                Some(at(2002, 3, 31, 1, 0, 0))
            );
            assert_eq!(tz.prev_change(times[0] - 1), None);
        }
        // Empty footer: the last type stays.
        let tz = tzif("v2", &build(2, &times, &[0, 1, 2], &[0, 60, 120], ""));
        assert_eq!(tz.offset_at(i64::MAX), 120);
        // No transitions, footer only.
        let tz = tzif("v2", &build(2, &[], &[], &[0], "EST5EDT,M3.2.0,M11.1.0"));
        assert_eq!(tz.offset_at(at(2024, 7, 1, 0, 0, 0)), -4 * 3600);
        assert_eq!(tz.offset_at(at(1800, 1, 1, 0, 0, 0)), -5 * 3600);
    }

    #[test]
    fn malformed_tzif_is_an_error() {
        let times = [1, 2];
        let cases = [
            (build(2, &times, &[0, 5], &[0, 60], ""), "undefined type"),
            (build(2, &[2, 2], &[0, 1], &[0, 60], ""), "not ascending"),
            (build(2, &[1], &[0], &[i32::MIN], ""), "out of range"),
            (
                build(2, &[1], &[0], &[0], "CET-1CEST,M3.5.0"),
                "bad TZ rule",
            ),
            (build(2, &[], &[], &[], ""), "no local time types"),
            (b"TZif".to_vec(), "truncated"),
            (b"TZjf2".to_vec(), "magic"),
        ];
        for (data, want) in cases {
            match Tz::from_tzif("x", &data) {
                Ok(_) => panic!("expected {want:?}"),
                Err(e) => assert!(e.0.contains(want), "{e} !~ {want}"),
            }
        }
        let mut v = build(2, &[], &[], &[0], "UTC0");
        v.pop();
        assert!(Tz::from_tzif("x", &v).is_err_and(|e| e.0.contains("footer")));
        v[4] = b'x';
        assert!(Tz::from_tzif("x", &v).is_err_and(|e| e.0.contains("version")));
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
