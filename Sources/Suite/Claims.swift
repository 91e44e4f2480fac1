import Foundation

extension Claim {
    /// "Among `rows`, the published winner on `dataset`/`metric` is also ours": replicated when our best row is the
    /// paper's best row. The numbers show both winners and our margin.
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
            let runnerUp = ours.filter { $0.0 != o.0 }.map(\.1).max() ?? o.1
            return ClaimOutcome(verdict: o.0 == p.0 ? .replicated : .notReplicated,
                                numbers: [ClaimNumber("ours: \(o.0)", o.1), ClaimNumber("paper: \(p.0)", p.1),
                                          ClaimNumber("our margin over the runner-up", abs(o.1 - runnerUp))])
        }
    }
}
