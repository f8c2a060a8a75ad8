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
        let nu = 2.0 * kf;
        let var = 2.0 / (9.0 * nu);
        let z = ((x / nu).cbrt() - (1.0 - var)) / var.sqrt();
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

/// The prior size of [`log_odds_z`]: the Dirichlet prior counts `LOG_ODDS_PRIOR` events spread
/// over the values by their frequency in both sets together.
pub const LOG_ODDS_PRIOR: f64 = 1000.0;

/// The z-score of the log-odds ratio of a value between the suspect and the baseline set, with
/// an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008, "Fightin' Words", eq. 22):
/// with y_s = s, y_b = b the value's counts, n_s, n_b the set sizes, and
/// alpha_w = a0 (s + b) / (n_s + n_b) the prior count of the value,
///   delta = ln((y_s + alpha_w) / (n_s + a0 - y_s - alpha_w))
///         - ln((y_b + alpha_w) / (n_b + a0 - y_b - alpha_w)),
///   var   = 1 / (y_s + alpha_w) + 1 / (y_b + alpha_w),     z = delta / sqrt(var).
/// A value absent from the baseline no longer saturates: its baseline log-odds rest on a prior
/// count proportional to its total, so z grows with its support (a value seen 5 times in the
/// suspect set and never in a baseline of a million gets z < 1; one seen 800 times, about 10).
/// 0 for a value in neither set.
pub fn log_odds_z(s: u64, ns: u64, b: u64, nb: u64, a0: f64) -> f64 {
    let (s, ns, b, nb) = (s as f64, ns as f64, b as f64, nb as f64);
    if s + b == 0.0 || ns + nb == 0.0 {
        return 0.0;
    }
    let aw = a0 * (s + b) / (ns + nb);
    let odds = |y: f64, n: f64| ((y + aw) / (n + a0 - y - aw).max(f64::MIN_POSITIVE)).ln();
    let delta = odds(s, ns) - odds(b, nb);
    let var = 1.0 / (s + aw) + 1.0 / (b + aw);
    delta / var.sqrt()
}

/// The lower bound of the 95% confidence interval of the rate ratio (suspect rate over
/// baseline rate), with 0.5 added to every cell (Haldane) so a value absent from a set has a
/// finite ratio: RR = ((s + ½)/(n_s + ½)) / ((b + ½)/(n_b + ½)),
/// se(ln RR) = sqrt(1/(s + ½) - 1/(n_s + ½) + 1/(b + ½) - 1/(n_b + ½)),
/// lower bound = exp(ln RR - 1.96 se). "At least this many times more frequent in the window."
pub fn rate_ratio_low(s: u64, ns: u64, b: u64, nb: u64) -> f64 {
    let (s, ns, b, nb) = (
        s as f64 + 0.5,
        ns as f64 + 0.5,
        b as f64 + 0.5,
        nb as f64 + 0.5,
    );
    let ln_rr = (s / ns).ln() - (b / nb).ln();
    let se = (1.0 / s - 1.0 / ns + 1.0 / b - 1.0 / nb).max(0.0).sqrt();
    (ln_rr - 1.96 * se).exp()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_rel(got: f64, want: f64, rel: f64) {
        let ok = (got - want).abs() <= rel * want.abs();
        assert!(ok, "got {got:e}, want {want:e}");
    }

    /// Whitespace-separated reference rows (a bad literal becomes NaN and fails the check).
    fn rows(table: &str) -> Vec<Vec<f64>> {
        let num = |v: &str| v.parse::<f64>().unwrap_or(f64::NAN);
        table
            .lines()
            .map(|l| l.split_whitespace().map(num).collect())
            .collect()
    }

    // x, scipy.special.erfc(x) (scipy 1.17.1; each within 5e-16 of mpmath.erfc at 50 digits)
    const ERFC: &str = "-5 1.9999999999984626\n-1 1.8427007929497148\n-0.5 1.5204998778130465
-1e-3 1.0011283787909693\n0 1.0\n1e-10 0.999999999887162\n0.1 0.8875370839817152
0.5 0.4795001221869535\n1 0.15729920705028516\n1.5 0.03389485352468927
1.99 0.004888586800383002\n2 0.004677734981047266\n3 2.2090496998585445e-05
5 1.5374597944280347e-12\n10 2.0884875837625446e-45\n15 7.212994172451209e-100
20 5.395865611607901e-176\n26 5.663192408856145e-296";

    #[test]
    fn erfc_matches_scipy_and_edges() {
        for r in rows(ERFC) {
            assert_rel(erfc(r[0]), r[1], 1e-12);
        }
        // mpmath.erfc(27) = 5.237048923789e-319 (subnormal; scipy returns 0.0).
        assert!((erfc(27.0) - 5.237e-319).abs() < 1e-321);
        assert_eq!((erfc(30.0), erfc(-30.0)), (0.0, 2.0));
        assert_eq!((erfc(f64::INFINITY), erfc(f64::NEG_INFINITY)), (0.0, 2.0));
        assert!(erfc(f64::NAN).is_nan());
        // Both sides of the series / continued-fraction switch agree.
        assert_rel(
            erfc(ERFC_SWITCH * (1.0 - f64::EPSILON)),
            erfc(ERFC_SWITCH),
            1e-14,
        );
    }

    // x, scipy.stats.chi2.sf(x, 1)
    const CHI2_1DF: &str = "0.5 0.47950012218695337\n3.841458820694124 0.04999999999999989
10 0.001565402258002549\n100 1.5239706048320995e-23\n1000 1.7958327848007363e-219";

    #[test]
    fn chi2_1df_matches_scipy() {
        for r in rows(CHI2_1DF) {
            assert_rel(chi2_sf_1df(r[0]), r[1], 1e-9);
        }
        assert_eq!(
            (chi2_sf_1df(0.0), chi2_sf_1df(-3.0), chi2_sf_1df(f64::NAN)),
            (1.0, 1.0, 1.0)
        );
        assert_eq!(chi2_sf_1df(f64::INFINITY), 0.0);
    }

    // x, dof, scipy.stats.chi2.sf(x, dof). Row 5 is mpmath.gammainc(50, 100, regularized=True)
    // (scipy's 1.1784500720979781e-08 is off by 3e-14). The last row is the Wilson-Hilferty
    // branch: x = nu + sqrt(2 nu), nu = 2.4e10, mpmath.gammainc(1.2e10, x / 2, regularized=True).
    const CHI2_EVEN: &str = "1000 1000 0.49405285382923964\n2 2 0.36787944117144245
10 4 0.04042768199451279\n0.5 20 0.9999999999997906\n200 100 1.1784500720979422e-08
50 150 0.9999999999999994\n100000 100000 0.4994052918952067\n30 60 0.9995815503316723
2e7 2e7 0.4999579477912763\n24000219089.023003 2.4e10 0.15865525392748002";

    #[test]
    fn chi2_even_matches_scipy_and_edges() {
        for r in rows(CHI2_EVEN) {
            // The dof column holds integers below 2^53, so the cast is exact.
            assert_rel(chi2_sf_even(r[0], r[1] as u64), r[2], 1e-9);
        }
        // True values 8.8e-2159 (scipy.stats.chi2.sf(1e4, 10) = 0.0) and 5.7e-217148.
        assert_eq!((chi2_sf_even(1e4, 10), chi2_sf_even(1e6, 2)), (0.0, 0.0));
        assert_eq!(
            (chi2_sf_even(0.0, 10), chi2_sf_even(f64::NAN, 10)),
            (1.0, 1.0)
        );
        assert_eq!(chi2_sf_even(f64::INFINITY, 10), 0.0);
        assert_eq!((chi2_sf_even(1.0, 0), chi2_sf_even(-1.0, 0)), (0.0, 1.0));
        assert_eq!(chi2_sf_even(7.5, 3), chi2_sf_even(7.5, 4));
        assert!((0.0..=1.0).contains(&chi2_sf_even(1e300, u64::MAX)));
    }

    #[test]
    fn chi2_even_matches_spambayes_recurrence() {
        // SpamBayes' chi2Q loop is accurate while e^-m does not underflow.
        for x in [0.01_f64, 0.7, 3.0, 19.0, 80.0, 333.0, 900.0] {
            for dof in [2_u64, 4, 10, 50, 200, 1000] {
                let m = x / 2.0;
                let (mut term, mut sum) = ((-m).exp(), (-m).exp());
                for i in 1..dof / 2 {
                    term *= m / i as f64;
                    sum += term;
                }
                assert_rel(chi2_sf_even(x, dof), sum.min(1.0), 1e-11);
            }
        }
    }

    // a b c d G p from scipy.stats.chi2_contingency([[a, b], [c, d]],
    // lambda_="log-likelihood", correction=False)[:2], except the last row: there scipy's
    // G = 0.9000002222783223 has lost 7 digits, so G is mpmath at 60 digits
    // (0.90000000023625000009) and p = mpmath.erfc(sqrt(G / 2)).
    const G_TEST: &str = "10 90 5 195 7.329811674221491 0.006782015951830022
0 100 50 50 86.30462173553425 1.5424762682505978e-20
30 70 0 1000 153.11350126377104 3.6179905647731764e-35
1 0 0 1 2.772588722239781 0.09589096714246556
5 995 1 9999 18.784707033200473 1.4633582941405347e-05
100 900 120 880 2.0454183463488356 0.15266501158471574
1e9 1e9 1000030000 999970000 0.90000000023625 0.3427817110845641";

    #[test]
    fn g_test_matches_scipy() {
        for r in rows(G_TEST) {
            // Integer-valued literals below 2^53: the casts are exact.
            let (g, p) = g_test(r[0] as u64, r[1] as u64, r[2] as u64, r[3] as u64);
            assert_rel(g, r[4], 1e-9);
            assert_rel(p, r[5], 1e-9);
        }
    }

    #[test]
    fn g_test_edges() {
        assert_eq!(g_test(0, 0, 0, 0), (0.0, 1.0));
        assert_eq!(g_test(5, 7, 0, 0), (0.0, 1.0)); // empty baseline row
        assert_eq!(g_test(0, 7, 0, 9), (0.0, 1.0)); // value never seen
        assert_eq!(g_test(1, 1, 1, 1), (0.0, 1.0));
        // G = 2 * 2000 ln 2 = 2772.59; true p ~ 1.3e-604 underflows to 0.0, not NaN.
        let (g, p) = g_test(1000, 0, 0, 1000);
        assert_rel(g, 4000.0 * std::f64::consts::LN_2, 1e-12);
        assert_eq!(p, 0.0);
        let big = [
            (u64::MAX, 1, 1, u64::MAX),
            (u64::MAX, u64::MAX, 0, 3),
            (1_000_000_000, 3, 0, 7),
        ];
        for (a, b, c, d) in big {
            let (g, p) = g_test(a, b, c, d);
            assert!(g.is_finite() && g >= 0.0 && (0.0..=1.0).contains(&p));
            assert_rel(g_test(c, d, a, b).0, g, 1e-12);
        }
    }

    #[test]
    fn bh_matches_scipy() {
        // scipy.stats.false_discovery_control(p, method='bh') for the p of each pair; NaN is
        // passed to scipy as 1.0.
        let cases = [
            (
                vec![0.01, 0.04, 0.03, 0.005, 0.5, 0.04, 1.0, 0.2],
                "0.04 0.064 0.064 0.04
                0.5714285714285714 0.064 1.0 0.26666666666666666",
            ),
            (
                vec![0.02, f64::NAN, 0.001, 0.7],
                "0.04 1.0 0.004 0.9333333333333332",
            ),
            (vec![0.3], "0.3"),
        ];
        for (p, want) in cases {
            let want: Vec<f64> = rows(want).concat();
            let q = benjamini_hochberg(&p);
            assert_eq!(q.len(), want.len());
            q.iter()
                .zip(want)
                .for_each(|(&q, w)| assert_rel(q, w, 1e-12));
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(
            benjamini_hochberg(&[0.3, -1.0, 7.0]),
            [0.3 * 3.0 / 2.0, 0.0, 1.0]
        );
    }

    #[test]
    fn robinson_f_hand_worked() {
        // b = 3/10, g = 1/100, p = 0.3 / 0.31 = 30/31, n = 4,
        // f = (1 * 0.5 + 4 * 30/31) / (1 + 4) = (31 + 240) / 310 = 271/310.
        assert_rel(robinson_f(3, 10, 1, 100, 1.0, 0.5), 271.0 / 310.0, 1e-15);
        // Never in the baseline: b = 2/5, g = 0, p = 1, f = (0.45 * 0.5 + 2) / 2.45.
        assert_rel(robinson_f(2, 5, 0, 1000, 0.45, 0.5), 2.225 / 2.45, 1e-15);
        assert_eq!(robinson_f(0, 0, 0, 0, 0.45, 0.5), 0.5);
        assert_eq!(robinson_f(0, 0, 0, 0, 0.0, 0.4), 0.4);
        assert_eq!(robinson_f(3, 0, 2, 0, 1.0, 0.5), 0.5); // zero-size sets: p = x
        assert!(robinson_f(u64::MAX, 1, u64::MAX, u64::MAX, 0.0, 0.5).is_finite());
    }

    #[test]
    fn log_odds_z_and_rate_ratio_hand_worked() {
        // The thin attack of docs/STATISTICS.md: the attack's user agent, 1,511 of 9,760
        // suspect events and 202 of 990,245 baseline ones, against an ASN at 784/0.
        let ua = log_odds_z(1511, 9760, 202, 990_245, LOG_ODDS_PRIOR);
        let asn = log_odds_z(784, 9760, 0, 990_245, LOG_ODDS_PRIOR);
        let noise = log_odds_z(5, 9760, 0, 990_245, LOG_ODDS_PRIOR);
        assert!(ua > 80.0 && ua < 100.0, "{ua}");
        assert!(asn > 8.0 && asn < 12.0, "{asn}");
        assert!(noise > 0.0 && noise < 1.0, "{noise}");
        // By hand: aw = 1000 * 1713 / 1000005; delta = ln(1512.713/9247.287) -
        // ln(203.713/991041.287); var = 1/1512.713 + 1/203.713.
        let aw: f64 = 1000.0 * 1713.0 / 1_000_005.0;
        let d = ((1511.0 + aw) / (9760.0 + 1000.0 - 1511.0 - aw)).ln()
            - ((202.0 + aw) / (990_245.0 + 1000.0 - 202.0 - aw)).ln();
        assert_rel(
            ua,
            d / (1.0 / (1511.0 + aw) + 1.0 / (202.0 + aw)).sqrt(),
            1e-12,
        );
        assert!(
            log_odds_z(5, 1000, 500, 1000, 10.0) < 0.0,
            "under-represented is negative"
        );
        assert_eq!(log_odds_z(0, 10, 0, 10, 10.0), 0.0);
        // Rate ratio: 10/100 against 10/1000 is 10 (Haldane: 10.5/100.5 over 10.5/1000.5).
        let rr = rate_ratio_low(10, 100, 10, 1000);
        let se = (1.0 / 10.5 - 1.0 / 100.5 + 1.0 / 10.5 - 1.0 / 1000.5f64).sqrt();
        assert_rel(
            rr,
            (((10.5 / 100.5) / (10.5 / 1000.5f64)).ln() - 1.96 * se).exp(),
            1e-12,
        );
        assert!(rate_ratio_low(0, 0, 0, 0).is_finite());
    }

    #[test]
    fn jlh_hand_worked() {
        // fg = 10/100 = 0.1, bg = 20/10000 = 0.002: (0.1 - 0.002) * (0.1 / 0.002) = 0.098 * 50.
        assert_rel(jlh(10, 100, 20, 10_000), 4.9, 1e-12);
        assert_eq!(jlh(1, 100, 50, 100), 0.0); // fg < bg
        assert_eq!(jlh(0, 0, 0, 0), 0.0);
        assert_eq!(jlh(5, 10, 0, 100), 0.0); // inconsistent bg == 0
        assert!(jlh(u64::MAX, 1, 1, u64::MAX).is_finite());
    }

    #[test]
    fn chi_combine_hand_worked_and_properties() {
        // probs [0.9, 0.8]: dof 4 and chi2Q(x, 4) = e^-m (1 + m), m = x/2, where e^-m is the
        // product itself: prod(1 - p) = 0.02, prod(p) = 0.72.
        // S = 1 - 0.02 (1 - ln 0.02) = 1 - 0.02 * 4.912023005428146 = 0.9017595398914371
        // H = 1 - 0.72 (1 - ln 0.72) = 1 - 0.72 * 1.3285040669720360 = 0.04347707178013394
        // score = (S - H + 1) / 2 = 0.9291412340556515
        let c = chi_combine(&[0.9, 0.8]);
        assert_rel(c.s, 0.9017595398914371, 1e-12);
        assert_rel(c.h, 0.04347707178013394, 1e-12);
        assert_rel(c.score, 0.9291412340556515, 1e-12);
        assert!(chi_combine(&[0.99; 10]).score > 0.99);
        assert!(chi_combine(&[0.01; 10]).score < 0.01);
        let empty = Combined {
            score: 0.5,
            s: 0.0,
            h: 0.0,
        };
        assert_eq!(
            (chi_combine(&[]), chi_combine(&[f64::NAN]).score),
            (empty, 0.5)
        );
        let ps = [0.3, 0.97, 0.5, 1.0, 0.0, 0.12, 0.6];
        let flipped: Vec<f64> = ps.iter().map(|p| 1.0 - p).collect();
        let sum = chi_combine(&ps).score + chi_combine(&flipped).score;
        assert_rel(sum, 1.0, 1e-12);
        let sure = chi_combine(&[1.0; 5000]).score;
        assert!(sure.is_finite() && sure > 0.999);
    }

    #[test]
    fn roc_auc_hand_and_pairwise() {
        // Positive 0.9 beats 3 negatives; positive 0.7 beats 0.1 and ties 0.7: U = 3 + 1.5,
        // AUC = 4.5 / (2 * 3) = 0.75.
        let labels = [true, false, true, false, false];
        let s: Vec<(f64, bool)> = [0.9, 0.8, 0.7, 0.7, 0.1].into_iter().zip(labels).collect();
        assert_eq!(roc_auc(&s), Some(0.75));
        assert_eq!(
            (roc_auc(&[]), roc_auc(&[(1.0, true), (2.0, true)])),
            (None, None)
        );
        assert_eq!(roc_auc(&[(0.0, true), (-0.0, false)]), Some(0.5));
        let mut state = 0x9E37_79B9_7F4A_7C15_u64; // xorshift64; quantised scores make ties
        let mut data = Vec::new();
        for _ in 0..500 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.push(((state % 37) as f64 / 4.0, state.is_multiple_of(3)));
        }
        let (mut u, mut pairs) = (0.0, 0.0);
        for &(sp, _) in data.iter().filter(|e| e.1) {
            for &(sn, _) in data.iter().filter(|e| !e.1) {
                pairs += 1.0;
                u += f64::from(u8::from(sp > sn)) + 0.5 * f64::from(u8::from(sp == sn));
            }
        }
        assert_rel(roc_auc(&data).unwrap_or(f64::NAN), u / pairs, 1e-12);
    }

    #[test]
    fn precision_at_k_cases() {
        let labels = [false, true, true, true, false];
        let s: Vec<(f64, bool)> = [0.5, 0.9, 0.5, f64::NAN, 0.1]
            .into_iter()
            .zip(labels)
            .collect();
        assert_eq!(precision_at_k(&s, 1), Some(1.0));
        assert_eq!(precision_at_k(&s, 2), Some(0.5)); // tie at 0.5: input order, false first
        assert_eq!(precision_at_k(&s, 3), Some(2.0 / 3.0));
        assert_eq!(precision_at_k(&s, 99), Some(0.6));
        assert_eq!(
            (precision_at_k(&s, 0), precision_at_k(&[], 3)),
            (None, None)
        );
    }
}
