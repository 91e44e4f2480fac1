import Foundation
import XCTest
@testable import Suite
import Engine

final class ReportTests: XCTestCase {
    private let claim = Claim.outperforms(id: "C1", text: "TMC beats U-Net on QaTa-COV19", source: "TMC Table 1",
                                          better: "TMC", worse: "UNet", dataset: "QaTa-COV19", metric: "Dice")

    /// Real-data runs: U-Net with three seeds (Dice in the summary, mIoU only per case), TMC with two seeds and
    /// no mIoU, and one failed U-Net seed.
    private func fillStore(_ store: ResultStore) throws {
        let unetCases: [[String: Double]] = [["a": 60, "b": 80], ["a": 70, "b": 70], ["a": 65, "b": 75]]
        for (seed, dice) in [79.0, 80, 81].enumerated() {
            let config = tmcConfig(scale: "paper", seed: seed, source: .real)
            _ = try store.beginRun(config)
            for epoch in 1...4 {
                try store.appendCurve(runId: config.id, epoch: epoch, split: "val", metric: "Dice", value: Double(60 + 4 * epoch + seed))
            }
            try store.putCaseMetrics(runId: config.id, unetCases[seed].map { CaseMetric(caseId: $0.key, metric: "mIoU", value: $0.value) })
            try store.putSummary(runId: config.id, ["Dice": dice])
            try store.markFinished(runId: config.id, epochsDone: 4, bestEpoch: 4)
        }
        for (seed, dice) in [70.0, 71].enumerated() {
            let config = tmcConfig(method: "TMC", variant: "full", scale: "paper", seed: seed, source: .real)
            _ = try store.beginRun(config)
            try store.appendCurve(runId: config.id, epoch: 1, split: "val", metric: "Dice", value: 55)
            try store.putSummary(runId: config.id, ["Dice": dice])
            try store.markFinished(runId: config.id)
        }
        let failed = tmcConfig(scale: "paper", seed: 3, source: .real)
        _ = try store.beginRun(failed)
        try store.markFailed(runId: failed.id, error: "loss became nan\nat epoch 3")
    }

    private func writeReport(gnuplot: Gnuplot) throws -> (ProjectPaths, String) {
        let paths = try makeProjectRoot(self)
        let store = try ResultStore(url: paths.defaultDatabase, codeVersion: "abc1234")
        try fillStore(store)
        let url = try ReportWriter(paths: paths, store: store, gnuplot: gnuplot).write(miniTable1(claims: [claim]))
        XCTAssertEqual(url, paths.reports.appendingPathComponent("Table1_TMC.md"))
        return (paths, try String(contentsOf: url, encoding: .utf8))
    }

    func testPageShowsPublishedReproducedDeltaAndMark() throws {
        let (_, page) = try writeReport(gnuplot: Gnuplot(executable: nil))
        XCTAssertTrue(page.hasPrefix("# TMC Table 1\n"))
        XCTAssertTrue(page.contains("Setup, hyperparameters and deviations: [Papers/TMC/Table1.md](../Papers/TMC/Table1.md)."))
        XCTAssertTrue(page.contains("Published values: arXiv v2 (the version in ../papers)."))
        XCTAssertTrue(page.contains("from `Reports/results.sqlite`"))
        XCTAssertTrue(page.contains("## Real data · scale `paper`"))
        XCTAssertTrue(page.contains("> **Real data**: the paper's data sets."))
        XCTAssertTrue(page.contains("> Scale `paper` · seeds 0, 1, 2 · 5 finished runs · code `abc1234` · CPU \(CPUInfo.current.summary) · runs "), page)
        XCTAssertTrue(page.contains("> Not yet in the table: 0 running, 1 failed (e.g. loss became nan at epoch 3)."))
        XCTAssertTrue(page.contains("| Method | Dice published | Dice reproduced | Δ | ✓ | mIoU published | mIoU reproduced | Δ | ✓ |"))
        XCTAssertTrue(page.contains("| UNet | 79.94 | 80.00 ± 1.00 | +0.06 | ✓ (±3.00) | 69.58 | 70.00 ± 0.00 | +0.42 | ✓ (±4.00) |"))
        XCTAssertTrue(page.contains("| TMC (ours) | 84.77 | 70.50 ± 0.71 | -14.27 | ✗ (±3.00) | 76.56 | no value |  | – |"))
        XCTAssertTrue(page.contains("- Dice: ✓ when |reproduced − published| ≤ 3.00. TMC prints one number per cell"))
        // TMC's runs stored no per-case Dice here, so there is nothing to pair: no verdict from two means.
        XCTAssertTrue(page.contains("| C1 | TMC beats U-Net on QaTa-COV19 | TMC Table 1 | – not evaluable | no per-case Dice shared by TMC and UNet on QaTa-COV19 under a common seed |"), page)
        XCTAssertTrue(page.contains("_Figures not drawn: gnuplot was not found on PATH._"))
        XCTAssertFalse(page.contains("!["))
    }

    func testPageCarriesASummaryAndTheIndexListsIt() throws {
        let (paths, page) = try writeReport(gnuplot: Gnuplot(executable: nil))
        let summary = try XCTUnwrap(ReportSummary.parse(page: page))
        XCTAssertEqual(summary.target, "Table1_TMC")
        XCTAssertEqual([summary.pass, summary.fail, summary.notEvaluable], [2, 1, 0])
        XCTAssertEqual([summary.claimsReplicated, summary.claimsContradicted, summary.claimsInconclusive, summary.claimsNotEvaluable], [0, 0, 0, 1])
        XCTAssertEqual(summary.sections, ["real/paper"])
        let index = try String(contentsOf: paths.reportIndex, encoding: .utf8)
        XCTAssertTrue(index.hasPrefix("# Reproduction report\n"))
        XCTAssertTrue(index.contains("| [TMC Table 1](Table1_TMC.md) | TMC | real/paper | 2 | 1 | 0 | 0 | 0 | 0 | 1 |"), index)
        XCTAssertTrue(index.contains("| TMC | Table1 | real | paper | 5 | 0 | 1 |"))
    }

    func testFiguresAreDrawnWhenGnuplotIsThere() throws {
        let gnuplot = Gnuplot()
        guard gnuplot.isAvailable else { throw XCTSkip("gnuplot is not installed") }
        let (paths, page) = try writeReport(gnuplot: gnuplot)
        XCTAssertFalse(page.contains("Figures not drawn"))
        for name in ["Dice", "mIoU", "curves"] {
            let base = "figures/Table1_TMC-real-paper-\(name)"
            XCTAssertTrue(page.contains("(\(base).svg)"), name)
            XCTAssertTrue(page.contains("[PNG](\(base).png)"), name)
            let png = try Data(contentsOf: paths.reports.appendingPathComponent(base + ".png"))
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "PNG signature")
            let svg = try String(contentsOf: paths.reports.appendingPathComponent(base + ".svg"), encoding: .utf8)
            XCTAssertTrue(svg.contains("<svg"))
        }
    }

    func testEmptyStoreStillRendersThePublishedColumn() throws {
        let report = TableReport.assemble(spec: miniTable1(), results: [], catalogue: try PublishedCatalogue.load(repositoryPaths()),
                                          tolerances: nil, references: [:])
        let page = Markdown.render(report)
        XCTAssertTrue(page.contains("## No runs yet"))
        XCTAssertTrue(page.contains("Run `swift run -c release Table1_TMC` to fill this table."))
        XCTAssertTrue(page.contains("| UNet | 79.94 | not run yet |  | – | 69.58 | not run yet |  | – |"))
        XCTAssertEqual(report.summary.sections, [])
    }

    func testProxySectionComparesWithTheReference() throws {
        let spec = miniTable1()
        let results = [50.0, 52, 54].enumerated().map { seed, dice in
            result(tmcConfig(seed: seed), summary: ["Dice": dice])
        }
        let reference = ReferenceFile(paper: "TMC", scale: "proxy", recordedAt: "t", codeVersions: ["x"], entries: [
            ReferenceEntry(table: "Table1", dataset: "QaTa-COV19", method: "UNet", variant: "image-only", metric: "Dice",
                           mean: 51.5, sd: 0.4, n: 3, tolerance: 1.2),
        ])
        let tolerances = try XCTUnwrap(ToleranceFile.load(paper: "TMC", paths: repositoryPaths()))
        let running = RunRecord(id: "r", config: tmcConfig(seed: 9), status: .running, codeVersion: "x", startedAt: nil,
                                finishedAt: nil, error: nil, epochsDone: 2, bestEpoch: 1)
        let report = TableReport.assemble(spec: spec, results: results, unfinished: [running],
                                          catalogue: try PublishedCatalogue.load(repositoryPaths()),
                                          tolerances: tolerances, references: ["proxy": reference],
                                          figures: [SectionKey(dataSource: .proxy, scale: "proxy"): [FigureRef(title: "Bars", svg: "figures/b.svg", png: "figures/b.png")]])
        let page = Markdown.render(report)
        XCTAssertTrue(page.contains("## Proxy data · scale `proxy`"))
        XCTAssertTrue(page.contains("(Papers/TMC/reference-proxy.json)"))
        XCTAssertTrue(page.contains("| UNet | 79.94 | 52.00 ± 2.00 | +0.50 | ✓ (±1.20) | 69.58 | no value |  | – |"))
        XCTAssertTrue(page.contains("- ✓ when |reproduced − reference| ≤ max(3.0 · sd of the reference, floor); floors: Dice 3.50, mIoU 5.50."))
        XCTAssertTrue(page.contains("> Not yet in the table: 1 running, 0 failed."))
        XCTAssertTrue(page.contains("![Bars](figures/b.svg)"))
        XCTAssertTrue(page.contains("| TMC (ours) | 84.77 | not run yet |  | – |"))
    }

    func testFormatting() {
        XCTAssertEqual(Markdown.meanSD(CellStats(values: [80.004], seeds: [0]), decimals: 2), "80.00 (1 seed)")
        XCTAssertEqual(Markdown.signed(0, decimals: 2), "+0.00")
        XCTAssertEqual(Markdown.signed(-1.234, decimals: 1), "-1.2")
        // Claim numbers are in the table's units (Dice and mIoU in %): one precision for all, as the table prints them.
        XCTAssertEqual(Markdown.formatNumber(0.0812), "0.08")
        XCTAssertEqual(Markdown.formatNumber(0.43), "0.43")
        XCTAssertEqual(Markdown.formatNumber(84.77), "84.77")
        XCTAssertEqual(Markdown.formatNumber(.nan), "–")
        XCTAssertEqual(Markdown.row(["a|b", "c"]), "| a\\|b | c |")
    }
}

final class ReportIndexFigureTests: XCTestCase {
    func testIndexListsFigurePagesByTheirHeading() {
        let text = Markdown.index(summaries: [], figures: [(title: "TMC Fig. 3: qualitative results", file: "Fig3_Qualitative.md")],
                                  runCounts: [], generatedAt: Date(timeIntervalSince1970: 0))
        XCTAssertTrue(text.contains("- [TMC Fig. 3: qualitative results](Fig3_Qualitative.md)"), text)
    }
}
