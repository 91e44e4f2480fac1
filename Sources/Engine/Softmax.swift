import Foundation
import CEngineSupport

// Softmax and log-softmax over the last axis, fused: one pass for the max, one for the sum, one to write.
// Attention rows and the cross-entropy both go through these.

extension Tensor {
    public func softmax() -> Tensor {
        let n = shape[rank - 1], rows = count / n
        let out = Tensor.empty(shape)
        let pi = ptr, po = out.ptr
        parallelFor(rows, minChunk: Swift.max(1, 4096 / n)) { r in
            for row in r {
                let x = pi + row * n, y = po + row * n
                let m = rowMax(x, n)
                if m == -.infinity { for j in 0..<n { y[j] = 0 }; continue }   // fully masked row
                // Exponentials and their sum in separate loops: the first vectorises, a running sum would not.
                repro_exp_shifted(x, m, y, n)
                let inv = 1 / Kernels.sum(y, n)
                for j in 0..<n { y[j] *= inv }
            }
        }
        let ys = out.storage
        return Tensor.record(out, "softmax", [self]) { [unowned self] g in
            // dx = y ⊙ (g − Σ g⊙y)
            let gi = Tensor.empty(self.shape)
            let pg = g.ptr, py = ys.ptr, pd = gi.ptr
            parallelFor(rows, minChunk: Swift.max(1, 4096 / n)) { r in
                for row in r {
                    let o = row * n
                    let dot = rowDot(pg + o, py + o, n)
                    for j in 0..<n { pd[o + j] = py[o + j] * (pg[o + j] - dot) }
                }
            }
            self.takeGradient(gi)
        }
    }

    public func logSoftmax() -> Tensor {
        let n = shape[rank - 1], rows = count / n
        let out = Tensor.empty(shape)
        let pi = ptr, po = out.ptr
        parallelFor(rows, minChunk: Swift.max(1, 4096 / n)) { r in
            for row in r {
                let x = pi + row * n, y = po + row * n
                var m = -Float.infinity
                for j in 0..<n { m = Swift.max(m, x[j]) }
                var s: Float = 0
                for j in 0..<n { s += Foundation.exp(x[j] - m) }
                let lse = m + Foundation.log(s)
                for j in 0..<n { y[j] = x[j] - lse }
            }
        }
        let ys = out.storage
        return Tensor.record(out, "logSoftmax", [self]) { [unowned self] g in
            // dx = g − softmax ⊙ Σ g
            let gi = Tensor.empty(self.shape)
            let pg = g.ptr, py = ys.ptr, pd = gi.ptr
            parallelFor(rows, minChunk: Swift.max(1, 4096 / n)) { r in
                for row in r {
                    let o = row * n
                    var s: Float = 0
                    for j in 0..<n { s += pg[o + j] }
                    for j in 0..<n { pd[o + j] = pg[o + j] - Foundation.exp(py[o + j]) * s }
                }
            }
            self.takeGradient(gi)
        }
    }

    /// Softmax over any axis, by moving it last.
    public func softmax(axis a: Int) -> Tensor {
        let ax = axis(a)
        if ax == rank - 1 { return softmax() }
        var p = Array(0..<rank); p.swapAt(ax, rank - 1)
        return permuted(p).softmax().permuted(p)
    }
}

// Row reductions in 16 lanes: a running max or sum is one dependent operation per element, several times slower
// on attention rows. The max ignores NaN as `Swift.max(m, x)` does.
@inline(__always) private func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    typealias Lanes = SIMD16<Float>
    var lanes = Lanes(repeating: -.infinity)
    var j = 0
    while j + 16 <= n {
        let v = UnsafeRawPointer(x + j).loadUnaligned(as: Lanes.self)
        lanes.replace(with: v, where: v .> lanes)
        j += 16
    }
    var m = -Float.infinity
    for i in 0..<16 { m = Swift.max(m, lanes[i]) }
    while j < n { m = Swift.max(m, x[j]); j += 1 }
    return m
}

@inline(__always) private func rowDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    typealias Lanes = SIMD16<Float>
    var lanes = Lanes(repeating: 0)
    var j = 0
    while j + 16 <= n {
        lanes += UnsafeRawPointer(a + j).loadUnaligned(as: Lanes.self) * UnsafeRawPointer(b + j).loadUnaligned(as: Lanes.self)
        j += 16
    }
    var s = lanes.sum()
    while j < n { s += a[j] * b[j]; j += 1 }
    return s
}
