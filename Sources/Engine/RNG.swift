@_exported import Common
import Foundation

// The generator itself is in Common (RNG.swift); these draw tensors from it.
extension Tensor {
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor.empty(shape)
        for i in 0..<t.count { t.ptr[i] = rng.normal() * std }
        t.requiresGrad = requiresGrad
        return t
    }
    public static func rand(_ shape: [Int], lo: Float = 0, hi: Float = 1, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor.empty(shape)
        for i in 0..<t.count { t.ptr[i] = rng.uniform(lo, hi) }
        t.requiresGrad = requiresGrad
        return t
    }
}
