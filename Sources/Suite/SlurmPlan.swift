import Foundation

/// A table's runs as SLURM job arrays (README, "Running on a cluster"): the pre-trainings and λ-grid runs as one
/// array, the cells as a second that starts when the whole first has succeeded (`afterok`; the arrays differ in
/// size, so `aftercorr` does not fit), and a merge job after the second. Every task runs the table executable on
/// its one run (`--cell`) into a shard store of its own: SQLite's locks are not safe on the network file systems
/// clusters share, so no two tasks ever write one database. A pre-empted or requeued task finds its checkpoint
/// beside its shard and resumes.
public struct SlurmPlan {
    public struct Resources: Sendable {
        public var partition: String?
        public var time: String
        public var cpusPerTask: Int
        public var mem: String
        /// At most this many tasks of an array at once (`--array=0-N%K`).
        public var arrayLimit: Int?
        public init(partition: String? = nil, time: String = "04:00:00", cpusPerTask: Int = 2, mem: String = "8G", arrayLimit: Int? = nil) {
            self.partition = partition; self.time = time; self.cpusPerTask = cpusPerTask; self.mem = mem; self.arrayLimit = arrayLimit
        }
    }

    public var target: String
    /// The table options every task passes on (scale, seeds, data root, ...), without --db, --cell or --plan.
    public var tableArguments: [String]
    public var entries: [PlanEntry]
    public var out: URL
    /// Folder of the built executables, and the repository root the tasks run in.
    public var binaries: URL
    public var root: URL
    /// The store the merge job writes (and exports beside).
    public var store: URL
    public var resources: Resources

    public init(target: String, tableArguments: [String], entries: [PlanEntry], out: URL, binaries: URL, root: URL,
                store: URL, resources: Resources) {
        self.target = target; self.tableArguments = tableArguments; self.entries = entries; self.out = out
        self.binaries = binaries; self.root = root; self.store = store; self.resources = resources
    }

    var shards: URL { out.appendingPathComponent("shards", isDirectory: true) }
    func keys(_ phase: Int) -> [String] { entries.filter { $0.phase == phase }.map(\.key) }
    public func script(_ phase: Int) -> URL { out.appendingPathComponent(phase == 1 ? "pretrain.sbatch" : "cells.sbatch") }
    public var mergeScript: URL { out.appendingPathComponent("merge.sbatch") }

    static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    func header(name: String, array: Int?) -> [String] {
        let r = resources
        var lines = ["#!/usr/bin/env bash", "#SBATCH --job-name=\(name)", "#SBATCH --cpus-per-task=\(r.cpusPerTask)",
                     "#SBATCH --mem=\(r.mem)", "#SBATCH --time=\(r.time)", "#SBATCH --requeue",
                     "#SBATCH --output=\(out.appendingPathComponent("logs").path)/" + (array == nil ? "%x-%j.out" : "%x-%A_%a.out")]
        if let p = r.partition { lines.append("#SBATCH --partition=\(p)") }
        if let n = array { lines.append("#SBATCH --array=0-\(n - 1)" + (r.arrayLimit.map { "%\($0)" } ?? "")) }
        return lines + ["set -euo pipefail", "cd \(Self.quoted(root.path))"]
    }

    /// One task of phase `phase`: the key on line SLURM_ARRAY_TASK_ID + 1 of the phase's key file, into its shard.
    func taskScript(_ phase: Int) -> String {
        let keyFile = out.appendingPathComponent("phase\(phase).keys").path
        var command = [binaries.appendingPathComponent(target).path] + tableArguments
            + ["--cell", "$KEY", "--db", shards.path + "/$KEY.sqlite", "--no-progress"]
        // Cells read the pre-trainings and grid runs of phase 1 from their shards, never from a shared store.
        if phase == 2 && !keys(1).isEmpty { command += ["--import-from", out.appendingPathComponent("phase1.shards").path] }
        let line = command.map { $0.contains("$KEY") ? "\"\($0)\"" : Self.quoted($0) }.joined(separator: " ")
        return (header(name: "\(target)-\(phase == 1 ? "pretrain" : "cells")", array: keys(phase).count) + [
            "KEY=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \(Self.quoted(keyFile)))",
            "# Threads follow SLURM_CPUS_PER_TASK (Threads.count).",
            "exec \(line)",
        ]).joined(separator: "\n") + "\n"
    }

    var mergeText: String {
        (header(name: "\(target)-merge", array: nil)
            + ["exec \(Self.quoted(binaries.appendingPathComponent("repro").path)) merge \(Self.quoted(shards.path)) --db \(Self.quoted(store.path))"])
            .joined(separator: "\n") + "\n"
    }

    /// The submission chain as a shell script (what `--submit` runs): prints the job ids.
    var submitText: String {
        var lines = ["#!/usr/bin/env bash", "set -euo pipefail", "cd \(Self.quoted(out.path))"]
        var after = ""
        if !keys(1).isEmpty {
            lines.append("PRE=$(sbatch --parsable pretrain.sbatch)")
            lines.append("echo \"pre-training array: $PRE\"")
            after = "--dependency=afterok:$PRE "
        }
        lines.append("CELLS=$(sbatch --parsable \(after)cells.sbatch)")
        lines.append("echo \"cells array: $CELLS\"")
        // afterany: the merge also runs when a task failed, and reports that task's shard as unfinished.
        lines.append("MERGE=$(sbatch --parsable --dependency=afterany:$CELLS merge.sbatch)")
        lines.append("echo \"merge: $MERGE\"")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the scripts, key files and folders; returns the submit script.
    @discardableResult
    public func write() throws -> URL {
        let fm = FileManager.default
        for dir in [out, shards, out.appendingPathComponent("logs")] { try fm.createDirectory(at: dir, withIntermediateDirectories: true) }
        func put(_ text: String, _ name: String, executable: Bool = false) throws {
            let url = out.appendingPathComponent(name)
            try Data(text.utf8).write(to: url, options: .atomic)
            if executable { try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try put(try entries.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n", "plan.jsonl")
        for phase in [1, 2] { try put(keys(phase).map { $0 + "\n" }.joined(), "phase\(phase).keys") }
        try put(keys(1).map { shards.appendingPathComponent("\($0).sqlite").path + "\n" }.joined(), "phase1.shards")
        if !keys(1).isEmpty { try put(taskScript(1), "pretrain.sbatch", executable: true) }
        try put(taskScript(2), "cells.sbatch", executable: true)
        try put(mergeText, "merge.sbatch", executable: true)
        try put(submitText, "submit.sh", executable: true)
        return out.appendingPathComponent("submit.sh")
    }
}
