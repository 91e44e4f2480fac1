import Foundation
import XCTest
@testable import Suite

final class CheckTests: XCTestCase {
    private let tolerances = ToleranceFile(paper: "TMC", tables: [
        "Table1": TableTolerance(real: ["Dice": RealTolerance(absolute: 3, why: "test")],
                                 proxy: ProxyTolerance(k: 3, floor: ["Dice": 1, "mIoU": 1.5], why: "test")),
    ])

    private func catalogue() throws -> PublishedCatalogue { try PublishedCatalogue.load(repositoryPaths()) }

    private func runs(_ method: String, _ variant: String, dice: [Double], source: DataSource,
                      hyperparameters: [String: String] = [:]) -> [RunResult] {
        dice.enumerated().map { seed, value in
            result(tmcConfig(method: method, variant: variant, seed: seed, source: source, hyperparameters: hyperparameters),
                   summary: ["Dice": value])
        }
    }

    private func section(_ spec: TableSpec, _ results: [RunResult], _ source: DataSource) throws -> TableSection {
        try XCTUnwrap(spec.sections(from: results).first { $0.dataSource == source })
    }

    func testRealDataIsComparedWithThePublishedValue() throws {
        let spec = miniTable1()
        let results = runs("UNet", "image-only", dice: [79, 80, 81], source: .real) + runs("TMC", "full", dice: [70, 71], source: .real)
        let checks = Checks.check(spec: spec, section: try section(spec, results, .real), catalogue: try catalogue(),
                                  tolerances: tolerances, reference: nil)
        XCTAssertEqual(checks.count, 2, "cells without runs (mIoU here) yield no check")
        let unet = try XCTUnwrap(checks.first { $0.row == "UNet" })
        XCTAssertEqual(unet.basis, .published)
        XCTAssertEqual(unet.expected, 79.94)
        XCTAssertEqual(unet.observed.mean, 80, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(unet.observed.sd), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(unet.delta), 0.06, accuracy: 1e-9)
        XCTAssertEqual(unet.tolerance, 3)
        XCTAssertEqual(unet.status, .pass)
        let tmc = try XCTUnwrap(checks.first { $0.row == "TMC" })
        XCTAssertEqual(tmc.expected, 84.77)
        XCTAssertEqual(try XCTUnwrap(tmc.delta), -14.27, accuracy: 1e-9)
        XCTAssertEqual(tmc.status, .fail)
    }

    func testToleranceEdgeIsInclusiveAndMissingToleranceIsNotEvaluable() throws {
        let spec = miniTable1()
        let results = runs("UNet", "image-only", dice: [76.94], source: .real)
        let check = Checks.check(spec: spec, section: try section(spec, results, .real), catalogue: try catalogue(),
                                 tolerances: tolerances, reference: nil)
        XCTAssertEqual(check.first?.status, .pass, "79.94 - 3.00 is inside")
        let tooFar = Checks.check(spec: spec, section: try section(spec, runs("UNet", "image-only", dice: [76.9], source: .real), .real),
                                  catalogue: try catalogue(), tolerances: tolerances, reference: nil)
        XCTAssertEqual(tooFar.first?.status, .fail)
        let noTolerance = Checks.check(spec: spec, section: try section(spec, results, .real), catalogue: try catalogue(),
                                       tolerances: nil, reference: nil)
        XCTAssertEqual(noTolerance.first?.status, .notEvaluable)
        XCTAssertEqual(noTolerance.first?.reason, "no tolerance for Dice in Table1")
    }

    func testProxyDataNeedsAReference() throws {
        let spec = miniTable1()
        let results = runs("UNet", "image-only", dice: [50, 52, 54], source: .proxy)
        let check = try XCTUnwrap(Checks.check(spec: spec, section: try section(spec, results, .proxy), catalogue: try catalogue(),
                                               tolerances: tolerances, reference: nil).first)
        XCTAssertEqual(check.basis, .reference)
        XCTAssertEqual(check.status, .notEvaluable)
        XCTAssertEqual(check.reason, "no reference recorded for scale proxy")
    }

    func testReferenceToleranceIsKSigmaWithAFloor() throws {
        let spec = miniTable1()
        let results = runs("UNet", "image-only", dice: [50, 52, 54], source: .proxy) + runs("TMC", "full", dice: [60, 60.2], source: .proxy)
        let reference = try Checks.reference(specs: [spec], results: results, scale: "proxy", tolerances: tolerances, existing: nil)
        XCTAssertEqual(reference.paper, "TMC")
        XCTAssertEqual(reference.scale, "proxy")
        XCTAssertEqual(reference.codeVersions, ["abc1234"])
        XCTAssertEqual(reference.entries.map(\.method), ["TMC", "UNet"], "entries are sorted")
        let unet = try XCTUnwrap(reference.entry(table: "Table1", dataset: "QaTa-COV19", method: "UNet", variant: "image-only", metric: "Dice"))
        XCTAssertEqual(unet.mean, 52, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(unet.sd), 2, accuracy: 1e-12)
        XCTAssertEqual(unet.n, 3)
        XCTAssertEqual(unet.tolerance, 6, accuracy: 1e-12)
        let tmc = try XCTUnwrap(reference.entry(table: "Table1", dataset: "QaTa-COV19", method: "TMC", variant: "full", metric: "Dice"))
        XCTAssertEqual(tmc.tolerance, 1, "3 · 0.14 is below the floor of 1")

        let later = runs("UNet", "image-only", dice: [56, 58], source: .proxy)
        let pass = try XCTUnwrap(Checks.check(spec: spec, section: try section(spec, later, .proxy), catalogue: try catalogue(),
                                              tolerances: tolerances, reference: reference).first)
        XCTAssertEqual(pass.expected, 52)
        XCTAssertEqual(try XCTUnwrap(pass.delta), 5, accuracy: 1e-12)
        XCTAssertEqual(pass.status, .pass)
        let drifted = runs("UNet", "image-only", dice: [58, 60], source: .proxy)
        let fail = try XCTUnwrap(Checks.check(spec: spec, section: try section(spec, drifted, .proxy), catalogue: try catalogue(),
                                              tolerances: tolerances, reference: reference).first)
        XCTAssertEqual(fail.status, .fail)
        let newCell = [result(tmcConfig(method: "TMC", variant: "full", source: .proxy), summary: ["Dice": 60, "mIoU": 40])]
        let missing = Checks.check(spec: spec, section: try section(spec, newCell, .proxy), catalogue: try catalogue(),
                                   tolerances: tolerances, reference: reference).first { $0.metric == "mIoU" }
        XCTAssertEqual(missing?.status, .notEvaluable)
        XCTAssertEqual(missing?.reason, "cell missing from reference-proxy.json")
    }

    func testRecordingOneTableKeepsTheOthers() throws {
        let spec = miniTable1()
        let old = ReferenceFile(paper: "TMC", scale: "proxy", recordedAt: "then", codeVersions: ["old"], entries: [
            ReferenceEntry(table: "Table2", dataset: "QaTa-COV19", method: "TMC", variant: "full", metric: "Dice", mean: 1, sd: nil, n: 1, tolerance: 1),
            ReferenceEntry(table: "Table1", dataset: "QaTa-COV19", method: "Gone", variant: "", metric: "Dice", mean: 1, sd: nil, n: 1, tolerance: 1),
        ])
        let fresh = try Checks.reference(specs: [spec], results: runs("UNet", "image-only", dice: [50], source: .proxy),
                                         scale: "proxy", tolerances: tolerances, existing: old)
        XCTAssertEqual(fresh.entries.map { "\($0.table)/\($0.method)" }, ["Table1/UNet", "Table2/TMC"])
        XCTAssertNil(fresh.entries.first { $0.method == "UNet" }?.sd)
        XCTAssertEqual(fresh.entries.first { $0.method == "UNet" }?.tolerance, 1)
        // The old file kept no versions per table, so Table2's entries keep the old list; Table1's are its runs'.
        XCTAssertEqual(fresh.codeVersions, ["abc1234", "old"])
        XCTAssertEqual(fresh.codeVersionsByTable, ["Table1": ["abc1234"]])
        // Once every table has its own, recording one drops the versions it no longer rests on.
        var perTable = fresh
        perTable.codeVersions = ["t1-old", "t2"]
        perTable.codeVersionsByTable = ["Table1": ["t1-old"], "Table2": ["t2"]]
        let again = try Checks.reference(specs: [spec], results: runs("UNet", "image-only", dice: [50], source: .proxy),
                                         scale: "proxy", tolerances: tolerances, existing: perTable)
        XCTAssertEqual(again.codeVersions, ["abc1234", "t2"])
        XCTAssertEqual(again.codeVersionsByTable, ["Table1": ["abc1234"], "Table2": ["t2"]])

        var other = spec
        other.paper = "MOSMOS"
        XCTAssertThrowsError(try Checks.reference(specs: [spec, other], results: [], scale: "proxy", tolerances: tolerances, existing: nil))
        var unknown = spec
        unknown.table = "Table9"
        XCTAssertThrowsError(try Checks.reference(specs: [unknown], results: [], scale: "proxy", tolerances: tolerances, existing: nil))
    }

    func testStoreBackedRecordThenCheck() throws {
        let paths = try makeProjectRoot(self)
        let store = try ResultStore(url: paths.defaultDatabase, codeVersion: "v9")
        for (seed, dice) in [50.0, 52, 54].enumerated() {
            let config = tmcConfig(seed: seed)
            _ = try store.beginRun(config)
            try store.putSummary(runId: config.id, ["Dice": dice, "mIoU": dice - 10])
            try store.markFinished(runId: config.id)
        }
        let written = try Checks.recordReference(store: store, specs: [miniTable1()], scale: "proxy", paths: paths)
        XCTAssertEqual(written, [paths.reference(paper: "TMC", scale: "proxy")])
        let file = try XCTUnwrap(ReferenceFile.load(paper: "TMC", scale: "proxy", paths: paths))
        XCTAssertEqual(file.codeVersions, ["v9"])
        XCTAssertEqual(file.entries.count, 2)
        XCTAssertEqual(file.entries.first { $0.metric == "mIoU" }?.mean ?? .nan, 42, accuracy: 1e-12)
        let checks = try Checks.check(store: store, specs: [miniTable1()], paths: paths)
        XCTAssertEqual(checks.map(\.status), [.pass, .pass])
    }

    func testLatestRunPerSeedCountsAndGridRestricts() throws {
        var spec = miniTable1()
        let old = result(tmcConfig(seed: 0, hyperparameters: ["epochs": "5"]), summary: ["Dice": 10],
                         finishedAt: Date(timeIntervalSince1970: 1000))
        let new = result(tmcConfig(seed: 0, hyperparameters: ["epochs": "50"]), summary: ["Dice": 60],
                         finishedAt: Date(timeIntervalSince1970: 2000))
        let other = result(tmcConfig(seed: 1, hyperparameters: ["epochs": "5"]), summary: ["Dice": 20])
        let section = try XCTUnwrap(spec.sections(from: [old, new, other]).first)
        XCTAssertEqual(section.superseded, 1)
        XCTAssertEqual(section.stats(row: spec.rows[0], dataset: spec.datasets[0], metric: spec.metrics[0])?.values, [60, 20])

        spec.grid = [old.record.config, other.record.config]
        let gridded = try XCTUnwrap(spec.sections(from: [old, new, other]).first)
        XCTAssertEqual(gridded.superseded, 0)
        XCTAssertEqual(gridded.stats(row: spec.rows[0], dataset: spec.datasets[0], metric: spec.metrics[0])?.values, [10, 20])
    }

    func testSectionsSplitByDataSourceAndScaleRealFirst() {
        let spec = miniTable1()
        let results = [result(tmcConfig(scale: "smoke", source: .proxy), summary: ["Dice": 1]),
                       result(tmcConfig(scale: "proxy", source: .proxy), summary: ["Dice": 2]),
                       result(tmcConfig(scale: "paper", source: .real), summary: ["Dice": 3]),
                       result(tmcConfig(method: "Other"), summary: ["Dice": 4]),
                       result(tmcConfig(table: "Table2"), summary: ["Dice": 5])]
        let sections = spec.sections(from: results)
        XCTAssertEqual(sections.map { "\($0.dataSource.rawValue)/\($0.scale)" }, ["real/paper", "proxy/proxy", "proxy/smoke"])
        XCTAssertEqual(sections.map(\.runs.count), [1, 1, 1], "runs of other rows and tables are left out")
    }

    func testCellStatsAndCaseMeans() throws {
        XCTAssertEqual(CellStats(values: [1, 2, 3, 4], seeds: [0, 1, 2, 3]).sd ?? .nan, 1.2909944487358056, accuracy: 1e-12)
        XCTAssertNil(CellStats(values: [5], seeds: [0]).sd)
        let spec = miniTable1()
        let results = [result(tmcConfig(seed: 0), cases: ["Dice": ["a": 0.5, "b": 0.7]]),
                       result(tmcConfig(seed: 1), cases: ["Dice": ["a": 0.7, "b": .nan]])]
        var scaled = spec
        scaled.metrics = [MetricSpec("Dice", factor: 100)]
        let section = try XCTUnwrap(scaled.sections(from: results).first)
        let means = section.caseMeans(row: scaled.rows[0], dataset: scaled.datasets[0], metric: scaled.metrics[0])
        XCTAssertEqual(means["a"] ?? .nan, 60, accuracy: 1e-9)
        XCTAssertEqual(means["b"] ?? .nan, 70, accuracy: 1e-9)
        let stats = try XCTUnwrap(section.stats(row: scaled.rows[0], dataset: scaled.datasets[0], metric: scaled.metrics[0]))
        XCTAssertEqual(stats.values[0], 60, accuracy: 1e-9)
        XCTAssertEqual(stats.values[1], 70, accuracy: 1e-9)
    }

    /// Runs with per-case Dice: `cases` values per seed, case i of seed s = base + effect(i) + noise.
    private func caseRuns(_ method: String, _ variant: String, seeds: Int = 2, cases: Int = 30,
                          value: (Int, Int) -> Double) -> [RunResult] {
        (0..<seeds).map { seed in
            let perCase = Dictionary(uniqueKeysWithValues: (0..<cases).map { ("c\($0)", value($0, seed)) })
            return result(tmcConfig(method: method, variant: variant, seed: seed, source: .real),
                          summary: ["Dice": perCase.values.reduce(0, +) / Double(cases)], cases: ["Dice": perCase])
        }
    }

    func testOutperformsClaimIsDecidedByAPairedTest() throws {
        let claim = Claim.outperforms(id: "C1", text: "TMC beats U-Net on QaTa-COV19", source: "TMC Table 1",
                                      better: "TMC", worse: "UNet", dataset: "QaTa-COV19", metric: "Dice")
        let spec = miniTable1(claims: [claim])
        let catalogue = try catalogue()
        func evaluate(_ results: [RunResult], spec: TableSpec? = nil) throws -> ClaimOutcome {
            let sp = spec ?? miniTable1(claims: [claim])
            let section = try XCTUnwrap(sp.sections(from: results).first)
            return ClaimStatistics.decide([claim.evaluate(ResultLookup(spec: sp, section: section, catalogue: catalogue))])[0]
        }
        // Case difficulty varies a lot (40-95) but every case gains 4 ± 1: the pairing removes the difficulty.
        func base(_ i: Int) -> Double { 40 + Double((i * 37) % 56) }
        func wobble(_ i: Int, _ s: Int) -> Double { Double(((i + 3 * s) * 7) % 5 - 2) * 0.5 }
        let unet = caseRuns("UNet", "image-only") { i, s in base(i) + wobble(i, s) }
        let better = try evaluate(unet + caseRuns("TMC", "full") { i, s in base(i) + 4 + wobble(i + 1, s) })
        XCTAssertEqual(better.verdict, .replicated, better.detail)
        XCTAssertEqual(better.numbers.map(\.label), ["TMC", "UNet", "gap", "published gap", "paired Δ"])
        XCTAssertEqual(better.numbers[4].value, better.numbers[2].value, accuracy: 1e-9, "with all cases paired, Δ is the gap of the means")
        let ci = try XCTUnwrap(better.comparisons.first?.interval)
        XCTAssertTrue(ci.lower > 3 && ci.upper < 5, "\(ci)")
        XCTAssertTrue(better.detail.contains("30 cases × 2 seeds"), better.detail)
        // The page's seed plan: each seed's Δ, and the seeds the paper's own gap would need with these 30 cases.
        let comparison = try XCTUnwrap(better.comparisons.first)
        XCTAssertEqual(comparison.analysis.seedMeans.count, 2)
        let gap = try XCTUnwrap(comparison.publishedGap)
        XCTAssertEqual(gap, better.numbers[3].value, accuracy: 1e-9)
        let section = try XCTUnwrap(spec.sections(from: unet + caseRuns("TMC", "full") { i, s in base(i) + 4 + wobble(i + 1, s) }).first)
        let plan = SeedPlan.markdown(SectionReport(section: section, checks: [], claims: [ClaimResult(claim: claim, outcome: better)],
                                                   figures: [], unfinished: [])).joined(separator: "\n")
        XCTAssertTrue(plan.contains("| C1 | TMC − UNet | "), plan)
        XCTAssertTrue(plan.contains("1 comparison with a published gap: 1 reachable with "), plan)

        let worse = try evaluate(unet + caseRuns("TMC", "full") { i, s in base(i) - 1 + wobble(i + 1, s) })
        XCTAssertEqual(worse.verdict, .contradicted, worse.detail)

        // Differences of ±3 that cancel: no evidence either way, and the page says what could have been seen.
        let noise = try evaluate(unet + caseRuns("TMC", "full") { i, s in base(i) + wobble(i, s) + (i % 2 == 0 ? 3 : -3) })
        XCTAssertEqual(noise.verdict, .inconclusive, noise.detail)
        XCTAssertTrue(noise.detail.contains("smallest detectable Δ"), noise.detail)
        // One seed 5 above, the other 5 below: the spread between seeds swamps a gain of 1, and the page says how
        // many seeds the paper's own gap would have needed.
        let seedNoise = try evaluate(unet + caseRuns("TMC", "full") { i, s in base(i) + 1 + (s == 0 ? 5 : -5) + wobble(i, s) })
        XCTAssertEqual(seedNoise.verdict, .inconclusive, seedNoise.detail)
        XCTAssertTrue(seedNoise.detail.contains("inconclusive at this budget: the paper's gap"), seedNoise.detail)

        let summaryOnly = try evaluate(runs("UNet", "image-only", dice: [80], source: .real) + runs("TMC", "full", dice: [79], source: .real))
        XCTAssertEqual(summaryOnly.verdict, .notEvaluable, "no per-case values, no paired test")
        let missing = try evaluate(runs("UNet", "image-only", dice: [80], source: .real))
        XCTAssertEqual(missing.verdict, .notEvaluable)

        var lowerIsBetter = spec
        lowerIsBetter.metrics = [MetricSpec("Dice", higherIsBetter: false)]
        let distance = try evaluate(unet + caseRuns("TMC", "full") { i, s in base(i) - 4 + wobble(i + 1, s) }, spec: lowerIsBetter)
        XCTAssertEqual(distance.verdict, .replicated, distance.detail)
    }

    /// Slices of one patient are one unit: a patient's slice differences are averaged before the test, so a patient
    /// with many slices weighs no more than one with a single slice, and the count is of patients.
    func testSlicesOfOnePatientAreOneUnit() throws {
        let claim = Claim.outperforms(id: "C1", text: "TMC beats U-Net", source: "TMC Table 1",
                                      better: "TMC", worse: "UNet", dataset: "QaTa-COV19", metric: "Dice")
        var spec = miniTable1(claims: [claim])
        spec.datasets = [DatasetSpec("QaTa-COV19", proxyPatients: .prefixBeforeLastUnderscore)]
        // Patients 0–8 have 6 slices on which TMC gains 4; patient 9 has one slice on which it loses 30.
        let slices = (0..<10).flatMap { p in (0..<(p == 9 ? 1 : 6)).map { (p, "study_\(p)_\($0)") } }
        func runs(_ method: String, _ variant: String, gain: (Int) -> Double) -> [RunResult] {
            (0..<2).map { seed in
                let perCase = Dictionary(uniqueKeysWithValues: slices.map { ($0.1, 60 + gain($0.0) + Double(seed)) })
                return result(tmcConfig(method: method, variant: variant, seed: seed, source: .proxy), cases: ["Dice": perCase])
            }
        }
        let results = runs("UNet", "image-only") { _ in 0 } + runs("TMC", "full") { $0 == 9 ? -30 : 4 }
        let section = try XCTUnwrap(spec.sections(from: results).first)
        let lookup = ResultLookup(spec: spec, section: section, catalogue: try catalogue())
        let c = try XCTUnwrap(lookup.paired(better: "TMC", worse: "UNet", dataset: "QaTa-COV19", metric: "Dice"))
        XCTAssertEqual(c.cases, 10)
        XCTAssertEqual(c.unit, "patients")
        XCTAssertEqual(c.effect, (9 * 4 - 30) / 10, accuracy: 1e-9, "the mean over patients, not over the 55 slices")
        // Real data follow the loader's rule: QaTa-COV19's images are their own patients.
        var real = results.map { r -> RunResult in
            var config = r.record.config
            config.dataSource = .real
            return result(config, cases: r.cases)
        }
        real.sort { $0.record.config.seed < $1.record.config.seed }
        let realSection = try XCTUnwrap(spec.sections(from: real).first)
        let perImage = try XCTUnwrap(ResultLookup(spec: spec, section: realSection, catalogue: try catalogue())
            .paired(better: "TMC", worse: "UNet", dataset: "QaTa-COV19", metric: "Dice"))
        XCTAssertEqual([perImage.cases], [55])
        XCTAssertEqual(perImage.unit, "cases")
    }

    /// "Best of all rows" holds only if the paper's winner beats every other row; Holm runs over all comparisons.
    func testBestOfClaimIsTheIntersectionOfItsComparisons() throws {
        let claim = Claim.sameWinner(id: "best", text: "TMC is best", source: "Table 1", rows: ["UNet", "TMC"],
                                     dataset: "QaTa-COV19", metric: "Dice")
        let spec = miniTable1(claims: [claim])
        let catalogue = try catalogue()
        let unet = caseRuns("UNet", "image-only") { i, _ in 50 + Double(i % 7) }
        let tmc = caseRuns("TMC", "full") { i, s in 55 + Double(i % 7) + Double((i + s) % 3) * 0.1 }
        let section = try XCTUnwrap(spec.sections(from: unet + tmc).first)
        let o = ClaimStatistics.decide([claim.evaluate(ResultLookup(spec: spec, section: section, catalogue: catalogue))])[0]
        XCTAssertEqual(o.comparisons.map(\.worse), ["UNet"])
        XCTAssertEqual(o.verdict, .replicated, o.detail)
    }
}
