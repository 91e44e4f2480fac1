import Foundation

/// The suite's counter-based generator (SplitMix64 over a counter), shared by the engine (initialisation, dropout,
/// data order) and the statistics (bootstrap, permutation tests). A stream is fully determined by (seed, counter), so
/// results do not depend on the thread count and a stream can be forked for data, init and dropout alike.
@frozen public struct RNG {
    public let seed: UInt64
    /// Draws made so far: the stream's position (public so that inlined draws can advance it across modules).
    public var counter: UInt64 = 0

    @inlinable public init(seed: UInt64) { self.seed = seed }

    /// The stream keyed by several integers (seed, data set, patient, slice, purpose, ...): the first is the seed,
    /// each further one a fork.
    public init(_ first: UInt64, _ rest: UInt64...) {
        var r = RNG(seed: first)
        for p in rest { r = r.fork(p) }
        self = r
    }

    @inlinable @inline(__always) public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inlinable public mutating func next() -> UInt64 {
        counter &+= 1
        return RNG.mix(seed &* 0xD1B5_4A32_D192_ED03 &+ counter)
    }

    /// Uniform in [0, 1): the top 24 bits of a draw for Float (the engine: initialisation, dropout), the top 53 for
    /// Double (the data generators and the statistics).
    @inlinable public mutating func uniform<T: BinaryFloatingPoint>() -> T {
        if T.self == Double.self { return T(Double(next() >> 11) * 0x1.0p-53) }
        return T(Float(next() >> 40) * (1.0 / Float(1 << 24)))
    }
    @inlinable public mutating func uniform<T: BinaryFloatingPoint>(_ lo: T, _ hi: T) -> T { lo + (hi - lo) * uniform() }
    @inlinable public mutating func int(_ n: Int) -> Int {
        precondition(n > 0, "RNG.int: n must be positive")
        return Int(next() % UInt64(n))
    }
    @inlinable public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + int(range.count) }
    @inlinable public mutating func bernoulli<T: BinaryFloatingPoint>(_ p: T) -> Bool { uniform() < p }

    /// Standard normal by Box-Muller, computed in Double (one value per call keeps the stream position simple).
    @inlinable public mutating func normal<T: BinaryFloatingPoint>() -> T {
        let u1 = max(Double(next() >> 11) * 0x1.0p-53, 1e-300)
        let u2 = Double(next() >> 11) * 0x1.0p-53
        return T((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// An index drawn with the given (unnormalised) weights.
    public mutating func choice(weights: [Double]) -> Int {
        var u = uniform() * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            if u < w { return i }
            u -= w
        }
        return weights.count - 1
    }

    /// An independent stream derived from this one's seed and a label.
    @inlinable public func fork(_ label: UInt64) -> RNG { RNG(seed: RNG.mix(seed ^ RNG.mix(label &+ 0x5851_F42D_4C95_7F2D))) }
    @inlinable public func fork(_ label: String) -> RNG { fork(RNG.hash(label)) }

    /// FNV-1a of the label's UTF-8 bytes: how a text names a stream.
    @inlinable public static func hash(_ label: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in label.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    @inlinable public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, int(i + 1)) }
    }
}

