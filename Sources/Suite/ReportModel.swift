import Foundation

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
    /// The finished runs of the table's auxiliary-weight selection (`TableSpec.selectionTable`), for its grid.
    public var selectionRuns: [RunResult] = []
    /// Finished runs of the table's cells under protocols it no longer counts (`TableSpec.protocols`).
    public var otherProtocolRuns = 0

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
        // A run of another stream generation never resumes (its id is in no grid): not listed as pending.
        let pending = unfinished.filter {
            $0.config.paper == spec.paper && $0.config.table == spec.table && $0.config.hasCurrentStreams
        }
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
            let outcomes = ClaimStatistics.decide(spec.claims.map { $0.evaluate(lookup) })
            return SectionReport(
                section: section,
                checks: Checks.check(spec: spec, section: section, catalogue: catalogue, tolerances: tolerances,
                                     reference: reference),
                claims: zip(spec.claims, outcomes).map { ClaimResult(claim: $0, outcome: $1) },
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
                             claimsContradicted: claims.filter { $0.outcome.verdict == .contradicted }.count,
                             claimsInconclusive: claims.filter { $0.outcome.verdict == .inconclusive }.count,
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
    public var claimsContradicted: Int
    public var claimsInconclusive: Int
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
