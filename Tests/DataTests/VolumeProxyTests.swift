import XCTest
@testable import Data

/// The 3D proxies against their design (Papers/MOSMOS/datasets.md): what each holds, that it is a function of the
/// seed alone, and that its anatomy keeps the sizes the design quotes from the real sets.
final class VolumeProxyTests: XCTestCase {
    func testTheSameSeedDrawsTheSameVolumesAndAnotherSeedOthers() {
        for kind in VolumeProxyKind.allCases {
            let a = renderVolumeProxyCase(kind, index: 3, total: 7, seed: 11)
            let b = renderVolumeProxyCase(kind, index: 3, total: 7, seed: 11)
            let c = renderVolumeProxyCase(kind, index: 3, total: 7, seed: 12)
            XCTAssertEqual(a, b, "\(kind)")
            XCTAssertNotEqual(a.pixels, c.pixels, "\(kind)")
        }
    }

    func testSplitsClassesAndTheSourceNameThatVersionsTheGenerator() {
        let smoke = makeVolumeProxy(.btcv, scale: .smoke, seed: 5)
        XCTAssertEqual([smoke.train.count, smoke.val.count, smoke.test.count], [4, 1, 2])
        XCTAssertEqual(smoke.source, "proxy:BTCV-v2-smoke:seed=5")
        XCTAssertEqual(makeVolumeProxy(.brats, scale: .smoke, seed: 5).source, "proxy:BRATS-v1-smoke:seed=5")
        XCTAssertEqual(VolumeProxyKind.btcv.counts(.proxy), [21, 3, 18])
        XCTAssertEqual(VolumeProxyKind.mmwhs.counts(.proxy), [14, 2, 12])
        XCTAssertEqual(VolumeProxyKind.brats.counts(.proxy), [40, 6, 24])
        XCTAssertEqual(VolumeProxyKind.btcv.classes.count, 14)
        XCTAssertEqual(VolumeProxyKind.amos.classes.count, 16)
        XCTAssertEqual(VolumeProxyKind.mmwhs.classes.count, 8)
        XCTAssertEqual(Set(smoke.train.map(\.id)).count, 4, "case ids are unique")
    }

    /// The organ sizes the design quotes, over 12 cases: each mean inside the range the real sets give (with room
    /// for 12 draws of the per-patient spread), the smallest structures one or two voxels thin.
    func testAbdomenKeepsRealOrganSizesAndItsCTWindow() {
        let cases = (0..<12).map { renderVolumeProxyCase(.btcv, index: $0, total: 12, seed: 20_240_601) }
        let stats = Dictionary(uniqueKeysWithValues: volumeClassStatistics(cases, classes: VolumeProxyKind.btcv.classes).map { ($0.name, $0) })
        let ranges: [String: ClosedRange<Double>] = ["liver": 1200...2100, "spleen": 120...330, "right kidney": 110...200,
                                                     "left kidney": 110...200, "pancreas": 45...95, "right adrenal gland": 1.5...7,
                                                     "left adrenal gland": 1.5...7, "gallbladder": 15...60, "aorta": 50...120]
        for (name, range) in ranges {
            let s = try! XCTUnwrap(stats[name], name)
            XCTAssertTrue(range.contains(s.meanVolume), "\(name): \(s.meanVolume) mL outside \(range)")
        }
        // Liver and spleen share a CT number; kidneys enhance more; bile is dark (after the −175..250 window).
        XCTAssertEqual(stats["liver"]!.meanIntensity, stats["spleen"]!.meanIntensity, accuracy: 0.08)
        XCTAssertGreaterThan(stats["right kidney"]!.meanIntensity, stats["liver"]!.meanIntensity + 0.05)
        XCTAssertLessThan(stats["gallbladder"]!.meanIntensity, stats["liver"]!.meanIntensity - 0.1)
        for c in cases {
            XCTAssertTrue(c.pixels.allSatisfy { (0...1).contains($0) }, "UNETR's window maps to 0…1")
            XCTAssertEqual(c.spacing, [5, 4, 4])
        }
    }

    func testHeartBloodPoolsAreBrightMyocardiumDarkAndAllSevenPresent() {
        let cases = (0..<6).map { renderVolumeProxyCase(.mmwhs, index: $0, total: 6, seed: 3) }
        let stats = volumeClassStatistics(cases, classes: HeartProxy.classes)
        XCTAssertTrue(stats.allSatisfy { $0.present == 6 }, "\(stats.map(\.present))")
        let myo = stats[0].meanIntensity
        for pool in stats.dropFirst() { XCTAssertGreaterThan(pool.meanIntensity, myo + 1, pool.name) }
        XCTAssertTrue((90...170).contains(stats[2].meanVolume), "LV \(stats[2].meanVolume) mL")
    }

    /// BRATS's regions nest (ET ⊂ TC ⊂ WT) by construction, the background outside the brain is exactly zero in
    /// every channel, and the enhancing tumour is brightest on T1gd.
    func testBrainTumourRegionsNestAndEnhancementShowsOnT1gdOnly() {
        let c = renderVolumeProxyCase(.brats, index: 0, total: 1, seed: 2)
        XCTAssertEqual(c.channels, 4)
        let n = c.voxels
        var et: [Double] = [0, 0, 0, 0], rest: [Double] = [0, 0, 0, 0], nET = 0, nRest = 0
        for i in 0..<n {
            let inside = (0..<4).contains { c.pixels[$0 * n + i] != 0 }
            if !inside { XCTAssertEqual(c.labels[i], 0) }
            if c.labels[i] == 3 { nET += 1; for k in 0..<4 { et[k] += Double(c.pixels[k * n + i]) } }
            else if inside { nRest += 1; for k in 0..<4 { rest[k] += Double(c.pixels[k * n + i]) } }
        }
        guard nET > 0 else { return XCTFail("case 0 has no enhancing tumour; pick a high-grade case") }
        let gap = (0..<4).map { et[$0] / Double(nET) - rest[$0] / Double(nRest) }
        XCTAssertEqual(gap.indices.max { gap[$0] < gap[$1] }, 2, "ET stands out most on T1gd: \(gap)")
    }

    func testAMOSMRICasesLeaveBladderAndProstateUnannotatedAndUseTheMRIScale() {
        let mri = renderVolumeProxyCase(.amos, index: 5, total: 6, seed: 1)
        let ct = renderVolumeProxyCase(.amos, index: 0, total: 6, seed: 1)
        XCTAssertEqual(mri.unannotated, [14, 15])
        XCTAssertFalse(mri.labels.contains(14) || mri.labels.contains(15))
        XCTAssertEqual(ct.unannotated, [])
        XCTAssertTrue(ct.labels.contains(13), "the duodenum is labelled in AMOS")
        XCTAssertTrue(mri.pixels.contains { $0 < 0 } && mri.pixels.contains { $0 > 1 }, "z-scored, not windowed")
    }
}
