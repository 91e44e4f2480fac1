// MAP's distribution-based vision-language contrastive objective (D-VLC).
//
// Reference: Yatai Ji, Junjie Wang, Yuan Gong, Lin Zhang, Yanru Zhu, Hongfa Wang, Jiaxing Zhang, Tetsuya Sakai and
// Yujiu Yang, "MAP: Multimodal Uncertainty-Aware Vision-Language Pre-training Model", CVPR 2023 (arXiv:2210.05335).
// Each modality's token sequence passes a Probability Distribution Encoder (PDE): an attention block whose heads are
// split into a mean branch and a log-scale branch, so every token becomes a diagonal Gaussian. D-VLC compares the
// Gaussians of the image and text summary tokens by their 2-Wasserstein distance, in CLOSED FORM (no sampling):
//   W₂²(N(μ₁, σ₁²), N(μ₂, σ₂²)) = ‖μ₁ − μ₂‖² + ‖σ₁ − σ₂‖²   (diagonal covariances),
// turns it into a similarity −a·W₂² (+ a shift, which cancels in the softmax), divides by a learnable temperature
// (0.07 at start) and applies CLIP's symmetric cross-entropy. The public code (IIGROUP/MAP, objectives.py) uses
// a = 1/200 for 768-dimensional embeddings and keeps variances from collapsing with a hinge on the Gaussians' entropy,
// max(0, margin − H), weight 0.01, margin 300 nats at 768 dimensions. That entropy hinge is MAP's regulariser; it is not
// a KL divergence to a prior. MAP samples from the Gaussians only for its MLM/ITM heads, which we do not run.

import Foundation
import Engine
import NN

/// MAP's Probability Distribution Encoder reduced to one block over a token sequence [B, N, dim].
///
/// As in MAP's `DisTrans`: an input map (linear, GELU, LayerNorm), one multi-head self-attention whose first half of
/// heads gives the mean branch and second half the log-variance branch, a residual on the mean, and one MLP per
/// branch. We predict log σ² (MAP names its branch log σ and treats it inconsistently between its W₂ and entropy
/// terms; one convention keeps both terms exact).
public final class ProbabilityDistributionEncoder: Module {
    public var fc: Linear
    public var norm1: LayerNorm
    public var qkv: Linear
    public var mu_proj: Linear
    public var logvar_proj: Linear
    public var norm2: LayerNorm
    public var norm3: LayerNorm
    public var mu_mlp: MLP
    public var logvar_mlp: MLP
    public let heads: Int

    public init(dim: Int, heads: Int, mlpRatio: Int = 4) {
        precondition(heads % 2 == 0 && dim % heads == 0, "PDE: \(heads) heads (even, half per branch) must divide \(dim)")
        fc = Linear(dim, dim)
        norm1 = LayerNorm(dim)
        qkv = Linear(dim, 3 * dim, bias: false)
        mu_proj = Linear(dim / 2, dim)
        logvar_proj = Linear(dim / 2, dim)
        norm2 = LayerNorm(dim)
        norm3 = LayerNorm(dim)
        mu_mlp = MLP(dim: dim, hidden: mlpRatio * dim)
        logvar_mlp = MLP(dim: dim, hidden: mlpRatio * dim)
        self.heads = heads
    }

    /// - Parameters:
    ///   - x: tokens [B, N, dim]; `padding` [B, N] is 1 at padded tokens (they are never attended to).
    /// - Returns: mean and log-variance per token, each [B, N, dim].
    public func callAsFunction(_ x: Tensor, padding: Tensor? = nil) -> (mu: Tensor, logvar: Tensor) {
        let h = norm1(fc(x).gelu())
        let (q, k, v) = splitFusedQKV(qkv(h), heads: heads)
        let context = mergeHeads(scaledDotProductAttention(q, k, v, keyPaddingMask: padding).context)
        let half = context.shape[2] / 2
        var mu = x + mu_proj(context.slice(axis: 2, 0, half))
        mu = mu + mu_mlp(norm2(mu))
        var logvar = logvar_proj(context.slice(axis: 2, half, 2 * half))
        logvar = logvar + logvar_mlp(norm3(logvar))
        return (mu, logvar)
    }
}

/// D-VLC with MAP's entropy hinge, on top of the shared segmenter's image and text tokens.
///
/// Each modality's tokens are mapped to `embedDim`, a learnable summary token is put in front (MAP reads the
/// [CLS] position of its encoders; the shared encoders here have none), and the PDE's output at that position is the
/// modality's Gaussian.
public final class MAPObjective: Module, VLPObjective {
    public var image_in: Linear
    public var text_in: Linear
    public var image_token: Tensor
    public var text_token: Tensor
    public var image_pde: ProbabilityDistributionEncoder
    public var text_pde: ProbabilityDistributionEncoder
    /// log(1/τ), τ initialised to 0.07 as MAP's `temp`; clipped at scale 100 as CLIP does.
    public var logit_scale: Tensor
    /// a in −a·W₂²: MAP's 1/200 at 768 dimensions, rescaled by 768/embedDim so that a·E‖Δμ‖² keeps its size.
    public let distanceScale: Float
    /// Entropy floor per dimension, in nats (MAP: 300 / 768).
    public let marginPerDimension: Float
    /// Weight of the entropy hinge (MAP: 0.01).
    public let marginWeight: Float
    public static let maxLogitScale: Float = Foundation.log(100)

    public init(imageDim: Int, textDim: Int, embedDim: Int, heads: Int = 4, temperature: Float = 0.07,
                marginPerDimension: Float = 300.0 / 768.0, marginWeight: Float = 0.01) {
        image_in = Linear(imageDim, embedDim)
        text_in = Linear(textDim, embedDim)
        image_token = Tensor(zeros: [1, 1, embedDim], requiresGrad: true)
        text_token = Tensor(zeros: [1, 1, embedDim], requiresGrad: true)
        image_pde = ProbabilityDistributionEncoder(dim: embedDim, heads: heads)
        text_pde = ProbabilityDistributionEncoder(dim: embedDim, heads: heads)
        logit_scale = Tensor([Foundation.log(1 / temperature)], shape: [], requiresGrad: true)
        distanceScale = (1.0 / 200.0) * 768 / Float(embedDim)
        self.marginPerDimension = marginPerDimension
        self.marginWeight = marginWeight
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        Init.truncatedNormal(image_token, std: 0.02, rng: &rng)
        Init.truncatedNormal(text_token, std: 0.02, rng: &rng)
    }

    /// The Gaussian (mean, log-variance), each [B, embedDim], of a token sequence seen through `pde`.
    func distribution(_ tokens: Tensor, mask: Tensor?, input: Linear, summary: Tensor,
                      pde: ProbabilityDistributionEncoder) -> (mu: Tensor, logvar: Tensor) {
        let x = input(tokens)
        let (b, e) = (x.shape[0], x.shape[2])
        let seq = Tensor.concat([summary.expanded(to: [b, 1, e]), x], axis: 1)
        let padding = mask.map { Tensor.concat([Tensor(zeros: [b, 1]), 1 - $0.data], axis: 1) }
        let (mu, logvar) = pde(seq, padding: padding)
        return (mu.slice(axis: 1, 0, 1).squeezed(1), logvar.slice(axis: 1, 0, 1).squeezed(1))
    }

    public func distributions(_ f: VLPFeatures) -> (image: (mu: Tensor, logvar: Tensor), text: (mu: Tensor, logvar: Tensor)) {
        (distribution(f.imageTokens, mask: nil, input: image_in, summary: image_token, pde: image_pde),
         distribution(f.textTokens, mask: f.textMask, input: text_in, summary: text_token, pde: text_pde))
    }

    public func terms(_ f: VLPFeatures) -> [String: Tensor] {
        let (img, txt) = distributions(f)
        let contrastive = MAPObjective.contrastiveLoss(imageMu: img.mu, imageLogvar: img.logvar, textMu: txt.mu,
                                                       textLogvar: txt.logvar, distanceScale: distanceScale,
                                                       logScale: logit_scale.clamp(max: MAPObjective.maxLogitScale))
        let hinge = (MAPObjective.entropyHinge(img.logvar, marginPerDimension: marginPerDimension)
                     + MAPObjective.entropyHinge(txt.logvar, marginPerDimension: marginPerDimension)) * 0.5
        return ["map_dvlc": contrastive, "map_entropy_margin": hinge * marginWeight]
    }

    public func epochWillBegin(_ epoch: Int) {}

    // MARK: The loss in closed form

    /// Squared 2-Wasserstein distances [B₁, B₂] between diagonal Gaussians given by means [B, E] and
    /// log-variances [B, E]: ‖μᵢ − μⱼ‖² + ‖σᵢ − σⱼ‖² with σ = exp(½·log σ²).
    public static func wasserstein2Squared(mu1: Tensor, logvar1: Tensor, mu2: Tensor, logvar2: Tensor) -> Tensor {
        precondition(mu1.rank == 2 && mu1.shape == logvar1.shape && mu2.shape == logvar2.shape && mu1.shape[1] == mu2.shape[1],
                     "wasserstein2Squared: means and log-variances must be [B, E] with one E")
        let s1 = (logvar1 * 0.5).exp(), s2 = (logvar2 * 0.5).exp()
        let dMu = (mu1.unsqueezed(1) - mu2.unsqueezed(0)).square().sum(axis: 2)
        let dSigma = (s1.unsqueezed(1) - s2.unsqueezed(0)).square().sum(axis: 2)
        return dMu + dSigma
    }

    /// D-VLC: logits −a·W₂²·exp(logScale) between every image and text of the batch, mean of the image→text and
    /// text→image cross-entropies with the pairs on the diagonal.
    public static func contrastiveLoss(imageMu: Tensor, imageLogvar: Tensor, textMu: Tensor, textLogvar: Tensor,
                                       distanceScale: Float, logScale: Tensor) -> Tensor {
        let w2 = wasserstein2Squared(mu1: imageMu, logvar1: imageLogvar, mu2: textMu, logvar2: textLogvar)
        let logits = w2 * (-distanceScale) * logScale.exp()
        let diagonal = Array(0..<imageMu.shape[0])
        return (Loss.crossEntropy(logits, diagonal) + Loss.crossEntropy(logits.transposed(), diagonal)) * 0.5
    }

    /// Differential entropy of N(μ, diag σ²) in nats: E/2·(1 + log 2π) + ½·Σ log σ², per row of [B, E].
    public static func entropy(_ logvar: Tensor) -> Tensor {
        let e = Float(logvar.shape[1])
        return logvar.sum(axis: 1) * 0.5 + e / 2 * (1 + Foundation.log(2 * Float.pi))
    }

    /// MAP's variance regulariser: mean over the batch of max(0, margin − H), margin = marginPerDimension·E.
    public static func entropyHinge(_ logvar: Tensor, marginPerDimension: Float) -> Tensor {
        let margin = marginPerDimension * Float(logvar.shape[1])
        return (margin - entropy(logvar)).relu().mean()
    }
}
