import Foundation

/// Finished runs as text that travels with the repository: `<store folder>/runs/<paper>-<table>.jsonl`, one JSON
/// line per run (configuration, id, code version, CPU, times, summary, curves and per-case metrics), lines in id
/// order with sorted keys, so that a diff shows exactly which runs changed.
///
/// The SQLite store is git-ignored and lives with the machine that trained; the export is what a commit carries.
/// Every command that opens a store first restores the exported runs it lacks (`openStore`), so a fresh clone
/// renders and checks the committed report in seconds, and a table target that finds its cells in the export
/// trains nothing. Model weights are not exported (tens of MB per run); the figure pages need them and retrain.
public enum RunExport {
    /// The folder beside a store: Reports/runs for Reports/results.sqlite.
    public static func folder(for store: URL) -> URL {
        store.deletingLastPathComponent().appendingPathComponent("runs", isDirectory: true)
    }

    /// Opens the store at `url` and restores every exported run beside it that it does not hold finished.
    public static func openStore(_ url: URL, log: (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }) throws -> ResultStore {
        let store = try ResultStore.open(url)
        let restored = try restore(into: store, from: folder(for: url))
        if restored > 0 { log("restored \(restored) finished runs from \(folder(for: url).path)") }
        return store
    }

    struct Line: Codable {
        struct Point: Codable { var epoch: Int; var split: String; var metric: String; var value: Double? }
        var id: String
        var config: RunConfig
        var codeVersion: String
        var machine: String
        var startedAt: String?
        var finishedAt: String?
        var epochsDone: Int
        var bestEpoch: Int?
        /// The run that trained, for a run copied from another table's identical training.
        var trainedAs: String?
        /// JSON has no NaN: undefined values are null.
        var summary: [String: Double?]
        var curves: [Point]
        /// metric → case id → value.
        var cases: [String: [String: Double?]]
    }

    static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }

    static let dates: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    static func line(_ r: RunResult) -> Line {
        let rec = r.record
        return Line(id: rec.id, config: rec.config, codeVersion: rec.codeVersion, machine: rec.machine,
                    startedAt: rec.startedAt.map(dates.string), finishedAt: rec.finishedAt.map(dates.string),
                    epochsDone: rec.epochsDone, bestEpoch: rec.bestEpoch, trainedAs: rec.trainedAs, summary: r.summary.mapValues(finite),
                    curves: r.curves.map { Line.Point(epoch: $0.epoch, split: $0.split, metric: $0.metric, value: finite($0.value)) },
                    cases: r.cases.mapValues { $0.mapValues(finite) })
    }

    static func result(_ l: Line) -> RunResult {
        let record = RunRecord(id: l.id, config: l.config, status: .finished, codeVersion: l.codeVersion,
                               startedAt: l.startedAt.flatMap(dates.date), finishedAt: l.finishedAt.flatMap(dates.date),
                               error: nil, epochsDone: l.epochsDone, bestEpoch: l.bestEpoch, machine: l.machine,
                               trainedAs: l.trainedAs)
        return RunResult(record: record, summary: l.summary.mapValues { $0 ?? .nan },
                         cases: l.cases.mapValues { $0.mapValues { $0 ?? .nan } },
                         curves: l.curves.map { CurvePoint(epoch: $0.epoch, split: $0.split, metric: $0.metric, value: $0.value ?? .nan) })
    }

    /// Writes the finished runs matching `filter`, one file per (paper, table), replacing those files. Returns the
    /// files written.
    @discardableResult
    public static func write(_ store: ResultStore, filter: RunFilter = RunFilter(), to folder: URL) throws -> [URL] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let runs = try store.results(filter)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var written: [URL] = []
        for (key, group) in Dictionary(grouping: runs, by: { "\($0.record.config.paper)-\($0.record.config.table)" }).sorted(by: { $0.key < $1.key }) {
            var text = ""
            for run in group.sorted(by: { $0.record.id < $1.record.id }) {
                text += String(decoding: try encoder.encode(line(run)), as: UTF8.self) + "\n"
            }
            let url = folder.appendingPathComponent(key + ".jsonl")
            try Data(text.utf8).write(to: url, options: .atomic)
            written.append(url)
        }
        return written
    }

    /// Restores every run of the `.jsonl` files in `folder` that `store` does not hold finished; returns how many.
    /// A line whose id is not its configuration's hash is refused, naming the file and line.
    @discardableResult
    public static func restore(into store: ResultStore, from folder: URL) throws -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return 0 }
        let decoder = JSONDecoder()
        // Every command opens its store through here: runs it already holds finished cost one read, not a write each.
        var held = Set(try store.runs(status: .finished).map(\.id))
        var restored = 0
        for name in names.filter({ $0.hasSuffix(".jsonl") }).sorted() {
            let url = folder.appendingPathComponent(name)
            let text = try String(contentsOf: url, encoding: .utf8)
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
                let l: Line
                do { l = try decoder.decode(Line.self, from: Data(raw.utf8)) } catch {
                    throw RunError("\(url.path) line \(n + 1) is not an exported run (\(error)). Restore the file from git, or delete the line and rerun its cell.")
                }
                guard l.config.id == l.id else {
                    throw RunError("\(url.path) line \(n + 1): run id \(l.id.prefix(12))… is not the hash of its configuration (\(l.config.id.prefix(12))…); the line was edited. Restore the file from git, or delete the line and rerun its cell.")
                }
                guard !held.contains(l.id) else { continue }
                if try store.restore(result(l)) { restored += 1 }
                held.insert(l.id)
            }
        }
        return restored
    }
}
