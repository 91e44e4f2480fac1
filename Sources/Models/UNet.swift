import Engine
import NN

/// U-Net (Ronneberger, Fischer and Brox, MICCAI 2015) with BatchNorm, as PyTorch codes build it.
///
/// The encoder has `depth + 1` stages joined by 2×2 max pooling; each decoder step upsamples with a 2×2
/// transposed convolution, concatenates the skip of the same resolution and applies two Conv-BN-ReLU.
/// `UNetConfig.Style` chooses between the two channel plans in use (see there); a 1×1 convolution gives the logit.
public final class UNet: Module, SegmentationModel {
    public let config: UNetConfig
    /// encoder.0 is the stem; encoder.i (i ≥ 1) runs after the i-th pooling.
    public var encoder: [Sequential]
    /// up.j and decoder.j form the j-th decoder step, deepest first.
    public var up: [ConvTranspose2d]
    public var decoder: [Sequential]
    public var head: Conv2d

    public init(config: UNetConfig, inChannels: Int) {
        self.config = config
        let lvit = config.style == .lvit
        let bias = lvit
        // Channels of encoder stage i; the LViT plan stops doubling at the bottleneck.
        let c = (0...config.depth).map { config.base << (lvit ? Swift.min($0, config.depth - 1) : $0) }
        encoder = (0...config.depth).map { i in
            convStack(i == 0 ? inChannels : c[i - 1], c[i], count: (i == 0 && lvit) ? 1 : 2, bias: bias)
        }
        var up: [ConvTranspose2d] = [], decoder: [Sequential] = []
        var below = c[config.depth]
        for level in stride(from: config.depth - 1, through: 0, by: -1) {
            let upChannels = lvit ? below : below / 2
            let out = lvit ? c[Swift.max(level - 1, 0)] : c[level]
            up.append(ConvTranspose2d(below, upChannels, kernelSize: 2, stride: 2))
            decoder.append(convStack(c[level] + upChannels, out, bias: bias))
            below = out
        }
        self.up = up
        self.decoder = decoder
        head = Conv2d(below, 1, kernelSize: 1)
    }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        requireDivisible(image, by: config.depth, model: "UNet")
        var skips: [Tensor] = []
        var x = image
        for (i, stage) in encoder.enumerated() {
            x = stage(i == 0 ? x : Tensor.maxPool2d(x, kernel: 2))
            skips.append(x)
        }
        for j in 0..<config.depth {
            x = decoder[j](catChannels([skips[config.depth - 1 - j], up[j](x)]))
        }
        return SegOutput(logits: head(x))
    }
}
