import Engine

/// y = x·Wᵀ + b with PyTorch's layout (weight [out, in]) and default initialisation
/// (uniform ±1/√in for weight and bias, which is kaiming_uniform with a = √5).
public final class Linear: Layer {
    public var weight: Tensor
    public var bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Tensor.rand([outFeatures, inFeatures], lo: -bound, hi: bound, rng: &ParamInit.rng, requiresGrad: true)
        self.bias = bias ? Tensor.rand([outFeatures], lo: -bound, hi: bound, rng: &ParamInit.rng, requiresGrad: true) : nil
    }

    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.linear(x, weight, bias)
    }
}
