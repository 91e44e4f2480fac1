import XCTest
@testable import Data

final class LViTFolderTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = makeScratchFolder() }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// A writable copy of a fixture data set.
    func copyOf(_ name: String) throws -> URL {
        let dest = scratch.appendingPathComponent(name)
        try FileManager.default.copyItem(at: fixture(name), to: dest)
        return dest
    }

    func testQaTaLayoutWithXLSX() throws {
        let ds = try loadLViTDataset(root: fixture("lvit_qata"), name: "QaTa-COV19", size: 12)
        XCTAssertEqual(ds.name, "QaTa-COV19")
        XCTAssertEqual(ds.train.map(\.id), ["covid_1", "covid_2", "covid_3"])
        XCTAssertEqual(ds.val.map(\.id), ["covid_4"])
        XCTAssertEqual(ds.test.map(\.id), ["covid_5", "covid_6"])
        XCTAssertEqual(ds.source, fixture("lvit_qata").standardizedFileURL.path)
        for s in ds.all { XCTAssertEqual(s.patient, s.id) }
        let s2 = ds.train[1]
        XCTAssertEqual(s2.text, "Unilateral pulmonary infection, one infected area, middle left lung.")
        XCTAssertEqual(s2.image.pixels, fixturePattern(width: 12, height: 12, k: 2))
        XCTAssertEqual(s2.mask, rectangle(width: 12, height: 12, x0: 2, y0: 3, x1: 8, y1: 9))
        // The raw text keeps its typo ("infecion"), as LViT's tables do.
        XCTAssertTrue(ds.test[1].text.hasPrefix("Bilateral pulmonary infecion, three infected areas"))
    }

    func testResizesToTheRequestedSize() throws {
        let ds = try loadLViTDataset(root: fixture("lvit_qata"), name: "QaTa-COV19", size: 8, channels: 3)
        let s = ds.train[0]
        XCTAssertEqual([s.image.width, s.image.height, s.image.channels], [8, 8, 3])
        XCTAssertEqual(Array(s.image.plane(0)), Array(s.image.plane(2)))
        let levels = try readMaskPNG(fixture("lvit_qata/Train_Folder/labelcol/mask_covid_1.png"))
        XCTAssertEqual(s.mask, resizeMask(levels, width: 8, height: 8, mode: .lvit))
        let nearest = try loadLViTDataset(root: fixture("lvit_qata"), name: "QaTa-COV19", size: 8, maskResize: .nearest)
        XCTAssertEqual(nearest.train[0].mask, resizeMask(levels, width: 8, height: 8, mode: .nearest))
    }

    func testCSVLayoutWithPatientsFromFileNames() throws {
        let duke = try loadLViTDataset(root: fixture("lvit_csv"), name: "Duke-Breast", size: 12)
        XCTAssertEqual(duke.train.map(\.id), ["Breast_MRI_001_01", "Breast_MRI_001_02"])
        XCTAssertEqual(duke.train.map(\.patient), ["Breast_MRI_001", "Breast_MRI_001"])
        XCTAssertEqual(duke.val[0].patient, "Breast_MRI_002")
        XCTAssertEqual(duke.val[0].text, "Right breast, one tumour, \"central\" region, diameter about 1 cm.")
        XCTAssertEqual(duke.test[0].text, "Right breast, one tumour,\nlower inner quadrant, diameter about 4 cm.")
        // Masks stored as 0/1 are foreground wherever > 0.
        XCTAssertEqual(duke.train[1].mask, rectangle(width: 12, height: 12, x0: 3, y0: 3, x1: 8, y1: 9))
        let mosmed = try loadLViTDataset(root: fixture("lvit_csv"), name: "MosMedData", size: 12)
        XCTAssertEqual(mosmed.train.map(\.patient), ["Breast_MRI_001_01", "Breast_MRI_001_02"])
        XCTAssertEqual(PatientRule.prefixBeforeLastUnderscore.patient(forStem: "nounderscore"), "nounderscore")
    }

    func testXLSXWinsOverCSV() throws {
        let root = try copyOf("lvit_qata")
        try writeTextTable([("mask_covid_4.png", "from the csv")], to: root.appendingPathComponent("Val_Folder/Val_text.csv"))
        let ds = try loadLViTDataset(root: root, name: "QaTa-COV19", size: 12)
        XCTAssertEqual(ds.val[0].text, "Unilateral pulmonary infection, one infected area, lower right lung.")
    }

    func testTextKeyedByImageNameAlsoWorks() throws {
        let root = try copyOf("lvit_qata")
        let val = root.appendingPathComponent("Val_Folder")
        try FileManager.default.removeItem(at: val.appendingPathComponent("Val_text.xlsx"))
        try writeTextTable([("covid_4", "keyed by the image stem")], to: val.appendingPathComponent("Val_text.csv"))
        XCTAssertEqual(try loadLViTDataset(root: root, name: "QaTa-COV19", size: 12).val[0].text, "keyed by the image stem")
    }

    // MARK: Errors

    func testMissingRootAndSplitFolders() throws {
        let absent = scratch.appendingPathComponent("nowhere")
        guard case .missingFolder? = dataError({ _ = try loadLViTDataset(root: absent, name: "x", size: 8) }) else { return XCTFail() }
        let root = try copyOf("lvit_qata")
        try FileManager.default.removeItem(at: root.appendingPathComponent("Val_Folder"))
        guard let e = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }),
              case let .missingFolder(path, _) = e else { return XCTFail() }
        XCTAssertTrue(path.hasSuffix("Val_Folder"))
        XCTAssertTrue(e.description.contains("Train_Folder, Val_Folder and Test_Folder"), e.description)
        let root2 = scratch.appendingPathComponent("second")
        try FileManager.default.copyItem(at: fixture("lvit_qata"), to: root2)
        try FileManager.default.removeItem(at: root2.appendingPathComponent("Test_Folder/labelcol"))
        guard case let .missingFolder(path2, _)? = dataError({ _ = try loadLViTDataset(root: root2, name: "x", size: 8) }) else { return XCTFail() }
        XCTAssertTrue(path2.hasSuffix("Test_Folder/labelcol"))
    }

    func testMissingTextTable() throws {
        let root = try copyOf("lvit_qata")
        try FileManager.default.removeItem(at: root.appendingPathComponent("Train_Folder/Train_text.xlsx"))
        guard let e = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }),
              case let .missingTextTable(folder) = e else { return XCTFail() }
        XCTAssertTrue(folder.hasSuffix("Train_Folder"))
        XCTAssertTrue(e.description.contains("_text.xlsx"))
    }

    func testCorruptImage() throws {
        let root = try copyOf("lvit_qata")
        let target = root.appendingPathComponent("Test_Folder/img/covid_6.png")
        try FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: fixture("png/truncated.png"), to: target)
        guard case let .unreadablePNG(path, _)? = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }) else { return XCTFail() }
        XCTAssertEqual(path, target.path)
    }

    func testImageAndMaskSizesDiffer() throws {
        let root = try copyOf("lvit_qata")
        let mask = root.appendingPathComponent("Train_Folder/labelcol/mask_covid_2.png")
        try writeMaskPNG([UInt8](repeating: 1, count: 11 * 12), width: 11, height: 12, to: mask)
        guard let e = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }),
              case let .sizeMismatch(image, imageSize, maskPath, maskSize) = e else { return XCTFail() }
        XCTAssertTrue(image.hasSuffix("covid_2.png"))
        XCTAssertEqual(maskPath, mask.path)
        XCTAssertEqual([imageSize, maskSize], ["12×12", "11×12"])
    }

    func testMaskWithoutImage() throws {
        let root = try copyOf("lvit_qata")
        let extra = root.appendingPathComponent("Val_Folder/labelcol/mask_covid_9.png")
        try writeMaskPNG([0, 1], width: 2, height: 1, to: extra)
        guard let e = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }),
              case let .maskWithoutImage(mask, tried) = e else { return XCTFail() }
        XCTAssertEqual(mask, extra.path)
        XCTAssertTrue(tried.contains("covid_9.png"))
        XCTAssertTrue(e.description.contains("Add the image or remove the mask"))
    }

    func testImageWithoutMask() throws {
        let root = try copyOf("lvit_qata")
        let extra = root.appendingPathComponent("Val_Folder/img/covid_9.png")
        try writePNG(Image2D(width: 2, height: 1, channels: 1, pixels: [0, 1]), to: extra)
        guard case let .imageWithoutMask(image)? = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }) else { return XCTFail() }
        XCTAssertEqual(image, extra.path)
    }

    func testTextRowWithoutImageAndItsRelaxation() throws {
        let root = try copyOf("lvit_qata")
        let table = root.appendingPathComponent("Val_Folder/Val_text.xlsx")
        try writeTextTable([("mask_covid_4.png", "kept"), ("mask_covid_1.png", "belongs to train")], to: table)
        guard let e = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }),
              case let .textRowWithoutImage(path, row, key) = e else { return XCTFail() }
        XCTAssertEqual(path, table.path)
        XCTAssertEqual(row, 3)
        XCTAssertEqual(key, "mask_covid_1.png")
        XCTAssertTrue(e.description.contains("strictText: false"))
        let relaxed = try loadLViTDataset(root: root, name: "x", size: 8, strictText: false)
        XCTAssertEqual(relaxed.val.map(\.text), ["kept"])
    }

    func testImageWithoutText() throws {
        let root = try copyOf("lvit_qata")
        let table = root.appendingPathComponent("Test_Folder/Test_text.xlsx")
        try writeTextTable([("mask_covid_5.png", "five"), ("mask_covid_6.png", "")], to: table)
        guard let e = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }),
              case let .imageWithoutText(image, path, tried) = e else { return XCTFail() }
        XCTAssertTrue(image.hasSuffix("img/covid_6.png"))
        XCTAssertEqual(path, table.path)
        XCTAssertEqual(Array(tried.prefix(2)), ["mask_covid_6.png", "covid_6.png"])
    }

    func testDuplicateRows() throws {
        let root = try copyOf("lvit_qata")
        let table = root.appendingPathComponent("Val_Folder/Val_text.xlsx")
        try writeTextTable([("mask_covid_4.png", "a"), ("mask_covid_4.png", "b")], to: table)
        guard case let .duplicateTextRow(path, key, rows)? = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }) else { return XCTFail() }
        XCTAssertEqual(path, table.path)
        XCTAssertEqual(key, "mask_covid_4.png")
        XCTAssertEqual(rows, [2, 3])
    }

    func testNonPNGImage() throws {
        let root = try copyOf("lvit_qata")
        let img = root.appendingPathComponent("Val_Folder/img")
        try FileManager.default.moveItem(at: img.appendingPathComponent("covid_4.png"), to: img.appendingPathComponent("covid_4.tif"))
        guard let e = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }),
              case let .unsupportedImageFormat(path) = e else { return XCTFail() }
        XCTAssertTrue(path.hasSuffix("covid_4.tif"))
        XCTAssertTrue(e.description.contains("convert"))
    }

    func testEmptyImageFolder() throws {
        let root = try copyOf("lvit_qata")
        let img = root.appendingPathComponent("Val_Folder/img")
        try FileManager.default.removeItem(at: img.appendingPathComponent("covid_4.png"))
        guard case let .emptyFolder(path)? = dataError({ _ = try loadLViTDataset(root: root, name: "x", size: 8) }) else { return XCTFail() }
        XCTAssertEqual(path, img.path)
    }

    // MARK: Export

    func testProxyExportedInLViTLayoutLoadsBack() throws {
        let proxy = makeProxy(.qata, scale: .smoke, seed: 3)
        let root = scratch.appendingPathComponent("qata")
        try exportLViTDataset(proxy, to: root)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("Train_Folder/labelcol/mask_covid_1.png").path))
        let back = try loadLViTDataset(root: root, name: "QaTa-COV19", size: 32)
        assertSameSamples(back.train, proxy.train)
        assertSameSamples(back.test, proxy.test)

        let duke = makeProxy(.duke, scale: .smoke, seed: 3)
        let root2 = scratch.appendingPathComponent("duke")
        try exportLViTDataset(duke, to: root2, format: .csv, maskPrefix: "")
        let dukeBack = try loadLViTDataset(root: root2, name: "Duke-Breast", size: 32)
        assertSameSamples(dukeBack.val, duke.val)
        XCTAssertEqual(dukeBack.val.map(\.patient), duke.val.map(\.patient))
    }

    func assertSameSamples(_ a: [SegSample], _ b: [SegSample], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.id), b.map(\.id).sorted(), file: file, line: line)
        let byId = Dictionary(uniqueKeysWithValues: b.map { ($0.id, $0) })
        for s in a {
            let t = byId[s.id]!
            XCTAssertEqual(s.mask, t.mask, file: file, line: line)
            XCTAssertEqual(s.text, t.text, file: file, line: line)
            let worst = zip(s.image.pixels, t.image.pixels).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 0.5 / 255 + 1e-6, file: file, line: line)
        }
    }
}
