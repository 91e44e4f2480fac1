import Foundation

/// Per-class Dice and HD95 of integer label maps of rank 2 or 3, as MONAI 1.6 computes them, for the multi-class
/// volumes of MOSMOS's tables (TMC's binary 2D metrics are `SegmentationMetrics` and `HausdorffDistance`).
///
/// - Dice is `DiceMetric(include_background=False, ignore_empty=True)` for one class: 2|P∩G| / (|P| + |G|), and
///   undefined (nil, MONAI's NaN) when the ground truth has none of the class, whatever the prediction holds.
///   Means over cases leave undefined values out, as MONAI's nan-mean does.
/// - HD95 is `compute_hausdorff_distance(percentile=95, directed=False)`: the edges of each mask are the voxels
///   removed by one binary erosion with the face-connected cross (voxels on the volume's border are edges, as
///   scipy's erosion with border value 0 makes them); each edge voxel's Euclidean distance in mm to the nearest edge
///   voxel of the other mask; the 95th percentile of each direction with linear interpolation; the larger of the
///   two. Undefined (nil) when either mask is empty, where MONAI gives NaN or infinity.
///
/// Shapes and spacings are row-major: the last axis varies fastest (`Volume.rowMajorShape`).
public enum LabelMapMetrics {
    public struct ClassScore: Equatable, Sendable {
        /// A fraction in [0, 1]; nil when undefined.
        public var dice: Double?
        /// Millimetres; nil when undefined.
        public var hd95: Double?
        public init(dice: Double?, hd95: Double?) { self.dice = dice; self.hd95 = hd95 }
    }

    public static func dice(prediction: [Int32], truth: [Int32], label: Int32) -> Double? {
        precondition(prediction.count == truth.count, "dice: \(prediction.count) predicted and \(truth.count) true voxels")
        var both = 0, p = 0, t = 0
        for i in 0..<truth.count {
            let inP = prediction[i] == label, inT = truth[i] == label
            if inP { p += 1 }
            if inT { t += 1 }
            if inP && inT { both += 1 }
        }
        return t == 0 ? nil : 2 * Double(both) / Double(p + t)
    }

    public static func hd95(prediction: [Int32], truth: [Int32], shape: [Int], spacing: [Double], label: Int32) -> Double? {
        precondition(shape.count == spacing.count && (2...3).contains(shape.count), "hd95: rank-2 or rank-3 shape with its spacing")
        precondition(prediction.count == truth.count && truth.count == shape.reduce(1, *), "hd95: label maps do not fit \(shape)")
        let a = prediction.map { $0 == label }, b = truth.map { $0 == label }
        guard let box = Box(a, b, shape: shape) else { return nil }
        let ca = box.crop(a), cb = box.crop(b)
        let ea = box.edges(ca), eb = box.edges(cb)
        guard !ea.isEmpty, !eb.isEmpty else { return nil }
        let toB = box.distances(to: eb, spacing: spacing), toA = box.distances(to: ea, spacing: spacing)
        let ab = percentile(sorted: ea.map { toB[$0] }.sorted(), 95)
        let ba = percentile(sorted: eb.map { toA[$0] }.sorted(), 95)
        return Swift.max(ab, ba)
    }

    public static func scores(prediction: [Int32], truth: [Int32], shape: [Int], spacing: [Double],
                              classes: [Int32]) -> [Int32: ClassScore] {
        var out: [Int32: ClassScore] = [:]
        for c in classes {
            out[c] = ClassScore(dice: dice(prediction: prediction, truth: truth, label: c),
                                hd95: hd95(prediction: prediction, truth: truth, shape: shape, spacing: spacing, label: c))
        }
        return out
    }

    /// Mean of the defined values, nil when none is.
    public static func mean(_ values: [Double?]) -> Double? {
        let defined = values.compactMap { $0 }
        return defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count)
    }

    /// The bounding box of both masks' foreground, grown by one voxel where the volume allows (MONAI crops to it
    /// before the erosion). Distances between edge voxels are exact within it, since every edge voxel lies inside.
    struct Box {
        let lower: [Int], extent: [Int], shape: [Int]

        init?(_ a: [Bool], _ b: [Bool], shape: [Int]) {
            let rank = shape.count
            var lo = shape, hi = [Int](repeating: -1, count: rank)
            var index = [Int](repeating: 0, count: rank)
            for i in 0..<a.count {
                if a[i] || b[i] {
                    var r = i
                    for axis in stride(from: rank - 1, through: 0, by: -1) { index[axis] = r % shape[axis]; r /= shape[axis] }
                    for axis in 0..<rank { lo[axis] = Swift.min(lo[axis], index[axis]); hi[axis] = Swift.max(hi[axis], index[axis]) }
                }
            }
            guard hi[0] >= 0 else { return nil }
            let start = (0..<rank).map { Swift.max(0, lo[$0] - 1) }
            lower = start
            extent = (0..<rank).map { Swift.min(shape[$0] - 1, hi[$0] + 1) - start[$0] + 1 }
            self.shape = shape
        }

        var count: Int { extent.reduce(1, *) }

        /// The box's voxels of `m`, row-major.
        func crop(_ m: [Bool]) -> [Bool] {
            var out = [Bool](repeating: false, count: count)
            var index = [Int](repeating: 0, count: extent.count)
            for i in 0..<count {
                var r = i, flat = 0
                for axis in stride(from: extent.count - 1, through: 0, by: -1) { index[axis] = r % extent[axis]; r /= extent[axis] }
                for axis in 0..<extent.count { flat = flat * shape[axis] + index[axis] + lower[axis] }
                out[i] = m[flat]
            }
            return out
        }

        /// Box indices of the voxels of `m` with a face neighbour outside `m` or outside the volume.
        func edges(_ m: [Bool]) -> [Int] {
            let rank = extent.count
            var strides = [Int](repeating: 1, count: rank)
            for axis in stride(from: rank - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * extent[axis + 1] }
            var out: [Int] = []
            var index = [Int](repeating: 0, count: rank)
            for i in 0..<m.count where m[i] {
                var r = i
                for axis in stride(from: rank - 1, through: 0, by: -1) { index[axis] = r % extent[axis]; r /= extent[axis] }
                var edge = false
                for axis in 0..<rank where !edge {
                    let global = index[axis] + lower[axis]
                    edge = global == 0 || global == shape[axis] - 1
                        || index[axis] == 0 || !m[i - strides[axis]] || index[axis] == extent[axis] - 1 || !m[i + strides[axis]]
                }
                if edge { out.append(i) }
            }
            return out
        }

        /// Euclidean distance in mm from every box voxel to the nearest of `sites` (separable lower envelopes).
        func distances(to sites: [Int], spacing: [Double]) -> [Double] {
            let rank = extent.count
            var f = [Double](repeating: Double.greatestFiniteMagnitude / 4, count: count)
            for s in sites { f[s] = 0 }
            var strides = [Int](repeating: 1, count: rank)
            for axis in stride(from: rank - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * extent[axis + 1] }
            for axis in 0..<rank {
                let n = extent[axis], stride = strides[axis]
                // Every line along `axis`: start indices are the voxels whose index on `axis` is 0.
                for start in 0..<count where (start / stride) % n == 0 {
                    let line = (0..<n).map { f[start + $0 * stride] }
                    let d = HausdorffDistance.lowerEnvelope(line, step: spacing[axis])
                    for k in 0..<n { f[start + k * stride] = d[k] }
                }
            }
            return f.map { $0.squareRoot() }
        }
    }
}
