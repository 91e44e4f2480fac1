import Engine

/// y = x·Wᵀ + b with PyTorch's layout (weight [out, in]) and default initialisation
/// (uniform ±1/√in for weight and bias, which is kaiming_uniform with a = √5).
public final class Linear: Layer {
    public var weight: Tensor
    public var bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Tensor(zeros: [outFeatures, inFeatures], requiresGrad: true)
        self.bias = bias ? Tensor(zeros: [outFeatures], requiresGrad: true) : nil
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        let bound = 1 / Float(weight.shape[1]).squareRoot()
        Init.uniform(weight, lo: -bound, hi: bound, rng: &rng)
        if let b = bias { Init.uniform(b, lo: -bound, hi: bound, rng: &rng) }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        Tensor.linear(x, weight, bias)
    }
}
