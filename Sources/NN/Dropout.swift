import Engine

/// Inverted dropout (torch.nn.Dropout): in training each element is zeroed with probability `p` and the rest are
/// scaled by 1/(1 − p); in evaluation it is the identity.
public final class Dropout: Layer, RandomLayer {
    public let p: Float
    /// Placed by the training loop at each step (`Module.placeRandomness`).
    public var randomness = RNG(seed: 0)
    public init(_ p: Float = 0.5) {
        precondition(p >= 0 && p <= 1, "Dropout probability \(p) outside [0, 1]")
        self.p = p
    }
    public override func forward(_ x: Tensor) -> Tensor { training ? Dropout.apply(x, p: p, rng: &randomness) : x }

    public static func apply(_ x: Tensor, p: Float, rng: inout RNG) -> Tensor {
        if p == 0 { return x }
        if p == 1 { return x * 0 }
        let keep = 1 - p, scale = 1 / keep
        let mask = Tensor.empty(x.shape)
        let pm = mask.ptr
        for i in 0..<mask.count { pm[i] = rng.uniform() < keep ? scale : 0 }
        return x * mask
    }
}
