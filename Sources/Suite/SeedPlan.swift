import Foundation
import Metrics

/// The page's "Seeds" section: for every paired comparison a claim rests on, the per-seed differences, the
/// seed-to-seed spread they measure, and how many seeds the paper's own gap would need to be detected (80 % power,
/// α = 0.05, before Holm) with this test set. It is how a table's seed count is chosen from a pilot, and why a
/// verdict at a smaller count is inconclusive at that budget.
enum SeedPlan {
    static func markdown(_ section: SectionReport) -> [String] {
        let rows = section.claims.flatMap { r in r.outcome.comparisons.map { (claim: r.claim, c: $0) } }
        guard rows.contains(where: { $0.c.analysis.seedNoiseMeasured }) else { return [] }
        var lines = ["### Seeds: the spread between seeds and the count it asks for", "",
                     "Per comparison: Δ under each seed (mean over patients), σ_seed the seed-to-seed standard deviation "
                        + "of a difference beyond what the test patients explain (from the two-way analysis), the paper's own "
                        + "gap between the two rows, and the seeds at which a true difference of that size would be detected "
                        + "with 80 % power at α = 0.05 with this test set (normal approximation, before Holm). "
                        + "\"test set\": the test patients alone leave too much spread, whatever the seeds.", "",
                     Markdown.row(["Claim", "Comparison", "Δ per seed", "σ_seed", "Paper's gap", "Seeds for the paper's gap"]),
                     Markdown.row(["---", "---", "--:", "--:", "--:", "--:"])]
        var needs: [Int] = [], unreachable = 0
        for (claim, c) in rows {
            let a = c.analysis
            let perSeed = a.seedMeans.map { Markdown.formatNumber($0) }.joined(separator: ", ")
            var needed = "–"
            if let gap = c.publishedGap {
                switch a.seedsNeeded(toDetect: gap) {
                case .seeds(let n): needed = "\(n)"; needs.append(n)
                case .beyond(let n): needed = "> \(n)"; unreachable += 1
                case .testSetTooSmall: needed = "test set"; unreachable += 1
                case .unmeasured: needed = "one seed"
                }
            }
            lines.append(Markdown.row([claim.id, "\(c.better) − \(c.worse)", perSeed,
                                       a.seedNoiseMeasured ? Markdown.formatNumber(a.seedVariance.squareRoot()) : "–",
                                       c.publishedGap.map(Markdown.formatNumber) ?? "–", needed]))
        }
        lines.append("")
        if !needs.isEmpty || unreachable > 0 {
            let sorted = needs.sorted()
            let total = needs.count + unreachable
            var summary = "\(total) comparison\(total == 1 ? "" : "s") with a published gap"
            if !sorted.isEmpty {
                summary += ": \(sorted.count) reachable with \(sorted.first!) to \(sorted.last!) seeds (median \(sorted[sorted.count / 2]))"
            }
            if unreachable > 0 { summary += "; \(unreachable) cannot be reached by adding seeds to this design" }
            lines += [summary + ". The seed count this table ran, and why, is in the paper's notes beside it.", ""]
        }
        return lines
    }
}
