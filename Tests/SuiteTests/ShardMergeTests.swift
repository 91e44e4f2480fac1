import XCTest
@testable import Suite

/// Merging a job array's shard stores: idempotent, unfinished runs reported and left out, conflicting numbers an
/// error naming both shards; and the scripts `repro slurm` writes.
final class ShardMergeTests: XCTestCase {
    func finished(_ store: ResultStore, _ config: RunConfig, dice: Double) throws {
        _ = try store.beginRun(config)
        try store.appendCurve(runId: config.id, epoch: 1, split: "val", values: ["Dice": dice])
        try store.putCaseMetrics(runId: config.id, [CaseMetric(caseId: "c1", metric: "Dice", value: dice)])
        try store.putSummary(runId: config.id, ["Dice": dice])
        try store.markFinished(runId: config.id, epochsDone: 1)
    }

    func testMergeIsIdempotentReportsUnfinishedAndRefusesConflicts() throws {
        let dir = try makeTemporaryDirectory(self)
        let shards = dir.appendingPathComponent("shards")
        let a = try ResultStore(url: shards.appendingPathComponent("a.sqlite"))
        let b = try ResultStore(url: shards.appendingPathComponent("b.sqlite"))
        let shared = tmcConfig(method: "UNet", seed: 0), own = tmcConfig(method: "UNet", seed: 1), open = tmcConfig(method: "UNet", seed: 2)
        try finished(a, shared, dice: 80)
        try finished(b, shared, dice: 80)   // the same run imported by two tasks: identical numbers
        try finished(b, own, dice: 70)
        _ = try b.beginRun(open)              // killed and never resumed
        try FileManager.default.createDirectory(at: b.checkpointURL(runId: own.id).deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("weights".utf8).write(to: b.checkpointURL(runId: own.id))
        let target = try ResultStore(url: dir.appendingPathComponent("merged.sqlite"))
        let files = try ShardMerge.shardFiles(shards.path)
        XCTAssertEqual(files.map(\.lastPathComponent), ["a.sqlite", "b.sqlite"])
        let first = try ShardMerge.merge(files, into: target)
        XCTAssertEqual(Set(first.merged), [shared.id, own.id])
        XCTAssertEqual(first.alreadyPresent, [shared.id])
        XCTAssertEqual(first.unfinished.map(\.run), [open.id])
        XCTAssertEqual(first.checkpointsCopied, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: target.checkpointURL(runId: own.id).path))
        let second = try ShardMerge.merge(files, into: target)
        XCTAssertEqual(second.merged, [])
        XCTAssertEqual(try target.runs().count, 2)

        // The same configuration with other numbers: one error naming both places.
        let c = try ResultStore(url: dir.appendingPathComponent("other/c.sqlite"))
        try finished(c, own, dice: 71)
        XCTAssertThrowsError(try ShardMerge.merge([c.url], into: target)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("other/c.sqlite") && text.contains("merged.sqlite"), text)
        }
        XCTAssertThrowsError(try ShardMerge.shardFiles(dir.appendingPathComponent("missing").path))
    }

    func testSlurmScriptsChainTheArraysAndGiveEachTaskItsShard() throws {
        let dir = try makeTemporaryDirectory(self)
        func entry(_ kind: PlanEntry.Kind, _ key: String, depends: [String] = []) -> PlanEntry {
            PlanEntry(kind: kind, key: key, run: key, table: "Table1", method: "M", variant: "v", dataset: "D", seed: 0,
                      swept: [:], dependsOn: depends)
        }
        let plan = SlurmPlan(target: "Table1_TMC", tableArguments: ["--scale", "smoke"],
                             entries: [entry(.pretraining, "p1"), entry(.selection, "s1"), entry(.cell, "cell-a", depends: ["p1"]),
                                       entry(.cell, "cell-b"), entry(.cell, "cell-c")],
                             out: dir, binaries: URL(fileURLWithPath: "/opt/bin"), root: URL(fileURLWithPath: "/repo"),
                             store: dir.appendingPathComponent("results.sqlite"),
                             resources: .init(partition: "cpu", time: "01:00:00", cpusPerTask: 4, mem: "16G", arrayLimit: 2))
        try plan.write()
        func read(_ name: String) throws -> String { try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8) }
        XCTAssertEqual(try read("phase1.keys"), "p1\ns1\n")
        XCTAssertEqual(try read("phase2.keys"), "cell-a\ncell-b\ncell-c\n")
        let cells = try read("cells.sbatch")
        for line in ["#SBATCH --array=0-2%2", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16G", "#SBATCH --partition=cpu",
                     "#SBATCH --requeue", "'--cell' \"$KEY\"", "\"\(dir.path)/shards/$KEY.sqlite\"", "'--import-from'"] {
            XCTAssertTrue(cells.contains(line), "\(line) in\n\(cells)")
        }
        XCTAssertTrue(try read("pretrain.sbatch").contains("#SBATCH --array=0-1%2"))
        XCTAssertFalse(try read("pretrain.sbatch").contains("--import-from"))
        let submit = try read("submit.sh")
        XCTAssertTrue(submit.contains("sbatch --parsable --dependency=afterok:$PRE cells.sbatch"), submit)
        XCTAssertTrue(submit.contains("sbatch --parsable --dependency=afterany:$CELLS merge.sbatch"), submit)
        XCTAssertTrue(try read("merge.sbatch").contains("merge '\(dir.path)/shards' --db '\(dir.path)/results.sqlite'"))
    }
}
