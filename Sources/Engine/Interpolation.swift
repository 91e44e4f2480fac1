import Foundation

// Nearest and (bi/tri)linear resizing of x [N, C, spatial...], matching torch.nn.functional.interpolate.
// Both modes are separable, so a resize is a chain of one-axis resamples, last axis first: for linear mode that
// evaluates h0·(w0·a + w1·b) + h1·(w0·c + w1·d), the same expression PyTorch's kernel computes.

public enum InterpolationMode: Sendable {
    /// PyTorch's "nearest": source index floor(dst · in/out).
    case nearest
    /// "linear", "bilinear" or "trilinear" by spatial rank.
    case linear
}

/// One axis of a resample: output j reads `w0[j]·x[i0[j]] + w1[j]·x[i1[j]]`, and the transposed table lists,
/// per input index, the (output, weight) pairs that read it, so the backward pass gathers instead of scattering.
struct ResampleAxis {
    let input: Int
    let output: Int
    let nearest: Bool
    var i0: [Int] = [], i1: [Int] = [], w0: [Float] = [], w1: [Float] = []
    /// CSR over inputs: readers of input p are `readers[start[p]..<start[p+1]]`, in increasing output order.
    var start: [Int] = [], readers: [Int] = [], weights: [Float] = []

    /// `scale` is PyTorch's in/out ratio: 1/scale_factor when a factor was given, else input/output.
    init(input: Int, output: Int, mode: InterpolationMode, alignCorners: Bool, scale: Float) {
        precondition(input > 0 && output > 0, "interpolate: sizes must be positive (\(input) → \(output))")
        self.input = input
        self.output = output
        nearest = mode == .nearest
        for j in 0..<output {
            switch mode {
            case .nearest:
                let src = Swift.min(Int((Float(j) * scale).rounded(.down)), input - 1)
                i0.append(src); i1.append(src); w0.append(1); w1.append(0)
            case .linear:
                let src: Float
                if alignCorners {
                    src = output > 1 ? Float(j) * (Float(input - 1) / Float(output - 1)) : 0
                } else {
                    src = Swift.max(scale * (Float(j) + 0.5) - 0.5, 0)
                }
                let lo = Swift.min(Int(src), input - 1)
                let lambda = Swift.min(Swift.max(src - Float(lo), 0), 1)
                i0.append(lo); i1.append(lo + (lo < input - 1 ? 1 : 0)); w0.append(1 - lambda); w1.append(lambda)
            }
        }
        buildReaders()
    }

    private mutating func buildReaders() {
        var lists = [[(Int, Float)]](repeating: [], count: input)
        for j in 0..<output {
            lists[i0[j]].append((j, w0[j]))
            if !nearest { lists[i1[j]].append((j, w1[j])) }
        }
        start = [0]
        for l in lists {
            for (j, w) in l { readers.append(j); weights.append(w) }
            start.append(readers.count)
        }
    }

    /// An axis that maps every index to itself, which the resize skips.
    var isIdentity: Bool { input == output && (0..<output).allSatisfy { i0[$0] == $0 && w0[$0] == 1 && w1[$0] == 0 } }
}

extension Tensor {
    /// Resamples one axis. Forward and backward are both gathers over disjoint output rows, so they run in parallel
    /// and deterministically.
    func resampled(axis ax: Int, _ table: ResampleAxis) -> Tensor {
        let (outer, n, inner) = split(ax)
        precondition(n == table.input, "resample: axis \(ax) of \(shape) is not \(table.input) long")
        let m = table.output
        var os = shape; os[ax] = m
        let out = Tensor.empty(os)
        let px = ptr, po = out.ptr
        table.i0.withUnsafeBufferPointer { i0 in
        table.i1.withUnsafeBufferPointer { i1 in
        table.w0.withUnsafeBufferPointer { w0 in
        table.w1.withUnsafeBufferPointer { w1 in
            parallelFor(outer * m, minChunk: Swift.max(1, 8192 / Swift.max(inner, 1))) { rows in
                // Walk (o, j) incrementally: with the last axis resampled a row is one element, and a division
                // per element would cost more than the interpolation.
                var o = rows.lowerBound / m, j = rows.lowerBound - o * m
                var src = px + o * n * inner, dst = po + rows.lowerBound * inner
                for _ in rows {
                    let a = src + i0[j] * inner
                    if table.nearest {
                        if inner == 1 { dst[0] = a[0] } else { dst.update(from: a, count: inner) }
                    } else {
                        let b = src + i1[j] * inner, u = w0[j], v = w1[j]
                        for i in 0..<inner { dst[i] = u * a[i] + v * b[i] }
                    }
                    dst += inner
                    j += 1
                    if j == m { j = 0; o += 1; src += n * inner }
                }
            }
        }}}}
        let inShape = shape
        return Tensor.record(out, table.nearest ? "resampleNearest" : "resampleLinear", [self]) { [unowned self] g in
            let gx = Tensor.empty(inShape)
            let pg = g.ptr, pgx = gx.ptr
            table.start.withUnsafeBufferPointer { st in
            table.readers.withUnsafeBufferPointer { rd in
            table.weights.withUnsafeBufferPointer { wt in
                parallelFor(outer * n, minChunk: Swift.max(1, 8192 / Swift.max(inner, 1))) { rows in
                    var o = rows.lowerBound / n, p = rows.lowerBound - o * n
                    var src = pg + o * m * inner, dst = pgx + rows.lowerBound * inner
                    for _ in rows {
                        if inner == 1 {
                            var s: Float = 0
                            for e in st[p]..<st[p + 1] { s += wt[e] * src[rd[e]] }
                            dst[0] = s
                        } else {
                            dst.update(repeating: 0, count: inner)
                            for e in st[p]..<st[p + 1] {
                                let g = src + rd[e] * inner, w = wt[e]
                                for i in 0..<inner { dst[i] += w * g[i] }
                            }
                        }
                        dst += inner
                        p += 1
                        if p == n { p = 0; o += 1; src += m * inner }
                    }
                }
            }}}
            self.takeGradient(gx)
        }
    }

    /// Resizes x [N, C, spatial...] (1–3 spatial dims) to `size`, as torch.nn.functional.interpolate(size=...).
    public static func interpolate(_ x: Tensor, size: [Int], mode: InterpolationMode = .nearest,
                                   alignCorners: Bool = false) -> Tensor {
        let r = x.rank - 2
        precondition((1...3).contains(r) && size.count == r, "interpolate: x \(x.shape) needs \(r) output sizes, got \(size)")
        let scales = (0..<r).map { Float(x.shape[2 + $0]) / Float(size[$0]) }
        return resize(x, size: size, scales: scales, mode: mode, alignCorners: alignCorners)
    }

    /// Resizes by `scaleFactor` per spatial axis: output floor(in · factor), and source coordinates scaled by
    /// 1/factor, as PyTorch does with `recompute_scale_factor` unset.
    public static func interpolate(_ x: Tensor, scaleFactor: [Double], mode: InterpolationMode = .nearest,
                                   alignCorners: Bool = false) -> Tensor {
        let r = x.rank - 2
        precondition((1...3).contains(r) && scaleFactor.count == r && scaleFactor.allSatisfy { $0 > 0 },
                     "interpolate: x \(x.shape) needs \(r) positive scale factors, got \(scaleFactor)")
        let size = (0..<r).map { Int((Double(x.shape[2 + $0]) * scaleFactor[$0]).rounded(.down)) }
        return resize(x, size: size, scales: scaleFactor.map { Float(1 / $0) }, mode: mode, alignCorners: alignCorners)
    }

    public static func interpolate(_ x: Tensor, scaleFactor: Double, mode: InterpolationMode = .nearest,
                                   alignCorners: Bool = false) -> Tensor {
        interpolate(x, scaleFactor: [Double](repeating: scaleFactor, count: x.rank - 2), mode: mode, alignCorners: alignCorners)
    }

    private static func resize(_ x: Tensor, size: [Int], scales: [Float], mode: InterpolationMode, alignCorners: Bool) -> Tensor {
        var y = x
        for a in stride(from: size.count - 1, through: 0, by: -1) {
            let table = ResampleAxis(input: x.shape[2 + a], output: size[a], mode: mode, alignCorners: alignCorners, scale: scales[a])
            if !table.isIdentity { y = y.resampled(axis: 2 + a, table) }
        }
        return y
    }
}
