import XCTest
@testable import Data

final class PNGTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = makeScratchFolder() }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func testEightBitGrey() throws {
        let image = try readPNG(fixture("png/gray8.png"))
        XCTAssertEqual([image.width, image.height, image.channels], [7, 5, 1])
        XCTAssertEqual(image.pixels, fixturePattern(width: 7, height: 5, k: 0))
    }

    func testSixteenBitGreyKeepsFullPrecision() throws {
        let image = try readPNG(fixture("png/gray16.png"))
        XCTAssertEqual([image.width, image.height, image.channels], [6, 4, 1])
        for y in 0..<4 {
            for x in 0..<6 {
                XCTAssertEqual(image.pixels[y * 6 + x], Float(x * 10000 + y * 1000 + 7) / 65535, accuracy: 1e-7)
            }
        }
    }

    func testRGBIsChannelMajor() throws {
        let image = try readPNG(fixture("png/rgb8.png"))
        XCTAssertEqual([image.width, image.height, image.channels], [5, 3, 3])
        for c in 0..<3 { XCTAssertEqual(Array(image.plane(c)), fixturePattern(width: 5, height: 3, k: c)) }
    }

    func testAlphaIsDropped() throws {
        let rgba = try readPNG(fixture("png/rgba8.png"))
        XCTAssertEqual([rgba.width, rgba.height, rgba.channels], [4, 3, 3])
        let rgb = fixturePattern(width: 5, height: 3, k: 1)
        XCTAssertEqual(rgba.pixels[4 * 3 + 1 * 4 + 2], rgb[1 * 5 + 2])
        let greyAlpha = try readPNG(fixture("png/graya8.png"))
        XCTAssertEqual(greyAlpha.channels, 1)
        XCTAssertEqual(greyAlpha.pixels, fixturePattern(width: 4, height: 2, k: 0))
    }

    func testPaletteExpandsToRGB() throws {
        let image = try readPNG(fixture("png/palette.png"))
        XCTAssertEqual([image.width, image.height, image.channels], [4, 2, 3])
        let r = Array(image.plane(0)), g = Array(image.plane(1)), b = Array(image.plane(2))
        XCTAssertEqual(r, [1, 0, 0, 10.0 / 255, 10.0 / 255, 0, 0, 1])
        XCTAssertEqual(g, [0, 1, 0, 20.0 / 255, 20.0 / 255, 0, 1, 0])
        XCTAssertEqual(b, [0, 0, 1, 30.0 / 255, 30.0 / 255, 1, 0, 0])
    }

    func testColourMaskUsesOpenCVGreyLevels() throws {
        // OpenCV (cv2.imread(path, 0)) gives [0, 255, 0, 0, 0, 1]: blue level 1 rounds to grey 0.
        let mask = try readMaskPNG(fixture("png/mask_rgb.png"))
        XCTAssertEqual(mask.levels, [0, 255, 0, 0, 0, 1])
        XCTAssertEqual(mask.binary, [0, 1, 0, 0, 0, 1])
    }

    func testCorruptFilesNameTheFile() {
        for name in ["corrupt_crc.png", "truncated.png", "not_a_png.png"] {
            let url = fixture("png/\(name)")
            guard let error = dataError({ _ = try readPNG(url) }) else { continue }
            guard case let .unreadablePNG(path, reason) = error else { return XCTFail("\(name): \(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertFalse(reason.isEmpty)
            XCTAssertTrue(error.description.contains(name) && error.description.contains("Re-export"), error.description)
        }
        let missing = scratch.appendingPathComponent("absent.png")
        guard case .unreadablePNG? = dataError({ _ = try readPNG(missing) }) else { return XCTFail("missing file") }
    }

    func testRoundTripGreyAndRGB() throws {
        let grey = Image2D(width: 9, height: 4, channels: 1, pixels: (0..<36).map { Float(($0 * 7) % 256) / 255 })
        try writePNG(grey, to: scratch.appendingPathComponent("g.png"))
        XCTAssertEqual(try readPNG(scratch.appendingPathComponent("g.png")), grey)
        let rgb = Image2D(width: 3, height: 2, channels: 3, pixels: (0..<18).map { Float(($0 * 29) % 256) / 255 })
        try writePNG(rgb, to: scratch.appendingPathComponent("c.png"))
        XCTAssertEqual(try readPNG(scratch.appendingPathComponent("c.png")), rgb)
    }

    func testWriteClampsAndRounds() throws {
        let image = Image2D(width: 4, height: 1, channels: 1, pixels: [-0.5, 0.5, 1.7, 0.1])
        try writePNG(image, to: scratch.appendingPathComponent("r.png"))
        XCTAssertEqual(try readPNG(scratch.appendingPathComponent("r.png")).pixels, [0, 128.0 / 255, 1, 26.0 / 255])
    }

    func testMaskRoundTripStoresZeroAnd255() throws {
        let mask = rectangle(width: 5, height: 4, x0: 1, y0: 1, x1: 3, y1: 4)
        try writeMaskPNG(mask, width: 5, height: 4, to: scratch.appendingPathComponent("m.png"))
        let back = try readMaskPNG(scratch.appendingPathComponent("m.png"))
        XCTAssertEqual(back.levels, mask.map { $0 * 255 })
        XCTAssertEqual(back.binary, mask)
    }

    func testWritingTwoChannelsFails() {
        let image = Image2D(width: 1, height: 1, channels: 2, pixels: [0, 0])
        guard case .writeFailed? = dataError({ try writePNG(image, to: scratch.appendingPathComponent("x.png")) }) else {
            return XCTFail("two channels must be refused")
        }
    }
}

/// Resizing against OpenCV 4 (golden values from scripts/make_data_fixtures.py).
final class ResizeTests: XCTestCase {
    var golden: [String: Any] = [:]

    override func setUpWithError() throws {
        let data = try Foundation.Data(contentsOf: fixture("golden_cv2.json"))
        golden = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func ints(_ key: String) -> [Int] { (golden[key] as! [NSNumber]).map(\.intValue) }

    func testMasksMatchLViTsBilinearThenPositive() throws {
        let m255 = try readMaskPNG(fixture("resize/mask255.png")), m01 = try readMaskPNG(fixture("resize/mask01.png"))
        for (w, h) in [(8, 8), (16, 16), (5, 7)] {
            XCTAssertEqual(resizeMask(m255, width: w, height: h, mode: .lvit).map(Int.init), ints("mask255_linear_\(w)x\(h)"))
            XCTAssertEqual(resizeMask(m01, width: w, height: h, mode: .lvit).map(Int.init), ints("mask01_linear_\(w)x\(h)"))
            XCTAssertEqual(resizeMask(m255, width: w, height: h, mode: .nearest).map(Int.init), ints("mask255_nearest_\(w)x\(h)"))
        }
    }

    func testZeroOneMasksShrinkUnderLViTsResize() throws {
        // Same shape stored as 0/1 instead of 0/255: OpenCV rounds weak interpolations to 0 and the mask shrinks.
        let m255 = try readMaskPNG(fixture("resize/mask255.png")), m01 = try readMaskPNG(fixture("resize/mask01.png"))
        let a = resizeMask(m255, width: 8, height: 8, mode: .lvit).reduce(0) { $0 + Int($1) }
        let b = resizeMask(m01, width: 8, height: 8, mode: .lvit).reduce(0) { $0 + Int($1) }
        XCTAssertEqual(a, 24)
        XCTAssertEqual(b, 16)
    }

    func testImagesMatchOpenCVWithinOneGreyLevel() throws {
        let image = try readPNG(fixture("resize/image.png"))
        for (w, h) in [(8, 8), (16, 16), (5, 7)] {
            let ours = resizeBilinear(image, width: w, height: h).pixels
            let theirs = ints("image_linear_\(w)x\(h)")
            XCTAssertEqual(ours.count, theirs.count)
            for (a, b) in zip(ours, theirs) { XCTAssertEqual(Double(a) * 255, Double(b), accuracy: 1.0) }
        }
    }

    func testSameSizeIsIdentity() throws {
        let image = try readPNG(fixture("resize/image.png"))
        XCTAssertEqual(resizeBilinear(image, width: 12, height: 10), image)
    }

    func testChannelConversion() {
        let rgb = Image2D(width: 1, height: 1, channels: 3, pixels: [1, 0.5, 0])
        XCTAssertEqual(convertChannels(rgb, to: 1).pixels[0], 0.299 + 0.587 * 0.5, accuracy: 1e-6)
        let grey = Image2D(width: 2, height: 1, channels: 1, pixels: [0.25, 0.75])
        XCTAssertEqual(convertChannels(grey, to: 3).pixels, [0.25, 0.75, 0.25, 0.75, 0.25, 0.75])
    }
}
