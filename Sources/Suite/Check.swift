import Foundation

// Tolerances, our recorded reference for proxy data, the cell checks and the paper's claims. All of it works on
// plain records (RunResult, PublishedCatalogue, TableSpec); the store is only read by the thin loaders at the end.

// MARK: - Tolerances (Papers/<PAPER>/tolerances.json)

/// Per table: how far a real-data mean may sit from the published value, and how the proxy tolerance is derived.
/// Metric keys are the table spec's metric ids; all numbers are in the report's units (published units).
public struct ToleranceFile: Codable, Equatable, Sendable {
    public var paper: String
    public var note: String?
    public var tables: [String: TableTolerance]

    public init(paper: String, note: String? = nil, tables: [String: TableTolerance]) {
        self.paper = paper
        self.note = note
        self.tables = tables
    }

    /// nil when the paper has no tolerance file yet.
    public static func load(paper: String, paths: ProjectPaths) throws -> ToleranceFile? {
        let url = paths.tolerances(paper: paper)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try JSONDecoder().decode(ToleranceFile.self, from: Data(contentsOf: url))
    }
}

public struct TableTolerance: Codable, Equatable, Sendable {
    public var real: [String: RealTolerance]
    public var proxy: ProxyTolerance

    public init(real: [String: RealTolerance], proxy: ProxyTolerance) {
        self.real = real
        self.proxy = proxy
    }
}

public struct RealTolerance: Codable, Equatable, Sendable {
    public var absolute: Double
    public var why: String

    public init(absolute: Double, why: String) {
        self.absolute = absolute
        self.why = why
    }
}

/// The family of a per-class metric id: "Dice" for "Dice:Spl".
func metricFamily(_ id: String) -> String { String(id.prefix { $0 != ":" }) }

/// tolerance = max(k · sd over seeds, floor[metric]).
public struct ProxyTolerance: Codable, Equatable, Sendable {
    public var k: Double
    public var floor: [String: Double]
    public var why: String

    public init(k: Double, floor: [String: Double], why: String) {
        self.k = k
        self.floor = floor
        self.why = why
    }

    /// A per-class metric ("Dice:Spl") takes its family's floor ("Dice") unless it has its own.
    public func tolerance(metric: String, sd: Double?) -> Double? {
        guard let minimum = floor[metric] ?? floor[metricFamily(metric)] else { return nil }
        return max(k * (sd ?? 0), minimum)
    }
}

// MARK: - Reference (Papers/<PAPER>/reference-<scale>.json)

/// Our own numbers on proxy data, recorded once and then checked against, so that a change in code that moves
/// results is noticed even though proxy data has no published counterpart.
public struct ReferenceFile: Codable, Equatable, Sendable {
    public var paper: String
    public var scale: String
    public var recordedAt: String
    /// Every code version behind the entries (the union of `codeVersionsByTable`, once every table has one).
    public var codeVersions: [String]
    /// The code versions behind each table's entries, so that recording one table drops the versions it no longer
    /// rests on (nil in files recorded before 2026-12-01).
    public var codeVersionsByTable: [String: [String]]?
    public var entries: [ReferenceEntry]

    public init(paper: String, scale: String, recordedAt: String, codeVersions: [String],
                codeVersionsByTable: [String: [String]]? = nil, entries: [ReferenceEntry]) {
        self.paper = paper
        self.scale = scale
        self.recordedAt = recordedAt
        self.codeVersions = codeVersions
        self.codeVersionsByTable = codeVersionsByTable
        self.entries = entries
    }

    public func entry(table: String, dataset: String, method: String, variant: String, metric: String,
                      row: String? = nil) -> ReferenceEntry? {
        entries.first {
            $0.table == table && $0.dataset == dataset && $0.method == method && $0.variant == variant && $0.metric == metric
                && $0.row == row
        }
    }

    public static func load(paper: String, scale: String, paths: ProjectPaths) throws -> ReferenceFile? {
        let url = paths.reference(paper: paper, scale: scale)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try JSONDecoder().decode(ReferenceFile.self, from: Data(contentsOf: url))
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}

/// Keyed by the store's method/variant/dataset and the spec's metric id; values in report units.
public struct ReferenceEntry: Codable, Equatable, Sendable {
    public var table: String
    public var dataset: String
    public var method: String
    public var variant: String
    public var metric: String
    /// The row id, for rows that pin swept values (several rows then share a method and variant); nil otherwise.
    public var row: String?
    public var mean: Double
    public var sd: Double?
    public var n: Int
    public var tolerance: Double

    public init(table: String, dataset: String, method: String, variant: String, metric: String, row: String? = nil,
                mean: Double, sd: Double?, n: Int, tolerance: Double) {
        self.table = table
        self.dataset = dataset
        self.method = method
        self.variant = variant
        self.metric = metric
        self.row = row
        self.mean = mean
        self.sd = sd
        self.n = n
        self.tolerance = tolerance
    }

    var sortKey: [String] { [table, dataset, method, variant, row ?? "", metric] }
}

public enum CheckError: Error, CustomStringConvertible {
    case mixedPapers([String])
    case noTolerance(paper: String, table: String)

    public var description: String {
        switch self {
        case .mixedPapers(let papers): return "one reference file per paper; got tables of \(papers.joined(separator: ", "))"
        case .noTolerance(let paper, let table): return "Papers/\(paper)/tolerances.json has no entry for \(table)"
        }
    }
}

// MARK: - Cell checks

public enum CheckStatus: String, Sendable {
    case pass
    case fail
    case notEvaluable = "not evaluable"

    public var mark: String {
        switch self {
        case .pass: return "✓"
        case .fail: return "✗"
        case .notEvaluable: return "–"
        }
    }
}

/// What a reproduced cell was compared with: real data against the paper, proxy data against our reference.
public enum CheckBasis: String, Sendable {
    case published
    case reference
}

public struct CheckResult: Sendable {
    public let paper: String
    public let table: String
    public let row: String
    public let dataset: String
    public let metric: String
    public let dataSource: DataSource
    public let scale: String
    public let observed: CellStats
    public let basis: CheckBasis
    public let expected: Double?
    public let tolerance: Double?
    public let status: CheckStatus
    /// Why a cell is not evaluable.
    public let reason: String?

    public var delta: Double? { expected.map { observed.mean - $0 } }
}

public enum Checks {
    /// Compares every reproduced cell of one section. Cells without runs produce no result.
    public static func check(spec: TableSpec, section: TableSection, catalogue: PublishedCatalogue,
                             tolerances: ToleranceFile?, reference: ReferenceFile?) -> [CheckResult] {
        var results: [CheckResult] = []
        for dataset in spec.datasets {
            for row in spec.rows {
                for metric in spec.metrics {
                    guard let stats = section.stats(row: row, dataset: dataset, metric: metric) else { continue }
                    results.append(checkCell(spec: spec, section: section, row: row, dataset: dataset, metric: metric,
                                             stats: stats, catalogue: catalogue, tolerances: tolerances, reference: reference))
                }
            }
        }
        return results
    }

    static func checkCell(spec: TableSpec, section: TableSection, row: RowSpec, dataset: DatasetSpec, metric: MetricSpec,
                          stats: CellStats, catalogue: PublishedCatalogue, tolerances: ToleranceFile?,
                          reference: ReferenceFile?) -> CheckResult {
        let tableTolerance = tolerances?.tables[spec.table]
        var expected: Double? = nil
        var tolerance: Double? = nil
        var reason: String? = nil
        let basis: CheckBasis
        switch section.dataSource {
        case .real:
            basis = .published
            expected = spec.published(row: row, dataset: dataset, metric: metric, in: catalogue)?.value
            tolerance = (tableTolerance?.real[metric.id] ?? tableTolerance?.real[metricFamily(metric.id)])?.absolute
            if expected == nil { reason = "no published value" }
        case .proxy:
            basis = .reference
            let entry = reference?.entry(table: spec.table, dataset: dataset.id, method: row.method,
                                         variant: row.variant, metric: metric.id, row: row.pinned.isEmpty ? nil : row.id)
            expected = entry?.mean
            tolerance = entry?.tolerance
            if reference == nil {
                reason = "no reference recorded for scale \(section.scale)"
            } else if entry == nil {
                reason = "cell missing from reference-\(section.scale).json"
            }
        }
        if reason == nil && tolerance == nil { reason = "no tolerance for \(metric.id) in \(spec.table)" }
        let status: CheckStatus
        if let expected, let tolerance, reason == nil {
            status = abs(stats.mean - expected) <= tolerance ? .pass : .fail
        } else {
            status = .notEvaluable
        }
        return CheckResult(paper: spec.paper, table: spec.table, row: row.id, dataset: dataset.id, metric: metric.id,
                           dataSource: section.dataSource, scale: section.scale, observed: stats, basis: basis,
                           expected: expected, tolerance: tolerance, status: status, reason: reason)
    }

    /// Builds the reference of one paper at one scale from proxy runs. Entries of tables not in `specs` are kept
    /// from `existing`, so recording one table leaves the others alone.
    public static func reference(specs: [TableSpec], results: [RunResult], scale: String, tolerances: ToleranceFile,
                                 existing: ReferenceFile?, recordedAt: Date = Date()) throws -> ReferenceFile {
        let papers = Set(specs.map(\.paper))
        guard papers.count <= 1 else { throw CheckError.mixedPapers(papers.sorted()) }
        let paper = papers.first ?? tolerances.paper
        let recordedTables = Set(specs.map(\.table))
        var entries = (existing?.entries ?? []).filter { !recordedTables.contains($0.table) }
        var byTable = (existing?.codeVersionsByTable ?? [:]).filter { !recordedTables.contains($0.key) }
        // A kept table without versions of its own (a file from before they were kept per table) keeps the old list.
        let keptTables = Set(entries.map(\.table))
        var versions = Set(keptTables.allSatisfy { byTable[$0] != nil } ? [] : existing?.codeVersions ?? [])
        for table in keptTables { versions.formUnion(byTable[table] ?? []) }
        for spec in specs {
            guard let proxy = tolerances.tables[spec.table]?.proxy else {
                throw CheckError.noTolerance(paper: paper, table: spec.table)
            }
            guard let section = spec.sections(from: results).first(where: { $0.dataSource == .proxy && $0.scale == scale })
            else { continue }
            let recorded = Set(section.runs.flatMap { $0.record.codeVersion.split(separator: ",").map(String.init) })
            byTable[spec.table] = recorded.sorted()
            versions.formUnion(recorded)
            entries += referenceEntries(spec: spec, section: section, proxy: proxy)
        }
        entries.sort { $0.sortKey.lexicographicallyPrecedes($1.sortKey) }
        return ReferenceFile(paper: paper, scale: scale, recordedAt: ISO8601DateFormatter().string(from: recordedAt),
                             codeVersions: versions.sorted(), codeVersionsByTable: byTable, entries: entries)
    }

    private static func referenceEntries(spec: TableSpec, section: TableSection, proxy: ProxyTolerance) -> [ReferenceEntry] {
        var entries: [ReferenceEntry] = []
        for dataset in spec.datasets {
            for row in spec.rows {
                for metric in spec.metrics {
                    guard let stats = section.stats(row: row, dataset: dataset, metric: metric),
                          let tolerance = proxy.tolerance(metric: metric.id, sd: stats.sd) else { continue }
                    entries.append(ReferenceEntry(table: spec.table, dataset: dataset.id, method: row.method,
                                                  variant: row.variant, metric: metric.id,
                                                  row: row.pinned.isEmpty ? nil : row.id, mean: stats.mean,
                                                  sd: stats.sd, n: stats.n, tolerance: tolerance))
                }
            }
        }
        return entries
    }

    // MARK: Store-backed entry points (what `repro check` calls)

    /// Writes Papers/<PAPER>/reference-<scale>.json for each paper among `specs`; returns the files written.
    @discardableResult
    public static func recordReference(store: ResultStore, specs: [TableSpec], scale: String,
                                       paths: ProjectPaths) throws -> [URL] {
        var written: [URL] = []
        for (paper, paperSpecs) in Dictionary(grouping: specs, by: \.paper).sorted(by: { $0.key < $1.key }) {
            guard let tolerances = try ToleranceFile.load(paper: paper, paths: paths) else {
                throw CheckError.noTolerance(paper: paper, table: paperSpecs.map(\.table).joined(separator: ", "))
            }
            let results = try store.results(RunFilter(paper: paper, scale: scale, dataSource: .proxy))
            let existing = try ReferenceFile.load(paper: paper, scale: scale, paths: paths)
            let file = try reference(specs: paperSpecs, results: results, scale: scale, tolerances: tolerances,
                                     existing: existing)
            let url = paths.reference(paper: paper, scale: scale)
            try file.write(to: url)
            written.append(url)
        }
        return written
    }

    /// Checks every finished run of the given tables, each section against its own basis.
    public static func check(store: ResultStore, specs: [TableSpec], paths: ProjectPaths) throws -> [CheckResult] {
        let catalogue = try PublishedCatalogue.load(paths)
        var results: [CheckResult] = []
        for spec in specs {
            let tolerances = try ToleranceFile.load(paper: spec.paper, paths: paths)
            let runs = try store.results(RunFilter(paper: spec.paper, table: spec.table))
            for section in spec.sections(from: runs) {
                let reference = section.dataSource == .proxy
                    ? try ReferenceFile.load(paper: spec.paper, scale: section.scale, paths: paths) : nil
                results += check(spec: spec, section: section, catalogue: catalogue, tolerances: tolerances,
                                 reference: reference)
            }
        }
        return results
    }
}

// MARK: - Claims

/// What our runs say about a claim, from paired tests on the per-case scores (ClaimStatistics.swift).
public enum ClaimVerdict: String, Sendable {
    /// Every comparison the claim rests on is significant (Holm-adjusted) in the paper's direction.
    case replicated
    /// At least one is significant in the opposite direction.
    case contradicted
    /// Neither: the design could not tell; the page gives the smallest effect it could have detected.
    case inconclusive
    case notEvaluable = "not evaluable"

    public var mark: String {
        switch self {
        case .replicated: return "✓"
        case .contradicted: return "✗"
        case .inconclusive: return "?"
        case .notEvaluable: return "–"
        }
    }
}

public struct ClaimNumber: Equatable, Sendable {
    public var label: String
    public var value: Double

    public init(_ label: String, _ value: Double) {
        self.label = label
        self.value = value
    }
}

public struct ClaimOutcome: Equatable, Sendable {
    public var verdict: ClaimVerdict
    /// The numbers the verdict rests on, shown beside it in the report.
    public var numbers: [ClaimNumber]
    public var detail: String
    /// The paired comparisons the claim is the intersection of ("TMC is the best of 11": TMC against each other
    /// row). The verdict is decided from them once the whole table's p-values are Holm-adjusted together.
    public var comparisons: [PairedComparison]

    public init(verdict: ClaimVerdict, numbers: [ClaimNumber] = [], detail: String = "", comparisons: [PairedComparison] = []) {
        self.verdict = verdict
        self.numbers = numbers
        self.detail = detail
        self.comparisons = comparisons
    }

    public static func notEvaluable(_ why: String) -> ClaimOutcome {
        ClaimOutcome(verdict: .notEvaluable, detail: why)
    }
}

/// A sentence of the paper with a test over our results. `source` says where it stands ("TMC §4.5").
public struct Claim {
    public let id: String
    public let text: String
    public let source: String
    public let evaluate: (ResultLookup) -> ClaimOutcome

    public init(id: String, text: String, source: String, evaluate: @escaping (ResultLookup) -> ClaimOutcome) {
        self.id = id
        self.text = text
        self.source = source
        self.evaluate = evaluate
    }

    /// "`better` beats `worse` on `dataset`/`metric`": one paired comparison over the test cases and seeds both
    /// rows ran. The means, their gap and the paper's gap are shown beside the test.
    public static func outperforms(id: String, text: String, source: String, better: String, worse: String,
                                   dataset: String, metric: String) -> Claim {
        Claim(id: id, text: text, source: source) { lookup in
            guard let good = lookup.stats(row: better, dataset: dataset, metric: metric),
                  let bad = lookup.stats(row: worse, dataset: dataset, metric: metric),
                  let spec = lookup.spec.metric(metric) else {
                return .notEvaluable("no finished runs of \(better) and \(worse) on \(dataset)")
            }
            guard let comparison = lookup.paired(better: better, worse: worse, dataset: dataset, metric: metric) else {
                return .notEvaluable("no per-case \(metric) shared by \(better) and \(worse) on \(dataset) under a common seed")
            }
            let gap = (good.mean - bad.mean) * (spec.higherIsBetter ? 1 : -1)
            var numbers = [ClaimNumber(better, good.mean), ClaimNumber(worse, bad.mean), ClaimNumber("gap", gap)]
            if let pa = lookup.published(row: better, dataset: dataset, metric: metric),
               let pb = lookup.published(row: worse, dataset: dataset, metric: metric) {
                numbers.append(ClaimNumber("published gap", (pa - pb) * (spec.higherIsBetter ? 1 : -1)))
            }
            return ClaimOutcome(verdict: .inconclusive, numbers: numbers, comparisons: [comparison])
        }
    }
}

/// What a claim may read: one section (data source × scale) of one table, plus the published values.
/// Rows, data sets and metrics are named by their spec ids; numbers are in report units.
public struct ResultLookup {
    public let spec: TableSpec
    public let section: TableSection
    public let catalogue: PublishedCatalogue

    public init(spec: TableSpec, section: TableSection, catalogue: PublishedCatalogue) {
        self.spec = spec
        self.section = section
        self.catalogue = catalogue
    }

    public var dataSource: DataSource { section.dataSource }
    public var scale: String { section.scale }

    public func stats(row: String, dataset: String, metric: String) -> CellStats? {
        guard let (r, d, m) = resolve(row, dataset, metric) else { return nil }
        return section.stats(row: r, dataset: d, metric: m)
    }

    public func mean(row: String, dataset: String, metric: String) -> Double? {
        stats(row: row, dataset: dataset, metric: metric)?.mean
    }

    public func published(row: String, dataset: String, metric: String) -> Double? {
        guard let (r, d, m) = resolve(row, dataset, metric) else { return nil }
        return spec.published(row: r, dataset: d, metric: m, in: catalogue)?.value
    }

    /// Per case, the mean over seeds: the paired samples a signed-rank test needs.
    public func caseMeans(row: String, dataset: String, metric: String) -> [String: Double] {
        guard let (r, d, m) = resolve(row, dataset, metric) else { return [:] }
        return section.caseMeans(row: r, dataset: d, metric: m)
    }

    private func resolve(_ row: String, _ dataset: String, _ metric: String) -> (RowSpec, DatasetSpec, MetricSpec)? {
        guard let r = spec.row(row), let d = spec.dataset(dataset), let m = spec.metric(metric) else { return nil }
        return (r, d, m)
    }
}

public struct ClaimResult {
    public let claim: Claim
    public let outcome: ClaimOutcome
}
