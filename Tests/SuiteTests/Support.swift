import Foundation
import XCTest
@testable import Suite

/// A fresh directory per test, removed afterwards.
func makeTemporaryDirectory(_ testCase: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("suite-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

func tmcConfig(method: String = "UNet", dataset: String = "QaTa-COV19", variant: String = "image-only",
               scale: String = "proxy", seed: Int = 0, source: DataSource = .proxy, table: String = "Table1",
               hyperparameters: [String: String] = ["lr": "0.0003", "batch": "8"]) -> RunConfig {
    RunConfig(paper: "TMC", table: table, method: method, dataset: dataset, variant: variant, scale: scale,
              seed: seed, dataSource: source, hyperparameters: hyperparameters)
}

/// Two rows of TMC's Table 1 on one data set, enough to exercise every column of the page.
func miniTable1(claims: [Claim] = []) -> TableSpec {
    TableSpec(paper: "TMC", table: "Table1", target: "Table1_TMC", title: "TMC Table 1",
              page: "Papers/TMC/Table1.md",
              rows: [RowSpec("UNet", method: "UNet", variant: "image-only"),
                     RowSpec("TMC (ours)", method: "TMC", variant: "full", id: "TMC",
                             publishedMethod: "ours", publishedVariant: "text")],
              datasets: [DatasetSpec("QaTa-COV19")],
              metrics: [MetricSpec("Dice"), MetricSpec("mIoU")],
              claims: claims, curve: CurveSpec(split: "val", metric: "Dice"),
              publishedVersion: "arXiv v2 (the version in ../papers)", runCommand: "swift run -c release Table1_TMC")
}

/// A finished run built by hand, so report and check tests need no store.
func result(_ config: RunConfig, summary: [String: Double] = [:], cases: [String: [String: Double]] = [:],
            curves: [CurvePoint] = [], finishedAt: Date = Date(timeIntervalSince1970: 1_700_000_000),
            codeVersion: String = "abc1234") -> RunResult {
    let record = RunRecord(id: config.id, config: config, status: .finished, codeVersion: codeVersion,
                           startedAt: finishedAt.addingTimeInterval(-3600), finishedAt: finishedAt, error: nil,
                           epochsDone: 10, bestEpoch: 7)
    return RunResult(record: record, summary: summary, cases: cases, curves: curves)
}

/// The repository's own Papers/ (tests run with the package root as working directory).
func repositoryPaths() throws -> ProjectPaths {
    try ProjectPaths.locate()
}

/// A project root in a temporary directory holding the real published values and tolerance file.
func makeProjectRoot(_ testCase: XCTestCase) throws -> ProjectPaths {
    let root = try makeTemporaryDirectory(testCase)
    let paths = ProjectPaths(root: root)
    let real = try repositoryPaths()
    try FileManager.default.createDirectory(at: paths.paperDirectory("TMC"), withIntermediateDirectories: true)
    try FileManager.default.copyItem(at: real.publishedValues, to: paths.publishedValues)
    try FileManager.default.copyItem(at: real.tolerances(paper: "TMC"), to: paths.tolerances(paper: "TMC"))
    try Data("// marker\n".utf8).write(to: root.appendingPathComponent("Package.swift"))
    return paths
}

/// Runs an executable in `directory` with its output and errors in one string, the environment extended by
/// `environment`; returns its exit status and that output.
func runProcess(_ executable: URL, _ arguments: [String], in directory: URL,
                environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = executable
    p.arguments = arguments
    p.currentDirectoryURL = directory
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
