import Foundation
import XCTest
@testable import Suite

/// Runs as text under Reports/runs/: what a commit carries so that a fresh clone renders and checks without training.
final class RunExportTests: XCTestCase {
    func fill(_ store: ResultStore) throws -> RunConfig {
        let config = tmcConfig(seed: 1, hyperparameters: ["lr": "0.0003", "note": "a \"quoted\" value / slash"])
        _ = try store.beginRun(config)
        try store.appendCurve(runId: config.id, epoch: 1, split: "val", values: ["Dice": 61.5, "mIoU": .nan])
        try store.appendCurve(runId: config.id, epoch: 2, split: "val", values: ["Dice": 0.1 + 0.2, "mIoU": 48])
        try store.putCaseMetrics(runId: config.id, [CaseMetric(caseId: "img 1", metric: "Dice", value: 1.0 / 3),
                                                   CaseMetric(caseId: "img 2", metric: "HD95:liver", value: .nan)])
        try store.putSummary(runId: config.id, ["Dice": 77.25, "HD95": .nan])
        try store.markFinished(runId: config.id, epochsDone: 2, bestEpoch: 2)
        // An unfinished run stays local: it is not exported.
        _ = try store.beginRun(tmcConfig(seed: 2))
        return config
    }

    func testExportRestoresEveryNumberBitForBitIntoAFreshStore() throws {
        let dir = try makeTemporaryDirectory(self)
        let a = try ResultStore(url: dir.appendingPathComponent("a/results.sqlite"), codeVersion: "abc1234", machine: "CPU A")
        let config = try fill(a)
        let files = try RunExport.write(a, to: RunExport.folder(for: a.url))
        XCTAssertEqual(files.map(\.lastPathComponent), ["TMC-Table1.jsonl"])
        let text = try String(contentsOf: files[0], encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, 1, text)
        XCTAssertTrue(text.contains("\"HD95\":null"), "NaN is written as null: \(text)")

        let b = try ResultStore(url: dir.appendingPathComponent("b/results.sqlite"), codeVersion: "other")
        XCTAssertEqual(try RunExport.restore(into: b, from: RunExport.folder(for: a.url)), 1)
        XCTAssertEqual(try RunExport.restore(into: b, from: RunExport.folder(for: a.url)), 0, "a finished run is not restored twice")
        let ra = try XCTUnwrap(a.results().first), rb = try XCTUnwrap(b.results().first)
        XCTAssertEqual(rb.record.id, config.id)
        XCTAssertEqual(rb.record.codeVersion, "abc1234")
        XCTAssertEqual(rb.record.machine, "CPU A")
        XCTAssertEqual(rb.record.epochsDone, 2)
        XCTAssertEqual(rb.record.bestEpoch, 2)
        XCTAssertEqual(rb.record.finishedAt.map { Int($0.timeIntervalSince1970 * 1000) }, ra.record.finishedAt.map { Int($0.timeIntervalSince1970 * 1000) })
        func bits(_ r: RunResult) -> [String] {
            r.summary.map { "s \($0.key) \($0.value.bitPattern)" }
                + r.curves.map { "c \($0.epoch) \($0.split) \($0.metric) \($0.value.isNaN ? "nan" : "\($0.value.bitPattern)")" }
                + r.cases.flatMap { m, byCase in byCase.map { "k \(m) \($0.key) \($0.value.isNaN ? "nan" : "\($0.value.bitPattern)")" } }
        }
        XCTAssertEqual(bits(ra).map { $0.replacingOccurrences(of: "\(Double.nan.bitPattern)", with: "nan") }.sorted(),
                       bits(rb).map { $0.replacingOccurrences(of: "\(Double.nan.bitPattern)", with: "nan") }.sorted())
        // Re-exporting the restored store gives the same bytes: the export is a fixed point.
        let again = try RunExport.write(b, to: dir.appendingPathComponent("again"))
        XCTAssertEqual(try String(contentsOf: again[0], encoding: .utf8), text)
    }

    /// A run copied from another table's identical training keeps every number and names the run that trained,
    /// in the store and through the export.
    func testCopiedTrainingKeepsItsNumbersAndProvenanceThroughTheExport() throws {
        let dir = try makeTemporaryDirectory(self)
        let a = try ResultStore(url: dir.appendingPathComponent("a/results.sqlite"), codeVersion: "abc1234", machine: "CPU A")
        let trained = try fill(a)
        var config = trained
        config.table = "Table2"; config.variant = "MCM=on;Lalign=on"
        let source = try XCTUnwrap(a.result(id: trained.id))
        XCTAssertTrue(try a.copyTraining(source, as: config))
        XCTAssertFalse(try a.copyTraining(source, as: config), "a finished run is not copied over")
        let copy = try XCTUnwrap(a.result(id: config.id))
        XCTAssertEqual(copy.record.trainedAs, trained.id)
        XCTAssertEqual(copy.record.config, config)
        XCTAssertEqual(copy.summary["Dice"], 77.25)
        XCTAssertEqual(copy.cases["Dice"]?["img 1"], 1.0 / 3)
        XCTAssertEqual(copy.curves.count, source.curves.count)
        XCTAssertNil(source.record.trainedAs)

        try RunExport.write(a, to: RunExport.folder(for: a.url))
        let b = try ResultStore(url: dir.appendingPathComponent("b/results.sqlite"), codeVersion: "other")
        XCTAssertEqual(try RunExport.restore(into: b, from: RunExport.folder(for: a.url)), 2)
        XCTAssertEqual(try b.result(id: config.id)?.record.trainedAs, trained.id)
        XCTAssertNil(try b.result(id: trained.id)?.record.trainedAs)
    }

    func testAnEditedLineIsRefusedNamingFileAndLine() throws {
        let dir = try makeTemporaryDirectory(self)
        let a = try ResultStore(url: dir.appendingPathComponent("a/results.sqlite"), codeVersion: "abc1234")
        _ = try fill(a)
        let file = try RunExport.write(a, to: dir.appendingPathComponent("runs"))[0]
        let edited = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "\"seed\":1", with: "\"seed\":5")
        try Data(edited.utf8).write(to: file)
        let b = try ResultStore(url: dir.appendingPathComponent("b/results.sqlite"), codeVersion: "x")
        XCTAssertThrowsError(try RunExport.restore(into: b, from: dir.appendingPathComponent("runs"))) {
            XCTAssertTrue("\($0)".contains("TMC-Table1.jsonl line 1: run id"), "\($0)")
        }
        XCTAssertEqual(try b.runs().count, 0, "nothing half-restored")
    }

    /// A store opened through `openStore` restores the export beside it: the path a fresh clone takes.
    func testOpeningAStoreRestoresTheExportBesideIt() throws {
        let dir = try makeTemporaryDirectory(self)
        let a = try ResultStore(url: dir.appendingPathComponent("results.sqlite"), codeVersion: "abc1234")
        let config = try fill(a)
        try RunExport.write(a, to: RunExport.folder(for: a.url))
        try FileManager.default.removeItem(at: a.url)
        var logged: [String] = []
        let fresh = try RunExport.openStore(dir.appendingPathComponent("results.sqlite")) { logged.append($0) }
        XCTAssertEqual(try fresh.run(id: config.id)?.status, .finished)
        XCTAssertEqual(logged.count, 1)
        XCTAssertTrue(logged[0].hasPrefix("restored 1 finished runs"), "\(logged)")
    }
}
