import Foundation
import Engine
import NN

// MOSMOS's 2D fine-tuning network: a U-Net whose encoder is torchvision's ResNet-50 (the image encoder its
// report-supervised pre-training trains), with the decoder of segmentation_models_pytorch's Unet: five blocks of
// 256, 128, 64, 32, 16 channels, each nearest-neighbour ×2, concatenation of the encoder feature of that stride
// (none for the last), and two conv3×3-BN-ReLU (convolutions without bias); a conv3×3 head at full resolution.
// The second encoder variant is CLIP's modified ResNet-50 (CLIPResNet.swift); both give the decoder features at
// strides 2–32 with the same channels (64, 256, …, 2048), so the decoder is one code path and the two U-Nets
// differ only in their encoders.

/// Hyperparameters of a ResNet U-Net; `paper` is MOSMOS's (ResNet-50, decoder 256/128/64/32/16).
///
/// There is no width: torchvision's ResNet fixes its stem at 64 channels, so only `layers` and `decoderChannels`
/// scale both encoders alike (CLIPResNetConfig has a width for CLIP's encoder built on its own).
public struct ResNetUNetConfig: Equatable, Sendable {
    public enum Encoder: String, Equatable, Sendable {
        /// torchvision's ResNet (7×7 stem, max pool, strided 3×3 convolutions).
        case torchvision
        /// CLIP's ModifiedResNet without its attention pool (3-conv stem, average-pool anti-aliasing).
        case clip
    }

    public var inChannels = 1
    public var classes = 14
    public var layers = [3, 4, 6, 3]
    public var decoderChannels = [256, 128, 64, 32, 16]
    public var encoder = Encoder.torchvision

    public init(inChannels: Int = 1, classes: Int = 14, layers: [Int] = [3, 4, 6, 3], decoderChannels: [Int] = [256, 128, 64, 32, 16],
                encoder: Encoder = .torchvision) {
        self.inChannels = inChannels; self.classes = classes; self.layers = layers; self.decoderChannels = decoderChannels
        self.encoder = encoder
    }
    public static var paper: ResNetUNetConfig { ResNetUNetConfig() }
}

/// An encoder the U-Net decoder can sit on: five feature maps at strides 2, 4, 8, 16, 32.
public protocol UNetEncoder: Module {
    /// Channels of the five maps `features` returns.
    var featureChannels: [Int] { get }
    func features(_ x: Tensor) -> [Tensor]
}

extension ResNet: UNetEncoder {}
extension CLIPResNet: UNetEncoder {}

/// One decoder step: up ×2 (nearest), concatenate the skip, two conv3×3-BN-ReLU.
public final class UNetDecoderBlock: Module {
    public var conv1: ConvNormAct
    public var conv2: ConvNormAct

    public init(_ inChannels: Int, skip: Int, _ outChannels: Int) {
        conv1 = ConvNormAct(inChannels + skip, outChannels, bias: false)
        conv2 = ConvNormAct(outChannels, outChannels, bias: false)
    }

    public func callAsFunction(_ x: Tensor, skip: Tensor?) -> Tensor {
        let up = Tensor.interpolate(x, scaleFactor: 2, mode: .nearest)
        return conv2(conv1(skip.map { catChannels([up, $0]) } ?? up))
    }
}

public final class ResNetUNet: Module {
    public let config: ResNetUNetConfig
    /// `ResNet` (parameter names as torchvision's) or `CLIPResNet` (as CLIP's `visual`, without `attnpool.*`).
    public var encoder: any UNetEncoder
    public var blocks: [UNetDecoderBlock]
    public var segmentation_head: Conv2d

    public init(_ c: ResNetUNetConfig = .paper) {
        precondition(c.decoderChannels.count == 5, "a ResNet U-Net has five decoder blocks, got \(c.decoderChannels)")
        config = c
        switch c.encoder {
        case .torchvision:
            encoder = ResNet(ResNetConfig(block: .bottleneck, layers: c.layers, inChannels: c.inChannels))
        case .clip:
            // Without the attention pool: segmentation reads layer4's map, never the pooled vector, so the pool
            // would get no gradient here; kept, it would sit in the optimiser's parameters (and AdamW's weight
            // decay) untrained and inflate the count by 14.8 M at RN50. Its pre-trained weights live in the CLIP
            // image encoder (CLIPResNet with attentionPool), and loading that checkpoint here reports attnpool.*
            // as unexpected.
            encoder = CLIPResNet(CLIPResNetConfig(layers: c.layers, inChannels: c.inChannels, attentionPool: false))
        }
        // Skips at strides 16, 8, 4, 2 (layer3, layer2, layer1, stem), then none at full resolution.
        let f = encoder.featureChannels
        let skips = [f[3], f[2], f[1], f[0], 0]
        var inC = f[4]
        blocks = zip(c.decoderChannels, skips).map { out, skip in
            defer { inC = out }
            return UNetDecoderBlock(inC, skip: skip, out)
        }
        segmentation_head = Conv2d(c.decoderChannels[4], c.classes, kernelSize: 3, padding: 1)
    }

    /// Logits [B, classes, H, W] for [B, inChannels, H, W] with H and W multiples of 32.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        requireDivisible(x, by: 5, model: "ResNetUNet")
        var f = encoder.features(x)
        var h = f.removeLast()
        for block in blocks { h = block(h, skip: f.popLast()) }
        return segmentation_head(h)
    }
}

extension ResNetUNet: SegmentationModel {
    public func forward(image: Tensor, text: TextInput?) -> SegOutput { SegOutput(logits: self(image)) }
}
