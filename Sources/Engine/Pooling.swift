import Foundation

// Max, average and adaptive-average pooling over 1–3 spatial dimensions of x [N, C, spatial...].
// All three are one windowed reduction: each axis contributes, per output index, an input range, and a window is
// the product of its axes' ranges. Spatial ranks are lifted to 3 with unit axes, as in `ConvGeometry`.

/// The pooling windows along one axis.
struct PoolAxis {
    /// Input range `lo[o]..<hi[o]` read by output `o`, clipped to the image.
    var lo: [Int]
    var hi: [Int]
    /// Window length counted over the padded image: average pooling's divisor when padding counts.
    var padded: [Int]
    var count: Int { lo.count }

    static let unit = PoolAxis(lo: [0], hi: [1], padded: [1])

    /// PyTorch's sliding windows: start o·stride − padding, length kernel, clipped to the padded image. Floor mode
    /// keeps the windows that fit the padded image; `ceilMode` adds a last partial one when it starts inside the
    /// image or its left padding (PyTorch's `ceil_mode`).
    static func sliding(input: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool = false) -> PoolAxis {
        precondition(kernel > 0 && stride > 0, "pooling kernel and stride must be positive")
        precondition(padding >= 0 && 2 * padding <= kernel, "pooling padding \(padding) must be at most half the kernel \(kernel)")
        let span = input + 2 * padding - kernel
        precondition(span >= 0, "pooling kernel \(kernel) larger than padded input \(input) + 2·\(padding)")
        var outputs = (ceilMode ? span + stride - 1 : span) / stride + 1
        if ceilMode && (outputs - 1) * stride >= input + padding { outputs -= 1 }
        var axis = PoolAxis(lo: [], hi: [], padded: [])
        for o in 0..<outputs {
            let start = o * stride - padding
            let end = Swift.min(start + kernel, input + padding)
            axis.lo.append(Swift.max(start, 0))
            axis.hi.append(Swift.min(end, input))
            axis.padded.append(end - start)
        }
        return axis
    }

    /// PyTorch's adaptive bins: floor(o·in/out) ..< ceil((o+1)·in/out).
    static func adaptive(input: Int, output: Int) -> PoolAxis {
        precondition(output > 0, "adaptive pooling needs a positive output size")
        var axis = PoolAxis(lo: [], hi: [], padded: [])
        for o in 0..<output {
            let lo = o * input / output, hi = ((o + 1) * input + output - 1) / output
            axis.lo.append(lo)
            axis.hi.append(hi)
            axis.padded.append(hi - lo)
        }
        return axis
    }
}

/// Windows over the lifted (D, H, W) image of every plane (one plane per batch item and channel).
struct PoolWindows {
    let planes: Int
    let input: [Int]
    let d: PoolAxis, h: PoolAxis, w: PoolAxis

    init(shape: [Int], axes: [PoolAxis]) {
        let r = shape.count - 2
        precondition((1...3).contains(r) && axes.count == r, "pooling needs x [N, C, spatial...] with 1–3 spatial dims, got \(shape)")
        planes = shape[0] * shape[1]
        input = [Int](repeating: 1, count: 3 - r) + Array(shape[2...])
        let lifted = [PoolAxis](repeating: .unit, count: 3 - r) + axes
        (d, h, w) = (lifted[0], lifted[1], lifted[2])
    }

    var inVolume: Int { input[0] * input[1] * input[2] }
    var outVolume: Int { d.count * h.count * w.count }

    func outShape(_ x: [Int]) -> [Int] {
        let r = x.count - 2
        return Array(x[..<2]) + Array([d.count, h.count, w.count].suffix(r))
    }

    /// Calls `body(plane, outputIndex, d, h, w)` for the windows of the outputs in `rows` (a row is one (plane, od, oh)),
    /// passing the window's three axes as index ranges.
    @inline(__always)
    func forEachWindow(rows: Range<Int>, _ body: (Int, Int, Range<Int>, Range<Int>, Range<Int>) -> Void) {
        let oD = d.count, oH = h.count, oW = w.count
        for r in rows {
            let p = r / (oD * oH), q = r % (oD * oH), od = q / oH, oh = q % oH
            let rd = d.lo[od]..<d.hi[od], rh = h.lo[oh]..<h.hi[oh]
            for ow in 0..<oW { body(p, r * oW + ow, rd, rh, w.lo[ow]..<w.hi[ow]) }
        }
    }

    /// Output rows (plane, od, oh) of one plane.
    func rows(ofPlane p: Int) -> Range<Int> { (p * d.count * h.count)..<((p + 1) * d.count * h.count) }
    var rowCount: Int { planes * d.count * h.count }

    /// Non-overlapping 2×2 windows over a 2D image, every one inside it (kernel 2, stride 2, no padding).
    var isHalving: Bool {
        func pairs(_ a: PoolAxis) -> Bool {
            for o in 0..<a.count where a.lo[o] != 2 * o || a.hi[o] != 2 * o + 2 { return false }
            return true
        }
        return d.count == 1 && input[0] == 1 && pairs(h) && pairs(w)
    }
}

extension Tensor {
    /// Max pooling; the gradient goes to the first maximum of each window (NaN counts as a maximum, as in PyTorch).
    static func maxPool(_ x: Tensor, _ win: PoolWindows) -> Tensor {
        let out = Tensor.empty(win.outShape(x.shape))
        var argmax = [Int32](repeating: 0, count: out.count)
        let iH = win.input[1], iW = win.input[2], iv = win.inVolume
        let px = x.ptr, po = out.ptr
        let halving = win.isHalving
        argmax.withUnsafeMutableBufferPointer { ab in
            let pa = ab.baseAddress!
            parallelFor(win.rowCount, minChunk: Swift.max(1, 2048 / Swift.max(win.w.count, 1))) { rows in
                if halving {
                    // The U-Net's 2×2, stride-2 pooling: the generic window walk below, unrolled. Same visiting order
                    // and comparisons, so the same maxima and indices.
                    let oH = win.h.count, oW = win.w.count
                    for r in rows {
                        let p = r / oH, oh = r - p * oH
                        let src = px + p * iv, dst = r * oW
                        for ow in 0..<oW {
                            let at0 = 2 * oh * iW + 2 * ow
                            var best = -Float.infinity, at = -1
                            @inline(__always) func visit(_ i: Int) {
                                if src[i] > best || src[i].isNaN { best = src[i]; at = i }
                            }
                            visit(at0); visit(at0 + 1); visit(at0 + iW); visit(at0 + iW + 1)
                            po[dst + ow] = best
                            pa[dst + ow] = Int32(at)
                        }
                    }
                    return
                }
                win.forEachWindow(rows: rows) { p, o, rd, rh, rw in
                    let src = px + p * iv
                    var best = -Float.infinity, at = -1
                    for id in rd {
                        for ih in rh {
                            let row = (id * iH + ih) * iW
                            for iw in rw where src[row + iw] > best || src[row + iw].isNaN {
                                best = src[row + iw]; at = row + iw
                            }
                        }
                    }
                    po[o] = best
                    pa[o] = Int32(at)
                }
            }
        }
        let indices = argmax, perPlane = win.outVolume
        return record(out, "maxPool\(x.rank - 2)d", [x]) { g in
            let gx = Tensor(zeros: x.shape)
            let pg = g.ptr, pgx = gx.ptr
            indices.withUnsafeBufferPointer { ib in
                let pi = ib.baseAddress!
                // Parallel over planes: each plane's scatter is serial, so overlapping windows add in a fixed order.
                parallelFor(win.planes, minChunk: Swift.max(1, 4096 / Swift.max(perPlane, 1))) { planes in
                    for p in planes {
                        let dst = pgx + p * iv
                        for o in (p * perPlane)..<((p + 1) * perPlane) where pi[o] >= 0 { dst[Int(pi[o])] += pg[o] }
                    }
                }
            }
            x.takeGradient(gx)
        }
    }

    /// Average pooling; the divisor is the padded window length (`includePad`) or the count of real inputs.
    static func averagePool(_ x: Tensor, _ win: PoolWindows, includePad: Bool) -> Tensor {
        let out = Tensor.empty(win.outShape(x.shape))
        let iH = win.input[1], iW = win.input[2], iv = win.inVolume
        let oD = win.d.count, oH = win.h.count, oW = win.w.count
        // One divisor per output position, shared by all planes.
        var divisor = [Float](repeating: 1, count: win.outVolume)
        for od in 0..<oD {
            for oh in 0..<oH {
                for ow in 0..<oW {
                    let n = includePad
                        ? win.d.padded[od] * win.h.padded[oh] * win.w.padded[ow]
                        : (win.d.hi[od] - win.d.lo[od]) * (win.h.hi[oh] - win.h.lo[oh]) * (win.w.hi[ow] - win.w.lo[ow])
                    divisor[(od * oH + oh) * oW + ow] = Float(Swift.max(n, 1))
                }
            }
        }
        let div = divisor, perPlane = win.outVolume
        let px = x.ptr, po = out.ptr
        div.withUnsafeBufferPointer { db in
            let pd = db.baseAddress!
            parallelFor(win.rowCount, minChunk: Swift.max(1, 2048 / Swift.max(oW, 1))) { rows in
                win.forEachWindow(rows: rows) { p, o, rd, rh, rw in
                    let src = px + p * iv
                    var s: Float = 0
                    for id in rd {
                        for ih in rh {
                            let row = src + (id * iH + ih) * iW
                            for iw in rw { s += row[iw] }
                        }
                    }
                    po[o] = s / pd[o - p * perPlane]
                }
            }
        }
        return record(out, "avgPool\(x.rank - 2)d", [x]) { g in
            let gx = Tensor(zeros: x.shape)
            let pg = g.ptr, pgx = gx.ptr
            div.withUnsafeBufferPointer { db in
                let pd = db.baseAddress!
                parallelFor(win.planes, minChunk: Swift.max(1, 4096 / Swift.max(perPlane, 1))) { planes in
                    for p in planes {
                        let dst = pgx + p * iv
                        win.forEachWindow(rows: win.rows(ofPlane: p)) { _, o, rd, rh, rw in
                            let v = pg[o] / pd[o - p * perPlane]
                            for id in rd {
                                for ih in rh {
                                    let row = dst + (id * iH + ih) * iW
                                    for iw in rw { row[iw] += v }
                                }
                            }
                        }
                    }
                }
            }
            x.takeGradient(gx)
        }
    }

    static func slidingWindows(_ x: Tensor, kernel: [Int], stride: [Int]?, padding: [Int], ceilMode: Bool = false) -> PoolWindows {
        let r = x.rank - 2
        let s = stride ?? kernel
        precondition(kernel.count == r && s.count == r && padding.count == r,
                     "pooling over \(r) dims needs kernel \(kernel), stride \(s), padding \(padding) of \(r) entries")
        let axes = (0..<r).map { PoolAxis.sliding(input: x.shape[2 + $0], kernel: kernel[$0], stride: s[$0], padding: padding[$0],
                                                  ceilMode: ceilMode) }
        return PoolWindows(shape: x.shape, axes: axes)
    }

    static func adaptiveWindows(_ x: Tensor, outputSize: [Int]) -> PoolWindows {
        let r = x.rank - 2
        precondition(outputSize.count == r, "adaptive pooling over \(r) dims needs \(r) output sizes, got \(outputSize)")
        return PoolWindows(shape: x.shape, axes: (0..<r).map { PoolAxis.adaptive(input: x.shape[2 + $0], output: outputSize[$0]) })
    }
}

// MARK: - Public entry points

extension Tensor {
    /// Max pooling over x [N, C, H, W]; `stride` defaults to the kernel, padding is implicit −∞; `ceilMode` as in
    /// PyTorch (a last partial window).
    public static func maxPool2d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0], ceilMode: Bool = false) -> Tensor {
        precondition(x.rank == 4, "maxPool2d needs x [N, C, H, W], got \(x.shape)")
        return maxPool(x, slidingWindows(x, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode))
    }
    public static func maxPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) -> Tensor {
        maxPool2d(x, kernel: [kernel, kernel], stride: stride.map { [$0, $0] }, padding: [padding, padding], ceilMode: ceilMode)
    }

    /// Max pooling over x [N, C, D, H, W].
    public static func maxPool3d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0], ceilMode: Bool = false) -> Tensor {
        precondition(x.rank == 5, "maxPool3d needs x [N, C, D, H, W], got \(x.shape)")
        return maxPool(x, slidingWindows(x, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode))
    }
    public static func maxPool3d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) -> Tensor {
        maxPool3d(x, kernel: [kernel, kernel, kernel], stride: stride.map { [$0, $0, $0] }, padding: [padding, padding, padding], ceilMode: ceilMode)
    }

    /// Average pooling over x [N, C, H, W]; with `countIncludePad` the zero padding counts in the divisor (PyTorch's default).
    public static func avgPool2d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0],
                                 countIncludePad: Bool = true, ceilMode: Bool = false) -> Tensor {
        precondition(x.rank == 4, "avgPool2d needs x [N, C, H, W], got \(x.shape)")
        return averagePool(x, slidingWindows(x, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode), includePad: countIncludePad)
    }
    public static func avgPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0,
                                 countIncludePad: Bool = true, ceilMode: Bool = false) -> Tensor {
        avgPool2d(x, kernel: [kernel, kernel], stride: stride.map { [$0, $0] }, padding: [padding, padding],
                  countIncludePad: countIncludePad, ceilMode: ceilMode)
    }

    /// Average pooling over x [N, C, D, H, W].
    public static func avgPool3d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0],
                                 countIncludePad: Bool = true, ceilMode: Bool = false) -> Tensor {
        precondition(x.rank == 5, "avgPool3d needs x [N, C, D, H, W], got \(x.shape)")
        return averagePool(x, slidingWindows(x, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode), includePad: countIncludePad)
    }
    public static func avgPool3d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0,
                                 countIncludePad: Bool = true, ceilMode: Bool = false) -> Tensor {
        avgPool3d(x, kernel: [kernel, kernel, kernel], stride: stride.map { [$0, $0, $0] },
                  padding: [padding, padding, padding], countIncludePad: countIncludePad, ceilMode: ceilMode)
    }

    /// Adaptive average pooling of x [N, C, H, W] to `outputSize` [oH, oW].
    public static func adaptiveAvgPool2d(_ x: Tensor, outputSize: [Int]) -> Tensor {
        precondition(x.rank == 4, "adaptiveAvgPool2d needs x [N, C, H, W], got \(x.shape)")
        return averagePool(x, adaptiveWindows(x, outputSize: outputSize), includePad: true)
    }

    /// Adaptive average pooling of x [N, C, D, H, W] to `outputSize` [oD, oH, oW].
    public static func adaptiveAvgPool3d(_ x: Tensor, outputSize: [Int]) -> Tensor {
        precondition(x.rank == 5, "adaptiveAvgPool3d needs x [N, C, D, H, W], got \(x.shape)")
        return averagePool(x, adaptiveWindows(x, outputSize: outputSize), includePad: true)
    }
}
