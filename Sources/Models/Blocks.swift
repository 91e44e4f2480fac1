import Engine
import NN

// Building blocks shared by the convolutional segmenters.

/// Normalisation after a convolution.
public enum ConvNorm: Equatable, Sendable {
    case batch
    /// InstanceNorm with affine parameters (nnU-Net).
    case instance
    case none
}

/// Nonlinearity after the normalisation.
public enum ConvActivation: Equatable, Sendable {
    case relu
    case leakyReLU(Float)
    case none
}

/// Convolution → normalisation → activation, the unit every U-Net stage repeats.
public final class ConvNormAct: Layer {
    public var conv: Conv2d
    public var norm: Layer?
    let activation: ConvActivation
    /// BatchNorm applies the ReLU inside its own kernel, so the block must not apply it again.
    let fusedReLU: Bool

    /// `stride` per axis (H, W); padding keeps the size ("same") at stride 1.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int = 3, stride: [Int] = [1, 1], bias: Bool = true,
                norm: ConvNorm = .batch, activation: ConvActivation = .relu) {
        conv = Conv2d(inChannels, outChannels, kernelSize: [kernelSize, kernelSize], stride: stride,
                      padding: [kernelSize / 2, kernelSize / 2], bias: bias)
        fusedReLU = norm == .batch && activation == .relu
        switch norm {
        case .batch: self.norm = BatchNorm2d(outChannels, fusedReLU: fusedReLU)
        case .instance: self.norm = InstanceNorm2d(outChannels, affine: true)
        case .none: self.norm = nil
        }
        self.activation = activation
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var y = conv(x)
        if let n = norm { y = n(y) }
        if fusedReLU { return y }
        switch activation {
        case .relu: return y.relu()
        case .leakyReLU(let s): return y.leakyRelu(s)
        case .none: return y
        }
    }
}

/// `count` ConvNormAct units, the first mapping `inChannels` to `outChannels` (a U-Net "double conv" for 2).
func convStack(_ inChannels: Int, _ outChannels: Int, count: Int = 2, bias: Bool = true, norm: ConvNorm = .batch,
               activation: ConvActivation = .relu, firstStride: [Int] = [1, 1]) -> Sequential {
    Sequential((0..<count).map { i in
        ConvNormAct(i == 0 ? inChannels : outChannels, outChannels, stride: i == 0 ? firstStride : [1, 1], bias: bias,
                    norm: norm, activation: activation)
    })
}

/// Channel concatenation of feature maps [B, C_i, H, W].
@inline(__always) func catChannels(_ xs: [Tensor]) -> Tensor { Tensor.concat(xs, axis: 1) }

/// Checks that an image survives `steps` halvings without rounding, which every U-Net skip needs.
func requireDivisible(_ image: Tensor, by steps: Int, model: String) {
    let f = 1 << steps
    precondition(image.rank == 4 && image.shape[2] % f == 0 && image.shape[3] % f == 0,
                 "\(model) needs [B, C, H, W] with H and W multiples of \(f), got \(image.shape)")
}

