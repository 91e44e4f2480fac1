import Foundation

/// Result of a two-sided Wilcoxon signed-rank test.
public struct WilcoxonResult: Equatable, Sendable {
    public enum Method: String, Sendable { case exact, normal }
    /// min(W+, W−), SciPy's statistic for the two-sided test.
    public var statistic: Double
    /// Sum of the ranks of positive differences.
    public var rankSumPositive: Double
    public var pValue: Double
    /// Number of non-zero differences (zeros are dropped, SciPy's `zero_method="wilcox"`).
    public var n: Int
    public var method: Method
    /// The standardised statistic of the normal approximation (nil for the exact test).
    public var z: Double?
}

/// Two-sided Wilcoxon signed-rank test of paired samples (x − y), as `scipy.stats.wilcoxon` computes it with
/// zero differences dropped: the exact null distribution of W+ when n ≤ 25 and no |differences| tie, otherwise the
/// normal approximation with the tie correction of the variance and no continuity correction. With no non-zero
/// difference the p-value is NaN (the test is undefined).
public func wilcoxonSignedRank(_ x: [Double], _ y: [Double]) -> WilcoxonResult {
    precondition(x.count == y.count, "wilcoxonSignedRank: \(x.count) vs \(y.count) paired values")
    return wilcoxonSignedRank(differences: zip(x, y).map { $0 - $1 })
}

public func wilcoxonSignedRank(differences: [Double]) -> WilcoxonResult {
    let d = differences.filter { $0 != 0 }
    let n = d.count
    guard n > 0 else {
        return WilcoxonResult(statistic: 0, rankSumPositive: 0, pValue: .nan, n: 0, method: .exact, z: nil)
    }
    let (ranks, tieGroups) = averageRanks(d.map(abs))
    let rPlus = zip(d, ranks).filter { $0.0 > 0 }.map(\.1).reduce(0, +)
    let total = Double(n * (n + 1)) / 2
    let statistic = min(rPlus, total - rPlus)
    if n <= 25 && tieGroups.isEmpty {
        return WilcoxonResult(statistic: statistic, rankSumPositive: rPlus, pValue: exactTwoSidedP(n: n, rPlus: Int(rPlus)),
                              n: n, method: .exact, z: nil)
    }
    let mean = total / 2
    var variance = Double(n * (n + 1) * (2 * n + 1)) / 24
    for t in tieGroups { variance -= Double(t * t * t - t) / 48 }
    let z = (rPlus - mean) / variance.squareRoot()
    let p = min(1, erfc(abs(z) / 2.0.squareRoot()))
    return WilcoxonResult(statistic: statistic, rankSumPositive: rPlus, pValue: p, n: n, method: .normal, z: z)
}

/// Ranks 1…n with ties given their average rank, and the sizes of the tie groups (only groups larger than one).
func averageRanks(_ values: [Double]) -> (ranks: [Double], tieGroups: [Int]) {
    let order = values.indices.sorted { values[$0] < values[$1] }
    var ranks = [Double](repeating: 0, count: values.count)
    var groups: [Int] = []
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
        let rank = Double(i + j + 2) / 2
        for k in i...j { ranks[order[k]] = rank }
        if j > i { groups.append(j - i + 1) }
        i = j + 1
    }
    return (ranks, groups)
}

/// Exact two-sided p-value: 2·min(P(W+ ≤ r), P(W+ ≥ r)) under the null, capped at 1. The null distribution counts
/// the subsets of {1…n} by their sum (all 2ⁿ sign patterns equally likely).
func exactTwoSidedP(n: Int, rPlus: Int) -> Double {
    let maxSum = n * (n + 1) / 2
    var counts = [Double](repeating: 0, count: maxSum + 1)
    counts[0] = 1
    for k in 1...n {
        for s in stride(from: maxSum, through: k, by: -1) { counts[s] += counts[s - k] }
    }
    let total = pow(2.0, Double(n))
    let lower = counts[0...rPlus].reduce(0, +) / total
    let upper = counts[rPlus...].reduce(0, +) / total
    return min(1, 2 * min(lower, upper))
}
