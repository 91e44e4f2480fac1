import Foundation
import Common

/// Descriptive statistics over per-case values.
public enum Summary {
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// Sample standard deviation (n − 1 in the denominator); NaN for fewer than two values.
    public static func sampleSD(_ values: [Double]) -> Double {
        guard values.count > 1 else { return .nan }
        let m = mean(values)
        return (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }
}

/// Percentile of already sorted values with linear interpolation between order statistics (NumPy's default).
public func percentile(sorted: [Double], _ q: Double) -> Double {
    precondition(!sorted.isEmpty, "percentile of no values")
    let position = q / 100 * Double(sorted.count - 1)
    let lo = Int(position.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (position - Double(lo))
}

/// A two-sided confidence interval around an estimate.
public struct ConfidenceInterval: Equatable, Sendable {
    public var estimate: Double
    public var lower: Double
    public var upper: Double
    public var level: Double

    public init(estimate: Double, lower: Double, upper: Double, level: Double) {
        self.estimate = estimate; self.lower = lower; self.upper = upper; self.level = level
    }
}

/// Percentile bootstrap interval of a mean: `resamples` resamples with replacement drawn from the suite's seeded
/// RNG, so the same values and seed always give the same interval.
public func bootstrapMeanCI(_ values: [Double], level: Double = 0.95, resamples: Int = 10_000, seed: UInt64) -> ConfidenceInterval {
    precondition(!values.isEmpty, "bootstrapMeanCI of no values")
    precondition(level > 0 && level < 1 && resamples > 0, "bootstrapMeanCI: level in (0, 1), resamples > 0")
    var rng = RNG(seed: seed)
    let n = values.count
    var means = [Double](repeating: 0, count: resamples)
    for r in 0..<resamples {
        var sum = 0.0
        for _ in 0..<n { sum += values[rng.int(n)] }
        means[r] = sum / Double(n)
    }
    return ConfidenceInterval(percentileOf: means, estimate: Summary.mean(values), level: level)
}

extension ConfidenceInterval {
    /// The percentile interval of bootstrap replicates around `estimate`.
    public init(percentileOf replicates: [Double], estimate: Double, level: Double) {
        let sorted = replicates.sorted()
        let tail = (1 - level) / 2 * 100
        self.init(estimate: estimate, lower: percentile(sorted: sorted, tail), upper: percentile(sorted: sorted, 100 - tail), level: level)
    }
}
