import XCTest
import NN
@testable import Suite
import TMC

/// The pieces of TMC's one protocol (Papers/TMC/Table1.md, "One protocol"): the recipe every row shares, the
/// epoch-budget pilot and its rule, λ chosen on validation, and tables that count only the protocol's runs.
final class ProtocolTests: XCTestCase {
    func testEveryProxyRowSharesLossOptimiserScheduleAndBudget() {
        let cells = TMCMethods.table1.map { Cell(method: $0.row.method, dataset: "Duke-Breast", variant: $0.row.variant) }
            + [Cell(method: "TMC", dataset: "Duke-Breast", variant: "MCM=on;Lalign=off")]
        let recipes = cells.map { TMCMethods.recipe($0, .proxy) }
        for r in recipes {
            XCTAssertEqual(r.loss, "bce+dice")
            XCTAssertEqual(r.optimizer, "adamw")
            XCTAssertEqual(r.weightDecay, 0.01)
            XCTAssertEqual(r.maxEpochs, TMCMethods.proxyEpochBudget)
            XCTAssertEqual(r.patience, r.maxEpochs, "no early stopping under a decaying schedule")
            XCTAssertEqual(r.lrSchedule, .warmupCosine(warmup: TMCMethods.proxyEpochBudget / 10, total: TMCMethods.proxyEpochBudget,
                                                       warmupStartLR: Float(3e-4) / 10))
            XCTAssertEqual(r.asDictionary["protocol"], "tmc-2")
        }
        // Only TMC's rows with the MA loss carry an auxiliary weight.
        XCTAssertEqual(recipes.map { $0.auxWeight != 0 }, cells.map { $0.method == "TMC" && !$0.variant.contains("Lalign=off") })
        XCTAssertEqual(TMCMethods.recipe(Cell(method: "UNet", dataset: "MosMedData", variant: "image-only"), .proxy).learningRate, 1e-3)
        // Paper scale keeps the paper's recipe: Adam at a constant rate, patience 20, TMC on BCE + λ·L_align.
        let paper = TMCMethods.recipe(Cell(method: "TMC", dataset: "QaTa-COV19", variant: "text"), .paper)
        XCTAssertEqual([paper.optimizer, paper.loss], ["adam", "bce"])
        XCTAssertEqual(paper.patience, 20)
        XCTAssertEqual(paper.lrSchedule, .constant)
        XCTAssertEqual(paper.asDictionary["protocol"], "tmc-paper")
    }

    /// The pilot keeps the warm-up and holds the rate after it: no decay and no early stopping.
    func testEpochPilotHoldsTheRateAfterTheWarmUp() {
        let r = TMCMethods.recipe(Cell(method: "UNet", dataset: "QaTa-COV19", variant: "image-only"), .proxy).epochPilot(epochs: 50)
        XCTAssertEqual([r.maxEpochs, r.patience], [50, 50])
        let w = TMCMethods.proxyEpochBudget / 10
        XCTAssertEqual(r.lrSchedule, .warmupConstant(warmup: w, warmupStartLR: Float(3e-4) / 10))
        let rates = (0..<50).map { r.lrSchedule.lr(base: r.learningRate, step: $0) }
        XCTAssertEqual(rates[0], 3e-5, accuracy: 1e-9)
        XCTAssertLessThan(rates[w - 1], 3e-4)
        XCTAssertTrue(rates[w...].allSatisfy { $0 == 3e-4 })
        // The same warm-up as the table's schedule, epoch for epoch.
        let table = TMCMethods.recipe(Cell(method: "UNet", dataset: "QaTa-COV19", variant: "image-only"), .proxy)
        XCTAssertEqual(rates[..<w].map { $0 }, (0..<w).map { table.lrSchedule.lr(base: 3e-4, step: $0) })
        // UNETR's warm-up reaches the rate one epoch earlier; the pilot keeps that too.
        var unetr = table
        unetr.lrSchedule = .linearWarmupCosine(warmup: 3, total: 30)
        XCTAssertEqual(unetr.epochPilot(epochs: 9).lrSchedule, .warmupConstant(warmup: 2, warmupStartLR: 0))
    }

    /// `--epochs` stretches the schedule to the new length and keeps "no early stopping".
    func testEpochOverrideStretchesTheSchedule() {
        let r = TMCMethods.recipe(Cell(method: "UNet", dataset: "QaTa-COV19", variant: "image-only"), .smoke).withEpochs(8)
        XCTAssertEqual([r.maxEpochs, r.patience], [8, 8])
        XCTAssertEqual(r.lrSchedule, .warmupCosine(warmup: 1, total: 8, warmupStartLR: Float(3e-4) / 10))
        XCTAssertEqual(r.lrSchedule.lr(base: 3e-4, step: 8), 0, accuracy: 1e-12)
        var patient = r
        patient.patience = 3
        XCTAssertEqual(patient.withEpochs(20).patience, 3)
    }

    func testLambdaIsTheBestOnValidationAndTheEarlierOnATie() {
        XCTAssertEqual(AuxWeightSelection.choose([(0.01, 80), (0.1, 82.5), (1, 81)]), 0.1)
        XCTAssertEqual(AuxWeightSelection.choose([(0.01, 82.5), (0.1, 82.5), (1, 81)]), 0.01)
        XCTAssertEqual(AuxWeightSelection.choose([(0.01, .nan), (0.1, 10), (1, .nan)]), 0.1)
        XCTAssertNil(AuxWeightSelection.choose([(0.01, .nan)]))
        XCTAssertEqual(TMCMethods.lambdaGrid(.proxy), [0.01, 0.1, 1])
        XCTAssertEqual(TMCMethods.lambdaGrid(.paper), [], "paper scale keeps the paper's recipe")
    }

    /// The rule of Table1.md, "Epoch budget": the latest epoch by which a run came within the tolerance of its own
    /// best, rounded up to a multiple of 5, and a run still gaining in its last fifth flagged.
    func testEpochBudgetReadsTheLatestFlatteningEpoch() {
        let fast = (1...50).map { (epoch: $0, value: min(80, Double($0) * 20)) }           // 80 from epoch 4
        let slow = (1...50).map { (epoch: $0, value: 70 * (1 - exp(-Double($0) / 6))) }   // within 1 of its best (69.98) at epoch 26
        let rising = (1...50).map { (epoch: $0, value: Double($0)) }
        let b = EpochBudget(curves: [("fast", fast), ("slow", slow)], tolerance: 1)
        XCTAssertEqual(b.readings.map(\.flattenedAt), [4, 26])
        XCTAssertEqual(b.readings.map(\.stillRising), [false, false])
        XCTAssertEqual(b.budget(), 30)
        let r = EpochBudget(curves: [("rising", rising)], tolerance: 1)
        XCTAssertEqual(r.readings[0].flattenedAt, 49)
        XCTAssertTrue(r.readings[0].stillRising)
        XCTAssertEqual(r.budget(), 50)
        // A noisy curve has flattened at its first epoch within reach of its best, whatever it does afterwards.
        let noisy = [(1, 10.0), (2, 80.5), (3, 60), (4, 81), (5, 70)].map { (epoch: $0.0, value: $0.1) }
        XCTAssertEqual(EpochBudget(curves: [("noisy", noisy)]).readings[0].flattenedAt, 2)
    }

    /// A table that names its protocol counts only that protocol's runs, and says how many others it left out.
    func testTablesCountOnlyTheirProtocolsRuns() {
        var spec = miniTable1()
        spec.protocols = ["tmc-2"]
        func run(_ tag: String?, seed: Int, at t: Double) -> RunResult {
            var h = ["lr": "0.0003"]
            if let tag { h["protocol"] = tag }
            return result(tmcConfig(seed: seed, hyperparameters: h), summary: ["Dice": 80], finishedAt: Date(timeIntervalSince1970: t))
        }
        let sections = spec.sections(from: [run("tmc-2", seed: 0, at: 1), run(nil, seed: 0, at: 2), run("tmc-1", seed: 1, at: 3)])
        XCTAssertEqual(sections.count, 1)
        XCTAssertEqual(sections[0].runs.map { $0.record.config.hyperparameters["protocol"] }, ["tmc-2"])
        XCTAssertEqual(sections[0].otherProtocols, 2)
        XCTAssertEqual(sections[0].superseded, 0, "an older protocol's later run does not supersede the protocol's own")
        spec.protocols = nil
        XCTAssertEqual(spec.sections(from: [run("tmc-2", seed: 0, at: 1), run(nil, seed: 0, at: 2)])[0].superseded, 1)
    }
}
