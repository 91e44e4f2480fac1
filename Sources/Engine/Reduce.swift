import Foundation

extension Tensor {
    /// (outer, n, inner) view of this tensor around one axis.
    @inline(__always) func split(_ axis: Int) -> (Int, Int, Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// Sum over one axis with the result kept as size 1. Deterministic: every output is one serial loop.
    func sumAxisKeep(_ axis: Int) -> Tensor {
        let (outer, n, inner) = split(axis)
        var os = shape; os[axis] = 1
        let out = Tensor(zeros: os)
        let pi = ptr, po = out.ptr
        if inner == 1 {
            parallelFor(outer, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { r in for o in r { po[o] = Kernels.sum(pi + o * n, n) } }
        } else {
            // Whole rows added in order of k: the same sum per output as walking each column, but unit-stride and
            // vectorised (a bias gradient sums 2,048 rows of 768).
            let block = 256, blocks = (inner + block - 1) / block
            parallelFor(outer * blocks, minChunk: Swift.max(1, 8192 / Swift.max(n * block, 1))) { r in
                for ob in r {
                    let o = ob / blocks, i0 = (ob % blocks) * block, w = Swift.min(block, inner - i0)
                    let dst = po + o * inner + i0, src = pi + o * n * inner + i0
                    for k in 0..<n {
                        let row = src + k * inner
                        for i in 0..<w { dst[i] += row[i] }
                    }
                }
            }
        }
        return out
    }

    /// Sum over `axes` (all axes when nil).
    public func sum(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let inShape = shape
        let ax = Set((axes ?? Array(0..<rank)).map { axis($0) })
        var out: Tensor
        if ax.count == rank && rank > 0 {
            out = Tensor(filled: Kernels.sum(ptr, count), shape: [Int](repeating: 1, count: rank))
        } else {
            out = data
            for a in ax.sorted() { out = out.sumAxisKeep(a) }
        }
        let keptShape = out.shape
        let finalShape = keepDim ? keptShape : shape.enumerated().filter { !ax.contains($0.offset) }.map { $0.element }
        out = Tensor(storage: out.storage, shape: finalShape)
        return Tensor.record(out, "sum", [self]) { [unowned self] g in
            self.takeGradient(g.reshaped(keptShape).expanded(to: inShape))
        }
    }
    public func sum(axis: Int, keepDim: Bool = false) -> Tensor { sum(axes: [axis], keepDim: keepDim) }

    public func mean(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let ax = (axes ?? Array(0..<rank)).map { axis($0) }
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDim: keepDim) * (1 / Float(n))
    }
    public func mean(axis: Int, keepDim: Bool = false) -> Tensor { mean(axes: [axis], keepDim: keepDim) }

    /// Biased (default, as LayerNorm uses) or unbiased variance over `axes`.
    public func variance(axes: [Int], keepDim: Bool = false, unbiased: Bool = false) -> Tensor {
        let ax = axes.map { axis($0) }
        let n = ax.reduce(1) { $0 * shape[$1] }
        let c = self - mean(axes: ax, keepDim: true)
        let s = c.square().sum(axes: ax, keepDim: keepDim)
        return s * (1 / Float(unbiased ? n - 1 : n))
    }

    /// Maximum over one axis and its index (first maximum on ties, as PyTorch's CPU kernel).
    public func max(axis a: Int, keepDim: Bool = false) -> (values: Tensor, indices: [Int]) {
        let ax = axis(a)
        let (outer, n, inner) = split(ax)
        var ks = shape; ks[ax] = 1
        let vals = Tensor.empty(ks)
        var idx = [Int](repeating: 0, count: outer * inner)
        let pi = ptr, pv = vals.ptr
        idx.withUnsafeMutableBufferPointer { ib in
            let pix = ib.baseAddress!
            parallelFor(outer * inner, minChunk: 256) { r in
                for oi in r {
                    let o = oi / inner, i = oi % inner
                    let base = pi + o * n * inner + i
                    var best = base[0], bk = 0
                    for k in 1..<Swift.max(n, 1) where base[k * inner] > best { best = base[k * inner]; bk = k }
                    pv[oi] = best; pix[oi] = bk
                }
            }
        }
        let inShape = shape
        let out = Tensor(storage: vals.storage, shape: keepDim ? ks : shape.enumerated().filter { $0.offset != ax }.map { $0.element })
        let indices = idx
        Tensor.record(out, "max", [self]) { [unowned self] g in
            let gi = Tensor(zeros: inShape)
            for oi in 0..<(outer * inner) {
                let o = oi / inner, i = oi % inner
                gi.ptr[o * n * inner + indices[oi] * inner + i] += g.ptr[oi]
            }
            self.takeGradient(gi)
        }
        return (out, indices)
    }

    public func max() -> Float { (0..<count).reduce(-Float.infinity) { Swift.max($0, ptr[$1]) } }
    public func min() -> Float { (0..<count).reduce(Float.infinity) { Swift.min($0, ptr[$1]) } }
    public func argmax(axis a: Int) -> [Int] { withoutGrad { max(axis: a).indices } }
}
