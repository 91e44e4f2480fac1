import Foundation
import XCTest
import GRDB
@testable import Suite

/// `repro slurm` against a real SLURM (scripts/slurm/local-cluster.sh, started by .ci/run): TMC Table 1's smoke
/// arrays on one data set (the CLIP, MAP and MGCA pre-trainings and TMC's λ grid first, then the 11 cells), one
/// cell killed mid-run with SIGKILL and requeued, the shards merged, and the merged store compared with one
/// process training the same cells at the same thread count. Skipped, with the reason, when no SLURM answers.
final class SlurmTests: XCTestCase {
    static let binDir = EndToEndTests.binDir
    static let root = EndToEndTests.root

    @discardableResult
    func shell(_ command: String, environment: [String: String] = [:], check: Bool = true) throws -> (status: Int32, output: String) {
        let (status, text) = try runProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", command], in: Self.root, environment: environment)
        if check { XCTAssertEqual(status, 0, "\(command):\n\(text.suffix(3000))") }
        return (status, text)
    }

    func testJobArraysKilledTaskRequeuedAndMergedEqualOneProcess() throws {
        guard FileManager.default.fileExists(atPath: Self.binDir.appendingPathComponent("Table1_TMC").path) else {
            throw XCTSkip("Table1_TMC is not built next to the tests")
        }
        let probe = try shell("sinfo -h -o %T 2>&1", check: false)
        guard probe.status == 0, probe.output.contains("idle") || probe.output.contains("mixed") else {
            throw XCTSkip("no SLURM cluster answers (sinfo: \(probe.output.trimmingCharacters(in: .whitespacesAndNewlines))); "
                          + "start one with `bash scripts/slurm/local-cluster.sh start` (.ci/run does)")
        }
        let dir = try makeTemporaryDirectory(self)
        let out = dir.appendingPathComponent("slurm")
        // Longer runs than plain smoke (8 epochs) so that a task can be caught mid-run.
        let table = ["Table1_TMC", "--scale", "smoke", "--dataset", "QaTa-COV19", "--epochs", "8"]
        let repro = Self.binDir.appendingPathComponent("repro").path
        let submitted = try shell("'\(repro)' slurm --out '\(out.path)' --db '\(dir.path)/merged.sqlite' --cpus-per-task 1 "
                                  + "--mem 1G --time 00:30:00 --submit " + table.joined(separator: " ")).output
        func jobId(_ label: String) throws -> String {
            let line = try XCTUnwrap(submitted.split(separator: "\n").first { $0.hasPrefix(label) }, submitted)
            return String(line.split(separator: " ").last!)
        }
        let (pre, cells, merge) = (try jobId("pre-training array:"), try jobId("cells array:"), try jobId("merge:"))
        XCTAssertTrue(submitted.contains("6 pre-trainings and grid runs, 11 cells"), submitted)

        // Catch a cell mid-run: its shard holds a running run with at least one epoch done. Kill it, then requeue it.
        let keys = try String(contentsOf: out.appendingPathComponent("phase2.keys"), encoding: .utf8).split(separator: "\n").map(String.init)
        var killed: (index: Int, key: String)?
        let deadline = Date().addingTimeInterval(900)
        while killed == nil && Date() < deadline {
            for (i, key) in keys.enumerated() {
                let shard = out.appendingPathComponent("shards/\(key).sqlite")
                guard FileManager.default.fileExists(atPath: shard.path),
                      let epochs = try? DatabaseQueue(path: shard.path).read({ try Int.fetchOne($0, sql:
                          "SELECT epochs_done FROM runs WHERE status = 'running' AND table_name = 'Table1'") }),
                      epochs >= 1, epochs < 6 else { continue }
                try shell("scancel --signal=KILL --full \(cells)_\(i)")
                killed = (i, key)
                break
            }
            if killed == nil { Thread.sleep(forTimeInterval: 0.2) }
        }
        let victim = try XCTUnwrap(killed, "no cell was caught mid-run")
        // Wait until SLURM has ended the killed task, then requeue it.
        for _ in 0..<100 {
            let state = try shell("squeue -h -j \(cells)_\(victim.index) -o %T", check: false).output
            if !state.contains("RUNNING") { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        try shell("scontrol requeue \(cells)_\(victim.index)")
        // Wait for every job of the chain.
        while Date() < deadline {
            let queued = try shell("squeue -h -j \(pre),\(cells),\(merge) -o %i", check: false).output
            if queued.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
            Thread.sleep(forTimeInterval: 1)
        }
        let log = try String(contentsOf: out.appendingPathComponent("logs/Table1_TMC-cells-\(cells)_\(victim.index).out"), encoding: .utf8)
        XCTAssertTrue(log.contains("resuming after epoch"), log)
        // The merge job may have run before the requeued task finished; merging again is idempotent.
        let merged = dir.appendingPathComponent("merged.sqlite")
        let again = try shell("'\(repro)' merge '\(out.path)/shards' --db '\(merged.path)'").output
        XCTAssertTrue(again.contains("0 unfinished"), again)

        // One process, one thread (the tasks had one CPU each), the same cells.
        let single = dir.appendingPathComponent("single/results.sqlite")
        try shell(([Self.binDir.appendingPathComponent("Table1_TMC").path] + table.dropFirst() + ["--db", single.path, "--no-progress"])
            .map { "'\($0)'" }.joined(separator: " "), environment: ["REPRO_THREADS": "1"])
        let a = try ResultStore(url: merged), b = try ResultStore(url: single)
        let ra = try a.results(), rb = try b.results()
        XCTAssertEqual(ra.count, 17, "11 cells, 3 pre-trainings and 3 λ-grid runs, no duplicates")
        XCTAssertEqual(Set(ra.map(\.record.id)), Set(rb.map(\.record.id)))
        XCTAssertEqual(try a.runs().count, ra.count, "nothing unfinished or duplicated in the merged store")
        for r in rb {
            let m = try XCTUnwrap(ra.first { $0.record.id == r.record.id })
            XCTAssertEqual(m.record.config, r.record.config)
            XCTAssertEqual(ShardMerge.numbers(m), ShardMerge.numbers(r), "\(r.record.config.method) · \(r.record.config.table)")
        }
    }
}
