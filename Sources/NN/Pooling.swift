import Engine

// Pooling and resizing layers over the Engine kernels (torch.nn names and defaults: stride defaults to the
// kernel size, average pooling counts padding in the divisor).

public final class MaxPool2d: Layer {
    public let kernelSize: [Int], stride: [Int], padding: [Int]
    public let ceilMode: Bool
    public init(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0], ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
    }
    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        self.init(kernelSize: [kernelSize, kernelSize], stride: stride.map { [$0, $0] }, padding: [padding, padding],
                  ceilMode: ceilMode)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.maxPool2d(x, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode)
    }
}

public final class MaxPool3d: Layer {
    public let kernelSize: [Int], stride: [Int], padding: [Int]
    public let ceilMode: Bool
    public init(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0], ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
    }
    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        self.init(kernelSize: [kernelSize, kernelSize, kernelSize], stride: stride.map { [$0, $0, $0] },
                  padding: [padding, padding, padding], ceilMode: ceilMode)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.maxPool3d(x, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode)
    }
}

public final class AvgPool2d: Layer {
    public let kernelSize: [Int], stride: [Int], padding: [Int]
    public let countIncludePad: Bool, ceilMode: Bool
    public init(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0], countIncludePad: Bool = true,
                ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.countIncludePad = countIncludePad
        self.ceilMode = ceilMode
    }
    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true,
                            ceilMode: Bool = false) {
        self.init(kernelSize: [kernelSize, kernelSize], stride: stride.map { [$0, $0] }, padding: [padding, padding],
                  countIncludePad: countIncludePad, ceilMode: ceilMode)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.avgPool2d(x, kernel: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad,
                         ceilMode: ceilMode)
    }
}

public final class AvgPool3d: Layer {
    public let kernelSize: [Int], stride: [Int], padding: [Int]
    public let countIncludePad: Bool, ceilMode: Bool
    public init(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0], countIncludePad: Bool = true,
                ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.countIncludePad = countIncludePad
        self.ceilMode = ceilMode
    }
    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true,
                            ceilMode: Bool = false) {
        self.init(kernelSize: [kernelSize, kernelSize, kernelSize], stride: stride.map { [$0, $0, $0] },
                  padding: [padding, padding, padding], countIncludePad: countIncludePad, ceilMode: ceilMode)
    }
    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.avgPool3d(x, kernel: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad,
                         ceilMode: ceilMode)
    }
}

/// Average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d); [1, 1] is global average pooling.
public final class AdaptiveAvgPool2d: Layer {
    public let outputSize: [Int]
    public init(_ outputSize: [Int]) { self.outputSize = outputSize }
    public convenience init(_ outputSize: Int) { self.init([outputSize, outputSize]) }
    public override func forward(_ x: Tensor) -> Tensor { Tensor.adaptiveAvgPool2d(x, outputSize: outputSize) }
}

public final class AdaptiveAvgPool3d: Layer {
    public let outputSize: [Int]
    public init(_ outputSize: [Int]) { self.outputSize = outputSize }
    public convenience init(_ outputSize: Int) { self.init([outputSize, outputSize, outputSize]) }
    public override func forward(_ x: Tensor) -> Tensor { Tensor.adaptiveAvgPool3d(x, outputSize: outputSize) }
}

/// Resizing of [N, C, spatial...] (torch.nn.Upsample) by a scale factor or to a fixed size. `.linear` is
/// PyTorch's linear, bilinear or trilinear by the number of spatial axes.
public final class Upsample: Layer {
    public let size: [Int]?
    public let scaleFactor: Double?
    public let mode: InterpolationMode
    public let alignCorners: Bool

    public init(scaleFactor: Double, mode: InterpolationMode = .nearest, alignCorners: Bool = false) {
        size = nil
        self.scaleFactor = scaleFactor
        self.mode = mode
        self.alignCorners = alignCorners
    }
    public init(size: [Int], mode: InterpolationMode = .nearest, alignCorners: Bool = false) {
        self.size = size
        scaleFactor = nil
        self.mode = mode
        self.alignCorners = alignCorners
    }

    public override func forward(_ x: Tensor) -> Tensor {
        if let s = size { return Tensor.interpolate(x, size: s, mode: mode, alignCorners: alignCorners) }
        return Tensor.interpolate(x, scaleFactor: scaleFactor!, mode: mode, alignCorners: alignCorners)
    }
}
