import Engine

/// Layer normalisation over the trailing `normalizedShape` dimensions (torch.nn.LayerNorm): weight ones, bias zeros.
public final class LayerNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public let normalizedShape: [Int]
    public let eps: Float

    public init(_ normalizedShape: [Int], eps: Float = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = elementwiseAffine ? Tensor(filled: 1, shape: normalizedShape, requiresGrad: true) : nil
        self.bias = elementwiseAffine && bias ? Tensor(zeros: normalizedShape, requiresGrad: true) : nil
    }
    public convenience init(_ features: Int, eps: Float = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.init([features], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(Array(x.shape.suffix(normalizedShape.count)) == normalizedShape,
                     "LayerNorm\(normalizedShape) applied to \(x.shape)")
        return Tensor.layerNorm(x, normalizedCount: normalizedShape.reduce(1, *), weight: weight, bias: bias, eps: eps)
    }
}

/// Batch normalisation over [N, C, *] (torch.nn.BatchNorm1d/2d/3d semantics).
///
/// Training normalises with the batch mean and biased variance and moves the running statistics by `momentum`
/// towards the batch mean and the unbiased variance; evaluation normalises with the running statistics.
/// `momentum: nil` gives the cumulative average, as in PyTorch. `fusedReLU` applies a ReLU inside the same
/// kernel (Conv-BN-ReLU blocks), saving a pass and a stored activation.
open class BatchNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public var running_mean: Buffer?
    public var running_var: Buffer?
    public var num_batches_tracked: Buffer?
    public let numFeatures: Int
    public let eps: Float
    public let momentum: Float?
    public let fusedReLU: Bool
    /// Input ranks this layer accepts (2 or 3 for BatchNorm1d, 4 for 2d, 5 for 3d).
    let ranks: Set<Int>

    init(_ numFeatures: Int, eps: Float, momentum: Float?, affine: Bool, trackRunningStats: Bool, fusedReLU: Bool, ranks: Set<Int>) {
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.fusedReLU = fusedReLU
        self.ranks = ranks
        weight = affine ? Tensor(filled: 1, shape: [numFeatures], requiresGrad: true) : nil
        bias = affine ? Tensor(zeros: [numFeatures], requiresGrad: true) : nil
        if trackRunningStats {
            running_mean = Buffer(Tensor(zeros: [numFeatures]))
            running_var = Buffer(Tensor(filled: 1, shape: [numFeatures]))
            num_batches_tracked = Buffer(Tensor(zeros: []))
        }
    }

    open override func forward(_ x: Tensor) -> Tensor {
        precondition(ranks.contains(x.rank) && x.shape[1] == numFeatures,
                     "\(type(of: self))(\(numFeatures)) applied to \(x.shape)")
        if !training, let rm = running_mean, let rv = running_var {
            return Tensor.batchNormInference(x, mean: rm.value, variance: rv.value, weight: weight, bias: bias, eps: eps, relu: fusedReLU)
        }
        let (y, mean, variance) = Tensor.batchNormTraining(x, weight: weight, bias: bias, eps: eps, relu: fusedReLU)
        if training { updateRunningStatistics(mean, variance, count: x.count / numFeatures) }
        return y
    }

    private func updateRunningStatistics(_ mean: [Float], _ variance: [Float], count: Int) {
        guard let rm = running_mean, let rv = running_var, let nb = num_batches_tracked else { return }
        nb.value.ptr[0] += 1
        let m = momentum ?? 1 / nb.value.ptr[0]
        // The running variance estimates the population variance, hence Bessel's correction.
        let unbias = count > 1 ? Float(count) / Float(count - 1) : 1
        for c in 0..<numFeatures {
            rm.value.ptr[c] = (1 - m) * rm.value.ptr[c] + m * mean[c]
            rv.value.ptr[c] = (1 - m) * rv.value.ptr[c] + m * variance[c] * unbias
        }
    }
}

public final class BatchNorm1d: BatchNorm {
    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, fusedReLU: Bool = false) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   fusedReLU: fusedReLU, ranks: [2, 3])
    }
}

public final class BatchNorm2d: BatchNorm {
    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, fusedReLU: Bool = false) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   fusedReLU: fusedReLU, ranks: [4])
    }
}

public final class BatchNorm3d: BatchNorm {
    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, fusedReLU: Bool = false) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   fusedReLU: fusedReLU, ranks: [5])
    }
}

/// Group normalisation over [N, C, *] (torch.nn.GroupNorm): statistics per sample and group, affine per channel.
public final class GroupNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public let numGroups: Int
    public let numChannels: Int
    public let eps: Float

    public init(_ numGroups: Int, _ numChannels: Int, eps: Float = 1e-5, affine: Bool = true) {
        precondition(numChannels % numGroups == 0, "GroupNorm: \(numGroups) groups do not divide \(numChannels) channels")
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.eps = eps
        weight = affine ? Tensor(filled: 1, shape: [numChannels], requiresGrad: true) : nil
        bias = affine ? Tensor(zeros: [numChannels], requiresGrad: true) : nil
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] == numChannels, "GroupNorm(\(numGroups), \(numChannels)) applied to \(x.shape)")
        return Tensor.groupNorm(x, groups: numGroups, weight: weight, bias: bias, eps: eps)
    }
}

/// Instance normalisation (torch.nn.InstanceNorm2d/3d with track_running_stats=False, the PyTorch default):
/// every sample and channel is normalised by its own statistics in training and evaluation alike.
/// `fusedLeakyReLU: slope` applies LeakyReLU(slope) inside the same kernel, with the same values as the two layers
/// one after the other (the norm-activation pairs of MONAI's blocks).
open class InstanceNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public let numFeatures: Int
    public let eps: Float
    public let fusedLeakyReLU: Float?
    let rank: Int

    init(_ numFeatures: Int, eps: Float, affine: Bool, fusedLeakyReLU: Float?, rank: Int) {
        self.numFeatures = numFeatures
        self.eps = eps
        self.fusedLeakyReLU = fusedLeakyReLU
        self.rank = rank
        weight = affine ? Tensor(filled: 1, shape: [numFeatures], requiresGrad: true) : nil
        bias = affine ? Tensor(zeros: [numFeatures], requiresGrad: true) : nil
    }

    open override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == rank && x.shape[1] == numFeatures, "\(type(of: self))(\(numFeatures)) applied to \(x.shape)")
        return Tensor.groupNorm(x, groups: numFeatures, weight: weight, bias: bias, eps: eps, negativeSlope: fusedLeakyReLU)
    }
}

public final class InstanceNorm2d: InstanceNorm {
    public init(_ numFeatures: Int, eps: Float = 1e-5, affine: Bool = false, fusedLeakyReLU: Float? = nil) {
        super.init(numFeatures, eps: eps, affine: affine, fusedLeakyReLU: fusedLeakyReLU, rank: 4)
    }
}

public final class InstanceNorm3d: InstanceNorm {
    public init(_ numFeatures: Int, eps: Float = 1e-5, affine: Bool = false, fusedLeakyReLU: Float? = nil) {
        super.init(numFeatures, eps: eps, affine: affine, fusedLeakyReLU: fusedLeakyReLU, rank: 5)
    }
}
