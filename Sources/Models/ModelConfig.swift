@_exported import Common
/// U-Net (Ronneberger et al., 2015) as two common PyTorch codes build it.
public struct UNetConfig: Equatable, Sendable {
    public enum Style: String, Sendable {
        /// Two bias-free Conv-BN-ReLU per stage, the bottleneck doubling to 16·base, transposed convolutions that
        /// halve the channels (milesial/Pytorch-UNet with bilinear = false: 31,037,633 parameters at base 64,
        /// 3 input channels, 1 output).
        case ronneberger
        /// LViT's and UCTransNet's baseline: a single Conv-BN-ReLU stem, the bottleneck kept at 8·base, convolutions
        /// with bias (14,751,873 parameters at base 64, 3 → 1). TMC's Table 1 does not say which code it ran.
        case lvit
    }
    /// Channels of the first stage; stage i has base·2^i.
    public var base: Int
    /// Down-sampling steps (4 in the paper).
    public var depth: Int
    public var style: Style

    public init(base: Int, depth: Int = 4, style: Style = .ronneberger) {
        self.base = base; self.depth = depth; self.style = style
    }

    public static func of(_ scale: Scale) -> UNetConfig {
        switch scale {
        case .paper: return UNetConfig(base: 64)
        case .proxy: return UNetConfig(base: 16)
        case .smoke: return UNetConfig(base: 4)
        }
    }
}

/// Attention U-Net (Oktay et al., 2018): U-Net with additive attention gates on the skips.
public struct AttentionUNetConfig: Equatable, Sendable {
    public var base: Int
    public var depth: Int

    public init(base: Int, depth: Int = 4) { self.base = base; self.depth = depth }

    public static func of(_ scale: Scale) -> AttentionUNetConfig {
        switch scale {
        case .paper: return AttentionUNetConfig(base: 64)
        case .proxy: return AttentionUNetConfig(base: 16)
        case .smoke: return AttentionUNetConfig(base: 4)
        }
    }
}

/// UNet++ (Zhou et al., 2018): nested dense skip pathways; filters 32…512 as in the paper.
public struct UNetPlusPlusConfig: Equatable, Sendable {
    public var base: Int
    public var depth: Int
    /// Supervise the four top-row nodes X(0,1…4) (averaged, as the reference trains it); off by default.
    public var deepSupervision: Bool

    public init(base: Int, depth: Int = 4, deepSupervision: Bool = false) {
        self.base = base; self.depth = depth; self.deepSupervision = deepSupervision
    }

    public static func of(_ scale: Scale) -> UNetPlusPlusConfig {
        switch scale {
        case .paper: return UNetPlusPlusConfig(base: 32)
        case .proxy: return UNetPlusPlusConfig(base: 8)
        case .smoke: return UNetPlusPlusConfig(base: 4)
        }
    }
}

/// The knobs nnU-Net's planner holds fixed; its self-configuration derives everything else from the data.
public struct NNUNetPlannerSettings: Equatable, Sendable {
    /// Features of the first stage (nnU-Net: 32), doubled per stage up to `maxFeatures` (nnU-Net 2D: 512).
    public var baseFeatures: Int
    public var maxFeatures: Int
    /// Smallest edge of the bottleneck feature map (nnU-Net: 4).
    public var minFeatureMapEdge: Int
    /// Cap on pooling steps per axis.
    public var maxPoolingSteps: Int

    public init(baseFeatures: Int, maxFeatures: Int, minFeatureMapEdge: Int = 4, maxPoolingSteps: Int = 6) {
        self.baseFeatures = baseFeatures; self.maxFeatures = maxFeatures
        self.minFeatureMapEdge = minFeatureMapEdge; self.maxPoolingSteps = maxPoolingSteps
    }

    public static func of(_ scale: Scale) -> NNUNetPlannerSettings {
        switch scale {
        case .paper: return NNUNetPlannerSettings(baseFeatures: 32, maxFeatures: 512)
        case .proxy: return NNUNetPlannerSettings(baseFeatures: 8, maxFeatures: 128)
        case .smoke: return NNUNetPlannerSettings(baseFeatures: 4, maxFeatures: 32)
        }
    }
}

/// TransUNet (Chen et al., 2021), R50-ViT-B/16 hybrid: a BiT ResNet-50 cut after its third stage (3, 4, 9 units,
/// weight-standardised convolutions with GroupNorm), 12 ViT-B layers on the 1/16 grid, and the cascaded
/// upsampler (CUP) with three skips.
public struct TransUNetConfig: Equatable, Sendable {
    /// Bottleneck units per ResNet stage.
    public var resnetUnits: [Int]
    /// ResNet root width; stages emit 4·, 8·, 16·width channels.
    public var resnetWidth: Int
    /// GroupNorm groups inside the ResNet (BiT: 32).
    public var groupNormGroups: Int
    public var hidden: Int
    public var layers: Int
    public var heads: Int
    public var mlpDim: Int
    /// Channels of the convolution between the transformer and the decoder.
    public var decoderHead: Int
    public var decoderChannels: [Int]
    /// How many encoder features feed the decoder as skips (the reference: 3).
    public var skips: Int
    public var dropout: Float
    public var attentionDropout: Float

    public init(resnetUnits: [Int], resnetWidth: Int, groupNormGroups: Int, hidden: Int, layers: Int, heads: Int,
                mlpDim: Int, decoderHead: Int, decoderChannels: [Int], skips: Int = 3, dropout: Float = 0.1,
                attentionDropout: Float = 0) {
        precondition(resnetUnits.count == 3 && decoderChannels.count == 4 && (0...3).contains(skips))
        self.resnetUnits = resnetUnits; self.resnetWidth = resnetWidth; self.groupNormGroups = groupNormGroups
        self.hidden = hidden; self.layers = layers; self.heads = heads; self.mlpDim = mlpDim
        self.decoderHead = decoderHead; self.decoderChannels = decoderChannels; self.skips = skips
        self.dropout = dropout; self.attentionDropout = attentionDropout
    }

    public static func of(_ scale: Scale) -> TransUNetConfig {
        switch scale {
        case .paper:
            return TransUNetConfig(resnetUnits: [3, 4, 9], resnetWidth: 64, groupNormGroups: 32, hidden: 768, layers: 12,
                                   heads: 12, mlpDim: 3072, decoderHead: 512, decoderChannels: [256, 128, 64, 16])
        case .proxy:
            return TransUNetConfig(resnetUnits: [2, 2, 3], resnetWidth: 16, groupNormGroups: 8, hidden: 192, layers: 4,
                                   heads: 4, mlpDim: 768, decoderHead: 128, decoderChannels: [64, 32, 16, 8])
        case .smoke:
            return TransUNetConfig(resnetUnits: [1, 1, 1], resnetWidth: 8, groupNormGroups: 4, hidden: 32, layers: 1,
                                   heads: 2, mlpDim: 64, decoderHead: 32, decoderChannels: [16, 8, 8, 4])
        }
    }
}

/// UCTransNet (Wang et al., 2022): the LViT-style U-Net whose skips pass through the Channel-wise Cross fusion
/// Transformer (CCT) and Channel-wise Cross Attention (CCA) before the decoder.
public struct UCTransNetConfig: Equatable, Sendable {
    public var base: Int
    public var layers: Int
    public var heads: Int
    /// MLP expansion inside the CCT.
    public var expandRatio: Int
    /// Patch side of each skip's token embedding, shallowest first; all four give the same token grid.
    public var patchSizes: [Int]
    public var embeddingDropout: Float
    public var attentionDropout: Float

    public init(base: Int, layers: Int, heads: Int, expandRatio: Int = 4, patchSizes: [Int],
                embeddingDropout: Float = 0.1, attentionDropout: Float = 0.1) {
        precondition(patchSizes.count == 4)
        self.base = base; self.layers = layers; self.heads = heads; self.expandRatio = expandRatio
        self.patchSizes = patchSizes; self.embeddingDropout = embeddingDropout; self.attentionDropout = attentionDropout
    }

    /// Key/value width of the channel attention: the four skips' channels together (960 at base 64).
    public var kvSize: Int { base * (1 + 2 + 4 + 8) }

    public static func of(_ scale: Scale) -> UCTransNetConfig {
        switch scale {
        case .paper: return UCTransNetConfig(base: 64, layers: 4, heads: 4, patchSizes: [16, 8, 4, 2])
        case .proxy: return UCTransNetConfig(base: 16, layers: 2, heads: 4, patchSizes: [16, 8, 4, 2])
        case .smoke: return UCTransNetConfig(base: 4, layers: 1, heads: 2, patchSizes: [8, 4, 2, 1])
        }
    }
}
