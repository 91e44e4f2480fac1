import Foundation
import ArgumentParser
import Engine
import NN
import Models
import Data
import Metrics

// MARK: - Montage

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

/// An RGB drawing surface.
public struct Canvas {
    public private(set) var image: Image2D

    public init(width: Int, height: Int, background: RGB = .white) {
        let n = width * height
        image = Image2D(width: width, height: height, channels: 3,
                        pixels: [Float](repeating: background.r, count: n) + [Float](repeating: background.g, count: n)
                            + [Float](repeating: background.b, count: n))
    }

    private mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
        let n = image.width * image.height, p = y * image.width + x
        image.pixels[p] = c.r; image.pixels[n + p] = c.g; image.pixels[2 * n + p] = c.b
    }

    /// Copies an RGB image with its top-left corner at (x, y); what falls outside is cut.
    public mutating func place(_ panel: Image2D, x: Int, y: Int) {
        let src = FigureRaster.rgb(panel)
        let n = src.width * src.height
        for py in 0..<src.height {
            for px in 0..<src.width {
                let p = py * src.width + px
                set(x + px, y + py, RGB(src.pixels[p], src.pixels[n + p], src.pixels[2 * n + p]))
            }
        }
    }

    public mutating func fill(x: Int, y: Int, width: Int, height: Int, color: RGB) {
        for py in y..<(y + height) { for px in x..<(x + width) { set(px, py, color) } }
    }

    /// Draws `text` with its top-left corner at (x, y).
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int, color: RGB = .black) {
        for (i, ch) in text.enumerated() {
            let cells = BitmapFont.glyph(ch)
            let left = x + i * BitmapFont.advance * scale
            for (gy, row) in cells.enumerated() {
                for (gx, on) in row.enumerated() where on {
                    fill(x: left + gx * scale, y: y + gy * scale, width: scale, height: scale, color: color)
                }
            }
        }
    }

    /// White text on a black box, for numbers printed over an image.
    public mutating func label(_ text: String, x: Int, y: Int, scale: Int) {
        let pad = scale
        fill(x: x, y: y, width: BitmapFont.width(text, scale: scale) + 2 * pad, height: BitmapFont.height(scale: scale) + 2 * pad, color: .black)
        self.text(text, x: x + pad, y: y + pad, scale: scale, color: .white)
    }

    /// The largest scale up to `scale` at which `text` fits in `width` pixels (at least 1).
    public static func fittingScale(_ text: String, width: Int, scale: Int) -> Int {
        var s = max(scale, 1)
        while s > 1 && BitmapFont.width(text, scale: s) > width { s -= 1 }
        return s
    }

    /// A horizontal colour bar of `colormap` from 0 (left) to 1 (right).
    public mutating func colorBar(_ colormap: Colormap, x: Int, y: Int, width: Int, height: Int) {
        for px in 0..<width {
            let c = colormap.color(width > 1 ? Float(px) / Float(width - 1) : 0)
            fill(x: x + px, y: y, width: 1, height: height, color: c)
        }
    }
}
