import Foundation

/// Shard stores into one: what a job array's tasks wrote, each to its own SQLite file (SQLite's locks are not safe
/// on the network file systems clusters share), merged after the array. Idempotent: a run the store already holds
/// finished with the same numbers is skipped; an unfinished run is reported and left out; two finished runs with
/// one id and different numbers are an error naming both files, since a run's id is its configuration and the same
/// configuration must give the same numbers.
public enum ShardMerge {
    public struct Report: Sendable {
        public var merged: [String] = []
        public var alreadyPresent: [String] = []
        /// (shard, run id, status) of runs not merged because they did not finish.
        public var unfinished: [(shard: String, run: String, status: String)] = []
        public var checkpointsCopied = 0
    }

    /// The shard files a source names: a .sqlite file, every .sqlite in a folder, or the paths listed one per line
    /// in a text file. A source that does not exist is an error naming it.
    public static func shardFiles(_ source: String) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw RunError("shard source \(source) does not exist; pass a shard .sqlite, a folder of them, or a file listing them")
        }
        let url = URL(fileURLWithPath: source)
        if isDirectory.boolValue {
            return try FileManager.default.contentsOfDirectory(atPath: source).filter { $0.hasSuffix(".sqlite") }.sorted()
                .map { url.appendingPathComponent($0) }
        }
        if source.hasSuffix(".sqlite") { return [url] }
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { path in
            guard FileManager.default.fileExists(atPath: path) else {
                throw RunError("\(source) lists \(path), which does not exist; the task that writes it has not run (or failed)")
            }
            return URL(fileURLWithPath: path)
        }
    }

    /// A run's numbers in one canonical form: curves, per-case metrics and summary, NaN equal to NaN. Timestamps,
    /// wall times, machines and code versions are not numbers of the run and may differ.
    static func numbers(_ r: RunResult) -> [String] {
        func v(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.17g", x) }
        var out = r.curves.map { "curve \($0.epoch) \($0.split) \($0.metric) \(v($0.value))" }
        for (metric, byCase) in r.cases { for (c, x) in byCase { out.append("case \(metric) \(c) \(v(x))") } }
        for (metric, x) in r.summary { out.append("summary \(metric) \(v(x))") }
        return out.sorted()
    }

    /// Merges the finished runs of `shards` into `store`, copying each merged run's checkpoint (its selected weights)
    /// beside the store. Throws on conflicting numbers, naming both files; nothing is merged from a shard after it.
    @discardableResult
    public static func merge(_ shards: [URL], into store: ResultStore) throws -> Report {
        var report = Report()
        var origin: [String: String] = [:]
        let target = store.url.standardizedFileURL
        for shard in shards where shard.standardizedFileURL != target {
            guard FileManager.default.fileExists(atPath: shard.path) else { throw RunError("shard \(shard.path) does not exist") }
            let source = try ResultStore(url: shard)
            for record in try source.runs() where record.status != .finished {
                report.unfinished.append((shard.path, record.id, record.status.rawValue))
            }
            for run in try source.results() where run.record.status == .finished {
                let id = run.record.id
                if let held = try store.result(id: id) {
                    if numbers(held) != numbers(run) {
                        throw RunError("run \(id.prefix(12)) (\(run.record.config.method) · \(run.record.config.dataset) · seed \(run.record.config.seed)) finished with different numbers in \(shard.path) and in \(origin[id] ?? store.url.path); the same configuration must give the same numbers, so one of them ran other code or data (code versions \(run.record.codeVersion) and \(held.record.codeVersion))")
                    }
                    report.alreadyPresent.append(id)
                    continue
                }
                _ = try store.restore(run)
                origin[id] = shard.path
                report.merged.append(id)
                let from = source.checkpointURL(runId: id), to = store.checkpointURL(runId: id)
                if from.standardizedFileURL != to.standardizedFileURL, FileManager.default.fileExists(atPath: from.path),
                   !FileManager.default.fileExists(atPath: to.path) {
                    try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try FileManager.default.copyItem(at: from, to: to)
                    report.checkpointsCopied += 1
                }
            }
        }
        return report
    }

    /// What a job-array task imports before it trains: the finished runs of `shards` its store lacks (the
    /// pre-trainings and λ-grid runs its cell needs), by the same rules as `merge`.
    public static func importFinished(from shards: [URL], into store: ResultStore) throws -> Int {
        try merge(shards, into: store).merged.count
    }
}
