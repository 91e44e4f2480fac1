import Foundation
import Metrics

// The published table audit of a page: what a reader can check in the printed table itself, before any training.
// Each printed class average is recomputed from its class cells, and each printed p-value is recomputed as the
// paper describes it (MOSMOS: a two-sided Wilcoxon signed-rank test of MOSMOS against PubMedCLIP+DenseCLIP), whose
// pairs are the table's classes. The same class-level test is then run on our runs, beside the per-case paired
// test the claims use: a test over 7 or 13 organs says how consistently one method leads across organs, not how
// likely the lead is to hold on other patients.

public struct PublishedAudit: Equatable {
    public struct Average: Equatable {
        public var dataset, backbone, method, metric: String
        public var printed: Double
        public var recomputed: Double
        public var classes: Int
        /// Whether the printed value is the class mean up to the table's rounding: the printed average and each
        /// printed cell are rounded to two decimals, so the two can differ by up to 0.005 + 0.005.
        public var agrees: Bool { abs(printed - recomputed) <= 0.0101 }
    }

    public struct PValue: Equatable {
        public var dataset, backbone, method, versus, metric: String
        public var printed: Double
        public var recomputed: WilcoxonResult
    }

    public var averages: [Average]
    public var pValues: [PValue]

    /// The audit of one table's printed values.
    public static func of(paper: String, table: String, in catalogue: PublishedCatalogue) -> PublishedAudit {
        let values = catalogue.values(paper: paper, table: table)
        struct Key: Hashable { var dataset, backbone, method, variant, metric: String }
        var cells: [Key: [(String, Double)]] = [:], printedAvg: [Key: Double] = [:]
        var order: [Key] = []
        for v in values where v.metric != "Wilcoxon p" {
            let k = Key(dataset: v.dataset, backbone: v.backbone, method: v.method, variant: v.variant, metric: v.metric)
            if !order.contains(k) { order.append(k) }
            if v.className == "Avg" { printedAvg[k] = v.value } else { cells[k, default: []].append((v.className, v.value)) }
        }
        let averages = order.compactMap { k -> Average? in
            guard let p = printedAvg[k], let c = cells[k], !c.isEmpty else { return nil }
            return Average(dataset: k.dataset, backbone: k.backbone, method: k.method, metric: k.metric, printed: p,
                           recomputed: c.map(\.1).reduce(0, +) / Double(c.count), classes: c.count)
        }
        let pValues = values.filter { $0.metric == "Wilcoxon p" && $0.variant.hasPrefix("vs ") }.compactMap { v -> PValue? in
            let versus = String(v.variant.dropFirst(3)), metric = v.note.isEmpty ? "Dice" : v.note
            guard let a = cells[Key(dataset: v.dataset, backbone: v.backbone, method: v.method, variant: "", metric: metric)],
                  let b = cells[Key(dataset: v.dataset, backbone: v.backbone, method: versus, variant: "", metric: metric)] else { return nil }
            let bByClass = Dictionary(b, uniquingKeysWith: { x, _ in x })
            let pairs = a.compactMap { c, x in bByClass[c].map { (x, $0) } }
            return PValue(dataset: v.dataset, backbone: v.backbone, method: v.method, versus: versus, metric: metric, printed: v.value,
                          recomputed: wilcoxonSignedRank(pairs.map(\.0), pairs.map(\.1)))
        }
        return PublishedAudit(averages: averages, pValues: pValues)
    }

    /// The page's section.
    public func markdown(report: TableReport) -> [String] {
        var lines = ["## Published table audit", "",
                     "What the printed table itself supports, recomputed from its cells (`Papers/published-values.csv`).", ""]
        let off = averages.filter { !$0.agrees }
        lines.append("**Averages.** \(averages.count - off.count) of \(averages.count) printed averages equal the mean of their class cells to the table's rounding."
                     + (off.isEmpty ? "" : " These do not:"))
        if !off.isEmpty {
            lines += ["", "| Backbone | Method | Metric | printed | mean of the classes |", "|:--|:--|:--|--:|--:|"]
            for a in off {
                lines.append("| \(a.backbone) | \(a.method) | \(a.metric) | \(Markdown.format(a.printed, decimals: 2)) | \(Markdown.format(a.recomputed, decimals: 2)) |")
            }
        }
        if !pValues.isEmpty {
            lines += ["", "**p-values.** The paper's test: two-sided Wilcoxon signed-rank of the two rows' class cells (pairs = classes).", "",
                      "| Backbone | Comparison | Metric | classes | W | printed p | recomputed p |", "|:--|:--|:--|--:|--:|--:|--:|"]
            for p in pValues {
                let r = p.recomputed
                lines.append("| \(p.backbone) | \(p.method) vs \(p.versus) | \(p.metric) | \(r.n) | \(Markdown.formatNumber(r.statistic)) | \(String(format: "%.2g", p.printed)) | \(String(format: "%.4f", r.pValue)) (\(r.method.rawValue)) |")
            }
            let n = pValues.map(\.recomputed.n).max() ?? 0
            lines += ["", "What that tells a reader: the pairs are the table's \(n) classes, each already a mean over the test patients. "
                      + "With \(n) pairs an exact two-sided test cannot go below \(String(format: "%.4f", 2 / pow(2, Double(n)))), "
                      + "and a small p says that one method leads on most organs, not that the lead would hold on other patients: "
                      + "the patients, whose variation decides that, are not in the test. Our runs below get both tests."]
        }
        lines += ours(report)
        return lines + [""]
    }

    func pText(_ p: Double) -> String { p < 0.0001 ? "< 0.0001" : String(format: "%.4f", p) }

    /// Our runs tested both ways, for the pairs the paper tests and the pairs our claims compare.
    func ours(_ report: TableReport) -> [String] {
        let spec = report.spec
        var pairs: [(RowSpec, RowSpec, String)] = []
        for p in pValues {
            if let a = spec.rows.first(where: { $0.publishedMethod == p.method && $0.backbone == p.backbone }),
               let b = spec.rows.first(where: { $0.publishedMethod == p.versus && $0.backbone == p.backbone }) { pairs.append((a, b, p.metric)) }
        }
        if spec.backbones.count == 2 {
            for metric in Set(spec.metrics.filter(\.isClassAverage).map(\.id)).sorted() {
                let random = spec.rows.filter { $0.method == "Random" }
                if random.count == 2 { pairs.append((random[1], random[0], metric)) }
            }
        }
        guard !pairs.isEmpty else { return [] }
        var lines = ["", "**Our runs, both ways.** Over classes (the paper's test on our per-class means) and over test cases "
                     + "(paired per-case differences of the class-averaged score, patients and seeds random; the claims' statistics).", "",
                     "| Section | Comparison | Metric | Δ | over classes: p (n) | over cases: p (n), 95% CI |", "|:--|:--|:--|--:|--:|--:|"]
        for section in report.sections {
            let s = section.section
            for dataset in spec.datasets {
                for (a, b, metric) in pairs {
                    let label = "\(s.dataSource.rawValue) · \(s.scale)"
                    let name = "\(a.display) vs \(b.display) · \(a.backbone == b.backbone ? a.backbone : "\(a.backbone) vs \(b.backbone)")"
                    guard let avg = spec.metric(metric), let ma = s.stats(row: a, dataset: dataset, metric: avg),
                          let mb = s.stats(row: b, dataset: dataset, metric: avg) else {
                        lines.append("| \(label) | \(name) | \(metric) | not run yet | | |")
                        continue
                    }
                    let classMetrics = spec.metrics.filter { !$0.isClassAverage && $0.published == avg.published }
                    let x = classMetrics.map { s.stats(row: a, dataset: dataset, metric: $0)?.mean }
                    let y = classMetrics.map { s.stats(row: b, dataset: dataset, metric: $0)?.mean }
                    let both = zip(x, y).compactMap { u, v in u.flatMap { u in v.map { (u, $0) } } }
                    let w = wilcoxonSignedRank(both.map(\.0), both.map(\.1))
                    let lookup = ResultLookup(spec: spec, section: s, catalogue: report.catalogue)
                    let paired = lookup.paired(better: a.id, worse: b.id, dataset: dataset.id, metric: metric)
                    let sign = avg.higherIsBetter ? 1.0 : -1.0
                    let casesText = paired.map {
                        "\(pText($0.p)) (\($0.cases)), [\(Markdown.formatNumber(min(sign * $0.interval.lower, sign * $0.interval.upper))), \(Markdown.formatNumber(max(sign * $0.interval.lower, sign * $0.interval.upper)))]"
                    } ?? "no shared cases"
                    lines.append("| \(label) | \(name) | \(metric) | \(Markdown.signed(ma.mean - mb.mean, decimals: 2)) | "
                                 + "\(w.pValue.isNaN ? "undefined" : pText(w.pValue)) (\(w.n)) | \(casesText) |")
                }
            }
        }
        if report.sections.isEmpty { lines.append("| – | nothing has run yet | | | | |") }
        return lines
    }
}
