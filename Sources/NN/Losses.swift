import Foundation
import Engine

/// How a per-element loss is reduced, as PyTorch's `reduction` argument.
public enum Reduction: Sendable {
    case mean, sum, none
}

/// Whether soft Dice reads logits through a sigmoid per channel (binary or multi-label masks) or a softmax
/// over the channel axis (mutually exclusive classes).
public enum DiceActivation: Sendable {
    case sigmoid, softmax
}

/// Loss functions. Each is built from differentiable primitives, so its gradient comes from autograd.
/// Segmentation tensors are [N, C, spatial...]; class labels are flat `[Int]` in [N, spatial...] order.
public enum Loss {
    static func reduce(_ t: Tensor, _ r: Reduction) -> Tensor {
        switch r {
        case .mean: return t.mean()
        case .sum: return t.sum()
        case .none: return t
        }
    }

    // MARK: Regression

    public static func mse(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        reduce((input - target).square(), reduction)
    }

    public static func l1(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        reduce((input - target).abs(), reduction)
    }

    // MARK: Binary cross-entropy

    /// torch.nn.functional.binary_cross_entropy_with_logits. Uses (1 − y)·x + (1 + (w⁺ − 1)·y)·softplus(−x),
    /// which never exponentiates a large positive number. `posWeight` broadcasts against the targets (one
    /// entry per class on the last axis); `weight` rescales each element.
    public static func bceWithLogits(_ logits: Tensor, _ targets: Tensor, posWeight: Tensor? = nil, weight: Tensor? = nil,
                                     reduction: Reduction = .mean) -> Tensor {
        precondition(logits.shape == targets.shape, "bceWithLogits: logits \(logits.shape) and targets \(targets.shape) differ")
        let y = targets.data
        let softplusNeg = (-logits).softplus()
        var loss: Tensor
        if let pw = posWeight {
            let lw = withoutGrad { 1 + (pw.data - 1) * y }
            loss = (1 - y) * logits + lw * softplusNeg
        } else {
            loss = (1 - y) * logits + softplusNeg
        }
        if let w = weight { loss = loss * w.data }
        return reduce(loss, reduction)
    }

    // MARK: Cross-entropy

    /// torch.nn.functional.cross_entropy with class indices: logits [N, C] or [N, C, spatial...], `targets` the
    /// class of each of the N·spatial positions. With class `weight`s the mean is Σ wᵢ·lossᵢ / Σ wᵢ over the
    /// positions not equal to `ignoreIndex` (PyTorch's weighted mean; NaN when every position is ignored, as there).
    public static func crossEntropy(_ logits: Tensor, _ targets: [Int], weight: [Float]? = nil, ignoreIndex: Int = -100,
                                    reduction: Reduction = .mean, labelSmoothing: Float = 0) -> Tensor {
        precondition(logits.rank >= 2, "crossEntropy: logits need [N, C, ...], got \(logits.shape)")
        let c = logits.shape[1]
        let positionShape = [logits.shape[0]] + Array(logits.shape.dropFirst(2))
        precondition(targets.count == positionShape.reduce(1, *), "crossEntropy: \(targets.count) targets for logits \(logits.shape)")
        precondition(weight == nil || weight!.count == c, "crossEntropy: \(weight!.count) class weights for \(c) classes")
        let classesLast = logits.rank == 2 ? logits : logits.permuted([0] + Array(2..<logits.rank) + [1])
        var index = [Int](repeating: 0, count: targets.count)
        var w = [Float](repeating: 0, count: targets.count)
        for (i, t) in targets.enumerated() where t != ignoreIndex {
            precondition(t >= 0 && t < c, "crossEntropy: target \(t) outside 0..<\(c)")
            index[i] = t
            w[i] = weight?[t] ?? 1
        }
        precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: label smoothing \(labelSmoothing) outside [0, 1]")
        let logp = classesLast.logSoftmax()
        let picked = logp.gatherLast(index)
        var weighted = picked * Tensor(w.map { -$0 }, shape: picked.shape)
        if labelSmoothing > 0 {
            // PyTorch's smoothing: the target mixes the one-hot label with the uniform distribution, so each kept
            // position adds ε/C · Σ_c −w_c log p_c; the mean still divides by the targets' weights.
            let classWeights = Tensor(weight ?? [Float](repeating: 1, count: c), shape: [c])
            let kept = Tensor(targets.map { $0 == ignoreIndex ? 0 : 1 }, shape: picked.shape)
            let uniform = -((logp * classWeights).sum(axis: -1) * kept)
            weighted = (1 - labelSmoothing) * weighted + (labelSmoothing / Float(c)) * uniform
        }
        switch reduction {
        case .none: return weighted.reshaped(positionShape)
        case .sum: return weighted.sum()
        case .mean: return weighted.sum() / w.reduce(0, +)
        }
    }

    // MARK: Dice

    /// One-hot encoding of `labels` ([N, spatial...] order) as [N, classes, spatial...]. Labels outside
    /// 0..<classes (an ignore index) give an all-zero column.
    public static func oneHot(_ labels: [Int], classes: Int, shape: [Int]) -> Tensor {
        precondition(labels.count == shape.reduce(1, *), "oneHot: \(labels.count) labels for shape \(shape)")
        let n = shape.first ?? 1, s = labels.count / Swift.max(n, 1)
        let out = Tensor(zeros: [n, classes] + Array(shape.dropFirst()))
        for i in 0..<n {
            for j in 0..<s {
                let l = labels[i * s + j]
                if l >= 0 && l < classes { out.ptr[(i * classes + l) * s + j] = 1 }
            }
        }
        return out
    }

    /// Soft Dice loss 1 − mean over (sample, class) of (2·Σ p·t + smooth) / (Σ p + Σ t + smooth), with the sums
    /// over the spatial axes (and over the batch too when `batchDice`). `targets` has the logits' shape (one-hot
    /// for softmax). Without `includeBackground` channel 0 is left out after the activation, as MONAI's DiceLoss.
    /// `mask` (shape [N, 1, spatial...], 0/1) removes positions from every sum. MONAI's `squared_pred` and its
    /// separate `smooth_nr`/`smooth_dr` are `squared` (denominator Σ p² + Σ t²) and the two `smooth` overrides.
    public static func softDice(_ logits: Tensor, _ targets: Tensor, activation: DiceActivation, smooth: Float = 1e-5,
                                smoothNumerator: Float? = nil, smoothDenominator: Float? = nil, squared: Bool = false,
                                includeBackground: Bool = true, batchDice: Bool = false, mask: Tensor? = nil) -> Tensor {
        precondition(logits.shape == targets.shape && logits.rank >= 3,
                     "softDice: logits \(logits.shape) and targets \(targets.shape) must match as [N, C, spatial...]")
        var p = activation == .sigmoid ? logits.sigmoid() : logits.softmax(axis: 1)
        var t = targets.data
        if let m = mask { p = p * m.data; t = withoutGrad { t * m.data } }
        if !includeBackground {
            precondition(logits.shape[1] > 1, "softDice: includeBackground=false needs more than one channel")
            p = p.slice(axis: 1, 1, logits.shape[1])
            t = withoutGrad { t.slice(axis: 1, 1, targets.shape[1]) }
        }
        let axes = (batchDice ? [0] : []) + Array(2..<logits.rank)
        let intersection = (p * t).sum(axes: axes)
        let denominator = squared ? (p * p).sum(axes: axes) + withoutGrad({ (t * t).sum(axes: axes) })
                                  : p.sum(axes: axes) + t.sum(axes: axes)
        let dice = (2 * intersection + (smoothNumerator ?? smooth)) / (denominator + (smoothDenominator ?? smooth))
        return 1 - dice.mean()
    }

    /// Dice + cross-entropy on softmax logits with integer labels (MONAI's DiceCELoss with to_onehot_y and
    /// softmax). Positions labelled `ignoreIndex` are left out of both terms. UNETR's BTCV loss is
    /// `diceCE(logits, labels, smoothNumerator: 0, smoothDenominator: 1e-6, squared: true)` (`unetrDiceCE`).
    public static func diceCE(_ logits: Tensor, _ labels: [Int], smooth: Float = 1e-5, smoothNumerator: Float? = nil,
                              smoothDenominator: Float? = nil, squared: Bool = false, includeBackground: Bool = true,
                              classWeights: [Float]? = nil, ignoreIndex: Int = -100,
                              diceWeight: Float = 1, ceWeight: Float = 1) -> Tensor {
        let c = logits.shape[1]
        let positionShape = [logits.shape[0]] + Array(logits.shape.dropFirst(2))
        let target = oneHot(labels, classes: c, shape: positionShape)
        var mask: Tensor?
        if labels.contains(ignoreIndex) {
            mask = Tensor(labels.map { $0 == ignoreIndex ? Float(0) : 1 }, shape: [positionShape[0], 1] + Array(positionShape.dropFirst()))
        }
        let dice = softDice(logits, target, activation: .softmax, smooth: smooth, smoothNumerator: smoothNumerator,
                            smoothDenominator: smoothDenominator, squared: squared, includeBackground: includeBackground, mask: mask)
        let ce = crossEntropy(logits, labels, weight: classWeights, ignoreIndex: ignoreIndex)
        return diceWeight * dice + ceWeight * ce
    }

    /// UNETR's BTCV loss: `DiceCELoss(to_onehot_y=True, softmax=True, squared_pred=True, smooth_nr=0,
    /// smooth_dr=1e-6)`, background included.
    public static func unetrDiceCE(_ logits: Tensor, _ labels: [Int]) -> Tensor {
        diceCE(logits, labels, smoothNumerator: 0, smoothDenominator: 1e-6, squared: true)
    }

    /// Dice + binary cross-entropy on sigmoid logits with 0/1 masks of the same shape (binary segmentation).
    public static func diceBCE(_ logits: Tensor, _ targets: Tensor, smooth: Float = 1e-5,
                               diceWeight: Float = 1, bceWeight: Float = 1) -> Tensor {
        diceWeight * softDice(logits, targets, activation: .sigmoid, smooth: smooth) + bceWeight * bceWithLogits(logits, targets)
    }

    // MARK: Contrastive

    /// x / max(‖x‖, eps) along `axis` (torch.nn.functional.normalize). The clamp sits under the square root so
    /// that a zero vector gets a zero gradient instead of NaN.
    public static func l2Normalize(_ x: Tensor, axis: Int = -1, eps: Float = 1e-12) -> Tensor {
        x * x.square().sum(axis: axis, keepDim: true).clamp(min: eps * eps).rsqrt()
    }

    /// Bidirectional InfoNCE (CLIP): logits = exp(logScale)·ẑᵢ·ẑₜᵀ on L2-normalised embeddings [B, D]; the mean
    /// of image→text and text→image cross-entropy with the matching pair on the diagonal. `logScale` is a
    /// learnable scalar, exp(logScale) = 1/temperature.
    public static func infoNCE(_ image: Tensor, _ text: Tensor, logScale: Tensor, normalize: Bool = true) -> Tensor {
        precondition(image.rank == 2 && image.shape == text.shape, "infoNCE: embeddings \(image.shape) and \(text.shape) must both be [B, D]")
        let zi = normalize ? l2Normalize(image) : image
        let zt = normalize ? l2Normalize(text) : text
        let logits = Tensor.matmul(zi, zt, transB: true) * logScale.exp()
        let diagonal = Array(0..<image.shape[0])
        return (crossEntropy(logits, diagonal) + crossEntropy(logits.transposed(), diagonal)) * 0.5
    }

    /// Pairwise sigmoid loss (SigLIP): every (image, text) pair is a binary problem, positive on the diagonal,
    /// with logits exp(logScale)·ẑᵢ·ẑₜᵀ + bias; the sum of −log σ(±logit) over all B² pairs, divided by B.
    public static func sigmoidContrastive(_ image: Tensor, _ text: Tensor, logScale: Tensor, bias: Tensor,
                                          normalize: Bool = true) -> Tensor {
        precondition(image.rank == 2 && image.shape == text.shape, "sigmoidContrastive: embeddings \(image.shape) and \(text.shape) must both be [B, D]")
        let b = image.shape[0]
        let zi = normalize ? l2Normalize(image) : image
        let zt = normalize ? l2Normalize(text) : text
        let logits = Tensor.matmul(zi, zt, transB: true) * logScale.exp() + bias
        var sign = [Float](repeating: -1, count: b * b)
        for i in 0..<b { sign[i * b + i] = 1 }
        // −log σ(s·z) = softplus(−s·z)
        return (logits * Tensor(sign.map { -$0 }, shape: [b, b])).softplus().sum() / Float(b)
    }

    // MARK: Multi-label with missing labels

    /// Weak-assume-negative loss (Cole et al. 2021, "Multi-label learning from single positive labels"):
    /// observed positives (target 1) get −log σ(x); every other label is assumed negative with −log(1 − σ(x))
    /// down-weighted by γ, default 1/(L − 1) so that one positive weighs as much as all assumed negatives.
    /// Averaged over the N·L entries of logits [N, L].
    public static func weakAssumeNegative(_ logits: Tensor, _ targets: Tensor, gamma: Float? = nil) -> Tensor {
        precondition(logits.shape == targets.shape && logits.rank == 2, "weakAssumeNegative: logits \(logits.shape) and targets \(targets.shape) must both be [N, L]")
        let labels = logits.shape[1]
        let g = gamma ?? 1 / Float(Swift.max(labels - 1, 1))
        let y = targets.data
        let perLabel = withoutGrad { y + (1 - y) * g }   // 1 on positives, γ on assumed negatives
        return bceWithLogits(logits, targets, weight: perLabel)
    }
}

/// CLIP-style bidirectional InfoNCE with a learnable temperature: `logit_scale` holds log(1/τ), initialised
/// from τ = 0.07 (CLIP, MOSMOS). The scale is clamped at 100 in the forward pass, as CLIP clamps its parameter.
public final class InfoNCELoss: Module {
    public var logit_scale: Tensor
    public let maxScale: Float

    public init(temperature: Float = 0.07, learnable: Bool = true, maxScale: Float = 100) {
        logit_scale = Tensor([Foundation.log(1 / temperature)], shape: [], requiresGrad: learnable)
        self.maxScale = maxScale
    }

    public func callAsFunction(_ image: Tensor, _ text: Tensor) -> Tensor {
        Loss.infoNCE(image, text, logScale: logit_scale.clamp(max: Foundation.log(maxScale)))
    }
}

/// SigLIP pairwise sigmoid loss with learnable temperature and bias, initialised as in the SigLIP paper
/// (scale log 10, bias −10).
public final class SigmoidContrastiveLoss: Module {
    public var logit_scale: Tensor
    public var logit_bias: Tensor

    public init(initialScale: Float = 10, initialBias: Float = -10) {
        logit_scale = Tensor([Foundation.log(initialScale)], shape: [], requiresGrad: true)
        logit_bias = Tensor([initialBias], shape: [], requiresGrad: true)
    }

    public func callAsFunction(_ image: Tensor, _ text: Tensor) -> Tensor {
        Loss.sigmoidContrastive(image, text, logScale: logit_scale, bias: logit_bias)
    }
}
