// MGCA's pre-training objective.
//
// Reference: Fuying Wang, Yuyin Zhou, Shujun Wang, Varut Vardhanabhuti and Lequan Yu, "Multi-Granularity Cross-modal
// Alignment for Generalized Medical Visual Representation Learning", NeurIPS 2022 (arXiv:2210.06044), section 3:
//   - instance level (ITA): InfoNCE between global image and report embeddings, temperature 0.07 (fixed), the two
//     directions summed;
//   - token level (CTA): every word attends to the image patches (and every patch to the words) with temperature 0.1;
//     the attended, normalised context of token i must match token i against the contexts of the other tokens of the
//     same pair, in both directions, each token weighted by its importance;
//   - disease level (CPA): image and report embeddings are scored against K L2-normalised prototypes; Sinkhorn-Knopp
//     (ε = 0.05, 3 iterations) turns each modality's scores into soft cluster codes, and each modality predicts the
//     OTHER modality's codes with a softmax at temperature 0.2 (swapped prediction, SwAV-style). The prototypes stay
//     fixed during the first epoch.
// Loss = λ₁·ITA + λ₂·CTA + λ₃·CPA with λ = 1, 1, 1 (the public code's defaults, HKU-MedAI/MGCA), 128-d embeddings,
// projection heads Linear → BatchNorm → ReLU → Linear → BatchNorm(affine: false) with a 2048-wide hidden layer.
// Token weights: MGCA weights words by BERT's last-layer [CLS] attention and ViT patches by the [CLS] attention, but
// CNN patches uniformly; the shared segmenter has a CNN encoder and sees only BERT's outputs, so words and patches are
// weighted uniformly here, and padded words are removed as negatives as well as targets.

import Foundation
import Engine
import NN

/// MGCA's projection head: Linear → BatchNorm1d → ReLU → Linear → BatchNorm1d without affine parameters.
/// Works on [M, in]; token sequences are flattened to M = B·N first, which is what MGCA's 1×1 Conv1d head does.
public final class MGCAProjection: Layer {
    public var fc1: Linear
    public var bn1: BatchNorm1d
    public var fc2: Linear
    public var bn2: BatchNorm1d

    public init(_ inDim: Int, hidden: Int, outDim: Int) {
        fc1 = Linear(inDim, hidden)
        bn1 = BatchNorm1d(hidden, fusedReLU: true)
        fc2 = Linear(hidden, outDim)
        bn2 = BatchNorm1d(outDim, affine: false)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        if x.rank == 3 {
            let (b, n) = (x.shape[0], x.shape[1])
            return forward(x.reshaped([b * n, x.shape[2]])).reshaped([b, n, -1])
        }
        return bn2(fc2(bn1(fc1(x))))
    }
}

public final class MGCAObjective: Module, VLPObjective {
    public var image_global: MGCAProjection
    public var image_local: MGCAProjection
    public var text_global: MGCAProjection
    public var text_local: MGCAProjection
    /// The K prototypes, rows of a bias-free linear layer [K, E], re-normalised before every use.
    public var prototype_layer: Linear
    public let instanceTemperature: Float
    public let localTemperature: Float
    public let prototypeTemperature: Float
    public let sinkhornEpsilon: Float
    public let sinkhornIterations: Int
    public let freezePrototypeEpochs: Int
    public let lambdas: (instance: Float, token: Float, prototype: Float)
    /// True while the prototypes receive no gradient (the first `freezePrototypeEpochs` epochs).
    public private(set) var prototypesFrozen: Bool

    public init(imageDim: Int, textDim: Int, embedDim: Int, prototypes: Int, instanceTemperature: Float = 0.07,
                localTemperature: Float = 0.1, prototypeTemperature: Float = 0.2, sinkhornEpsilon: Float = 0.05,
                sinkhornIterations: Int = 3, freezePrototypeEpochs: Int = 1,
                lambdas: (instance: Float, token: Float, prototype: Float) = (1, 1, 1)) {
        image_global = MGCAProjection(imageDim, hidden: 2 * imageDim, outDim: embedDim)
        image_local = MGCAProjection(imageDim, hidden: 2 * imageDim, outDim: embedDim)
        text_global = MGCAProjection(textDim, hidden: 2 * textDim, outDim: embedDim)
        text_local = MGCAProjection(textDim, hidden: 2 * textDim, outDim: embedDim)
        prototype_layer = Linear(embedDim, prototypes, bias: false)
        self.instanceTemperature = instanceTemperature
        self.localTemperature = localTemperature
        self.prototypeTemperature = prototypeTemperature
        self.sinkhornEpsilon = sinkhornEpsilon
        self.sinkhornIterations = sinkhornIterations
        self.freezePrototypeEpochs = freezePrototypeEpochs
        self.lambdas = lambdas
        prototypesFrozen = freezePrototypeEpochs > 0
    }

    public func epochWillBegin(_ epoch: Int) { prototypesFrozen = epoch < freezePrototypeEpochs }

    public func terms(_ f: VLPFeatures) -> [String: Tensor] {
        let zi = Loss.l2Normalize(image_global(f.pooledImage))
        let zt = Loss.l2Normalize(text_global(f.pooledText))
        let patches = Loss.l2Normalize(image_local(f.imageTokens))
        let words = Loss.l2Normalize(text_local(f.textTokens))
        var out: [String: Tensor] = [:]
        if lambdas.instance != 0 {
            out["mgca_instance"] = MGCAObjective.instanceLoss(zi, zt, temperature: instanceTemperature) * lambdas.instance
        }
        if lambdas.token != 0 {
            out["mgca_token"] = MGCAObjective.tokenAlignmentLoss(words: words, patches: patches, wordMask: f.textMask,
                                                                 temperature: localTemperature) * lambdas.token
        }
        if lambdas.prototype != 0 { out["mgca_prototype"] = prototypeLoss(zi, zt) * lambdas.prototype }
        return out
    }

    /// CPA on normalised global embeddings [B, E].
    func prototypeLoss(_ zi: Tensor, _ zt: Tensor) -> Tensor {
        let w = prototype_layer.weight
        withoutGrad { w.copy(from: Loss.l2Normalize(w.data)) }
        let prototypes = prototypesFrozen ? w.data : w
        let imageScores = Tensor.matmul(zi, prototypes, transB: true)
        let textScores = Tensor.matmul(zt, prototypes, transB: true)
        let imageCodes = MGCAObjective.sinkhornKnopp(imageScores.data, epsilon: sinkhornEpsilon, iterations: sinkhornIterations)
        let textCodes = MGCAObjective.sinkhornKnopp(textScores.data, epsilon: sinkhornEpsilon, iterations: sinkhornIterations)
        return MGCAObjective.swappedPredictionLoss(imageScores: imageScores, textScores: textScores, imageCodes: imageCodes,
                                                   textCodes: textCodes, temperature: prototypeTemperature)
    }

    // MARK: The three losses

    /// ITA: cross-entropy of image→text plus text→image over s = zᵢ·zₜᵀ/τ, on normalised [B, E] embeddings.
    public static func instanceLoss(_ image: Tensor, _ text: Tensor, temperature: Float) -> Tensor {
        let s = Tensor.matmul(image, text, transB: true) * (1 / temperature)
        let diagonal = Array(0..<image.shape[0])
        return Loss.crossEntropy(s, diagonal) + Loss.crossEntropy(s.transposed(), diagonal)
    }

    /// CTA on normalised tokens: words [B, T, E] with `wordMask` [B, T] (1 = real), patches [B, N, E].
    /// The word→patch and patch→word terms are each the mean of their two directions, and CTA is their sum.
    public static func tokenAlignmentLoss(words: Tensor, patches: Tensor, wordMask: Tensor, temperature: Float) -> Tensor {
        let (b, n) = (patches.shape[0], patches.shape[1])
        let realWords = wordMask.data
        let wordWeights = withoutGrad { realWords / realWords.sum(axis: 1, keepDim: true).clamp(min: 1) }
        let patchWeights = Tensor(filled: 1 / Float(n), shape: [b, n])
        let padBias = withoutGrad { (1 - realWords).unsqueezed(1) * maskedLogit }
        let wordTerm = alignment(queries: words, keys: patches, queryWeights: wordWeights, queryBias: padBias, keyBias: nil,
                                 temperature: temperature)
        let patchTerm = alignment(queries: patches, keys: words, queryWeights: patchWeights, queryBias: nil, keyBias: padBias,
                                  temperature: temperature)
        return wordTerm + patchTerm
    }

    /// A logit low enough that exp underflows to 0, yet finite, so that a padded row times its zero weight stays 0.
    static let maskedLogit: Float = -1e4

    /// One CTA direction: each query attends to the keys, its normalised context must pick the query out among the
    /// pair's queries (row term) and the query must pick its context out among the pair's contexts (column term).
    /// `queryBias`/`keyBias` [B, 1, Nq]/[B, 1, Nk] remove padded tokens; `queryWeights` [B, Nq] weight the targets.
    static func alignment(queries: Tensor, keys: Tensor, queryWeights: Tensor, queryBias: Tensor?, keyBias: Tensor?,
                          temperature: Float) -> Tensor {
        let (b, nq) = (queries.shape[0], queries.shape[1])
        let inv = 1 / temperature
        var attention = Tensor.matmul(queries, keys, transB: true) * inv
        if let kb = keyBias { attention = attention + kb }
        let context = Loss.l2Normalize(Tensor.matmul(attention.softmax(), keys))
        let sim = Tensor.matmul(queries, context, transB: true) * inv      // [B, i: query, j: context]
        let targets = Array(0..<(b * nq)).map { $0 % nq }
        func term(_ logits: Tensor) -> Tensor {
            let biased = queryBias.map { logits + $0 } ?? logits
            let picked = biased.logSoftmax().gatherLast(targets).reshaped([b, nq])
            return -(picked * queryWeights).sum() / Float(b)
        }
        return (term(sim) + term(sim.transposed(1, 2))) * 0.5
    }

    /// Sinkhorn-Knopp as MGCA and SwAV run it on Q = exp(scores/ε)ᵀ: normalise Q to total mass 1, then alternately
    /// give every prototype mass 1/K and every sample mass 1/B; finally each sample's row is rescaled to sum to 1.
    /// `scores` [B, K] carry no gradient; the codes [B, K] are targets.
    public static func sinkhornKnopp(_ scores: Tensor, epsilon: Float, iterations: Int) -> Tensor {
        precondition(scores.rank == 2, "sinkhornKnopp: scores must be [B, K], got \(scores.shape)")
        let (b, k) = (scores.shape[0], scores.shape[1])
        let s = scores.array
        // Subtracting the maximum cancels in the first normalisation and keeps exp from overflowing.
        let top = Double(s.max() ?? 0)
        var q = s.map { Foundation.exp((Double($0) - top) / Double(epsilon)) }
        let total = q.reduce(0, +)
        for i in q.indices { q[i] /= total }
        for _ in 0..<iterations {
            for j in 0..<k {
                var mass = 0.0
                for i in 0..<b { mass += q[i * k + j] }
                let f = mass > 0 ? (1 / Double(k)) / mass : 0
                for i in 0..<b { q[i * k + j] *= f }
            }
            for i in 0..<b { rescaleRow(&q, i, k, to: 1 / Double(b)) }
        }
        for i in 0..<b { rescaleRow(&q, i, k, to: 1) }
        return Tensor(q.map(Float.init), shape: [b, k])
    }

    private static func rescaleRow(_ q: inout [Double], _ i: Int, _ k: Int, to target: Double) {
        var mass = 0.0
        for j in 0..<k { mass += q[i * k + j] }
        guard mass > 0 else { return }
        let f = target / mass
        for j in 0..<k { q[i * k + j] *= f }
    }

    /// CPA: −½·(mean_b Σ_k codeᵢ·log softmax(scoresₜ/τ) + mean_b Σ_k codeₜ·log softmax(scoresᵢ/τ)), each modality
    /// predicting the other's Sinkhorn codes.
    public static func swappedPredictionLoss(imageScores: Tensor, textScores: Tensor, imageCodes: Tensor, textCodes: Tensor,
                                             temperature: Float) -> Tensor {
        let inv = 1 / temperature
        let imageToText = -(imageCodes.data * (textScores * inv).logSoftmax()).sum(axis: 1).mean()
        let textToImage = -(textCodes.data * (imageScores * inv).logSoftmax()).sum(axis: 1).mean()
        return (imageToText + textToImage) * 0.5
    }
}
