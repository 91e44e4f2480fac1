import Foundation
import Engine
import NN

// UNETR (Hatamizadeh et al., WACV 2022) as MONAI builds it (monai.networks.nets.UNETR, 1.x): a 3D ViT whose patch
// tokens, tapped at MONAI's hidden_states_out[3], [6] and [9] (the outputs of blocks 4, 7 and 10 counting from 1)
// and after the final norm, are reshaped to feature maps and brought up to the input resolution by transposed
// convolutions and residual conv blocks, U-Net style.
//
// Fidelity: the layer graph, kernel sizes, strides, biases (MONAI's conv blocks have none), instance norm without
// affine parameters, LeakyReLU(0.01), qkv without bias, LayerNorm eps 1e-5 and the initialisation of the ViT
// (trunc-normal 0.02 for Linear and position embeddings) are MONAI's. Two differences, both in names and bookkeeping
// rather than computation: the transformer blocks use the engine's `ViTBlock` (timm names attn.qkv, attn.proj,
// mlp.fc1/fc2 where MONAI has attn.qkv, attn.out_proj, mlp.linear1/linear2), so loading MONAI weights needs a name
// map. MONAI 1.4+'s unused `norm_cross_attn` LayerNorm is kept, frozen, so the parameter count is MONAI's exactly
// (92,802,478 at 96³ with 14 classes: `MOSMOSNetworkTests.testUNETRParameterCountIsMONAIs`).
//
// MONAI fixes the patch at 16: the decoder brings the ViT grid up 16× in four doublings. A patch of 32 (MOSMOS
// Table 5) adds one transposed-convolution doubling to every ViT path; that variant is this suite's extension.

/// Hyperparameters of a UNETR. `paper` is the UNETR paper's BTCV model (96³, ViT-B/16 sizes, feature size 16).
public struct UNETRConfig: Equatable, Sendable {
    public var inChannels = 1
    public var outChannels = 14
    /// Cubic input side; a multiple of the patch size.
    public var imageSize = 96
    public var patchSize = 16
    public var featureSize = 16
    public var hiddenSize = 768
    public var mlpDim = 3072
    public var heads = 12
    public var layers = 12
    public var dropout: Float = 0

    public init() {}
    public init(inChannels: Int, outChannels: Int, imageSize: Int, featureSize: Int, hiddenSize: Int, mlpDim: Int, heads: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.imageSize = imageSize
        self.featureSize = featureSize; self.hiddenSize = hiddenSize; self.mlpDim = mlpDim; self.heads = heads
    }

    public static var paper: UNETRConfig { UNETRConfig() }
    /// The engine-speed issue's reference configuration (benchmarked against MONAI at 32³ and 48³).
    public static func benchmark(imageSize: Int) -> UNETRConfig {
        UNETRConfig(inChannels: 1, outChannels: 14, imageSize: imageSize, featureSize: 8, hiddenSize: 192, mlpDim: 768, heads: 3)
    }

    public var grid: Int { imageSize / patchSize }
}

/// MONAI's UnetResBlock with instance norm: conv-norm-LeakyReLU (fused into the norm)-conv-norm, a 1×1×1 conv + norm on the residual when
/// the channel count changes (UNETR's blocks all have stride 1), sum, LeakyReLU. Convolutions have no bias (the norm follows).
public final class UnetResBlock: Layer {
    public var conv1: Conv3d
    public var conv2: Conv3d
    public var conv3: Conv3d?
    public var norm1: InstanceNorm3d
    public var norm2: InstanceNorm3d
    public var norm3: InstanceNorm3d?

    public init(_ inChannels: Int, _ outChannels: Int) {
        conv1 = Conv3d(inChannels, outChannels, kernelSize: 3, padding: 1, bias: false)
        conv2 = Conv3d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false)
        norm1 = InstanceNorm3d(outChannels, fusedLeakyReLU: 0.01)
        norm2 = InstanceNorm3d(outChannels)
        if inChannels != outChannels {
            conv3 = Conv3d(inChannels, outChannels, kernelSize: 1, bias: false)
            norm3 = InstanceNorm3d(outChannels)
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let h = norm2(conv2(norm1(conv1(x))))
        let residual = conv3.map { norm3!($0(x)) } ?? x
        return (h + residual).leakyRelu(0.01)
    }
}

/// Transposed convolution 2×2×2, stride 2, no bias: each decoder step doubles the resolution.
func upsample3d(_ inChannels: Int, _ outChannels: Int) -> ConvTranspose3d {
    ConvTranspose3d(inChannels, outChannels, kernelSize: 2, stride: 2, bias: false)
}

/// MONAI's UnetrPrUpBlock: a ViT feature map brought up 2^(1 + layers)× by a transposed conv, then `layers` times
/// (transposed conv, residual block).
public final class UnetrPrUpBlock: Layer {
    public var transp_conv_init: ConvTranspose3d
    public var blocks: [Sequential]

    public init(_ inChannels: Int, _ outChannels: Int, layers: Int) {
        transp_conv_init = upsample3d(inChannels, outChannels)
        blocks = (0..<layers).map { _ in Sequential([upsample3d(outChannels, outChannels), UnetResBlock(outChannels, outChannels)]) }
    }

    public override func forward(_ x: Tensor) -> Tensor { blocks.reduce(transp_conv_init(x)) { $1($0) } }
}

/// MONAI's UnetrUpBlock: up 2× by a transposed conv, concatenate the skip, residual block.
public final class UnetrUpBlock: Module {
    public var transp_conv: ConvTranspose3d
    public var conv_block: UnetResBlock

    public init(_ inChannels: Int, _ outChannels: Int) {
        transp_conv = upsample3d(inChannels, outChannels)
        conv_block = UnetResBlock(2 * outChannels, outChannels)
    }

    public func callAsFunction(_ x: Tensor, skip: Tensor) -> Tensor {
        conv_block(Tensor.concat([transp_conv(x), skip], axis: 1))
    }
}

/// MONAI's PatchEmbeddingBlock with proj_type "conv": a patch-size, patch-stride Conv3d, tokens in (D, H, W)
/// row-major order, learned absolute positions, no [CLS].
public final class PatchEmbedding3d: Module {
    public var patch_embeddings: Conv3d
    /// [1, N, hidden]
    public var position_embeddings: Tensor
    public var dropout: Dropout

    public init(_ c: UNETRConfig) {
        patch_embeddings = Conv3d(c.inChannels, c.hiddenSize, kernelSize: c.patchSize, stride: c.patchSize)
        position_embeddings = Tensor(zeros: [1, c.grid * c.grid * c.grid, c.hiddenSize], requiresGrad: true)
        dropout = Dropout(c.dropout)
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        Init.truncatedNormal(position_embeddings, std: 0.02, rng: &rng)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = patch_embeddings(x)
        let tokens = y.reshaped([y.shape[0], y.shape[1], -1]).transposed(1, 2)
        precondition(tokens.shape[1] == position_embeddings.shape[1],
                     "UNETR built for \(position_embeddings.shape[1]) patches got \(tokens.shape[1]) (input \(x.shape)); build it with the input's imageSize")
        return dropout(tokens + position_embeddings)
    }
}

/// The ViT encoder of UNETR: returns the final (normalised) tokens and every block's output.
public final class UNETRViT: Module {
    public var patch_embedding: PatchEmbedding3d
    public var blocks: [ViTBlock]
    public var norm: LayerNorm

    public init(_ c: UNETRConfig) {
        patch_embedding = PatchEmbedding3d(c)
        blocks = (0..<c.layers).map { _ in
            ViTBlock(dim: c.hiddenSize, heads: c.heads, mlpRatio: Float(c.mlpDim) / Float(c.hiddenSize), qkvBias: false,
                     dropout: c.dropout, eps: 1e-5, unusedCrossAttentionNorm: true)
        }
        norm = LayerNorm(c.hiddenSize, eps: 1e-5)
        super.init()
        resetFromDefaultStream()
    }

    /// MONAI's ViT: truncated-normal Linear weights, zero biases.
    public override func resetParameters(_ rng: inout RNG) {
        for (_, m) in namedModules() {
            if let l = m as? Linear { Init.truncatedNormal(l.weight, std: 0.02, rng: &rng); l.bias?.fill(0) }
        }
    }

    public func callAsFunction(_ x: Tensor) -> (output: Tensor, hidden: [Tensor]) {
        var h = patch_embedding(x)
        var hidden: [Tensor] = []
        for b in blocks {
            h = b(h)
            hidden.append(h)
        }
        return (norm(h), hidden)
    }
}

public final class UNETR: Module {
    public let config: UNETRConfig
    public var vit: UNETRViT
    public var encoder1: UnetResBlock
    public var encoder2: UnetrPrUpBlock
    public var encoder3: UnetrPrUpBlock
    public var encoder4: UnetrPrUpBlock
    public var decoder5: UnetrUpBlock
    public var decoder4: UnetrUpBlock
    public var decoder3: UnetrUpBlock
    public var decoder2: UnetrUpBlock
    public var out: Conv3d

    public init(_ c: UNETRConfig) {
        precondition(c.imageSize % c.patchSize == 0, "UNETR: image size \(c.imageSize) is not a multiple of the patch size \(c.patchSize)")
        precondition(c.hiddenSize % c.heads == 0, "UNETR: hidden size \(c.hiddenSize) is not divisible by \(c.heads) heads")
        config = c
        let f = c.featureSize, h = c.hiddenSize
        vit = UNETRViT(c)
        encoder1 = UnetResBlock(c.inChannels, f)
        encoder2 = UnetrPrUpBlock(h, 2 * f, layers: 2)
        encoder3 = UnetrPrUpBlock(h, 4 * f, layers: 1)
        encoder4 = UnetrPrUpBlock(h, 8 * f, layers: 0)
        decoder5 = UnetrUpBlock(h, 8 * f)
        decoder4 = UnetrUpBlock(8 * f, 4 * f)
        decoder3 = UnetrUpBlock(4 * f, 2 * f)
        decoder2 = UnetrUpBlock(2 * f, f)
        out = Conv3d(f, c.outChannels, kernelSize: 1)
    }

    /// Tokens [B, N, hidden] as a feature map [B, hidden, g, g, g] (MONAI's proj_feat).
    func featureMap(_ tokens: Tensor) -> Tensor {
        let g = config.grid
        return tokens.transposed(1, 2).reshaped([tokens.shape[0], config.hiddenSize, g, g, g])
    }

    /// Logits [B, outChannels, S, S, S] for an input [B, inChannels, S, S, S].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (last, hidden) = vit(x)
        let enc1 = encoder1(x)
        let enc2 = encoder2(featureMap(hidden[3]))
        let enc3 = encoder3(featureMap(hidden[6]))
        let enc4 = encoder4(featureMap(hidden[9]))
        let dec3 = decoder5(featureMap(last), skip: enc4)
        let dec2 = decoder4(dec3, skip: enc3)
        let dec1 = decoder3(dec2, skip: enc2)
        return out(decoder2(dec1, skip: enc1))
    }
}

extension UNETR: SegmentationModel {
    public func forward(image: Tensor, text: TextInput?) -> SegOutput { SegOutput(logits: self(image)) }
}
