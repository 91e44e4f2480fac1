import Foundation
import Metrics

// The statistics behind a claim's verdict, shared by every paper's tables.
//
// - Pairing: two rows are compared on the test cases they share under each seed they share; the runner gives every
//   method of a seed the same data order, split and initialisation stream, so a seed is a matched pair.
// - Unit: the patient. Slices of one patient are not independent, so each patient's per-slice differences are
//   averaged first (per seed), and the tests and intervals below resample patients (a cluster-level analysis). Where
//   every case is its own patient (QaTa-COV19, the 3D sets) this changes nothing.
// - Analysis: patients and seeds are both random factors (Metrics/CrossedMean): the claim is about other test
//   patients and other training runs, so the variance of the mean difference carries the patients' spread and the
//   seed-to-seed spread, the test and interval come from Student's t with Satterthwaite's degrees of freedom, and
//   a difference that one lucky seed produced stays inconclusive. It has no floor like an exact test over n seeds
//   (p ≥ 2/2ⁿ): with many patients and seeds that agree, p goes as low as the data say.
// - Multiplicity: Holm over every comparison of a table section's claims together.
// - Verdict: replicated when every comparison a claim rests on is significant in the paper's direction,
//   contradicted when one is significant against it, inconclusive otherwise, with the smallest effect the design
//   could have detected (80 % power, α = 0.05).
// - Seeds: from the measured components, the number of seeds at which the paper's own gap would be detected
//   (`CrossedMean.seedsNeeded`), shown per comparison on the page (`SeedPlan`).

/// One paired comparison: `better` minus `worse` in the metric's good direction (positive = as claimed).
public struct PairedComparison: Equatable, Sendable {
    public var better: String
    public var worse: String
    /// Mean over patients and seeds of the per-patient difference, in report units.
    public var effect: Double
    public var interval: ConfidenceInterval
    /// Two-sided p-value, before adjustment.
    public var p: Double
    /// After Holm over the section's comparisons (set by `ClaimStatistics.decide`).
    public var adjustedP: Double
    public var minimumDetectable: Double
    /// Independent units the comparison rests on: patients (or cases, where each case is a patient).
    public var cases: Int
    public var seeds: Int
    /// "cases" or "patients".
    public var unit: String = "cases"
    /// The analysis itself: per-seed effects, variance components, degrees of freedom.
    public var analysis: CrossedMean
    /// The paper's own difference between the two rows, in the claim's direction, when it publishes both.
    public var publishedGap: Double?
}

extension ResultLookup {
    /// The paired comparison of two rows on the cases and seeds they share, nil when they share none.
    public func paired(better: String, worse: String, dataset: String, metric: String) -> PairedComparison? {
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
        var perPatient: [String: [Int: Double]] = [:]
        var casesSeen = Set<String>()
        for s in seeds {
            var sums: [String: (Double, Int)] = [:]
            for (caseId, va) in a[s]! {
                guard let vb = b[s]![caseId], va.isFinite, vb.isFinite else { continue }
                let (sum, n) = sums[rule.patient(forStem: caseId)] ?? (0, 0)
                sums[rule.patient(forStem: caseId)] = (sum + (va - vb) * m.factor * sign, n + 1)
                casesSeen.insert(caseId)
            }
            for (patient, (sum, n)) in sums { perPatient[patient, default: [:]][s] = sum / Double(n) }
        }
        // The analysis needs every patient under every shared seed; the runs score one test set, so a patient
        // missing a seed has a case without a finite score there, and is left out.
        let rows = perPatient.keys.sorted().compactMap { p -> [Double]? in
            let bySeed = perPatient[p]!
            return bySeed.count == seeds.count ? seeds.map { bySeed[$0]! } : nil
        }
        guard !rows.isEmpty else { return nil }
        let analysis = CrossedMean(rows)
        let gap = published(row: better, dataset: dataset, metric: metric).flatMap { pb in
            published(row: worse, dataset: dataset, metric: metric).map { (pb - $0) * sign }
        }
        return PairedComparison(better: better, worse: worse, effect: analysis.mean, interval: analysis.interval(),
                                p: analysis.p, adjustedP: analysis.p, minimumDetectable: analysis.minimumDetectable(),
                                cases: rows.count, seeds: seeds.count,
                                unit: perPatient.count < casesSeen.count ? "patients" : "cases",
                                analysis: analysis, publishedGap: gap)
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
            if !shown.analysis.seedNoiseMeasured { detail += " (one seed: training noise not measured; the verdict is about these trained models)" }
            if o.comparisons.count > 1 {
                detail += "; \(significant.filter { $0.effect > 0 }.count) of \(o.comparisons.count) comparisons significant as claimed"
            }
            if o.verdict == .inconclusive {
                // With no spread at all (both rows score every case alike, e.g. both predict nothing) the normal
                // approximation's answer, 0, would read as perfect resolution.
                detail += shown.minimumDetectable > 0
                    ? "; smallest detectable Δ \(Markdown.formatNumber(shown.minimumDetectable))"
                    : "; the two rows score every case alike"
                // Whether more seeds would have told: the paper's own gap against the measured spread.
                if let gap = shown.publishedGap, shown.minimumDetectable > 0 {
                    switch shown.analysis.seedsNeeded(toDetect: gap) {
                    case .seeds(let n) where n > shown.seeds:
                        detail += "; inconclusive at this budget: the paper's gap (\(Markdown.formatNumber(gap))) would need \(n) seeds"
                    case .beyond(let n):
                        detail += "; the paper's gap (\(Markdown.formatNumber(gap))) would need more than \(n) seeds"
                    case .testSetTooSmall:
                        detail += "; no number of seeds detects the paper's gap (\(Markdown.formatNumber(gap))) with this test set"
                    default: break
                    }
                }
            }
            o.detail = [o.detail, detail].filter { !$0.isEmpty }.joined(separator: ". ")
            return o
        }
    }

    static func format(_ p: Double) -> String { p < 0.001 ? "< 0.001" : String(format: "%.3f", p) }
}
