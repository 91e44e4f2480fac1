import Foundation

// Table specs, the grouping of finished runs into report sections, and the Markdown pages. Rendering is a pure
// function from a `TableReport` to text; only `ReportWriter` touches the store, gnuplot and the file system.

// MARK: - Table spec

/// A row of a table: which runs it collects (store method/variant) and which printed numbers it sits beside.
public struct RowSpec: Sendable {
    /// Name used by claims; unique within the table.
    public var id: String
    public var display: String
    public var method: String
    public var variant: String
    public var publishedMethod: String
    public var publishedVariant: String
    public var backbone: String

    public init(_ display: String, method: String, variant: String = "", id: String? = nil,
                publishedMethod: String? = nil, publishedVariant: String? = nil, backbone: String = "") {
        self.id = id ?? display
        self.display = display
        self.method = method
        self.variant = variant
        self.publishedMethod = publishedMethod ?? method
        self.publishedVariant = publishedVariant ?? variant
        self.backbone = backbone
    }
}

public struct DatasetSpec: Sendable {
    /// The store's dataset name.
    public var id: String
    public var display: String
    public var published: String

    public init(_ id: String, display: String? = nil, published: String? = nil) {
        self.id = id
        self.display = display ?? id
        self.published = published ?? id
    }
}

public struct MetricSpec: Sendable {
    /// The store's metric name (summary or case metric).
    public var id: String
    public var display: String
    public var published: String
    public var className: String
    /// Multiplies stored values into published units (100 when the runner stores Dice as a fraction).
    public var factor: Double
    public var decimals: Int
    public var higherIsBetter: Bool

    public init(_ id: String, display: String? = nil, published: String? = nil, className: String = "mean",
                factor: Double = 1, decimals: Int = 2, higherIsBetter: Bool = true) {
        self.id = id
        self.display = display ?? id
        self.published = published ?? id
        self.className = className
        self.factor = factor
        self.decimals = decimals
        self.higherIsBetter = higherIsBetter
    }
}

/// Which training curve to draw: mean over seeds per epoch, one line per row.
public struct CurveSpec: Sendable {
    public var split: String
    public var metric: String
    public var display: String
    public var factor: Double

    public init(split: String = "val", metric: String = "Dice", display: String? = nil, factor: Double = 1) {
        self.split = split
        self.metric = metric
        self.display = display ?? "\(split) \(metric)"
        self.factor = factor
    }
}

public struct TableSpec {
    public var paper: String
    public var table: String
    /// Names Reports/<target>.md and the figures.
    public var target: String
    public var title: String
    /// The literate page, relative to the repository root (e.g. Papers/TMC/Table1.md).
    public var page: String
    public var rows: [RowSpec]
    public var datasets: [DatasetSpec]
    public var metrics: [MetricSpec]
    public var claims: [Claim]
    public var curve: CurveSpec?
    /// Which printing of the paper the published column comes from.
    public var publishedVersion: String?
    /// Shown when nothing has run yet.
    public var runCommand: String?
    /// When set, only these runs count; otherwise every finished run of the table's rows does, the latest per seed.
    public var grid: [RunConfig]?

    public init(paper: String, table: String, target: String, title: String, page: String, rows: [RowSpec],
                datasets: [DatasetSpec], metrics: [MetricSpec], claims: [Claim] = [], curve: CurveSpec? = CurveSpec(),
                publishedVersion: String? = nil, runCommand: String? = nil, grid: [RunConfig]? = nil) {
        self.paper = paper
        self.table = table
        self.target = target
        self.title = title
        self.page = page
        self.rows = rows
        self.datasets = datasets
        self.metrics = metrics
        self.claims = claims
        self.curve = curve
        self.publishedVersion = publishedVersion
        self.runCommand = runCommand
        self.grid = grid
    }

    public func row(_ id: String) -> RowSpec? { rows.first { $0.id == id } }
    public func dataset(_ id: String) -> DatasetSpec? { datasets.first { $0.id == id } }
    public func metric(_ id: String) -> MetricSpec? { metrics.first { $0.id == id } }

    public func published(row: RowSpec, dataset: DatasetSpec, metric: MetricSpec,
                          in catalogue: PublishedCatalogue) -> PublishedValue? {
        catalogue.value(paper: paper, table: table, dataset: dataset.published, backbone: row.backbone,
                        method: row.publishedMethod, variant: row.publishedVariant, metric: metric.published,
                        class: metric.className)
    }

    func rowFor(_ config: RunConfig) -> RowSpec? {
        rows.first { $0.method == config.method && $0.variant == config.variant }
    }

    func accepts(_ config: RunConfig, gridIds: Set<String>?) -> Bool {
        guard config.paper == paper, config.table == table, rowFor(config) != nil,
              dataset(config.dataset) != nil else { return false }
        return gridIds.map { $0.contains(config.id) } ?? true
    }

    /// Groups the table's finished runs by data source and scale (real data first). Within a cell, a seed that
    /// ran under several configurations counts once, with its most recently finished run.
    public func sections(from results: [RunResult]) -> [TableSection] {
        let gridIds = grid.map { Set($0.map(\.id)) }
        let mine = results.filter { $0.record.status == .finished && accepts($0.record.config, gridIds: gridIds) }
        let grouped = Dictionary(grouping: mine) {
            SectionKey(dataSource: $0.record.config.dataSource, scale: $0.record.config.scale)
        }
        return grouped.keys.sorted().map { key in
            let (kept, dropped) = latestPerSeed(grouped[key]!)
            return TableSection(dataSource: key.dataSource, scale: key.scale, runs: kept, superseded: dropped, spec: self)
        }
    }

    private func latestPerSeed(_ runs: [RunResult]) -> ([RunResult], Int) {
        func latest(_ r: RunResult) -> (Date, String) { (r.record.finishedAt ?? .distantPast, r.record.id) }
        let bySeed = Dictionary(grouping: runs) { run in
            let c = run.record.config
            return "\(c.method)\u{1F}\(c.variant)\u{1F}\(c.dataset)\u{1F}\(c.seed)"
        }
        let kept = bySeed.values.map { group in
            group.max { latest($0) < latest($1) }!
        }
        func order(_ r: RunResult) -> (String, String, String, Int) {
            (r.record.config.dataset, r.record.config.method, r.record.config.variant, r.record.config.seed)
        }
        let ordered = kept.sorted { order($0) < order($1) }
        return (ordered, runs.count - kept.count)
    }
}

public struct SectionKey: Hashable, Comparable, Sendable {
    public var dataSource: DataSource
    public var scale: String

    public init(dataSource: DataSource, scale: String) {
        self.dataSource = dataSource
        self.scale = scale
    }

    public static func < (a: SectionKey, b: SectionKey) -> Bool {
        let rank: (DataSource) -> Int = { $0 == .real ? 0 : 1 }
        return (rank(a.dataSource), a.scale) < (rank(b.dataSource), b.scale)
    }
}

/// Mean and sample standard deviation of one cell over its runs (one per seed), in report units.
public struct CellStats: Equatable, Sendable {
    public let values: [Double]
    public let seeds: [Int]
    public let mean: Double
    /// nil below two runs.
    public let sd: Double?

    public init(values: [Double], seeds: [Int]) {
        self.values = values
        self.seeds = seeds
        let n = Double(values.count)
        mean = values.isEmpty ? .nan : values.reduce(0, +) / n
        if values.count >= 2 {
            let m = mean
            sd = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot()
        } else {
            sd = nil
        }
    }

    public var n: Int { values.count }
}

/// The finished runs of one table at one data source and scale.
public struct TableSection {
    public let dataSource: DataSource
    public let scale: String
    public let runs: [RunResult]
    /// Runs left out because a later run of the same cell and seed replaced them.
    public let superseded: Int
    let spec: TableSpec

    public init(dataSource: DataSource, scale: String, runs: [RunResult], superseded: Int = 0, spec: TableSpec) {
        self.dataSource = dataSource
        self.scale = scale
        self.runs = runs
        self.superseded = superseded
        self.spec = spec
    }

    public var key: SectionKey { SectionKey(dataSource: dataSource, scale: scale) }

    public func runs(row: RowSpec, dataset: DatasetSpec) -> [RunResult] {
        runs.filter {
            let c = $0.record.config
            return c.method == row.method && c.variant == row.variant && c.dataset == dataset.id
        }
    }

    /// Non-finite run values are left out rather than turning the mean into NaN.
    public func stats(row: RowSpec, dataset: DatasetSpec, metric: MetricSpec) -> CellStats? {
        let pairs = runs(row: row, dataset: dataset).compactMap { run -> (Double, Int)? in
            guard let v = run.value(of: metric.id), v.isFinite else { return nil }
            return (v * metric.factor, run.record.config.seed)
        }
        return pairs.isEmpty ? nil : CellStats(values: pairs.map(\.0), seeds: pairs.map(\.1))
    }

    public func caseMeans(row: RowSpec, dataset: DatasetSpec, metric: MetricSpec) -> [String: Double] {
        var sums: [String: (Double, Int)] = [:]
        for run in runs(row: row, dataset: dataset) {
            for (caseId, value) in run.cases[metric.id] ?? [:] where value.isFinite {
                let (s, n) = sums[caseId] ?? (0, 0)
                sums[caseId] = (s + value * metric.factor, n + 1)
            }
        }
        return sums.mapValues { $0.0 / Double($0.1) }
    }

    public var seeds: [Int] { Array(Set(runs.map { $0.record.config.seed })).sorted() }
    public var codeVersions: [String] {
        Array(Set(runs.flatMap { $0.record.codeVersion.split(separator: ",").map(String.init) })).sorted()
    }
    public var firstStart: Date? { runs.compactMap(\.record.startedAt).min() }
    public var lastFinish: Date? { runs.compactMap(\.record.finishedAt).max() }

    /// Mean over seeds of the curve, per row and data set; epochs a seed did not reach (early stopping) are
    /// averaged over the seeds that did.
    public func meanCurve(row: RowSpec, dataset: DatasetSpec, curve: CurveSpec) -> [(epoch: Int, value: Double)] {
        var sums: [Int: (Double, Int)] = [:]
        for run in runs(row: row, dataset: dataset) {
            for point in run.curves where point.split == curve.split && point.metric == curve.metric && point.value.isFinite {
                let (s, n) = sums[point.epoch] ?? (0, 0)
                sums[point.epoch] = (s + point.value * curve.factor, n + 1)
            }
        }
        return sums.keys.sorted().map { ($0, sums[$0]!.0 / Double(sums[$0]!.1)) }
    }
}

// MARK: - Report model

public struct FigureRef: Equatable, Sendable {
    public var title: String
    /// Paths relative to Reports/.
    public var svg: String
    public var png: String

    public init(title: String, svg: String, png: String) {
        self.title = title
        self.svg = svg
        self.png = png
    }
}

public struct SectionReport {
    public let section: TableSection
    public let checks: [CheckResult]
    public let claims: [ClaimResult]
    public let figures: [FigureRef]
    /// Runs of this section that are still running or have failed.
    public let unfinished: [RunRecord]

    public init(section: TableSection, checks: [CheckResult], claims: [ClaimResult], figures: [FigureRef],
                unfinished: [RunRecord]) {
        self.section = section
        self.checks = checks
        self.claims = claims
        self.figures = figures
        self.unfinished = unfinished
    }

    func check(row: RowSpec, dataset: DatasetSpec, metric: MetricSpec) -> CheckResult? {
        checks.first { $0.row == row.id && $0.dataset == dataset.id && $0.metric == metric.id }
    }
}

public struct TableReport {
    public let spec: TableSpec
    public let catalogue: PublishedCatalogue
    public let tolerances: ToleranceFile?
    public let sections: [SectionReport]
    public let generatedAt: Date
    /// Set when figures could not be drawn (gnuplot missing or failing); the page says so.
    public let figureNote: String?
    /// Shown in the header as the data's origin, e.g. Reports/results.sqlite.
    public let storeName: String

    public init(spec: TableSpec, catalogue: PublishedCatalogue, tolerances: ToleranceFile?, sections: [SectionReport],
                generatedAt: Date, figureNote: String? = nil, storeName: String = "Reports/results.sqlite") {
        self.spec = spec
        self.catalogue = catalogue
        self.tolerances = tolerances
        self.sections = sections
        self.generatedAt = generatedAt
        self.figureNote = figureNote
        self.storeName = storeName
    }

    /// Builds the checks and claim verdicts of each section; figures are attached by the caller.
    public static func assemble(spec: TableSpec, results: [RunResult], unfinished: [RunRecord] = [],
                                catalogue: PublishedCatalogue, tolerances: ToleranceFile?,
                                references: [String: ReferenceFile], figures: [SectionKey: [FigureRef]] = [:],
                                figureNote: String? = nil, generatedAt: Date = Date(),
                                storeName: String = "Reports/results.sqlite") -> TableReport {
        var sections = Dictionary(uniqueKeysWithValues: spec.sections(from: results).map { ($0.key, $0) })
        let pending = unfinished.filter { $0.config.paper == spec.paper && $0.config.table == spec.table }
        for record in pending {
            let key = SectionKey(dataSource: record.config.dataSource, scale: record.config.scale)
            if sections[key] == nil {
                sections[key] = TableSection(dataSource: key.dataSource, scale: key.scale, runs: [], spec: spec)
            }
        }
        let reports = sections.keys.sorted().map { key -> SectionReport in
            let section = sections[key]!
            let reference = key.dataSource == .proxy ? references[key.scale] : nil
            let lookup = ResultLookup(spec: spec, section: section, catalogue: catalogue)
            return SectionReport(
                section: section,
                checks: Checks.check(spec: spec, section: section, catalogue: catalogue, tolerances: tolerances,
                                     reference: reference),
                claims: spec.claims.map { ClaimResult(claim: $0, outcome: $0.evaluate(lookup)) },
                figures: figures[key] ?? [],
                unfinished: pending.filter { $0.config.dataSource == key.dataSource && $0.config.scale == key.scale })
        }
        return TableReport(spec: spec, catalogue: catalogue, tolerances: tolerances, sections: reports,
                           generatedAt: generatedAt, figureNote: figureNote, storeName: storeName)
    }

    /// Cell and claim tallies, also embedded in the page for the index.
    public var summary: ReportSummary {
        let checks = sections.flatMap(\.checks)
        let claims = sections.flatMap(\.claims)
        return ReportSummary(target: spec.target, title: spec.title, paper: spec.paper, table: spec.table,
                             pass: checks.filter { $0.status == .pass }.count,
                             fail: checks.filter { $0.status == .fail }.count,
                             notEvaluable: checks.filter { $0.status == .notEvaluable }.count,
                             claimsReplicated: claims.filter { $0.outcome.verdict == .replicated }.count,
                             claimsNotReplicated: claims.filter { $0.outcome.verdict == .notReplicated }.count,
                             claimsNotEvaluable: claims.filter { $0.outcome.verdict == .notEvaluable }.count,
                             sections: sections.map { "\($0.section.dataSource.rawValue)/\($0.section.scale)" })
    }
}

public struct ReportSummary: Codable, Equatable, Sendable {
    public var target: String
    public var title: String
    public var paper: String
    public var table: String
    public var pass: Int
    public var fail: Int
    public var notEvaluable: Int
    public var claimsReplicated: Int
    public var claimsNotReplicated: Int
    public var claimsNotEvaluable: Int
    public var sections: [String]

    static let marker = "repro-summary"

    /// An HTML comment, invisible on the rendered page, that the index reads back.
    var comment: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "<!-- \(Self.marker) \(json) -->"
    }

    /// The summary embedded in a rendered page, if any.
    public static func parse(page: String) -> ReportSummary? {
        guard let start = page.range(of: "<!-- \(marker) "),
              let end = page.range(of: " -->", range: start.upperBound..<page.endIndex) else { return nil }
        return try? JSONDecoder().decode(ReportSummary.self, from: Data(page[start.upperBound..<end.lowerBound].utf8))
    }
}

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
        var facts = ["Scale `\(s.scale)`", "seeds \(seeds)", "\(s.runs.count) finished runs"]
        let versions = s.codeVersions
        if !versions.isEmpty {
            facts.append("code " + versions.map { "`\($0)`" }.joined(separator: ", ")
                         + (versions.count > 1 ? " (runs from \(versions.count) code versions)" : ""))
        }
        if let first = s.firstStart, let last = s.lastFinish {
            facts.append("runs \(timestamp(first)) → \(timestamp(last))")
        }
        lines.append(">")
        lines.append("> " + facts.joined(separator: " · ") + ".")
        if s.superseded > 0 {
            lines.append(">")
            lines.append("> \(s.superseded) older runs of the same cells and seeds are superseded and not counted.")
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

    /// One row per method; per metric: published, reproduced mean ± sd, Δ, and the tolerance mark.
    static func table(_ section: SectionReport, dataset: DatasetSpec, report: TableReport) -> [String] {
        let spec = report.spec
        var head = ["Method"]
        var align = [":--"]
        for metric in spec.metrics {
            head += ["\(metric.display) published", "\(metric.display) reproduced", "Δ", "✓"]
            align += ["--:", "--:", "--:", ":-:"]
        }
        var lines = [row(head), row(align)]
        for r in spec.rows {
            var cells = [r.display]
            for metric in spec.metrics {
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
            return [publishedText, ran ? "no value" : "not run", "", CheckStatus.notEvaluable.mark]
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
            for metric in report.spec.metrics {
                guard let t = table.real[metric.id] else { continue }
                let bound = format(t.absolute, decimals: metric.decimals)
                lines.append("- \(metric.display): ✓ when |reproduced − published| ≤ \(bound). \(t.why)")
            }
        case .proxy:
            let k = format(table.proxy.k, decimals: 1)
            lines.append("- ✓ when |reproduced − reference| ≤ max(\(k) · sd of the reference, floor); "
                         + "floors: " + report.spec.metrics.compactMap { m in
                             table.proxy.floor[m.id].map { "\(m.display) \(format($0, decimals: m.decimals))" }
                         }.joined(separator: ", ") + ". \(table.proxy.why)")
        }
        let missing = section.checks.filter { $0.status == .notEvaluable }.compactMap(\.reason)
        if let reason = Set(missing).sorted().first {
            lines.append("- – not evaluable: \(reason)" + (Set(missing).count > 1 ? " (and other reasons)" : "") + ".")
        }
        return ["Tolerances:", ""] + lines + [""]
    }

    static func claims(_ section: SectionReport, report: TableReport) -> [String] {
        guard !section.claims.isEmpty else { return [] }
        var lines = ["### Claims", "", row(["", "Claim", "Source", "Verdict", "Numbers"]),
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
            lines += [row(["Table", "Paper", "Sections", "Cells ✓", "✗", "–", "Claims ✓", "✗", "–"]),
                      row([":--", ":--", ":--", "--:", "--:", "--:", "--:", "--:", "--:"])]
            for s in summaries.sorted(by: { ($0.paper, $0.table, $0.target) < ($1.paper, $1.table, $1.target) }) {
                lines.append(row(["[\(s.title)](\(s.target).md)", s.paper, s.sections.joined(separator: ", "),
                                  "\(s.pass)", "\(s.fail)", "\(s.notEvaluable)",
                                  "\(s.claimsReplicated)", "\(s.claimsNotReplicated)", "\(s.claimsNotEvaluable)"]))
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

// MARK: - Writing pages

/// Renders table pages, their figures and the index into Reports/.
public struct ReportWriter {
    public let paths: ProjectPaths
    public let store: ResultStore
    public let gnuplot: Gnuplot

    public init(paths: ProjectPaths, store: ResultStore, gnuplot: Gnuplot = Gnuplot()) {
        self.paths = paths
        self.store = store
        self.gnuplot = gnuplot
    }

    /// Writes Reports/<target>.md with its figures, then refreshes Reports/REPORT.md. Returns the page's URL.
    @discardableResult
    public func write(_ spec: TableSpec) throws -> URL {
        let report = try build(spec)
        let url = paths.report(target: spec.target)
        try FileManager.default.createDirectory(at: paths.reports, withIntermediateDirectories: true)
        try Markdown.render(report).write(to: url, atomically: true, encoding: .utf8)
        try writeIndex()
        return url
    }

    public func build(_ spec: TableSpec) throws -> TableReport {
        let filter = RunFilter(paper: spec.paper, table: spec.table)
        let results = try store.results(filter)
        let unfinished = try store.runs(filter).filter { $0.status != .finished }
        let catalogue = try PublishedCatalogue.load(paths)
        let tolerances = try ToleranceFile.load(paper: spec.paper, paths: paths)
        var references: [String: ReferenceFile] = [:]
        for section in spec.sections(from: results) where section.dataSource == .proxy {
            references[section.scale] = try ReferenceFile.load(paper: spec.paper, scale: section.scale, paths: paths)
        }
        let (figures, note) = drawFigures(spec, results: results, catalogue: catalogue)
        return TableReport.assemble(spec: spec, results: results, unfinished: unfinished, catalogue: catalogue,
                                    tolerances: tolerances, references: references, figures: figures, figureNote: note,
                                    storeName: storeName)
    }

    private var storeName: String {
        let rootPath = paths.root.path + "/"
        let path = store.url.standardizedFileURL.path
        return path.hasPrefix(rootPath) ? String(path.dropFirst(rootPath.count)) : path
    }

    /// A figure that fails is reported on the page instead of failing the whole report.
    private func drawFigures(_ spec: TableSpec, results: [RunResult],
                             catalogue: PublishedCatalogue) -> ([SectionKey: [FigureRef]], String?) {
        guard gnuplot.isAvailable else { return ([:], "gnuplot was not found on PATH") }
        var out: [SectionKey: [FigureRef]] = [:]
        var failures: [String] = []
        for section in spec.sections(from: results) {
            let figures = FigureBuilder.figures(spec: spec, section: section, catalogue: catalogue)
            for (name, figure) in figures where !figure.isEmpty {
                let base = "\(spec.target)-\(section.dataSource.rawValue)-\(section.scale)-\(name)"
                do {
                    try gnuplot.draw(figure, to: paths.figures.appendingPathComponent(base))
                    out[section.key, default: []].append(
                        FigureRef(title: figure.title, svg: "figures/\(base).svg", png: "figures/\(base).png"))
                } catch {
                    failures.append("\(base): \(error)")
                }
            }
        }
        return (out, failures.isEmpty ? nil : failures.map(Markdown.oneLine).joined(separator: "; "))
    }

    /// Reports/REPORT.md from the pages found in Reports/ and the store's run counts.
    @discardableResult
    public func writeIndex() throws -> URL {
        let manager = FileManager.default
        try manager.createDirectory(at: paths.reports, withIntermediateDirectories: true)
        let pages = try manager.contentsOfDirectory(at: paths.reports, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "md" && $0.lastPathComponent != paths.reportIndex.lastPathComponent }
        let summaries = pages.compactMap { url in
            (try? String(contentsOf: url, encoding: .utf8)).flatMap(ReportSummary.parse(page:))
        }
        // Pages without a summary comment are figures: listed by their first heading.
        let figures = pages.filter { $0.lastPathComponent.hasPrefix("Fig") }.sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map { url -> (String, String) in
                let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
                let title = text.split(separator: "\n").first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)) }
                return (title ?? url.deletingPathExtension().lastPathComponent, url.lastPathComponent)
            }
        let text = Markdown.index(summaries: summaries, figures: figures, runCounts: try store.runCounts(), generatedAt: Date())
        try text.write(to: paths.reportIndex, atomically: true, encoding: .utf8)
        return paths.reportIndex
    }
}

/// The standard figures of a table section: published vs reproduced bars per metric, and the training curve.
public enum FigureBuilder {
    public static func figures(spec: TableSpec, section: TableSection, catalogue: PublishedCatalogue) -> [(String, Figure)] {
        var figures = spec.metrics.map { metric in
            (metric.id, bars(spec: spec, section: section, metric: metric, catalogue: catalogue))
        }
        if let curve = spec.curve {
            figures.append(("curves", curves(spec: spec, section: section, curve: curve)))
        }
        return figures
    }

    public static func bars(spec: TableSpec, section: TableSection, metric: MetricSpec, catalogue: PublishedCatalogue) -> Figure {
        let panels = spec.datasets.map { dataset -> BarPanel in
            let stats = spec.rows.map { section.stats(row: $0, dataset: dataset, metric: metric) }
            let published = spec.rows.map { spec.published(row: $0, dataset: dataset, metric: metric, in: catalogue)?.value }
            return BarPanel(title: dataset.display, categories: spec.rows.map(\.display), series: [
                BarSeries(name: "published", values: published),
                BarSeries(name: "reproduced (\(section.dataSource.rawValue))", values: stats.map { $0?.mean },
                          errors: stats.map { $0?.sd }),
            ])
        }.filter { panel in panel.series[1].values.contains { $0 != nil } }
        let origin = "(\(section.dataSource.rawValue), \(section.scale))"
        return Figure(title: "\(spec.title): \(metric.display), published vs reproduced \(origin)",
                      yLabel: metric.display, content: .bars(panels))
    }

    public static func curves(spec: TableSpec, section: TableSection, curve: CurveSpec) -> Figure {
        let panels = spec.datasets.map { dataset in
            LinePanel(title: dataset.display, series: spec.rows.map { row in
                let points = section.meanCurve(row: row, dataset: dataset, curve: curve)
                return LineSeries(name: row.display, x: points.map { Double($0.epoch) }, y: points.map(\.value))
            })
        }
        let origin = "(\(section.dataSource.rawValue), \(section.scale))"
        return Figure(title: "\(spec.title): \(curve.display) per epoch, mean over seeds \(origin)",
                      xLabel: "epoch", yLabel: curve.display, content: .lines(panels))
    }
}
