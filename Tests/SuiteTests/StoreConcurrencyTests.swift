import Foundation
import XCTest
@testable import Suite

/// Several table targets may run at once against one Reports/results.sqlite. These tests write one file from
/// several connections and from several processes, and count the rows afterwards.
final class StoreConcurrencyTests: XCTestCase {
    static let runsPerWriter = 15
    static let epochs = 6
    static let cases = 12

    /// The work of one writer: whole runs, each write its own transaction, as the runner does.
    static func writeRuns(_ store: ResultStore, tag: String) throws {
        for i in 0..<runsPerWriter {
            let config = tmcConfig(method: "writer-\(tag)", seed: i)
            XCTAssertEqual(try store.beginRun(config), .new)
            for epoch in 1...epochs {
                try store.appendCurve(runId: config.id, epoch: epoch, split: "val", values: ["Dice": Double(epoch), "mIoU": 1])
                try store.updateProgress(runId: config.id, epochsDone: epoch, bestEpoch: epoch)
            }
            try store.putCaseMetrics(runId: config.id, (0..<cases).map { CaseMetric(caseId: "c\($0)", metric: "Dice", value: Double($0)) })
            try store.putSummary(runId: config.id, ["Dice": 5.5])
            try store.markFinished(runId: config.id)
        }
    }

    static func assertComplete(_ store: ResultStore, tags: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let runs = try store.finishedRuns()
        XCTAssertEqual(runs.count, tags.count * runsPerWriter, file: file, line: line)
        XCTAssertEqual(Set(runs.map(\.config.method)), Set(tags.map { "writer-\($0)" }), file: file, line: line)
        for run in try store.results() {
            XCTAssertEqual(run.curves.count, 2 * epochs, file: file, line: line)
            XCTAssertEqual(run.cases["Dice"]?.count, cases, file: file, line: line)
            XCTAssertEqual(run.record.epochsDone, epochs, file: file, line: line)
        }
    }

    func testTwoPoolsOnOneFileFromFourThreads() throws {
        let url = try makeTemporaryDirectory(self).appendingPathComponent("results.sqlite")
        let stores = [try ResultStore(url: url, codeVersion: "a"), try ResultStore(url: url, codeVersion: "b")]
        let tags = ["t0", "t1", "t2", "t3"]
        let errors = NSLock()
        var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: tags.count) { i in
            do {
                try Self.writeRuns(stores[i % 2], tag: tags[i])
            } catch {
                errors.lock()
                failures.append("\(tags[i]): \(error)")
                errors.unlock()
            }
        }
        XCTAssertEqual(failures, [])
        try Self.assertComplete(stores[0], tags: tags)
    }

    /// Child processes re-enter this test binary, run only `testChildWriter`, and write with their own pool.
    func testTwoProcessesAndThisOneWriteOneFile() throws {
        #if os(Linux)
        let url = try makeTemporaryDirectory(self).appendingPathComponent("results.sqlite")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0])
        let children = try ["p1", "p2"].map { tag -> Process in
            let process = Process()
            process.executableURL = binary
            process.arguments = ["SuiteTests.StoreConcurrencyTests/testChildWriter"]
            var environment = ProcessInfo.processInfo.environment
            environment["SUITE_CHILD_DB"] = url.path
            environment["SUITE_CHILD_TAG"] = tag
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        try Self.writeRuns(try ResultStore(url: url, codeVersion: "parent"), tag: "p0")
        for child in children {
            child.waitUntilExit()
            XCTAssertEqual(child.terminationStatus, 0, "a child writer failed")
        }
        try Self.assertComplete(try ResultStore(url: url, codeVersion: "check"), tags: ["p0", "p1", "p2"])
        #else
        throw XCTSkip("the child writers re-run the test binary, which only Linux's runner allows directly")
        #endif
    }

    func testChildWriter() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment["SUITE_CHILD_DB"], let tag = environment["SUITE_CHILD_TAG"] else {
            throw XCTSkip("runs only as a child process of testTwoProcessesAndThisOneWriteOneFile")
        }
        try Self.writeRuns(try ResultStore(url: URL(fileURLWithPath: path), codeVersion: tag), tag: tag)
    }
}
