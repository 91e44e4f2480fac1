import Foundation
import Engine

/// Result of an attention layer: the attended features and, on request, the attention probabilities averaged
/// over heads ([B, Tq, Tk]) for heat maps and for models that feed attention maps onward (they stay in the graph).
public struct AttentionOutput {
    public let output: Tensor
    public let weights: Tensor?
}

/// [B, T, H·d] → [B, H, T, d]: one batched GEMM then covers all heads of all sequences.
public func splitHeads(_ x: Tensor, heads: Int) -> Tensor {
    precondition(x.rank == 3 && x.shape[2] % heads == 0, "splitHeads: \(x.shape) into \(heads) heads")
    return x.reshaped([x.shape[0], x.shape[1], heads, x.shape[2] / heads]).permuted([0, 2, 1, 3])
}

/// [B, H, T, d] → [B, T, H·d], the inverse of `splitHeads`.
public func mergeHeads(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "mergeHeads expects [B, H, T, d], got \(x.shape)")
    return x.permuted([0, 2, 1, 3]).reshaped([x.shape[0], x.shape[2], x.shape[1] * x.shape[3]])
}

/// softmax(q·kᵀ·scale + bias) · v for heads laid out as [..., Tq, d] and [..., Tk, d] (any leading batch dims,
/// usually [B, H]).
///
/// - `bias` is additive and broadcast against the scores [..., Tq, Tk] (causal masks, relative position bias,
///   Swin's shifted-window mask); it may require a gradient.
/// - `keyPaddingMask` is [B, Tk] with 1 at padded keys, for rank-4 heads [B, H, T, d]; those keys get zero weight.
///   A query whose keys are all padded gets all-zero weights (PyTorch would give NaN).
/// - `dropout` is applied to the probabilities that weight `v`; the returned `probs` are taken before it, so heat
///   maps do not flicker with the dropout mask.
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil, bias: Tensor? = nil,
                                      keyPaddingMask: Tensor? = nil, dropout: Dropout? = nil) -> (context: Tensor, probs: Tensor) {
    let d = q.shape[q.rank - 1]
    // Scaling q (Tq·d values) is cheaper than scaling the scores (Tq·Tk).
    var scores = Tensor.matmul(q * (scale ?? 1 / Float(d).squareRoot()), k, transB: true)
    if let b = bias { scores = scores + b }
    if let m = keyPaddingMask {
        precondition(scores.rank == 4 && m.shape == [scores.shape[0], scores.shape[3]],
                     "keyPaddingMask must be [B, Tk] = [\(scores.shape.first ?? 0), \(scores.shape.last ?? 0)], got \(m.shape)")
        scores = scores.maskedFill(m.reshaped([m.shape[0], 1, 1, m.shape[1]]), -.infinity)
    }
    let probs = scores.softmax()
    let weighted = dropout.map { $0(probs) } ?? probs
    return (Tensor.matmul(weighted, v), probs)
}

/// Multi-head attention with separate query/key/value projections (self-attention when no key is given,
/// cross-attention otherwise). Inputs are batch-first [B, T, features].
///
/// Field names follow the q_proj/k_proj/v_proj/out_proj convention of Hugging Face's CLIP and BART layers, so
/// such checkpoints load by name.
public final class MultiHeadAttention: Module {
    public let dim: Int
    public let heads: Int
    public var q_proj: Linear
    public var k_proj: Linear
    public var v_proj: Linear
    public var out_proj: Linear
    public var attn_drop: Dropout

    /// - Parameters:
    ///   - dim: query features, also the attention width and the output features.
    ///   - keyDim/valueDim: features of the key and value inputs when they differ from `dim` (cross-attention
    ///     between image and text features of different widths).
    ///   - dropout: dropout on the attention probabilities.
    public init(dim: Int, heads: Int, keyDim: Int? = nil, valueDim: Int? = nil, bias: Bool = true, dropout: Float = 0) {
        precondition(dim % heads == 0, "dim \(dim) is not divisible by \(heads) heads")
        self.dim = dim
        self.heads = heads
        q_proj = Linear(dim, dim, bias: bias)
        k_proj = Linear(keyDim ?? dim, dim, bias: bias)
        v_proj = Linear(valueDim ?? keyDim ?? dim, dim, bias: bias)
        out_proj = Linear(dim, dim, bias: bias)
        attn_drop = Dropout(dropout)
        super.init()
        resetFromDefaultStream()
    }

    /// PyTorch's nn.MultiheadAttention, so that training from scratch starts where the papers' code started:
    /// Xavier-uniform input projections with zero biases. With equal widths PyTorch initialises q, k and v as one
    /// fused [3·dim, dim] matrix, whose Xavier bound √(6 / 4·dim) is narrower than a single projection's.
    public override func resetParameters(_ rng: inout RNG) {
        let fused = k_proj.weight.shape[1] == dim && v_proj.weight.shape[1] == dim
        for p in [q_proj, k_proj, v_proj] {
            if fused {
                let bound = (6 / Float(4 * dim)).squareRoot()
                Init.uniform(p.weight, lo: -bound, hi: bound, rng: &rng)
            } else {
                Init.xavierUniform(p.weight, rng: &rng)
            }
            p.bias?.fill(0)
        }
        out_proj.bias?.fill(0)
    }

    /// - Parameters:
    ///   - query: [B, Tq, dim].
    ///   - key: [B, Tk, keyDim]; defaults to `query` (self-attention).
    ///   - value: [B, Tk, valueDim]; defaults to `key`.
    ///   - keyPaddingMask: [B, Tk], 1 where the key is padding.
    ///   - attentionBias: additive, broadcastable to [B, heads, Tq, Tk] (e.g. a [Tq, Tk] causal mask).
    ///   - needWeights: also return the probabilities averaged over heads, [B, Tq, Tk].
    public func callAsFunction(_ query: Tensor, key: Tensor? = nil, value: Tensor? = nil, keyPaddingMask: Tensor? = nil,
                               attentionBias: Tensor? = nil, needWeights: Bool = false) -> AttentionOutput {
        let kIn = key ?? query, vIn = value ?? kIn
        let q = splitHeads(q_proj(query), heads: heads)
        let k = splitHeads(k_proj(kIn), heads: heads)
        let v = splitHeads(v_proj(vIn), heads: heads)
        let (ctx, probs) = scaledDotProductAttention(q, k, v, bias: attentionBias, keyPaddingMask: keyPaddingMask,
                                                     dropout: attn_drop)
        return AttentionOutput(output: out_proj(mergeHeads(ctx)), weights: needWeights ? probs.mean(axis: 1) : nil)
    }
}

/// Self-attention with one fused qkv projection, as timm's ViT and Swin name it (`attn.qkv`, `attn.proj`).
public final class FusedSelfAttention: Module {
    public let dim: Int
    public let heads: Int
    public var qkv: Linear
    public var proj: Linear
    public var attn_drop: Dropout
    public var proj_drop: Dropout

    public init(dim: Int, heads: Int, qkvBias: Bool = true, attentionDropout: Float = 0, projectionDropout: Float = 0) {
        precondition(dim % heads == 0, "dim \(dim) is not divisible by \(heads) heads")
        self.dim = dim
        self.heads = heads
        qkv = Linear(dim, 3 * dim, bias: qkvBias)
        proj = Linear(dim, dim)
        attn_drop = Dropout(attentionDropout)
        proj_drop = Dropout(projectionDropout)
    }

    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor? = nil, attentionBias: Tensor? = nil,
                               needWeights: Bool = false) -> AttentionOutput {
        let (q, k, v) = splitFusedQKV(qkv(x), heads: heads)
        let (ctx, probs) = scaledDotProductAttention(q, k, v, bias: attentionBias, keyPaddingMask: keyPaddingMask,
                                                     dropout: attn_drop)
        return AttentionOutput(output: proj_drop(proj(mergeHeads(ctx))), weights: needWeights ? probs.mean(axis: 1) : nil)
    }
}

/// q, k, v as [B, H, T, d] each from a fused projection [B, T, 3·H·d] laid out as (q | k | v), heads inside each.
public func splitFusedQKV(_ y: Tensor, heads: Int) -> (q: Tensor, k: Tensor, v: Tensor) {
    let (b, t, d) = (y.shape[0], y.shape[1], y.shape[2] / (3 * heads))
    // [B, T, 3, H, d] → [3, B, H, T, d]: one copy lays out all three operands for the batched GEMMs.
    let z = y.reshaped([b, t, 3, heads, d]).permuted([2, 0, 3, 1, 4])
    return (z.slice(axis: 0, 0, 1).squeezed(0), z.slice(axis: 0, 1, 2).squeezed(0), z.slice(axis: 0, 2, 3).squeezed(0))
}
