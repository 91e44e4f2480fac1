import Engine

/// The stream every dropout mask is drawn from. One module-level stream (reseeded at the start of a run) keeps
/// masks reproducible without threading an RNG through every forward call.
public enum DropoutRNG {
    nonisolated(unsafe) public static var rng = RNG(seed: 0x64726f70)
    public static func seed(_ s: UInt64) { rng = RNG(seed: s) }
}

/// Inverted dropout (torch.nn.Dropout): in training each element is zeroed with probability `p` and the rest are
/// scaled by 1/(1 − p); in evaluation it is the identity.
public final class Dropout: Layer {
    public let p: Float
    public init(_ p: Float = 0.5) {
        precondition(p >= 0 && p <= 1, "Dropout probability \(p) outside [0, 1]")
        self.p = p
    }
    public override func forward(_ x: Tensor) -> Tensor { training ? Dropout.apply(x, p: p) : x }

    /// Functional dropout for code paths that are not layers (attention probabilities).
    public static func apply(_ x: Tensor, p: Float) -> Tensor {
        if p == 0 { return x }
        if p == 1 { return x * 0 }
        let keep = 1 - p, scale = 1 / keep
        let mask = Tensor.empty(x.shape)
        let pm = mask.ptr
        for i in 0..<mask.count { pm[i] = DropoutRNG.rng.uniform() < keep ? scale : 0 }
        return x * mask
    }
}
