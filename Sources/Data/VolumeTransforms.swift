import Foundation

// The deterministic part of UNETR's BTCV preprocessing (its utils/data_utils.py, MONAI transforms) and of the BRATS
// recipe, on `Volume`s (x fastest; a 4D volume's channels on its last axis). Each matches the MONAI transform it is
// named after, tested against MONAI 1.6 (scripts/golden/volume_fixtures.py).
//
// The random transforms are in VolumeAugmentation.
public enum VolumeTransforms {
    /// Spatial size (x, y, z) and channel count of a 3D or 4D volume.
    static func dims(_ v: Volume) -> (spatial: [Int], channels: Int) {
        precondition(v.shape.count == 3 || v.shape.count == 4, "volume transforms need x, y, z[, channels], got \(v.shape)")
        return (Array(v.shape.prefix(3)), v.shape.count == 4 ? v.shape[3] : 1)
    }

    /// ScaleIntensityRanged: (x − aMin)/(aMax − aMin)·(bMax − bMin) + bMin, clipped to [bMin, bMax] when `clip`
    /// (CT: −175..250 HU → 0..1).
    public static func scaleIntensityRange(_ v: Volume, aMin: Float, aMax: Float, bMin: Float = 0, bMax: Float = 1,
                                           clip: Bool = true) -> Volume {
        var out = v
        let lo = Swift.min(bMin, bMax), hi = Swift.max(bMin, bMax)
        out.values = v.values.map { x in
            let y = (x - aMin) / (aMax - aMin) * (bMax - bMin) + bMin
            return clip ? Swift.min(Swift.max(y, lo), hi) : y
        }
        out.datatype = NIfTI.float32
        return out
    }

    /// NormalizeIntensityd(nonzero=True, channel_wise=True), the BRATS recipe's z-score: per channel, the non-zero
    /// voxels become (x − mean)/std over the non-zero voxels (population std; 1 where it is 0); zeros stay 0.
    public static func normalizeNonzeroChannelwise(_ v: Volume) -> Volume {
        let (spatial, channels) = dims(v)
        let n = spatial.reduce(1, *)
        var out = v
        for c in 0..<channels {
            let range = (c * n)..<((c + 1) * n)
            let nonzero = v.values[range].filter { $0 != 0 }
            guard !nonzero.isEmpty else { continue }
            let mean = nonzero.reduce(0.0) { $0 + Double($1) } / Double(nonzero.count)
            let variance = nonzero.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(nonzero.count)
            let std = variance > 0 ? variance.squareRoot() : 1
            for i in range where v.values[i] != 0 { out.values[i] = Float((Double(v.values[i]) - mean) / std) }
        }
        out.datatype = NIfTI.float32
        return out
    }

    /// The box (lower corner, size) of the voxels where any channel of `source` is above 0 (CropForegroundd with
    /// source_key="image", margin 0); nil when there are none.
    public static func foregroundBox(_ source: Volume) -> (lower: [Int], size: [Int])? {
        let (spatial, channels) = dims(source)
        let n = spatial.reduce(1, *)
        var lo = spatial, hi = [-1, -1, -1]
        for i in 0..<n where (0..<channels).contains(where: { source.values[$0 * n + i] > 0 }) {
            let idx = [i % spatial[0], (i / spatial[0]) % spatial[1], i / (spatial[0] * spatial[1])]
            for a in 0..<3 { lo[a] = Swift.min(lo[a], idx[a]); hi[a] = Swift.max(hi[a], idx[a]) }
        }
        guard hi[0] >= 0 else { return nil }
        return (lo, (0..<3).map { hi[$0] - lo[$0] + 1 })
    }

    /// The sub-volume at `box`, every channel, with the affine moved to its first voxel.
    public static func crop(_ v: Volume, _ box: (lower: [Int], size: [Int])) -> Volume {
        let (spatial, channels) = dims(v)
        let n = spatial.reduce(1, *), m = box.size.reduce(1, *)
        var values = [Float](repeating: 0, count: m * channels)
        for c in 0..<channels {
            for z in 0..<box.size[2] { for y in 0..<box.size[1] { for x in 0..<box.size[0] {
                let from = (x + box.lower[0]) + spatial[0] * ((y + box.lower[1]) + spatial[1] * (z + box.lower[2]))
                values[c * m + x + box.size[0] * (y + box.size[1] * z)] = v.values[c * n + from]
            } } }
        }
        var affine = v.affine
        let origin = world(v.affine, box.lower.map(Double.init))
        for r in 0..<3 { affine[r * 4 + 3] = origin[r] }
        return Volume(shape: box.size + (v.shape.count == 4 ? [channels] : []), values: values, spacing: v.spacing,
                      affine: affine, datatype: v.datatype)
    }

    /// Orientationd(axcodes="RAS"): voxel axes permuted and flipped so that they point right, anterior and superior,
    /// the affine changed so that every voxel keeps its world position. Each voxel axis goes to the world axis its
    /// affine column leans on most, axes assigned greedily from the most decided column (nibabel's io_orientation
    /// for the near-axis-aligned affines of CT and MRI).
    public static func orientRAS(_ v: Volume) -> Volume {
        let (spatial, channels) = dims(v)
        var columns = (0..<3).map { i in (0..<3).map { v.affine[$0 * 4 + i] } }
        for i in 0..<3 {
            let norm = columns[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { columns[i] = columns[i].map { $0 / norm } }
        }
        var worldOf = [Int](repeating: -1, count: 3), sign = [Double](repeating: 1, count: 3)
        var freeWorld = Set(0..<3), freeVoxel = Set(0..<3)
        while !freeVoxel.isEmpty {
            var best = (voxel: -1, world: -1, weight: -1.0)
            for i in freeVoxel { for w in freeWorld where abs(columns[i][w]) > best.weight { best = (i, w, abs(columns[i][w])) } }
            worldOf[best.voxel] = best.world
            sign[best.voxel] = columns[best.voxel][best.world] < 0 ? -1 : 1
            freeVoxel.remove(best.voxel); freeWorld.remove(best.world)
        }
        // Output axis j holds input axis source[j].
        let source = (0..<3).map { j in worldOf.firstIndex(of: j)! }
        let outSpatial = source.map { spatial[$0] }
        let n = spatial.reduce(1, *)
        var values = [Float](repeating: 0, count: v.values.count)
        var out = [Int](repeating: 0, count: 3), input = [Int](repeating: 0, count: 3)
        for c in 0..<channels {
            for o in 0..<n {
                out[0] = o % outSpatial[0]; out[1] = (o / outSpatial[0]) % outSpatial[1]; out[2] = o / (outSpatial[0] * outSpatial[1])
                for j in 0..<3 {
                    let i = source[j]
                    input[i] = sign[i] > 0 ? out[j] : spatial[i] - 1 - out[j]
                }
                values[c * n + o] = v.values[c * n + input[0] + spatial[0] * (input[1] + spatial[1] * input[2])]
            }
        }
        var affine = v.affine
        for r in 0..<3 {
            for j in 0..<3 { affine[r * 4 + j] = v.affine[r * 4 + source[j]] * sign[source[j]] }
            affine[r * 4 + 3] = v.affine[r * 4 + 3] + (0..<3).reduce(0.0) { acc, i in
                sign[i] < 0 ? acc + v.affine[r * 4 + i] * Double(spatial[i] - 1) : acc
            }
        }
        return Volume(shape: outSpatial + (v.shape.count == 4 ? [channels] : []), values: values,
                      spacing: source.map { v.spacing[$0] }, affine: affine, datatype: v.datatype)
    }

    public enum Interpolation: Sendable { case linear, nearest }

    /// Spacingd(pixdim, mode: bilinear for images, nearest for labels): the affine's columns rescaled to `spacing`
    /// (directions kept), the output grid spanning the input's voxel centres (MONAI's `compute_shape_offset`:
    /// round(extent / spacing) + 1 voxels, the corner nearest the origin in the new voxel frame kept in place), and
    /// every output voxel sampled at its input position, trilinearly or from the nearest voxel, with positions
    /// outside clamped to the border.
    public static func resample(_ v: Volume, spacing target: [Double], interpolation: Interpolation) -> Volume {
        let (spatial, channels) = dims(v)
        precondition(target.count == 3 && target.allSatisfy { $0 > 0 }, "resample: spacing needs three positive sizes")
        let a = v.affine
        var b = a
        for c in 0..<3 {
            let norm = (0..<3).reduce(0.0) { $0 + a[$1 * 4 + c] * a[$1 * 4 + c] }.squareRoot()
            for r in 0..<3 { b[r * 4 + c] = norm > 0 ? a[r * 4 + c] / norm * target[c] : (r == c ? target[c] : 0) }
        }
        // Input voxel → output voxel (before the offset): inv(B3) · A3, on the eight corners of the input grid.
        let toOut = multiply3(invert3(linear3(b)), linear3(a))
        var corners: [[Double]] = []
        for i in [0, spatial[0] - 1] { for j in [0, spatial[1] - 1] { for k in [0, spatial[2] - 1] {
            corners.append((0..<3).map { r in toOut[r][0] * Double(i) + toOut[r][1] * Double(j) + toOut[r][2] * Double(k) })
        } } }
        let outShape = (0..<3).map { r -> Int in
            let values = corners.map { $0[r] }
            let extent: Double = values.max()! - values.min()! + 1
            return Int(extent.rounded(.toNearestOrEven))
        }
        // The corner that is smallest along every output axis keeps its world position.
        let minimum: [Double] = (0..<3).map { r in corners.map { $0[r] }.min()! }
        func isMinimum(_ p: [Double]) -> Bool {
            (0..<3).allSatisfy { r in abs(p[r] - minimum[r]) <= 1e-4 * Swift.max(1, abs(minimum[r])) }
        }
        var origin: [Double]
        if let c = corners.firstIndex(where: isMinimum) {
            let idx: [Double] = [c / 4 == 0 ? 0 : Double(spatial[0] - 1), (c / 2) % 2 == 0 ? 0 : Double(spatial[1] - 1),
                                 c % 2 == 0 ? 0 : Double(spatial[2] - 1)]
            origin = world(a, idx)
        } else {
            // MONAI's fallback: the two grids' centres aligned.
            let inCentre = world(a, spatial.map { Double($0) / 2 })
            let outHalf = world(b, outShape.map { Double($0) / 2 }, translate: false)
            origin = (0..<3).map { inCentre[$0] - outHalf[$0] }
        }
        for r in 0..<3 { b[r * 4 + 3] = origin[r] }
        // Output voxel → input voxel: inv(A) · B.
        let inverse = invert3(linear3(a))
        let map = multiply3(inverse, linear3(b))
        var moved = [Double](repeating: 0, count: 3), shift = moved
        for r in 0..<3 { moved[r] = b[r * 4 + 3] - a[r * 4 + 3] }
        for r in 0..<3 { for k in 0..<3 { shift[r] += inverse[r][k] * moved[k] } }
        let n = spatial.reduce(1, *), m = outShape.reduce(1, *)
        var values = [Float](repeating: 0, count: m * channels)
        for z in 0..<outShape[2] { for y in 0..<outShape[1] { for x in 0..<outShape[0] {
            let o: [Double] = [Double(x), Double(y), Double(z)]
            var p = [Double](repeating: 0, count: 3)
            for r in 0..<3 {
                let q: Double = shift[r] + map[r][0] * o[0] + map[r][1] * o[1] + map[r][2] * o[2]
                p[r] = Swift.min(Swift.max(q, 0), Double(spatial[r] - 1))
            }
            let out = x + outShape[0] * (y + outShape[1] * z)
            for c in 0..<channels {
                let base = c * n
                func at(_ i: Int, _ j: Int, _ k: Int) -> Double { Double(v.values[base + i + spatial[0] * (j + spatial[1] * k)]) }
                switch interpolation {
                case .nearest:
                    let i: [Int] = p.map { (q: Double) -> Int in Int(q.rounded(.toNearestOrEven)) }
                    values[c * m + out] = Float(at(i[0], i[1], i[2]))
                case .linear:
                    let lo = p.map { Int($0.rounded(.down)) }
                    let hi = (0..<3).map { Swift.min(lo[$0] + 1, spatial[$0] - 1) }
                    let f = (0..<3).map { p[$0] - Double(lo[$0]) }
                    var sum = 0.0
                    for corner in 0..<8 {
                        let pick = [corner & 4 != 0, corner & 2 != 0, corner & 1 != 0]
                        var w = 1.0
                        for d in 0..<3 { w *= pick[d] ? f[d] : 1 - f[d] }
                        if w != 0 { sum += w * at(pick[0] ? hi[0] : lo[0], pick[1] ? hi[1] : lo[1], pick[2] ? hi[2] : lo[2]) }
                    }
                    values[c * m + out] = Float(sum)
                }
            }
        } } }
        return Volume(shape: outShape + (v.shape.count == 4 ? [channels] : []), values: values, spacing: target, affine: b,
                      datatype: interpolation == .nearest ? v.datatype : NIfTI.float32)
    }

    /// affine · index (with the translation, unless `translate` is false).
    static func world(_ a: [Double], _ index: [Double], translate: Bool = true) -> [Double] {
        (0..<3).map { r in
            let t: Double = translate ? a[r * 4 + 3] : 0
            return t + a[r * 4] * index[0] + a[r * 4 + 1] * index[1] + a[r * 4 + 2] * index[2]
        }
    }

    static func linear3(_ a: [Double]) -> [[Double]] { (0..<3).map { r in (0..<3).map { a[r * 4 + $0] } } }

    static func multiply3(_ x: [[Double]], _ y: [[Double]]) -> [[Double]] {
        (0..<3).map { r in (0..<3).map { c in (0..<3).reduce(0.0) { $0 + x[r][$1] * y[$1][c] } } }
    }

    static func invert3(_ m: [[Double]]) -> [[Double]] {
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        precondition(abs(det) > 1e-12, "resample: the affine is singular")
        let cof: [[Double]] = [
            [m[1][1] * m[2][2] - m[1][2] * m[2][1], m[0][2] * m[2][1] - m[0][1] * m[2][2], m[0][1] * m[1][2] - m[0][2] * m[1][1]],
            [m[1][2] * m[2][0] - m[1][0] * m[2][2], m[0][0] * m[2][2] - m[0][2] * m[2][0], m[0][2] * m[1][0] - m[0][0] * m[1][2]],
            [m[1][0] * m[2][1] - m[1][1] * m[2][0], m[0][1] * m[2][0] - m[0][0] * m[2][1], m[0][0] * m[1][1] - m[0][1] * m[1][0]],
        ]
        return cof.map { $0.map { $0 / det } }
    }
}
