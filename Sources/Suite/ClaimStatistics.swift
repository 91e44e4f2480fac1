import Foundation
import Metrics
import Common

// The statistics behind a claim's verdict, shared by every paper's tables.
//
// - Pairing: two rows are compared on the test cases they share under each seed they share; the runner gives every
//   method of a seed the same data order, split and initialisation stream, so a seed is a matched pair.
// - Unit: the patient. Slices of one patient are not independent, so each patient's per-slice differences are
//   averaged first (per seed), and the tests and intervals below resample patients (a cluster-level analysis). Where
//   every case is its own patient (QaTa-COV19, the 3D sets) this changes nothing.
// - Primary test: the sign-flip permutation test on the per-case differences averaged over seeds
//   (PairedTests.signFlipP). It resolves small p-values with one seed, where an exact test over n seeds cannot go
//   below 2/2ⁿ.
// - Interval: the two-level bootstrap (cases, then seeds within a case) of the mean paired difference.
// - Multiplicity: Holm over every comparison of a table section's claims together.
// - Verdict: replicated when every comparison a claim rests on is significant in the paper's direction,
//   contradicted when one is significant against it, inconclusive otherwise, with the smallest effect the design
//   could have detected (80 % power, α = 0.05).

/// One paired comparison: `better` minus `worse` in the metric's good direction (positive = as claimed).
public struct PairedComparison: Equatable, Sendable {
    public var better: String
    public var worse: String
    /// Mean over cases of the per-case difference averaged over seeds, in report units.
    public var effect: Double
    public var interval: ConfidenceInterval
    /// Two-sided sign-flip p-value, before adjustment.
    public var p: Double
    /// After Holm over the section's comparisons (set by `ClaimStatistics.decide`).
    public var adjustedP: Double
    public var minimumDetectable: Double
    /// Independent units the comparison rests on: patients (or cases, where each case is a patient).
    public var cases: Int
    public var seeds: Int
    /// "cases" or "patients".
    public var unit: String = "cases"
}

extension ResultLookup {
    /// The paired comparison of two rows on the cases and seeds they share, nil when they share none.
    public func paired(better: String, worse: String, dataset: String, metric: String, claim: String) -> PairedComparison? {
        guard let rb = spec.row(better), let rw = spec.row(worse), let d = spec.dataset(dataset), let m = spec.metric(metric) else { return nil }
        let sign = m.higherIsBetter ? 1.0 : -1.0
        func bySeed(_ row: RowSpec) -> [Int: [String: Double]] {
            var out: [Int: [String: Double]] = [:]
            for run in section.runs(row: row, dataset: d) { out[run.record.config.seed] = run.caseValues(m) }
            return out
        }
        let a = bySeed(rb), b = bySeed(rw)
        let seeds = Set(a.keys).intersection(b.keys).sorted()
        let rule = d.patients(section.dataSource)
        // Per patient, per seed: the mean difference over the patient's cases that both rows scored.
        var perPatient: [String: [Double]] = [:]
        var casesSeen = Set<String>()
        for s in seeds {
            var sums: [String: (Double, Int)] = [:]
            for (caseId, va) in a[s]! {
                guard let vb = b[s]![caseId], va.isFinite, vb.isFinite else { continue }
                let (sum, n) = sums[rule.patient(forStem: caseId)] ?? (0, 0)
                sums[rule.patient(forStem: caseId)] = (sum + (va - vb) * m.factor * sign, n + 1)
                casesSeen.insert(caseId)
            }
            for (patient, (sum, n)) in sums { perPatient[patient, default: []].append(sum / Double(n)) }
        }
        guard !perPatient.isEmpty else { return nil }
        let rows = perPatient.keys.sorted().map { perPatient[$0]! }
        let means = rows.map { $0.reduce(0, +) / Double($0.count) }
        let seed = ClaimStatistics.seed(claim, better, worse)
        let p = PairedTests.signFlipP(means, seed: seed)
        return PairedComparison(better: better, worse: worse, effect: means.reduce(0, +) / Double(means.count),
                                interval: PairedTests.twoLevelBootstrap(rows, seed: seed &+ 1), p: p, adjustedP: p,
                                minimumDetectable: PairedTests.minimumDetectableEffect(caseMeans: means),
                                cases: rows.count, seeds: seeds.count, unit: rows.count < casesSeen.count ? "patients" : "cases")
    }
}

extension RunResult {
    /// Per-case values of `metric`: as stored, or, for a class average the runner did not store per case (HD95),
    /// each case's mean over its defined class values ("HD95:c"), the rule by which the per-case "Dice" is stored.
    func caseValues(_ metric: MetricSpec) -> [String: Double] {
        if let stored = cases[metric.id], !stored.isEmpty { return stored }
        guard metric.isClassAverage else { return [:] }
        var sums: [String: (Double, Int)] = [:]
        // Classes in name order, so that each case's sum is the same in every process (Dictionary order is not).
        for name in cases.keys.sorted() where name.hasPrefix(metric.id + ":") {
            for (caseId, v) in cases[name]! where v.isFinite {
                let (s, n) = sums[caseId] ?? (0, 0)
                sums[caseId] = (s + v, n + 1)
            }
        }
        return sums.mapValues { $0.0 / Double($0.1) }
    }
}

public enum ClaimStatistics {
    public static let alpha = 0.05

    /// A stream per (claim, comparison), so that a claim's numbers do not depend on which other claims the table has.
    static func seed(_ parts: String...) -> UInt64 { RNG.hash(parts.joined(separator: "\u{1F}")) }

    /// Holm-adjusts every comparison of `outcomes` together, then sets each claim's verdict and its numbers.
    public static func decide(_ outcomes: [ClaimOutcome]) -> [ClaimOutcome] {
        let flat = outcomes.flatMap(\.comparisons).map(\.p)
        var adjusted = PairedTests.holm(flat)[...]
        return outcomes.map { outcome in
            guard outcome.verdict != .notEvaluable, !outcome.comparisons.isEmpty else { return outcome }
            var o = outcome
            for i in o.comparisons.indices { o.comparisons[i].adjustedP = adjusted.removeFirst() }
            let significant = o.comparisons.filter { $0.adjustedP < alpha }
            if significant.contains(where: { $0.effect < 0 }) {
                o.verdict = .contradicted
            } else if significant.count == o.comparisons.count && o.comparisons.allSatisfy({ $0.effect > 0 }) {
                o.verdict = .replicated
            } else {
                o.verdict = .inconclusive
            }
            // The comparison that decides: the one against the claim when contradicted, else the weakest.
            let shown = o.verdict == .contradicted
                ? significant.filter { $0.effect < 0 }.min { $0.effect < $1.effect }!
                : o.comparisons.max { $0.adjustedP < $1.adjustedP }!
            let prefix = o.comparisons.count > 1 ? "vs \(shown.worse): " : ""
            o.numbers.append(ClaimNumber(prefix + "paired Δ", shown.effect))
            let ci = "[\(Markdown.formatNumber(shown.interval.lower)), \(Markdown.formatNumber(shown.interval.upper))]"
            var detail = "95% CI \(ci), p \(format(shown.adjustedP)) (Holm over \(flat.count)); \(shown.cases) \(shown.unit) × \(shown.seeds) seed\(shown.seeds == 1 ? "" : "s")"
            if o.comparisons.count > 1 {
                detail += "; \(significant.filter { $0.effect > 0 }.count) of \(o.comparisons.count) comparisons significant as claimed"
            }
            if o.verdict == .inconclusive {
                // With no spread at all (both rows score every case alike, e.g. both predict nothing) the normal
                // approximation's answer, 0, would read as perfect resolution.
                detail += shown.minimumDetectable > 0
                    ? "; smallest detectable Δ \(Markdown.formatNumber(shown.minimumDetectable))"
                    : "; the two rows score every case alike"
            }
            o.detail = [o.detail, detail].filter { !$0.isEmpty }.joined(separator: ". ")
            return o
        }
    }

    static func format(_ p: Double) -> String { p < 0.001 ? "< 0.001" : String(format: "%.3f", p) }
}
