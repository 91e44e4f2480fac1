import Foundation
import Engine

// ResNet (He et al., CVPR 2016) with torchvision's parameter names (conv1, bn1, layer1.0.conv1, ...,
// layer1.0.downsample.0/1, fc), version 1.5: the stride of a bottleneck sits on its 3×3 convolution.

/// Two 3×3 convolutions with an identity (or projected) shortcut; ResNet-18/34.
public final class BasicBlock: Layer {
    public static let expansion = 1
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var conv2: Conv2d
    public var bn2: BatchNorm2d
    public var downsample: [Layer]?

    public init(inChannels: Int, planes: Int, stride: Int = 1, downsample: [Layer]? = nil) {
        conv1 = Conv2d(inChannels, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm2d(planes, fusedReLU: true)
        conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        self.downsample = downsample
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let shortcut = downsample.map { $0.reduce(x) { $1($0) } } ?? x
        return (bn2(conv2(bn1(conv1(x)))) + shortcut).relu()
    }
}

/// 1×1 reduce → 3×3 (strided) → 1×1 expand ×4, with an identity (or projected) shortcut; ResNet-50/101/152.
public final class Bottleneck: Layer {
    public static let expansion = 4
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var conv2: Conv2d
    public var bn2: BatchNorm2d
    public var conv3: Conv2d
    public var bn3: BatchNorm2d
    public var downsample: [Layer]?

    public init(inChannels: Int, planes: Int, stride: Int = 1, downsample: [Layer]? = nil) {
        conv1 = Conv2d(inChannels, planes, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(planes, fusedReLU: true)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes, fusedReLU: true)
        conv3 = Conv2d(planes, planes * Bottleneck.expansion, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(planes * Bottleneck.expansion)
        self.downsample = downsample
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let shortcut = downsample.map { $0.reduce(x) { $1($0) } } ?? x
        return (bn3(conv3(bn2(conv2(bn1(conv1(x)))))) + shortcut).relu()
    }
}

/// Depth and block type of a ResNet.
public struct ResNetConfig {
    public enum Block { case basic, bottleneck }
    public var block: Block
    public var layers: [Int]
    public var inChannels = 3
    /// 0 for an encoder without the classification layer.
    public var numClasses = 0

    public init(block: Block, layers: [Int], inChannels: Int = 3, numClasses: Int = 0) {
        self.block = block
        self.layers = layers
        self.inChannels = inChannels
        self.numClasses = numClasses
    }

    public static var resnet18: ResNetConfig { ResNetConfig(block: .basic, layers: [2, 2, 2, 2]) }
    public static var resnet34: ResNetConfig { ResNetConfig(block: .basic, layers: [3, 4, 6, 3]) }
    public static var resnet50: ResNetConfig { ResNetConfig(block: .bottleneck, layers: [3, 4, 6, 3]) }
    public static var resnet101: ResNetConfig { ResNetConfig(block: .bottleneck, layers: [3, 4, 23, 3]) }

    public var expansion: Int { block == .basic ? BasicBlock.expansion : Bottleneck.expansion }
}

public final class ResNet: Module {
    public let config: ResNetConfig
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var layer1: [Layer]
    public var layer2: [Layer]
    public var layer3: [Layer]
    public var layer4: [Layer]
    public var fc: Linear?

    public init(_ config: ResNetConfig = .resnet50) {
        precondition(config.layers.count == 4, "ResNet has four stages, got \(config.layers)")
        self.config = config
        conv1 = Conv2d(config.inChannels, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = BatchNorm2d(64, fusedReLU: true)
        var inC = 64
        func stage(_ planes: Int, _ blocks: Int, _ stride: Int) -> [Layer] {
            let outC = planes * config.expansion
            // The first block of a stage projects the shortcut when the shape changes.
            let proj: [Layer]? = stride != 1 || inC != outC
                ? [Conv2d(inC, outC, kernelSize: 1, stride: stride, bias: false), BatchNorm2d(outC)] : nil
            var out: [Layer] = []
            for i in 0..<blocks {
                let (s, d) = i == 0 ? (stride, proj) : (1, nil)
                out.append(config.block == .basic ? BasicBlock(inChannels: inC, planes: planes, stride: s, downsample: d)
                                                  : Bottleneck(inChannels: inC, planes: planes, stride: s, downsample: d))
                inC = outC
            }
            return out
        }
        layer1 = stage(64, config.layers[0], 1)
        layer2 = stage(128, config.layers[1], 2)
        layer3 = stage(256, config.layers[2], 2)
        layer4 = stage(512, config.layers[3], 2)
        fc = config.numClasses > 0 ? Linear(512 * config.expansion, config.numClasses) : nil
        super.init()
        resetFromDefaultStream()
    }

    /// torchvision: Kaiming-normal convolutions (fan out, ReLU gain); BatchNorm starts at weight 1, bias 0.
    public override func resetParameters(_ rng: inout RNG) {
        for (_, m) in namedModules() {
            if let c = m as? Conv2d { Init.kaimingNormal(c.weight, mode: .fanOut, nonlinearity: .relu, rng: &rng) }
        }
    }

    /// Output channels of `features`: the stem's 64, then each stage's.
    public var featureChannels: [Int] { [64] + [64, 128, 256, 512].map { $0 * config.expansion } }

    /// conv1 → bn1 → ReLU at half resolution (the first skip of a U-Net encoder).
    public func stem(_ x: Tensor) -> Tensor { bn1(conv1(x)) }

    /// Encoder features at strides 2, 4, 8, 16, 32: the stem and layer1…layer4 (max pooling sits between the
    /// stem and layer1).
    public func features(_ x: Tensor) -> [Tensor] {
        let s = stem(x)
        var h = Tensor.maxPool2d(s, kernel: 3, stride: 2, padding: 1)
        var out = [s]
        for stage in [layer1, layer2, layer3, layer4] {
            h = stage.reduce(h) { $1($0) }
            out.append(h)
        }
        return out
    }

    /// Logits when the model has `fc`, otherwise the globally average-pooled layer4 features [B, 512·expansion].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let pooled = features(x).last!.mean(axes: [2, 3])
        return fc.map { $0(pooled) } ?? pooled
    }
}
