import Foundation

// Small raster and shape helpers shared by the proxy generators. Shapes are continuous functions of normalised
// coordinates (u right, v down, both in [0, 1]), so a generator draws the same anatomy at any image size.

@inline(__always) func clamp01(_ x: Double) -> Double { min(max(x, 0), 1) }

@inline(__always) func smoothstep(_ e0: Double, _ e1: Double, _ x: Double) -> Double {
    let t = clamp01((x - e0) / (e1 - e0))
    return t * t * (3 - 2 * t)
}

/// Smooth random texture: random values on a (cells+1)² lattice, interpolated with a cubic fade.
struct ValueNoise {
    let cells: Int
    private let lattice: [Double]

    init(cells: Int, rng: inout RNG) {
        self.cells = cells
        lattice = (0..<((cells + 1) * (cells + 1))).map { _ in rng.uniform() }
    }

    /// Value in [0, 1] at (u, v); coordinates outside [0, 1] are clamped.
    func callAsFunction(_ u: Double, _ v: Double) -> Double {
        let x = clamp01(u) * Double(cells), y = clamp01(v) * Double(cells)
        let i = min(Int(x), cells - 1), j = min(Int(y), cells - 1)
        let fx = x - Double(i), fy = y - Double(j)
        let sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy)
        let n = cells + 1
        let a = lattice[j * n + i], b = lattice[j * n + i + 1]
        let c = lattice[(j + 1) * n + i], d = lattice[(j + 1) * n + i + 1]
        return (a + (b - a) * sx) * (1 - sy) + (c + (d - c) * sx) * sy
    }
}

/// Two octaves of value noise, normalised to about [0, 1].
struct Texture {
    let coarse: ValueNoise
    let fine: ValueNoise

    init(cells: Int, rng: inout RNG) {
        coarse = ValueNoise(cells: cells, rng: &rng)
        fine = ValueNoise(cells: cells * 3, rng: &rng)
    }

    func callAsFunction(_ u: Double, _ v: Double) -> Double { 0.65 * coarse(u, v) + 0.35 * fine(u, v) }
}

/// A soft blob: the sum of a few anisotropic Gaussian lobes. Value 1 at a lobe's centre; the 0.5 level set is the
/// lesion outline before boundary noise.
struct Blob {
    struct Lobe { var u, v, ru, rv, weight: Double }
    var lobes: [Lobe]

    func value(_ u: Double, _ v: Double, scale: Double = 1) -> Double {
        var s = 0.0
        for l in lobes {
            let du = (u - l.u) / (l.ru * scale), dv = (v - l.v) / (l.rv * scale)
            let q = du * du + dv * dv
            if q < 16 { s += l.weight * exp(-0.693 * q) }
        }
        return s
    }

    /// A blob around (u, v) with outer radii (ru, rv): a main lobe plus `extra` smaller ones nearby.
    static func random(u: Double, v: Double, ru: Double, rv: Double, extra: Int, rng: inout RNG) -> Blob {
        var lobes = [Lobe(u: u, v: v, ru: ru, rv: rv, weight: 1)]
        for _ in 0..<extra {
            let k = rng.uniform(0.5, 0.9)
            lobes.append(Lobe(u: u + rng.uniform(-0.6, 0.6) * ru, v: v + rng.uniform(-0.6, 0.6) * rv,
                              ru: ru * k, rv: rv * rng.uniform(0.5, 0.9), weight: rng.uniform(0.7, 1.0)))
        }
        return Blob(lobes: lobes)
    }
}

/// Distance from (u, v) to the segment a–b.
@inline(__always) func segmentDistance(_ u: Double, _ v: Double, _ au: Double, _ av: Double, _ bu: Double, _ bv: Double) -> Double {
    let du = bu - au, dv = bv - av
    let len2 = du * du + dv * dv
    let t = len2 > 0 ? clamp01(((u - au) * du + (v - av) * dv) / len2) : 0
    let pu = au + t * du - u, pv = av + t * dv - v
    return (pu * pu + pv * pv).squareRoot()
}

/// A thin line segment with a Gaussian cross-profile, used for vessels, ribs' edges and spicules.
struct Segment {
    var au, av, bu, bv, width, amplitude: Double

    func value(_ u: Double, _ v: Double) -> Double {
        let pad = 3 * width
        if u < min(au, bu) - pad || u > max(au, bu) + pad || v < min(av, bv) - pad || v > max(av, bv) + pad { return 0 }
        let d = segmentDistance(u, v, au, av, bu, bv) / width
        return amplitude * exp(-d * d)
    }
}

// MARK: Connected components

/// 8-connected components of a binary mask: a label per pixel (-1 for background) and the size of each component,
/// components numbered in raster order of their first pixel.
public func connectedComponents(_ mask: [UInt8], width: Int, height: Int) -> (labels: [Int32], sizes: [Int]) {
    var labels = [Int32](repeating: -1, count: mask.count)
    var sizes: [Int] = []
    var stack: [Int] = []
    for start in 0..<mask.count where mask[start] > 0 && labels[start] < 0 {
        let label = Int32(sizes.count)
        var size = 0
        labels[start] = label
        stack.append(start)
        while let p = stack.popLast() {
            size += 1
            let x = p % width, y = p / width
            for dy in -1...1 {
                let yy = y + dy
                guard yy >= 0 && yy < height else { continue }
                for dx in -1...1 {
                    let xx = x + dx
                    guard xx >= 0 && xx < width else { continue }
                    let q = yy * width + xx
                    if mask[q] > 0 && labels[q] < 0 { labels[q] = label; stack.append(q) }
                }
            }
        }
        sizes.append(size)
    }
    return (labels, sizes)
}

/// Removes components smaller than `minArea` pixels, but always keeps the largest one so a mask never empties;
/// with `keepLargestOnly`, every other component goes.
func cleanMask(_ mask: [UInt8], width: Int, height: Int, minArea: Int, keepLargestOnly: Bool = false) -> [UInt8] {
    let (labels, sizes) = connectedComponents(mask, width: width, height: height)
    guard let largest = sizes.indices.max(by: { sizes[$0] < sizes[$1] }) else { return mask }
    return labels.map { l in
        guard l >= 0 else { return 0 }
        if Int(l) == largest { return 1 }
        return (!keepLargestOnly && sizes[Int(l)] >= minArea) ? 1 : 0
    }
}

/// Smallest component kept in a proxy mask: 0.05 % of the image, at least 2 pixels.
func minimumComponentArea(width: Int, height: Int) -> Int { max(2, Int((0.0005 * Double(width * height)).rounded())) }
