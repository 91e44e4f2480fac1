import Foundation

/// The mean of paired differences laid out as patients × seeds, with both patients and seeds random: a claim about
/// two methods is about other test patients and about other training runs, so the mean's variance carries both.
///
/// With P patients and S seeds, d[p][s] = μ + patient_p + seed_s + residual_ps, and
///     Var(mean) = σ²_patient/P + σ²_seed/S + σ²_residual/(P·S).
/// The components come from the two-way table's mean squares (MS_p, MS_s, MS_e; the ANOVA estimator, each
/// truncated at zero), the degrees of freedom of the resulting combination from Satterthwaite's approximation, and
/// the test and interval from Student's t. With three seeds the seed component has two degrees of freedom, so a
/// large seed-to-seed spread shows as a wide interval rather than as a significant difference from one lucky seed.
///
/// With one seed the seed component cannot be measured: the variance is the patients' alone (`seedNoiseMeasured`
/// false), and a verdict then speaks of these trained models, not of the method.
public struct CrossedMean: Equatable, Sendable {
    public let patients: Int
    public let seeds: Int
    public let mean: Double
    /// Per seed, the mean over patients.
    public let seedMeans: [Double]
    /// σ² of the patient, seed and residual effects (seed and residual 0 with one seed).
    public let patientVariance: Double
    public let seedVariance: Double
    public let residualVariance: Double
    /// Variance of `mean`, and its Satterthwaite degrees of freedom.
    public let variance: Double
    public let df: Double
    public var seedNoiseMeasured: Bool { seeds > 1 }

    /// `d[p]` holds patient p's differences, one per seed, every row the same length.
    public init(_ d: [[Double]]) {
        precondition(!d.isEmpty, "CrossedMean of no patients")
        let P = d.count, S = d[0].count
        precondition(S > 0 && d.allSatisfy { $0.count == S }, "CrossedMean needs every patient under every seed")
        let rowMeans = d.map { $0.reduce(0, +) / Double(S) }
        let colMeans = (0..<S).map { s in d.reduce(0) { $0 + $1[s] } / Double(P) }
        let m = rowMeans.reduce(0, +) / Double(P)
        patients = P; seeds = S; mean = m; seedMeans = colMeans
        let pF = Double(P), sF = Double(S)
        guard P > 1 else {
            // One patient: only the seeds vary.
            let ms = S > 1 ? colMeans.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (sF - 1) : 0
            patientVariance = 0; seedVariance = ms; residualVariance = 0
            variance = ms / sF; df = max(sF - 1, 1)
            return
        }
        let msP = sF * rowMeans.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (pF - 1)
        guard S > 1 else {
            patientVariance = msP; seedVariance = 0; residualVariance = 0
            variance = msP / pF; df = pF - 1
            return
        }
        let msS = pF * colMeans.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (sF - 1)
        var sse = 0.0
        for p in 0..<P { for s in 0..<S { let r = d[p][s] - rowMeans[p] - colMeans[s] + m; sse += r * r } }
        let dfP = pF - 1, dfS = sF - 1, dfE = (pF - 1) * (sF - 1)
        let msE = sse / dfE
        // Components truncated at zero; the variance of the mean is then a combination c·MS of the mean squares
        // whose component is kept (c = 1) and the residual's (whatever coefficient remains), over P·S.
        let keepP = msP > msE, keepS = msS > msE
        patientVariance = keepP ? (msP - msE) / sF : 0
        seedVariance = keepS ? (msS - msE) / pF : 0
        residualVariance = msE
        let terms: [(c: Double, ms: Double, df: Double)] = [(keepP ? 1 : 0, msP, dfP), (keepS ? 1 : 0, msS, dfS),
                                                             (1 - (keepP ? 1 : 0) - (keepS ? 1 : 0), msE, dfE)]
        let combination = terms.reduce(0) { $0 + $1.c * $1.ms }
        variance = combination / (pF * sF)
        let denominator = terms.reduce(0) { $0 + $1.c * $1.c * $1.ms * $1.ms / $1.df }
        df = denominator > 0 ? max(1, combination * combination / denominator) : dfE
    }

    public var standardError: Double { variance.squareRoot() }

    /// Two-sided p-value for a mean of zero. Without any spread a non-zero mean is certain and a zero one is not.
    public var p: Double {
        guard variance > 0 else { return mean == 0 ? 1 : 0 }
        return StudentT.twoSidedP(mean / standardError, df: df)
    }

    public func interval(level: Double = 0.95) -> ConfidenceInterval {
        let half = StudentT.quantile(0.5 + level / 2, df: df) * standardError
        return ConfidenceInterval(estimate: mean, lower: mean - half, upper: mean + half, level: level)
    }

    /// The smallest |mean| this design detects with 80 % power at two-sided α.
    public func minimumDetectable(alpha: Double = 0.05, power: Double = 0.8) -> Double {
        (StudentT.quantile(1 - alpha / 2, df: df) + StudentT.quantile(power, df: df)) * standardError
    }

    /// Variance of the mean with the same patients and `n` seeds, from the measured components.
    public func variance(seeds n: Int) -> Double {
        patientVariance / Double(patients) + seedVariance / Double(n) + residualVariance / Double(patients * n)
    }

    /// How many seeds a true difference of `gap` needs to be detected with 80 % power at two-sided α (normal
    /// approximation, as a plan needs), with these patients and the measured components.
    public enum SeedsNeeded: Equatable, Sendable {
        case seeds(Int)
        /// One seed: the seed-to-seed spread was not measured.
        case unmeasured
        /// The test patients alone leave more spread than the gap allows: no number of seeds suffices.
        case testSetTooSmall
        /// More than the plan looks at.
        case beyond(Int)
    }

    public func seedsNeeded(toDetect gap: Double, alpha: Double = 0.05, power: Double = 0.8, limit: Int = 1000) -> SeedsNeeded {
        guard seedNoiseMeasured else { return .unmeasured }
        let z = PairedTests.normalQuantile(1 - alpha / 2) + PairedTests.normalQuantile(power)
        let allowed = (gap / z) * (gap / z)
        guard patientVariance / Double(patients) < allowed else { return .testSetTooSmall }
        return (1...limit).first { variance(seeds: $0) <= allowed }.map { .seeds($0) } ?? .beyond(limit)
    }
}
