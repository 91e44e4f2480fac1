import Foundation
import Engine

/// Which fan a variance-scaling initialiser preserves: the forward pass's (fan in) or the backward pass's (fan out).
public enum FanMode: Sendable {
    case fanIn, fanOut
}

/// The nonlinearity after a layer, for torch.nn.init.calculate_gain.
public enum Nonlinearity: Sendable {
    case linear, sigmoid, tanh, relu, selu
    case leakyReLU(Float)

    public var gain: Float {
        switch self {
        case .linear, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return Float(2).squareRoot()
        case .selu: return 0.75
        case let .leakyReLU(a): return (2 / (1 + a * a)).squareRoot()
        }
    }
}

/// In-place initialisers with torch.nn.init's semantics (bounds, standard deviations, fan computation). Each
/// draws from `rng` and returns the tensor for chaining.
public enum Init {
    /// PyTorch's fans: fan_in = shape[1]·receptive field, fan_out = shape[0]·receptive field
    /// (Linear [out, in], Conv [out, in/groups, k...]).
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fan in and fan out need at least 2 dimensions, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    private static func fill(_ t: Tensor, _ draw: () -> Float) -> Tensor {
        for i in 0..<t.count { t.ptr[i] = draw() }
        return t
    }

    @discardableResult
    public static func uniform(_ t: Tensor, lo: Float = 0, hi: Float = 1, rng: inout RNG) -> Tensor {
        fill(t) { rng.uniform(lo, hi) }
    }

    @discardableResult
    public static func normal(_ t: Tensor, mean: Float = 0, std: Float = 1, rng: inout RNG) -> Tensor {
        fill(t) { mean + std * rng.normal() }
    }

    @discardableResult
    public static func zeros(_ t: Tensor) -> Tensor { t.fill(0); return t }
    @discardableResult
    public static func ones(_ t: Tensor) -> Tensor { t.fill(1); return t }
    @discardableResult
    public static func constant(_ t: Tensor, _ value: Float) -> Tensor { t.fill(value); return t }

    /// U(−b, b) with b = gain·√(3/fan) (He et al.).
    @discardableResult
    public static func kaimingUniform(_ t: Tensor, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyReLU(0),
                                      rng: inout RNG) -> Tensor {
        let bound = nonlinearity.gain * (3 / Float(fan(t, mode))).squareRoot()
        return uniform(t, lo: -bound, hi: bound, rng: &rng)
    }

    /// N(0, σ²) with σ = gain/√fan (He et al.).
    @discardableResult
    public static func kaimingNormal(_ t: Tensor, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyReLU(0),
                                     rng: inout RNG) -> Tensor {
        normal(t, std: nonlinearity.gain / Float(fan(t, mode)).squareRoot(), rng: &rng)
    }

    /// U(−a, a) with a = gain·√(6/(fan_in + fan_out)) (Glorot & Bengio).
    @discardableResult
    public static func xavierUniform(_ t: Tensor, gain: Float = 1, rng: inout RNG) -> Tensor {
        let (fi, fo) = fans(t.shape)
        let a = gain * (6 / Float(fi + fo)).squareRoot()
        return uniform(t, lo: -a, hi: a, rng: &rng)
    }

    /// N(0, σ²) with σ = gain·√(2/(fan_in + fan_out)).
    @discardableResult
    public static func xavierNormal(_ t: Tensor, gain: Float = 1, rng: inout RNG) -> Tensor {
        let (fi, fo) = fans(t.shape)
        return normal(t, std: gain * (2 / Float(fi + fo)).squareRoot(), rng: &rng)
    }

    /// N(mean, std²) truncated to [a, b] — absolute bounds, as torch.nn.init.trunc_normal_ — by inverse-CDF
    /// sampling: a uniform draw between Φ(a) and Φ(b) mapped through Φ⁻¹, then clamped against rounding.
    @discardableResult
    public static func truncatedNormal(_ t: Tensor, mean: Float = 0, std: Float = 1, a: Float = -2, b: Float = 2,
                                       rng: inout RNG) -> Tensor {
        precondition(a < b && std > 0, "truncatedNormal needs a < b and std > 0")
        func cdf(_ x: Double) -> Double { (1 + Foundation.erf(x / 2.0.squareRoot())) / 2 }
        let lo = 2 * cdf(Double((a - mean) / std)) - 1, hi = 2 * cdf(Double((b - mean) / std)) - 1
        return fill(t) {
            let u = lo + (hi - lo) * Double(rng.uniform() as Float)
            let x = Double(mean) + Double(std) * 2.0.squareRoot() * inverseErf(u)
            return Swift.min(Swift.max(Float(x), a), b)
        }
    }

    private static func fan(_ t: Tensor, _ mode: FanMode) -> Int {
        let (fi, fo) = fans(t.shape)
        return mode == .fanIn ? fi : fo
    }

    /// erf⁻¹ by Giles' polynomial approximation ("Approximating the erfinv function", 2010), refined by two
    /// Newton steps on erf so that the result is accurate to Double precision away from ±1.
    static func inverseErf(_ y: Double) -> Double {
        if y <= -1 { return -.infinity }
        if y >= 1 { return .infinity }
        var w = -Foundation.log((1 - y) * (1 + y)), p: Double
        if w < 5 {
            w -= 2.5
            p = 2.81022636e-08
            for c in [3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                      -0.00417768164, 0.246640727, 1.50140941] { p = c + p * w }
        } else {
            w = w.squareRoot() - 3
            p = -0.000200214257
            for c in [0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                      0.00943887047, 1.00167406, 2.83297682] { p = c + p * w }
        }
        var x = p * y
        for _ in 0..<2 { x -= (Foundation.erf(x) - y) / (2 / Double.pi.squareRoot() * Foundation.exp(-x * x)) }
        return x
    }
}
