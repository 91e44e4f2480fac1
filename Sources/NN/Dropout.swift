import Engine

/// The stream every dropout and drop-path mask is drawn from, without threading an RNG through every forward call.
/// Training loops place it at each optimisation step with `position(seed:phase:epoch:step:)`, so the masks of a step
/// are a function of (seed, phase, epoch, step) alone: a run resumed from a checkpoint draws exactly the masks the
/// uninterrupted run drew, with no generator state to save. (Seeding once per run, as before, made a resumed run
/// draw different masks from epoch 3 on and end 3.6 Dice away from the uninterrupted one.)
public enum DropoutRNG {
    nonisolated(unsafe) public static var rng = RNG(seed: 0x64726f70)
    public static func seed(_ s: UInt64) { rng = RNG(seed: s) }

    /// Restarts the stream at the given training position.
    public static func position(seed: UInt64, phase: String, epoch: Int, step: Int) {
        rng = RNG(seed: seed).fork("dropout." + phase).fork(UInt64(epoch)).fork(UInt64(step))
    }
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
