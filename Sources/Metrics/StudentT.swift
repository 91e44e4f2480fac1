import Foundation

/// Student's t distribution for real (Satterthwaite) degrees of freedom, through the regularised incomplete beta
/// function: P(|T| > t) = I_{ν/(ν+t²)}(ν/2, 1/2).
public enum StudentT {
    /// Two-sided tail probability P(|T| ≥ |t|) with `df` degrees of freedom.
    public static func twoSidedP(_ t: Double, df: Double) -> Double {
        precondition(df > 0, "StudentT: degrees of freedom must be positive")
        guard t.isFinite else { return t.isNaN ? .nan : 0 }
        return regularizedBeta(df / (df + t * t), a: df / 2, b: 0.5)
    }

    /// The q-quantile, 0 < q < 1, by bisection on the tail probability (monotone in t).
    public static func quantile(_ q: Double, df: Double) -> Double {
        precondition(q > 0 && q < 1, "StudentT.quantile: q in (0, 1)")
        if q == 0.5 { return 0 }
        let tail = 2 * min(q, 1 - q)
        var lo = 0.0, hi = 1.0
        while twoSidedP(hi, df: df) > tail { hi *= 2 }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if twoSidedP(mid, df: df) > tail { lo = mid } else { hi = mid }
        }
        return q > 0.5 ? (lo + hi) / 2 : -(lo + hi) / 2
    }

    /// I_x(a, b) by its continued fraction (modified Lentz), on the side of x where it converges fast.
    static func regularizedBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let logFront = logGammas + logPowers
        if x < (a + 1) / (a + b + 2) { return exp(logFront) * continuedFraction(x, a: a, b: b) / a }
        return 1 - exp(logFront) * continuedFraction(1 - x, a: b, b: a) / b
    }

    private static func continuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var f = d
        for m in 1...500 {
            let m = Double(m)
            // Even step, then odd step, of the fraction's terms.
            let even: Double = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d; if abs(d) < tiny { d = tiny }
            c = 1 + even / c; if abs(c) < tiny { c = tiny }
            d = 1 / d; f *= d * c
            let odd: Double = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d; if abs(d) < tiny { d = tiny }
            c = 1 + odd / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            f *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return f
    }
}
