import Foundation
import XCTest
import Engine
import NN
import Models
import Data
@testable import Suite
@testable import MOSMOS

/// The pieces MOSMOS's fine-tuning tables add to the runner: region scoring (BRATS), 2D networks on volumes
/// (slice sampling, slice-wise inference), the published-table audit, the real-data loader and the recipe.
final class MOSMOSGroundTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// TC = 2 ∪ 3, WT = 1 ∪ 2 ∪ 3, ET = 3 on a 1 × 2 × 4 case, by hand: truth [1 1 2 3 | 0 0 3 3],
    /// prediction [1 2 2 2 | 0 1 3 0]. TC: truth {2,3,6,7}, predicted {1,2,3,6}: 2·3/8 = 75. WT: truth {0,1,2,3,6,7},
    /// predicted {0,1,2,3,5,6}: 2·5/12. ET: truth {3,6,7}, predicted {6}: 2·1/4 = 50.
    func testRegionsAreScoredAsUnionsOfClasses() {
        let task = SegmentationTask(name: "brats", classes: ["bg", "ed", "net", "et"], output: .multiClass,
                                    regions: [.init(name: "TC", labels: [2, 3]), .init(name: "WT", labels: [1, 2, 3]), .init(name: "ET", labels: [3])])
        let truth: [Int32] = [1, 1, 2, 3, 0, 0, 3, 3], guess: [Int32] = [1, 2, 2, 2, 0, 1, 3, 0]
        let c = LabeledImage(id: "c", channels: 1, shape: [1, 2, 4], pixels: [Float](repeating: 0, count: 8), labels: truth)
        let rows = TaskEvaluation.score([.labels(guess)], [c], task: task, distances: false)
        let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0.metric, $0.value) })
        XCTAssertEqual(byName["Dice:TC"]!, 75, accuracy: 1e-9)
        XCTAssertEqual(byName["Dice:WT"]!, 1000.0 / 12, accuracy: 1e-9)
        XCTAssertEqual(byName["Dice:ET"]!, 50, accuracy: 1e-9)
        XCTAssertNil(byName["Dice:ed"], "classes are not scored when the task has regions")
        XCTAssertEqual(TaskEvaluation.summarize(rows, task: task)["Dice"]!, (75 + 1000.0 / 12 + 50) / 3, accuracy: 1e-9)
    }

    /// A 2D network run slice by slice through a 2D sliding window gives, for a pointwise network, exactly the 3D
    /// network's output: the slices come back in place and the windows' overlap averages equal values.
    func testSliceWiseInferenceStacksTheSlicesBackInPlace() {
        let conv2 = Conv2d(1, 3, kernelSize: 1), conv3 = Conv3d(1, 3, kernelSize: 1)
        conv2.initialize(seed: 4)
        conv3.weight.copy(from: conv2.weight.reshaped([3, 1, 1, 1, 1]))
        conv3.bias!.copy(from: conv2.bias!)
        var rng = RNG(seed: 9)
        let volume = Tensor.randn([1, 1, 5, 12, 10], rng: &rng)
        let window = SlidingWindow(roi: [8, 8], overlap: 0.5, batch: 4)
        let sliced = withoutGrad { TaskEvaluation.slicewise(volume, window) { conv2($0) } }
        let direct = withoutGrad { conv3(volume) }
        XCTAssertEqual(sliced.shape, [1, 3, 5, 12, 10])
        for (a, b) in zip(sliced.array, direct.array) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    /// Slice sampling: every axial slice of every case is an item, and a drawn item is a 2D crop of the patch size,
    /// the same for the same (seed, epoch) and another for another epoch.
    func testSliceSamplingMakesEverySliceAnItemAndCutsDeterministicCrops() throws {
        let task = SegmentationTask(name: "s", classes: ["bg", "a", "b"], output: .multiClass,
                                    sampling: .slices(VolumeAugmentation(patch: [8, 8, 1], samples: 1)))
        let cases = [VolumeTaskTests.phantom("a", seed: 1, shape: [3, 12, 14]), VolumeTaskTests.phantom("b", seed: 2, shape: [4, 12, 14])]
        try TrainingBatches.check(cases, task: task, dataset: "t")
        let items = TrainingBatches.items(cases, task: task)
        XCTAssertEqual(items.map(\.id), ["a@0", "a@1", "a@2", "b@0", "b@1", "b@2", "b@3"])
        XCTAssertEqual(items[4].labels, Array(cases[1].labels[(12 * 14)..<(2 * 12 * 14)]), "slice 1 of b")
        let first = TrainingBatches.draw([0, 4], from: items, task: task, seed: 3, epoch: 0)
        XCTAssertEqual(first.map(\.shape), [[8, 8], [8, 8]])
        XCTAssertEqual(first, TrainingBatches.draw([0, 4], from: items, task: task, seed: 3, epoch: 0))
        XCTAssertNotEqual(first.map(\.pixels), TrainingBatches.draw([0, 4], from: items, task: task, seed: 3, epoch: 1).map(\.pixels))
        let tooBig = SegmentationTask(name: "s", classes: ["bg", "a", "b"], output: .multiClass,
                                      sampling: .slices(VolumeAugmentation(patch: [16, 16, 1], samples: 1)))
        XCTAssertThrowsError(try TrainingBatches.check(cases, task: tooBig, dataset: "t"))
    }

    /// The recomputation of the printed p-values, from the committed published values.
    func testAuditRecomputesThePrintedPValuesAndAverages() throws {
        let catalogue = try PublishedCatalogue(contentsOf: MOSMOSGroundTests.root.appendingPathComponent("Papers/published-values.csv"))
        let t2 = PublishedAudit.of(paper: "MOSMOS", table: "Table2", in: catalogue)
        XCTAssertEqual(t2.pValues.map { ($0.recomputed.pValue * 1e4).rounded() / 1e4 }, [0.0266, 0.0803])
        XCTAssertEqual(t2.pValues.map(\.recomputed.n), [13, 13])
        XCTAssertEqual(t2.averages.count, 16)
        XCTAssertTrue(t2.averages.allSatisfy(\.agrees), "\(t2.averages.filter { !$0.agrees })")
        let t3 = PublishedAudit.of(paper: "MOSMOS", table: "Table3", in: catalogue)
        // Exact over 7 pairs: 2/2⁷ when all seven favour MOSMOS, 4/2⁷ when the smallest difference goes the other way.
        let exact: [Double] = [2, 4, 2, 2].map { $0 / 128 }
        XCTAssertEqual(t3.pValues.map(\.recomputed.pValue), exact)
        XCTAssertEqual(t3.pValues.map(\.metric), ["Dice", "HD95", "Dice", "HD95"])
        // A printed average that is not its classes' mean is reported, not hidden.
        var edited = catalogue.values
        let i = edited.firstIndex { $0.table == "Table6" && $0.method == "UNETR" && $0.className == "Avg" }!
        let v = edited[i]
        edited[i] = PublishedValue(paper: v.paper, table: v.table, dataset: v.dataset, backbone: v.backbone, method: v.method,
                                   variant: v.variant, metric: v.metric, className: v.className, value: v.value + 1, note: v.note)
        let t6 = PublishedAudit.of(paper: "MOSMOS", table: "Table6", in: PublishedCatalogue(values: edited))
        XCTAssertEqual(t6.averages.filter { !$0.agrees }.map(\.method), ["UNETR"])
    }

    /// The real layouts (the committed nibabel fixtures) load through the MOSMOS split and UNETR's preprocessing;
    /// a missing folder is one error naming it.
    func testRealDataLoadsThroughTheSplitAndThePreprocessing() throws {
        let layouts = MOSMOSGroundTests.root.appendingPathComponent("Tests/DataTests/Fixtures/layouts")
        let btcv = try MOSMOSData.loadReal(.btcv, root: layouts, scale: .paper)
        XCTAssertEqual(btcv.train.count + btcv.val.count + btcv.test.count, 3)
        XCTAssertEqual(btcv.classes.count, 14)
        XCTAssertEqual(btcv.train[0].spacing, [2.0, 1.5, 1.5])
        XCTAssertTrue(btcv.train[0].pixels.allSatisfy { (0...1).contains($0) })
        let coarse = try MOSMOSData.loadReal(.btcv, root: layouts, scale: .proxy)
        XCTAssertEqual(coarse.train[0].spacing, [5, 4, 4])
        XCTAssertThrowsError(try MOSMOSData.loadReal(.btcv, root: URL(fileURLWithPath: "/nonexistent"), scale: .proxy)) { e in
            XCTAssertTrue("\(e)".contains("has no folder BTCV"), "\(e)")
        }
        XCTAssertThrowsError(try MOSMOSData.load(DatasetSpec("BTCV"), .paper, nil, kind: .btcv)) { e in
            XCTAssertTrue("\(e)".contains("--data-root"), "\(e)")
        }
    }

    /// §4.1's recipe at each scale: AdamW 1e-4, weight decay 1e-5, 50 warm-up epochs then cosine over 5000,
    /// validation every 100; the proxy keeps the shape over its epochs; batch 96 slices vs 2 patches.
    func testRecipeKeepsThePapersShapeAtEveryScale() {
        let unetr = Cell(method: "Random", dataset: "BTCV", variant: Backbone.unetr.rawValue)
        let unet = Cell(method: "Random", dataset: "BTCV", variant: Backbone.unet.rawValue)
        let paper = MOSMOSRecipe.recipe(unetr, .paper, epochs: [:])
        XCTAssertEqual(paper.optimizer, "adamw")
        XCTAssertEqual(paper.learningRate, 1e-4)
        XCTAssertEqual(paper.weightDecay, 1e-5)
        XCTAssertEqual(paper.maxEpochs, 5000)
        XCTAssertEqual(paper.validateEvery, 100)
        XCTAssertEqual(paper.lrSchedule, .linearWarmupCosine(warmup: 50, total: 5000))
        XCTAssertEqual(MOSMOSRecipe.recipe(unet, .paper, epochs: [:]).batchSize, 96)
        let proxy = MOSMOSRecipe.recipe(unetr, .proxy, epochs: [.unetr: 60])
        XCTAssertEqual(proxy.lrSchedule, .linearWarmupCosine(warmup: 2, total: 60))
        XCTAssertEqual(proxy.validateEvery, 6)
        XCTAssertEqual(proxy.patience, 60, "no early stopping: every epoch runs")
        // The proxy pilot's rates (Papers/MOSMOS/datasets.md §7), the paper's at paper scale.
        XCTAssertEqual(proxy.learningRate, 3e-4)
        XCTAssertEqual(MOSMOSRecipe.recipe(unet, .proxy, epochs: [.unet: 12]).learningRate, 3e-3)
        let model = Backbone.unetr.model(ModelContext(scale: .paper, inChannels: 1, imageSize: 96, textWidth: 0, outChannels: 14))
        XCTAssertEqual((model as! UNETR).parameterCount, 92_802_478)
    }
}
