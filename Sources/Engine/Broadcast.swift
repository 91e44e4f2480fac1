/// Broadcasting, NumPy/PyTorch rules. Every op that broadcasts sends its gradient back through
/// `unbroadcast`, the one place where broadcast dimensions are summed away.
extension Tensor {
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let n = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
            out[i] = Swift.max(da, db)
        }
        return out
    }

    /// Strides of `shape` seen through `outShape` (0 on broadcast dimensions).
    static func broadcastStrides(_ shape: [Int], _ outShape: [Int]) -> [Int] {
        let st = strides(for: shape)
        let off = outShape.count - shape.count
        return (0..<outShape.count).map { i in i < off || shape[i - off] == 1 ? 0 : st[i - off] }
    }

    /// Sums `g` down to `shape`: the gradient of broadcasting `shape` up to `g.shape`.
    public static func unbroadcast(_ g: Tensor, to shape: [Int]) -> Tensor {
        if g.shape == shape { return g }
        let off = g.rank - shape.count
        var axes: [Int] = Array(0..<off)
        for i in 0..<shape.count where shape[i] == 1 && g.shape[i + off] != 1 { axes.append(i + off) }
        let s = axes.isEmpty ? g : g.sum(axes: axes, keepDim: true)
        return s.reshaped(shape)
    }

    /// Visits every output row (all dimensions but the last) with the input offsets for that row, so that the
    /// inner loop runs over the last dimension with strides 0 or 1 on each input.
    /// Inlined so that `binaryForward`'s function type is specialised into the row loop.
    @inline(__always)
    static func forEachBroadcastRow(_ outShape: [Int], _ sa: [Int], _ sb: [Int],
                                    _ body: (_ row: Int, _ oa: Int, _ ob: Int) -> Void) {
        let r = outShape.count
        if r <= 1 { body(0, 0, 0); return }
        let rows = outShape[0..<(r - 1)].reduce(1, *)
        parallelFor(rows, minChunk: Swift.max(1, 16384 / Swift.max(outShape[r - 1], 1))) { range in
            var idx = [Int](repeating: 0, count: r - 1)
            var rem = range.lowerBound
            for d in stride(from: r - 2, through: 0, by: -1) { idx[d] = rem % outShape[d]; rem /= outShape[d] }
            var oa = 0, ob = 0
            for d in 0..<(r - 1) { oa += idx[d] * sa[d]; ob += idx[d] * sb[d] }
            for row in range {
                body(row, oa, ob)
                var d = r - 2
                while d >= 0 {
                    idx[d] += 1; oa += sa[d]; ob += sb[d]
                    if idx[d] < outShape[d] { break }
                    oa -= sa[d] * outShape[d]; ob -= sb[d] * outShape[d]; idx[d] = 0; d -= 1
                }
            }
        }
    }

    /// Forward of a broadcasting binary op. Generic over the op's type, not a closure: a closure reached the row
    /// loops as one indirect call per element (the residual and bias adds were 6% of a ViT step), while a type is
    /// specialised into them and vectorised. Ops given as closures still work through `BinaryClosure`.
    @inline(__always)
    static func binaryForward<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, _ f: F) -> Tensor {
        let pa = a.ptr, pb = b.ptr
        if a.shape == b.shape {
            let out = Tensor.empty(a.shape); let po = out.ptr
            parallelFor(a.count, minChunk: 1 << 14) { r in for i in r { po[i] = f(pa[i], pb[i]) } }
            return out
        }
        if b.count == 1 && a.rank >= b.rank {
            let out = Tensor.empty(a.shape); let po = out.ptr; let s = pb[0]
            parallelFor(a.count, minChunk: 1 << 14) { r in for i in r { po[i] = f(pa[i], s) } }
            return out
        }
        let os = broadcastShape(a.shape, b.shape)
        let out = Tensor.empty(os); let po = out.ptr
        let sa = broadcastStrides(a.shape, os), sb = broadcastStrides(b.shape, os)
        let n = os.last ?? 1
        let la = sa.last ?? 0, lb = sb.last ?? 0
        forEachBroadcastRow(os, sa, sb) { row, oa, ob in
            let o = po + row * n
            if la == 1 && lb == 1 { for j in 0..<n { o[j] = f(pa[oa + j], pb[ob + j]) } }
            else if la == 1 { let v = pb[ob]; for j in 0..<n { o[j] = f(pa[oa + j], v) } }
            else if lb == 1 { let v = pa[oa]; for j in 0..<n { o[j] = f(v, pb[ob + j]) } }
            else { let v = f(pa[oa], pb[ob]); for j in 0..<n { o[j] = v } }
        }
        return out
    }
    @inline(__always)
    static func binaryForward(_ a: Tensor, _ b: Tensor, _ f: @escaping (Float, Float) -> Float) -> Tensor {
        binaryForward(a, b, BinaryClosure(f: f))
    }

    /// Materialises the broadcast of this tensor to `shape`.
    public func expanded(to shape: [Int]) -> Tensor {
        if self.shape == shape { return self }
        let out = Tensor.binaryForward(Tensor.zeros(shape), self) { _, b in b }
        precondition(out.shape == shape, "cannot expand \(self.shape) to \(shape)")
        let inShape = self.shape
        return Tensor.record(out, "expand", [self]) { [unowned self] g in
            self.takeGradient(Tensor.unbroadcast(g, to: inShape))
        }
    }
}

/// An elementwise function of two floats, as a type so that generic loops specialise on it.
protocol BinaryFunction {
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}
struct BinaryClosure: BinaryFunction {
    let f: (Float, Float) -> Float
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { f(a, b) }
}
struct AddFunction: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct SubFunction: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct MulFunction: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct DivFunction: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
