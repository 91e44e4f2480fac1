import Foundation

extension Claim {
    /// "Among `rows`, the paper's winner on `dataset`/`metric` is the best": the intersection of the paired
    /// comparisons of that row against every other row, all of which must hold. Our own winner and its margin over
    /// the runner-up are shown beside the test.
    public static func sameWinner(id: String, text: String, source: String, rows: [String], dataset: String, metric: String) -> Claim {
        Claim(id: id, text: text, source: source) { lookup in
            let higher = lookup.spec.metric(metric)?.higherIsBetter ?? true
            func best(_ values: [(String, Double)]) -> (String, Double)? {
                values.max { higher ? $0.1 < $1.1 : $0.1 > $1.1 }
            }
            let ours = rows.compactMap { r in lookup.mean(row: r, dataset: dataset, metric: metric).map { (r, $0) } }
            let published = rows.compactMap { r in lookup.published(row: r, dataset: dataset, metric: metric).map { (r, $0) } }
            guard ours.count == rows.count, let o = best(ours), let p = best(published) else {
                return .notEvaluable("needs finished runs of all of \(rows.joined(separator: ", ")) on \(dataset)")
            }
            let comparisons = rows.filter { $0 != p.0 }.compactMap {
                lookup.paired(better: p.0, worse: $0, dataset: dataset, metric: metric)
            }
            guard comparisons.count == rows.count - 1 else {
                return .notEvaluable("no per-case \(metric) shared by \(p.0) and every other row on \(dataset) under a common seed")
            }
            let runnerUp = ours.filter { $0.0 != o.0 }.map(\.1).max() ?? o.1
            return ClaimOutcome(verdict: .inconclusive,
                                numbers: [ClaimNumber("ours: \(o.0)", o.1), ClaimNumber("paper: \(p.0)", p.1),
                                          ClaimNumber("our margin over the runner-up", abs(o.1 - runnerUp))],
                                comparisons: comparisons)
        }
    }
}
