import Foundation
import Common

/// An auxiliary loss weight (TMC's λ in L = L_seg + λ·L_align) chosen on validation: one model trained at each
/// value of a grid, at seed 0, as runs of a table of their own (`table`), and the value with the best validation
/// score used for every seed of every row that trains with that loss. The test split is never looked at. Tables
/// that share a selection (TMC's 1 and 2) share its runs, since a run's id is its configuration.
public struct AuxWeightSelection {
    /// The model whose weight is chosen (TMC itself; its ablations take the same λ).
    public var method: Method
    public var grid: (Scale) -> [Float]
    /// The store's table name for the grid's runs.
    public var table: String
    /// The seed the grid trains at.
    public var seed: Int

    public init(method: Method, grid: @escaping (Scale) -> [Float], table: String, seed: Int = 0) {
        self.method = method; self.grid = grid; self.table = table; self.seed = seed
    }

    /// The grid value with the highest validation score; the earlier value on a tie, so that the choice does not
    /// depend on the order runs finished in. A value without a finite score cannot be chosen.
    public static func choose(_ scores: [(value: Float, score: Double)]) -> Float? {
        var best: (value: Float, score: Double)?
        for s in scores where s.score.isFinite {
            if best == nil || s.score > best!.score { best = s }
        }
        return best?.value
    }
}

extension AuxWeightSelection {
    /// The grid on the page: per scale and data set, each value's best validation score, the chosen one in bold.
    /// The weight is read from the runs ("aux_weight"), so the page shows what was trained, not what the code says.
    static func markdown(_ runs: [RunResult]) -> [String] {
        guard !runs.isEmpty else { return [] }
        var lines = ["## λ chosen on validation", "",
                     "Each data set's weight of the auxiliary loss was chosen from a grid by the best validation score of "
                     + "one run per value (seed \(runs.map(\.record.config.seed).min()!)), before the table's cells "
                     + "trained; test scores played no part.", ""]
        let byScale = Dictionary(grouping: runs) { $0.record.config.scale }
        for scale in byScale.keys.sorted() {
            let group = byScale[scale]!
            let values = Set(group.compactMap { $0.record.config.hyperparameters["aux_weight"] })
                .sorted { (Float($0) ?? 0) < (Float($1) ?? 0) }
            let metric = group.first!.summary.keys.first { $0.hasPrefix("best_val_") } ?? "best_val_Dice"
            lines.append("Scale `\(scale)`, \(metric.dropFirst("best_val_".count)) on validation (%):")
            lines.append("")
            lines.append(Markdown.row(["Data set"] + values.map { "λ = \($0)" }))
            lines.append(Markdown.row(["---"] + values.map { _ in "--:" }))
            for dataset in Set(group.map(\.record.config.dataset)).sorted() {
                let latest = Dictionary(grouping: group.filter { $0.record.config.dataset == dataset }) {
                    $0.record.config.hyperparameters["aux_weight"] ?? ""
                }.mapValues { $0.max { ($0.record.finishedAt ?? .distantPast) < ($1.record.finishedAt ?? .distantPast) }! }
                let scores = values.map { v in (value: Float(v) ?? .nan, score: latest[v]?.summary[metric] ?? .nan) }
                let chosen = choose(scores)
                lines.append(Markdown.row([dataset] + scores.map { s in
                    guard s.score.isFinite else { return "–" }
                    let text = Markdown.format(s.score, decimals: 2)
                    return s.value == chosen ? "**\(text)**" : text
                }))
            }
            lines.append("")
        }
        return lines
    }
}
