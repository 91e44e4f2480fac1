import Foundation
import Engine
import NN

// Multi-stage Alignment loss (MA loss), TMC (Chen 2025, "Text-guided multi-stage cross-perception network for
// medical image segmentation") §3.2:
//
//   L_align^i = −log σ(sim(z_V^i, z_L^i)/τ_i) − log(1 − σ(sim(z_V^i, z_L^i)/τ_i)),   L_align = (1/n) Σ_i L_align^i
//
// computed before each cross-attention on V_i and CLS_i, both linearly projected to a common width D, with cosine
// similarity and a learnable temperature τ_i per stage. As printed, both terms act on the same matched pair, and
// the sum is smallest at sim = 0: it pushes matched image and text apart to orthogonality rather than together.
// Two readings, selectable (Papers/TMC/model.md, "MA loss"):
// - `.pairwise` (default): the sigmoid pairwise loss of SigLIP (Zhai et al., 2023) that the printed form abbreviates.
//   Matched pairs get −log σ(s/τ), unmatched pairs of the batch −log(1 − σ(s/τ)). Pairs whose texts are identical
//   count as matched: the captions come from a small grammar and repeat within a batch. The positive and negative
//   terms are each averaged over their own pairs and added, so the loss keeps the printed form's two-term scale
//   whatever the batch size (a plain mean over B² pairs would weigh negatives B−1 times more).
// - `.literal`: the formula exactly as printed, averaged over the batch; minimised at sim = 0.

public enum AlignmentReading: String, CaseIterable, Codable, Sendable {
    case pairwise
    case literal
}

/// One stage's projections and temperature.
public final class StageAlignmentHead: Module {
    public var visual_proj: Linear
    public var text_proj: Linear
    /// log τ_i, a scalar; τ = exp(log τ) stays positive and is clamped below at `minTemperature`.
    public var log_tau: Tensor

    public init(visualDim: Int, textDim: Int, sharedDim: Int, initialTemperature: Float) {
        visual_proj = Linear(visualDim, sharedDim)
        text_proj = Linear(textDim, sharedDim)
        log_tau = Tensor([Foundation.log(initialTemperature)], shape: [], requiresGrad: true)
    }

    public var temperature: Float { Foundation.exp(log_tau.item) }
}

public final class MultiStageAlignmentLoss: Module {
    public var stages: [StageAlignmentHead]
    public let reading: AlignmentReading
    /// CLIP's bound on its logit scale (100), as a floor on τ, so that s/τ cannot run away.
    public static let minTemperature: Float = 0.01

    /// - Parameters:
    ///   - visualDims: C_i of each stage.
    ///   - textDim: width of CLS_i.
    ///   - sharedDim: the common width D (the paper's text width; defaults to `textDim`).
    ///   - initialTemperature: τ at the start; 0.1 is SigLIP's initial scale of 10. The paper gives none.
    public init(visualDims: [Int], textDim: Int, sharedDim: Int? = nil, reading: AlignmentReading = .pairwise,
                initialTemperature: Float = 0.1) {
        stages = visualDims.map {
            StageAlignmentHead(visualDim: $0, textDim: textDim, sharedDim: sharedDim ?? textDim, initialTemperature: initialTemperature)
        }
        self.reading = reading
    }

    /// L_align^i for one stage.
    /// - Parameters:
    ///   - visual: V_i as tokens [B, N, C_i] (mean-pooled here) or already pooled [B, C_i].
    ///   - cls: CLS_i, [B, D_text].
    ///   - positives: B×B matched pairs for `.pairwise` (diagonal only when nil).
    public func stageLoss(_ i: Int, visual: Tensor, cls: Tensor, positives: [[Bool]]? = nil) -> Tensor {
        let head = stages[i]
        let pooled = visual.rank == 3 ? visual.mean(axis: 1) : visual
        let zv = Loss.l2Normalize(head.visual_proj(pooled))
        let zl = Loss.l2Normalize(head.text_proj(cls))
        let invTau = (head.log_tau.clamp(min: Foundation.log(MultiStageAlignmentLoss.minTemperature)) * -1).exp()
        switch reading {
        case .literal:
            return MultiStageAlignmentLoss.literal(similarity: (zv * zl).sum(axis: 1), inverseTemperature: invTau)
        case .pairwise:
            return MultiStageAlignmentLoss.pairwise(similarity: Tensor.matmul(zv, zl, transB: true), inverseTemperature: invTau,
                                                    positives: positives)
        }
    }

    /// L_align = (1/n) Σ_i L_align^i over the stages.
    public func callAsFunction(visual: [Tensor], cls: [Tensor], positives: [[Bool]]? = nil) -> Tensor {
        precondition(visual.count == stages.count && cls.count == stages.count,
                     "MA loss built for \(stages.count) stages got \(visual.count) visual and \(cls.count) text features")
        var total = stageLoss(0, visual: visual[0], cls: cls[0], positives: positives)
        for i in 1..<stages.count { total = total + stageLoss(i, visual: visual[i], cls: cls[i], positives: positives) }
        return total * (1 / Float(stages.count))
    }

    /// The printed formula on matched pairs: mean_b [softplus(−s_b/τ) + softplus(s_b/τ)], using −log σ(x) = softplus(−x)
    /// and −log(1 − σ(x)) = softplus(x). Its minimum, 2·log 2, lies at s = 0.
    public static func literal(similarity s: Tensor, inverseTemperature invTau: Tensor) -> Tensor {
        let x = s * invTau
        return ((x * -1).softplus() + x.softplus()).mean()
    }

    /// Sigmoid pairwise loss on a B×B similarity matrix: mean over matched pairs of softplus(−s/τ) plus mean over
    /// unmatched pairs of softplus(s/τ) (the second term is absent when every pair matches).
    public static func pairwise(similarity s: Tensor, inverseTemperature invTau: Tensor, positives: [[Bool]]? = nil) -> Tensor {
        let b = s.shape[0]
        precondition(s.rank == 2 && s.shape[1] == b, "pairwise alignment needs a square similarity matrix, got \(s.shape)")
        let pos = positives ?? (0..<b).map { i in (0..<b).map { $0 == i } }
        precondition(pos.count == b && pos.allSatisfy { $0.count == b } && (0..<b).allSatisfy { pos[$0][$0] },
                     "positives must be B×B with a true diagonal")
        let flat = pos.flatMap { $0 }
        let nPos = flat.filter { $0 }.count, nNeg = flat.count - nPos
        let x = s * invTau
        let posMask = Tensor(flat.map { $0 ? Float(1) : 0 }, shape: [b, b])
        var loss = ((x * -1).softplus() * posMask).sum() * (1 / Float(nPos))
        if nNeg > 0 {
            let negMask = Tensor(flat.map { $0 ? Float(0) : 1 }, shape: [b, b])
            loss = loss + (x.softplus() * negMask).sum() * (1 / Float(nNeg))
        }
        return loss
    }

    /// Matched pairs of a batch: samples whose texts tokenise identically.
    public static func positives(tokenIds: [[Int]]) -> [[Bool]] {
        tokenIds.map { a in tokenIds.map { $0 == a } }
    }
}
