import Engine
import NN

// LViT (Li et al., "LViT: Language meets Vision Transformer in medical image segmentation", IEEE TMI 43(1), 2023),
// rebuilt from its paper and the architecture of its public code (HUANGLIZI/LViT, nets/LViT.py, Vit.py, pixlevel.py);
// no code was copied. Papers/TMC/model.md, "LViT", lists what we kept and what we changed.
//
// Two U-shapes share one resolution ladder:
// - CNN branch: a Conv-BN-ReLU stem, four max-pool + double Conv-BN-ReLU steps (base, 2, 4, 8, 8 × base channels),
//   and an up-path whose skips pass through the Pixel-Level Attention Module (PLAM) before concatenation.
// - ViT branch: level i (1…4) embeds the CNN features of its resolution with a patch size that shrinks as the
//   resolution halves (16, 8, 4, 2 at 224), so every level sees the same token grid (14 × 14). Level 1 adds the text,
//   turned into one feature per patch; level i > 1 halves its width with a token convolution and concatenates the
//   previous level's tokens (the CONCAT of the paper). The up-ViT runs each level's blocks again, adds the deeper
//   level brought to its width, and every level is reconstructed to a feature map (nearest upsampling, 1×1 Conv-BN-
//   ReLU) and added to the CNN skip of its resolution.
// - Text: token features [B, T, D] are cut or zero-padded to `textLength` tokens (LViT's loader keeps the first 10
//   BERT token embeddings) and pass through a chain of token convolutions D → 8·base → 4·base → 2·base → base; the
//   last one feeds ViT level 1.
//
// The same network is TMC's segmentation part (§3.3): `extraChannels` widens CNN step i and ViT level i by the
// channels of TMC's cross-modal features F_i, which arrive concatenated to the CNN features (x_{i−1}).

public struct LViTConfig: Equatable, Sendable {
    /// Channels of the CNN stem (LViT: 64).
    public var base: Int
    /// Image side the ViT branch is built for (its position embeddings and the text-to-patch map fix the grid).
    public var imageSize: Int
    /// ViT patch side per level, shallowest first; halves from level to level.
    public var patchSizes: [Int]
    /// Attention heads of every ViT level (LViT: 8).
    public var heads: Int
    /// Transformer blocks per ViT level (LViT: 1).
    public var depth: Int
    public var mlpRatio: Float
    /// Text tokens the text path keeps (LViT: 10).
    public var textLength: Int
    /// Dropout of the patch embeddings and the ViT MLPs (LViT: 0.1).
    public var dropout: Float

    public init(base: Int, imageSize: Int, patchSizes: [Int], heads: Int, depth: Int = 1, mlpRatio: Float = 4,
                textLength: Int = 10, dropout: Float = 0.1) {
        precondition(patchSizes.count == 4, "LViT has four ViT levels")
        for (i, p) in patchSizes.enumerated() {
            precondition(p >= 1 && (imageSize >> i) % p == 0 && (imageSize >> i) / p == imageSize / patchSizes[0],
                         "LViT level \(i + 1): patch \(p) must tile the \(imageSize >> i)-pixel map into the level-1 grid")
        }
        precondition(base % heads == 0, "LViT: base \(base) is not divisible by \(heads) heads")
        self.base = base; self.imageSize = imageSize; self.patchSizes = patchSizes; self.heads = heads
        self.depth = depth; self.mlpRatio = mlpRatio; self.textLength = textLength; self.dropout = dropout
    }

    /// Token grid side shared by the four ViT levels.
    public var gridSide: Int { imageSize / patchSizes[0] }
    /// Channels of the CNN features x_0…x_4.
    public var cnnChannels: [Int] { [base, 2 * base, 4 * base, 8 * base, 8 * base] }

    public static func of(_ scale: Scale) -> LViTConfig {
        switch scale {
        case .paper: return LViTConfig(base: 64, imageSize: 224, patchSizes: [16, 8, 4, 2], heads: 8)
        case .proxy: return LViTConfig(base: 16, imageSize: 64, patchSizes: [8, 4, 2, 1], heads: 4)
        case .smoke: return LViTConfig(base: 4, imageSize: 32, patchSizes: [8, 4, 2, 1], heads: 2)
        }
    }
}

/// Pixel-Level Attention Module (LViT §III-C): two parallel branches, each a 1×1 convolution and ReLU followed by
/// global average (GAP) or global max pooling (GMP) across the channels at every pixel; the two maps and their sum
/// are stacked and a per-pixel MLP (3 → 6 → 1) turns them into one weight per pixel that scales all channels.
/// As in the public code, the weight is not squashed by a sigmoid (the code defines a sigmoid branch but never
/// calls it; we leave it out).
public final class PixelLevelAttention: Layer {
    public var conv_avg: Conv2d
    public var conv_max: Conv2d
    public var bottleneck: MLP

    public init(channels: Int) {
        conv_avg = Conv2d(channels, channels, kernelSize: 1, bias: false)
        conv_max = Conv2d(channels, channels, kernelSize: 1, bias: false)
        bottleneck = MLP(dim: 3, hidden: 6, outDim: 1, activation: .relu)
    }

    /// The per-pixel weight [B, 1, H, W].
    public func weights(_ x: Tensor) -> Tensor {
        let avg = conv_avg(x).relu().mean(axis: 1, keepDim: true)
        let max = conv_max(x).relu().max(axis: 1, keepDim: true).values
        let stacked = Tensor.concat([avg, max, avg + max], axis: 1)
        return bottleneck(stacked.permuted([0, 2, 3, 1])).permuted([0, 3, 1, 2])
    }

    public override func forward(_ x: Tensor) -> Tensor { x * weights(x) }
}

/// Conv1d (kernel 3) → BatchNorm1d → ReLU over a token sequence [B, T, C] → [B, T, C'], convolving along the tokens
/// (LViT's ConvTransBN).
public final class TokenConvBNReLU: Layer {
    public var conv: Conv1d
    public var norm: BatchNorm1d

    public init(_ inChannels: Int, _ outChannels: Int) {
        conv = Conv1d(inChannels, outChannels, kernelSize: 3, padding: 1)
        norm = BatchNorm1d(outChannels, fusedReLU: true)
    }

    public override func forward(_ x: Tensor) -> Tensor { norm(conv(x.transposed(1, 2))).transposed(1, 2) }
}

/// Text tokens [B, textLength, C] → one feature per patch [B, N, C]: the token axis is treated as channels and
/// mapped to the N patches by a convolution along the feature axis, then BatchNorm and ReLU (LViT's text entry).
public final class TextToPatches: Layer {
    public var conv: Conv1d
    public var norm: BatchNorm1d

    public init(textLength: Int, patches: Int) {
        conv = Conv1d(textLength, patches, kernelSize: 3, padding: 1)
        norm = BatchNorm1d(patches, fusedReLU: true)
    }

    public override func forward(_ x: Tensor) -> Tensor { norm(conv(x)) }
}

/// One level of LViT's down-ViT: patch embedding with learned positions, transformer blocks, and the link to the
/// previous level (text at level 1; halve-and-concatenate afterwards).
public final class LViTDownLevel: Module {
    public var patch_embed: ViTPatchEmbed
    public var pos_embed: Tensor
    public var pos_drop: Dropout
    public var text_to_patches: TextToPatches?
    public var blocks: [ViTBlock]
    public var halve: TokenConvBNReLU?

    init(inChannels: Int, dim: Int, patch: Int, patches: Int, config c: LViTConfig, first: Bool) {
        patch_embed = ViTPatchEmbed(patch: patch, inChannels: inChannels, dim: dim)
        pos_embed = Tensor(zeros: [1, patches, dim], requiresGrad: true)
        pos_drop = Dropout(c.dropout)
        text_to_patches = first ? TextToPatches(textLength: c.textLength, patches: patches) : nil
        blocks = (0..<c.depth).map { _ in lvitBlock(dim: dim, config: c) }
        halve = first ? nil : TokenConvBNReLU(dim, dim / 2)
    }

    /// - Parameters: x: feature map [B, C, H, W]; previous: y_{i−1} [B, N, dim/2] (levels > 1); text: [B, T, dim]
    ///   (level 1).
    func callAsFunction(_ x: Tensor, previous: Tensor?, text: Tensor?) -> Tensor {
        var h = pos_drop(patch_embed(x) + pos_embed)
        if let t2p = text_to_patches, let text { h = h + t2p(text) }
        h = blocks.reduce(h) { $1($0) }
        guard let halve, let previous else { return h }
        return Tensor.concat([halve(h), previous], axis: 2)
    }
}

/// One level of LViT's up-ViT: the level's tokens through fresh blocks, plus the deeper level mapped to this width.
public final class LViTUpLevel: Module {
    public var blocks: [ViTBlock]
    public var from_deeper: TokenConvBNReLU?

    init(dim: Int, config c: LViTConfig, deepest: Bool) {
        blocks = (0..<c.depth).map { _ in lvitBlock(dim: dim, config: c) }
        from_deeper = deepest ? nil : TokenConvBNReLU(2 * dim, dim)
    }

    func callAsFunction(_ y: Tensor, deeper: Tensor?) -> Tensor {
        let h = blocks.reduce(y) { $1($0) }
        guard let from_deeper, let deeper else { return h }
        return h + from_deeper(deeper)
    }
}

/// Tokens [B, g², C] back to a map [B, C', g·s, g·s]: nearest upsampling by s, then 1×1 Conv-BN-ReLU.
public final class TokenReconstruct: Module {
    public let scale: Int
    public var proj: ConvNormAct

    init(_ inChannels: Int, _ outChannels: Int, scale: Int) {
        self.scale = scale
        proj = ConvNormAct(inChannels, outChannels, kernelSize: 1)
    }

    func callAsFunction(_ tokens: Tensor) -> Tensor {
        let (b, n, c) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        let g = Int(Double(n).squareRoot().rounded())
        let map = tokens.transposed(1, 2).reshaped([b, c, g, g])
        return proj(scale == 1 ? map : Tensor.interpolate(map, scaleFactor: Double(scale)))
    }
}

/// Up-path step: nearest ×2 upsampling, PLAM on the skip, concatenation [PLAM(skip), up], double Conv-BN-ReLU.
public final class LViTUpBlock: Module {
    public var plam: PixelLevelAttention
    public var convs: Sequential

    init(skipChannels: Int, belowChannels: Int, outChannels: Int) {
        plam = PixelLevelAttention(channels: skipChannels)
        convs = convStack(skipChannels + belowChannels, outChannels)
    }

    func callAsFunction(_ below: Tensor, skip: Tensor) -> Tensor {
        convs(catChannels([plam(skip), Tensor.interpolate(below, scaleFactor: 2)]))
    }
}

/// A pre-norm ViT block with LViT's settings (LayerNorm eps 1e-5, qkv bias, dropout in the MLP, Xavier MLP init).
/// LViT's MLP also applies GELU after its second layer; ours is the standard fc1 → GELU → fc2.
private func lvitBlock(dim: Int, config c: LViTConfig) -> ViTBlock {
    ViTBlock(dim: dim, heads: c.heads, mlpRatio: c.mlpRatio, qkvBias: true, dropout: c.dropout, eps: 1e-5,
             mlpInit: .xavierTinyBias)
}

/// The dual U-shaped network, shared by LViT and TMC's segmentation part.
public final class LViTBackbone: Module {
    public let config: LViTConfig
    public let textDim: Int
    public let extraChannels: [Int]
    public var inc: ConvNormAct
    /// text_convs.0 maps D → 8·base, then 4·base, 2·base, base (LViT's text_module4 … text_module1).
    public var text_convs: [Conv1d]
    public var down_vit: [LViTDownLevel]
    public var down: [Sequential]
    public var up_vit: [LViTUpLevel]
    public var reconstruct: [TokenReconstruct]
    /// up.0 is the deepest step (x_4 with skip x_3).
    public var up: [LViTUpBlock]
    public var outc: Conv2d

    /// - Parameters:
    ///   - textDim: width D of the token features.
    ///   - extraChannels: channels concatenated to x_{i−1} before CNN step i and ViT level i (TMC's F_i); zeros for LViT.
    public init(config: LViTConfig, inChannels: Int, textDim: Int, extraChannels: [Int] = [0, 0, 0, 0]) {
        precondition(extraChannels.count == 4, "extraChannels needs one entry per level")
        self.config = config
        self.textDim = textDim
        self.extraChannels = extraChannels
        let c = config.cnnChannels, patches = config.gridSide * config.gridSide
        inc = ConvNormAct(inChannels, c[0])
        text_convs = [Conv1d(textDim, c[3], kernelSize: 3, padding: 1)]
            + (0..<3).map { Conv1d(c[3 - $0], c[2 - $0], kernelSize: 3, padding: 1) }
        down_vit = (0..<4).map { i in
            LViTDownLevel(inChannels: c[i] + extraChannels[i], dim: c[i], patch: config.patchSizes[i], patches: patches,
                          config: config, first: i == 0)
        }
        down = (0..<4).map { i in convStack(c[i] + extraChannels[i], c[i + 1]) }
        up_vit = (0..<4).map { LViTUpLevel(dim: c[$0], config: config, deepest: $0 == 3) }
        reconstruct = (0..<4).map { TokenReconstruct(c[$0], c[$0], scale: config.patchSizes[$0]) }
        // Up step j joins the map from below with skip x_{3−j}; outputs 4b, 2b, b, b.
        let outs = [c[2], c[1], c[0], c[0]]
        up = (0..<4).map { j in LViTUpBlock(skipChannels: c[3 - j], belowChannels: j == 0 ? c[4] : outs[j - 1], outChannels: outs[j]) }
        outc = Conv2d(c[0], 1, kernelSize: 1)
    }

    /// Token features [B, T, D] cut or zero-padded to `textLength` tokens.
    func fitText(_ features: Tensor) -> Tensor {
        let (t, n) = (features.shape[1], config.textLength)
        if t == n { return features }
        return t > n ? features.slice(axis: 1, 0, n) : features.padded([(0, n - t), (0, 0)])
    }

    /// - Parameters:
    ///   - image: [B, C, S, S] with S = config.imageSize.
    ///   - textFeatures: [B, T, D].
    ///   - extras: F_1…F_4 at the resolutions of x_0…x_3 (S, S/2, S/4, S/8), or nil without extra channels.
    public func callAsFunction(_ image: Tensor, textFeatures: Tensor, extras: [Tensor]? = nil) -> Tensor {
        let s = config.imageSize
        precondition(image.rank == 4 && image.shape[2] == s && image.shape[3] == s,
                     "LViT is built for \(s)×\(s) images (its ViT grid is fixed), got \(image.shape)")
        precondition(textFeatures.rank == 3 && textFeatures.shape[0] == image.shape[0] && textFeatures.shape[2] == textDim,
                     "LViT text features must be [\(image.shape[0]), T, \(textDim)], got \(textFeatures.shape)")
        precondition((extras == nil) == extraChannels.allSatisfy { $0 == 0 }, "extras must match extraChannels")
        var text = fitText(textFeatures).transposed(1, 2)
        for conv in text_convs { text = conv(text) }
        let textTokens = text.transposed(1, 2)

        var x = [inc(image)]
        var y: [Tensor] = []
        for i in 0..<4 {
            let input = extras.map { catChannels([x[i], $0[i]]) } ?? x[i]
            y.append(down_vit[i](input, previous: y.last, text: i == 0 ? textTokens : nil))
            x.append(down[i](Tensor.maxPool2d(input, kernel: 2)))
        }
        var deeper: Tensor?
        for i in stride(from: 3, through: 0, by: -1) {
            let yi = up_vit[i](y[i], deeper: deeper)
            x[i] = x[i] + reconstruct[i](yi)
            deeper = yi
        }
        var h = x[4]
        for j in 0..<4 { h = up[j](h, skip: x[3 - j]) }
        return outc(h)
    }
}

/// LViT as a Table 1 row: the backbone on the frozen encoder's token features. LViT's code feeds BERT-base token
/// embeddings (768 wide); we feed `TextInput.features` of the suite's frozen encoder (Papers/TMC/model.md).
public final class LViT: Module, SegmentationModel {
    public var net: LViTBackbone

    public init(config: LViTConfig, inChannels: Int, textDim: Int) {
        net = LViTBackbone(config: config, inChannels: inChannels, textDim: textDim)
    }

    public var usesText: Bool { true }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        guard let features = text?.features else {
            preconditionFailure("LViT needs TextInput.features [B, T, \(net.textDim)] from the frozen text encoder")
        }
        return SegOutput(logits: net(image, textFeatures: features))
    }
}
