import Foundation

// Layout primitives. `reshaped` shares storage; everything else copies into a fresh contiguous tensor.

/// Floats a thread copies at least before slices and concatenations are split across threads (the U-Net's skip
/// concatenations are megabytes, copied once forward and once back).
private let copyChunk = 1 << 16

extension Tensor {
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) { s[i] = count / Swift.max(1, s.enumerated().filter { $0.offset != i }.map { $0.element }.reduce(1, *)) }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        if s == shape { return self }
        let inShape = shape
        let out = Tensor(storage: storage, shape: s)
        return Tensor.record(out, "reshape", [self]) { [unowned self] g in self.takeGradient(g.reshaped(inShape)) }
    }
    public func reshaped(_ dims: Int...) -> Tensor { reshaped(dims) }
    public func flattened(from start: Int = 1) -> Tensor { reshaped(Array(shape[..<start]) + [shape[start...].reduce(1, *)]) }
    public func unsqueezed(_ a: Int) -> Tensor { var s = shape; s.insert(1, at: a < 0 ? a + rank + 1 : a); return reshaped(s) }
    public func squeezed(_ a: Int) -> Tensor { var s = shape; precondition(s[axis(a)] == 1); s.remove(at: axis(a)); return reshaped(s) }

    /// Copies `src` (shape `srcShape`) into `dst` laid out as `perm` of it.
    static func permuteCopy(_ src: UnsafePointer<Float>, _ srcShape: [Int], _ perm: [Int], _ dst: UnsafeMutablePointer<Float>) {
        let r = srcShape.count
        let st = strides(for: srcShape)
        let os = perm.map { srcShape[$0] }
        let ps = perm.map { st[$0] }   // source stride for each output dim
        let n = os.last ?? 1, ls = ps.last ?? 1
        let rows = os.reduce(1, *) / Swift.max(n, 1)
        if r <= 1 { dst.update(from: src, count: n); return }
        parallelFor(rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { range in
            var idx = [Int](repeating: 0, count: r - 1)
            var rem = range.lowerBound
            for d in stride(from: r - 2, through: 0, by: -1) { idx[d] = rem % os[d]; rem /= os[d] }
            var off = 0
            for d in 0..<(r - 1) { off += idx[d] * ps[d] }
            for row in range {
                let o = dst + row * n
                if ls == 1 { o.update(from: src + off, count: n) } else { for j in 0..<n { o[j] = src[off + j * ls] } }
                var d = r - 2
                while d >= 0 {
                    idx[d] += 1; off += ps[d]
                    if idx[d] < os[d] { break }
                    off -= ps[d] * os[d]; idx[d] = 0; d -= 1
                }
            }
        }
    }

    public func permuted(_ perm: [Int]) -> Tensor {
        precondition(perm.sorted() == Array(0..<rank), "bad permutation \(perm) for shape \(shape)")
        if perm == Array(0..<rank) { return self }
        let out = Tensor.empty(perm.map { shape[$0] })
        Tensor.permuteCopy(ptr, shape, perm, out.ptr)
        var inv = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inv[p] = i }
        return Tensor.record(out, "permute", [self]) { [unowned self] g in self.takeGradient(g.permuted(inv)) }
    }
    public func permuted(_ perm: Int...) -> Tensor { permuted(perm) }

    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var p = Array(0..<rank); p.swapAt(axis(a), axis(b)); return permuted(p)
    }

    /// Elements `start..<end` (step 1) along `axis`.
    public func slice(axis a: Int, _ start: Int, _ end: Int) -> Tensor {
        let ax = axis(a)
        precondition(start >= 0 && end <= shape[ax] && start <= end, "slice \(start)..<\(end) of axis \(ax) in \(shape)")
        let (outer, n, inner) = split(ax)
        let m = end - start
        var os = shape; os[ax] = m
        let out = Tensor.empty(os)
        let pi = ptr, po = out.ptr
        parallelFor(outer, minChunk: Swift.max(1, copyChunk / Swift.max(1, m * inner))) { r in
            for o in r { (po + o * m * inner).update(from: pi + (o * n + start) * inner, count: m * inner) }
        }
        let inShape = shape
        return Tensor.record(out, "slice", [self]) { [unowned self] g in
            let gi = Tensor(zeros: inShape)
            for o in 0..<outer { (gi.ptr + (o * n + start) * inner).update(from: g.ptr + o * m * inner, count: m * inner) }
            self.takeGradient(gi)
        }
    }

    public static func concat(_ ts: [Tensor], axis a: Int) -> Tensor {
        precondition(!ts.isEmpty, "concat of no tensors")
        let ax = ts[0].axis(a)
        let sizes = ts.map { $0.shape[ax] }
        var os = ts[0].shape; os[ax] = sizes.reduce(0, +)
        for t in ts { var s = t.shape; s[ax] = os[ax]; precondition(s == os, "concat: shapes \(ts.map { $0.shape }) differ off axis \(ax)") }
        let outer = os[..<ax].reduce(1, *), inner = os[(ax + 1)...].reduce(1, *)
        let out = Tensor.empty(os)
        let po = out.ptr, total = os[ax]
        let parts = ts.map { $0.ptr }
        parallelFor(outer, minChunk: Swift.max(1, copyChunk / Swift.max(1, total * inner))) { r in
            for o in r {
                var offset = 0
                for (p, m) in zip(parts, sizes) {
                    (po + (o * total + offset) * inner).update(from: p + o * m * inner, count: m * inner)
                    offset += m
                }
            }
        }
        return record(out, "concat", ts) { g in
            var off = 0
            for (t, m) in zip(ts, sizes) {
                if t.requiresGrad { t.takeGradient(g.slice(axis: ax, off, off + m)) }
                off += m
            }
        }
    }

    public static func stack(_ ts: [Tensor], axis a: Int = 0) -> Tensor {
        let ax = a < 0 ? a + ts[0].rank + 1 : a
        return concat(ts.map { $0.unsqueezed(ax) }, axis: ax)
    }

    /// Constant padding; `pads` holds (before, after) for each of the last `pads.count` dimensions,
    /// listed from the first padded dimension to the last.
    public func padded(_ pads: [(Int, Int)], value: Float = 0) -> Tensor {
        let k = pads.count, lead = rank - k
        var os = shape
        for (i, p) in pads.enumerated() { os[lead + i] += p.0 + p.1 }
        let out = Tensor(filled: value, shape: os)
        // Copy row by row: the last dimension is contiguous in both.
        let inner = shape.last ?? 1
        let rows = count / Swift.max(inner, 1)
        let ost = Tensor.strides(for: os)
        let before = (0..<rank).map { $0 >= lead ? pads[$0 - lead].0 : 0 }
        for row in 0..<rows {
            var rem = row, off = before[rank - 1]
            for d in stride(from: rank - 2, through: 0, by: -1) {
                off += (rem % shape[d] + before[d]) * ost[d]; rem /= shape[d]
            }
            (out.ptr + off).update(from: ptr + row * inner, count: inner)
        }
        var sliced: [(Int, Int)] = []
        for (i, p) in pads.enumerated() { sliced.append((p.0, p.0 + shape[lead + i])) }
        return Tensor.record(out, "pad", [self]) { [unowned self] g in
            var x = g
            for (i, r) in sliced.enumerated() { x = x.slice(axis: lead + i, r.0, r.1) }
            self.takeGradient(x)
        }
    }

    /// Circular shift along `axis` (torch.roll).
    public func rolled(_ shift: Int, axis a: Int) -> Tensor {
        let ax = axis(a)
        let n = shape[ax]
        let s = ((shift % n) + n) % n
        if s == 0 { return self }
        return Tensor.concat([slice(axis: ax, n - s, n), slice(axis: ax, 0, n - s)], axis: ax)
    }

    /// Rows of this tensor picked along `axis` by `indices` (torch.index_select); embedding lookup is axis 0.
    public func indexSelect(axis a: Int, _ indices: [Int]) -> Tensor {
        let ax = axis(a)
        let (outer, n, inner) = split(ax)
        let m = indices.count
        var os = shape; os[ax] = m
        let out = Tensor.empty(os)
        for o in 0..<outer {
            for (j, k) in indices.enumerated() {
                precondition(k >= 0 && k < n, "index \(k) out of range 0..<\(n) on axis \(ax)")
                (out.ptr + (o * m + j) * inner).update(from: ptr + (o * n + k) * inner, count: inner)
            }
        }
        let inShape = shape
        return Tensor.record(out, "indexSelect", [self]) { [unowned self] g in
            let gi = Tensor(zeros: inShape)
            for o in 0..<outer {
                for (j, k) in indices.enumerated() {
                    let d = gi.ptr + (o * n + k) * inner, s = g.ptr + (o * m + j) * inner
                    for i in 0..<inner { d[i] += s[i] }
                }
            }
            self.takeGradient(gi)
        }
    }

    /// Values at `index` along the last axis for every leading position (torch.gather on dim -1 with one index).
    public func gatherLast(_ index: [Int]) -> Tensor {
        let n = shape[rank - 1], rows = count / n
        precondition(index.count == rows, "gatherLast: \(index.count) indices for \(rows) rows")
        let out = Tensor.empty(Array(shape.dropLast()))
        for r in 0..<rows { out.ptr[r] = ptr[r * n + index[r]] }
        let inShape = shape
        return Tensor.record(out, "gather", [self]) { [unowned self] g in
            let gi = Tensor(zeros: inShape)
            for r in 0..<rows { gi.ptr[r * n + index[r]] += g.ptr[r] }
            self.takeGradient(gi)
        }
    }
}
