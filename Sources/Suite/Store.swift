import Foundation
import Crypto
import GRDB
import Engine

// The result store: every run's configuration, status, training curve, per-case and summary metrics, in one SQLite
// file. Reports and checks are computed from these rows alone, so nothing in here knows about models or engines.

/// Where a run's images came from. Real data is compared with the paper; proxy data (seeded synthetic stand-ins)
/// can only be compared with our own recorded reference.
public enum DataSource: String, Codable, Sendable, CaseIterable {
    case proxy
    case real
}

/// An experiment as a value. Its hash is the run id, so the same configuration always lands on the same rows:
/// a finished cell is skipped on rerun and an interrupted one resumes.
public struct RunConfig: Codable, Hashable, Sendable {
    public var paper: String
    public var table: String
    public var method: String
    public var dataset: String
    public var variant: String
    public var scale: String
    public var seed: Int
    public var dataSource: DataSource
    public var hyperparameters: [String: String]
    /// The generation of the random streams behind a run: the proxies' images, the initial weights, the dropout
    /// masks. A run stored under another generation saw other images and started from other weights, so it has its
    /// own id and no table counts it (`TableSpec.accepts`).
    ///
    /// 1: a generator of the proxies' own (`ProxyRNG`), weights drawn in construction order from one global stream,
    ///    dropout from another. 2 (2026-12-01): one generator for everything (`Common.RNG`), weights drawn per
    ///    module from (seed, module path) by `Module.initialize(seed:)`, masks per layer from (seed, phase, epoch,
    ///    step, layer path).
    public var streams: Int
    public static let currentStreams = 2
    /// Whether the run saw the images and weights the code draws today; only such runs are counted or drawn.
    public var hasCurrentStreams: Bool { streams == RunConfig.currentStreams }

    public init(paper: String, table: String, method: String, dataset: String, variant: String = "",
                scale: String, seed: Int, dataSource: DataSource, hyperparameters: [String: String] = [:],
                streams: Int = RunConfig.currentStreams) {
        self.paper = paper
        self.table = table
        self.method = method
        self.dataset = dataset
        self.variant = variant
        self.scale = scale
        self.seed = seed
        self.dataSource = dataSource
        self.hyperparameters = hyperparameters
        self.streams = streams
    }

    private enum CodingKeys: String, CodingKey {
        case paper, table, method, dataset, variant, scale, seed, dataSource, hyperparameters, streams
    }

    /// Generation 1 is written without the member, as it was stored, so exports of old runs do not change.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(paper, forKey: .paper); try c.encode(table, forKey: .table); try c.encode(method, forKey: .method)
        try c.encode(dataset, forKey: .dataset); try c.encode(variant, forKey: .variant); try c.encode(scale, forKey: .scale)
        try c.encode(seed, forKey: .seed); try c.encode(dataSource, forKey: .dataSource)
        try c.encode(hyperparameters, forKey: .hyperparameters)
        if streams != 1 { try c.encode(streams, forKey: .streams) }
    }

    /// Runs stored before the field existed are generation 1.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(paper: try c.decode(String.self, forKey: .paper), table: try c.decode(String.self, forKey: .table),
                  method: try c.decode(String.self, forKey: .method), dataset: try c.decode(String.self, forKey: .dataset),
                  variant: try c.decode(String.self, forKey: .variant), scale: try c.decode(String.self, forKey: .scale),
                  seed: try c.decode(Int.self, forKey: .seed), dataSource: try c.decode(DataSource.self, forKey: .dataSource),
                  hyperparameters: try c.decode([String: String].self, forKey: .hyperparameters),
                  streams: try c.decodeIfPresent(Int.self, forKey: .streams) ?? 1)
    }

    /// JSON with keys sorted by their UTF-8 bytes and a fixed escaping (generation-1 runs leave `streams` out, so
    /// their ids are the ones they were stored under), written by hand because Foundation's
    /// encoder does not promise identical bytes across platforms and versions, and the id must never drift.
    public var canonicalJSON: String {
        let hyper = CanonicalJSON.object(hyperparameters.map { ($0.key, CanonicalJSON.string($0.value)) })
        return CanonicalJSON.object([
            ("paper", CanonicalJSON.string(paper)),
            ("table", CanonicalJSON.string(table)),
            ("method", CanonicalJSON.string(method)),
            ("dataset", CanonicalJSON.string(dataset)),
            ("variant", CanonicalJSON.string(variant)),
            ("scale", CanonicalJSON.string(scale)),
            ("seed", String(seed)),
            ("dataSource", CanonicalJSON.string(dataSource.rawValue)),
            ("hyperparameters", hyper),
        ] + (streams == 1 ? [] : [("streams", String(streams))]))
    }

    /// Lower-case hex SHA-256 of `canonicalJSON`.
    public var id: String { RunHash.hexDigest(of: canonicalJSON) }
}

/// The brief's other name for the same value: a run's key is its whole configuration.
public typealias RunKey = RunConfig

enum CanonicalJSON {
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(format: "%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `members` holds already-encoded values.
    static func object(_ members: [(String, String)]) -> String {
        let sorted = members.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        return "{" + sorted.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }
}

/// Run ids: the lower-case hex SHA-256 of a run's canonical JSON, by swift-crypto.
public enum RunHash {
    public static func hexDigest(of text: String) -> String {
        Crypto.SHA256.hash(data: Foundation.Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

public enum RunStatus: String, Codable, Sendable {
    case running
    case finished
    case failed
}

/// One row of `runs`, with its configuration decoded.
public struct RunRecord: Equatable, Sendable {
    public let id: String
    public let config: RunConfig
    public let status: RunStatus
    public let codeVersion: String
    public let startedAt: Date?
    public let finishedAt: Date?
    public let error: String?
    public let epochsDone: Int
    public let bestEpoch: Int?
    /// The CPU (or CPUs, comma-separated, for a run resumed elsewhere) that trained it.
    public var machine: String = ""
    /// The run whose training this one is, when it was copied rather than trained (`ResultStore.copyTraining`):
    /// another table's run of the same model, data, recipe and seed.
    public var trainedAs: String? = nil
}

/// What `beginRun` found. `resumable` carries the row as it was before the call (its status tells whether the
/// earlier attempt failed or was killed while running), so the runner can load its checkpoint.
public enum RunStart: Equatable, Sendable {
    case new
    case resumable(RunRecord)
    case finished(RunRecord)
}

public struct CaseMetric: Equatable, Sendable {
    public var caseId: String
    public var metric: String
    public var value: Double

    public init(caseId: String, metric: String, value: Double) {
        self.caseId = caseId
        self.metric = metric
        self.value = value
    }
}

public struct CurvePoint: Equatable, Sendable {
    public var epoch: Int
    public var split: String
    public var metric: String
    public var value: Double

    public init(epoch: Int, split: String, metric: String, value: Double) {
        self.epoch = epoch
        self.split = split
        self.metric = metric
        self.value = value
    }
}

/// Selects runs; nil fields match anything.
public struct RunFilter: Sendable {
    public var paper: String?
    public var table: String?
    public var method: String?
    public var dataset: String?
    public var variant: String?
    public var scale: String?
    public var seed: Int?
    public var dataSource: DataSource?

    public init(paper: String? = nil, table: String? = nil, method: String? = nil, dataset: String? = nil,
                variant: String? = nil, scale: String? = nil, seed: Int? = nil, dataSource: DataSource? = nil) {
        self.paper = paper
        self.table = table
        self.method = method
        self.dataset = dataset
        self.variant = variant
        self.scale = scale
        self.seed = seed
        self.dataSource = dataSource
    }

    fileprivate var sqlConditions: (sql: String, arguments: StatementArguments) {
        let pairs: [(String, (any DatabaseValueConvertible)?)] = [
            ("paper", paper), ("table_name", table), ("method", method), ("dataset", dataset),
            ("variant", variant), ("scale", scale), ("seed", seed), ("data_source", dataSource?.rawValue),
        ]
        let used = pairs.compactMap { name, value in value.map { (name, $0) } }
        let sql = used.map { "\($0.0) = ?" }.joined(separator: " AND ")
        return (sql.isEmpty ? "1" : sql, StatementArguments(used.map { $0.1 }))
    }
}

public struct RunCount: Equatable, Sendable {
    public var paper: String
    public var table: String
    public var dataSource: DataSource
    public var scale: String
    public var status: RunStatus
    public var count: Int

    public init(paper: String, table: String, dataSource: DataSource, scale: String, status: RunStatus, count: Int) {
        self.paper = paper
        self.table = table
        self.dataSource = dataSource
        self.scale = scale
        self.status = status
        self.count = count
    }
}

/// A finished run with everything the report needs, loaded in one go.
public struct RunResult: Sendable {
    public let record: RunRecord
    /// metric -> value, as stored by the runner.
    public let summary: [String: Double]
    /// metric -> case id -> value.
    public let cases: [String: [String: Double]]
    public let curves: [CurvePoint]

    public init(record: RunRecord, summary: [String: Double], cases: [String: [String: Double]], curves: [CurvePoint]) {
        self.record = record
        self.summary = summary
        self.cases = cases
        self.curves = curves
    }

    /// The run's value of a metric: its summary if the runner stored one, else the mean over its cases
    /// (non-finite cases are skipped, as an undefined HD95 would otherwise poison the mean).
    public func value(of metric: String) -> Double? {
        if let v = summary[metric] { return v }
        guard let perCase = cases[metric] else { return nil }
        let finite = perCase.values.filter { $0.isFinite }
        return finite.isEmpty ? nil : finite.reduce(0, +) / Double(finite.count)
    }
}

public enum StoreError: Error, CustomStringConvertible {
    case unknownRun(String)
    case corruptRow(String)

    public var description: String {
        switch self {
        case .unknownRun(let id): return "no run with id \(id) in the result store"
        case .corruptRow(let why): return "unreadable row in the result store: \(why)"
        }
    }
}

/// GRDB over SQLite in WAL mode. Several processes may write one file at once: each write is a short IMMEDIATE
/// transaction, and a busy database is waited for rather than reported as an error.
public final class ResultStore: @unchecked Sendable {
    public let url: URL
    /// The code version stamped on runs begun through this handle.
    public let codeVersion: String
    /// The CPU stamped on runs begun through this handle.
    public let machine: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the store at `url`. `codeVersion` defaults to `git describe` of the project
    /// (or of the database's directory when no project root is found).
    public init(url: URL, codeVersion: String? = nil, machine: String = CPUInfo.current.summary, busyTimeout: TimeInterval = 60) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        pool = try DatabasePool(path: url.path, configuration: configuration)
        self.url = url
        self.machine = machine
        self.codeVersion = codeVersion
            ?? CodeVersion.current(checkout: (try? ProjectPaths.locate().root) ?? url.deletingLastPathComponent())
        try Self.migrate(pool)
    }

    /// Opens `path`, or Reports/results.sqlite of the project when nil.
    public static func open(_ path: URL? = nil, codeVersion: String? = nil) throws -> ResultStore {
        let target = try path ?? ProjectPaths.locate().defaultDatabase
        return try ResultStore(url: target, codeVersion: codeVersion)
    }

    /// Model weights live beside the database, one file per run, so that a copied Reports/ stays resumable.
    public func checkpointURL(runId: String) -> URL {
        url.deletingLastPathComponent().appendingPathComponent("checkpoints", isDirectory: true)
            .appendingPathComponent("\(runId).safetensors")
    }

    // MARK: Schema

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id TEXT PRIMARY KEY NOT NULL,
                    paper TEXT NOT NULL,
                    table_name TEXT NOT NULL,
                    method TEXT NOT NULL,
                    dataset TEXT NOT NULL,
                    variant TEXT NOT NULL,
                    scale TEXT NOT NULL,
                    seed INTEGER NOT NULL,
                    data_source TEXT NOT NULL CHECK (data_source IN ('proxy', 'real')),
                    config_json TEXT NOT NULL,
                    code_version TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
                    started_at DATETIME,
                    -- when the run ended, finished or failed
                    finished_at DATETIME,
                    error TEXT,
                    epochs_done INTEGER NOT NULL DEFAULT 0,
                    best_epoch INTEGER
                );
                CREATE INDEX runs_by_table ON runs(paper, table_name, status);
                -- value is nullable because SQLite stores NaN as NULL; it is read back as NaN.
                CREATE TABLE curves (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    epoch INTEGER NOT NULL,
                    split TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    value REAL,
                    PRIMARY KEY (run_id, epoch, split, metric)
                );
                CREATE TABLE case_metrics (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    case_id TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    value REAL,
                    PRIMARY KEY (run_id, case_id, metric)
                );
                CREATE TABLE summary (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    metric TEXT NOT NULL,
                    value REAL,
                    PRIMARY KEY (run_id, metric)
                );
                """)
        }
        migrator.registerMigration("v2: machine") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN machine TEXT NOT NULL DEFAULT ''")
        }
        migrator.registerMigration("v3: trained as") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN trained_as TEXT")
        }
        return migrator
    }

    /// Two processes opening a fresh file can both see it unmigrated; the loser's CREATE fails once the winner
    /// commits, and a second pass then finds the migration recorded.
    private static func migrate(_ pool: DatabasePool) throws {
        var attempt = 0
        while true {
            do {
                try migrator.migrate(pool)
                return
            } catch {
                attempt += 1
                if attempt >= 5 { throw error }
                Thread.sleep(forTimeInterval: 0.05 * Double(attempt))
            }
        }
    }

    // MARK: Run lifecycle

    /// Registers a run or picks it up again. Finished runs are left untouched; a failed or interrupted run is
    /// set back to running, its error cleared, and the current code version appended if it changed.
    public func beginRun(_ config: RunConfig) throws -> RunStart {
        let id = config.id
        let version = codeVersion
        return try pool.write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]) {
                let record = try Self.record(from: row)
                if record.status == .finished { return .finished(record) }
                let versions = Self.appendVersion(version, to: record.codeVersion)
                let machines = record.machine.isEmpty ? machine : Self.appendVersion(machine, to: record.machine)
                try db.execute(sql: "UPDATE runs SET status = 'running', error = NULL, code_version = ?, machine = ? WHERE id = ?",
                               arguments: [versions, machines, id])
                return .resumable(record)
            }
            try db.execute(sql: """
                INSERT INTO runs (id, paper, table_name, method, dataset, variant, scale, seed, data_source,
                                  config_json, code_version, status, started_at, epochs_done, machine)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, 0, ?)
                """, arguments: [id, config.paper, config.table, config.method, config.dataset, config.variant,
                                 config.scale, config.seed, config.dataSource.rawValue, config.canonicalJSON,
                                 version, Date(), machine])
            return .new
        }
    }

    public func updateProgress(runId: String, epochsDone: Int, bestEpoch: Int?) throws {
        try updateRun(runId, sql: "UPDATE runs SET epochs_done = ?, best_epoch = ? WHERE id = ?",
                      arguments: [epochsDone, bestEpoch, runId])
    }

    /// `epochsDone`/`bestEpoch` overwrite the stored ones when given.
    public func markFinished(runId: String, epochsDone: Int? = nil, bestEpoch: Int? = nil) throws {
        try updateRun(runId, sql: """
            UPDATE runs SET status = 'finished', error = NULL, finished_at = ?,
                epochs_done = COALESCE(?, epochs_done), best_epoch = COALESCE(?, best_epoch)
            WHERE id = ?
            """, arguments: [Date(), epochsDone, bestEpoch, runId])
    }

    public func markFailed(runId: String, error: String) throws {
        try updateRun(runId, sql: "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                      arguments: [error, Date(), runId])
    }

    /// Writes a finished run exactly as another store recorded it (an imported export), with all its rows, in one
    /// transaction. A run already finished here is left as it is; an unfinished one is replaced. Returns whether
    /// it wrote.
    @discardableResult
    public func restore(_ run: RunResult) throws -> Bool {
        let r = run.record
        precondition(r.status == .finished, "only finished runs are restored")
        return try pool.write { db in
            if let status = try String.fetchOne(db, sql: "SELECT status FROM runs WHERE id = ?", arguments: [r.id]) {
                if status == RunStatus.finished.rawValue { return false }
                try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [r.id])
            }
            let c = r.config
            try db.execute(sql: """
                INSERT INTO runs (id, paper, table_name, method, dataset, variant, scale, seed, data_source, config_json,
                                  code_version, status, started_at, finished_at, error, epochs_done, best_epoch, machine,
                                  trained_as)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'finished', ?, ?, NULL, ?, ?, ?, ?)
                """, arguments: [r.id, c.paper, c.table, c.method, c.dataset, c.variant, c.scale, c.seed, c.dataSource.rawValue,
                                 c.canonicalJSON, r.codeVersion, r.startedAt, r.finishedAt, r.epochsDone, r.bestEpoch, r.machine,
                                 r.trainedAs])
            for p in run.curves {
                try db.execute(sql: "INSERT INTO curves (run_id, epoch, split, metric, value) VALUES (?, ?, ?, ?, ?)",
                               arguments: [r.id, p.epoch, p.split, p.metric, p.value])
            }
            let statement = try db.cachedStatement(sql: "INSERT INTO case_metrics (run_id, case_id, metric, value) VALUES (?, ?, ?, ?)")
            for (metric, byCase) in run.cases {
                for (caseId, value) in byCase { try statement.execute(arguments: [r.id, caseId, metric, value]) }
            }
            for (metric, value) in run.summary {
                try db.execute(sql: "INSERT INTO summary (run_id, metric, value) VALUES (?, ?, ?)", arguments: [r.id, metric, value])
            }
            return true
        }
    }

    /// Stores `source`'s training under `config`, whose run is the same training under another table's name (the
    /// same model, data, recipe and seed, so the same numbers): its curves, cases, summary and best weights, with
    /// `trainedAs` naming the run that trained. Returns false when `config`'s run is already finished.
    @discardableResult
    public func copyTraining(_ source: RunResult, as config: RunConfig) throws -> Bool {
        let r = source.record
        var record = RunRecord(id: config.id, config: config, status: .finished, codeVersion: r.codeVersion,
                               startedAt: r.startedAt, finishedAt: r.finishedAt, error: nil, epochsDone: r.epochsDone,
                               bestEpoch: r.bestEpoch, machine: r.machine)
        record.trainedAs = r.trainedAs ?? r.id
        // The weights first: a figure that finds the run finished finds its checkpoint too.
        let from = checkpointURL(runId: r.id), to = checkpointURL(runId: config.id)
        if FileManager.default.fileExists(atPath: from.path) {
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: to)
            try FileManager.default.copyItem(at: from, to: to)
        }
        return try restore(RunResult(record: record, summary: source.summary, cases: source.cases, curves: source.curves))
    }

    /// Removes a run and its rows (curves, cases, summary), e.g. to start a cell afresh.
    public func deleteRun(runId: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [runId]) }
    }

    private func updateRun(_ runId: String, sql: String, arguments: StatementArguments) throws {
        try pool.write { db in
            try db.execute(sql: sql, arguments: arguments)
            if db.changesCount == 0 { throw StoreError.unknownRun(runId) }
        }
    }

    private static func appendVersion(_ version: String, to stored: String) -> String {
        stored.split(separator: ",").map(String.init).contains(version) ? stored : stored + "," + version
    }

    // MARK: Metrics

    /// Re-writing an epoch (a resumed run repeating it) replaces the old value instead of adding a row.
    public func appendCurve(runId: String, epoch: Int, split: String, metric: String, value: Double) throws {
        try appendCurve(runId: runId, epoch: epoch, split: split, values: [metric: value])
    }

    public func appendCurve(runId: String, epoch: Int, split: String, values: [String: Double]) throws {
        try pool.write { db in
            for (metric, value) in values {
                try db.execute(sql: "INSERT OR REPLACE INTO curves (run_id, epoch, split, metric, value) VALUES (?, ?, ?, ?, ?)",
                               arguments: [runId, epoch, split, metric, value])
            }
        }
    }

    /// All rows in one transaction, so a reader never sees half a test set.
    public func putCaseMetrics(runId: String, _ rows: [CaseMetric]) throws {
        try pool.write { db in
            let statement = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO case_metrics (run_id, case_id, metric, value) VALUES (?, ?, ?, ?)")
            for row in rows {
                try statement.execute(arguments: [runId, row.caseId, row.metric, row.value])
            }
        }
    }

    public func putSummary(runId: String, _ values: [String: Double]) throws {
        try pool.write { db in
            for (metric, value) in values {
                try db.execute(sql: "INSERT OR REPLACE INTO summary (run_id, metric, value) VALUES (?, ?, ?)",
                               arguments: [runId, metric, value])
            }
        }
    }

    // MARK: Reading

    public func run(id: String) throws -> RunRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(Self.record(from:))
        }
    }

    /// Runs matching `filter` (and `status` when given), in a stable order.
    public func runs(_ filter: RunFilter = RunFilter(), status: RunStatus? = nil) throws -> [RunRecord] {
        var (sql, arguments) = filter.sqlConditions
        if let status {
            sql += " AND status = ?"
            arguments += [status.rawValue]
        }
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM runs WHERE \(sql)
                ORDER BY paper, table_name, data_source, scale, dataset, method, variant, seed, id
                """, arguments: arguments).map(Self.record(from:))
        }
    }

    public func finishedRuns(_ filter: RunFilter = RunFilter()) throws -> [RunRecord] {
        try runs(filter, status: .finished)
    }

    public func caseMetrics(runId: String) throws -> [CaseMetric] {
        try pool.read { db in try Self.caseMetrics(db, runId: runId) }
    }

    public func curves(runId: String) throws -> [CurvePoint] {
        try pool.read { db in try Self.curves(db, runId: runId) }
    }

    public func summary(runId: String) throws -> [String: Double] {
        try pool.read { db in try Self.summary(db, runId: runId) }
    }

    /// Finished runs with their summaries, cases and curves: everything a report or a check reads. One read
    /// transaction, so a run finishing meanwhile in another process is either wholly in or wholly out.
    /// One finished run with its rows, nil when the store does not hold it finished.
    public func result(id: String) throws -> RunResult? {
        try pool.read { db in
            guard let record = try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ? AND status = 'finished'",
                                                arguments: [id]).map(Self.record(from:)) else { return nil }
            var cases: [String: [String: Double]] = [:]
            for row in try Self.caseMetrics(db, runId: id) { cases[row.metric, default: [:]][row.caseId] = row.value }
            return RunResult(record: record, summary: try Self.summary(db, runId: id), cases: cases, curves: try Self.curves(db, runId: id))
        }
    }

    public func results(_ filter: RunFilter = RunFilter()) throws -> [RunResult] {
        let (sql, arguments) = filter.sqlConditions
        return try pool.read { db in
            let records = try Row.fetchAll(db, sql: """
                SELECT * FROM runs WHERE \(sql) AND status = 'finished'
                ORDER BY paper, table_name, data_source, scale, dataset, method, variant, seed, id
                """, arguments: arguments).map(Self.record(from:))
            return try records.map { record in
                var cases: [String: [String: Double]] = [:]
                for row in try Self.caseMetrics(db, runId: record.id) { cases[row.metric, default: [:]][row.caseId] = row.value }
                return RunResult(record: record, summary: try Self.summary(db, runId: record.id), cases: cases,
                                 curves: try Self.curves(db, runId: record.id))
            }
        }
    }

    private static func caseMetrics(_ db: Database, runId: String) throws -> [CaseMetric] {
        try Row.fetchAll(db, sql: "SELECT case_id, metric, value FROM case_metrics WHERE run_id = ? ORDER BY metric, case_id",
                         arguments: [runId]).map { row in
            CaseMetric(caseId: row["case_id"], metric: row["metric"], value: double(row["value"]))
        }
    }

    private static func curves(_ db: Database, runId: String) throws -> [CurvePoint] {
        try Row.fetchAll(db, sql: "SELECT epoch, split, metric, value FROM curves WHERE run_id = ? ORDER BY split, metric, epoch",
                         arguments: [runId]).map { row in
            CurvePoint(epoch: row["epoch"], split: row["split"], metric: row["metric"], value: double(row["value"]))
        }
    }

    private static func summary(_ db: Database, runId: String) throws -> [String: Double] {
        let rows = try Row.fetchAll(db, sql: "SELECT metric, value FROM summary WHERE run_id = ?", arguments: [runId])
        return Dictionary(rows.map { ($0["metric"] as String, double($0["value"])) }, uniquingKeysWith: { a, _ in a })
    }

    /// Number of runs of the current stream generation per paper, table, data source, scale and status, for the
    /// report index. (A generation-1 config has no "streams" member; later ones have it in their canonical JSON.)
    public func runCounts() throws -> [RunCount] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT paper, table_name, data_source, scale, status, COUNT(*) AS n FROM runs
                WHERE instr(config_json, ?) > 0
                GROUP BY paper, table_name, data_source, scale, status
                ORDER BY paper, table_name, data_source, scale, status
                """, arguments: ["\"streams\":\(RunConfig.currentStreams)"]).compactMap { row in
                guard let source = DataSource(rawValue: row["data_source"]), let status = RunStatus(rawValue: row["status"])
                else { return nil }
                return RunCount(paper: row["paper"], table: row["table_name"], dataSource: source, scale: row["scale"],
                                status: status, count: row["n"])
            }
        }
    }

    private static func double(_ value: Double?) -> Double { value ?? .nan }

    private static func record(from row: Row) throws -> RunRecord {
        let json: String = row["config_json"]
        let config: RunConfig
        do {
            config = try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        } catch {
            throw StoreError.corruptRow("config_json of run \(row["id"] as String): \(error)")
        }
        guard let status = RunStatus(rawValue: row["status"]) else {
            throw StoreError.corruptRow("status \(row["status"] as String) of run \(row["id"] as String)")
        }
        return RunRecord(id: row["id"], config: config, status: status, codeVersion: row["code_version"],
                         startedAt: row["started_at"], finishedAt: row["finished_at"], error: row["error"],
                         epochsDone: row["epochs_done"], bestEpoch: row["best_epoch"], machine: row["machine"],
                         trainedAs: row["trained_as"])
    }
}

/// The commit of the code that produced a run, recorded with every run.
public enum CodeVersion {
    /// The version of the code that is running. `make build` writes `describe(at:)` of the checkout (through
    /// `repro code-version`) into `code-version` beside the executables once they are built; that stamp wins while it is newer than the
    /// executable, so a run that goes on while the checkout moves to later commits still names the commit it was
    /// built from. A later `swift build` leaves the executable newer than the stamp, which is then ignored.
    /// Without a valid stamp: `git describe` of `directory` at run time.
    public static func current(checkout directory: URL,
                               executable exe: URL = Executables.current) -> String {
        let stamp = exe.deletingLastPathComponent().appendingPathComponent("code-version")
        let fm = FileManager.default
        if let built = (try? fm.attributesOfItem(atPath: exe.path))?[.modificationDate] as? Date,
           let stamped = (try? fm.attributesOfItem(atPath: stamp.path))?[.modificationDate] as? Date,
           stamped >= built,
           let text = try? String(contentsOf: stamp, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           !text.isEmpty {
            return text
        }
        return describe(at: directory)
    }

    /// `git describe` of the checkout at `directory`, with "-dirty" when Sources/ or Package.swift differ from the
    /// commit (rendered pages in Reports/ change with every run and say nothing about the code).
    public static func describe(at directory: URL) -> String {
        guard let commit = git(["describe", "--always"], in: directory), !commit.isEmpty else { return "unknown" }
        let changes = git(["status", "--porcelain", "--", "Sources", "Package.swift"], in: directory) ?? ""
        return changes.isEmpty ? commit : commit + "-dirty"
    }

    private static func git(_ arguments: [String], in directory: URL) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory.path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
