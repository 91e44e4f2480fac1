import Engine

// Activations as parameter-free layers, so that they can sit in a Sequential and keep PyTorch's indices
// (a Sequential of Conv, BatchNorm, ReLU has state-dict keys 0.weight, 1.weight, ... exactly as in PyTorch).

public final class ReLU: Layer {
    public override init() {}
    public override func forward(_ x: Tensor) -> Tensor { x.relu() }
}

public final class LeakyReLU: Layer {
    public let negativeSlope: Float
    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
    public override func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope) }
}

/// GELU, exact (erf) by default or with PyTorch's `approximate="tanh"`.
public final class GELU: Layer {
    public let tanhApproximation: Bool
    public init(tanhApproximation: Bool = false) { self.tanhApproximation = tanhApproximation }
    public override func forward(_ x: Tensor) -> Tensor { x.gelu(tanhApproximation: tanhApproximation) }
}

public final class Sigmoid: Layer {
    public override init() {}
    public override func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

public final class Tanh: Layer {
    public override init() {}
    public override func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// x·σ(x), also called Swish.
public final class SiLU: Layer {
    public override init() {}
    public override func forward(_ x: Tensor) -> Tensor { x * x.sigmoid() }
}

public final class Softplus: Layer {
    public override init() {}
    public override func forward(_ x: Tensor) -> Tensor { x.softplus() }
}

public final class Softmax: Layer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public override func forward(_ x: Tensor) -> Tensor { x.softmax(axis: axis) }
}

public final class Identity: Layer {
    public override init() {}
    public override func forward(_ x: Tensor) -> Tensor { x }
}
