import Foundation
import Engine

/// Nonlinearity of a transformer MLP.
public enum MLPActivation: String, Codable {
    case relu
    /// Exact erf GELU (PyTorch's and BERT's "gelu").
    case gelu
    /// tanh approximation ("gelu_new", "gelu_pytorch_tanh").
    case geluTanh = "gelu_tanh"
    /// x·σ(1.702·x), the GELU approximation OpenAI's CLIP was trained with ("quick_gelu").
    case quickGelu = "quick_gelu"

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: return x.relu()
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(tanhApproximation: true)
        case .quickGelu: return x * (x * 1.702).sigmoid()
        }
    }
}

/// Two-layer MLP of a transformer block, fc1 → activation → dropout → fc2 → dropout (timm's `Mlp` names).
public final class MLP: Layer {
    public var fc1: Linear
    public var fc2: Linear
    public var drop: Dropout
    public let activation: MLPActivation

    /// How fc1 and fc2 start: PyTorch's Linear default, or Xavier-uniform weights with N(0, 1e-6) biases, the
    /// initialisation TransUNet and UCTransNet give their transformer MLPs.
    public enum WeightInit { case linearDefault, xavierTinyBias }
    public let weightInit: WeightInit

    public init(dim: Int, hidden: Int, outDim: Int? = nil, activation: MLPActivation = .gelu, dropout: Float = 0,
                weightInit: WeightInit = .linearDefault) {
        fc1 = Linear(dim, hidden)
        fc2 = Linear(hidden, outDim ?? dim)
        drop = Dropout(dropout)
        self.activation = activation
        self.weightInit = weightInit
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        guard weightInit == .xavierTinyBias else { return }
        for fc in [fc1, fc2] {
            Init.xavierUniform(fc.weight, rng: &rng)
            if let b = fc.bias { Init.normal(b, std: 1e-6, rng: &rng) }
        }
    }

    public override func forward(_ x: Tensor) -> Tensor { drop(fc2(drop(activation(fc1(x))))) }
}

/// Stochastic depth: in training, zeroes a whole residual branch per sample with probability `p` and scales the
/// survivors by 1/(1−p); the identity in evaluation. Masks come from the layer's own stream, placed by the training
/// loop at each step.
public final class DropPath: Layer, RandomLayer {
    public let p: Float
    public var randomness = RNG(seed: 0)
    public init(_ p: Float = 0) { self.p = p }

    public override func forward(_ x: Tensor) -> Tensor {
        guard training, p > 0 else { return x }
        let keep = 1 - p
        let maskShape = [x.shape[0]] + [Int](repeating: 1, count: x.rank - 1)
        let mask = Tensor.empty(maskShape)
        for i in 0..<mask.count { mask.ptr[i] = randomness.bernoulli(keep) ? 1 / keep : 0 }
        return x * mask
    }
}

/// A transformer encoder layer over [B, T, dim], post-norm (the original Transformer and BERT) or pre-norm
/// (ViT, CLIP). Names follow PyTorch's nn.TransformerEncoderLayer, with separate q/k/v projections.
public final class TransformerEncoderLayer: Module {
    public var self_attn: MultiHeadAttention
    public var linear1: Linear
    public var linear2: Linear
    public var norm1: LayerNorm
    public var norm2: LayerNorm
    public var dropout: Dropout
    public var dropout1: Dropout
    public var dropout2: Dropout
    public let normFirst: Bool
    public let activation: MLPActivation

    public init(dim: Int, heads: Int, mlpDim: Int, dropout p: Float = 0, activation: MLPActivation = .relu,
                normFirst: Bool = false, eps: Float = 1e-5) {
        self_attn = MultiHeadAttention(dim: dim, heads: heads, dropout: p)
        linear1 = Linear(dim, mlpDim)
        linear2 = Linear(mlpDim, dim)
        norm1 = LayerNorm(dim, eps: eps)
        norm2 = LayerNorm(dim, eps: eps)
        dropout = Dropout(p)
        dropout1 = Dropout(p)
        dropout2 = Dropout(p)
        self.normFirst = normFirst
        self.activation = activation
    }

    private func feedForward(_ x: Tensor) -> Tensor { linear2(dropout(activation(linear1(x)))) }

    /// - Parameters:
    ///   - keyPaddingMask: [B, T], 1 at padding.
    ///   - attentionBias: additive, broadcastable to [B, heads, T, T].
    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor? = nil, attentionBias: Tensor? = nil) -> Tensor {
        let attend = { (h: Tensor) in
            self.dropout1(self.self_attn(h, keyPaddingMask: keyPaddingMask, attentionBias: attentionBias).output)
        }
        if normFirst {
            let h = x + attend(norm1(x))
            return h + dropout2(feedForward(norm2(h)))
        }
        let h = norm1(x + attend(x))
        return norm2(h + dropout2(feedForward(h)))
    }
}

/// A transformer decoder layer: self-attention over the queries, cross-attention to a memory, MLP.
/// Names follow PyTorch's nn.TransformerDecoderLayer (`multihead_attn` is the cross-attention).
/// The cross-attention weights can be returned, averaged over heads, as query-to-memory heat maps.
public final class TransformerDecoderLayer: Module {
    public var self_attn: MultiHeadAttention
    public var multihead_attn: MultiHeadAttention
    public var linear1: Linear
    public var linear2: Linear
    public var norm1: LayerNorm
    public var norm2: LayerNorm
    public var norm3: LayerNorm
    public var dropout: Dropout
    public var dropout1: Dropout
    public var dropout2: Dropout
    public var dropout3: Dropout
    public let normFirst: Bool
    public let activation: MLPActivation

    /// `memoryDim` is the width of the memory when it differs from `dim` (e.g. visual features attended by text).
    public init(dim: Int, heads: Int, mlpDim: Int, memoryDim: Int? = nil, dropout p: Float = 0,
                activation: MLPActivation = .relu, normFirst: Bool = false, eps: Float = 1e-5) {
        self_attn = MultiHeadAttention(dim: dim, heads: heads, dropout: p)
        multihead_attn = MultiHeadAttention(dim: dim, heads: heads, keyDim: memoryDim, dropout: p)
        linear1 = Linear(dim, mlpDim)
        linear2 = Linear(mlpDim, dim)
        norm1 = LayerNorm(dim, eps: eps)
        norm2 = LayerNorm(dim, eps: eps)
        norm3 = LayerNorm(dim, eps: eps)
        dropout = Dropout(p)
        dropout1 = Dropout(p)
        dropout2 = Dropout(p)
        dropout3 = Dropout(p)
        self.normFirst = normFirst
        self.activation = activation
    }

    private func feedForward(_ x: Tensor) -> Tensor { linear2(dropout(activation(linear1(x)))) }

    /// - Parameters:
    ///   - x: queries [B, Tq, dim]; memory: [B, Tm, memoryDim].
    ///   - selfAttentionBias: additive, e.g. `causalMask(Tq)`.
    ///   - keyPaddingMask / memoryKeyPaddingMask: [B, Tq] / [B, Tm], 1 at padding.
    /// - Returns: the layer output and, with `needWeights`, the cross-attention map [B, Tq, Tm].
    public func callAsFunction(_ x: Tensor, memory: Tensor, selfAttentionBias: Tensor? = nil, keyPaddingMask: Tensor? = nil,
                               memoryKeyPaddingMask: Tensor? = nil, needWeights: Bool = false) -> AttentionOutput {
        let selfAttend = { (h: Tensor) in
            self.dropout1(self.self_attn(h, keyPaddingMask: keyPaddingMask, attentionBias: selfAttentionBias).output)
        }
        var weights: Tensor?
        let crossAttend = { (h: Tensor) -> Tensor in
            let a = self.multihead_attn(h, key: memory, keyPaddingMask: memoryKeyPaddingMask, needWeights: needWeights)
            weights = a.weights
            return self.dropout2(a.output)
        }
        var h: Tensor
        if normFirst {
            h = x + selfAttend(norm1(x))
            h = h + crossAttend(norm2(h))
            h = h + dropout3(feedForward(norm3(h)))
        } else {
            h = norm1(x + selfAttend(x))
            h = norm2(h + crossAttend(h))
            h = norm3(h + dropout3(feedForward(h)))
        }
        return AttentionOutput(output: h, weights: weights)
    }
}

/// A stack of encoder layers (`layers.i.*`) with an optional final norm, which pre-norm stacks need.
public final class TransformerEncoder: Module {
    public var layers: [TransformerEncoderLayer]
    public var norm: LayerNorm?

    public init(layers: [TransformerEncoderLayer], norm: LayerNorm? = nil) {
        self.layers = layers
        self.norm = norm
    }

    public convenience init(depth: Int, dim: Int, heads: Int, mlpDim: Int, dropout: Float = 0,
                            activation: MLPActivation = .relu, normFirst: Bool = false) {
        self.init(layers: (0..<depth).map { _ in
            TransformerEncoderLayer(dim: dim, heads: heads, mlpDim: mlpDim, dropout: dropout, activation: activation,
                                    normFirst: normFirst)
        }, norm: normFirst ? LayerNorm(dim) : nil)
    }

    /// The output of every layer (the last one after the final norm, if any).
    public func hiddenStates(_ x: Tensor, keyPaddingMask: Tensor? = nil, attentionBias: Tensor? = nil) -> [Tensor] {
        var out: [Tensor] = []
        var h = x
        for l in layers {
            h = l(h, keyPaddingMask: keyPaddingMask, attentionBias: attentionBias)
            out.append(h)
        }
        if let n = norm, !out.isEmpty { out[out.count - 1] = n(h) }
        return out
    }

    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor? = nil, attentionBias: Tensor? = nil) -> Tensor {
        hiddenStates(x, keyPaddingMask: keyPaddingMask, attentionBias: attentionBias).last ?? x
    }
}

/// A stack of decoder layers with an optional final norm; returns the last layer's cross-attention map.
public final class TransformerDecoder: Module {
    public var layers: [TransformerDecoderLayer]
    public var norm: LayerNorm?

    public init(layers: [TransformerDecoderLayer], norm: LayerNorm? = nil) {
        self.layers = layers
        self.norm = norm
    }

    public func callAsFunction(_ x: Tensor, memory: Tensor, selfAttentionBias: Tensor? = nil, keyPaddingMask: Tensor? = nil,
                               memoryKeyPaddingMask: Tensor? = nil, needWeights: Bool = false) -> AttentionOutput {
        var h = x
        var weights: Tensor?
        for (i, l) in layers.enumerated() {
            let r = l(h, memory: memory, selfAttentionBias: selfAttentionBias, keyPaddingMask: keyPaddingMask,
                      memoryKeyPaddingMask: memoryKeyPaddingMask, needWeights: needWeights && i == layers.count - 1)
            h = r.output
            weights = r.weights ?? weights
        }
        return AttentionOutput(output: norm.map { $0(h) } ?? h, weights: weights)
    }
}

/// Additive [T, T] mask that stops position i from attending to positions after i.
public func causalMask(_ t: Int) -> Tensor {
    let m = Tensor(zeros: [t, t])
    for i in 0..<t { for j in (i + 1)..<max(t, i + 1) { m.ptr[i * t + j] = -.infinity } }
    return m
}
