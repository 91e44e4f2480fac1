import Engine

/// State shared by the convolution layers: PyTorch's parameter names and layout, and its default
/// initialisation, U(±1/√fan_in) for weight and bias (kaiming_uniform with a = √5), where fan_in is
/// weight.shape[1]·receptive field — in/groups·k for a convolution, out/groups·k for a transposed one.
open class ConvolutionLayer: Layer {
    public var weight: Tensor
    public var bias: Tensor?
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let groups: Int

    init(weightShape: [Int], biasCount: Int, bias: Bool, stride: [Int], padding: [Int], dilation: [Int], groups: Int) {
        let k = weightShape.count - 2
        precondition(stride.count == k && padding.count == k && dilation.count == k,
                     "convolution: stride \(stride), padding \(padding), dilation \(dilation) need \(k) entries each")
        weight = Tensor(zeros: weightShape, requiresGrad: true)
        self.bias = bias ? Tensor(zeros: [biasCount], requiresGrad: true) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        super.init()
        resetFromDefaultStream()
    }

    open override func resetParameters(_ rng: inout RNG) {
        let bound = 1 / Float(Init.fans(weight.shape).fanIn).squareRoot()
        Init.uniform(weight, lo: -bound, hi: bound, rng: &rng)
        if let b = bias { Init.uniform(b, lo: -bound, hi: bound, rng: &rng) }
    }

    static func convolutionWeight(_ inChannels: Int, _ outChannels: Int, _ kernel: [Int], _ groups: Int) -> [Int] {
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "groups \(groups) must divide in (\(inChannels)) and out (\(outChannels)) channels")
        return [outChannels, inChannels / groups] + kernel
    }

    static func transposedWeight(_ inChannels: Int, _ outChannels: Int, _ kernel: [Int], _ groups: Int) -> [Int] {
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "groups \(groups) must divide in (\(inChannels)) and out (\(outChannels)) channels")
        return [inChannels, outChannels / groups] + kernel
    }
}

private func repeated(_ v: Int, _ n: Int) -> [Int] { [Int](repeating: v, count: n) }

/// 1D convolution over [N, C, W] (torch.nn.Conv1d).
public final class Conv1d: ConvolutionLayer {
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        super.init(weightShape: ConvolutionLayer.convolutionWeight(inChannels, outChannels, [kernelSize], groups),
                   biasCount: outChannels, bias: bias, stride: [stride], padding: [padding], dilation: [dilation], groups: groups)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.conv1d(x, weight, bias: bias, stride: stride[0], padding: padding[0], dilation: dilation[0], groups: groups)
    }
}

/// 2D convolution over [N, C, H, W] (torch.nn.Conv2d). Per-axis arguments are in (H, W) order.
public final class Conv2d: ConvolutionLayer {
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                dilation: [Int] = [1, 1], groups: Int = 1, bias: Bool = true) {
        super.init(weightShape: ConvolutionLayer.convolutionWeight(inChannels, outChannels, kernelSize, groups),
                   biasCount: outChannels, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: repeated(kernelSize, 2), stride: repeated(stride, 2),
                  padding: repeated(padding, 2), dilation: repeated(dilation, 2), groups: groups, bias: bias)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.conv2d(x, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// 3D convolution over [N, C, D, H, W] (torch.nn.Conv3d). Per-axis arguments are in (D, H, W) order.
public final class Conv3d: ConvolutionLayer {
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1, 1],
                padding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1], groups: Int = 1, bias: Bool = true) {
        super.init(weightShape: ConvolutionLayer.convolutionWeight(inChannels, outChannels, kernelSize, groups),
                   biasCount: outChannels, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: repeated(kernelSize, 3), stride: repeated(stride, 3),
                  padding: repeated(padding, 3), dilation: repeated(dilation, 3), groups: groups, bias: bias)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.conv3d(x, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// 2D transposed convolution (torch.nn.ConvTranspose2d): weight [in, out/groups, kH, kW]; output size
/// (in − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1 per axis.
public final class ConvTranspose2d: ConvolutionLayer {
    public let outputPadding: [Int]

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                outputPadding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1, bias: Bool = true) {
        self.outputPadding = outputPadding
        super.init(weightShape: ConvolutionLayer.transposedWeight(inChannels, outChannels, kernelSize, groups),
                   biasCount: outChannels, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: repeated(kernelSize, 2), stride: repeated(stride, 2),
                  padding: repeated(padding, 2), outputPadding: repeated(outputPadding, 2), dilation: repeated(dilation, 2),
                  groups: groups, bias: bias)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.convTranspose2d(x, weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                               dilation: dilation, groups: groups)
    }
}

/// 3D transposed convolution (torch.nn.ConvTranspose3d): weight [in, out/groups, kD, kH, kW].
public final class ConvTranspose3d: ConvolutionLayer {
    public let outputPadding: [Int]

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1, 1],
                padding: [Int] = [0, 0, 0], outputPadding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1],
                groups: Int = 1, bias: Bool = true) {
        self.outputPadding = outputPadding
        super.init(weightShape: ConvolutionLayer.transposedWeight(inChannels, outChannels, kernelSize, groups),
                   biasCount: outChannels, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: repeated(kernelSize, 3), stride: repeated(stride, 3),
                  padding: repeated(padding, 3), outputPadding: repeated(outputPadding, 3), dilation: repeated(dilation, 3),
                  groups: groups, bias: bias)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.convTranspose3d(x, weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                               dilation: dilation, groups: groups)
    }
}
