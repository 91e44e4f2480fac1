import Foundation
import Data

// Figures of image panels (TMC's Figs. 3 and 4, MOSMOS's qualitative figures): the panels are rasters the suite
// computes (overlays of predictions, truths, heat maps), written as PNG files; gnuplot places them on a grid and
// sets every word in a real font: column heads, group labels, the numbers printed on panels, a colour bar's ends
// and a legend of class colours. Until 2026-12-01 a hand-drawn canvas did this with a 5×7 bitmap font of capitals.

/// A grid of equal square cells: a header band (column labels), then groups of rows (one group per data set), each
/// under a band for its label, then a footer band. All cells and bands are separated by `gap` pixels.
public struct MontageLayout: Equatable, Sendable {
    public var cell: Int
    public var columns: Int
    /// Rows per group.
    public var groups: [Int]
    public var gap: Int
    public var header: Int
    public var groupLabel: Int
    public var footer: Int

    public init(cell: Int, columns: Int, groups: [Int], gap: Int = 4, header: Int, groupLabel: Int, footer: Int = 0) {
        self.cell = cell; self.columns = columns; self.groups = groups; self.gap = gap
        self.header = header; self.groupLabel = groupLabel; self.footer = footer
    }

    public var width: Int { gap + columns * (cell + gap) }
    public var height: Int { header + groups.reduce(0) { $0 + groupLabel + $1 * (cell + gap) } + footer }

    /// Top of group g's label band.
    public func groupTop(_ g: Int) -> Int {
        header + groups.prefix(g).reduce(0) { $0 + groupLabel + $1 * (cell + gap) }
    }

    /// Top-left corner of a cell.
    public func origin(group g: Int, row r: Int, column c: Int) -> (x: Int, y: Int) {
        (gap + c * (cell + gap), groupTop(g) + groupLabel + r * (cell + gap))
    }

    /// Top of the footer band.
    public var footerTop: Int { height - footer }
}

/// A montage as a value: what goes where. `draw` renders it with gnuplot; `script` is the pure part, for tests.
public struct Montage {
    public struct Panel {
        /// RGB or grey, `cell` pixels square.
        public var image: Image2D
        /// A short text in the panel's top-left corner, white on black (a Dice value, a row number).
        public var badge: String?
        public init(_ image: Image2D, badge: String? = nil) { self.image = image; self.badge = badge }
    }

    public struct Group {
        public var label: String
        /// Rows of panels, one per column; nil draws a grey "no run" cell.
        public var rows: [[Panel?]]
        public init(label: String, rows: [[Panel?]]) { self.label = label; self.rows = rows }
    }

    /// Under the grid: a colour bar with its end values, and/or the colours of a label map's classes.
    public struct Footer {
        public var colorBar: (colormap: Colormap, low: String, high: String)?
        public var legend: [(color: RGB, name: String)]
        public init(colorBar: (colormap: Colormap, low: String, high: String)? = nil, legend: [(color: RGB, name: String)] = []) {
            self.colorBar = colorBar; self.legend = legend
        }
    }

    public var columns: [String]
    public var groups: [Group]
    public var cell: Int
    public var footer: Footer?

    public init(columns: [String], groups: [Group], cell: Int, footer: Footer? = nil) {
        self.columns = columns; self.groups = groups; self.cell = cell; self.footer = footer
    }

    /// Text bands in pixels: 9-point DejaVu Sans is 12 pixels tall at pngcairo's 96 dpi.
    static let band = 20
    static let barHeight = 10
    static let gap = 4

    public var layout: MontageLayout {
        MontageLayout(cell: cell, columns: columns.count, groups: groups.map(\.rows.count), gap: Self.gap, header: Self.band,
                      groupLabel: Self.band, footer: footer == nil ? 0 : footerPlan.lines * Self.footerLine)
    }

    static var footerLine: Int { barHeight + band + 8 }

    /// Where the footer's items go: the colour bar (two cells wide, or the grid's width if narrower) first, then the
    /// legend's swatches, wrapped into as many lines as the grid's width needs.
    var footerPlan: (barWidth: Int, legend: [(x: Int, line: Int)], lines: Int) {
        let gap = Self.gap, width = MontageLayout(cell: cell, columns: columns.count, groups: [], gap: gap, header: 0, groupLabel: 0).width
        let barWidth = footer?.colorBar == nil ? 0 : max(1, min(2 * cell, width - 2 * gap))
        var x = gap + (barWidth > 0 ? barWidth + 4 * gap : 0), line = 0
        var placed: [(x: Int, line: Int)] = []
        for item in footer?.legend ?? [] {
            let step = max(cell / 2, Self.barHeight + 8 * (item.name.count + 1))
            if x + step > width, x > gap { x = gap; line += 1 }
            placed.append((x, line))
            x += step
        }
        return (barWidth, placed, footer == nil ? 0 : line + 1)
    }

    /// The largest font size (points, 5 to 9) at which `text` fits in `width` pixels: a DejaVu Sans character is
    /// about 0.55 em wide on average, and a point is 4/3 pixel.
    static func fontSize(_ text: String, width: Int) -> Int {
        let perPoint = 0.55 * 4.0 / 3.0 * Double(max(text.count, 1))
        return min(9, max(5, Int(Double(width) / perPoint)))
    }

    /// A gnuplot string literal: single quotes, in which only a single quote needs escaping (doubled).
    static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    static func hex(_ c: RGB) -> String {
        func byte(_ v: Float) -> String { String(format: "%02x", Int((min(max(v, 0), 1) * 255).rounded())) }
        return "#" + byte(c.r) + byte(c.g) + byte(c.b)
    }

    /// The gnuplot script. `panelFile(g, r, c)` names the PNG of each panel that is not nil, `barFile` the colour
    /// bar's PNG when the footer has one.
    public func script(panelFile: (Int, Int, Int) -> String, barFile: String?, output: String) -> String {
        let l = layout
        let (w, h) = (Double(l.width), Double(l.height))
        func sx(_ x: Int) -> String { String(format: "%.6f", Double(x) / w) }
        func sy(_ y: Int) -> String { String(format: "%.6f", 1 - Double(y) / h) }   // from the top, in pixels
        var s = [
            "set terminal pngcairo size \(l.width),\(l.height) font 'DejaVu Sans,9' background rgb 'white'",
            "set output \(Self.quoted(output))",
            "unset key; unset border; unset tics; unset colorbox",
            "set style textbox opaque fillcolor rgb 'black' noborder margins 1,1",
            "set multiplot",
        ]
        // Everything in screen coordinates is set once and drawn with the first plot.
        var decorations: [String] = []
        for (c, name) in columns.enumerated() {
            let x = l.origin(group: 0, row: 0, column: c).x + cell / 2
            decorations.append("set label \(Self.quoted(name)) at screen \(sx(x)),\(sy(l.header / 2)) center noenhanced font ',\(Self.fontSize(name, width: cell))'")
        }
        for (g, group) in groups.enumerated() {
            let y = l.groupTop(g) + l.groupLabel / 2
            decorations.append("set label \(Self.quoted(group.label)) at screen \(sx(l.gap)),\(sy(y)) left noenhanced font ',9'")
            for (r, row) in group.rows.enumerated() {
                for (c, panel) in row.enumerated() where panel == nil {
                    let o = l.origin(group: g, row: r, column: c)
                    decorations.append("set object rectangle from screen \(sx(o.x)),\(sy(o.y + cell)) to screen \(sx(o.x + cell)),\(sy(o.y)) fillcolor rgb '#d1d1d1' fillstyle solid noborder behind")
                    decorations.append("set label 'no run' at screen \(sx(o.x + cell / 2)),\(sy(o.y + cell / 2)) center font ',\(Self.fontSize("no run", width: cell))' textcolor rgb '#707070'")
                }
            }
        }
        let plan = footerPlan
        func lineTop(_ line: Int) -> Int { l.footerTop + line * Self.footerLine + 4 }
        if let footer {
            let textY = lineTop(0) + Self.barHeight + Self.band / 2
            if let bar = footer.colorBar {
                decorations.append("set label \(Self.quoted(bar.low)) at screen \(sx(l.gap)),\(sy(textY)) left noenhanced")
                decorations.append("set label \(Self.quoted(bar.high)) at screen \(sx(l.gap + plan.barWidth)),\(sy(textY)) right noenhanced")
            }
            for (item, at) in zip(footer.legend, plan.legend) {
                let top = lineTop(at.line)
                decorations.append("set object rectangle from screen \(sx(at.x)),\(sy(top + Self.barHeight)) to screen \(sx(at.x + Self.barHeight)),\(sy(top)) fillcolor rgb '\(Self.hex(item.color))' fillstyle solid noborder")
                decorations.append("set label \(Self.quoted(item.name)) at screen \(sx(at.x + Self.barHeight + 3)),\(sy(top + Self.barHeight / 2)) left noenhanced")
            }
        }
        // One plot per image, its plot area exactly its cell, so that cairo copies the panel pixel for pixel.
        var images: [(file: String, x: Int, y: Int, area: (width: Int, height: Int), pixels: (width: Int, height: Int), badge: String?)] = []
        for (g, group) in groups.enumerated() {
            for (r, row) in group.rows.enumerated() {
                for (c, panel) in row.enumerated() {
                    guard let panel else { continue }
                    let o = l.origin(group: g, row: r, column: c)
                    images.append((panelFile(g, r, c), o.x, o.y, (cell, cell), (panel.image.width, panel.image.height), panel.badge))
                }
            }
        }
        if let bar = barFile {
            images.append((bar, l.gap, l.footerTop + 4, (plan.barWidth, Self.barHeight), (plan.barWidth, Self.barHeight), nil))
        }
        if images.isEmpty {
            // Nothing to plot: one empty plot still draws the labels, cells and legend.
            s += decorations
            s.append("set xrange [0:1]; set yrange [0:1]")
            s.append("plot NaN notitle")
        }
        for (i, im) in images.enumerated() {
            if i == 0 { s += decorations }
            s.append("set lmargin at screen \(sx(im.x)); set rmargin at screen \(sx(im.x + im.area.width))")
            s.append("set tmargin at screen \(sy(im.y)); set bmargin at screen \(sy(im.y + im.area.height))")
            s.append("set xrange [-0.5:\(im.pixels.width) - 0.5]; set yrange [-0.5:\(im.pixels.height) - 0.5]")
            if let badge = im.badge {
                s.append("set label 1001 \(Self.quoted(badge)) at graph 0,1 left offset character 0.4,-0.7 front boxed textcolor rgb 'white' noenhanced font ',\(min(9, Self.fontSize(badge, width: cell / 2)))'")
            }
            s.append("plot \(Self.quoted(im.file)) binary filetype=png with rgbimage")
            if i == 0 { s.append("unset label; unset object") }
            if im.badge != nil { s.append("unset label 1001") }
        }
        s += ["unset multiplot", "set output"]
        return s.joined(separator: "\n") + "\n"
    }

    /// Renders the montage to `png`.
    public func draw(to png: URL, gnuplot: Gnuplot = Gnuplot()) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("repro-montage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func file(_ g: Int, _ r: Int, _ c: Int) -> URL { folder.appendingPathComponent("p\(g)-\(r)-\(c).png") }
        for (g, group) in groups.enumerated() {
            for (r, row) in group.rows.enumerated() {
                precondition(row.count == columns.count, "montage row \(r) of \(group.label) has \(row.count) panels for \(columns.count) columns")
                for (c, panel) in row.enumerated() {
                    guard let panel else { continue }
                    precondition(panel.image.width == cell && panel.image.height == cell,
                                 "montage panel \(g)/\(r)/\(c) is \(panel.image.height)×\(panel.image.width), cells are \(cell)")
                    try writePNG(FigureRaster.rgb(panel.image), to: file(g, r, c))
                }
            }
        }
        var barFile: String?
        if let bar = footer?.colorBar {
            let w = footerPlan.barWidth
            let ramp = (0..<Self.barHeight).flatMap { _ in (0..<w).map { Float($0) / Float(max(w - 1, 1)) } }
            let url = folder.appendingPathComponent("bar.png")
            try writePNG(bar.colormap.image(ramp, width: w, height: Self.barHeight), to: url)
            barFile = url.path
        }
        try FileManager.default.createDirectory(at: png.deletingLastPathComponent(), withIntermediateDirectories: true)
        try gnuplot.render(script: script(panelFile: { file($0, $1, $2).path }, barFile: barFile, output: "%OUTPUT%"), output: png)
    }
}
