import Foundation
import XCTest
@testable import Suite

final class PlotTests: XCTestCase {
    private let bars = Figure(title: "Dice", yLabel: "Dice (%)", content: .bars([
        BarPanel(title: "QaTa-COV19", categories: ["UNet", "LViT's \"code\""], series: [
            BarSeries(name: "published", values: [79.94, 83.71]),
            BarSeries(name: "reproduced", values: [80, nil], errors: [1.5, nil]),
        ]),
        BarPanel(title: "empty", categories: [], series: []),
    ]))

    func testBarDataHasOneBlockPerPanelAndMarksGaps() {
        XCTAssertEqual(Gnuplot.data(for: bars), "\"UNet\" 79.94 0 80 1.5\n\"LViT's 'code'\" 83.71 0 ? ?\n")
    }

    func testScriptWritesBothFormatsAndSkipsEmptyPanels() {
        let script = Gnuplot.script(for: bars, dataFile: "/tmp/d.dat", png: "/out/f.png", svg: "/out/f.svg")
        XCTAssertTrue(script.contains("set terminal pngcairo size 440,380 noenhanced"))
        XCTAssertTrue(script.contains("set output '/out/f.png'"))
        XCTAssertTrue(script.contains("set terminal svg size 440,380 dynamic noenhanced"))
        XCTAssertTrue(script.contains("set output '/out/f.svg'"))
        XCTAssertTrue(script.contains("set multiplot layout 1,1 title 'Dice'"))
        XCTAssertTrue(script.contains("plot '/tmp/d.dat' index 0 using 2:3:xtic(1) title 'published', '/tmp/d.dat' index 0 using 4:5 title 'reproduced'"))
        XCTAssertEqual(script.components(separatedBy: "plot '/tmp/d.dat'").count - 1, 2, "the body appears once per terminal")
        XCTAssertFalse(script.contains("'empty'"))
    }

    func testLineDataSkipsEmptySeriesSoIndicesStayAligned() {
        let figure = Figure(title: "curves", xLabel: "epoch", yLabel: "val Dice", content: .lines([
            LinePanel(title: "A", series: [LineSeries(name: "UNet", x: [1, 2], y: [50, 60.5]),
                                           LineSeries(name: "none", x: [], y: []),
                                           LineSeries(name: "TMC", x: [1], y: [55])]),
            LinePanel(title: "B", series: [LineSeries(name: "UNet", x: [1], y: [40])]),
        ]))
        XCTAssertEqual(Gnuplot.data(for: figure), "1 50\n2 60.5\n\n\n1 55\n\n\n1 40\n")
        let script = Gnuplot.script(for: figure, dataFile: "d", png: "p", svg: "s")
        XCTAssertTrue(script.contains("plot 'd' index 0 using 1:2 with lines lw 2 title 'UNet', 'd' index 1 using 1:2 with lines lw 2 title 'TMC'"))
        XCTAssertTrue(script.contains("plot 'd' index 2 using 1:2 with lines lw 2 title 'UNet'"))
        XCTAssertTrue(script.contains("set multiplot layout 1,2"))
        XCTAssertFalse(script.contains("'none'"))
    }

    func testGnuplotDrawsPNGAndSVG() throws {
        let gnuplot = Gnuplot()
        guard gnuplot.isAvailable else { throw XCTSkip("gnuplot is not installed") }
        let dir = try makeTemporaryDirectory(self)
        let (png, svg) = try gnuplot.draw(bars, to: dir.appendingPathComponent("figures/bars"))
        XCTAssertEqual(png.lastPathComponent, "bars.png")
        XCTAssertEqual(Array(try Data(contentsOf: png).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertTrue(try String(contentsOf: svg, encoding: .utf8).contains("QaTa-COV19"))
    }

    func testMissingOrEmptyInputsAreErrors() throws {
        XCTAssertThrowsError(try Gnuplot(executable: nil).draw(bars, to: URL(fileURLWithPath: "/tmp/x")))
        XCTAssertNil(Gnuplot.find(environment: ["PATH": "/nonexistent"]))
        let empty = Figure(title: "nothing", yLabel: "", content: .lines([LinePanel(title: "A", series: [])]))
        XCTAssertTrue(empty.isEmpty)
        XCTAssertThrowsError(try Gnuplot(executable: URL(fileURLWithPath: "/bin/true")).draw(empty, to: URL(fileURLWithPath: "/tmp/x")))
    }
}
