import Foundation
import XCTest
@testable import Suite

/// Pages for tables with many classes, several backbones and swept parameters (MOSMOS's shapes).
final class ManyClassReportTests: XCTestCase {
    static let organs = [("spleen", "Spl"), ("right kidney", "RKid"), ("left kidney", "LKid")]

    static func spec(rows: [RowSpec], sweeps: [String] = []) -> TableSpec {
        let metrics = [MetricSpec("Dice", display: "Avg Dice", published: "Dice", className: "Avg")]
            + organs.map { MetricSpec("Dice:" + $0.0, display: $0.1, published: "Dice", className: $0.1) }
        return TableSpec(paper: "MOSMOS", table: "Table2", target: "Table2_BTCV", title: "MOSMOS Table 2",
                         page: "Papers/MOSMOS/Table2.md", rows: rows, datasets: [DatasetSpec("BTCV")], metrics: metrics,
                         curve: nil, runCommand: "make table-2", sweeps: sweeps)
    }

    static let randomRows = [
        RowSpec("Random", method: "random", variant: "unet", id: "Random U-Net", publishedMethod: "Random",
                publishedVariant: "", backbone: "U-Net (ResNet-50)"),
        RowSpec("Random", method: "random", variant: "unetr", id: "Random UNETR", publishedMethod: "Random",
                publishedVariant: "", backbone: "UNETR (ViT-B/16)"),
    ]

    func finish(_ store: ResultStore, variant: String, seed: Int = 0, hyper: [String: String] = [:], summary: [String: Double]) throws {
        let config = RunConfig(paper: "MOSMOS", table: "Table2", method: "random", dataset: "BTCV", variant: variant,
                               scale: "proxy", seed: seed, dataSource: .proxy, hyperparameters: hyper)
        _ = try store.beginRun(config)
        try store.putSummary(runId: config.id, summary)
        try store.markFinished(runId: config.id)
    }

    func page(_ spec: TableSpec, _ fill: (ResultStore) throws -> Void) throws -> String {
        let paths = try makeProjectRoot(self)
        let store = try ResultStore(url: paths.defaultDatabase, codeVersion: "abc1234")
        try fill(store)
        let url = try ReportWriter(paths: paths, store: store, gnuplot: Gnuplot(executable: nil)).write(spec)
        return try String(contentsOf: url, encoding: .utf8)
    }

    func testOrgansBecomeColumnsOfOneCompactTablePerBackboneAfterTheAverage() throws {
        let text = try page(ManyClassReportTests.spec(rows: ManyClassReportTests.randomRows)) { store in
            try finish(store, variant: "unet", summary: ["Dice": 80, "Dice:spleen": 90, "Dice:right kidney": 85, "Dice:left kidney": 65])
        }
        // The average first, in the usual four columns, the backbone named because the table has two.
        XCTAssertTrue(text.contains("| Method | Avg Dice published | Avg Dice reproduced | Δ | ✓ |"), text)
        XCTAssertTrue(text.contains("| Random · U-Net (ResNet-50) | 74.86 | 80.00 (1 seed) |"), text)
        // Then the organs, one column each, ours beside the printed value.
        XCTAssertTrue(text.contains("**Dice per class, U-Net (ResNet-50)** · reproduced (published)"), text)
        XCTAssertTrue(text.contains("| Method | Spl | RKid | LKid |"), text)
        XCTAssertTrue(text.contains("| Random | 90.00 (91.07) | 85.00 (91.66) | 65.00 (91.73) |"), text)
        XCTAssertTrue(text.contains("**Dice per class, UNETR (ViT-B/16)**"), text)
        let unetr = try XCTUnwrap(text.components(separatedBy: "**Dice per class, UNETR (ViT-B/16)**").last)
        XCTAssertTrue(unetr.contains("| Random | not run yet ("), unetr)
        XCTAssertFalse(text.contains("Spl published"), "no per-organ quadruple of columns")
    }

    /// Runs that differ only in a swept value belong to different rows and never supersede each other; without the
    /// sweep the later run replaces the earlier one, as a rerun of the same cell should.
    func testSweptValuesAreRowsNotSupersededRuns() throws {
        let swept = ["0.1", "0.5"].map { ratio in
            RowSpec("Random \(ratio)", method: "random", variant: "unetr", publishedMethod: "Random", publishedVariant: "",
                    backbone: "UNETR (ViT-B/16)", pinned: ["label_ratio": ratio])
        }
        let fill: (ResultStore) throws -> Void = { store in
            try self.finish(store, variant: "unetr", hyper: ["label_ratio": "0.1"], summary: ["Dice": 40])
            try self.finish(store, variant: "unetr", hyper: ["label_ratio": "0.5"], summary: ["Dice": 70])
        }
        let text = try page(ManyClassReportTests.spec(rows: swept, sweeps: ["label_ratio"]), fill)
        XCTAssertFalse(text.contains("superseded"), text)
        XCTAssertTrue(text.contains("| Random 0.1 | 78.53 | 40.00 (1 seed) |"), text)
        XCTAssertTrue(text.contains("| Random 0.5 | 78.53 | 70.00 (1 seed) |"), text)

        let plain = try page(ManyClassReportTests.spec(rows: [ManyClassReportTests.randomRows[1]]), fill)
        XCTAssertTrue(plain.contains("> 1 older runs of the same cells and seeds are superseded and not counted."), plain)
    }

    func testARowCannotPinAKeyTheTableDoesNotSweep() {
        let spec = ManyClassReportTests.spec(rows: [RowSpec("x", method: "random", pinned: ["lambda": "1"])], sweeps: ["lambda"])
        XCTAssertTrue(spec.matches(spec.rows[0], RunConfig(paper: "MOSMOS", table: "Table2", method: "random", dataset: "BTCV",
                                                          variant: "", scale: "proxy", seed: 0, dataSource: .proxy,
                                                          hyperparameters: ["lambda": "1"])))
        XCTAssertFalse(spec.matches(spec.rows[0], RunConfig(paper: "MOSMOS", table: "Table2", method: "random", dataset: "BTCV",
                                                           variant: "", scale: "proxy", seed: 0, dataSource: .proxy,
                                                           hyperparameters: [:])))
    }
}
