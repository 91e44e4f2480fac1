import Foundation

/// The 95th percentile Hausdorff distance in 2D, with medpy's `binary.hd95` conventions: surfaces are the
/// foreground pixels removed by one erosion with the 4-neighbour cross (pixels on the image edge count as surface),
/// distances are Euclidean between pixel centres, both directed distance sets are pooled, and the percentile uses
/// linear interpolation (NumPy's default).
public enum HausdorffDistance {
    /// HD95 in pixel units scaled by `spacing` (rows, columns). Nil when either mask is empty: the distance is
    /// undefined there, and the caller decides how to report it.
    public static func hd95(prediction: [UInt8], mask: [UInt8], width: Int, height: Int,
                            spacing: (row: Double, column: Double) = (1, 1)) -> Double? {
        precondition(prediction.count == width * height && mask.count == width * height, "hd95: masks must be width × height")
        let a = surface(prediction, width: width, height: height), b = surface(mask, width: width, height: height)
        guard !a.isEmpty, !b.isEmpty else { return nil }
        let toB = distanceField(to: b, width: width, height: height, spacing: spacing)
        let toA = distanceField(to: a, width: width, height: height, spacing: spacing)
        let pooled = (a.map { toB[$0] } + b.map { toA[$0] }).sorted()
        return percentile(sorted: pooled, 95)
    }

    /// Indices of surface pixels: foreground with at least one 4-neighbour that is background or outside.
    static func surface(_ m: [UInt8], width: Int, height: Int) -> [Int] {
        var out: [Int] = []
        for y in 0..<height {
            for x in 0..<width where m[y * width + x] > 0 {
                let inner = x > 0 && x < width - 1 && y > 0 && y < height - 1
                    && m[y * width + x - 1] > 0 && m[y * width + x + 1] > 0
                    && m[(y - 1) * width + x] > 0 && m[(y + 1) * width + x] > 0
                if !inner { out.append(y * width + x) }
            }
        }
        return out
    }

    /// Exact Euclidean distance from every pixel to the nearest of `sites` (Felzenszwalb & Huttenlocher's
    /// separable lower-envelope transform, with anisotropic spacing).
    static func distanceField(to sites: [Int], width: Int, height: Int, spacing: (row: Double, column: Double)) -> [Double] {
        let inf = Double.greatestFiniteMagnitude / 4
        var f = [Double](repeating: inf, count: width * height)
        for s in sites { f[s] = 0 }
        for x in 0..<width {
            let column = lowerEnvelope((0..<height).map { f[$0 * width + x] }, step: spacing.row)
            for y in 0..<height { f[y * width + x] = column[y] }
        }
        for y in 0..<height {
            let row = lowerEnvelope(Array(f[(y * width)..<((y + 1) * width)]), step: spacing.column)
            for x in 0..<width { f[y * width + x] = row[x].squareRoot() }
        }
        return f
    }

    /// Squared distance transform of a sampled function along one axis: d(q) = min_p ((q − p)·step)² + f(p).
    static func lowerEnvelope(_ f: [Double], step: Double) -> [Double] {
        let n = f.count
        let big = Double.greatestFiniteMagnitude / 8
        var finite: [Int] = []
        for i in 0..<n where f[i] < big { finite.append(i) }
        guard !finite.isEmpty else { return f }
        let s2 = step * step
        var v = [Int](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n + 1)
        var k = 0
        v[0] = finite[0]
        z[0] = -.infinity
        z[1] = .infinity
        func intersection(_ q: Int, _ p: Int) -> Double {
            ((f[q] + s2 * Double(q * q)) - (f[p] + s2 * Double(p * p))) / (2 * s2 * Double(q - p))
        }
        for q in finite.dropFirst() {
            var s = intersection(q, v[k])
            while s <= z[k] {
                k -= 1
                s = intersection(q, v[k])
            }
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = .infinity
        }
        var d = [Double](repeating: 0, count: n)
        k = 0
        for q in 0..<n {
            while z[k + 1] < Double(q) { k += 1 }
            let diff = Double(q - v[k]) * step
            d[q] = diff * diff + f[v[k]]
        }
        return d
    }
}
