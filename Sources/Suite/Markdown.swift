import Foundation

// MARK: - Markdown

public enum Markdown {
    /// The page of one table.
    public static func render(_ report: TableReport) -> String {
        var out: [String] = ["# \(report.spec.title)", "", report.summary.comment, ""]
        out += header(report)
        if report.sections.isEmpty {
            out += emptySection(report)
        }
        for section in report.sections {
            out += renderSection(section, report: report)
        }
        out += AuxWeightSelection.markdown(report.selectionRuns)
        if report.spec.audit {
            out += PublishedAudit.of(paper: report.spec.paper, table: report.spec.table, in: report.catalogue).markdown(report: report)
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func header(_ report: TableReport) -> [String] {
        let spec = report.spec
        var lines = ["Setup, hyperparameters and deviations: [\(spec.page)](\(relativeToReports(spec.page))).",
                     "Generated \(timestamp(report.generatedAt)) from `\(report.storeName)`."]
        if let version = spec.publishedVersion { lines.append("Published values: \(version).") }
        if let note = report.figureNote { lines += ["", "_Figures not drawn: \(note)._"] }
        return lines + [""]
    }

    static func emptySection(_ report: TableReport) -> [String] {
        var lines = ["## No runs yet", ""]
        if let command = report.spec.runCommand { lines += ["Run `\(command)` to fill this table.", ""] }
        if report.otherProtocolRuns > 0, let tags = report.spec.protocols {
            lines += ["\(report.otherProtocolRuns) finished runs of these cells trained under an earlier protocol are kept in the "
                      + "store and its export but not counted: this table counts runs of protocol "
                      + tags.sorted().map { "`\($0)`" }.joined(separator: ", ") + " only (\(report.spec.page)).", ""]
        }
        let empty = TableSection(dataSource: .proxy, scale: "", runs: [], spec: report.spec)
        let section = SectionReport(section: empty, checks: [], claims: [], figures: [], unfinished: [])
        for dataset in report.spec.datasets {
            lines += ["### \(dataset.display)", ""] + table(section, dataset: dataset, report: report) + [""]
        }
        return lines
    }

    static func renderSection(_ section: SectionReport, report: TableReport) -> [String] {
        let s = section.section
        var lines = ["## \(s.dataSource == .real ? "Real data" : "Proxy data") · scale `\(s.scale)`", ""]
        lines += banner(section, report: report) + [""]
        for dataset in report.spec.datasets {
            lines += ["### \(dataset.display)", ""] + table(section, dataset: dataset, report: report) + [""]
        }
        lines += toleranceLegend(section, report: report)
        lines += claims(section, report: report)
        lines += SeedPlan.markdown(section)
        lines += figures(section)
        return lines
    }

    static func banner(_ section: SectionReport, report: TableReport) -> [String] {
        let s = section.section
        var lines: [String] = []
        switch s.dataSource {
        case .real:
            lines.append("> **Real data**: the paper's data sets. Marks compare the mean over seeds with the published value.")
        case .proxy:
            lines.append("> **Proxy data**: seeded synthetic stand-ins, not the paper's images. The published column is for "
                + "orientation only; marks and Δ compare with our recorded reference "
                + "(Papers/\(report.spec.paper)/reference-\(s.scale).json).")
        }
        let seeds = s.seeds.isEmpty ? "none finished" : s.seeds.map(String.init).joined(separator: ", ")
        let copies = s.runs.filter { $0.record.trainedAs != nil }.count
        var facts = ["Scale `\(s.scale)`", "seeds \(seeds)",
                     "\(s.runs.count) finished runs" + (copies == 0 ? "" : " (\(copies) of them the same training as "
                        + "a run of another table, copied, not trained twice)")]
        let versions = s.codeVersions
        if !versions.isEmpty {
            facts.append("code " + versions.map { "`\($0)`" }.joined(separator: ", ")
                         + (versions.count > 1 ? " (runs from \(versions.count) code versions)" : ""))
        }
        let machines = s.machines
        if !machines.isEmpty { facts.append("CPU " + machines.joined(separator: "; ")) }
        if let first = s.firstStart, let last = s.lastFinish {
            facts.append("runs \(timestamp(first)) → \(timestamp(last))")
        }
        lines.append(">")
        lines.append("> " + facts.joined(separator: " · ") + ".")
        if s.superseded > 0 {
            lines.append(">")
            lines.append("> \(s.superseded) older runs of the same cells and seeds are superseded and not counted.")
        }
        if s.otherProtocols > 0 {
            let tags = report.spec.protocols.map { $0.sorted().map { "`\($0)`" }.joined(separator: ", ") } ?? ""
            lines.append(">")
            lines.append("> \(s.otherProtocols) finished runs of these cells trained under an earlier protocol are kept in "
                + "the store and its export but not counted: this table counts runs of protocol \(tags) only.")
        }
        if !section.unfinished.isEmpty {
            let running = section.unfinished.filter { $0.status == .running }.count
            let failed = section.unfinished.filter { $0.status == .failed }
            lines.append(">")
            lines.append("> Not yet in the table: \(running) running, \(failed.count) failed"
                         + (failed.first?.error.map { " (e.g. \(oneLine($0)))" } ?? "") + ".")
        }
        return lines
    }

    /// One row per method; per metric: published, reproduced mean ± sd, Δ, and the tolerance mark. Per-class
    /// metrics (13 organs × Dice and HD95, say) would make that hundreds of columns wide, so a table with them
    /// shows the class-averaged metrics this way first and then one compact table per backbone and metric, with
    /// the classes as columns as the paper prints them.
    static func table(_ section: SectionReport, dataset: DatasetSpec, report: TableReport) -> [String] {
        let averaged = report.spec.metrics.filter(\.isClassAverage)
        let perClass = report.spec.metrics.filter { !$0.isClassAverage }
        var lines = wideTable(section, dataset: dataset, report: report, metrics: averaged)
        guard !perClass.isEmpty else { return lines }
        for backbone in report.spec.backbones {
            for family in report.spec.classFamilies {
                let columns = perClass.filter { $0.published == family }
                let rows = report.spec.rows.filter { $0.backbone == backbone }
                lines += ["", "**\(family) per class\(backbone.isEmpty ? "" : ", " + backbone)** · reproduced (published), "
                          + "✓/✗ against the tolerance", ""]
                lines += classTable(section, dataset: dataset, report: report, rows: rows, metrics: columns)
            }
        }
        return lines
    }

    static func classTable(_ section: SectionReport, dataset: DatasetSpec, report: TableReport, rows: [RowSpec],
                           metrics: [MetricSpec]) -> [String] {
        var lines = [row(["Method"] + metrics.map(\.display)), row([":--"] + metrics.map { _ in "--:" })]
        for r in rows {
            let cells = metrics.map { metric -> String in
                let published = report.spec.published(row: r, dataset: dataset, metric: metric, in: report.catalogue)
                    .map { " (\(format($0.value, decimals: metric.decimals)))" } ?? ""
                guard let stats = section.section.stats(row: r, dataset: dataset, metric: metric) else {
                    return (section.section.runs(row: r, dataset: dataset).isEmpty ? "not run yet" : "no value") + published
                }
                let check = section.check(row: r, dataset: dataset, metric: metric)
                let mark = check.map { $0.status == .notEvaluable ? "" : " " + $0.status.mark } ?? ""
                return format(stats.mean, decimals: metric.decimals) + published + mark
            }
            lines.append(row([r.display] + cells))
        }
        return lines
    }

    static func wideTable(_ section: SectionReport, dataset: DatasetSpec, report: TableReport, metrics: [MetricSpec]) -> [String] {
        let spec = report.spec
        var head = ["Method"]
        var align = [":--"]
        for metric in metrics {
            head += ["\(metric.display) published", "\(metric.display) reproduced", "Δ", "✓"]
            align += ["--:", "--:", "--:", ":-:"]
        }
        var lines = [row(head), row(align)]
        for r in spec.rows {
            var cells = [r.display + (r.backbone.isEmpty || !spec.rows.contains { $0.backbone != r.backbone } ? "" : " · " + r.backbone)]
            for metric in metrics {
                cells += cellColumns(section, row: r, dataset: dataset, metric: metric, report: report)
            }
            lines.append(row(cells))
        }
        return lines
    }

    static func cellColumns(_ section: SectionReport, row r: RowSpec, dataset: DatasetSpec, metric: MetricSpec,
                            report: TableReport) -> [String] {
        let published = report.spec.published(row: r, dataset: dataset, metric: metric, in: report.catalogue)
        let publishedText = published.map { format($0.value, decimals: metric.decimals) } ?? "–"
        guard let stats = section.section.stats(row: r, dataset: dataset, metric: metric) else {
            let ran = !section.section.runs(row: r, dataset: dataset).isEmpty
            return [publishedText, ran ? "no value" : "not run yet", "", CheckStatus.notEvaluable.mark]
        }
        let check = section.check(row: r, dataset: dataset, metric: metric)
        let delta = check?.delta.map { signed($0, decimals: metric.decimals) } ?? ""
        return [publishedText, meanSD(stats, decimals: metric.decimals), delta, mark(check, decimals: metric.decimals)]
    }

    /// "80.10 ± 0.50"; a single run shows "(1 seed)" because it has no spread.
    public static func meanSD(_ stats: CellStats, decimals: Int) -> String {
        let mean = format(stats.mean, decimals: decimals)
        guard let sd = stats.sd else { return "\(mean) (1 seed)" }
        return "\(mean) ± \(format(sd, decimals: decimals))"
    }

    static func mark(_ check: CheckResult?, decimals: Int) -> String {
        guard let check else { return CheckStatus.notEvaluable.mark }
        guard let tolerance = check.tolerance, check.status != .notEvaluable else { return check.status.mark }
        return "\(check.status.mark) (±\(format(tolerance, decimals: decimals)))"
    }

    static func toleranceLegend(_ section: SectionReport, report: TableReport) -> [String] {
        guard let table = report.tolerances?.tables[report.spec.table] else {
            return ["Marks: no tolerances for \(report.spec.table) in Papers/\(report.spec.paper)/tolerances.json.", ""]
        }
        var lines: [String] = []
        switch section.section.dataSource {
        case .real:
            for metric in report.spec.summaryMetrics {
                guard let t = table.real[metric.id] ?? table.real[metricFamily(metric.id)] else { continue }
                let bound = format(t.absolute, decimals: metric.decimals)
                lines.append("- \(metric.display): ✓ when |reproduced − published| ≤ \(bound). \(t.why)")
            }
        case .proxy:
            let k = format(table.proxy.k, decimals: 1)
            lines.append("- ✓ when |reproduced − reference| ≤ max(\(k) · sd of the reference, floor); "
                         + "floors: " + report.spec.summaryMetrics
                         .compactMap { m in
                             (table.proxy.floor[m.id] ?? table.proxy.floor[metricFamily(m.id)]).map { "\(m.display) \(format($0, decimals: m.decimals))" }
                         }.joined(separator: ", ") + (report.spec.metrics.contains { !$0.isClassAverage } ? " (each class as its average)" : "")
                         + ". \(table.proxy.why)")
        }
        let missing = section.checks.filter { $0.status == .notEvaluable }.compactMap(\.reason)
        if let reason = Set(missing).sorted().first {
            lines.append("- – not evaluable: \(reason)" + (Set(missing).count > 1 ? " (and other reasons)" : "") + ".")
        }
        return ["Tolerances:", ""] + lines + [""]
    }

    static func claims(_ section: SectionReport, report: TableReport) -> [String] {
        guard !section.claims.isEmpty else { return [] }
        var lines = ["### Claims", "",
                     "Each claim is tested on paired per-case scores (same test cases, same seeds), a patient's slices "
                        + "averaged first where a patient has several. Δ is the mean paired difference in the claim's direction; "
                        + "its 95% interval and p-value treat both the patients and the seeds as random (a two-way analysis with "
                        + "Student's t and Satterthwaite's degrees of freedom), so the spread between training runs counts as "
                        + "well as the spread between patients. p is Holm-adjusted over every comparison of this section. "
                        + "✓ replicated: every comparison significant as claimed; ✗ contradicted: one significant against it; "
                        + "? inconclusive, with the smallest Δ this design detects at 80 % power.", "",
                     row(["", "Claim", "Source", "Verdict", "Numbers"]),
                     row(["---", "---", "---", "---", "---"])]
        for result in section.claims {
            let o = result.outcome
            var numbers = o.numbers.map { "\($0.label) \(formatNumber($0.value))" }.joined(separator: "; ")
            if !o.detail.isEmpty { numbers += (numbers.isEmpty ? "" : ". ") + o.detail }
            lines.append(row([result.claim.id, result.claim.text, result.claim.source,
                              "\(o.verdict.mark) \(o.verdict.rawValue)", numbers]))
        }
        return lines + [""]
    }

    static func figures(_ section: SectionReport) -> [String] {
        guard !section.figures.isEmpty else { return [] }
        var lines = ["### Figures", ""]
        for figure in section.figures {
            lines += ["![\(figure.title)](\(figure.svg))", "", "[PNG](\(figure.png))", ""]
        }
        return lines
    }

    // MARK: Index

    /// Reports/REPORT.md: one line per rendered table, then the store's run counts.
    public static func index(summaries: [ReportSummary], figures: [(title: String, file: String)] = [],
                             runCounts: [RunCount], generatedAt: Date) -> String {
        var lines = ["# Reproduction report", "",
                     "Generated \(timestamp(generatedAt)). Each table page shows published and reproduced values "
                        + "side by side.", ""]
        if summaries.isEmpty {
            lines += ["No table has been rendered yet.", ""]
        } else {
            lines += [row(["Table", "Paper", "Sections", "Cells ✓", "✗", "–", "Claims ✓", "✗", "?", "–"]),
                      row([":--", ":--", ":--", "--:", "--:", "--:", "--:", "--:", "--:", "--:"])]
            for s in summaries.sorted(by: { ($0.paper, $0.table, $0.target) < ($1.paper, $1.table, $1.target) }) {
                lines.append(row(["[\(s.title)](\(s.target).md)", s.paper, s.sections.joined(separator: ", "),
                                  "\(s.pass)", "\(s.fail)", "\(s.notEvaluable)",
                                  "\(s.claimsReplicated)", "\(s.claimsContradicted)", "\(s.claimsInconclusive)",
                                  "\(s.claimsNotEvaluable)"]))
            }
            lines.append("")
        }
        if !figures.isEmpty {
            lines += ["Figures:", ""] + figures.map { "- [\($0.title)](\($0.file))" } + [""]
        }
        lines += runTable(runCounts)
        return lines.joined(separator: "\n") + "\n"
    }

    static func runTable(_ counts: [RunCount]) -> [String] {
        guard !counts.isEmpty else { return ["The result store holds no runs."] }
        struct Key: Hashable, Comparable {
            var paper, table, source, scale: String
            static func < (a: Key, b: Key) -> Bool {
                (a.paper, a.table, a.source, a.scale) < (b.paper, b.table, b.source, b.scale)
            }
        }
        var grouped: [Key: [RunStatus: Int]] = [:]
        for c in counts {
            let key = Key(paper: c.paper, table: c.table, source: c.dataSource.rawValue, scale: c.scale)
            grouped[key, default: [:]][c.status, default: 0] += c.count
        }
        var lines = ["## Runs in the store", "", row(["Paper", "Table", "Data", "Scale", "Finished", "Running", "Failed"]),
                     row([":--", ":--", ":--", ":--", "--:", "--:", "--:"])]
        for key in grouped.keys.sorted() {
            let n = grouped[key]!
            lines.append(row([key.paper, key.table, key.source, key.scale,
                              "\(n[.finished] ?? 0)", "\(n[.running] ?? 0)", "\(n[.failed] ?? 0)"]))
        }
        return lines
    }

    // MARK: Formatting

    static func row(_ cells: [String]) -> String {
        "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |"
    }

    public static func format(_ value: Double, decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "–"
    }

    public static func signed(_ value: Double, decimals: Int) -> String {
        let text = format(value, decimals: decimals)
        return value >= 0 && value.isFinite ? "+" + text : text
    }

    /// A claim's numbers (values, gaps, margins in the table's units): two decimals for all of them, as the table
    /// prints its cells, so that a margin of 0.08 does not read as more precise than the 84.77 beside it.
    public static func formatNumber(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        return String(format: "%.2f", value)
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    static func oneLine(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count > 120 ? String(flat.prefix(117)) + "..." : flat
    }

    static func relativeToReports(_ rootRelative: String) -> String { "../" + rootRelative }
}
