import Engine
import NN

// TransUNet (Chen et al., 2021), the R50-ViT-B/16 hybrid of the reference code (Beckschen/TransUNet,
// networks/vit_seg_modeling*.py): 105,275,921 parameters for 3 input channels and one output at 224 × 224.
//
// The CNN is not torchvision's ResNet-50 (NN.ResNet): it is the BiT ResNet-v2 that the R50+ViT-B/16 checkpoint
// was trained with — weight-standardised convolutions, GroupNorm(32), and the stage layout (3, 4, 9): the fourth
// ResNet stage is dropped and the third extended so that the hybrid keeps 50 layers. Its root max-pool has no
// padding, so at 224 the first stage runs on 55 × 55 and its output is zero-padded to 56 × 56 for the skip.
//
// Deviation: the reference starts from ImageNet-21k weights; here every model is trained from scratch.

/// A convolution whose kernel is standardised per output channel (zero mean, unit variance over its fan-in)
/// before use, as Big Transfer (BiT) does; the standardisation is part of the graph.
public final class StdConv2d: Layer {
    public var weight: Tensor
    public let stride: Int
    public let padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0) {
        weight = Tensor(zeros: [outChannels, inChannels, kernelSize, kernelSize], requiresGrad: true)
        self.stride = stride
        self.padding = padding
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        let bound = 1 / Float(Init.fans(weight.shape).fanIn).squareRoot()
        Init.uniform(weight, lo: -bound, hi: bound, rng: &rng)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let mean = weight.mean(axes: [1, 2, 3], keepDim: true)
        let variance = weight.variance(axes: [1, 2, 3], keepDim: true)
        let w = (weight - mean) * (variance + 1e-5).rsqrt()
        return Tensor.conv2d(x, w, stride: stride, padding: padding)
    }
}

/// BiT's bottleneck unit: 1×1 → 3×3 (strided) → 1×1, each weight-standardised and followed by GroupNorm, with a
/// projected shortcut when the shape changes. (The reference calls it PreActBottleneck; it normalises after
/// each convolution.)
public final class BiTBottleneck: Layer {
    public var conv1: StdConv2d
    public var gn1: GroupNorm
    public var conv2: StdConv2d
    public var gn2: GroupNorm
    public var conv3: StdConv2d
    public var gn3: GroupNorm
    public var downsample: StdConv2d?
    public var gn_proj: GroupNorm?

    public init(inChannels: Int, outChannels: Int, midChannels: Int, stride: Int, groups: Int) {
        conv1 = StdConv2d(inChannels, midChannels, kernelSize: 1)
        gn1 = GroupNorm(groups, midChannels, eps: 1e-6)
        conv2 = StdConv2d(midChannels, midChannels, kernelSize: 3, stride: stride, padding: 1)
        gn2 = GroupNorm(groups, midChannels, eps: 1e-6)
        conv3 = StdConv2d(midChannels, outChannels, kernelSize: 1)
        gn3 = GroupNorm(groups, outChannels, eps: 1e-6)
        if stride != 1 || inChannels != outChannels {
            downsample = StdConv2d(inChannels, outChannels, kernelSize: 1, stride: stride)
            gn_proj = GroupNorm(outChannels, outChannels)
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let residual = downsample.map { gn_proj!($0(x)) } ?? x
        var y = gn1(conv1(x)).relu()
        y = gn2(conv2(y)).relu()
        y = gn3(conv3(y))
        return (residual + y).relu()
    }
}

/// The hybrid's CNN: root (7×7/2 convolution, GroupNorm, ReLU, 3×3/2 max-pool) and three bottleneck stages.
public final class BiTResNet: Module {
    public var root_conv: StdConv2d
    public var root_gn: GroupNorm
    /// stages.s.i is unit i of stage s; stage s emits 4·2^s·width channels.
    public var stages: [Sequential]
    public let width: Int

    public init(inChannels: Int, width: Int, units: [Int], groups: Int) {
        self.width = width
        root_conv = StdConv2d(inChannels, width, kernelSize: 7, stride: 2, padding: 3)
        root_gn = GroupNorm(groups, width, eps: 1e-6)
        var cin = width
        stages = units.enumerated().map { s, n in
            let cout = width * 4 << s, mid = width << s
            let stage = Sequential((0..<n).map { i in
                BiTBottleneck(inChannels: i == 0 ? cin : cout, outChannels: cout, midChannels: mid,
                              stride: (i == 0 && s > 0) ? 2 : 1, groups: groups)
            })
            cin = cout
            return stage
        }
    }

    public var outChannels: Int { width * 4 << (stages.count - 1) }

    /// The last stage's output and the skips [stage 2 (1/8), stage 1 (1/4), root (1/2)], deepest first. Stage
    /// outputs smaller than their nominal size (the unpadded max-pool rounds down) are zero-padded bottom-right.
    public func callAsFunction(_ x: Tensor) -> (Tensor, [Tensor]) {
        let size = x.shape[2]
        var h = root_gn(root_conv(x)).relu()
        var features = [h]
        h = Tensor.maxPool2d(h, kernel: 3, stride: 2)
        for (s, stage) in stages.enumerated() {
            h = stage(h)
            guard s < stages.count - 1 else { break }
            let nominal = size / (4 << s)
            let pad = nominal - h.shape[2]
            precondition((0..<3).contains(pad), "BiTResNet: stage \(s) output \(h.shape) for input side \(size)")
            features.append(pad == 0 ? h : h.padded([(0, pad), (0, pad)]))
        }
        return (h, features.reversed())
    }
}

/// A decoder step of the cascaded upsampler: bilinear ×2 (aligned corners), concatenation with the skip, and two
/// bias-free Conv-BN-ReLU.
public final class CUPBlock: Module {
    public var conv1: ConvNormAct
    public var conv2: ConvNormAct

    public init(inChannels: Int, outChannels: Int, skipChannels: Int) {
        conv1 = ConvNormAct(inChannels + skipChannels, outChannels, bias: false)
        conv2 = ConvNormAct(outChannels, outChannels, bias: false)
    }

    public func callAsFunction(_ x: Tensor, skip: Tensor?) -> Tensor {
        let up = Tensor.interpolate(x, scaleFactor: 2, mode: .linear, alignCorners: true)
        return conv2(conv1(skip.map { catChannels([up, $0]) } ?? up))
    }
}

/// TransUNet: the BiT ResNet's 1/16 feature map, embedded per position (1×1 "patches") with learned position
/// embeddings, encoded by ViT-B layers, reshaped back to a grid and decoded by the CUP with three skips.
public final class TransUNet: Module, SegmentationModel {
    public let config: TransUNetConfig
    public var resnet: BiTResNet
    public var patch_embeddings: Conv2d
    public var position_embeddings: Tensor
    public var embedding_dropout: Dropout
    public var layers: [ViTBlock]
    public var encoder_norm: LayerNorm
    public var conv_more: ConvNormAct
    public var blocks: [CUPBlock]
    public var segmentation_head: Conv2d
    /// Grayscale input is repeated to three channels, as the reference does for its RGB-pretrained root.
    let repeatGray: Bool

    public init(config: TransUNetConfig, inChannels: Int, imageSize: Int) {
        precondition(imageSize % 16 == 0, "TransUNet needs an image side divisible by 16, got \(imageSize)")
        precondition(config.hidden % config.heads == 0, "hidden \(config.hidden) is not divisible by \(config.heads) heads")
        self.config = config
        repeatGray = inChannels == 1
        resnet = BiTResNet(inChannels: repeatGray ? 3 : inChannels, width: config.resnetWidth,
                           units: config.resnetUnits, groups: config.groupNormGroups)
        patch_embeddings = Conv2d(resnet.outChannels, config.hidden, kernelSize: 1)
        let grid = imageSize / 16
        position_embeddings = Tensor(zeros: [1, grid * grid, config.hidden], requiresGrad: true)
        embedding_dropout = Dropout(config.dropout)
        layers = (0..<config.layers).map { _ in
            let block = ViTBlock(dim: config.hidden, heads: config.heads, mlpRatio: Float(config.mlpDim) / Float(config.hidden),
                                 dropout: config.dropout, attentionDropout: config.attentionDropout, mlpInit: .xavierTinyBias)
            // The reference drops the attention output with the attention rate (0), not the MLP rate.
            block.attn.proj_drop = Dropout(config.attentionDropout)
            return block
        }
        encoder_norm = LayerNorm(config.hidden, eps: 1e-6)
        conv_more = ConvNormAct(config.hidden, config.decoderHead, bias: false)
        let w = config.resnetWidth
        let skipChannels = [8 * w, 4 * w, w, 0].enumerated().map { $0.offset < config.skips ? $0.element : 0 }
        let ins = [config.decoderHead] + config.decoderChannels.dropLast()
        blocks = (0..<4).map { CUPBlock(inChannels: ins[$0], outChannels: config.decoderChannels[$0], skipChannels: skipChannels[$0]) }
        segmentation_head = Conv2d(config.decoderChannels[3], 1, kernelSize: 3, padding: 1)
    }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        requireDivisible(image, by: 4, model: "TransUNet")
        let x = repeatGray ? catChannels([image, image, image]) : image
        let (deep, skips) = resnet(x)
        let e = patch_embeddings(deep)
        let (b, d, gh, gw) = (e.shape[0], e.shape[1], e.shape[2], e.shape[3])
        precondition(gh * gw == position_embeddings.shape[1],
                     "TransUNet was built for \(position_embeddings.shape[1]) tokens, the input gives \(gh)×\(gw)")
        var h = embedding_dropout(e.reshaped([b, d, gh * gw]).transposed(1, 2) + position_embeddings)
        for layer in layers { h = layer(h) }
        h = encoder_norm(h)
        var y = conv_more(h.transposed(1, 2).reshaped([b, d, gh, gw]))
        for (i, block) in blocks.enumerated() { y = block(y, skip: i < config.skips ? skips[i] : nil) }
        return SegOutput(logits: segmentation_head(y))
    }
}
