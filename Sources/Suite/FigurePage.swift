import Foundation
import ArgumentParser
import Engine
import NN
import Models
import Data
import Metrics

// MARK: - Report page

public enum FigurePage {
    /// Reports/<target>.md: provenance, the figure, the figure's own explanation, the runs used, what is missing.
    static func render(_ s: FigureSession, _ drawing: FigureDrawing, generatedAt: Date = Date()) -> String {
        let spec = s.spec
        var out = ["# \(spec.title)", "",
                   "Paper, \(spec.source): _\(spec.caption)_", "",
                   "What the paper shows, what we draw and how: [\(spec.page)](\(Markdown.relativeToReports(spec.page))).",
                   "Generated \(Markdown.timestamp(generatedAt)) from `\(storeName(s))` by code `\(s.store.codeVersion)`.", ""]
        out += banner(s) + [""]
        out += ["![\(spec.title)](figures/\(spec.target).png)", ""]
        out += drawing.body
        out += runsTable(s)
        if !s.missing.isEmpty {
            out += ["## Missing", "", "Not drawn (grey cells marked no run, or absent columns); `\(s.command)` produces them.", ""]
            out += s.missing.map { "- \($0.method) · \($0.dataset): \(Markdown.oneLine($0.reason))" } + [""]
        }
        out.append(Drawn(runs: s.used.map(\.record.id).sorted(), cases: s.options.cases, scale: s.scale.rawValue).comment)
        return out.joined(separator: "\n") + "\n"
    }

    /// What a page was drawn from, embedded in it (an HTML comment), so that a clone holding the same runs without
    /// their weights keeps the committed figure instead of retraining to draw it again.
    struct Drawn: Codable, Equatable {
        var runs: [String]
        var cases: Int
        var scale: String

        static let marker = "repro-figure"
        var comment: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return "<!-- \(Drawn.marker) \(String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)) -->"
        }

        static func parse(page: String) -> Drawn? {
            guard let start = page.range(of: "<!-- \(marker) "),
                  let end = page.range(of: " -->", range: start.upperBound..<page.endIndex) else { return nil }
            return try? JSONDecoder().decode(Drawn.self, from: Data(page[start.upperBound..<end.lowerBound].utf8))
        }
    }

    static func storeName(_ s: FigureSession) -> String {
        let root = s.paths.root.path + "/", path = s.store.url.standardizedFileURL.path
        return path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
    }

    static func banner(_ s: FigureSession) -> [String] {
        var lines: [String] = []
        switch s.source {
        case .proxy:
            lines.append("> **Proxy data**: seeded synthetic stand-ins (Papers/TMC/datasets.md), not the paper's images; "
                         + "what the models do here says nothing about the published figure's images.")
        case .real:
            lines.append("> **Real data** from `\(s.options.table.dataRoot ?? "")`.")
        }
        let sources = s.datasets.compactMap { ds in (try? s.dataset(ds.id)).map { "\(ds.display): `\($0.source)`" } }
        lines += [">", "> Scale `\(s.scale.rawValue)` · training seed 0 · \(s.options.cases) test images per data set · "
                  + "weights selected on validation (`best.*`)." + (sources.isEmpty ? "" : " Data: " + sources.joined(separator: "; ") + ".")]
        return lines
    }

    static func runsTable(_ s: FigureSession) -> [String] {
        var lines = ["## Runs used", "",
                     Markdown.row(["Method", "Data set", "Run", "Code version", "Epochs (best)", "Weights", "Test Dice (%)", "Shown images: max |Dice − stored|"]),
                     Markdown.row([":--", ":--", ":--", ":--", "--:", ":--", "--:", "--:"])]
        for u in s.used.sorted(by: { order(s, $0) < order(s, $1) }) {
            lines.append(Markdown.row([u.method.row.display, u.dataset, "`\(u.record.id.prefix(12))`", "`\(u.record.codeVersion)`",
                                       "\(u.record.epochsDone) (\(u.record.bestEpoch.map(String.init) ?? "–"))", "`\(u.weights).*`",
                                       u.testDice.map { Markdown.format($0, decimals: 2) } ?? "–",
                                       u.maxDiceDifference.map { String(format: "%.4f", $0) } ?? "no stored cases"]))
        }
        let worst = s.used.compactMap(\.maxDiceDifference).max() ?? 0
        lines += ["", "The last column recomputes each shown image's Dice from the reloaded model and compares it with the "
                  + "per-image Dice the run stored at test time: "
                  + (worst < 0.01 ? "all agree (largest difference \(String(format: "%.4f", worst))), so the figure shows the models that Table 1 scored."
                                  : "**they differ by up to \(String(format: "%.2f", worst))**: the rebuilt model is not the one Table 1 scored (see the rows above)."), ""]
        return lines
    }

    private static func order(_ s: FigureSession, _ u: UsedRun) -> (Int, Int) {
        (s.datasets.firstIndex { $0.id == u.dataset } ?? 0, s.methods.firstIndex { $0.row.id == u.method.row.id } ?? 0)
    }
}
