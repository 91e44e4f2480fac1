import Foundation

// The random part of UNETR's BTCV training transforms (utils/data_utils.py), after the deterministic ones in
// VolumeTransforms: RandCropByPosNegLabeld(pos=1, neg=1, num_samples=4, image_threshold=0), RandFlipd on each axis
// and RandRotate90d(max_k=3) at p = 0.2, RandScaleIntensityd(0.1) and RandShiftIntensityd(0.1) at p = 0.1.
// The draws come from the suite's counter-based RNG, so a patch is a function of (seed, case, epoch); what each
// draw does (crop-centre correction, flip, rotation, scale, shift) matches MONAI's transforms, tested on fixed draws.
public struct VolumeAugmentation: Sendable {
    public var patch: [Int]
    public var samples: Int
    public var positiveFraction: Double
    public var flipProbability: Double
    public var rotateProbability: Double
    public var intensityProbability: Double
    public var intensityRange: Float

    /// UNETR's BTCV recipe with `patch` voxels (96³ at paper scale).
    public init(patch: [Int], samples: Int = 4, positiveFraction: Double = 0.5, flipProbability: Double = 0.2,
                rotateProbability: Double = 0.2, intensityProbability: Double = 0.1, intensityRange: Float = 0.1) {
        self.patch = patch; self.samples = samples; self.positiveFraction = positiveFraction
        self.flipProbability = flipProbability; self.rotateProbability = rotateProbability
        self.intensityProbability = intensityProbability; self.intensityRange = intensityRange
    }

    /// `samples` augmented patches of a case (image channels last, label as a one-channel volume on its grid).
    public func patches(image: Volume, label: Volume, rng: inout RNG) -> [(image: Volume, label: Volume)] {
        let spatial = VolumeTransforms.dims(image).spatial
        precondition(Array(label.shape.prefix(3)) == spatial, "augmentation: image \(image.shape) and label \(label.shape) differ")
        let n = spatial.reduce(1, *)
        // Foreground: any label; background: no label where the image is above 0 in its first channel (image_threshold 0).
        var foreground: [Int] = [], background: [Int] = []
        for i in 0..<n {
            if label.values[i] > 0 { foreground.append(i) } else if image.values[i] > 0 { background.append(i) }
        }
        let pos = foreground.isEmpty ? 0 : (background.isEmpty ? 1 : positiveFraction)
        return (0..<samples).map { _ in
            let pool = rng.uniform() < pos ? foreground : background
            let flat = pool.isEmpty ? n / 2 : pool[rng.int(pool.count)]
            let centre = [flat % spatial[0], (flat / spatial[0]) % spatial[1], flat / (spatial[0] * spatial[1])]
            let box = VolumeAugmentation.cropBox(centre: centre, size: patch, shape: spatial)
            var im = VolumeTransforms.crop(image, box), lb = VolumeTransforms.crop(label, box)
            for axis in 0..<3 where rng.bernoulli(flipProbability) {
                im = VolumeAugmentation.flip(im, axis: axis); lb = VolumeAugmentation.flip(lb, axis: axis)
            }
            if rng.bernoulli(rotateProbability) {
                let k = 1 + rng.int(3)
                im = VolumeAugmentation.rotate90(im, k: k); lb = VolumeAugmentation.rotate90(lb, k: k)
            }
            if rng.bernoulli(intensityProbability) {
                let f = Float(rng.uniform(-Double(intensityRange), Double(intensityRange)))
                im.values = im.values.map { $0 * (1 + f) }
            }
            if rng.bernoulli(intensityProbability) {
                let o = Float(rng.uniform(-Double(intensityRange), Double(intensityRange)))
                im.values = im.values.map { $0 + o }
            }
            return (im, lb)
        }
    }

    /// MONAI's `correct_crop_centers` then SpatialCrop(roi_center, roi_size): the centre moved so that the patch
    /// lies inside the volume (start = centre − size/2, rounded down).
    public static func cropBox(centre: [Int], size: [Int], shape: [Int]) -> (lower: [Int], size: [Int]) {
        precondition(zip(size, shape).allSatisfy { $0 <= $1 }, "augmentation: patch \(size) is larger than the volume \(shape); pad the volume first")
        var lower = [Int](repeating: 0, count: 3)
        for a in 0..<3 {
            let validStart = size[a] / 2
            var validEnd = Int(Double(shape[a] + 1) - Double(size[a]) / 2)
            if validStart == validEnd { validEnd += 1 }
            let c = Swift.min(Swift.max(centre[a], validStart), validEnd - 1)
            lower[a] = c - size[a] / 2
        }
        return (lower, size)
    }

    /// The volume mirrored along spatial axis `axis` (0 = x).
    public static func flip(_ v: Volume, axis: Int) -> Volume {
        let (spatial, channels) = VolumeTransforms.dims(v)
        var out = v
        let n = spatial.reduce(1, *)
        for c in 0..<channels { for i in 0..<n {
            var idx = [i % spatial[0], (i / spatial[0]) % spatial[1], i / (spatial[0] * spatial[1])]
            idx[axis] = spatial[axis] - 1 - idx[axis]
            out.values[c * n + i] = v.values[c * n + idx[0] + spatial[0] * (idx[1] + spatial[1] * idx[2])]
        } }
        return out
    }

    /// Rotate90(k, spatial_axes=(0, 1)): k quarter turns in the x–y plane, as numpy's rot90 on axes (0, 1) turns
    /// them (x and y swap sizes for odd k). Flips and turns leave the affine as it was: training patches do not use it.
    public static func rotate90(_ v: Volume, k: Int) -> Volume {
        var out = v
        for _ in 0..<(((k % 4) + 4) % 4) { out = quarterTurn(out) }
        return out
    }

    /// numpy's rot90(m, 1, axes=(0, 1)): out[i, j] = m[j, Y − 1 − i], out of shape (Y, X).
    static func quarterTurn(_ v: Volume) -> Volume {
        let (spatial, channels) = VolumeTransforms.dims(v)
        let (X, Y, Z) = (spatial[0], spatial[1], spatial[2])
        let n = X * Y * Z
        var values = [Float](repeating: 0, count: v.values.count)
        for c in 0..<channels { for z in 0..<Z { for i in 0..<Y { for j in 0..<X {
            values[c * n + i + Y * (j + X * z)] = v.values[c * n + j + X * ((Y - 1 - i) + Y * z)]
        } } } }
        var spacing = v.spacing
        spacing.swapAt(0, 1)
        return Volume(shape: [Y, X, Z] + (v.shape.count == 4 ? [channels] : []), values: values, spacing: spacing,
                      affine: v.affine, datatype: v.datatype)
    }
}
