import Foundation
import ArgumentParser
import Engine
import NN
import Models
import Data
import Metrics

// MARK: - Choosing images and reading maps

public enum FigureCases {
    /// `count` test images spread evenly over those with a lesion (all images if fewer have one): the centres of
    /// `count` equal segments of that list. Deterministic, and not the first slices of one patient.
    public static func pick(foreground: [Int], count: Int) -> [Int] {
        var candidates = foreground.indices.filter { foreground[$0] > 0 }
        if candidates.count < count { candidates = Array(foreground.indices) }
        let n = candidates.count, k = min(count, n)
        return (0..<k).map { j in candidates[(2 * j + 1) * n / (2 * k)] }
    }
}

/// A 2D map of non-negative values at its own resolution.
public struct HeatMap: Equatable {
    public var values: [Float]
    public var width: Int
    public var height: Int
    public init(values: [Float], width: Int, height: Int) {
        precondition(values.count == width * height, "HeatMap: \(values.count) values for \(height)×\(width)")
        self.values = values; self.width = width; self.height = height
    }

    /// Bilinear resampling (pixel-centre convention), e.g. a token grid up to the image.
    public func resized(width w: Int, height h: Int) -> HeatMap {
        let image = resizeBilinear(Image2D(width: width, height: height, channels: 1, pixels: values), width: w, height: h)
        return HeatMap(values: image.pixels, width: w, height: h)
    }
}

public enum FigureMaps {
    /// A `[1, H, W]` map (TMC's `mcm.i.heat`) as a heat map.
    public static func plane(_ p: MapPlane) -> HeatMap? {
        guard p.shape.count == 3, p.shape[0] == 1 else { return nil }
        return HeatMap(values: p.values, width: p.shape[2], height: p.shape[1])
    }

    /// Where the words are read, from an image→text attention `[N, T]` (each position's weights over the words sum
    /// to 1, as in the VLP rows' bottleneck fusion). Its plain mean over the words is 1/T_real at every position, a
    /// flat map; instead each real word's column is normalised over the positions (which positions read this word)
    /// and the columns are averaged over the real words. That is the same reading as TMC's `mcm.i.heat` (each word's
    /// attention over the image, averaged over the words), so the two can stand side by side.
    public static func positionsPerWord(_ attention: [Float], positions n: Int, tokens t: Int, mask: [Int]) -> [Float] {
        precondition(attention.count == n * t && mask.count == t, "positionsPerWord: \(attention.count) weights for [\(n), \(t)], mask \(mask.count)")
        var out = [Float](repeating: 0, count: n)
        var words = 0
        for w in 0..<t where mask[w] != 0 {
            var s: Float = 0
            for p in 0..<n { s += attention[p * t + w] }
            guard s > 0 else { continue }
            for p in 0..<n { out[p] += attention[p * t + w] / s }
            words += 1
        }
        return words == 0 ? out : out.map { $0 / Float(words) }
    }

    /// The bottleneck attention of a VLP row as a square heat map over its bottleneck grid.
    public static func bottleneckWords(_ p: MapPlane, mask: [Int]) -> HeatMap? {
        guard p.shape.count == 2, mask.count == p.shape[1] else { return nil }
        let n = p.shape[0], side = Int(Double(n).squareRoot().rounded())
        guard side * side == n else { return nil }
        return HeatMap(values: positionsPerWord(p.values, positions: n, tokens: p.shape[1], mask: mask), width: side, height: side)
    }

    /// How strongly a map concentrates on the lesion: its share of mass inside the mask divided by the mask's share
    /// of the image. 1 is no preference, above 1 the map favours the lesion. nil for an empty mask or a zero map.
    public static func concentration(_ heat: [Float], mask: [UInt8]) -> Double? {
        precondition(heat.count == mask.count, "concentration: \(heat.count) values, \(mask.count) mask pixels")
        let lesion = mask.reduce(0) { $0 + Int($1 != 0 ? 1 : 0) }
        var total = 0.0, inside = 0.0
        for (h, m) in zip(heat, mask) { total += Double(max(h, 0)); if m != 0 { inside += Double(max(h, 0)) } }
        guard lesion > 0, total > 0 else { return nil }
        return (inside / total) / (Double(lesion) / Double(mask.count))
    }
}
