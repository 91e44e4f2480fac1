import Engine
import NN

// Multi-stage Cross-attention Module (TMC, Chen 2025, §3.1 and Fig. 2), one instance per visual stage i:
//
//   F_V^i = MLP(MHCA(Q = V_i, K = V = L_i))        vision stage: image tokens ask the words
//   F_L^i = MLP(MHCA(Q = L_i, K = V = F_V^i))      language stage: words ask the text-aware image tokens
//
// The equations leave the wiring around MHCA and MLP open; our choices (Papers/TMC/model.md, "MCM"):
// - Pre-norm residual sub-layers, as in the Swin blocks the module sits between:
//     A_V = V + MHCA(LN(V), LN(L')),  F_V = A_V + MLP(LN(A_V)),
//     A_L = L' + MHCA(LN(L'), LN(F_V)), F_L = A_L + MLP(LN(A_L)).
//   With the identity path, F_V starts close to V, so switching MCM on does not disturb the visual encoder at
//   initialisation, and F_V can replace V_i everywhere the paper uses it.
// - The text is brought to the stage's width first: L' = Linear_D→C_i(L_i). From stage 2 on, the previous
//   stage's language output joins it, L' = Linear(L_i) + Linear_{C_{i−1}→C_i}(F_L^{i−1}): the paper feeds F_L^i to
//   "the next stage", and with a frozen, cached BERT this residual is where the next stage can receive it.
// - Padded words are masked as keys; the MLPs expand 4× with GELU (the transformer convention; Fig. 2 gives no ratio).

/// What one cross-attention stage returns.
public struct MCMOutput {
    /// F_V, [B, N, C]: text-aware visual tokens.
    public let visual: Tensor
    /// F_L, [B, T, C]: image-aware word features.
    public let text: Tensor
    /// Vision-stage attention averaged over heads, [B, N, T]: how much each image token reads each word.
    public let visionToText: Tensor
    /// Language-stage attention averaged over heads, [B, T, N]: where each word looks in the image (Fig. 4 heat maps).
    public let textToVision: Tensor
}

public final class CrossAttentionStage: Module {
    public let dim: Int
    public let heads: Int
    public var text_proj: Linear
    /// Maps the previous stage's F_L to this width; nil at the first stage.
    public var carry_proj: Linear?
    public var norm_vq: LayerNorm
    public var norm_lkv: LayerNorm
    public var v_attn: MultiHeadAttention
    public var norm_v_mlp: LayerNorm
    public var v_mlp: MLP
    public var norm_lq: LayerNorm
    public var norm_vkv: LayerNorm
    public var l_attn: MultiHeadAttention
    public var norm_l_mlp: LayerNorm
    public var l_mlp: MLP

    /// - Parameters:
    ///   - dim: the stage's visual width C_i (also the attention width).
    ///   - textDim: the language features' width D.
    ///   - previousDim: width of the previous stage's F_L, or nil at the first stage.
    public init(dim: Int, textDim: Int, heads: Int, previousDim: Int? = nil, mlpRatio: Float = 4, dropout: Float = 0) {
        self.dim = dim
        self.heads = heads
        let hidden = Int(Float(dim) * mlpRatio)
        text_proj = Linear(textDim, dim)
        carry_proj = previousDim.map { Linear($0, dim) }
        norm_vq = LayerNorm(dim)
        norm_lkv = LayerNorm(dim)
        v_attn = MultiHeadAttention(dim: dim, heads: heads, dropout: dropout)
        norm_v_mlp = LayerNorm(dim)
        v_mlp = MLP(dim: dim, hidden: hidden, activation: .gelu, dropout: dropout)
        norm_lq = LayerNorm(dim)
        norm_vkv = LayerNorm(dim)
        l_attn = MultiHeadAttention(dim: dim, heads: heads, dropout: dropout)
        norm_l_mlp = LayerNorm(dim)
        l_mlp = MLP(dim: dim, hidden: hidden, activation: .gelu, dropout: dropout)
    }

    /// - Parameters:
    ///   - visual: V_i as tokens [B, N, C].
    ///   - text: L_i [B, T, D].
    ///   - previousText: F_L^{i−1} [B, T, C_{i−1}] (required exactly when the stage was built with `previousDim`).
    ///   - textPaddingMask: [B, T], 1 at padded words (nil when no text in the batch is padded).
    public func callAsFunction(visual: Tensor, text: Tensor, previousText: Tensor? = nil,
                               textPaddingMask: Tensor? = nil) -> MCMOutput {
        precondition(visual.rank == 3 && visual.shape[2] == dim, "MCM stage of width \(dim) got visual tokens \(visual.shape)")
        precondition((previousText == nil) == (carry_proj == nil),
                     "MCM: previousText must be given exactly from the second stage on")
        var words = text_proj(text)
        if let p = previousText, let carry = carry_proj { words = words + carry(p) }
        let va = v_attn(norm_vq(visual), key: norm_lkv(words), keyPaddingMask: textPaddingMask, needWeights: true)
        let av = visual + va.output
        let fv = av + v_mlp(norm_v_mlp(av))
        let la = l_attn(norm_lq(words), key: norm_vkv(fv), needWeights: true)
        let al = words + la.output
        let fl = al + l_mlp(norm_l_mlp(al))
        return MCMOutput(visual: fv, text: fl, visionToText: va.weights!, textToVision: la.weights!)
    }
}

/// The padding mask MultiHeadAttention expects (1 = padded key) from a TextInput's mask (1 = real token), or nil
/// when nothing is padded, which skips the masking work.
public func textKeyPaddingMask(_ text: TextInput) -> Tensor? {
    guard text.attentionMask.contains(where: { $0.contains(0) }) else { return nil }
    let t = text.attentionMask.first?.count ?? 0
    return Tensor(text.attentionMask.flatMap { $0.map { $0 == 0 ? Float(1) : 0 } }, shape: [text.batchSize, t])
}
