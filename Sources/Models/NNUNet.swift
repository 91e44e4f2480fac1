import Foundation
import Engine
import NN

// nnU-Net (Isensee et al., Nature Methods 2021), 2D configuration, after nnU-Net v2's default planner
// (ExperimentPlanner, get_pool_and_conv_props) and its PlainConvUNet. What is kept and what is simplified is
// stated on `NNUNet`.

/// The data-set properties nnU-Net's planner reads.
public struct DatasetFingerprint: Equatable, Codable, Sendable {
    public enum Modality: String, Codable, Sendable {
        /// Hounsfield units: normalised with global foreground statistics.
        case ct
        /// Anything else (X-ray, MRI, photographs): z-score per image.
        case other
    }

    /// Median image size [H, W] over the training set.
    public var medianSize: [Int]
    /// Pixel spacing; the suite's images carry none, so it is 1.
    public var spacing: [Double]
    public var modality: Modality
    /// Intensity statistics over foreground pixels (nnU-Net uses them for CT only).
    public var foregroundMean: Float
    public var foregroundStd: Float
    public var foregroundPercentile005: Float
    public var foregroundPercentile995: Float

    public init(medianSize: [Int], spacing: [Double] = [1, 1], modality: Modality = .other, foregroundMean: Float = 0,
                foregroundStd: Float = 1, foregroundPercentile005: Float = 0, foregroundPercentile995: Float = 0) {
        precondition(medianSize.count == 2 && spacing.count == 2, "a 2D fingerprint needs two sizes and two spacings")
        self.medianSize = medianSize; self.spacing = spacing; self.modality = modality
        self.foregroundMean = foregroundMean; self.foregroundStd = foregroundStd
        self.foregroundPercentile005 = foregroundPercentile005; self.foregroundPercentile995 = foregroundPercentile995
    }

    /// Measures a fingerprint from training images [C, H, W] (or [1, C, H, W]) and their binary masks [.., H, W].
    ///
    /// Intensities are gathered where the mask is foreground (everywhere when there are no masks), every
    /// `stride`-th such pixel so that at most `maxSamples` are kept: nnU-Net likewise subsamples foreground voxels.
    public static func measure(images: [Tensor], masks: [Tensor]? = nil, modality: Modality = .other,
                               maxSamples: Int = 1_000_000) -> DatasetFingerprint {
        precondition(!images.isEmpty, "a fingerprint needs at least one image")
        precondition(masks == nil || masks!.count == images.count, "one mask per image")
        let sizes = images.map { Array($0.shape.suffix(2)) }
        let median = (0..<2).map { axis -> Int in
            let s = sizes.map { $0[axis] }.sorted()
            return s[s.count / 2]
        }
        // Two passes: count the foreground, then keep every stride-th foreground value.
        let isForeground = { (n: Int, i: Int) -> Bool in
            guard let m = masks?[n] else { return true }
            return m.ptr[i % m.shape.suffix(2).reduce(1, *)] > 0.5
        }
        let total = images.indices.reduce(0) { acc, n in acc + (0..<images[n].count).reduce(0) { $0 + (isForeground(n, $1) ? 1 : 0) } }
        let stride = Swift.max(1, (total + maxSamples - 1) / maxSamples)
        var samples: [Float] = []
        samples.reserveCapacity(total / stride + 1)
        var seen = 0
        for (n, image) in images.enumerated() {
            for i in 0..<image.count where isForeground(n, i) {
                if seen % stride == 0 { samples.append(image.ptr[i]) }
                seen += 1
            }
        }
        guard !samples.isEmpty else { return DatasetFingerprint(medianSize: median, modality: modality) }
        samples.sort()
        let mean = samples.reduce(0, +) / Float(samples.count)
        let std = (samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(samples.count)).squareRoot()
        let percentile = { (p: Float) in samples[Int((p / 100 * Float(samples.count - 1)).rounded())] }
        return DatasetFingerprint(medianSize: median, modality: modality, foregroundMean: mean, foregroundStd: std,
                                  foregroundPercentile005: percentile(0.5), foregroundPercentile995: percentile(99.5))
    }
}

/// Intensity normalisation chosen by the planner.
public enum NNUNetNormalization: Equatable, Codable, Sendable {
    /// (x − mean) / std per image and channel (nnU-Net's ZScoreNormalization).
    case zScorePerImage
    /// Clip to [lower, upper], then (x − mean) / std with data-set statistics (nnU-Net's CTNormalization).
    case ct(lower: Float, upper: Float, mean: Float, std: Float)
}

/// The architecture and preprocessing nnU-Net derives from a fingerprint.
public struct NNUNetPlan: Equatable, Codable, Sendable {
    /// Training patch [H, W], divisible by 2^poolingSteps per axis.
    public var patchSize: [Int]
    /// Pooling steps per axis.
    public var poolingSteps: [Int]
    /// Stride of the first convolution of every stage, per axis ([1, 1] for the first stage).
    public var strides: [[Int]]
    /// Features of every stage, shallowest first.
    public var features: [Int]
    public var convsPerStage: Int
    /// Loss weight of each decoder output, highest resolution first (one per decoder stage).
    public var deepSupervisionWeights: [Float]
    public var normalization: NNUNetNormalization

    public var stages: Int { features.count }

    /// nnU-Net's planning rules for a 2D configuration (see the file comment for what is simplified).
    public static func make(fingerprint fp: DatasetFingerprint, settings: NNUNetPlannerSettings) -> NNUNetPlan {
        // The initial patch is the median image, capped at nnU-Net's 2048² budget for isotropic spacing.
        let initial = fp.medianSize.map { Swift.min($0, 2048) }
        let (pools, strides) = poolingSchedule(initial, minEdge: settings.minFeatureMapEdge, maxSteps: settings.maxPoolingSteps)
        // Pad the patch up to the next multiple of 2^pools (nnU-Net's pad_shape).
        let patch = zip(initial, pools).map { size, p -> Int in
            let f = 1 << p
            return (size + f - 1) / f * f
        }
        let stages = strides.count
        let features = (0..<stages).map { Swift.min(settings.baseFeatures << $0, settings.maxFeatures) }
        return NNUNetPlan(patchSize: patch, poolingSteps: pools, strides: strides, features: features, convsPerStage: 2,
                          deepSupervisionWeights: deepSupervisionWeights(decoderStages: stages - 1),
                          normalization: normalization(fp))
    }

    /// get_pool_and_conv_props for unit spacing: every axis whose size is at least twice the minimum edge is
    /// halved, until none is (a lone axis needs three times the minimum edge) or the step cap is reached.
    static func poolingSchedule(_ size: [Int], minEdge: Int, maxSteps: Int) -> (pools: [Int], strides: [[Int]]) {
        var current = size, pools = [Int](repeating: 0, count: size.count)
        var strides: [[Int]] = [[Int](repeating: 1, count: size.count)]
        while true {
            let valid = current.indices.filter { current[$0] >= 2 * minEdge && pools[$0] < maxSteps }
            if valid.isEmpty || (valid.count == 1 && current[valid[0]] < 3 * minEdge) { break }
            var stride = [Int](repeating: 1, count: size.count)
            for a in valid {
                stride[a] = 2
                pools[a] += 1
                current[a] = (current[a] + 1) / 2
            }
            strides.append(stride)
        }
        return (pools, strides)
    }

    /// 1/2^i per decoder output from the highest resolution down, the lowest set to 0, normalised to sum 1.
    static func deepSupervisionWeights(decoderStages n: Int) -> [Float] {
        guard n > 1 else { return n == 1 ? [1] : [] }
        var w = (0..<n).map { 1 / Float(1 << $0) }
        w[n - 1] = 0
        let s = w.reduce(0, +)
        return w.map { $0 / s }
    }

    static func normalization(_ fp: DatasetFingerprint) -> NNUNetNormalization {
        switch fp.modality {
        case .other: return .zScorePerImage
        case .ct: return .ct(lower: fp.foregroundPercentile005, upper: fp.foregroundPercentile995,
                             mean: fp.foregroundMean, std: fp.foregroundStd)
        }
    }
}

/// The U-Net nnU-Net configures (PlainConvUNet): per stage two Conv-InstanceNorm-LeakyReLU, the first strided;
/// per decoder stage a transposed convolution to the skip's features, concatenation, two convolutions and a 1×1
/// segmentation head. All heads are built; with deep supervision each contributes to the loss.
///
/// Kept from nnU-Net: the rule-based self-configuration from a data-set fingerprint (`NNUNetPlan.make`): patch
/// size from the median image size, pooling steps until the bottleneck edge would drop below 4, 32 base
/// features doubling per stage up to 512, two 3×3 Conv-InstanceNorm-LeakyReLU(0.01) per stage, strided
/// convolutions down and transposed convolutions up, a 1×1 head at every decoder stage, deep-supervision weights
/// halving per scale with the lowest scale dropped and the rest normalised to sum 1, and z-score intensity
/// normalisation (CT: clip to the foreground 0.5–99.5 percentiles, then the foreground mean and standard
/// deviation), applied inside `forward`.
///
/// Simplified: 2D only (no 3D full/low-resolution configurations and no cascade); spacing assumed 1 (no
/// resampling, no anisotropic kernels); no GPU-memory-driven patch or batch-size search; no five-fold
/// cross-validation ensemble and no choice among configurations; no connected-component postprocessing; no
/// test-time mirroring; and no nnU-Net training recipe: the suite's fixed schedule (optimiser, epochs, loss,
/// augmentation) replaces SGD with poly decay, 1000 epochs, Dice + CE and nnU-Net's augmentation pipeline.
public final class NNUNet: Module, SegmentationModel {
    public let plan: NNUNetPlan
    public var encoder: [Sequential]
    /// transpconvs.j, decoder.j and seg_layers.j form decoder stage j, deepest first (nnU-Net's order).
    public var transpconvs: [ConvTranspose2d]
    public var decoder: [Sequential]
    public var seg_layers: [Conv2d]

    public init(plan: NNUNetPlan, inChannels: Int) {
        precondition(plan.stages >= 2, "nnU-Net needs at least one pooling step; the plan has \(plan.stages) stage")
        self.plan = plan
        let f = plan.features
        let block = { (i: Int, o: Int, stride: [Int]) in
            convStack(i, o, count: plan.convsPerStage, bias: true, norm: .instance, activation: .leakyReLU(0.01),
                      firstStride: stride)
        }
        encoder = (0..<plan.stages).map { s in block(s == 0 ? inChannels : f[s - 1], f[s], plan.strides[s]) }
        let levels = Array(stride(from: plan.stages - 2, through: 0, by: -1))
        transpconvs = levels.map { ConvTranspose2d(f[$0 + 1], f[$0], kernelSize: plan.strides[$0 + 1], stride: plan.strides[$0 + 1]) }
        decoder = levels.map { block(2 * f[$0], f[$0], [1, 1]) }
        seg_layers = levels.map { Conv2d(f[$0], 1, kernelSize: 1) }
    }

    /// Plans from `fingerprint` with the settings of `scale` and builds the network.
    public convenience init(fingerprint: DatasetFingerprint, scale: Scale, inChannels: Int) {
        self.init(plan: NNUNetPlan.make(fingerprint: fingerprint, settings: .of(scale)), inChannels: inChannels)
    }

    /// The planned intensity normalisation; the input carries no gradient, so this adds nothing to the graph.
    public func normalize(_ image: Tensor) -> Tensor {
        switch plan.normalization {
        case .zScorePerImage:
            let mean = image.mean(axes: [2, 3], keepDim: true)
            let std = image.variance(axes: [2, 3], keepDim: true).sqrt().clamp(min: 1e-8)
            return (image - mean) / std
        case let .ct(lower, upper, mean, std):
            return (image.clamp(min: lower, max: upper) - mean) / Swift.max(std, 1e-8)
        }
    }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        for (axis, p) in plan.poolingSteps.enumerated() {
            precondition(image.shape[2 + axis] % (1 << p) == 0,
                         "nnU-Net planned \(p) poolings along axis \(axis); input \(image.shape) is not divisible by \(1 << p)")
        }
        var skips: [Tensor] = []
        var x = normalize(image)
        for stage in encoder {
            x = stage(x)
            skips.append(x)
        }
        var outputs: [Tensor] = []
        for j in decoder.indices {
            x = decoder[j](catChannels([transpconvs[j](x), skips[plan.stages - 2 - j]]))
            outputs.append(seg_layers[j](x))
        }
        outputs.reverse()
        let terms = zip(outputs, plan.deepSupervisionWeights).map { DeepSupervisionTerm(logits: $0, weight: $1) }
        return SegOutput(logits: outputs[0], deepSupervision: terms)
    }
}
