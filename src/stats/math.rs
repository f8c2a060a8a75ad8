//! Pure statistics behind `logpivot contrast` and `logpivot score`.
//!
//! Special functions (erfc, chi-square upper tails), the G-test on 2x2 tables,
//! Benjamini-Hochberg q-values, Robinson's token probability, Elastic's JLH
//! score, SpamBayes' chi-square combining and ranking metrics (ROC AUC,
//! precision at k). Only `std` is used. Count inputs never produce NaN or
//! infinity and nothing divides by zero. Counts are converted to `f64`, which is
//! exact below 2^53 and rounds (relative error < 1.2e-16) above.

use std::f64::consts::{FRAC_2_SQRT_PI, PI, SQRT_2};

/// Below this `erfc` sums the series for erf; from it on, the continued fraction.
const ERFC_SWITCH: f64 = 1.0;
/// erfc(x) < 2^-1074 (the smallest subnormal) for x >= 27.3, so it is 0 in `f64`.
const ERFC_ZERO: f64 = 27.3;
/// Clamp for token probabilities in [`chi_combine`], so `ln` never sees 0.
const PROB_CLAMP: f64 = 1e-6;
/// [`chi2_sf_even`] sums exactly up to `min(terms, x/2)` = 1e10, then Wilson-Hilferty.
const EXACT_LIMIT: f64 = 1e10;

/// Complementary error function erfc(x) = (2/sqrt(pi)) * int_x^inf e^(-t^2) dt.
///
/// * 0 <= x < 1: erfc = 1 - erf with the all-positive series (Abramowitz & Stegun 7.1.6)
///   erf(x) = (2/sqrt(pi)) e^(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)).
/// * x >= 1: the Laplace continued fraction (A&S 7.1.14, <= 185 steps)
///   erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))),
///   by the modified Lentz algorithm (Numerical Recipes, 3rd ed., 5.2).
/// * x < 0: erfc(x) = 2 - erfc(-x).
///
/// e^(-x^2) is split as e^(-xs^2) e^(-(x-xs)(x+xs)) with xs = x truncated to 1/16
/// (W. J. Cody, Math. Comp. 23, 1969), so x^2 carries no rounding error. Relative error
/// is < 5e-15 while the result is a normal `f64`; it degrades gracefully through the
/// subnormals and is exactly 0 for x >= 27.3 (erfc(30) ~ 2.6e-393 is not representable).
/// NaN in gives NaN out.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x < 0.0 {
        2.0 - erfc(-x)
    } else if x < ERFC_SWITCH {
        1.0 - erf_series(x)
    } else if x < ERFC_ZERO {
        erfc_cf(x)
    } else {
        0.0
    }
}

/// e^(-x^2) for finite x >= 0, with Cody's split of x^2.
fn exp_neg_sq(x: f64) -> f64 {
    let xs = (x * 16.0).trunc() / 16.0;
    (-xs * xs).exp() * (-(x - xs) * (x + xs)).exp()
}

fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let (mut term, mut sum) = (x, x);
    for n in 1..200u32 {
        term *= 2.0 * x2 / f64::from(2 * n + 1);
        sum += term;
        if term <= sum * f64::EPSILON * 0.25 {
            break;
        }
    }
    FRAC_2_SQRT_PI * exp_neg_sq(x) * sum
}

fn erfc_cf(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (mut f, mut c, mut d) = (x, x, 0.0_f64);
    for k in 1..5000u32 {
        let a = 0.5 * f64::from(k);
        d = x + a * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = x + a / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON {
            break;
        }
    }
    0.5 * FRAC_2_SQRT_PI * exp_neg_sq(x) / f
}

/// Upper tail of the chi-square distribution with 1 degree of freedom:
/// P(X >= x) = erfc(sqrt(x / 2)) (A&S 26.4.4 with 26.2.14).
/// x <= 0 (and NaN) give 1.0; +inf gives 0.0. Tails beyond x ~ 1408 are subnormal and
/// reach 0.0 near x ~ 1480 (underflow, never NaN).
pub fn chi2_sf_1df(x: f64) -> f64 {
    if x > 0.0 {
        erfc((0.5 * x).sqrt())
    } else {
        1.0
    }
}

/// SpamBayes' `chi2Q` (spambayes/chi2.py): upper tail of chi-square with an even number
/// `dof` = 2k of degrees of freedom, which is a Poisson CDF (A&S 26.4.21):
///   Q(x, 2k) = sum_{i < k} e^(-m) m^i / i!,  m = x / 2,  capped at 1.
/// The terms are summed outward from the largest one, which is computed in log space
/// as ln(e^(-m) m^i / i!) = -ln(2 pi i)/2 - stirlerr(i) - m h((i - m)/m),
/// h(t) = (1 + t) ln(1 + t) - t (C. Loader, "Fast and accurate computation of binomial
/// probabilities", 2000), so large m and dof keep full relative accuracy and tiny
/// results underflow to 0 instead of turning into garbage.
/// Odd `dof` is treated as `dof + 1` (the next even value, always >= the odd tail).
/// `dof == 0` is the point mass at 0: 1.0 for x <= 0 and 0.0 for x > 0. x <= 0 or NaN
/// gives 1.0. When both k and m exceed 1e10 the Wilson-Hilferty cube-root normal
/// approximation is used (absolute error ~ 0.009 / dof < 5e-13 there).
pub fn chi2_sf_even(x: f64, dof: u64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return 1.0;
    }
    let k = dof.div_ceil(2);
    let m = 0.5 * x;
    if k == 0 || m.is_infinite() {
        return 0.0;
    }
    // u64 -> f64: exact below 2^53; above, 2k is far past EXACT_LIMIT anyway.
    let kf = k as f64;
    if kf.min(m) > EXACT_LIMIT {
        // Wilson-Hilferty (A&S 26.4.14): (X/nu)^(1/3) ~ Normal(1 - 2/(9 nu), 2/(9 nu)).
        let var = 2.0 / (9.0 * kf);
        let z = ((m / kf).cbrt() - (1.0 - var)) / var.sqrt();
        return 0.5 * erfc(z / SQRT_2);
    }
    poisson_cdf(kf - 1.0, m).min(1.0)
}

/// P(N <= n) for N ~ Poisson(m), n a non-negative integer value, m > 0 finite.
fn poisson_cdf(n: f64, m: f64) -> f64 {
    let mode = n.min(m.floor());
    let (mut sum, mut term) = (1.0, 1.0);
    let mut i = mode;
    while i >= 1.0 {
        term *= i / m;
        sum += term;
        if term < sum * f64::EPSILON * 0.25 {
            break;
        }
        i -= 1.0;
    }
    term = 1.0;
    i = mode + 1.0;
    while i <= n {
        term *= m / i;
        sum += term;
        if term < sum * f64::EPSILON * 0.25 {
            break;
        }
        i += 1.0;
    }
    (ln_poisson_pmf(mode, m) + sum.ln()).exp()
}

/// ln(e^(-m) m^i / i!) by Loader's saddle-point form.
fn ln_poisson_pmf(i: f64, m: f64) -> f64 {
    if i < 1.0 {
        return -m;
    }
    -0.5 * (2.0 * PI * i).ln() - stirlerr(i) - m * h((i - m) / m)
}

/// stirlerr(n) = ln(n!) - [(n + 1/2) ln n - n + ln(2 pi)/2] for integer n >= 1.
fn stirlerr(n: f64) -> f64 {
    if n < 16.0 {
        let mut ln_fact = 0.0;
        let mut j = 2.0_f64;
        while j <= n {
            ln_fact += j.ln();
            j += 1.0;
        }
        return ln_fact - ((n + 0.5) * n.ln() - n + 0.5 * (2.0 * PI).ln());
    }
    let n2 = n * n;
    (1.0 / 12.0
        - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - 1.0 / (1188.0 * n2)) / n2) / n2) / n2)
        / n
}

/// h(t) = (1 + t) ln(1 + t) - t >= 0 for t >= -1 (h(-1) = 1), accurate near t = 0
/// via the series sum_{k >= 2} (-t)^k / (k (k - 1)).
fn h(t: f64) -> f64 {
    if t <= -1.0 {
        return 1.0;
    }
    if t.abs() >= 0.1 {
        return (1.0 + t) * t.ln_1p() - t;
    }
    let (mut pow, mut sum) = (t * t, 0.0);
    for k in 2..60u32 {
        let kf = f64::from(k);
        let term = pow / (kf * (kf - 1.0));
        sum += term;
        if term.abs() <= sum * f64::EPSILON * 0.25 {
            break;
        }
        pow *= -t;
    }
    sum
}

/// G-test (log-likelihood ratio) of independence on the 2x2 table [[a, b], [c, d]]
/// (a/b: suspect events with/without the value, c/d: baseline events with/without):
///   G = 2 sum O ln(O / E),  E = row total * column total / N,  0 ln 0 = 0,
/// 1 degree of freedom, no continuity correction (Sokal & Rohlf, Biometry, 17.4).
/// Returns (G, p) with p = [`chi2_sf_1df`](G). An empty row or column gives (0.0, 1.0).
///
/// Evaluated as G = 2 sum E h((O - E)/E) with h(t) = (1 + t) ln(1 + t) - t (valid since
/// sum (O - E) = 0) and O - E = +-(ad - bc)/N from exact 128-bit integers, so G keeps full
/// relative accuracy even for counts ~1e9 close to independence, where the textbook
/// sum loses ~7 digits. For G > ~1480 the p-value underflows to 0.0 (G = 2000: p ~ 1e-436).
pub fn g_test(a: u64, b: u64, c: u64, d: u64) -> (f64, f64) {
    let (a, b, c, d) = (u128::from(a), u128::from(b), u128::from(c), u128::from(d));
    let (r1, r2, c1, c2) = (a + b, c + d, a + c, b + d);
    if r1 == 0 || r2 == 0 || c1 == 0 || c2 == 0 {
        return (0.0, 1.0);
    }
    // u128 -> f64 casts round to nearest (relative error < 1.2e-16); the products are exact.
    let n = (r1 + r2) as f64;
    let (ad, bc) = (a * d, b * c);
    let det = if ad >= bc {
        (ad - bc) as f64
    } else {
        -((bc - ad) as f64)
    };
    let delta = det / n;
    let cells = [
        (r1, c1, delta),
        (r1, c2, -delta),
        (r2, c1, -delta),
        (r2, c2, delta),
    ];
    let half: f64 = cells
        .iter()
        .map(|&(row, col, dev)| {
            let e = row as f64 * col as f64 / n;
            e * h(dev / e)
        })
        .sum();
    let g = 2.0 * half;
    (g, chi2_sf_1df(g))
}

/// Benjamini-Hochberg q-values (Benjamini & Hochberg, J. R. Stat. Soc. B 57, 1995),
/// in input order: with p_(1) <= ... <= p_(m),
///   q_(i) = min_{j >= i} min(1, m p_(j) / j),
/// as `scipy.stats.false_discovery_control(p, method='bh')`. Empty in, empty out.
/// NaN is treated as 1.0 and other values are clamped to [0, 1].
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let clean: Vec<f64> = p
        .iter()
        .map(|&v| if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) })
        .collect();
    let mut order: Vec<usize> = (0..clean.len()).collect();
    order.sort_by(|&i, &j| clean[i].total_cmp(&clean[j]));
    // usize -> f64 is exact for any realistic length (< 2^53).
    let m = clean.len() as f64;
    let mut q = vec![1.0; clean.len()];
    let mut running = 1.0_f64;
    for (rank0, &idx) in order.iter().enumerate().rev() {
        running = running.min(m * clean[idx] / (rank0 + 1) as f64);
        q[idx] = running;
    }
    q
}

fn rate(count: u64, size: u64) -> f64 {
    if size == 0 {
        0.0
    } else {
        count as f64 / size as f64
    }
}

/// Robinson's smoothed token probability (Gary Robinson, "A Statistical Approach to the
/// Spam Problem", Linux Journal 107, 2003; SpamBayes `classifier.probability`):
///   b = suspect_count / n_suspect, g = baseline_count / n_baseline (empty set: rate 0),
///   p = b / (b + g) (p = x when b + g == 0),  n = suspect_count + baseline_count,
///   f = (s x + n p) / (s + n).
/// `s` (strength, >= 0) and `x` (prior, in [0, 1]) are SpamBayes' `unknown_word_strength`
/// and `unknown_word_prob` (defaults 0.45 and 0.5). If s + n == 0 the result is x.
pub fn robinson_f(
    suspect_count: u64,
    n_suspect: u64,
    baseline_count: u64,
    n_baseline: u64,
    s: f64,
    x: f64,
) -> f64 {
    let b = rate(suspect_count, n_suspect);
    let g = rate(baseline_count, n_baseline);
    let p = if b + g > 0.0 { b / (b + g) } else { x };
    let n = suspect_count as f64 + baseline_count as f64;
    if s + n > 0.0 {
        (s * x + n * p) / (s + n)
    } else {
        x
    }
}

/// Elastic's JLH score (Elasticsearch reference, "Significant terms aggregation", JLH score,
/// <https://www.elastic.co/guide/en/elasticsearch/reference/current/search-aggregations-bucket-significantterms-aggregation.html>):
/// fg = subset_count / subset_size, bg = superset_count / superset_size (empty set: 0),
///   JLH = (fg - bg) * (fg / bg) if fg > bg, else 0.
/// The superset contains the subset, so bg > 0 whenever subset_count > 0; bg == 0 gives 0.
pub fn jlh(subset_count: u64, subset_size: u64, superset_count: u64, superset_size: u64) -> f64 {
    let fg = rate(subset_count, subset_size);
    let bg = rate(superset_count, superset_size);
    if bg > 0.0 && fg > bg {
        (fg - bg) * (fg / bg)
    } else {
        0.0
    }
}

/// The result of chi-square combining: `score` in [0, 1], and the "suspect-ness" `s` and
/// "baseline-ness" `h` it is made of (see [`chi_combine`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Combined {
    /// (s - h + 1) / 2: near 1 suspect, near 0 baseline, 0.5 undecided.
    pub score: f64,
    /// 1 - chi2Q(-2 sum ln(1 - p_i), 2n).
    pub s: f64,
    /// 1 - chi2Q(-2 sum ln(p_i), 2n).
    pub h: f64,
}

/// Fisher/Robinson chi-square combining as SpamBayes' `chi2_spamprob`
/// (spambayes/classifier.py; Robinson, Linux Journal 2003):
///   S = 1 - chi2Q(-2 sum ln(1 - p_i), 2n),  H = 1 - chi2Q(-2 sum ln(p_i), 2n),
///   score = (S - H + 1) / 2; no probabilities gives score 0.5 with S = H = 0.
/// Each p_i is clamped to [1e-6, 1 - 1e-6] first (NaN counts as 0.5) so `ln` never sees 0.
/// SpamBayes multiplies with `frexp` to dodge underflow; summing logs does the same here.
pub fn chi_combine(probs: &[f64]) -> Combined {
    if probs.is_empty() {
        return Combined {
            score: 0.5,
            s: 0.0,
            h: 0.0,
        };
    }
    let (mut ln_not, mut ln_p) = (0.0, 0.0);
    for &p in probs {
        let p = if p.is_nan() {
            0.5
        } else {
            p.clamp(PROB_CLAMP, 1.0 - PROB_CLAMP)
        };
        ln_not += (-p).ln_1p();
        ln_p += p.ln();
    }
    let dof = u64::try_from(probs.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(2);
    let s = 1.0 - chi2_sf_even(-2.0 * ln_not, dof);
    let h = 1.0 - chi2_sf_even(-2.0 * ln_p, dof);
    Combined {
        score: (s - h + 1.0) / 2.0,
        s,
        h,
    }
}

/// Sort key for ranking: NaN ranks lowest (as -inf) and -0.0 equals 0.0.
fn rank_key(score: f64) -> f64 {
    if score.is_nan() {
        f64::NEG_INFINITY
    } else {
        score + 0.0
    }
}

/// Area under the ROC curve (true = positive) with ties counted half:
///   AUC = U / (n_pos n_neg),  U = #{(pos, neg): s_pos > s_neg} + #{s_pos == s_neg} / 2
/// (Mann-Whitney U; Hanley & McNeil, Radiology 143, 1982), in O(n log n) by sorting and
/// exact integer counting. NaN scores rank lowest. No positives or no negatives: None.
pub fn roc_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let mut v: Vec<(f64, bool)> = scored.iter().map(|&(s, l)| (rank_key(s), l)).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut neg_below, mut pos, mut twice_u) = (0_u128, 0_u128, 0_u128);
    for group in v.chunk_by(|a, b| a.0 == b.0) {
        // usize -> u128 is lossless.
        let gp = group.iter().filter(|e| e.1).count() as u128;
        let gn = group.len() as u128 - gp;
        twice_u += gp * (2 * neg_below + gn);
        neg_below += gn;
        pos += gp;
    }
    if pos == 0 || neg_below == 0 {
        return None;
    }
    Some(twice_u as f64 / (2 * pos * neg_below) as f64)
}

/// Precision at k: the share of positives among the k highest scores, ties broken by input
/// order (stable descending sort; NaN scores rank lowest). k larger than the input uses the
/// whole input; k == 0 or an empty input gives None.
pub fn precision_at_k(scored: &[(f64, bool)], k: usize) -> Option<f64> {
    let k = k.min(scored.len());
    if k == 0 {
        return None;
    }
    let mut v: Vec<(f64, bool)> = scored.iter().map(|&(s, l)| (rank_key(s), l)).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let hits = v.iter().take(k).filter(|e| e.1).count();
    Some(hits as f64 / k as f64)
}

