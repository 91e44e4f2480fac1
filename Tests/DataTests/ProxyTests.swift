import XCTest
@testable import Data

/// FNV-1a over a data set's pixels (bit patterns), masks, texts and ids: any change to a generator changes it.
func fingerprint(_ ds: SegDataset) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    func eat(_ byte: UInt8) { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
    for s in ds.train + ds.val + ds.test {
        for p in s.image.pixels { var b = p.bitPattern; for _ in 0..<4 { eat(UInt8(b & 0xFF)); b >>= 8 } }
        for m in s.mask { eat(m) }
        for c in (s.id + "|" + s.patient + "|" + s.text).utf8 { eat(c) }
    }
    return h
}

final class ProxyTests: XCTestCase {
    static let smoke: [ProxyKind: SegDataset] = Dictionary(uniqueKeysWithValues: ProxyKind.allCases.map {
        ($0, makeProxy($0, scale: .smoke, seed: 1))
    })

    /// The suite's one generator, as the proxies use it: streams keyed by several integers are forks, draws are
    /// uniform, and a Double draw and a Float draw read the same 64 bits (53 and 24 of them).
    func testRNGStreamIsStable() {
        var rng = RNG(seed: 1)
        XCTAssertEqual(rng.next(), RNG.mix(0xD1B5_4A32_D192_ED03 &+ 1))
        XCTAssertEqual(RNG(1, 2, 3).fork(4).seed, RNG(1, 2, 3, 4).seed)
        XCTAssertEqual(RNG(5).seed, RNG(seed: 5).seed)
        var a = RNG(7, 1), b = RNG(7, 2)
        XCTAssertNotEqual(a.next(), b.next())
        var u = RNG(seed: 9)
        let draws: [Double] = (0..<10_000).map { _ in u.uniform() }
        XCTAssertEqual(draws.reduce(0, +) / 10_000, 0.5, accuracy: 0.01)
        var d = RNG(seed: 3), f = RNG(seed: 3)
        let wide: Double = d.uniform(), narrow: Float = f.uniform()
        XCTAssertEqual(Double(narrow), wide, accuracy: 1.0 / Double(1 << 24))
        XCTAssertLessThanOrEqual(Double(narrow), wide)
    }

    func testSmokeSizesAndNames() {
        for (kind, ds) in Self.smoke {
            XCTAssertEqual([ds.train.count, ds.val.count, ds.test.count], [16, 8, 8], "\(kind)")
            XCTAssertEqual(ds.name, kind.datasetName)
            XCTAssertEqual(ds.source, "proxy:\(kind.rawValue)-smoke-v\(kind.generatorVersion):seed=1")
            for s in ds.all {
                XCTAssertEqual([s.image.width, s.image.height, s.image.channels], [32, 32, 1])
                XCTAssertTrue(s.image.pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
                XCTAssertTrue(s.mask.allSatisfy { $0 <= 1 })
            }
        }
        XCTAssertEqual(ProxyKind.allCases.map(\.datasetName), ["QaTa-COV19", "MosMedData", "Duke-Breast"])
    }

    /// Training sets at the real ratios' size; validation and test sets enlarged so that a 1-Dice difference is
    /// measurable (datasets.md §3, generator v2).
    func testPlansFollowTheRealSplits() {
        func slices(_ plan: [ProxyPatient], _ split: Int) -> Int { plan.filter { $0.split == split }.map(\.slices).reduce(0, +) }
        func patients(_ plan: [ProxyPatient], _ split: Int) -> Int { plan.filter { $0.split == split }.count }
        let qata = proxyPlan(.qata, scale: .paper, seed: 1)
        XCTAssertEqual((0..<3).map { slices(qata, $0) }, [5716, 1429, 2113])
        let qataProxy = proxyPlan(.qata, scale: .proxy, seed: 1)
        XCTAssertEqual((0..<3).map { slices(qataProxy, $0) }, [222, 250, 1000])
        let mosmed = proxyPlan(.mosmed, scale: .paper, seed: 1)
        XCTAssertEqual((0..<3).map { slices(mosmed, $0) }, [2183, 273, 273])
        XCTAssertTrue(mosmed.allSatisfy { $0.slices >= 1 && $0.slices <= 34 })
        XCTAssertEqual(proxyPlan(.mosmed, scale: .paper, seed: 1), mosmed)
        let mosmedProxy = proxyPlan(.mosmed, scale: .proxy, seed: 1)
        XCTAssertEqual((0..<3).map { patients(mosmedProxy, $0) }, [64, 20, 160])
        XCTAssertEqual((0..<3).map { slices(mosmedProxy, $0) }, [320, 100, 800])
        let duke = proxyPlan(.duke, scale: .paper, seed: 1)
        XCTAssertEqual((0..<3).map { patients(duke, $0) }, [645, 92, 185])
        let dukeProxy = proxyPlan(.duke, scale: .proxy, seed: 1)
        XCTAssertEqual((0..<3).map { patients(dukeProxy, $0) }, [42, 20, 160])
        XCTAssertEqual((0..<3).map { slices(dukeProxy, $0) }, [252, 120, 960])
        XCTAssertEqual(Set(duke.map(\.index)).count, duke.count)
        XCTAssertEqual([Scale.smoke, .proxy, .paper].map(\.imageSize), [32, 64, 224])
    }

    func testDeterministicBySeed() {
        for kind in ProxyKind.allCases {
            let again = makeProxy(kind, scale: .smoke, seed: 1)
            XCTAssertEqual(fingerprint(again), fingerprint(Self.smoke[kind]!), "\(kind)")
            XCTAssertEqual(again.train, Self.smoke[kind]!.train)
            XCTAssertNotEqual(fingerprint(makeProxy(kind, scale: .smoke, seed: 2)), fingerprint(again), "\(kind)")
        }
    }

    /// Guards against accidental changes: if a generator changes on purpose, update Papers/TMC/datasets.md first,
    /// then these values, and rerun the proxy tables.
    func testFingerprintsOfTheSmokeProxies() {
        XCTAssertEqual(fingerprint(Self.smoke[.qata]!), 8259828508267977202)
        XCTAssertEqual(fingerprint(Self.smoke[.mosmed]!), 17364689259292149525)
        XCTAssertEqual(fingerprint(Self.smoke[.duke]!), 5018663635581378774)
    }

    func testSplitsArePatientDisjoint() {
        for (kind, ds) in Self.smoke {
            let train = Set(ds.train.map(\.patient)), val = Set(ds.val.map(\.patient)), test = Set(ds.test.map(\.patient))
            XCTAssertTrue(train.isDisjoint(with: val) && train.isDisjoint(with: test) && val.isDisjoint(with: test), "\(kind)")
            XCTAssertEqual(Set(ds.all.map(\.id)).count, 32, "\(kind): ids unique")
        }
        XCTAssertEqual(Set(Self.smoke[.mosmed]!.train.map(\.patient)).count, 8)
        XCTAssertEqual(Set(Self.smoke[.duke]!.test.map(\.patient)).count, 4)
    }

    /// datasets.md §3.2, generator v2: ground glass stands a few noise SDs above the lung it replaces, and the
    /// faint majority less than the denser rest. Generator v1's lesions stood 10–20 SDs above it.
    func testMosMedGroundGlassContrastIsRealistic() {
        let contrasts = (0..<40).flatMap { i in
            MosMedProxy.lesionContrast(index: i, size: 64, rng: RNG(20_240_601, ProxyKind.mosmed.streamCode, UInt64(i)))
        }
        func quantiles(_ x: [Double]) -> [Double] { let s = x.sorted(); return [0.1, 0.5, 0.9].map { s[Int($0 * Double(s.count))] } }
        let noise = quantiles(contrasts.map(\.noise)), lung = quantiles(contrasts.map(\.lung))
        print("MosMed v2 lesion contrast, 10/50/90 %: in noise SDs \(noise), in lesion-free lung SDs \(lung)")
        XCTAssertGreaterThan(contrasts.count, 80)
        XCTAssertGreaterThan(noise[1], 2)
        XCTAssertLessThan(noise[1], 10)
        XCTAssertLessThan(lung[1], 3)
    }

    func testEveryImageHasForeground() {
        for (kind, ds) in Self.smoke {
            for stats in datasetStatistics(ds) { XCTAssertEqual(stats.emptyShare, 0, "\(kind)") }
        }
    }

    func testLungTextAgreesWithMask() {
        for kind in [ProxyKind.qata, .mosmed] {
            for s in Self.smoke[kind]!.all { assertLungText(s) }
        }
        // A few larger images as well, where the lesions are resolved in more detail.
        for i in 0..<4 {
            for s in renderProxyPatient(.mosmed, patient: ProxyPatient(split: 0, index: i, slices: 3), size: 64, seed: 5) {
                assertLungText(s)
            }
            for s in renderProxyPatient(.qata, patient: ProxyPatient(split: 0, index: i, slices: 1), size: 64, seed: 5) {
                assertLungText(s)
            }
        }
    }

    func assertLungText(_ s: SegSample, file: StaticString = #filePath, line: UInt = #line) {
        let w = s.image.width
        let areas = connectedComponents(s.mask, width: w, height: s.image.height).sizes.count
        XCTAssertTrue(s.text.contains(" \(countWord(areas)) infected area"), "\(s.id): \(areas) areas, text \(s.text)", file: file, line: line)
        let columns = s.mask.indices.filter { s.mask[$0] > 0 }.map { $0 % w }
        let mentionsLeft = s.text.contains("left lung"), mentionsRight = s.text.contains("right lung")
        XCTAssertTrue(mentionsLeft || mentionsRight, file: file, line: line)
        XCTAssertEqual(s.text.hasPrefix("Bilateral"), mentionsLeft && mentionsRight, s.text, file: file, line: line)
        // The patient's left lung is on the image's right; the mediastinum keeps each lung on its own side of
        // the middle, give or take the patient's position.
        if !mentionsLeft { XCTAssertTrue(columns.allSatisfy { Double($0) < 0.56 * Double(w) }, "\(s.id): \(s.text)", file: file, line: line) }
        if !mentionsRight { XCTAssertTrue(columns.allSatisfy { Double($0) > 0.44 * Double(w) }, "\(s.id): \(s.text)", file: file, line: line) }
    }

    func testBreastTextAgreesWithMasks() {
        let ds = Self.smoke[.duke]!
        for patient in Set(ds.all.map(\.patient)) {
            let slices = ds.all.filter { $0.patient == patient }
            XCTAssertEqual(slices.count, 2)
            XCTAssertEqual(Set(slices.map(\.text)).count, 1, "one report per patient")
            let text = slices[0].text
            var sumX = 0.0, n = 0.0
            for s in slices {
                XCTAssertEqual(connectedComponents(s.mask, width: 32, height: 32).sizes.count, 1, "\(s.id): one tumour")
                for p in s.mask.indices where s.mask[p] > 0 { sumX += Double(p % 32) + 0.5; n += 1 }
            }
            XCTAssertTrue(text.hasPrefix(sumX / n >= 16 ? "Left breast, one tumour, " : "Right breast, one tumour, "), text)
            XCTAssertNotNil(text.range(of: #"(upper|lower) (outer|inner) quadrant|central region"#, options: .regularExpression), text)
            XCTAssertNotNil(text.range(of: #"diameter about [1-9] cm\.$"#, options: .regularExpression), text)
        }
    }

    func testStatisticsOfAHandMadeSplit() {
        let image = Image2D(width: 2, height: 2, channels: 1, pixels: [0, 1, 0, 1])
        let a = SegSample(id: "a", patient: "p", image: image, mask: [1, 0, 0, 1], text: "")
        let b = SegSample(id: "b", patient: "p", image: image, mask: [0, 0, 0, 0], text: "")
        let st = splitStatistics([a, b])
        XCTAssertEqual(st.samples, 2)
        XCTAssertEqual(st.patients, 1)
        XCTAssertEqual(st.meanForeground, 0.25)
        XCTAssertEqual(st.emptyShare, 0.5)
        XCTAssertEqual(st.meanComponents, 0.5)   // the diagonal pair is one 8-connected component
        XCTAssertEqual(st.pixelMean, 0.5)
        XCTAssertEqual(st.pixelSD, 0.5)
    }
}

final class DescriptionTests: XCTestCase {
    let layout = LungLayout(midline: 6, rightLungRows: 0...9, leftLungRows: 0...9)

    func mask(_ points: [(Int, Int)]) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: 12 * 9)
        for (x, y) in points { m[y * 12 + x] = 1 }
        return m
    }

    func testLViTGrammar() {
        // Image left (x < 6) is the patient's right lung. Rows 0-2 upper, 3-5 middle, 6-8 lower.
        XCTAssertEqual(describeLungInfection(mask: mask([(8, 1), (9, 1), (2, 7)]), width: 12, height: 9, layout: layout),
                       "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung.")
        XCTAssertEqual(describeLungInfection(mask: mask([(8, 4)]), width: 12, height: 9, layout: layout),
                       "Unilateral pulmonary infection, one infected area, middle left lung.")
        XCTAssertEqual(describeLungInfection(mask: mask([(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8)]),
                                             width: 12, height: 9, layout: layout),
                       "Unilateral pulmonary infection, one infected area, all right lung.")
        XCTAssertEqual(describeLungInfection(mask: mask([(8, 4), (8, 5), (8, 6), (10, 1), (3, 7)]), width: 12, height: 9, layout: layout),
                       "Bilateral pulmonary infection, three infected areas, all left lung and lower right lung.")
        XCTAssertEqual(describeLungInfection(mask: mask([(8, 1), (8, 7)]), width: 12, height: 9, layout: layout),
                       "Unilateral pulmonary infection, two infected areas, upper left lung and lower left lung.")
        XCTAssertEqual(describeLungInfection(mask: mask([(8, 1), (8, 7), (2, 4)]), width: 12, height: 9, layout: layout),
                       "Bilateral pulmonary infection, three infected areas, upper left lung, lower left lung and middle right lung.")
        XCTAssertEqual(describeLungInfection(mask: mask([]), width: 12, height: 9, layout: layout), "No pulmonary infection.")
    }

    func testZonesIgnoreSlivers() {
        // 60 pixels in the middle third of the left lung and one in the lower third: the sliver holds under 5 %
        // of that lung's foreground, so it is not a zone of its own (but it is still an area).
        var m = [UInt8](repeating: 0, count: 40 * 9)
        for y in 3..<6 { for x in 20..<40 { m[y * 40 + x] = 1 } }
        m[8 * 40 + 30] = 1
        let wide = LungLayout(midline: 20, rightLungRows: 0...9, leftLungRows: 0...9)
        XCTAssertEqual(describeLungInfection(mask: m, width: 40, height: 9, layout: wide),
                       "Unilateral pulmonary infection, two infected areas, middle left lung.")
    }

    func testCountWords() {
        XCTAssertEqual((1...11).map(countWord), ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "multiple"])
        XCTAssertEqual(joinedList(["a", "b", "c"]), "a, b and c")
    }

    func testBreastGrammar() {
        let layout = BreastLayout(midline: 10, nippleColumns: [5, 15], pixelSpacing: 0.5)
        func square(_ x0: Int, _ y0: Int, _ side: Int) -> [UInt8] {
            var m = [UInt8](repeating: 0, count: 20 * 20)
            for y in y0..<(y0 + side) { for x in x0..<(x0 + side) { m[y * 20 + x] = 1 } }
            return m
        }
        // Image right = patient's left breast; centroid x = 18 is 1.5 cm lateral of the nipple at 15; mean level +2 cm.
        XCTAssertEqual(describeBreastTumour(masks: [square(17, 3, 2), square(16, 3, 4)], levels: [1.5, 2.5], width: 20, height: 20, layout: layout),
                       "Left breast, one tumour, upper outer quadrant, diameter about 3 cm.")
        // Image left = patient's right breast; centroid x = 7 is medial (toward the midline) of the nipple at 5.
        XCTAssertEqual(describeBreastTumour(masks: [square(6, 5, 2)], levels: [-3], width: 20, height: 20, layout: layout),
                       "Right breast, one tumour, lower inner quadrant, diameter about 1 cm.")
        XCTAssertEqual(describeBreastTumour(masks: [square(4, 5, 2)], levels: [0.4], width: 20, height: 20, layout: layout),
                       "Right breast, one tumour, central region, diameter about 1 cm.")
        XCTAssertEqual(feretDiameter([(0, 0), (3, 4), (1, 1)]), 5)
    }

    func testConnectedComponentsUseEightNeighbours() {
        let m: [UInt8] = [1, 0, 0,
                          0, 1, 0,
                          0, 0, 0,
                          1, 1, 0]
        let (labels, sizes) = connectedComponents(m, width: 3, height: 4)
        XCTAssertEqual(sizes, [2, 2])
        XCTAssertEqual(labels, [0, -1, -1, -1, 0, -1, -1, -1, -1, 1, 1, -1])
        XCTAssertEqual(cleanMask(m, width: 3, height: 4, minArea: 3), [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    }
}
