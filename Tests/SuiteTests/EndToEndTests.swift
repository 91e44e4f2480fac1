import Foundation
import XCTest
import GRDB

/// The whole path at smoke scale, through the built executables: proxy data → training → SQLite → report →
/// `repro check` against the committed smoke reference. Also a kill-and-resume and a rerun-skips check.
final class EndToEndTests: XCTestCase {
    /// The executables built beside the test bundle (`swift test` builds every product).
    static let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @discardableResult
    func run(_ name: String, _ args: [String], expect status: Int32 = 0, environment: [String: String] = [:],
             file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let exe = EndToEndTests.binDir.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: exe.path) else { throw XCTSkip("\(name) not built next to the tests") }
        let (exit, text) = try runProcess(exe, args, in: EndToEndTests.root, environment: environment)
        XCTAssertEqual(exit, status, "\(name) \(args.joined(separator: " ")):\n\(text.suffix(3000))", file: file, line: line)
        return text
    }

    func countRows(_ db: URL, _ sql: String) throws -> Int {
        try DatabaseQueue(path: db.path).read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    func testTable1AndTable2SmokeEndInPassingCheck() throws {
        let dir = try makeTemporaryDirectory(self)
        let db = dir.appendingPathComponent("results.sqlite")
        let common = ["--scale", "smoke", "--seeds", "1", "--db", db.path, "--no-progress"]
        try run("Table1_TMC", common)
        try run("Table2_Ablation", common)
        XCTAssertEqual(try countRows(db, "SELECT COUNT(*) FROM runs WHERE status = 'finished' AND table_name IN ('Table1', 'Table2')"), 11 * 3 + 5 * 3)
        // TMC's λ is chosen on validation from a grid of 3 per data set, trained once and shared by both tables.
        XCTAssertEqual(try countRows(db, "SELECT COUNT(*) FROM runs WHERE status = 'finished' AND table_name = 'lambda-selection'"), 3 * 3)
        XCTAssertEqual(try countRows(db, "SELECT COUNT(DISTINCT json_extract(config_json, '$.hyperparameters.aux_weight')) FROM runs WHERE table_name = 'lambda-selection'"), 3)
        // CLIP, MAP and MGCA pre-train once per data set, as runs of their own that the fine-tuning runs load.
        XCTAssertEqual(try countRows(db, "SELECT COUNT(*) FROM runs WHERE status = 'finished' AND table_name = 'pretraining'"), 3 * 3)
        XCTAssertEqual(try countRows(db, "SELECT COUNT(DISTINCT run_id) FROM curves WHERE split = 'pretrain'"), 3 * 3)
        // Per-case metrics: one Dice and one mIoU per test image of every run.
        XCTAssertGreaterThan(try countRows(db, "SELECT COUNT(*) FROM case_metrics WHERE metric = 'Dice'"), 48 * 4)
        let checked = try run("repro", ["check", "--db", db.path])
        // Every cell has a committed smoke reference and lies within it: nothing failed, nothing unevaluable.
        XCTAssertTrue(checked.contains("Table1_TMC: 81 of 81 cells within tolerance, 0 outside, 0 not evaluable"), checked)
        XCTAssertTrue(checked.contains("Table2_Ablation: 45 of 45 cells within tolerance, 0 outside, 0 not evaluable"), checked)
        XCTAssertFalse(checked.contains("✗") || checked.contains("– Table"), checked)
        // Pages are rendered beside the store they come from; the committed Reports/ pages are never touched.
        let page = try String(contentsOf: dir.appendingPathComponent("Table1_TMC.md"), encoding: .utf8)
        XCTAssertTrue(page.contains("## Proxy data · scale `smoke`"), page)
        for committed in ["Table1_TMC.md", "Table2_Ablation.md", "REPORT.md"] {
            let url = EndToEndTests.root.appendingPathComponent("Reports").appendingPathComponent(committed)
            if let text = try? String(contentsOf: url, encoding: .utf8) {
                XCTAssertFalse(text.contains(dir.path), "a test store's page overwrote \(url.path)")
            }
        }

        // A rerun trains nothing and adds no rows.
        let before = try countRows(db, "SELECT COUNT(*) FROM case_metrics")
        let again = try run("Table1_TMC", common)
        XCTAssertTrue(again.contains("0 runs trained, 33 already finished"), again)
        XCTAssertEqual(try countRows(db, "SELECT COUNT(*) FROM case_metrics"), before)
    }

    /// MOSMOS's three fine-tuning tables at smoke scale: 3D proxies → UNETR on patches and the ResNet U-Net on slices
    /// → per-class Dice (and HD95 for MMWHS) → pages with the audit → `repro check` against the committed reference.
    func testMOSMOSTablesSmokeEndInPassingCheck() throws {
        let dir = try makeTemporaryDirectory(self)
        let db = dir.appendingPathComponent("results.sqlite")
        let common = ["--scale", "smoke", "--seeds", "1", "--db", db.path, "--no-progress"]
        for target in ["Table2_BTCV", "Table3_MMWHS", "Table6_BRATS"] { try run(target, common) }
        XCTAssertEqual(try countRows(db, "SELECT COUNT(*) FROM runs WHERE status = 'finished' AND paper = 'MOSMOS'"), 2 + 2 + 1)
        // Per case and organ: BTCV's smoke test split has 2 volumes; HD95 only where the table prints it.
        XCTAssertGreaterThan(try countRows(db, "SELECT COUNT(*) FROM case_metrics WHERE metric LIKE 'Dice:%'"), 2 * 2 * 10)
        XCTAssertGreaterThan(try countRows(db, "SELECT COUNT(*) FROM case_metrics WHERE metric LIKE 'HD95:%'"), 0)
        XCTAssertEqual(try countRows(db, "SELECT COUNT(*) FROM case_metrics WHERE metric IN ('Dice:TC', 'Dice:WT', 'Dice:ET')") > 0, true)
        let checked = try run("repro", ["check", "--db", db.path])
        XCTAssertTrue(checked.contains("Table2_BTCV: 28 of 28 cells within tolerance, 0 outside, 0 not evaluable"), checked)
        // 2 rows × (Dice and HD95, Avg and 7 classes) = 32, less the HD95 of classes a smoke model never predicts
        // (undefined, so neither recorded nor checked).
        XCTAssertTrue(checked.contains("Table3_MMWHS: 26 of 26 cells within tolerance, 0 outside, 0 not evaluable"), checked)
        XCTAssertTrue(checked.contains("Table6_BRATS: 4 of 4 cells within tolerance, 0 outside, 0 not evaluable"), checked)
        let page = try String(contentsOf: dir.appendingPathComponent("Table2_BTCV.md"), encoding: .utf8)
        XCTAssertTrue(page.contains("| MOSMOS · UNETR (ViT-B/16) | 80.36 | not run yet |"), page)
        XCTAssertTrue(page.contains("## Published table audit"), page)
        XCTAssertTrue(page.contains("| 0.027 | 0.0266 (exact) |"), page)
    }

    func testKilledRunResumesToTheSameNumbers() throws {
        // Separate folders: checkpoints live beside the store and are keyed by the run's config hash.
        let a = try makeTemporaryDirectory(self).appendingPathComponent("a.sqlite")
        let b = try makeTemporaryDirectory(self).appendingPathComponent("b.sqlite")
        let args = ["--scale", "smoke", "--seeds", "1", "--only", "UNet", "--dataset", "QaTa-COV19", "--no-progress"]
        try run("Table1_TMC", args + ["--db", a.path])
        // A kill between the last epoch's checkpoint and the test scoring: the run is still marked running and has
        // no test rows. The rerun must resume from the checkpoint (not retrain) and reach identical test numbers.
        try run("Table1_TMC", args + ["--db", b.path])
        let q = try DatabaseQueue(path: b.path)
        try q.write { db in
            try db.execute(sql: "UPDATE runs SET status = 'running', finished_at = NULL")
            try db.execute(sql: "DELETE FROM case_metrics")
            try db.execute(sql: "DELETE FROM summary")
        }
        // A real kill comes before the table exports its runs; without this the export would restore the run.
        try FileManager.default.removeItem(at: b.deletingLastPathComponent().appendingPathComponent("runs"))
        let resumed = try run("Table1_TMC", args + ["--db", b.path])
        XCTAssertTrue(resumed.contains("resuming after epoch"), resumed)
        let dice = "SELECT CAST(ROUND(value * 1000000) AS INTEGER) FROM summary WHERE metric = 'Dice'"
        XCTAssertEqual(try countRows(a, dice), try countRows(b, dice))
        XCTAssertEqual(try countRows(b, "SELECT COUNT(*) FROM curves WHERE split = 'val' AND metric = 'Dice'"), 2)
    }

    /// A run killed (SIGKILL) right after an epoch's checkpoint and then resumed must give the uninterrupted run's
    /// numbers bit for bit. TMC at smoke scale draws random masks every step: dropout in LViT's patch embeddings and
    /// ViT MLPs and drop-path in the Swin blocks, so a resumed run that drew different masks would diverge here.
    func testRunKilledAfterAnEpochResumesToBitIdenticalCurves() throws {
        let args = ["--scale", "smoke", "--seeds", "1", "--only", "TMC (ours)", "--dataset", "QaTa-COV19", "--no-progress"]
        let whole = try makeTemporaryDirectory(self).appendingPathComponent("whole.sqlite")
        let killed = try makeTemporaryDirectory(self).appendingPathComponent("killed.sqlite")
        try run("Table1_TMC", args + ["--db", whole.path])
        let died = try run("Table1_TMC", args + ["--db", killed.path], expect: SIGKILL, environment: ["REPRO_KILL_AFTER_EPOCH": "1"])
        XCTAssertTrue(died.contains("killing this process after epoch 1"), died)
        XCTAssertEqual(try countRows(killed, "SELECT COUNT(*) FROM runs WHERE status = 'running'"), 1)
        let resumed = try run("Table1_TMC", args + ["--db", killed.path])
        XCTAssertTrue(resumed.contains("resuming after epoch 1"), resumed)

        func numbers(_ db: URL) throws -> [String] {
            try DatabaseQueue(path: db.path).read { db in
                try String.fetchAll(db, sql: """
                    SELECT 'curve ' || epoch || ' ' || split || ' ' || metric || ' ' || printf('%.17g', value) FROM curves
                    UNION ALL SELECT 'summary ' || metric || ' ' || printf('%.17g', value) FROM summary
                    UNION ALL SELECT 'case ' || case_id || ' ' || metric || ' ' || printf('%.17g', value) FROM case_metrics
                    ORDER BY 1
                    """)
            }
        }
        let a = try numbers(whole), b = try numbers(killed)
        XCTAssertGreaterThanOrEqual(a.filter { $0.hasPrefix("curve ") && $0.contains(" train loss ") }.count, 2)
        XCTAssertEqual(a, b)
    }

    /// A run copied from another table's identical training (TMC at seed 0 from the λ grid's run at the chosen λ;
    /// Table 2's full model from Table 1's TMC) must hold exactly the numbers that training it again gives.
    func testCopiedTrainingEqualsTrainingAgain() throws {
        let common = ["--scale", "smoke", "--seeds", "1", "--dataset", "QaTa-COV19", "--no-progress"]
        let table1 = common + ["--only", "TMC"], table2 = common + ["--only", "MCM + MA loss (TMC)"]
        let shared = try makeTemporaryDirectory(self).appendingPathComponent("shared.sqlite")
        let first = try run("Table1_TMC", table1 + ["--db", shared.path])
        XCTAssertTrue(first.contains("copied, not retrained"), first)
        let second = try run("Table2_Ablation", table2 + ["--db", shared.path])
        XCTAssertTrue(second.contains("copied, not retrained"), second)
        let lambda = try DatabaseQueue(path: shared.path).read { db in
            try String.fetchOne(db, sql: "SELECT json_extract(config_json, '$.hyperparameters.aux_weight') FROM runs WHERE table_name = 'Table1'")
        }
        let chosen = try XCTUnwrap(lambda)
        // The same cells trained from scratch in stores of their own, λ given as the grid chose it.
        let alone1 = try makeTemporaryDirectory(self).appendingPathComponent("t1.sqlite")
        let alone2 = try makeTemporaryDirectory(self).appendingPathComponent("t2.sqlite")
        let fresh1 = try run("Table1_TMC", table1 + ["--lambda", chosen, "--db", alone1.path])
        let fresh2 = try run("Table2_Ablation", table2 + ["--lambda", chosen, "--db", alone2.path])
        XCTAssertFalse(fresh1.contains("copied") || fresh2.contains("copied"), fresh1 + fresh2)

        func numbers(_ db: URL, table: String) throws -> [String] {
            try DatabaseQueue(path: db.path).read { db in
                try String.fetchAll(db, sql: """
                    SELECT r.id || ' curve ' || epoch || ' ' || split || ' ' || metric || ' ' || printf('%.17g', value)
                      FROM curves JOIN runs r ON r.id = run_id WHERE r.table_name = ?1
                    UNION ALL SELECT r.id || ' summary ' || metric || ' ' || printf('%.17g', value)
                      FROM summary JOIN runs r ON r.id = run_id WHERE r.table_name = ?1
                    UNION ALL SELECT r.id || ' case ' || case_id || ' ' || metric || ' ' || printf('%.17g', value)
                      FROM case_metrics JOIN runs r ON r.id = run_id WHERE r.table_name = ?1
                    ORDER BY 1
                    """, arguments: [table])
            }
        }
        for (table, alone) in [("Table1", alone1), ("Table2", alone2)] {
            let copied = try numbers(shared, table: table), trained = try numbers(alone, table: table)
            XCTAssertGreaterThan(copied.filter { $0.contains(" case ") }.count, 10, table)
            XCTAssertEqual(copied, trained, table)
        }
        // The copies name the run that trained: the grid's, for both.
        let provenance = try DatabaseQueue(path: shared.path).read { db in
            try String.fetchAll(db, sql: "SELECT r.table_name || ' ' || g.table_name FROM runs r JOIN runs g ON g.id = r.trained_as ORDER BY 1")
        }
        XCTAssertEqual(provenance, ["Table1 lambda-selection", "Table2 lambda-selection"])
    }

    /// The same seed gives the same numbers at any thread count: every kernel splits work by shape, never by the
    /// number of threads, so one and two threads must agree bit for bit, on an image-only and a text-guided model.
    func testOneAndTwoThreadsTrainToIdenticalCurves() throws {
        let args = ["--scale", "smoke", "--seeds", "1", "--only", "UNet", "--only", "TMC (ours)", "--dataset", "QaTa-COV19",
                    "--no-progress"]
        var curves: [[String]] = []
        for threads in ["1", "2"] {
            let db = try makeTemporaryDirectory(self).appendingPathComponent("t\(threads).sqlite")
            try run("Table1_TMC", args + ["--db", db.path], environment: ["REPRO_THREADS": threads])
            curves.append(try DatabaseQueue(path: db.path).read { db in
                try String.fetchAll(db, sql: """
                    SELECT r.method || ' ' || c.epoch || ' ' || c.split || ' ' || c.metric || ' ' || printf('%.12g', c.value)
                    FROM curves c JOIN runs r ON r.id = c.run_id ORDER BY r.method, c.epoch, c.split, c.metric
                    """)
            })
        }
        XCTAssertGreaterThanOrEqual(curves[0].filter { $0.contains(" train loss ") }.count, 4)
        XCTAssertEqual(curves[0], curves[1])
    }

    /// A fresh clone has Reports/runs/ but no store and no weights: the table restores its numbers without training,
    /// and the figure retrains only the weights it draws, into a store of its own, to the numbers Table 1 stored.
    func testAFreshCloneRendersFromTheExportAndTheFigureRetrainsOnlyItsWeights() throws {
        let trained = try makeTemporaryDirectory(self)
        let args = ["--scale", "smoke", "--seeds", "1", "--dataset", "QaTa-COV19", "--no-progress"]
        try run("Table1_TMC", args + ["--db", trained.appendingPathComponent("results.sqlite").path])
        let clone = try makeTemporaryDirectory(self)
        try FileManager.default.copyItem(at: trained.appendingPathComponent("runs"), to: clone.appendingPathComponent("runs"))
        let db = clone.appendingPathComponent("results.sqlite")
        let again = try run("Table1_TMC", args + ["--db", db.path])
        // 11 rows, the 3 pre-trainings of CLIP, MAP and MGCA, and TMC's 3 runs of the λ grid
        XCTAssertTrue(again.contains("restored 17 finished runs"), again)
        XCTAssertTrue(again.contains("0 runs trained, 11 already finished"), again)
        XCTAssertFalse(FileManager.default.fileExists(atPath: clone.appendingPathComponent("checkpoints").path))

        let figure = try run("Fig4_Heatmaps", ["--scale", "smoke", "--dataset", "QaTa-COV19", "--no-progress", "--db", db.path])
        XCTAssertTrue(figure.contains("retraining the weights of 3 runs"), figure)
        let page = try String(contentsOf: clone.appendingPathComponent("Fig4_Heatmaps.md"), encoding: .utf8)
        XCTAssertTrue(page.contains("all agree (largest difference 0.0000)"), page)
        // The exported numbers are untouched: the retrained runs live in weights/, not in the restored store.
        XCTAssertEqual(try countRows(db, "SELECT COUNT(*) FROM runs"), 17)
        XCTAssertTrue(FileManager.default.fileExists(atPath: clone.appendingPathComponent("weights/results.sqlite").path))

        // A clone that also has that page and PNG (as a commit carries them) keeps the figure without training.
        let second = try makeTemporaryDirectory(self)
        let fm = FileManager.default
        try fm.copyItem(at: clone.appendingPathComponent("runs"), to: second.appendingPathComponent("runs"))
        try fm.copyItem(at: clone.appendingPathComponent("Fig4_Heatmaps.md"), to: second.appendingPathComponent("Fig4_Heatmaps.md"))
        try fm.createDirectory(at: second.appendingPathComponent("figures"), withIntermediateDirectories: true)
        try fm.copyItem(at: clone.appendingPathComponent("figures/Fig4_Heatmaps.png"), to: second.appendingPathComponent("figures/Fig4_Heatmaps.png"))
        let kept = try run("Fig4_Heatmaps", ["--scale", "smoke", "--dataset", "QaTa-COV19", "--no-progress",
                                             "--db", second.appendingPathComponent("results.sqlite").path])
        XCTAssertTrue(kept.contains("kept: drawn from exactly these 3 runs"), kept)
        XCTAssertFalse(kept.contains("retraining"), kept)
        XCTAssertFalse(fm.fileExists(atPath: second.appendingPathComponent("weights").path))
    }
}
