import Foundation
import Engine
import NN

// OpenAI CLIP's modified ResNet (Radford et al., 2021, "ModifiedResNet" in clip/model.py), with the state-dict
// names of `clip.load("RN50").visual`, so its checkpoints load by name (loadEncoderWeights, prefix "visual."):
// a three-convolution stem ending in a 2×2 average pool instead of torchvision's 7×7 conv and max pool;
// bottlenecks whose stride is an average pool between conv2 and conv3 (anti-aliasing), the shortcut likewise an
// average pool before a stride-1 1×1 conv + BN (CLIP's key "-1" holds that pool, so the conv and BN keep the
// names downsample.0 and downsample.1); and a multi-head attention pool in place of global average pooling.
// References: scripts/golden/mosmos_encoders.py (counts, a forward golden of a small instance).

/// Hyperparameters of CLIP's modified ResNet; `rn50` is CLIP's RN50 image tower.
public struct CLIPResNetConfig: Equatable, Sendable {
    public var layers = [3, 4, 6, 3]
    /// Channels of the stem's output; stage i ends with width·4·2^i, the attention pool works on width·32.
    public var width = 64
    /// 3 for CLIP's checkpoints; the U-Net builds it with the data's channels (see adaptInputChannels).
    public var inChannels = 3
    public var outputDim = 1024
    /// CLIP uses width·32 / 64.
    public var heads = 32
    /// Sets the attention pool's positional grid (resolution / 32); other inputs resize it as DenseCLIP does.
    public var inputResolution = 224
    /// Whether the attention pool exists. The U-Net's encoder is built without it (see ResNetUNet).
    public var attentionPool = true

    public init(layers: [Int] = [3, 4, 6, 3], width: Int = 64, inChannels: Int = 3, outputDim: Int = 1024,
                heads: Int = 32, inputResolution: Int = 224, attentionPool: Bool = true) {
        self.layers = layers; self.width = width; self.inChannels = inChannels; self.outputDim = outputDim
        self.heads = heads; self.inputResolution = inputResolution; self.attentionPool = attentionPool
    }

    public static var rn50: CLIPResNetConfig { CLIPResNetConfig() }
    public var embedDim: Int { width * 32 }
    /// Channels of `features`: the stem, then layer1…layer4.
    public var featureChannels: [Int] { [width] + [4, 8, 16, 32].map { $0 * width } }
}

/// CLIP's bottleneck: 1×1 → 3×3 → (avg pool by `stride`) → 1×1 ×4, all convolutions stride 1.
public final class AntiAliasedBottleneck: Layer {
    public static let expansion = 4
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var conv2: Conv2d
    public var bn2: BatchNorm2d
    public var conv3: Conv2d
    public var bn3: BatchNorm2d
    /// [1×1 conv, BN], applied after an average pool by `stride`.
    public var downsample: [Layer]?
    public let stride: Int

    public init(inChannels: Int, planes: Int, stride: Int = 1) {
        let out = planes * AntiAliasedBottleneck.expansion
        conv1 = Conv2d(inChannels, planes, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(planes, fusedReLU: true)
        conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes, fusedReLU: true)
        conv3 = Conv2d(planes, out, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(out)
        downsample = stride > 1 || inChannels != out
            ? [Conv2d(inChannels, out, kernelSize: 1, bias: false), BatchNorm2d(out)] : nil
        self.stride = stride
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var h = bn2(conv2(bn1(conv1(x))))
        if stride > 1 { h = Tensor.avgPool2d(h, kernel: stride) }
        var shortcut = x
        if let d = downsample {
            if stride > 1 { shortcut = Tensor.avgPool2d(shortcut, kernel: stride) }
            shortcut = d.reduce(shortcut) { $1($0) }
        }
        return (bn3(conv3(h)) + shortcut).relu()
    }
}

/// CLIP's attention pool: the mean token prepended to the H·W feature tokens, a learned positional embedding
/// [grid² + 1, C] added, and one multi-head attention (q/k/v projections, c_proj as the output projection) whose
/// mean-token output is the image embedding.
public final class AttentionPool2d: Module {
    /// Per-pixel features besides the global vector, for dense vision-language objectives.
    public enum DenseTokens: Sendable {
        /// DenseCLIP's (its AttentionPool2d returns x[1:]): every feature token's own attention output, i.e.
        /// each position queries all tokens; the positional embedding is resized bilinearly to H×W.
        case attention
        /// MaskCLIP's (its head with attn_pooling off): c_proj(v_proj(x)) at each position of the raw feature
        /// map, no positional embedding and no query-key mixing, which keeps the features local.
        case value
    }

    public let grid: Int
    public let heads: Int
    public var positional_embedding: Tensor
    public var k_proj: Linear
    public var q_proj: Linear
    public var v_proj: Linear
    public var c_proj: Linear

    public init(grid: Int, embedDim: Int, heads: Int, outputDim: Int) {
        precondition(embedDim % heads == 0, "attention pool: \(embedDim) channels are not divisible by \(heads) heads")
        self.grid = grid
        self.heads = heads
        positional_embedding = Tensor(zeros: [grid * grid + 1, embedDim], requiresGrad: true)
        k_proj = Linear(embedDim, embedDim)
        q_proj = Linear(embedDim, embedDim)
        v_proj = Linear(embedDim, embedDim)
        c_proj = Linear(embedDim, outputDim)
        super.init()
        resetFromDefaultStream()
    }

    /// CLIP: positional embedding N(0, 1/C); the four projection weights N(0, 1/C) (CLIP.initialize_parameters),
    /// biases as nn.Linear leaves them.
    public override func resetParameters(_ rng: inout RNG) {
        let c = positional_embedding.shape[1]
        let std = 1 / Float(c).squareRoot()
        Init.normal(positional_embedding, std: std, rng: &rng)
        for p in [q_proj, k_proj, v_proj, c_proj] { Init.normal(p.weight, std: std, rng: &rng) }
    }

    /// x [B, C, H, W] → the pooled embedding [B, outputDim] and dense features [B, outputDim, H, W].
    public func callAsFunction(_ x: Tensor, dense mode: DenseTokens = .attention) -> (global: Tensor, dense: Tensor) {
        let (b, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        switch mode {
        case .attention:
            let y = attend(x, everyQuery: true)
            let global = y.slice(axis: 1, 0, 1).reshaped([b, y.shape[2]])
            return (global, y.slice(axis: 1, 1, h * w + 1).permuted([0, 2, 1]).reshaped([b, y.shape[2], h, w]))
        case .value:
            let perPixel = c_proj(v_proj(tokens(x)))
            return (pooled(x), perPixel.permuted([0, 2, 1]).reshaped([b, perPixel.shape[2], h, w]))
        }
    }

    /// The pooled embedding alone (CLIP's forward), with the mean token as the only query.
    public func pooled(_ x: Tensor) -> Tensor {
        let y = attend(x, everyQuery: false)
        return y.reshaped([y.shape[0], y.shape[2]])
    }

    private func tokens(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == positional_embedding.shape[1],
                     "attention pool over \(positional_embedding.shape[1]) channels applied to \(x.shape)")
        return x.reshaped([x.shape[0], x.shape[1], x.shape[2] * x.shape[3]]).permuted([0, 2, 1])
    }

    /// Attention over [mean, tokens] + positional embedding; outputs of every token or of the mean token only.
    private func attend(_ x: Tensor, everyQuery: Bool) -> Tensor {
        let raw = tokens(x)
        let pos = interpolatePositionEmbedding(positional_embedding.unsqueezed(0), from: [grid, grid],
                                               to: [x.shape[2], x.shape[3]], hasClassToken: true)
        let all = Tensor.concat([raw.mean(axis: 1, keepDim: true), raw], axis: 1) + pos
        let queries = everyQuery ? all : all.slice(axis: 1, 0, 1)
        let (ctx, _) = scaledDotProductAttention(splitHeads(q_proj(queries), heads: heads),
                                                 splitHeads(k_proj(all), heads: heads),
                                                 splitHeads(v_proj(all), heads: heads))
        return c_proj(mergeHeads(ctx))
    }
}

public final class CLIPResNet: Module {
    public let config: CLIPResNetConfig
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var conv2: Conv2d
    public var bn2: BatchNorm2d
    public var conv3: Conv2d
    public var bn3: BatchNorm2d
    public var layer1: [Layer]
    public var layer2: [Layer]
    public var layer3: [Layer]
    public var layer4: [Layer]
    public var attnpool: AttentionPool2d?

    public init(_ c: CLIPResNetConfig = .rn50) {
        precondition(c.layers.count == 4, "CLIP's ResNet has four stages, got \(c.layers)")
        precondition(c.width % 2 == 0, "CLIP's ResNet stem halves the width, got \(c.width)")
        config = c
        let half = c.width / 2
        conv1 = Conv2d(c.inChannels, half, kernelSize: 3, stride: 2, padding: 1, bias: false)
        bn1 = BatchNorm2d(half, fusedReLU: true)
        conv2 = Conv2d(half, half, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(half, fusedReLU: true)
        conv3 = Conv2d(half, c.width, kernelSize: 3, padding: 1, bias: false)
        bn3 = BatchNorm2d(c.width, fusedReLU: true)
        var inC = c.width
        func stage(_ planes: Int, _ blocks: Int, _ stride: Int) -> [Layer] {
            (0..<blocks).map { i in
                defer { inC = planes * AntiAliasedBottleneck.expansion }
                return AntiAliasedBottleneck(inChannels: inC, planes: planes, stride: i == 0 ? stride : 1)
            }
        }
        layer1 = stage(c.width, c.layers[0], 1)
        layer2 = stage(c.width * 2, c.layers[1], 2)
        layer3 = stage(c.width * 4, c.layers[2], 2)
        layer4 = stage(c.width * 8, c.layers[3], 2)
        attnpool = c.attentionPool
            ? AttentionPool2d(grid: c.inputResolution / 32, embedDim: c.embedDim, heads: c.heads, outputDim: c.outputDim)
            : nil
        super.init()
        resetFromDefaultStream()
    }

    /// CLIP zero-initialises each block's last BN scale, so that every residual block starts as its shortcut;
    /// convolutions keep PyTorch's default (CLIP does not re-initialise them).
    public override func resetParameters(_ rng: inout RNG) {
        for stage in [layer1, layer2, layer3, layer4] {
            for case let block as AntiAliasedBottleneck in stage { block.bn3.weight?.fill(0) }
        }
    }

    public var featureChannels: [Int] { config.featureChannels }

    /// The three stem convolutions at half resolution, before the average pool: the U-Net's stride-2 skip.
    public func stem(_ x: Tensor) -> Tensor { bn3(conv3(bn2(conv2(bn1(conv1(x)))))) }

    /// Features at strides 2, 4, 8, 16, 32: the stem (before its pool), then layer1…layer4.
    public func features(_ x: Tensor) -> [Tensor] {
        let s = stem(x)
        var h = Tensor.avgPool2d(s, kernel: 2)
        var out = [s]
        for stage in [layer1, layer2, layer3, layer4] {
            h = stage.reduce(h) { $1($0) }
            out.append(h)
        }
        return out
    }

    /// CLIP's image embedding and the dense features of the attention pool (for MOSMOS's pre-training).
    public func encode(_ x: Tensor, dense: AttentionPool2d.DenseTokens = .attention) -> (global: Tensor, dense: Tensor) {
        guard let pool = attnpool else {
            preconditionFailure("this CLIPResNet was built without its attention pool (a U-Net encoder)")
        }
        return pool(features(x).last!, dense: dense)
    }

    /// CLIP's `encode_image`: the pooled embedding [B, outputDim].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let pool = attnpool else {
            preconditionFailure("this CLIPResNet was built without its attention pool (a U-Net encoder)")
        }
        return pool.pooled(features(x).last!)
    }
}
