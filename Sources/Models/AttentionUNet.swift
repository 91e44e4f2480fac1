import Engine
import NN

/// Additive attention gate (Oktay et al., 2018): the decoder signal g and the skip x are projected to F_int
/// channels, summed, passed through ReLU and a 1-channel projection with a sigmoid; the skip is scaled by that
/// map, so features outside the region the coarser scale points at are damped.
public final class AttentionGate: Module {
    public var W_g: ConvNormAct
    public var W_x: ConvNormAct
    public var psi: ConvNormAct

    public init(gateChannels: Int, skipChannels: Int, interChannels: Int) {
        W_g = ConvNormAct(gateChannels, interChannels, kernelSize: 1, activation: .none)
        W_x = ConvNormAct(skipChannels, interChannels, kernelSize: 1, activation: .none)
        psi = ConvNormAct(interChannels, 1, kernelSize: 1, activation: .none)
    }

    /// The gated skip and the gate map α [B, 1, H, W].
    public func callAsFunction(gate g: Tensor, skip x: Tensor) -> (output: Tensor, alpha: Tensor) {
        let alpha = psi((W_g(g) + W_x(x)).relu()).sigmoid()
        return (x * alpha, alpha)
    }
}

/// Attention U-Net: a U-Net (five stages, base 64 doubling to 1024) whose decoder upsamples by nearest
/// neighbour plus Conv-BN-ReLU and gates every skip with an `AttentionGate` (F_int = half the skip's channels).
/// Channel plan and layer order follow the widely used PyTorch code (LeeJunHyun/Image_Segmentation, AttU_Net:
/// 34,878,573 parameters for 3 input channels and 1 output).
public final class AttentionUNet: Module, SegmentationModel {
    public let config: AttentionUNetConfig
    public var encoder: [Sequential]
    /// up.j, gates.j and decoder.j form the j-th decoder step, deepest first.
    public var up: [ConvNormAct]
    public var gates: [AttentionGate]
    public var decoder: [Sequential]
    public var head: Conv2d

    public init(config: AttentionUNetConfig, inChannels: Int) {
        self.config = config
        let c = (0...config.depth).map { config.base << $0 }
        encoder = (0...config.depth).map { i in convStack(i == 0 ? inChannels : c[i - 1], c[i]) }
        let levels = Array(stride(from: config.depth - 1, through: 0, by: -1))
        up = levels.map { ConvNormAct(c[$0 + 1], c[$0]) }
        gates = levels.map { AttentionGate(gateChannels: c[$0], skipChannels: c[$0], interChannels: c[$0] / 2) }
        decoder = levels.map { convStack(2 * c[$0], c[$0]) }
        head = Conv2d(c[0], 1, kernelSize: 1)
    }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        requireDivisible(image, by: config.depth, model: "AttentionUNet")
        var skips: [Tensor] = []
        var x = image
        for (i, stage) in encoder.enumerated() {
            x = stage(i == 0 ? x : Tensor.maxPool2d(x, kernel: 2))
            skips.append(x)
        }
        var maps: [String: Tensor] = [:]
        for j in 0..<config.depth {
            let level = config.depth - 1 - j
            let d = up[j](Tensor.interpolate(x, scaleFactor: 2, mode: .nearest))
            let (gated, alpha) = gates[j](gate: d, skip: skips[level])
            maps["gate\(level)"] = alpha
            x = decoder[j](catChannels([gated, d]))
        }
        return SegOutput(logits: head(x), attentionMaps: maps)
    }
}
