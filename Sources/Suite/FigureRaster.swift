import Foundation
import ArgumentParser
import Engine
import NN
import Models
import Data
import Metrics

// MARK: - Raster

public struct RGB: Equatable, Sendable {
    public var r: Float, g: Float, b: Float
    public init(_ r: Float, _ g: Float, _ b: Float) { self.r = r; self.g = g; self.b = b }
    public static let white = RGB(1, 1, 1)
    public static let black = RGB(0, 0, 0)
    public static let red = RGB(1, 0, 0)
    public static let green = RGB(0, 1, 0)
    public static let grey = RGB(0.82, 0.82, 0.82)
}

public enum Colormap: Sendable {
    /// MATLAB's jet: dark blue (0) → cyan → yellow → dark red (1), the usual look of segmentation heat maps.
    case jet
    /// Matplotlib's viridis, by linear interpolation between its nine colours at i/8.
    case viridis

    static let viridisStops: [RGB] = ([(0x44, 0x01, 0x54), (0x47, 0x2d, 0x7b), (0x3b, 0x52, 0x8b), (0x2c, 0x72, 0x8e),
                                      (0x21, 0x91, 0x8c), (0x28, 0xae, 0x80), (0x5e, 0xc9, 0x62), (0xad, 0xdc, 0x30),
                                      (0xfd, 0xe7, 0x25)] as [(Int, Int, Int)]).map { RGB(Float($0.0) / 255, Float($0.1) / 255, Float($0.2) / 255) }

    /// The colour of `t`, clamped to [0, 1]; NaN maps to 0.
    public func color(_ t: Float) -> RGB {
        let x = t.isNaN ? 0 : min(max(t, 0), 1)
        switch self {
        case .jet:
            func ramp(_ c: Float) -> Float { min(max(1.5 - abs(4 * x - c), 0), 1) }
            return RGB(ramp(3), ramp(2), ramp(1))
        case .viridis:
            let stops = Colormap.viridisStops
            let f = x * Float(stops.count - 1)
            let i = min(Int(f), stops.count - 2)
            let w = f - Float(i)
            let a = stops[i], b = stops[i + 1]
            return RGB(a.r + (b.r - a.r) * w, a.g + (b.g - a.g) * w, a.b + (b.b - a.b) * w)
        }
    }

    /// A 3-channel image of `values` (row-major, in [0, 1]).
    public func image(_ values: [Float], width: Int, height: Int) -> Image2D {
        let n = width * height
        precondition(values.count == n, "Colormap.image: \(values.count) values for \(height)×\(width)")
        var px = [Float](repeating: 0, count: 3 * n)
        for (p, v) in values.enumerated() {
            let c = color(v)
            px[p] = c.r; px[n + p] = c.g; px[2 * n + p] = c.b
        }
        return Image2D(width: width, height: height, channels: 3, pixels: px)
    }
}

public enum FigureRaster {
    /// Whole enlargement that brings an image side to at least 128 pixels (1 when it already is).
    public static func enlargement(for side: Int) -> Int { max(1, 128 / max(side, 1)) }

    /// Grey images become three equal channels; colour ones keep their first three.
    public static func rgb(_ image: Image2D) -> Image2D {
        if image.channels == 3 { return image }
        let n = image.width * image.height
        let planes = image.channels >= 3 ? Array(image.pixels[0..<(3 * n)]) : Array(image.plane(0)) + Array(image.plane(0)) + Array(image.plane(0))
        return Image2D(width: image.width, height: image.height, channels: 3, pixels: planes)
    }

    /// Two RGB panels of one height side by side, a 4-pixel white gap between them.
    public static func beside(_ a: Image2D, _ b: Image2D) -> Image2D {
        precondition(a.height == b.height && a.channels == 3 && b.channels == 3, "beside: panels \(a.height) and \(b.height) high")
        let gap = 4, w = a.width + gap + b.width, h = a.height
        var pixels = [Float](repeating: 1, count: w * h * 3)
        for c in 0..<3 {
            for y in 0..<h {
                for x in 0..<a.width { pixels[(c * h + y) * w + x] = a.pixels[(c * h + y) * a.width + x] }
                for x in 0..<b.width { pixels[(c * h + y) * w + a.width + gap + x] = b.pixels[(c * h + y) * b.width + x] }
            }
        }
        return Image2D(width: w, height: h, channels: 3, pixels: pixels)
    }

    /// Nearest-neighbour enlargement by a whole factor, so that every pixel stays a visible square.
    public static func enlarged(_ image: Image2D, by f: Int) -> Image2D {
        guard f > 1 else { return image }
        let (w, h, c) = (image.width, image.height, image.channels)
        let ow = w * f, oh = h * f
        var out = [Float](repeating: 0, count: ow * oh * c)
        for ch in 0..<c {
            for y in 0..<oh {
                let src = ch * w * h + (y / f) * w, dst = ch * ow * oh + y * ow
                for x in 0..<ow { out[dst + x] = image.pixels[src + x / f] }
            }
        }
        return Image2D(width: ow, height: oh, channels: c, pixels: out)
    }

    public static func enlarged(mask: [UInt8], width: Int, height: Int, by f: Int) -> [UInt8] {
        guard f > 1 else { return mask }
        var out = [UInt8](repeating: 0, count: width * height * f * f)
        for y in 0..<(height * f) {
            for x in 0..<(width * f) { out[y * width * f + x] = mask[(y / f) * width + x / f] }
        }
        return out
    }

    /// The mask's inner border, `thickness` pixels wide: mask pixels within that many 4-neighbour steps of the
    /// background (the image's edge counts as background).
    public static func contour(_ mask: [UInt8], width: Int, height: Int, thickness: Int = 1) -> [UInt8] {
        var inner = mask.map { $0 != 0 ? UInt8(1) : 0 }
        let full = inner
        for _ in 0..<max(thickness, 1) {
            var next = inner
            for y in 0..<height {
                for x in 0..<width where inner[y * width + x] != 0 {
                    let edge = x == 0 || y == 0 || x == width - 1 || y == height - 1
                    if edge || inner[y * width + x - 1] == 0 || inner[y * width + x + 1] == 0
                        || inner[(y - 1) * width + x] == 0 || inner[(y + 1) * width + x] == 0 {
                        next[y * width + x] = 0
                    }
                }
            }
            inner = next
        }
        return zip(full, inner).map { $0 != 0 && $1 == 0 ? 1 : 0 }
    }

    /// `(1 − alpha) · image + alpha · color` where the mask is set.
    public static func tint(_ image: Image2D, mask: [UInt8], color: RGB, alpha: Float) -> Image2D {
        let n = image.width * image.height
        precondition(image.channels == 3 && mask.count == n, "tint needs an RGB image and a mask of its size")
        var px = image.pixels
        let c = [color.r, color.g, color.b]
        for p in 0..<n where mask[p] != 0 {
            for ch in 0..<3 { px[ch * n + p] = (1 - alpha) * px[ch * n + p] + alpha * c[ch] }
        }
        return Image2D(width: image.width, height: image.height, channels: 3, pixels: px)
    }

    /// `(1 − alpha) · a + alpha · b`, pixel by pixel.
    public static func blend(_ a: Image2D, _ b: Image2D, alpha: Float) -> Image2D {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels, "blend needs images of one size")
        return Image2D(width: a.width, height: a.height, channels: a.channels,
                       pixels: zip(a.pixels, b.pixels).map { (1 - alpha) * $0 + alpha * $1 })
    }

    /// Min-max scaling to [0, 1]; a flat map becomes all zeros.
    public static func normalized(_ v: [Float]) -> [Float] {
        guard let lo = v.min(), let hi = v.max(), hi - lo > 1e-12 else { return v.map { _ in 0 } }
        return v.map { ($0 - lo) / (hi - lo) }
    }

    // Panels. Every panel is the sample's image enlarged by `f`; overlays are computed at that resolution so that
    // outlines stay thin.

    /// The test image.
    public static func imagePanel(_ s: SegSample, factor f: Int) -> Image2D { enlarged(rgb(s.image), by: f) }

    static func outlineThickness(_ f: Int) -> Int { max(1, f / 2) }

    /// The ground truth filled in translucent green and outlined in green.
    public static func truthPanel(_ s: SegSample, factor f: Int) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        let filled = tint(imagePanel(s, factor: f), mask: truth, color: .green, alpha: 0.45)
        return tint(filled, mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .green, alpha: 1)
    }

    /// A prediction: pixels with probability above 0.5 (LViT's threshold) in translucent red, the ground truth's outline in green on top.
    public static func predictionPanel(_ s: SegSample, probabilities: [Float], factor f: Int) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        let predicted = enlarged(mask: SegmentationMetrics.binarize(probabilities), width: s.image.width, height: s.image.height, by: f)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        let red = tint(imagePanel(s, factor: f), mask: predicted, color: .red, alpha: 0.5)
        return tint(red, mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .green, alpha: 1)
    }

    /// A heat map in `colormap` (values in [0, 1] at the panel's resolution), half over the image, with the
    /// ground truth outlined in white.
    public static func heatPanel(_ s: SegSample, heat: HeatMap, factor f: Int, colormap: Colormap = .jet) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        precondition(heat.width == w && heat.height == h, "heatPanel: heat map is \(heat.height)×\(heat.width), panel \(h)×\(w)")
        let mixed = blend(imagePanel(s, factor: f), colormap.image(heat.values, width: w, height: h), alpha: 0.6)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        return tint(mixed, mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .white, alpha: 1)
    }

    /// The image outlined in white, the first column of a heat-map figure.
    public static func outlinedImagePanel(_ s: SegSample, factor f: Int) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        return tint(imagePanel(s, factor: f), mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .white, alpha: 1)
    }

    /// Colours of a label map's classes: class k ≥ 1 takes entry (k − 1) modulo the count (Tableau's ten, which
    /// stay apart for colour-blind readers better than a rainbow).
    public static let classPalette: [RGB] = [(0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b), (0xe1, 0x57, 0x59), (0x76, 0xb7, 0xb2),
                                             (0x59, 0xa1, 0x4f), (0xed, 0xc9, 0x48), (0xb0, 0x7a, 0xa1), (0xff, 0x9d, 0xa7),
                                             (0x9c, 0x75, 0x5f), (0xba, 0xb0, 0xac)]
        .map { RGB(Float($0.0) / 255, Float($0.1) / 255, Float($0.2) / 255) }

    public static func classColor(_ k: Int32) -> RGB { classPalette[(Int(k) - 1) % classPalette.count] }

    /// A label map over a (grey) image, both enlarged by `f`: each class ≥ 1 filled in its colour at 45 % and
    /// outlined in it, the way multi-organ figures (MOSMOS's, UNETR's) draw organs.
    public static func labelPanel(image: Image2D, labels: [Int32], factor f: Int) -> Image2D {
        precondition(labels.count == image.width * image.height, "labelPanel: \(labels.count) labels for \(image.height)×\(image.width)")
        let (w, h) = (image.width * f, image.height * f)
        var out = enlarged(rgb(image), by: f)
        for k in Set(labels).filter({ $0 > 0 }).sorted() {
            let mask = enlarged(mask: labels.map { $0 == k ? 1 : 0 }, width: image.width, height: image.height, by: f)
            out = tint(out, mask: mask, color: classColor(k), alpha: 0.45)
            out = tint(out, mask: contour(mask, width: w, height: h, thickness: outlineThickness(f)), color: classColor(k), alpha: 1)
        }
        return out
    }

    /// A grey cell with a diagonal cross: no run to show.
    public static func missingPanel(side: Int) -> Image2D {
        let n = side * side
        var px = [Float](repeating: RGB.grey.r, count: 3 * n)
        for i in 0..<side {
            for p in [i * side + i, i * side + (side - 1 - i)] { for ch in 0..<3 { px[ch * n + p] = 0.55 } }
        }
        return Image2D(width: side, height: side, channels: 3, pixels: px)
    }
}
