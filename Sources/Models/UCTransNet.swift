import Foundation
import Engine
import NN

// UCTransNet (Wang, Cao, Wang and Zaiane, AAAI 2022), following the reference code (McGregorWwww/UCTransNet,
// nets/UCTransNet.py and nets/CTrans.py; 66,430,657 parameters for 3 input channels and one output at 224).
//
// The U-Net's four skips are tokenised at one common grid (patch sizes 16/8/4/2 on the 224…28 maps give 14 × 14
// tokens each) and passed through the Channel-wise Cross fusion Transformer (CCT): in every layer each scale's
// channels query the channels of all four scales together, so attention runs over channels (a C_i × ΣC map per
// head), not over positions. The fused tokens are upsampled back, added to the skips, and each decoder step
// re-weights its skip with Channel-wise Cross Attention (CCA) guided by the upsampled decoder features.

/// Patch embedding of one skip: a stride-p convolution keeping the channel count, plus learned positions.
public final class ChannelEmbedding: Module {
    public var patch_embeddings: Conv2d
    public var position_embeddings: Tensor
    public var dropout: Dropout

    public init(channels: Int, patch: Int, mapSize: Int, dropout p: Float) {
        precondition(mapSize % patch == 0, "UCTransNet: a \(mapSize)² skip does not split into \(patch)² patches")
        patch_embeddings = Conv2d(channels, channels, kernelSize: patch, stride: patch)
        position_embeddings = Tensor(zeros: [1, (mapSize / patch) * (mapSize / patch), channels], requiresGrad: true)
        dropout = Dropout(p)
    }

    /// [B, C, H, W] → tokens [B, N, C].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = patch_embeddings(x)
        return dropout(y.reshaped([y.shape[0], y.shape[1], -1]).transposed(1, 2) + position_embeddings)
    }
}

/// Multi-head channel-wise cross attention of the CCT. For scale i and head h:
///   Q_i = T_i W_q,  K = T_Σ W_k,  V = T_Σ W_v           (T_i [N, C_i] tokens, T_Σ [N, ΣC] all scales)
///   M_i = softmax(InstanceNorm(Q_iᵀ K / √ΣC))           ([C_i, ΣC], softmax over the ΣC channels)
///   O_i = mean_h(M_i Vᵀ)ᵀ W_o                           ([N, C_i])
/// Every head owns its projections, as in the reference, and the heads are averaged, not concatenated.
public final class ChannelCrossAttention: Module {
    /// query.i.h is scale i's query projection in head h.
    public var query: [HeadProjections]
    public var key: HeadProjections
    public var value: HeadProjections
    public var out: [Linear]
    public var attn_dropout: Dropout
    public var proj_dropout: Dropout
    public let kvSize: Int

    /// The per-head, bias-free projections of one input.
    public final class HeadProjections: Module {
        public var heads: [Linear]
        init(count: Int, features: Int) { heads = (0..<count).map { _ in Linear(features, features, bias: false) } }
        /// x [B, N, F] → [B, heads, N, F].
        func callAsFunction(_ x: Tensor) -> Tensor { Tensor.stack(heads.map { $0(x) }, axis: 1) }
    }

    public init(channels: [Int], heads: Int, dropout p: Float) {
        kvSize = channels.reduce(0, +)
        query = channels.map { HeadProjections(count: heads, features: $0) }
        key = HeadProjections(count: heads, features: kvSize)
        value = HeadProjections(count: heads, features: kvSize)
        out = channels.map { Linear($0, $0, bias: false) }
        attn_dropout = Dropout(p)
        proj_dropout = Dropout(p)
    }

    /// Outputs per scale and the attention maps averaged over heads ([B, C_i, ΣC] per scale).
    public func callAsFunction(_ tokens: [Tensor], all: Tensor) -> (outputs: [Tensor], maps: [Tensor]) {
        let k = key(all)                        // [B, H, N, ΣC]
        let vT = value(all).transposed(2, 3)    // [B, H, ΣC, N]
        let scale = 1 / Float(kvSize).squareRoot()
        var outputs: [Tensor] = [], maps: [Tensor] = []
        for (i, t) in tokens.enumerated() {
            let scores = Tensor.matmul(query[i](t), k, transA: true) * scale   // [B, H, C_i, ΣC]
            // InstanceNorm2d over the head "channels": each head's whole map is standardised.
            let probs = Tensor.groupNorm(scores, groups: scores.shape[1], weight: nil, bias: nil, eps: 1e-5).softmax()
            maps.append(probs.mean(axis: 1))
            let context = Tensor.matmul(attn_dropout(probs), vT).mean(axis: 1)   // [B, C_i, N]
            outputs.append(proj_dropout(out[i](context.transposed(1, 2))))
        }
        return (outputs, maps)
    }
}

/// One CCT layer: pre-norm channel cross attention and a per-scale MLP, both residual.
public final class CCTLayer: Module {
    public var attn_norms: [LayerNorm]
    public var attn_norm: LayerNorm
    public var channel_attn: ChannelCrossAttention
    public var ffn_norms: [LayerNorm]
    public var ffns: [MLP]

    public init(channels: [Int], heads: Int, expandRatio: Int, attentionDropout: Float) {
        attn_norms = channels.map { LayerNorm($0, eps: 1e-6) }
        attn_norm = LayerNorm(channels.reduce(0, +), eps: 1e-6)
        channel_attn = ChannelCrossAttention(channels: channels, heads: heads, dropout: attentionDropout)
        ffn_norms = channels.map { LayerNorm($0, eps: 1e-6) }
        ffns = channels.map { MLP(dim: $0, hidden: $0 * expandRatio, activation: .gelu, weightInit: .xavierTinyBias) }
    }

    public func callAsFunction(_ tokens: [Tensor]) -> (tokens: [Tensor], maps: [Tensor]) {
        // The key/value input is the concatenation of the un-normalised tokens, normalised as a whole.
        let all = attn_norm(Tensor.concat(tokens, axis: 2))
        let (attended, maps) = channel_attn(tokens.indices.map { attn_norms[$0](tokens[$0]) }, all: all)
        let mixed = tokens.indices.map { tokens[$0] + attended[$0] }
        return (mixed.indices.map { mixed[$0] + ffns[$0](ffn_norms[$0](mixed[$0])) }, maps)
    }
}

/// Tokens of one scale back to its skip: reshape to the token grid, nearest upsampling by the patch size,
/// 1×1 Conv-BN-ReLU.
public final class Reconstruct: Module {
    public var conv: ConvNormAct
    public let patch: Int

    public init(channels: Int, patch: Int) {
        conv = ConvNormAct(channels, channels, kernelSize: 1)
        self.patch = patch
    }

    public func callAsFunction(_ tokens: Tensor) -> Tensor {
        let (b, n, c) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        let side = Int(Double(n).squareRoot().rounded())
        precondition(side * side == n, "Reconstruct needs a square token grid, got \(n) tokens")
        let grid = tokens.transposed(1, 2).reshaped([b, c, side, side])
        return conv(patch == 1 ? grid : Tensor.interpolate(grid, scaleFactor: Double(patch), mode: .nearest))
    }
}

/// The Channel-wise Cross fusion Transformer over the four skips.
public final class ChannelTransformer: Module {
    public var embeddings: [ChannelEmbedding]
    public var layers: [CCTLayer]
    public var encoder_norms: [LayerNorm]
    public var reconstruct: [Reconstruct]

    public init(config: UCTransNetConfig, imageSize: Int) {
        let channels = (0..<4).map { config.base << $0 }
        embeddings = (0..<4).map {
            ChannelEmbedding(channels: channels[$0], patch: config.patchSizes[$0], mapSize: imageSize >> $0,
                             dropout: config.embeddingDropout)
        }
        let grids = (0..<4).map { (imageSize >> $0) / config.patchSizes[$0] }
        precondition(Set(grids).count == 1, "UCTransNet patch sizes \(config.patchSizes) give token grids \(grids) at \(imageSize)")
        layers = (0..<config.layers).map { _ in
            CCTLayer(channels: channels, heads: config.heads, expandRatio: config.expandRatio,
                     attentionDropout: config.attentionDropout)
        }
        encoder_norms = channels.map { LayerNorm($0, eps: 1e-6) }
        reconstruct = (0..<4).map { Reconstruct(channels: channels[$0], patch: config.patchSizes[$0]) }
    }

    /// Fused skips (each added to its input) and the last layer's channel attention maps.
    public func callAsFunction(_ skips: [Tensor]) -> (skips: [Tensor], maps: [Tensor]) {
        var tokens = skips.indices.map { embeddings[$0](skips[$0]) }
        var maps: [Tensor] = []
        for layer in layers { (tokens, maps) = layer(tokens) }
        return (skips.indices.map { reconstruct[$0](encoder_norms[$0](tokens[$0])) + skips[$0] }, maps)
    }
}

/// Channel-wise Cross Attention: the skip's channels are re-weighted by σ of the mean of two linear maps of the
/// globally pooled skip and decoder features, then passed through ReLU.
public final class CCA: Module {
    public var mlp_x: Linear
    public var mlp_g: Linear

    public init(gateChannels: Int, skipChannels: Int) {
        mlp_x = Linear(skipChannels, skipChannels)
        mlp_g = Linear(gateChannels, skipChannels)
    }

    /// The re-weighted skip and its channel weights [B, C].
    public func callAsFunction(gate g: Tensor, skip x: Tensor) -> (Tensor, Tensor) {
        let weights = ((mlp_x(x.mean(axes: [2, 3])) + mlp_g(g.mean(axes: [2, 3]))) * 0.5).sigmoid()
        return ((x * weights.reshaped([x.shape[0], x.shape[1], 1, 1])).relu(), weights)
    }
}

/// UCTransNet: LViT-style U-Net encoder (a single Conv-BN-ReLU stem, stages to 8·base, bottleneck kept at 8·base),
/// CCT on the four skips, and a decoder of nearest ×2, CCA on the skip, concatenation and two Conv-BN-ReLU.
public final class UCTransNet: Module, SegmentationModel {
    public let config: UCTransNetConfig
    public var inc: ConvNormAct
    public var down: [Sequential]
    public var mtc: ChannelTransformer
    /// coatt.j and up.j form decoder step j, deepest first.
    public var coatt: [CCA]
    public var up: [Sequential]
    public var outc: Conv2d

    public init(config: UCTransNetConfig, inChannels: Int, imageSize: Int) {
        precondition(imageSize % 16 == 0, "UCTransNet needs an image side divisible by 16, got \(imageSize)")
        self.config = config
        let b = config.base
        let c = [b, 2 * b, 4 * b, 8 * b, 8 * b]
        inc = ConvNormAct(inChannels, b)
        down = (1...4).map { convStack(c[$0 - 1], c[$0]) }
        mtc = ChannelTransformer(config: config, imageSize: imageSize)
        // Step j meets the skip of level 3−j with upsampled decoder features of the same width and halves it
        // (the last step keeps the base width).
        coatt = (0..<4).map { j in CCA(gateChannels: c[3 - j], skipChannels: c[3 - j]) }
        up = (0..<4).map { j in convStack(2 * c[3 - j], j == 3 ? b : c[2 - j]) }
        outc = Conv2d(b, 1, kernelSize: 1)
    }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        requireDivisible(image, by: 4, model: "UCTransNet")
        var skips = [inc(image)]
        for stage in down { skips.append(stage(Tensor.maxPool2d(skips[skips.count - 1], kernel: 2))) }
        let (fused, maps) = mtc(Array(skips[0..<4]))
        var x = skips[4]
        var attention: [String: Tensor] = [:]
        for j in 0..<4 {
            let upsampled = Tensor.interpolate(x, scaleFactor: 2, mode: .nearest)
            let (gated, weights) = coatt[j](gate: upsampled, skip: fused[3 - j])
            attention["cca\(3 - j)"] = weights
            x = up[j](catChannels([gated, upsampled]))
        }
        for (i, m) in maps.enumerated() { attention["cct\(i)"] = m }
        return SegOutput(logits: outc(x), attentionMaps: attention)
    }
}
