import XCTest
@testable import Metrics

final class OverlapTests: XCTestCase {
    func testHandComputedCase() {
        // |P| = 2, |G| = 2, |P∩G| = 1, |P∪G| = 3.
        let s = SegmentationMetrics.scores(prediction: [1, 1, 0, 0], mask: [1, 0, 1, 0])
        XCTAssertEqual(s.dice, 2.0 / (4 + 1e-5), accuracy: 1e-15)
        XCTAssertEqual(s.iou, 1.0 / 3, accuracy: 1e-15)
    }

    func testEmptyMasksFollowLViT() {
        // Nothing to find and nothing found: LViT scores 0, not 1.
        XCTAssertEqual(SegmentationMetrics.scores(prediction: [0, 0, 0], mask: [0, 0, 0]), OverlapScores(dice: 0, iou: 0))
        XCTAssertEqual(SegmentationMetrics.scores(prediction: [1, 0, 0], mask: [0, 0, 0]), OverlapScores(dice: 0, iou: 0))
        XCTAssertEqual(SegmentationMetrics.scores(prediction: [0, 0, 0], mask: [0, 1, 1]), OverlapScores(dice: 0, iou: 0))
    }

    func testPerfectPredictionIsJustBelowOne() {
        let s = SegmentationMetrics.scores(prediction: [1, 1, 1, 0], mask: [1, 1, 1, 0])
        XCTAssertEqual(s.dice, 6 / (6 + 1e-5), accuracy: 1e-15)
        XCTAssertEqual(s.iou, 1)
    }

    func testThresholdIsStrict() {
        XCTAssertEqual(SegmentationMetrics.binarize([0.2, 0.5, 0.5000001, 0.9]), [0, 0, 1, 1])
        let s = SegmentationMetrics.lvit(probabilities: [0.9, 0.5, 0.7, 0.1], mask: [1, 1, 0, 0])
        XCTAssertEqual(s.dice, 2.0 / (4 + 1e-5), accuracy: 1e-15)
        XCTAssertEqual(s.iou, 1.0 / 3, accuracy: 1e-15)
        // Masks stored as 0/255 count as foreground too.
        XCTAssertEqual(SegmentationMetrics.lvit(probabilities: [1, 0], mask: [255, 0]).iou, 1)
    }

    func testMeanOverImages() {
        let m = SegmentationMetrics.mean([OverlapScores(dice: 0.8, iou: 0.6), OverlapScores(dice: 0.4, iou: 0.2), OverlapScores(dice: 0, iou: 0)])
        XCTAssertEqual(m.dice, 0.4, accuracy: 1e-15)
        XCTAssertEqual(m.iou, 0.8 / 3, accuracy: 1e-15)
        XCTAssertTrue(SegmentationMetrics.mean([]).dice.isNaN)
    }
}

final class HausdorffTests: XCTestCase {
    func grid(_ f: (Int, Int) -> Bool) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: 256)
        for y in 0..<16 { for x in 0..<16 where f(x, y) { m[y * 16 + x] = 1 } }
        return m
    }

    func testSimpleCaseByHand() {
        // Two 1-pixel-wide vertical bars 3 columns apart: every surface pixel is 3 from the other surface.
        let a = grid { x, y in x == 4 && y >= 2 && y < 10 }, b = grid { x, y in x == 7 && y >= 2 && y < 10 }
        XCTAssertEqual(HausdorffDistance.hd95(prediction: a, mask: b, width: 16, height: 16), 3)
        XCTAssertEqual(HausdorffDistance.hd95(prediction: a, mask: a, width: 16, height: 16), 0)
    }

    func testAgainstMedpyConventions() {
        // Reference values: medpy's hd95 algorithm written out with scipy.ndimage (binary_erosion with the
        // 4-neighbour cross, distance_transform_edt, np.percentile of both directions).
        let a = grid { x, y in y >= 2 && y < 8 && x >= 3 && x < 10 }
        let b = grid { x, y in (y - 7) * (y - 7) + (x - 8) * (x - 8) <= 16 }
        XCTAssertEqual(HausdorffDistance.hd95(prediction: a, mask: b, width: 16, height: 16)!, 3.1622776601683795, accuracy: 1e-12)
        XCTAssertEqual(HausdorffDistance.hd95(prediction: a, mask: b, width: 16, height: 16, spacing: (2.0, 0.5))!, 6.0, accuracy: 1e-12)
        // Pixels on the image edge are surface pixels (erosion treats outside as background).
        let c = grid { _, y in y < 3 }
        let d = grid { x, y in (y >= 10 && x >= 12) || (x == 5 && y == 5) }
        XCTAssertEqual(HausdorffDistance.hd95(prediction: c, mask: d, width: 16, height: 16)!, 13.0, accuracy: 1e-12)
        XCTAssertEqual(HausdorffDistance.hd95(prediction: d, mask: c, width: 16, height: 16)!, 13.0, accuracy: 1e-12)
    }

    func testEmptyMaskIsUndefined() {
        let a = grid { x, y in x == 1 && y == 1 }, empty = grid { _, _ in false }
        XCTAssertNil(HausdorffDistance.hd95(prediction: empty, mask: a, width: 16, height: 16))
        XCTAssertNil(HausdorffDistance.hd95(prediction: a, mask: empty, width: 16, height: 16))
    }

    func testDistanceTransformIsExact() {
        let field = HausdorffDistance.distanceField(to: [0, 15 * 16 + 15], width: 16, height: 16, spacing: (1, 1))
        for y in 0..<16 {
            for x in 0..<16 {
                let expected = min((Double(x * x + y * y)).squareRoot(), (Double((15 - x) * (15 - x) + (15 - y) * (15 - y))).squareRoot())
                XCTAssertEqual(field[y * 16 + x], expected, accuracy: 1e-12)
            }
        }
    }
}

final class WilcoxonTests: XCTestCase {
    // Reference values from scipy 1.17.1: scipy.stats.wilcoxon(d, method="exact") when n ≤ 25 without ties,
    // else scipy.stats.wilcoxon(d, method="approx", correction=False); zero_method="wilcox" (the default).

    func testExactSmall() {
        let r = wilcoxonSignedRank(differences: [1.5, -0.3, 2.1, 0.7, -1.2, 3.3, 0.9, -0.1, 2.6, 1.8])
        XCTAssertEqual(r.method, .exact)
        XCTAssertEqual(r.n, 10)
        XCTAssertEqual(r.statistic, 8)
        XCTAssertEqual(r.pValue, 0.048828125, accuracy: 1e-15)
    }

    func testZerosAreDropped() {
        let r = wilcoxonSignedRank(differences: [0.0, 1.0, -2.5, 3.1, 4.2, -0.6, 5.5, 2.2])
        XCTAssertEqual(r.n, 7)
        XCTAssertEqual(r.statistic, 5)
        XCTAssertEqual(r.pValue, 0.15625, accuracy: 1e-15)
    }

    func testAllPositive() {
        let r = wilcoxonSignedRank([1.5, 2.5, 3.5, 4.5, 5.5], [1, 1, 1, 1, 1])
        XCTAssertEqual(r.statistic, 0)
        XCTAssertEqual(r.rankSumPositive, 15)
        XCTAssertEqual(r.pValue, 0.0625, accuracy: 1e-15)
    }

    func testExactAtTwentyFive() {
        let d: [Double] = (0..<25).map { (i: Int) -> Double in
            let whole = Double((i * 37) % 51 - 20)
            return whole + 0.01 * Double(i)
        }
        let r = wilcoxonSignedRank(differences: d)
        XCTAssertEqual(r.method, .exact)
        XCTAssertEqual(r.statistic, 95)
        XCTAssertEqual(r.pValue, 0.0709836483001709, accuracy: 1e-14)
    }

    func testTiesUseTheCorrectedNormal() {
        let r = wilcoxonSignedRank(differences: [1, 1, 2, -2, 3, 3, 3, -1, 4, 5, -5, 6])
        XCTAssertEqual(r.method, .normal)
        XCTAssertEqual(r.statistic, 17)
        XCTAssertEqual(r.pValue, 0.08318487806875982, accuracy: 1e-12)
        XCTAssertEqual(abs(r.z!), 1.732498308107947, accuracy: 1e-12)
        XCTAssertGreaterThan(r.z!, 0, "W+ above its null mean")
    }

    func testNormalAboveTwentyFive() {
        let d: [Double] = (0..<30).map { (i: Int) -> Double in
            let tenths = Double((i * 53) % 97 - 40) / 10
            return tenths + 0.001 * Double(i)
        }
        let r = wilcoxonSignedRank(differences: d)
        XCTAssertEqual(r.method, .normal)
        XCTAssertEqual(r.statistic, 183)
        XCTAssertEqual(r.pValue, 0.30861485052601767, accuracy: 1e-12)
        XCTAssertEqual(abs(r.z!), 1.018132798067258, accuracy: 1e-12)
    }

    func testTiesAndZerosTogether() {
        let d: [Double] = (0..<40).map { (i: Int) -> Double in Double((i * 7) % 11 - 4) }
        let r = wilcoxonSignedRank(differences: d)
        XCTAssertEqual(r.n, 37)
        XCTAssertEqual(r.statistic, 223)
        XCTAssertEqual(r.pValue, 0.05163886365336905, accuracy: 1e-12)
        XCTAssertEqual(abs(r.z!), 1.9461321825432951, accuracy: 1e-12)
    }

    func testNoDifferencesIsUndefined() {
        let r = wilcoxonSignedRank([1, 2, 3], [1, 2, 3])
        XCTAssertEqual(r.n, 0)
        XCTAssertTrue(r.pValue.isNaN)
    }

    func testAverageRanks() {
        let (ranks, groups) = averageRanks([3, 1, 3, 2, 3])
        XCTAssertEqual(ranks, [4, 1, 4, 2, 4])
        XCTAssertEqual(groups, [3])
    }
}

final class SummaryTests: XCTestCase {
    func testMeanAndSampleSD() {
        let v: [Double] = [2, 4, 4, 4, 5, 5, 7, 9]
        XCTAssertEqual(Summary.mean(v), 5)
        XCTAssertEqual(Summary.sampleSD(v), 2.138089935299395, accuracy: 1e-15)   // numpy.std(v, ddof=1)
        XCTAssertTrue(Summary.sampleSD([1]).isNaN)
        XCTAssertTrue(Summary.mean([]).isNaN)
    }

    func testPercentileInterpolatesLikeNumPy() {
        XCTAssertEqual(percentile(sorted: [1, 2, 3, 4], 95), 3.85, accuracy: 1e-12)   // numpy.percentile
        XCTAssertEqual(percentile(sorted: [1, 2, 3, 4], 0), 1)
        XCTAssertEqual(percentile(sorted: [1, 2, 3, 4], 100), 4)
        XCTAssertEqual(percentile(sorted: [7], 50), 7)
    }

    func testBootstrapIsSeededAndSensible() {
        let values = (1...100).map(Double.init)
        let a = bootstrapMeanCI(values, resamples: 4000, seed: 11), b = bootstrapMeanCI(values, resamples: 4000, seed: 11)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(bootstrapMeanCI(values, resamples: 4000, seed: 12), a)
        XCTAssertEqual(a.estimate, 50.5)
        XCTAssertEqual(a.level, 0.95)
        // Normal theory: 50.5 ± 1.96 · 29.01 / 10 = [44.8, 56.2].
        XCTAssertEqual(a.lower, 44.8, accuracy: 0.8)
        XCTAssertEqual(a.upper, 56.2, accuracy: 0.8)
        let constant = bootstrapMeanCI([3, 3, 3], seed: 1)
        XCTAssertEqual([constant.lower, constant.upper], [3, 3])
    }
}

/// The paired tests behind claim verdicts (Metrics/PairedTests.swift).
final class PairedTestsTests: XCTestCase {
    func testSignFlipIsExactForSmallSamples() {
        // 2³ sign vectors; only all-plus and all-minus reach |sum| = 6.
        XCTAssertEqual(PairedTests.signFlipP([1, 2, 3], seed: 0), 0.25, accuracy: 1e-12)
        // |1 − 2 + 3| = 2: vectors with |sum| ≥ 2 are all but (+1 +2 −3) and (−1 −2 +3).
        XCTAssertEqual(PairedTests.signFlipP([1, -2, 3], seed: 0), 6.0 / 8, accuracy: 1e-12)
        XCTAssertEqual(PairedTests.signFlipP([0, 0, 0], seed: 0), 1)
    }

    func testSignFlipResolvesSmallPValuesFromManyCasesAndIsSeeded() {
        let d = (0..<80).map { 1.0 + Double($0 % 5) * 0.1 }
        let p = PairedTests.signFlipP(d, resamples: 5000, seed: 3)
        XCTAssertEqual(p, 1.0 / 5001, accuracy: 1e-12, "every flip is less extreme than all positive")
        let mixed = (0..<80).map { $0 % 2 == 0 ? 1.0 : -0.9 }
        let q = PairedTests.signFlipP(mixed, resamples: 5000, seed: 3)
        XCTAssertEqual(q, PairedTests.signFlipP(mixed, resamples: 5000, seed: 3))
        XCTAssertGreaterThan(q, 0.5)
    }

    func testHolmMatchesTheTextbookExample() {
        // p sorted 0.01, 0.03, 0.04 → 0.03, 0.06, max(0.06, 0.04) = 0.06.
        XCTAssertEqual(PairedTests.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
        XCTAssertEqual(PairedTests.holm([0.5, 0.9]), [1, 1])
    }

    func testTwoLevelBootstrapCoversTheMeanAndWidensWithSeedNoise() {
        var steady: [[Double]] = [], noisy: [[Double]] = []
        for i in 0..<40 {
            let centre: Double = 2.0 + Double(i % 3) * 0.1
            steady.append([centre, centre])
            noisy.append([centre - 3, centre + 3])
        }
        let a = PairedTests.twoLevelBootstrap(steady, seed: 1), b = PairedTests.twoLevelBootstrap(noisy, seed: 1)
        XCTAssertEqual(a.estimate, b.estimate, accuracy: 1e-12)
        XCTAssertTrue(a.lower <= a.estimate && a.estimate <= a.upper)
        XCTAssertGreaterThan(b.upper - b.lower, 5 * (a.upper - a.lower))
    }

    func testMinimumDetectableEffectAndNormalQuantile() {
        XCTAssertEqual(PairedTests.normalQuantile(0.975), 1.959964, accuracy: 1e-6)
        XCTAssertEqual(PairedTests.normalQuantile(0.8), 0.841621, accuracy: 1e-6)
        XCTAssertEqual(PairedTests.normalQuantile(0.01), -2.326348, accuracy: 1e-6)
        // sd 2 over 100 cases: (1.96 + 0.84) · 2 / 10.
        let scale: Double = 2 * (99.0 / 100).squareRoot()
        let values: [Double] = (0..<100).map { i -> Double in i % 2 == 0 ? scale : -scale }
        XCTAssertEqual(PairedTests.minimumDetectableEffect(caseMeans: values), 2.801585 * 2 / 10, accuracy: 1e-4)
    }
}
