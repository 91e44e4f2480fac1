import Foundation

/// The deterministic transforms of a recipe, chained in its order, from a case on disk to a `LabeledImage` ready for
/// patch sampling and sliding-window inference.
///
/// UNETR's BTCV code (utils/data_utils.py) runs, after loading: Orientationd("RAS"), Spacingd(1.5, 1.5, 2.0;
/// bilinear / nearest), ScaleIntensityRanged(−175..250 → 0..1, clip), CropForegroundd(source_key="image"). The BRATS
/// recipe instead normalises MRI channel-wise over the non-zero voxels at 1 mm. Each step is the MONAI transform
/// of the same name in VolumeTransforms, tested there against MONAI; this type only fixes the order, so that the
/// foreground crop sees the intensities the recipe sees (a CT window maps air to 0, and the crop keeps what lies
/// above it).
public struct VolumePreprocessing: Sendable, Equatable {
    public enum Intensity: Sendable, Equatable {
        /// ScaleIntensityRanged(a_min, a_max, b_min 0, b_max 1, clip): CT in HU.
        case window(lower: Float, upper: Float)
        /// NormalizeIntensityd(nonzero, channel_wise): MRI.
        case zScoreNonzero
        case none
    }

    /// Target voxel size (x, y, z) in mm; nil keeps the stored grid.
    public var spacing: [Double]?
    public var intensity: Intensity
    public var cropForeground: Bool

    public init(spacing: [Double]?, intensity: Intensity, cropForeground: Bool) {
        precondition(spacing.map { $0.count == 3 && $0.allSatisfy { $0 > 0 } } ?? true, "spacing needs three positive sizes")
        self.spacing = spacing; self.intensity = intensity; self.cropForeground = cropForeground
    }

    /// UNETR's BTCV recipe (CT).
    public static let unetrCT = VolumePreprocessing(spacing: [1.5, 1.5, 2.0], intensity: .window(lower: -175, upper: 250), cropForeground: true)
    /// The BRATS recipe's deterministic part (MRI): RAS, 1 mm, z-score over the brain. MONAI's BRATS tutorial
    /// normalises after its random crop, over the crop's non-zero voxels; this normalises the whole brain once, so
    /// that validation and training see the same scale.
    public static let bratsMRI = VolumePreprocessing(spacing: [1, 1, 1], intensity: .zScoreNonzero, cropForeground: false)

    /// The transforms applied to an image and its label map (on the image's grid, class indices).
    public func apply(image: Volume, label: [Int32]?) -> (image: Volume, label: [Int32]?) {
        var im = VolumeTransforms.orientRAS(image)
        var lb = label.map { l -> Volume in
            VolumeTransforms.orientRAS(Volume(shape: Array(image.shape.prefix(3)), values: l.map(Float.init),
                                              spacing: image.spacing, affine: image.affine, datatype: NIfTI.int32))
        }
        if let s = spacing {
            im = VolumeTransforms.resample(im, spacing: s, interpolation: .linear)
            lb = lb.map { VolumeTransforms.resample($0, spacing: s, interpolation: .nearest) }
        }
        switch intensity {
        case .window(let lo, let hi): im = VolumeTransforms.scaleIntensityRange(im, aMin: lo, aMax: hi)
        case .zScoreNonzero: im = VolumeTransforms.normalizeNonzeroChannelwise(im)
        case .none: break
        }
        if cropForeground, let box = VolumeTransforms.foregroundBox(im) {
            im = VolumeTransforms.crop(im, box)
            lb = lb.map { VolumeTransforms.crop($0, box) }
        }
        return (im, lb.map { $0.values.map { Int32($0.rounded()) } })
    }

    /// Reads one case of `set` (checked as `VolumeDataSet.load` checks it) and preprocesses it. An unannotated case
    /// gets an all-background label map and is meant for inference only.
    public func load(_ set: VolumeDataSet, _ c: VolumeCase) throws -> LabeledImage {
        let (image, label) = try set.load(c)
        let (im, lb) = apply(image: image, label: label)
        var out = LabeledImage(id: c.id, image: im, labels: lb ?? [Int32](repeating: 0, count: im.rowMajorShape.reduce(1, *)))
        out.unannotated = c.unannotated
        return out
    }
}
