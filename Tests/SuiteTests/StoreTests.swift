import Foundation
import XCTest
@testable import Suite

final class StoreTests: XCTestCase {
    private func openStore(codeVersion: String = "v1") throws -> ResultStore {
        let dir = try makeTemporaryDirectory(self)
        return try ResultStore(url: dir.appendingPathComponent("results.sqlite"), codeVersion: codeVersion)
    }

    /// On a stand-in executable in a temporary folder: rewriting the real stamp beside the test binary (even to
    /// restore it) gives it a new date, and every run started afterwards would carry the stale commit it names.
    func testCodeVersionStampBesideTheExecutableWinsOnlyWhileNewerThanIt() throws {
        let dir = try makeTemporaryDirectory(self)
        let exe = dir.appendingPathComponent("Table1_TMC"), stamp = dir.appendingPathComponent("code-version")
        try Data("binary".utf8).write(to: exe)
        let checkout = try makeTemporaryDirectory(self)  // not a git checkout: describe says "unknown"
        try "abc1234\n".write(to: stamp, atomically: true, encoding: .utf8)
        XCTAssertEqual(CodeVersion.current(checkout: checkout, executable: exe), "abc1234")
        // A rebuild after the stamp was written makes the executable newer: the stamp no longer describes it.
        let built = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: exe.path)[.modificationDate] as? Date)
        try FileManager.default.setAttributes([.modificationDate: built.addingTimeInterval(-60)], ofItemAtPath: stamp.path)
        XCTAssertEqual(CodeVersion.current(checkout: checkout, executable: exe), "unknown")
    }

    func testNewRunIsRegisteredAsRunning() throws {
        let store = try openStore()
        let config = tmcConfig(seed: 3)
        XCTAssertEqual(try store.beginRun(config), .new)
        let record = try XCTUnwrap(store.run(id: config.id))
        XCTAssertEqual(record.status, .running)
        XCTAssertEqual(record.config, config)
        XCTAssertEqual(record.codeVersion, "v1")
        XCTAssertEqual(record.epochsDone, 0)
        XCTAssertNil(record.bestEpoch)
        XCTAssertNotNil(record.startedAt)
        XCTAssertNil(record.finishedAt)
    }

    func testInterruptedRunResumesWithItsProgress() throws {
        let store = try openStore()
        let config = tmcConfig()
        _ = try store.beginRun(config)
        try store.updateProgress(runId: config.id, epochsDone: 4, bestEpoch: 3)
        // A second process (or the same one after a kill) finds the run still marked running.
        guard case .resumable(let before) = try store.beginRun(config) else { return XCTFail("expected resumable") }
        XCTAssertEqual(before.status, .running)
        XCTAssertEqual(before.epochsDone, 4)
        XCTAssertEqual(before.bestEpoch, 3)
    }

    func testFailedRunResumesAndClearsItsError() throws {
        let store = try openStore()
        let config = tmcConfig()
        _ = try store.beginRun(config)
        try store.markFailed(runId: config.id, error: "loss became nan")
        XCTAssertEqual(try store.run(id: config.id)?.status, .failed)
        guard case .resumable(let before) = try store.beginRun(config) else { return XCTFail("expected resumable") }
        XCTAssertEqual(before.status, .failed)
        XCTAssertEqual(before.error, "loss became nan")
        let after = try XCTUnwrap(store.run(id: config.id))
        XCTAssertEqual(after.status, .running)
        XCTAssertNil(after.error)
    }

    func testFinishedRunIsNotTouchedAgain() throws {
        let store = try openStore()
        let config = tmcConfig()
        _ = try store.beginRun(config)
        try store.markFinished(runId: config.id, epochsDone: 12, bestEpoch: 9)
        guard case .finished(let record) = try store.beginRun(config) else { return XCTFail("expected finished") }
        XCTAssertEqual(record.status, .finished)
        XCTAssertEqual(record.epochsDone, 12)
        XCTAssertEqual(record.bestEpoch, 9)
        XCTAssertNotNil(record.finishedAt)
        XCTAssertEqual(try store.run(id: config.id)?.status, .finished)
        XCTAssertEqual(try store.finishedRuns().map(\.id), [config.id])
    }

    func testResumingUnderNewCodeRecordsBothVersions() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("results.sqlite")
        let config = tmcConfig()
        _ = try ResultStore(url: url, codeVersion: "aaa111").beginRun(config)
        _ = try ResultStore(url: url, codeVersion: "bbb222").beginRun(config)
        _ = try ResultStore(url: url, codeVersion: "bbb222").beginRun(config)
        XCTAssertEqual(try ResultStore(url: url, codeVersion: "x").run(id: config.id)?.codeVersion, "aaa111,bbb222")
    }

    func testRewritingEpochsAndCasesAddsNoRows() throws {
        let store = try openStore()
        let config = tmcConfig()
        _ = try store.beginRun(config)
        for epoch in 1...3 {
            try store.appendCurve(runId: config.id, epoch: epoch, split: "val", values: ["Dice": Double(epoch), "mIoU": 0.5])
        }
        // A resumed run repeats epochs 2 and 3 from its checkpoint.
        try store.appendCurve(runId: config.id, epoch: 2, split: "val", metric: "Dice", value: 20)
        try store.appendCurve(runId: config.id, epoch: 3, split: "val", values: ["Dice": 30, "mIoU": 0.5])
        let dice = try store.curves(runId: config.id).filter { $0.metric == "Dice" }
        XCTAssertEqual(dice.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(dice.map(\.value), [1, 20, 30])
        XCTAssertEqual(try store.curves(runId: config.id).count, 6)

        let rows = (0..<5).flatMap { i in
            [CaseMetric(caseId: "img\(i)", metric: "Dice", value: Double(i)), CaseMetric(caseId: "img\(i)", metric: "mIoU", value: 1)]
        }
        try store.putCaseMetrics(runId: config.id, rows)
        try store.putCaseMetrics(runId: config.id, rows)
        try store.putSummary(runId: config.id, ["Dice": 2, "mIoU": 1])
        try store.putSummary(runId: config.id, ["Dice": 2.5])
        XCTAssertEqual(try store.caseMetrics(runId: config.id).count, 10)
        XCTAssertEqual(try store.summary(runId: config.id), ["Dice": 2.5, "mIoU": 1])
    }

    func testNaNSurvivesTheRoundTrip() throws {
        let store = try openStore()
        let config = tmcConfig()
        _ = try store.beginRun(config)
        try store.putCaseMetrics(runId: config.id, [CaseMetric(caseId: "empty", metric: "HD95", value: .nan),
                                                     CaseMetric(caseId: "far", metric: "HD95", value: .infinity),
                                                     CaseMetric(caseId: "ok", metric: "HD95", value: 4)])
        let values = Dictionary(uniqueKeysWithValues: try store.caseMetrics(runId: config.id).map { ($0.caseId, $0.value) })
        XCTAssertTrue(values["empty"]!.isNaN)
        XCTAssertEqual(values["far"], .infinity)
        XCTAssertEqual(values["ok"], 4)
    }

    func testResultsCarryCasesAndCurvesAndValueFallsBackToCaseMean() throws {
        let store = try openStore()
        let config = tmcConfig()
        _ = try store.beginRun(config)
        try store.appendCurve(runId: config.id, epoch: 1, split: "val", metric: "Dice", value: 50)
        try store.putCaseMetrics(runId: config.id, [CaseMetric(caseId: "a", metric: "mIoU", value: 60),
                                                     CaseMetric(caseId: "b", metric: "mIoU", value: 70),
                                                     CaseMetric(caseId: "c", metric: "mIoU", value: .nan)])
        try store.putSummary(runId: config.id, ["Dice": 80])
        XCTAssertTrue(try store.results().isEmpty, "unfinished runs are not results")
        try store.markFinished(runId: config.id)
        let run = try XCTUnwrap(store.results(RunFilter(paper: "TMC", method: "UNet")).first)
        XCTAssertEqual(run.value(of: "Dice"), 80)
        XCTAssertEqual(run.value(of: "mIoU"), 65)
        XCTAssertNil(run.value(of: "HD95"))
        XCTAssertEqual(run.curves, [CurvePoint(epoch: 1, split: "val", metric: "Dice", value: 50)])
        XCTAssertEqual(run.cases["mIoU"]?["a"], 60)
    }

    func testFilterSelectsByEveryField() throws {
        let store = try openStore()
        let configs = [tmcConfig(seed: 0), tmcConfig(seed: 1), tmcConfig(method: "LViT", variant: "text"),
                       tmcConfig(dataset: "MosMedData"), tmcConfig(scale: "smoke"), tmcConfig(source: .real)]
        for c in configs {
            _ = try store.beginRun(c)
            try store.markFinished(runId: c.id)
        }
        XCTAssertEqual(try store.finishedRuns().count, 6)
        XCTAssertEqual(try store.finishedRuns(RunFilter(method: "LViT")).count, 1)
        XCTAssertEqual(try store.finishedRuns(RunFilter(dataset: "MosMedData")).count, 1)
        XCTAssertEqual(try store.finishedRuns(RunFilter(scale: "smoke")).count, 1)
        XCTAssertEqual(try store.finishedRuns(RunFilter(seed: 1)).count, 1)
        XCTAssertEqual(try store.finishedRuns(RunFilter(dataSource: .real)).count, 1)
        XCTAssertEqual(try store.finishedRuns(RunFilter(method: "UNet", dataset: "QaTa-COV19", scale: "proxy",
                                                        dataSource: .proxy)).map(\.config.seed), [0, 1])
        XCTAssertEqual(try store.runs(status: .running).count, 0)
    }

    func testDeleteRunRemovesItsRows() throws {
        let store = try openStore()
        let config = tmcConfig()
        _ = try store.beginRun(config)
        try store.appendCurve(runId: config.id, epoch: 1, split: "val", metric: "Dice", value: 1)
        try store.putCaseMetrics(runId: config.id, [CaseMetric(caseId: "a", metric: "Dice", value: 1)])
        try store.putSummary(runId: config.id, ["Dice": 1])
        try store.deleteRun(runId: config.id)
        XCTAssertNil(try store.run(id: config.id))
        XCTAssertTrue(try store.curves(runId: config.id).isEmpty)
        XCTAssertTrue(try store.caseMetrics(runId: config.id).isEmpty)
        XCTAssertTrue(try store.summary(runId: config.id).isEmpty)
        XCTAssertEqual(try store.beginRun(config), .new)
    }

    func testUpdatingAnUnknownRunThrows() throws {
        let store = try openStore()
        XCTAssertThrowsError(try store.markFinished(runId: "nope"))
        XCTAssertThrowsError(try store.appendCurve(runId: "nope", epoch: 1, split: "val", metric: "Dice", value: 1),
                             "curves reference runs through a foreign key")
    }

    func testCheckpointSitsBesideTheDatabase() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try ResultStore(url: dir.appendingPathComponent("results.sqlite"), codeVersion: "v")
        XCTAssertEqual(store.checkpointURL(runId: "abc").path,
                       dir.appendingPathComponent("checkpoints/abc.safetensors").path)
    }

    func testRunCountsGroupByStatus() throws {
        let store = try openStore()
        let a = tmcConfig(seed: 0), b = tmcConfig(seed: 1), c = tmcConfig(seed: 2)
        for config in [a, b, c] { _ = try store.beginRun(config) }
        try store.markFinished(runId: a.id)
        try store.markFailed(runId: b.id, error: "x")
        let counts = try store.runCounts()
        XCTAssertEqual(counts.map(\.status), [.failed, .finished, .running])
        XCTAssertEqual(counts.map(\.count), [1, 1, 1])
        XCTAssertEqual(Set(counts.map(\.table)), ["Table1"])
    }

    func testCodeVersionOutsideGitIsUnknown() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertEqual(CodeVersion.describe(at: dir), "unknown")
    }
}

final class EarlyStoppingTests: XCTestCase {
    func testPatienceStartsOnlyOnceValidationDiceIsPositive() {
        var s = TrainState()
        // Five epochs of empty predictions: the first is the best so far, none of them uses up patience.
        for e in 1...5 { s.epoch = e; _ = s.record(validation: 0) }
        XCTAssertEqual(s.badEpochs, 0)
        XCTAssertEqual(s.bestEpoch, 1)
        s.epoch = 6
        XCTAssertTrue(s.record(validation: 12.5))
        XCTAssertEqual(s.bestEpoch, 6)
        // From here on, epochs without improvement count.
        for e in 7...9 { s.epoch = e; XCTAssertFalse(s.record(validation: 10)) }
        XCTAssertEqual(s.badEpochs, 3)
        s.epoch = 10
        XCTAssertTrue(s.record(validation: 13))
        XCTAssertEqual(s.badEpochs, 0)
        XCTAssertEqual(s.bestScore, 13)
    }

    func testNoRunStopsBeforeTwicePatienceButEveryRunStopsAtTheCap() {
        var s = TrainState()
        s.epoch = 1; _ = s.record(validation: 0.77)   // the spike of an untrained model
        for e in 2...6 { s.epoch = e; _ = s.record(validation: 0) }
        XCTAssertEqual(s.badEpochs, 5)
        XCTAssertFalse(s.finished(maxEpochs: 20, patience: 5), "epoch 6 < 2·patience")
        for e in 7...10 { s.epoch = e; _ = s.record(validation: 0) }
        XCTAssertTrue(s.finished(maxEpochs: 20, patience: 5))
        var t = TrainState()
        t.epoch = 2
        XCTAssertTrue(t.finished(maxEpochs: 2, patience: 2))
        t.epoch = 1
        XCTAssertFalse(t.finished(maxEpochs: 2, patience: 2))
    }
}
