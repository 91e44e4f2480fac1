import Foundation
import XCTest
import Engine
import NN
import Models
import Data
@testable import Suite
import TMC

final class FiguresTests: XCTestCase {
    private func assertColor(_ c: RGB, _ r: Float, _ g: Float, _ b: Float, accuracy: Float = 1e-6,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(c.r, r, accuracy: accuracy, file: file, line: line)
        XCTAssertEqual(c.g, g, accuracy: accuracy, file: file, line: line)
        XCTAssertEqual(c.b, b, accuracy: accuracy, file: file, line: line)
    }

    private func grey(_ v: Float, width: Int, height: Int) -> Image2D {
        Image2D(width: width, height: height, channels: 1, pixels: [Float](repeating: v, count: width * height))
    }

    private func pixel(_ image: Image2D, _ x: Int, _ y: Int) -> RGB {
        let n = image.width * image.height, p = y * image.width + x
        return RGB(image.pixels[p], image.pixels[n + p], image.pixels[2 * n + p])
    }

    // MARK: Colour maps

    func testJetEndpointsMiddleAndClamping() {
        assertColor(Colormap.jet.color(0), 0, 0, 0.5)
        assertColor(Colormap.jet.color(1), 0.5, 0, 0)
        assertColor(Colormap.jet.color(0.5), 0.5, 1, 0.5)
        assertColor(Colormap.jet.color(0.25), 0, 0.5, 1)
        XCTAssertEqual(Colormap.jet.color(-3), Colormap.jet.color(0))
        XCTAssertEqual(Colormap.jet.color(7), Colormap.jet.color(1))
        XCTAssertEqual(Colormap.jet.color(.nan), Colormap.jet.color(0))
    }

    func testViridisHitsMatplotlibsColoursAndInterpolates() {
        assertColor(Colormap.viridis.color(0), 68 / 255, 1 / 255, 84 / 255)
        assertColor(Colormap.viridis.color(0.5), 33 / 255, 145 / 255, 140 / 255)
        assertColor(Colormap.viridis.color(1), 253 / 255, 231 / 255, 37 / 255)
        // Half-way between the stops at 0 and 1/8.
        assertColor(Colormap.viridis.color(1 / 16), (68 + 71) / 510, (1 + 45) / 510, (84 + 123) / 510, accuracy: 1e-5)
    }

    func testColormapImageIsChannelMajor() {
        let image = Colormap.jet.image([0, 1], width: 2, height: 1)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual(image.pixels, [0, 0.5, 0, 0, 0.5, 0])
    }

    // MARK: Overlays

    func testContourOfABlockIsItsRing() {
        var mask = [UInt8](repeating: 0, count: 25)
        for y in 1...3 { for x in 1...3 { mask[y * 5 + x] = 1 } }
        let ring = FigureRaster.contour(mask, width: 5, height: 5)
        XCTAssertEqual(ring.reduce(0) { $0 + Int($1) }, 8)
        XCTAssertEqual(ring[2 * 5 + 2], 0, "the centre is inside")
        XCTAssertEqual(ring[1 * 5 + 1], 1)
        XCTAssertEqual(FigureRaster.contour(mask, width: 5, height: 5, thickness: 2), mask, "two steps reach the centre")
        // The image edge counts as background: a full mask's contour is the frame.
        let frame = FigureRaster.contour([UInt8](repeating: 1, count: 16), width: 4, height: 4)
        XCTAssertEqual(frame.reduce(0) { $0 + Int($1) }, 12)
    }

    func testTintMixesOnlyInsideTheMask() {
        let base = FigureRaster.rgb(grey(0.2, width: 2, height: 1))
        let out = FigureRaster.tint(base, mask: [1, 0], color: .red, alpha: 0.5)
        assertColor(pixel(out, 0, 0), 0.6, 0.1, 0.1)
        assertColor(pixel(out, 1, 0), 0.2, 0.2, 0.2)
    }

    func testPredictionPanelPaintsPredictionRedAndTruthOutlineGreen() {
        var mask = [UInt8](repeating: 0, count: 16)
        mask[1 * 4 + 1] = 1
        var probabilities = [Float](repeating: 0.1, count: 16)
        probabilities[2 * 4 + 2] = 0.9
        probabilities[3 * 4 + 3] = 0.5   // the threshold itself is background, as in LViT's metric
        let sample = SegSample(id: "a", patient: "p", image: grey(0.4, width: 4, height: 4), mask: mask, text: "t")
        let panel = FigureRaster.predictionPanel(sample, probabilities: probabilities, factor: 1)
        assertColor(pixel(panel, 2, 2), 0.7, 0.2, 0.2)
        assertColor(pixel(panel, 3, 3), 0.4, 0.4, 0.4)
        assertColor(pixel(panel, 1, 1), 0, 1, 0)
        assertColor(pixel(panel, 0, 0), 0.4, 0.4, 0.4)

        // Enlarged twice: each pixel is a 2 × 2 square, the one-pixel lesion's outline is all four of its pixels.
        let big = FigureRaster.predictionPanel(sample, probabilities: probabilities, factor: 2)
        XCTAssertEqual(big.width, 8)
        XCTAssertEqual(big.height, 8)
        var green = 0, red = 0
        for y in 0..<8 { for x in 0..<8 {
            let c = pixel(big, x, y)
            if c == RGB(0, 1, 0) { green += 1 }
            if abs(c.r - 0.7) < 1e-6 && abs(c.g - 0.2) < 1e-6 { red += 1 }
        } }
        XCTAssertEqual(green, 4)
        XCTAssertEqual(red, 4)
    }

    func testHeatPanelBlendsTheColourMapOverTheImage() {
        let sample = SegSample(id: "a", patient: "p", image: grey(0.5, width: 2, height: 1), mask: [0, 0], text: "t")
        let panel = FigureRaster.heatPanel(sample, heat: HeatMap(values: [0, 1], width: 2, height: 1), factor: 1)
        assertColor(pixel(panel, 0, 0), 0.2, 0.2, 0.5)      // 0.4 · 0.5 + 0.6 · jet(0)
        assertColor(pixel(panel, 1, 0), 0.5, 0.2, 0.2)      // 0.4 · 0.5 + 0.6 · jet(1)
    }

    func testEnlargementRepeatsPixelsAndNormalisationScalesToUnitRange() {
        let image = Image2D(width: 2, height: 1, channels: 1, pixels: [1, 2])
        let big = FigureRaster.enlarged(image, by: 3)
        XCTAssertEqual(big.width, 6)
        XCTAssertEqual(big.height, 3)
        XCTAssertEqual(Array(big.pixels.prefix(6)), [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(FigureRaster.enlarged(mask: [1, 0], width: 2, height: 1, by: 2), [1, 1, 0, 0, 1, 1, 0, 0])
        XCTAssertEqual(FigureRaster.enlargement(for: 32), 4)
        XCTAssertEqual(FigureRaster.enlargement(for: 64), 2)
        XCTAssertEqual(FigureRaster.enlargement(for: 224), 1)
        XCTAssertEqual(FigureRaster.normalized([2, 4, 6]), [0, 0.5, 1])
        XCTAssertEqual(FigureRaster.normalized([3, 3]), [0, 0])
    }

    // MARK: Montage

    func testMontageLayoutSizesAndOrigins() {
        // Fig. 3 at proxy scale: 64-pixel images enlarged twice, 13 columns, three data sets of four images.
        let layout = MontageLayout(cell: 128, columns: 13, groups: [4, 4, 4], gap: 4, header: 22, groupLabel: 22)
        XCTAssertEqual(layout.width, 4 + 13 * 132)
        XCTAssertEqual(layout.height, 22 + 3 * (22 + 4 * 132))
        XCTAssertEqual(layout.groupTop(0), 22)
        XCTAssertEqual(layout.groupTop(1), 22 + 22 + 4 * 132)
        XCTAssertTrue(layout.origin(group: 1, row: 2, column: 3) == (400, 572 + 22 + 2 * 132))
        let last = layout.origin(group: 2, row: 3, column: 12)
        XCTAssertEqual(last.x + layout.cell + layout.gap, layout.width, "the last column ends one gap before the edge")
        XCTAssertEqual(last.y + layout.cell + layout.gap, layout.height)

        let footed = MontageLayout(cell: 64, columns: 2, groups: [1], gap: 2, header: 10, groupLabel: 5, footer: 30)
        XCTAssertEqual(footed.height, 10 + 5 + 66 + 30)
        XCTAssertEqual(footed.footerTop, 81)
    }

    private func solid(_ c: RGB, side: Int) -> Image2D {
        let n = side * side
        return Image2D(width: side, height: side, channels: 3,
                       pixels: [Float](repeating: c.r, count: n) + [Float](repeating: c.g, count: n) + [Float](repeating: c.b, count: n))
    }

    private func sampleMontage() -> Montage {
        // Top half red, bottom half blue: an image drawn upside down would show.
        var flag = solid(.red, side: 40)
        for p in 800..<1600 { flag.pixels[p] = 0; flag.pixels[3200 + p] = 1 }
        let red = Montage.Panel(flag, badge: "83.2")
        let green = Montage.Panel(solid(.green, side: 40))
        return Montage(columns: ["Image", "LViT's"], groups: [
            Montage.Group(label: "QaTa-COV19", rows: [[red, green], [green, nil]]),
        ], cell: 40, footer: Montage.Footer(colorBar: (.jet, "0", "1"), legend: [(FigureRaster.classColor(1), "spleen")]))
    }

    /// Every word is a gnuplot label in screen coordinates (quotes doubled, no enhanced-text markup), every panel one
    /// image plot whose margins are its cell, a missing panel a grey rectangle, the legend a swatch of its colour.
    func testMontageScriptPlacesEveryPanelAndWord() {
        let m = sampleMontage(), l = m.layout
        let script = m.script(panelFile: { "p\($0)\($1)\($2).png" }, barFile: "bar.png", output: "out.png")
        XCTAssertTrue(script.hasPrefix("set terminal pngcairo size \(l.width),\(l.height)"))
        XCTAssertTrue(script.contains("set label 'LViT''s' at screen"), script)
        XCTAssertTrue(script.contains("set label 'QaTa-COV19' at screen"))
        XCTAssertEqual(script.components(separatedBy: "\nplot ").count - 1, 4, "three panels and the colour bar")
        XCTAssertTrue(script.contains("plot 'p001.png' binary filetype=png with rgbimage"))
        XCTAssertFalse(script.contains("p011.png"), "the missing panel has no image")
        XCTAssertEqual(script.components(separatedBy: "fillcolor rgb '#d1d1d1'").count - 1, 1)
        XCTAssertTrue(script.contains("'83.2' at graph 0,1"))
        XCTAssertTrue(script.contains("fillcolor rgb '#4e79a7'"), "the legend's swatch")
        XCTAssertTrue(script.contains("set label 'spleen'"))
        // The first panel's plot area is its cell: x from 4 px, y from the header and the group band down one cell.
        let o = l.origin(group: 0, row: 0, column: 0)
        XCTAssertEqual(o.x, 4)
        XCTAssertTrue(script.contains(String(format: "set lmargin at screen %.6f; set rmargin at screen %.6f",
                                             Double(o.x) / Double(l.width), Double(o.x + 40) / Double(l.width))))
        XCTAssertTrue(script.contains(String(format: "set tmargin at screen %.6f; set bmargin at screen %.6f",
                                             1 - Double(o.y) / Double(l.height), 1 - Double(o.y + 40) / Double(l.height))))
        XCTAssertEqual(Montage.fontSize("UCTransNet", width: 128), 9)
        XCTAssertEqual(Montage.fontSize("a much longer column title", width: 64), 5)
    }

    /// In a one-column montage the colour bar shrinks to the grid and a long legend wraps into more footer lines.
    func testMontageFooterFitsANarrowGrid() {
        let names = ["spleen", "right kidney", "left kidney", "gallbladder", "esophagus", "liver", "stomach", "aorta"]
        let m = Montage(columns: ["Image"], groups: [Montage.Group(label: "BTCV", rows: [[nil]])], cell: 64,
                        footer: Montage.Footer(colorBar: (.jet, "0", "1"), legend: names.enumerated().map { (FigureRaster.classColor(Int32($0.offset + 1)), $0.element) }))
        let plan = m.footerPlan, l = m.layout
        XCTAssertEqual(plan.barWidth, l.width - 8)
        XCTAssertGreaterThan(plan.lines, 4)
        XCTAssertEqual(l.footer, plan.lines * Montage.footerLine)
        XCTAssertTrue(plan.legend.allSatisfy { $0.x >= 4 && $0.x < l.width })
        let script = m.script(panelFile: { _, _, _ in "" }, barFile: nil, output: "o.png")
        XCTAssertTrue(script.contains("plot NaN notitle"), "no panels: an empty plot still draws the labels")
        XCTAssertTrue(script.contains("set label 'no run'"))
    }

    /// Drawn by gnuplot, the montage has the layout's size and each panel's colour where its cell is.
    func testMontageDrawsPanelsInTheirCells() throws {
        guard Gnuplot().isAvailable else { throw XCTSkip("gnuplot is not installed") }
        let m = sampleMontage(), l = m.layout
        let url = try makeTemporaryDirectory(self).appendingPathComponent("m.png")
        try m.draw(to: url)
        let image = FigureRaster.rgb(try readPNG(url))
        XCTAssertEqual([image.width, image.height], [l.width, l.height])
        func centre(_ r: Int, _ c: Int) -> RGB {
            let o = l.origin(group: 0, row: r, column: c)
            return pixel(image, o.x + 30, o.y + 30)   // clear of the badge in the top-left corner
        }
        XCTAssertEqual(centre(0, 0), RGB(0, 0, 1), "the flag's lower half")
        let o = l.origin(group: 0, row: 0, column: 0)
        XCTAssertEqual(pixel(image, o.x + 30, o.y + 10), .red, "the flag's upper half")
        XCTAssertEqual(centre(0, 1), .green)
        XCTAssertEqual(centre(1, 0), .green)
        XCTAssertEqual(pixel(image, 1, l.height / 2), .white, "the gap left of the grid")
    }

    /// A drawing replaces the previous file; a failed one leaves it in place.
    func testMontageReplacesAFigureOnlyWhenDrawn() throws {
        guard Gnuplot().isAvailable else { throw XCTSkip("gnuplot is not installed") }
        let url = try makeTemporaryDirectory(self).appendingPathComponent("m.png")
        try Data("old".utf8).write(to: url)
        try sampleMontage().draw(to: url)
        XCTAssertEqual(try readPNG(url).width, sampleMontage().layout.width)
        let drawn = try Data(contentsOf: url)
        XCTAssertThrowsError(try Gnuplot().render(script: "this is not gnuplot\n", output: url))
        XCTAssertEqual(try Data(contentsOf: url), drawn)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path), ["m.png"],
                       "no temporary file left behind")
    }

    /// Each class of a label map in its own colour, filled translucent over the image and outlined in full.
    func testLabelPanelColoursEachClass() {
        let image = grey(0.5, width: 6, height: 6)
        var labels = [Int32](repeating: 0, count: 36)
        for y in 0..<6 { for x in 0..<3 { labels[y * 6 + x] = 1 } }
        labels[6 * 3 + 4] = 3
        let panel = FigureRaster.labelPanel(image: image, labels: labels, factor: 4)
        XCTAssertEqual([panel.width, panel.height], [24, 24])
        XCTAssertEqual(pixel(panel, 0, 0), FigureRaster.classColor(1), "outline")
        let inside = pixel(panel, 4, 12), c = FigureRaster.classColor(1)
        XCTAssertEqual(inside.r, 0.55 * 0.5 + 0.45 * c.r, accuracy: 1e-5, "fill at 45 %")
        XCTAssertEqual(pixel(panel, 18, 12), FigureRaster.classColor(3))
        XCTAssertEqual(pixel(panel, 22, 2), RGB(0.5, 0.5, 0.5), "background untouched")
        XCTAssertEqual(FigureRaster.classColor(11), FigureRaster.classColor(1), "the palette repeats after ten")
    }

    func testMostLabeledSliceOfAVolume() {
        var labels = [Int32](repeating: 0, count: 3 * 2 * 2)
        labels[4] = 1; labels[9] = 2; labels[10] = 2
        let v = LabeledImage(id: "v", channels: 1, shape: [3, 2, 2], pixels: (0..<12).map(Float.init), labels: labels)
        XCTAssertEqual(v.mostLabeledSlice, 2)
        let s = v.slice(2)
        XCTAssertEqual(s.image.pixels, [8, 9, 10, 11])
        XCTAssertEqual(s.labels, [0, 2, 2, 0])
    }

    // MARK: Cases and maps

    func testCasesSpreadOverImagesWithALesion() {
        XCTAssertEqual(FigureCases.pick(foreground: [0, 5, 0, 3, 2, 0, 1, 4], count: 2), [3, 6])
        XCTAssertEqual(FigureCases.pick(foreground: [0, 5, 0, 3, 2, 0, 1, 4], count: 5), [1, 3, 4, 6, 7])
        XCTAssertEqual(FigureCases.pick(foreground: [0, 0, 1], count: 2), [0, 2], "too few lesions: all images")
        XCTAssertEqual(FigureCases.pick(foreground: [1, 1], count: 4), [0, 1])
    }

    func testPositionsPerWordNormalisesEachWordOverPositions() {
        // Two positions, three tokens (the last padded). Each position's weights over the tokens sum to 1, so the
        // plain mean over the real tokens would be 0.5 everywhere.
        let attention: [Float] = [0.5, 0.5, 0,
                                  0.2, 0.8, 0]
        let map = FigureMaps.positionsPerWord(attention, positions: 2, tokens: 3, mask: [1, 1, 0])
        XCTAssertEqual(map[0], (0.5 / 0.7 + 0.5 / 1.3) / 2, accuracy: 1e-6)
        XCTAssertEqual(map[1], (0.2 / 0.7 + 0.8 / 1.3) / 2, accuracy: 1e-6)
        XCTAssertEqual(map[0] + map[1], 1, accuracy: 1e-6)
        let plane = MapPlane(shape: [4, 2], values: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
        XCTAssertEqual(FigureMaps.bottleneckWords(plane, mask: [1, 1]), HeatMap(values: [0.25, 0.25, 0.25, 0.25], width: 2, height: 2))
        XCTAssertNil(FigureMaps.bottleneckWords(MapPlane(shape: [3, 2], values: [Float](repeating: 0.5, count: 6)), mask: [1, 1]))
    }

    func testConcentrationIsLesionShareOverAreaShare() {
        XCTAssertEqual(try XCTUnwrap(FigureMaps.concentration([1, 1, 1, 1], mask: [1, 0, 0, 0])), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(FigureMaps.concentration([1, 0, 0, 0], mask: [1, 0, 0, 0])), 4, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(FigureMaps.concentration([1, 3, 0, 0], mask: [1, 1, 0, 0])), 2, accuracy: 1e-12)
        XCTAssertNil(FigureMaps.concentration([1, 1], mask: [0, 0]))
        XCTAssertNil(FigureMaps.concentration([0, 0], mask: [1, 0]))
    }

    func testHeatMapResizeOfASingleTokenIsFlat() {
        let map = HeatMap(values: [0.3], width: 1, height: 1).resized(width: 4, height: 4)
        XCTAssertEqual(map.values, [Float](repeating: 0.3, count: 16))
        XCTAssertEqual(FigureMaps.plane(MapPlane(shape: [1, 2, 3], values: [1, 2, 3, 4, 5, 6])),
                       HeatMap(values: [1, 2, 3, 4, 5, 6], width: 3, height: 2))
    }

    // MARK: Methods and reloading

    func testTable1MethodsAreFoundByStoredMethodAndVariant() {
        XCTAssertEqual(TMCMethods.table1.map(\.row.id), ["UNet", "AttUnet", "nnUNet", "TransUNet", "UCTransNet", "UNet++",
                                                         "LViT", "CLIP", "MAP", "MGCA", "TMC (ours)"])
        let tmc = tmcConfig(method: "TMC", variant: "text")
        XCTAssertEqual(TMCMethods.method(for: tmc)?.row.display, "TMC (ours)")
        XCTAssertEqual(TMCMethods.method(for: tmcConfig(method: "CLIP", variant: "text"))?.row.id, "CLIP")
        XCTAssertNil(TMCMethods.method(for: tmcConfig(method: "TMC", variant: "no-MCM")))
    }

    func testRebuildLoadsTheValidationSelectedWeights() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try ResultStore(url: dir.appendingPathComponent("results.sqlite"), codeVersion: "v1")
        let config = tmcConfig(method: "UNet", variant: "image-only", scale: "smoke")
        _ = try store.beginRun(config)
        let record = try XCTUnwrap(store.run(id: config.id))
        let context = ModelContext(scale: .smoke, inChannels: 1, imageSize: 32, textWidth: 384)

        let bestModel = TMCMethods.table1[0].make(context), lastModel = TMCMethods.table1[0].make(context)
        bestModel.initialize(seed: 11)
        lastModel.initialize(seed: 12)
        let best = bestModel.stateDict(), last = lastModel.stateDict()
        var tensors: [String: Tensor] = [:]
        for (k, v) in best { tensors["best." + k] = v }
        for (k, v) in last { tensors["model." + k] = v }
        let url = store.checkpointURL(runId: config.id)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Safetensors.write(tensors, to: url)

        let (model, weights) = try FigureModels.rebuild(record, context: context, checkpoint: url, methods: TMCMethods.table1)
        XCTAssertEqual(weights, "best")
        for (k, v) in model.stateDict() { XCTAssertEqual(v.array, best[k]!.array, k) }
        XCTAssertTrue(best.contains { $0.value.array != last[$0.key]!.array }, "the two weight sets differ")

        // A run that never stored best weights was tested with its last epoch's.
        try Safetensors.write(tensors.filter { $0.key.hasPrefix("model.") }, to: url)
        let (fallback, which) = try FigureModels.rebuild(record, context: context, checkpoint: url, methods: TMCMethods.table1)
        XCTAssertEqual(which, "model")
        for (k, v) in fallback.stateDict() { XCTAssertEqual(v.array, last[k]!.array, k) }
    }
}
