import Foundation
import Data

// Table specs and the grouping of finished runs into report sections. The report is built in ReportModel.swift,
// rendered as a pure function from a `TableReport` to text in Markdown.swift; only `ReportWriter` touches the
// store, gnuplot and the file system.

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
    /// Values of the table's swept hyperparameters (`TableSpec.sweeps`) that this row's runs have, e.g.
    /// ["label_ratio": "0.1"]: a sweep is one row per value, so runs that differ only in it never replace each
    /// other. Training receives them through `Cell.parameters`.
    public var pinned: [String: String]

    public init(_ display: String, method: String, variant: String = "", id: String? = nil,
                publishedMethod: String? = nil, publishedVariant: String? = nil, backbone: String = "",
                pinned: [String: String] = [:]) {
        self.id = id ?? display
        self.display = display
        self.method = method
        self.variant = variant
        self.publishedMethod = publishedMethod ?? method
        self.publishedVariant = publishedVariant ?? variant
        self.backbone = backbone
        self.pinned = pinned
    }
}

public struct DatasetSpec: Sendable {
    /// The store's dataset name.
    public var id: String
    public var display: String
    public var published: String
    /// How a proxy's test case ids name their patient. Slices of one patient are not independent: claims are
    /// tested over patients, each patient's slices averaged first. Real data sets follow the loader's rule
    /// (`PatientRule.defaultRule(forDataset:)`), which is the one their splits were made by.
    public var proxyPatients: PatientRule

    public init(_ id: String, display: String? = nil, published: String? = nil, proxyPatients: PatientRule = .perImage) {
        self.id = id
        self.display = display ?? id
        self.published = published ?? id
        self.proxyPatients = proxyPatients
    }

    /// The rule that groups this data set's test cases into patients, for data of `source`.
    public func patients(_ source: DataSource) -> PatientRule {
        source == .proxy ? proxyPatients : PatientRule.defaultRule(forDataset: id)
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

    /// Whether this is a class-averaged metric ("mean" in our specs, "Avg" where the paper prints that column)
    /// rather than one class's.
    public var isClassAverage: Bool { className == "mean" || className == "Avg" }

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
    /// Hyperparameters that a run's row depends on besides its method and variant (label ratio, λ, patch size):
    /// a run belongs to the row whose `pinned` values equal its own for every swept key (absent equals absent).
    public var sweeps: [String]
    /// Whether the page audits the printed table (averages and p-values recomputed from its cells: PublishedAudit).
    public var audit: Bool
    /// When set, only runs trained under one of these protocols (`Recipe.protocolTag`, hashed as "protocol") count;
    /// runs of earlier protocols stay in the store and the export, and the page says how many it left out.
    public var protocols: Set<String>?
    /// The store table of an auxiliary-weight selection whose grid the page lists (`AuxWeightSelection.table`).
    public var selectionTable: String?

    public init(paper: String, table: String, target: String, title: String, page: String, rows: [RowSpec],
                datasets: [DatasetSpec], metrics: [MetricSpec], claims: [Claim] = [], curve: CurveSpec? = CurveSpec(),
                publishedVersion: String? = nil, runCommand: String? = nil, grid: [RunConfig]? = nil, sweeps: [String] = [],
                audit: Bool = false) {
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
        self.sweeps = sweeps
        self.audit = audit
        for r in rows where !Set(r.pinned.keys).isSubset(of: Set(sweeps)) {
            preconditionFailure("\(target): row \(r.id) pins \(r.pinned.keys.sorted()) but the table sweeps only \(sweeps)")
        }
    }

    public func row(_ id: String) -> RowSpec? { rows.first { $0.id == id } }

    /// The rows' backbones in order of first appearance ("" for tables without).
    public var backbones: [String] {
        var out: [String] = []
        for r in rows where !out.contains(r.backbone) { out.append(r.backbone) }
        return out
    }

    /// The published names of the per-class metric families ("Dice", "HD95"), in order of first appearance.
    public var classFamilies: [String] {
        var out: [String] = []
        for m in metrics where !m.isClassAverage && !out.contains(m.published) { out.append(m.published) }
        return out
    }

    /// The metrics a table summarises a cell by: its class averages, or every metric when it has none. Figures
    /// and tolerance legends show these; per-class metrics go in their families' compact tables.
    public var summaryMetrics: [MetricSpec] {
        metrics.contains(where: \.isClassAverage) ? metrics.filter(\.isClassAverage) : metrics
    }
    public func dataset(_ id: String) -> DatasetSpec? { datasets.first { $0.id == id } }
    public func metric(_ id: String) -> MetricSpec? { metrics.first { $0.id == id } }

    public func published(row: RowSpec, dataset: DatasetSpec, metric: MetricSpec,
                          in catalogue: PublishedCatalogue) -> PublishedValue? {
        catalogue.value(paper: paper, table: table, dataset: dataset.published, backbone: row.backbone,
                        method: row.publishedMethod, variant: row.publishedVariant, metric: metric.published,
                        class: metric.className)
    }

    func rowFor(_ config: RunConfig) -> RowSpec? {
        rows.first { matches($0, config) }
    }

    /// Whether `config` is a run of `row`: same method and variant, and the row's value of every swept key.
    public func matches(_ row: RowSpec, _ config: RunConfig) -> Bool {
        row.method == config.method && row.variant == config.variant
            && sweeps.allSatisfy { row.pinned[$0] == config.hyperparameters[$0] }
    }

    func accepts(_ config: RunConfig, gridIds: Set<String>?) -> Bool {
        guard config.paper == paper, config.table == table, config.hasCurrentStreams,
              rowFor(config) != nil, dataset(config.dataset) != nil else { return false }
        if !followsProtocol(config) { return false }
        return gridIds.map { $0.contains(config.id) } ?? true
    }

    func followsProtocol(_ config: RunConfig) -> Bool {
        protocols.map { tags in config.hyperparameters["protocol"].map(tags.contains) ?? false } ?? true
    }

    /// Groups the table's finished runs by data source and scale (real data first). Within a cell (row and data
    /// set, the row fixing any swept values), a seed that ran under several configurations counts once, with its
    /// most recently finished run.
    public func sections(from results: [RunResult]) -> [TableSection] {
        let gridIds = grid.map { Set($0.map(\.id)) }
        let mine = results.filter { $0.record.status == .finished && accepts($0.record.config, gridIds: gridIds) }
        let key = { (r: RunResult) in SectionKey(dataSource: r.record.config.dataSource, scale: r.record.config.scale) }
        let grouped = Dictionary(grouping: mine, by: key)
        // Finished runs of the table's cells that another protocol trained: counted on the page, never in a cell.
        let retired = Dictionary(grouping: otherProtocolRuns(results), by: key).mapValues(\.count)
        return grouped.keys.sorted().map { key in
            let (kept, dropped) = latestPerSeed(grouped[key]!)
            return TableSection(dataSource: key.dataSource, scale: key.scale, runs: kept, superseded: dropped,
                                otherProtocols: retired[key] ?? 0, spec: self)
        }
    }

    /// Finished runs of the table's cells that a protocol it no longer counts trained.
    public func otherProtocolRuns(_ results: [RunResult]) -> [RunResult] {
        guard let tags = protocols else { return [] }
        return results.filter {
            var c = $0.record.config
            guard $0.record.status == .finished, !followsProtocol(c) else { return false }
            c.hyperparameters["protocol"] = tags.first
            return accepts(c, gridIds: nil)
        }
    }

    private func latestPerSeed(_ runs: [RunResult]) -> ([RunResult], Int) {
        func latest(_ r: RunResult) -> (Date, String) { (r.record.finishedAt ?? .distantPast, r.record.id) }
        let bySeed = Dictionary(grouping: runs) { run in
            let c = run.record.config
            return "\(rowFor(c)!.id)\u{1F}\(c.dataset)\u{1F}\(c.seed)"
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
    /// Finished runs of the same cells under protocols the table no longer counts (`TableSpec.protocols`).
    public let otherProtocols: Int
    let spec: TableSpec

    public init(dataSource: DataSource, scale: String, runs: [RunResult], superseded: Int = 0, otherProtocols: Int = 0,
                spec: TableSpec) {
        self.otherProtocols = otherProtocols
        self.dataSource = dataSource
        self.scale = scale
        self.runs = runs
        self.superseded = superseded
        self.spec = spec
    }

    public var key: SectionKey { SectionKey(dataSource: dataSource, scale: scale) }

    public func runs(row: RowSpec, dataset: DatasetSpec) -> [RunResult] {
        runs.filter { $0.record.config.dataset == dataset.id && spec.matches(row, $0.record.config) }
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
    /// The CPUs the section's runs trained on (empty for runs stored before the store recorded it).
    public var machines: [String] {
        Array(Set(runs.flatMap { $0.record.machine.split(separator: ",").map(String.init) }).subtracting([""])).sorted()
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
