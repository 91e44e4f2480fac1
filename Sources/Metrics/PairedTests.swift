import Foundation
import Common

/// Paired comparisons of two methods scored on the same test cases under the same seeds: the statistics behind a
/// claim's verdict.
///
/// The data are differences d[c][s] (case c, seed s; the metric's good direction positive). The primary test is a
/// sign-flip permutation test on the case means over seeds: under "no difference" each case's mean difference is
/// as likely negative as positive, so flipping signs gives the null distribution of the mean. Its resolution grows
/// with the number of test cases, not with the number of seeds: an exact signed-rank test over n seeds cannot go
/// below p = 2/2ⁿ, which with a Holm correction over a table's claims needs ten or more seeds whatever the data show.
/// The interval is a two-level bootstrap (cases, then seeds within each drawn case), so it carries both the
/// sampling of test images and the training variation between seeds.
public enum PairedTests {
    /// Two-sided p-value of the sign-flip test for mean(d) = 0: exact over all 2ⁿ sign vectors for n ≤ 16, else
    /// from `resamples` random sign vectors counting the observed one, so p ≥ 1/(resamples + 1).
    public static func signFlipP(_ d: [Double], resamples: Int = 20_000, seed: UInt64) -> Double {
        precondition(!d.isEmpty, "signFlipP of no differences")
        let n = d.count
        let observed = abs(d.reduce(0, +))
        // Sums within this relative tolerance of the observed one count as "as extreme" (floating-point ties).
        let tolerance = 1e-12 * max(1, d.map(abs).reduce(0, +))
        if n <= 16 {
            var extreme = 0
            for mask in 0..<(1 << n) {
                var s = 0.0
                for i in 0..<n { s += mask & (1 << i) != 0 ? -d[i] : d[i] }
                if abs(s) >= observed - tolerance { extreme += 1 }
            }
            return Double(extreme) / Double(1 << n)
        }
        var rng = RNG(seed: seed)
        var extreme = 1
        for _ in 0..<resamples {
            var s = 0.0
            for x in d { s += rng.next() & 1 == 0 ? x : -x }
            if abs(s) >= observed - tolerance { extreme += 1 }
        }
        return Double(extreme) / Double(resamples + 1)
    }

    /// Percentile interval of the mean difference by a two-level bootstrap: cases drawn with replacement, then for
    /// each drawn case its seeds drawn with replacement. `d[c]` holds case c's differences, one per seed.
    public static func twoLevelBootstrap(_ d: [[Double]], level: Double = 0.95, resamples: Int = 4000, seed: UInt64) -> ConfidenceInterval {
        precondition(!d.isEmpty && d.allSatisfy { !$0.isEmpty }, "twoLevelBootstrap needs every case with at least one seed")
        var rng = RNG(seed: seed)
        let n = d.count
        var replicates = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var total = 0.0
            for _ in 0..<n {
                let row = d[rng.int(n)]
                var s = 0.0
                for _ in 0..<row.count { s += row[rng.int(row.count)] }
                total += s / Double(row.count)
            }
            replicates[r] = total / Double(n)
        }
        let estimate = d.map { $0.reduce(0, +) / Double($0.count) }.reduce(0, +) / Double(n)
        return ConfidenceInterval(percentileOf: replicates, estimate: estimate, level: level)
    }

    /// Holm's step-down adjustment: the i-th smallest of m p-values times (m − i + 1), made monotone, capped at 1.
    public static func holm(_ p: [Double]) -> [Double] {
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 1, count: p.count)
        var running = 0.0
        for (rank, i) in order.enumerated() {
            running = max(running, min(1, p[i] * Double(p.count - rank)))
            adjusted[i] = running
        }
        return adjusted
    }

    /// The smallest mean difference this design detects with 80 % power in a two-sided test at `alpha`, by the
    /// normal approximation (z₁₋α/₂ + z₀.₈)·SE, SE the standard error of the mean of the case means.
    public static func minimumDetectableEffect(caseMeans: [Double], alpha: Double = 0.05) -> Double {
        guard caseMeans.count > 1 else { return .infinity }
        let z = normalQuantile(1 - alpha / 2) + normalQuantile(0.8)
        return z * Summary.sampleSD(caseMeans) / Double(caseMeans.count).squareRoot()
    }

    /// Inverse standard normal CDF (Acklam's rational approximation, relative error below 1.2·10⁻⁹).
    static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let dd = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((dd[0] * q + dd[1]) * q + dd[2]) * q + dd[3]) * q + 1)
        }
        if p > 1 - low { return -normalQuantile(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}
