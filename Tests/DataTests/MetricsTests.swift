import XCTest
import Common
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
    func testHolmMatchesTheTextbookExample() {
        // p sorted 0.01, 0.03, 0.04 → 0.03, 0.06, max(0.06, 0.04) = 0.06.
        XCTAssertEqual(PairedTests.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
        XCTAssertEqual(PairedTests.holm([0.5, 0.9]), [1, 1])
    }

    func testNormalQuantile() {
        XCTAssertEqual(PairedTests.normalQuantile(0.975), 1.959964, accuracy: 1e-6)
        XCTAssertEqual(PairedTests.normalQuantile(0.8), 0.841621, accuracy: 1e-6)
        XCTAssertEqual(PairedTests.normalQuantile(0.01), -2.326348, accuracy: 1e-6)
    }

    /// SciPy's `2 * t.sf(t, df)` and `t.ppf(q, df)` (scripts/golden/student_t.py), at fractional df too.
    func testStudentTMatchesSciPy() {
        let tails: [(Double, Double, Double)] = [(2.0, 1.0, 0.2951672353008665), (2.0, 2.0, 0.18350341907227397),
                                                 (1.5, 3.7, 0.2135981692020135), (0.3, 10.0, 0.7703206075657986),
                                                 (4.0, 2.0, 0.05719095841793663), (2.5, 55.2, 0.015419482892066497),
                                                 (6.0, 200.0, 9.115120348810346e-09)]
        for (t, df, p) in tails {
            XCTAssertEqual(StudentT.twoSidedP(t, df: df), p, accuracy: p * 1e-9, "t \(t), df \(df)")
            XCTAssertEqual(StudentT.twoSidedP(-t, df: df), p, accuracy: p * 1e-9)
        }
        let quantiles: [(Double, Double, Double)] = [(0.975, 1.0, 12.706204736174694), (0.975, 2.0, 4.302652729749462),
                                                     (0.975, 4.6, 2.639291609747002), (0.8, 2.0, 1.0606601717798214),
                                                     (0.975, 1000.0, 1.9623390808264083), (0.025, 7.0, -2.3646242515927844)]
        for (q, df, t) in quantiles {
            XCTAssertEqual(StudentT.quantile(q, df: df), t, accuracy: 1e-9, "q \(q), df \(df)")
        }
    }

    /// The two-way ANOVA of a 5 × 3 table, computed with NumPy and SciPy in scripts/golden/student_t.py.
    func testCrossedMeanMatchesTheTwoWayANOVA() {
        let d: [[Double]] = [[1.0, 2.5, 0.5], [3.0, 4.0, 2.0], [-1.0, 1.5, 0.0], [2.0, 3.5, 1.0], [0.5, 2.0, 1.5]]
        let c = CrossedMean(d)
        XCTAssertEqual(c.mean, 1.6, accuracy: 1e-12)
        for (a, b) in zip(c.seedMeans, [1.1, 2.7, 1.0]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(c.variance, 0.5058333333333334, accuracy: 1e-12)
        XCTAssertEqual(c.df, 4.366761990875147, accuracy: 1e-9)
        XCTAssertEqual(c.p, 0.08205423953376356, accuracy: 1e-9)
        let ci = c.interval()
        XCTAssertEqual(ci.upper - c.mean, 1.910942625118714, accuracy: 1e-9)
        XCTAssertEqual(c.mean - ci.lower, 1.910942625118714, accuracy: 1e-9)
        // Components: MS_e = 0.3208; patient (3.3583 − 0.3208)/3; seed (4.55 − 0.3208)/5.
        XCTAssertEqual(c.residualVariance, 0.3208333333333333, accuracy: 1e-12)
        XCTAssertEqual(c.patientVariance, (3.3583333333333334 - 0.3208333333333333) / 3, accuracy: 1e-12)
        XCTAssertEqual(c.seedVariance, (4.550000000000001 - 0.3208333333333333) / 5, accuracy: 1e-12)
        XCTAssertEqual(c.variance(seeds: 3), c.variance, accuracy: 1e-12)
    }

    /// Simulated from the model with a large seed effect: the interval covers the true mean at about its level,
    /// while an interval over patients alone (the seeds averaged away, as if the three trained models were the
    /// method) covers it far less often. This is why the seeds are a random factor.
    func testCrossedIntervalCoversAtItsLevelWhereAPatientsOnlyIntervalDoesNot() {
        var rng = RNG(seed: 7)
        let replicates = 2000, P = 40, S = 3, truth = 1.0
        var covered = 0, coveredByPatients = 0
        for _ in 0..<replicates {
            let seedEffects = (0..<S).map { _ in 1.5 * rng.normal() as Double }
            let d = (0..<P).map { _ -> [Double] in
                let patient = 3 * rng.normal() as Double
                return seedEffects.map { truth + patient + $0 + rng.normal() as Double }
            }
            let ci = CrossedMean(d).interval()
            if ci.lower <= truth && truth <= ci.upper { covered += 1 }
            let means = d.map { $0.reduce(0, +) / Double(S) }
            let naive = CrossedMean(means.map { [$0] }).interval()
            if naive.lower <= truth && truth <= naive.upper { coveredByPatients += 1 }
        }
        let coverage = Double(covered) / Double(replicates), naive = Double(coveredByPatients) / Double(replicates)
        // Measured: 0.93 (Satterthwaite's t with two degrees of freedom for the seeds is a little liberal), and
        // 0.67 for the interval over patients alone.
        XCTAssertTrue(coverage > 0.91 && coverage < 0.99, "coverage \(coverage)")
        XCTAssertLessThan(naive, 0.8, "patients-only coverage \(naive)")
    }

    /// One seed cannot measure training noise; with several, the plan says how many seeds a gap needs, and none
    /// when the test patients alone leave too much spread.
    func testSeedsNeededFollowsTheMeasuredComponents() {
        let oneSeed = CrossedMean((0..<30).map { [Double($0 % 5)] })
        XCTAssertFalse(oneSeed.seedNoiseMeasured)
        XCTAssertEqual(oneSeed.seedsNeeded(toDetect: 1), .unmeasured)
        XCTAssertEqual(oneSeed.df, 29)
        // Seeds shift every patient by −1, 0, +1 (seed SD 1); patients are alike.
        let d = (0..<50).map { p in [-1.0, 0, 1].map { $0 + 2 + Double(p % 2) * 0.01 } }
        let c = CrossedMean(d)
        XCTAssertEqual(c.seedVariance, 1, accuracy: 1e-3)
        // (1.96 + 0.84)² · 1 / 0.5² = 31.4 → 32 seeds for a gap of 0.5; 8 for a gap of 1.
        XCTAssertEqual(c.seedsNeeded(toDetect: 0.5), .seeds(32))
        XCTAssertEqual(c.seedsNeeded(toDetect: -1), .seeds(8))
        XCTAssertEqual(c.seedsNeeded(toDetect: 0.01, limit: 100), .beyond(100))
        // Patients spread by 10 over 4 of them: no number of seeds detects a gap of 1.
        let wide = CrossedMean((0..<4).map { p in [0.0, 0.1, 0.2].map { $0 + Double(p) * 10 } })
        XCTAssertEqual(wide.seedsNeeded(toDetect: 1), .testSetTooSmall)
    }
}
