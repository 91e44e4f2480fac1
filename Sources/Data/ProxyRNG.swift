import Foundation

/// SplitMix64 as a counter-based generator: the n-th draw of a stream is a pure function of (key, n), so a sample's
/// pixels depend only on the seed and the sample's own coordinates. Data does not import Engine; this is the same
/// idea as Engine's RNG, kept local and tiny.
public struct ProxyRNG: Sendable {
    public let key: UInt64
    public private(set) var counter: UInt64 = 0

    public init(seed: UInt64) { key = ProxyRNG.mix(seed) }

    /// A stream keyed by several integers (seed, data set, patient, slice, purpose, ...).
    public init(_ parts: UInt64...) {
        var k: UInt64 = 0x243F_6A88_85A3_08D3
        for p in parts { k = ProxyRNG.mix(k ^ ProxyRNG.mix(p &+ 0x9E37_79B9_7F4A_7C15)) }
        key = k
    }

    /// SplitMix64's output function.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An independent stream for a sub-task, identified by a label.
    public func fork(_ label: UInt64) -> ProxyRNG { ProxyRNG(key, label) }

    public mutating func next() -> UInt64 {
        counter &+= 1
        return ProxyRNG.mix(key &+ counter &* 0xD1B5_4A32_D192_ED03)
    }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    /// Uniform integer in 0..<n.
    public mutating func int(_ n: Int) -> Int {
        precondition(n > 0, "ProxyRNG.int: n must be positive")
        return Int(next() % UInt64(n))
    }

    public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + int(range.count) }

    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    /// Standard normal (Box–Muller, one value per call).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Index drawn with the given (unnormalised) weights.
    public mutating func choice(weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var u = uniform() * total
        for (i, w) in weights.enumerated() {
            if u < w { return i }
            u -= w
        }
        return weights.count - 1
    }

    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, int(i + 1)) }
    }
}
