import Foundation
import Engine
import NN

// The one segmenter behind TMC Table 1's three vision-language rows (CLIP, MAP, MGCA). TMC names the methods but not
// how it turned pre-training objectives into segmenters, so all three share this architecture and differ only in the
// objective their encoders are pre-trained with (Papers/TMC/vlp-baselines.md has the whole protocol).

/// The vision-language pre-training objective a `VLPSegmenter` is pre-trained with.
public enum VLPMethod: String, CaseIterable, Codable, Sendable {
    /// Symmetric InfoNCE with a learnable temperature (Radford et al., ICML 2021).
    case clip
    /// Gaussian embeddings matched by their 2-Wasserstein distance (Ji et al., CVPR 2023).
    case map
    /// Instance, token and prototype alignment (Wang et al., NeurIPS 2022).
    case mgca

    /// The name TMC's Table 1 gives the row.
    public var tableName: String {
        switch self {
        case .clip: return "CLIP"
        case .map: return "MAP"
        case .mgca: return "MGCA"
        }
    }
}

/// Sizes of a `VLPSegmenter`. The image path is the U-Net row's channel plan at the same scale, so the three VLP rows
/// differ from U-Net by the text pathway alone, and from each other by the pre-training objective alone.
public struct VLPConfig: Equatable, Sendable {
    /// Encoder and decoder channels (Ronneberger plan: stage i has base·2^i, bottleneck 16·base at depth 4).
    public var unet: UNetConfig
    /// Width of the joint image-text space the objectives compare in (MGCA's `emb_dim` 128 at paper scale).
    public var embedDim: Int
    /// Heads of the bottleneck cross-attention.
    public var fusionHeads: Int
    /// MGCA's prototype count (500 in MGCA); smaller at reduced scales, where batches and data sets are small.
    public var prototypes: Int

    public init(unet: UNetConfig, embedDim: Int, fusionHeads: Int, prototypes: Int) {
        precondition(unet.style == .ronneberger, "VLPSegmenter follows the Ronneberger U-Net channel plan")
        self.unet = unet; self.embedDim = embedDim; self.fusionHeads = fusionHeads; self.prototypes = prototypes
    }

    public static func of(_ scale: Scale) -> VLPConfig {
        switch scale {
        case .paper: return VLPConfig(unet: .of(.paper), embedDim: 128, fusionHeads: 8, prototypes: 500)
        case .proxy: return VLPConfig(unet: .of(.proxy), embedDim: 64, fusionHeads: 4, prototypes: 64)
        case .smoke: return VLPConfig(unet: .of(.smoke), embedDim: 16, fusionHeads: 2, prototypes: 8)
        }
    }

    /// Channels of the bottleneck, where text meets the image and where the objectives read image tokens.
    public var bottleneckChannels: Int { unet.base << unet.depth }
}

/// What a pre-training objective reads: the image encoder's bottleneck as tokens and the projected text tokens.
public struct VLPFeatures {
    /// [B, N, C]: the N = h·w bottleneck positions of each image.
    public let imageTokens: Tensor
    /// [B, T, C]: the frozen text encoder's tokens after the trainable text projection.
    public let textTokens: Tensor
    /// [B, T]: 1 for real tokens, 0 for padding.
    public let textMask: Tensor

    public init(imageTokens: Tensor, textTokens: Tensor, textMask: Tensor) {
        precondition(imageTokens.rank == 3 && textTokens.rank == 3 && imageTokens.shape[0] == textTokens.shape[0]
                     && textMask.shape == Array(textTokens.shape.prefix(2)),
                     "VLPFeatures: image tokens \(imageTokens.shape), text tokens \(textTokens.shape), mask \(textMask.shape) do not fit")
        self.imageTokens = imageTokens; self.textTokens = textTokens; self.textMask = textMask
    }

    public var batchSize: Int { imageTokens.shape[0] }

    /// Mean over the real text tokens, [B, C]: the global text representation every objective starts from (one
    /// pooling for all three, so that no method gains from a better summary token).
    public var pooledText: Tensor { VLPFeatures.maskedMean(textTokens, textMask) }

    /// Mean over the image positions, [B, C] (global average pooling of the bottleneck).
    public var pooledImage: Tensor { imageTokens.mean(axis: 1) }

    static func maskedMean(_ tokens: Tensor, _ mask: Tensor) -> Tensor {
        let m = mask.data.unsqueezed(2)
        let counts = withoutGrad { mask.data.sum(axis: 1, keepDim: true).clamp(min: 1) }
        return (tokens * m).sum(axis: 1) / counts
    }
}

/// A pre-training objective over `VLPFeatures`, owning whatever heads it needs (projections, distribution encoders,
/// prototypes). The heads serve pre-training only; fine-tuning freezes them and never runs them.
public protocol VLPObjective: Module {
    /// The loss terms, each already multiplied by its weight; the pre-training loss is their sum.
    func terms(_ features: VLPFeatures) -> [String: Tensor]
    /// Called before each pre-training epoch (MGCA keeps its prototypes fixed during the first).
    func epochWillBegin(_ epoch: Int)
}

/// Maps the frozen text encoder's token features [B, T, D] to the bottleneck width [B, T, C]. It is the trainable
/// part of the text encoder: pre-training shapes it (BERT itself stays frozen) and the fusion reads it.
public final class TextProjection: Layer {
    public var fc1: Linear
    public var fc2: Linear

    public init(textDim: Int, outDim: Int) {
        fc1 = Linear(textDim, outDim)
        fc2 = Linear(outDim, outDim)
    }

    public override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).gelu()) }
}

/// Text enters the image at the bottleneck by cross-attention: each bottleneck position (query) reads the text tokens
/// (keys and values), and the result is added back to it.
///
/// Why cross-attention rather than FiLM: FiLM scales and shifts every channel by the same amount at every position, so
/// a report's "lower left lung" can only reach space indirectly. Cross-attention lets each position choose its
/// words, and a learnable position embedding on the queries lets that choice depend on where the position lies,
/// which is what location phrases need. LViT and TMC also let text meet the image through attention, so the VLP rows
/// do not lose to them for want of a fusion mechanism. At the bottleneck (14×14 at 224²) it costs one small
/// attention per image. The residual form keeps the image path intact when the text carries no information.
public final class BottleneckTextFusion: Module {
    /// [1, N, C], added to the queries only, so that values and the residual stay pure image content.
    public var pos_embed: Tensor
    public var norm_image: LayerNorm
    public var norm_text: LayerNorm
    public var cross_attn: MultiHeadAttention
    public let grid: (height: Int, width: Int)

    public init(channels: Int, heads: Int, grid: (height: Int, width: Int)) {
        pos_embed = Tensor(zeros: [1, grid.height * grid.width, channels], requiresGrad: true)
        norm_image = LayerNorm(channels)
        norm_text = LayerNorm(channels)
        cross_attn = MultiHeadAttention(dim: channels, heads: heads)
        self.grid = grid
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        Init.truncatedNormal(pos_embed, std: 0.02, rng: &rng)
    }

    /// - Parameters:
    ///   - x: bottleneck [B, C, h, w] with (h, w) = `grid`.
    ///   - text: projected text tokens [B, T, C]; `padding` [B, T] is 1 at padded tokens.
    /// - Returns: the fused bottleneck [B, C, h, w] and the attention of each position over the words [B, h·w, T].
    public func callAsFunction(_ x: Tensor, text: Tensor, padding: Tensor) -> (Tensor, Tensor) {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(h == grid.height && w == grid.width,
                     "BottleneckTextFusion was built for a \(grid.height)×\(grid.width) bottleneck, got \(h)×\(w); build the model with this image size")
        let tokens = imageTokens(x)
        let a = cross_attn(norm_image(tokens + pos_embed), key: norm_text(text), keyPaddingMask: padding, needWeights: true)
        let fused = (tokens + a.output).transposed(1, 2).reshaped([b, c, h, w])
        return (fused, a.weights!)
    }
}

/// [B, C, h, w] → [B, h·w, C].
@inline(__always) func imageTokens(_ x: Tensor) -> Tensor { x.flattened(from: 2).transposed(1, 2) }

/// A U-Net whose encoder and text projection are first pre-trained with a vision-language objective (CLIP, MAP or
/// MGCA), then fine-tuned whole, with the text fused into the bottleneck, for binary segmentation.
///
/// - Image encoder: the U-Net row's encoder at the same scale (two Conv-BN-ReLU per stage, 2×2 max pooling).
/// - Text: `TextInput.features` [B, T, D] from a frozen text encoder, mapped by `text_proj` to the bottleneck width.
/// - Fusion: `BottleneckTextFusion` (cross-attention from bottleneck positions to text tokens).
/// - Decoder: the U-Net row's decoder (2×2 transposed convolution, skip concatenation, two Conv-BN-ReLU) and 1×1 head.
/// - `objective`: the method's pre-training heads and loss, read by `pretrainTerms` only.
public final class VLPSegmenter: Module, SegmentationModel, Pretrainable {
    public let method: VLPMethod
    public let config: VLPConfig
    public let imageSize: Int
    public let textDim: Int
    /// encoder.0 is the stem; encoder.i (i ≥ 1) runs after the i-th pooling; the last is the bottleneck.
    public var encoder: [Sequential]
    public var text_proj: TextProjection
    public var fusion: BottleneckTextFusion
    /// up.j and decoder.j form the j-th decoder step, deepest first.
    public var up: [ConvTranspose2d]
    public var decoder: [Sequential]
    public var head: Conv2d
    public var objective: VLPObjective

    public var usesText: Bool { true }

    public convenience init(method: VLPMethod, scale: Scale, inChannels: Int, imageSize: Int, textDim: Int) {
        self.init(method: method, config: .of(scale), inChannels: inChannels, imageSize: imageSize, textDim: textDim)
    }

    public init(method: VLPMethod, config: VLPConfig, inChannels: Int, imageSize: Int, textDim: Int) {
        let depth = config.unet.depth
        precondition(imageSize % (1 << depth) == 0, "VLPSegmenter: image size \(imageSize) is not a multiple of \(1 << depth)")
        self.method = method
        self.config = config
        self.imageSize = imageSize
        self.textDim = textDim
        let c = (0...depth).map { config.unet.base << $0 }
        encoder = (0...depth).map { i in convStack(i == 0 ? inChannels : c[i - 1], c[i], bias: false) }
        let bottleneck = c[depth]
        text_proj = TextProjection(textDim: textDim, outDim: bottleneck)
        let side = imageSize >> depth
        fusion = BottleneckTextFusion(channels: bottleneck, heads: config.fusionHeads, grid: (side, side))
        var up: [ConvTranspose2d] = [], decoder: [Sequential] = []
        for level in stride(from: depth - 1, through: 0, by: -1) {
            up.append(ConvTranspose2d(c[level + 1], c[level], kernelSize: 2, stride: 2))
            decoder.append(convStack(2 * c[level], c[level], bias: false))
        }
        self.up = up
        self.decoder = decoder
        head = Conv2d(c[0], 1, kernelSize: 1)
        objective = VLPSegmenter.makeObjective(method, channels: bottleneck, config: config)
    }

    static func makeObjective(_ method: VLPMethod, channels: Int, config: VLPConfig) -> VLPObjective {
        switch method {
        case .clip: return CLIPObjective(imageDim: channels, textDim: channels, embedDim: config.embedDim)
        case .map: return MAPObjective(imageDim: channels, textDim: channels, embedDim: config.embedDim)
        case .mgca:
            return MGCAObjective(imageDim: channels, textDim: channels, embedDim: config.embedDim, prototypes: config.prototypes)
        }
    }

    /// Parameters of the segmenter proper (encoder, text projection, fusion, decoder), without the pre-training
    /// heads, which fine-tuning never runs. This is the count to compare with the other Table 1 rows.
    public var segmentationParameterCount: Int { parameterCount - objective.parameterCount }

    // MARK: Forward passes

    /// Encoder skips, shallowest first; the last one is the bottleneck.
    func encode(_ image: Tensor) -> [Tensor] {
        requireDivisible(image, by: config.unet.depth, model: "VLPSegmenter")
        var skips: [Tensor] = []
        var x = image
        for (i, stage) in encoder.enumerated() {
            x = stage(i == 0 ? x : Tensor.maxPool2d(x, kernel: 2))
            skips.append(x)
        }
        return skips
    }

    /// Projected text tokens [B, T, C] and the attention mask [B, T] (1 = real token).
    func projectText(_ text: TextInput?, batch: Int) -> (tokens: Tensor, mask: Tensor) {
        guard let text, let features = text.features else {
            preconditionFailure("VLPSegmenter needs TextInput.features [B, T, \(textDim)] from the frozen text encoder; got \(text == nil ? "no text" : "no features")")
        }
        precondition(features.rank == 3 && features.shape[0] == batch && features.shape[2] == textDim,
                     "VLPSegmenter: text features must be [\(batch), T, \(textDim)], got \(features.shape)")
        let mask = text.maskTensor
        precondition(mask.shape == Array(features.shape.prefix(2)),
                     "VLPSegmenter: attention mask \(mask.shape) does not match text features \(features.shape)")
        return (text_proj(features), mask)
    }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        let skips = encode(image)
        let depth = config.unet.depth
        let (tokens, mask) = projectText(text, batch: image.shape[0])
        let (fused, attention) = fusion(skips[depth], text: tokens, padding: 1 - mask)
        var x = fused
        for j in 0..<depth {
            x = decoder[j](catChannels([skips[depth - 1 - j], up[j](x)]))
        }
        return SegOutput(logits: head(x), attentionMaps: ["bottleneck_text": attention])
    }

    // MARK: Pretrainable

    public func pretrainTerms(images: Tensor, text: TextInput) -> [String: Tensor] {
        let bottleneck = encode(images)[config.unet.depth]
        let (tokens, mask) = projectText(text, batch: images.shape[0])
        return objective.terms(VLPFeatures(imageTokens: imageTokens(bottleneck), textTokens: tokens, textMask: mask))
    }

    public func pretrainEpochWillBegin(_ epoch: Int) { objective.epochWillBegin(epoch) }

    /// The image encoder, the text projection and the objective's heads: what phase 1 trains.
    public var pretrainParameters: [Tensor] {
        (encoder.flatMap { $0.namedParameters().map(\.1) } + text_proj.namedParameters().map(\.1)
            + objective.namedParameters().map(\.1)).filter(\.requiresGrad)
    }

    public func prepareForFineTuning() {
        objective.freeze()
        train()
    }
}
