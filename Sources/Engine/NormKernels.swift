import Foundation

// Fused normalisation kernels. Built from primitives, BatchNorm would make about ten passes over the activation
// and keep as many temporaries alive for backward; here forward is two reads and one write, backward two reads
// and one write, and only the input and per-row (or per-channel) statistics are kept. Every reduction runs
// serially within one channel or row, so results do not depend on the thread count.

/// 8-lane sums: vectorised, and more accurate than one serial accumulator.
@inline(__always) private func laneSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n { acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self); i += 8 }
    var s = Double(acc.sum())
    while i < n { s += Double(p[i]); i += 1 }
    return s
}

@inline(__always) private func laneSumSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ mean: Float) -> Double {
    var acc = SIMD8<Float>(repeating: 0)
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 8 <= n {
        let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - m
        acc += d * d; i += 8
    }
    var s = Double(acc.sum())
    while i < n { let d = p[i] - mean; s += Double(d * d); i += 1 }
    return s
}

/// g through a fused rectifier, from its output: g where `out` > 0, else slope·g (0 for a ReLU). The same values
/// as the unfused LeakyReLU's backward, whose rule reads its input, of the same sign as its output.
@inline(__always) private func rectified(_ g: SIMD8<Float>, _ out: UnsafePointer<Float>?, _ i: Int, _ slope: Float) -> SIMD8<Float> {
    guard let o = out else { return g }
    let zero = SIMD8<Float>(repeating: 0)
    let negative = UnsafeRawPointer(o + i).loadUnaligned(as: SIMD8<Float>.self) .<= zero
    return slope == 0 ? g.replacing(with: zero, where: negative) : g.replacing(with: g * slope, where: negative)
}

@inline(__always) private func rectified(_ g: Float, _ out: UnsafePointer<Float>?, _ i: Int, _ slope: Float) -> Float {
    guard let o = out, o[i] <= 0 else { return g }
    return slope == 0 ? 0 : g * slope
}

/// Σ g and Σ g·(x − mean), with g through a fused rectifier when `out` is given.
@inline(__always) private func laneGradSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafePointer<Float>?,
                                            _ slope: Float, _ n: Int, _ mean: Float) -> (Double, Double) {
    var a = SIMD8<Float>(repeating: 0), b = SIMD8<Float>(repeating: 0)
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 8 <= n {
        let gv = rectified(UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self), out, i, slope)
        a += gv
        b += gv * (UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m)
        i += 8
    }
    var sa = Double(a.sum()), sb = Double(b.sum())
    while i < n {
        let gv = rectified(g[i], out, i, slope)
        sa += Double(gv); sb += Double(gv * (x[i] - mean)); i += 1
    }
    return (sa, sb)
}

/// d = a·g + b·(x − mean) + c, with g through a fused rectifier when `out` is given. Every normalisation backward
/// reduces to this per-channel (or per-row) affine form once its sums are known; centring x before scaling
/// avoids cancellation when the mean is large beside the spread.
@inline(__always) private func laneAffineGrad(_ d: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                              _ out: UnsafePointer<Float>?, _ slope: Float, _ n: Int, _ a: Float, _ b: Float,
                                              _ c: Float, _ mean: Float) {
    let va = SIMD8<Float>(repeating: a), vb = SIMD8<Float>(repeating: b), vc = SIMD8<Float>(repeating: c)
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 8 <= n {
        let gv = rectified(UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self), out, i, slope)
        let r = va * gv + vb * (UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m) + vc
        UnsafeMutableRawPointer(d + i).storeBytes(of: r, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n {
        let gv = rectified(g[i], out, i, slope)
        d[i] = a * gv + b * (x[i] - mean) + c
        i += 1
    }
}

/// Σ g·w and Σ g·w·(x − mean) for a row with per-element weights (LayerNorm backward).
@inline(__always) private func laneWeightedGradSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                    _ n: Int, _ mean: Float) -> (Float, Float) {
    var a = SIMD8<Float>(repeating: 0), b = SIMD8<Float>(repeating: 0)
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 8 <= n {
        let gw = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<Float>.self)
        a += gw
        b += gw * (UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m)
        i += 8
    }
    var sa = a.sum(), sb = b.sum()
    while i < n { let gw = g[i] * w[i]; sa += gw; sb += gw * (x[i] - mean); i += 1 }
    return (sa, sb)
}

extension Tensor {
    // MARK: BatchNorm

    /// BatchNorm over an [N, C, *] tensor with this batch's statistics (training mode). Returns the output and the
    /// per-channel batch mean and biased variance, from which the caller updates its running statistics.
    /// `relu` fuses a ReLU onto the output (the Conv-BN-ReLU blocks of a U-Net).
    public static func batchNormTraining(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float,
                                         relu: Bool = false) -> (output: Tensor, mean: [Float], variance: [Float]) {
        let (n, c, s) = bnDims(x, weight, bias)
        let px = x.ptr
        var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
        let count = Double(n * s)
        mean.withUnsafeMutableBufferPointer { mb in
            variance.withUnsafeMutableBufferPointer { vb in
                let pm = mb.baseAddress!, pv = vb.baseAddress!
                parallelFor(c, minChunk: 1) { r in
                    for ch in r {
                        var sum = 0.0
                        for i in 0..<n { sum += laneSum(px + (i * c + ch) * s, s) }
                        let mu = Float(sum / count)
                        var sq = 0.0
                        for i in 0..<n { sq += laneSumSquaredDeviation(px + (i * c + ch) * s, s, mu) }
                        pm[ch] = mu; pv[ch] = Float(sq / count)
                    }
                }
            }
        }
        let out = bnApply(x, weight, bias, mean, variance, eps, relu, batchStatistics: true)
        return (out, mean, variance)
    }

    /// BatchNorm with fixed statistics (evaluation mode, running mean and variance).
    public static func batchNormInference(_ x: Tensor, mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?,
                                          eps: Float, relu: Bool = false) -> Tensor {
        let (_, c, _) = bnDims(x, weight, bias)
        precondition(mean.count == c && variance.count == c, "batchNorm: statistics for \(mean.count) channels, input has \(c)")
        return bnApply(x, weight, bias, mean.array, variance.array, eps, relu, batchStatistics: false)
    }

    private static func bnDims(_ x: Tensor, _ w: Tensor?, _ b: Tensor?) -> (Int, Int, Int) {
        precondition(x.rank >= 2, "batchNorm needs [N, C, *], got \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        precondition(w == nil || w!.count == c, "batchNorm: weight has \(w!.count) entries for \(c) channels")
        precondition(b == nil || b!.count == c, "batchNorm: bias has \(b!.count) entries for \(c) channels")
        return (n, c, x.count / Swift.max(n * c, 1))
    }

    /// y = (x − mean)·rstd·w + b, per channel, with the backward rule for either kind of statistics: batch
    /// statistics depend on x (the two mean terms in dx), fixed ones do not.
    private static func bnApply(_ x: Tensor, _ weight: Tensor?, _ bias: Tensor?, _ mean: [Float], _ variance: [Float],
                                _ eps: Float, _ relu: Bool, batchStatistics: Bool) -> Tensor {
        let (n, c, s) = bnDims(x, weight, bias)
        let rstd = variance.map { 1 / ($0 + eps).squareRoot() }
        let w = weight?.array ?? [Float](repeating: 1, count: c)
        let b = bias?.array ?? [Float](repeating: 0, count: c)
        let scale = (0..<c).map { w[$0] * rstd[$0] }
        let out = Tensor.empty(x.shape)
        let px = x.ptr, po = out.ptr
        parallelFor(n * c, minChunk: Swift.max(1, 16384 / Swift.max(s, 1))) { r in
            for row in r {
                let ch = row % c, sc = scale[ch], mu = mean[ch], sh = b[ch]
                let xi = px + row * s, yo = po + row * s
                if relu { for j in 0..<s { yo[j] = Swift.max((xi[j] - mu) * sc + sh, 0) } }
                else { for j in 0..<s { yo[j] = (xi[j] - mu) * sc + sh } }
            }
        }
        let outStorage = out.storage
        var inputs = [x]
        if let w = weight { inputs.append(w) }
        if let b = bias { inputs.append(b) }
        return record(out, relu ? "batchNormReLU" : "batchNorm", inputs) { g in
            let pg = g.ptr, pout: UnsafePointer<Float>? = relu ? UnsafePointer(outStorage.ptr) : nil
            // Per channel: Σ g and Σ g·x̂.
            var sumG = [Double](repeating: 0, count: c), sumGX = [Double](repeating: 0, count: c)
            sumG.withUnsafeMutableBufferPointer { ab in
                sumGX.withUnsafeMutableBufferPointer { bb in
                    let pa = ab.baseAddress!, pb = bb.baseAddress!
                    parallelFor(c, minChunk: 1) { r in
                        for ch in r {
                            var sa = 0.0, sb = 0.0
                            for i in 0..<n {
                                let o = (i * c + ch) * s
                                let (u, v) = laneGradSums(pg + o, px + o, pout.map { $0 + o }, 0, s, mean[ch])
                                sa += u; sb += v
                            }
                            pa[ch] = sa; pb[ch] = sb * Double(rstd[ch])
                        }
                    }
                }
            }
            if let w = weight, w.requiresGrad { w.takeGradient(Tensor(sumGX.map { Float($0) }, shape: w.shape)) }
            if let b = bias, b.requiresGrad { b.takeGradient(Tensor(sumG.map { Float($0) }, shape: b.shape)) }
            guard x.requiresGrad else { return }
            // dx = A·g + B·(x − mean) + C per channel; with batch statistics
            // dx = w·rstd·(g − Σg/M − x̂·Σ(g·x̂)/M).
            let m = Float(n * s)
            var ca = [Float](repeating: 0, count: c), cb = ca, cc = ca
            for ch in 0..<c {
                let k = w[ch] * rstd[ch]
                ca[ch] = k
                if batchStatistics {
                    let gm = Float(sumG[ch]) / m, gx = Float(sumGX[ch]) / m
                    cb[ch] = -k * gx * rstd[ch]
                    cc[ch] = -k * gm
                }
            }
            let gi = Tensor.empty(x.shape)
            let pd = gi.ptr
            parallelFor(n * c, minChunk: Swift.max(1, 16384 / Swift.max(s, 1))) { r in
                for row in r {
                    let ch = row % c, a = ca[ch], bb = cb[ch], cc0 = cc[ch]
                    let o = row * s
                    laneAffineGrad(pd + o, pg + o, px + o, pout.map { $0 + o }, 0, s, a, bb, cc0, mean[ch])
                }
            }
            x.takeGradient(gi)   // gi is fresh and private: no defensive copy
        }
    }

    // MARK: LayerNorm, GroupNorm, InstanceNorm

    /// LayerNorm over the last `normalizedCount` elements of each row; `weight`/`bias` have that many entries.
    public static func layerNorm(_ x: Tensor, normalizedCount: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        precondition(normalizedCount > 0 && x.count % normalizedCount == 0, "layerNorm: \(normalizedCount) does not divide \(x.shape)")
        return segmentNorm(x, segment: normalizedCount, cycle: 1, spread: 1, weight: weight, bias: bias, eps: eps, op: "layerNorm")
    }

    /// GroupNorm over [N, C, *]: statistics per sample and group of C/groups channels, affine per channel.
    /// InstanceNorm is the case groups = C. `negativeSlope` fuses a (leaky) ReLU onto the output, 0 for a ReLU:
    /// MONAI's blocks follow every instance norm but the last with LeakyReLU(0.01). Fused, the pair makes two
    /// passes fewer forward and three backward, and gives the same bits as the two layers one after the other.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float,
                                 negativeSlope: Float? = nil) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] % groups == 0, "groupNorm: \(groups) groups do not divide the channels of \(x.shape)")
        let n = x.shape[0], c = x.shape[1], s = x.count / Swift.max(n * c, 1)
        let op = (groups == c ? "instanceNorm" : "groupNorm") + (negativeSlope == nil ? "" : "LeakyReLU")
        return segmentNorm(x, segment: c / groups * s, cycle: groups, spread: s, weight: weight, bias: bias, eps: eps,
                           negativeSlope: negativeSlope, op: op)
    }

    /// Normalises each contiguous segment (row r of length L) by its own mean and biased variance, then applies
    /// the affine parameter with index ((r mod cycle)·L + l) / spread. LayerNorm is cycle = spread = 1;
    /// GroupNorm has one row per (sample, group), cycle = groups and spread = the spatial size.
    static func segmentNorm(_ x: Tensor, segment L: Int, cycle: Int, spread: Int, weight: Tensor?, bias: Tensor?,
                            eps: Float, negativeSlope: Float? = nil, op: String) -> Tensor {
        precondition(negativeSlope == nil || spread > 1, "\(op): a fused activation needs per-channel parameters")
        let rows = x.count / L
        let perRow = L / spread                     // parameters touched by one row
        let paramCount = cycle * perRow
        precondition(weight == nil || weight!.count == paramCount, "\(op): weight has \(weight!.count) entries, expected \(paramCount)")
        precondition(bias == nil || bias!.count == paramCount, "\(op): bias has \(bias!.count) entries, expected \(paramCount)")
        let w = weight?.array ?? [Float](repeating: 1, count: paramCount)
        let b = bias?.array ?? [Float](repeating: 0, count: paramCount)
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        let out = Tensor.empty(x.shape)
        let px = x.ptr, po = out.ptr
        let rectify = negativeSlope != nil, slope = negativeSlope ?? 1
        mean.withUnsafeMutableBufferPointer { mb in
            rstd.withUnsafeMutableBufferPointer { rb in
                let pm = mb.baseAddress!, pr = rb.baseAddress!
                parallelFor(rows, minChunk: Swift.max(1, 8192 / L)) { r in
                    for row in r {
                        let xi = px + row * L, yo = po + row * L
                        let mu = Float(laneSum(xi, L) / Double(L))
                        let rs = 1 / (Float(laneSumSquaredDeviation(xi, L, mu) / Double(L)) + eps).squareRoot()
                        pm[row] = mu; pr[row] = rs
                        let base = (row % cycle) * perRow
                        if spread == 1 {
                            for l in 0..<L { yo[l] = (xi[l] - mu) * rs * w[base + l] + b[base + l] }
                        } else {
                            for k in 0..<perRow {
                                let sc = rs * w[base + k], sh = b[base + k]
                                let xk = xi + k * spread, yk = yo + k * spread
                                if rectify && slope == 0 {   // a ReLU, +0 below the kink as Tensor.relu gives
                                    for j in 0..<spread { let v = (xk[j] - mu) * sc + sh; yk[j] = v <= 0 ? 0 : v }
                                } else if rectify {
                                    for j in 0..<spread { let v = (xk[j] - mu) * sc + sh; yk[j] = v <= 0 ? slope * v : v }
                                } else {
                                    for j in 0..<spread { yk[j] = (xk[j] - mu) * sc + sh }
                                }
                            }
                        }
                    }
                }
            }
        }
        var inputs = [x]
        if let w = weight { inputs.append(w) }
        if let b = bias { inputs.append(b) }
        let meanC = mean, rstdC = rstd
        let wStorage = Tensor(w, shape: [paramCount])
        let outStorage = out.storage
        return record(out, op, inputs) { g in
            let pg = g.ptr, pw = UnsafePointer(wStorage.ptr)
            let needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
            // Per-channel parameters: Σ g and Σ g·(x − mean) of every (row, channel) run, computed once and shared by
            // the parameter and the input gradients. Each run is summed by one thread in a fixed order.
            let pout: UnsafePointer<Float>? = rectify ? UnsafePointer(outStorage.ptr) : nil
            var sumG = [Double](repeating: 0, count: spread == 1 ? 0 : rows * perRow), sumGX = sumG
            if spread > 1 {
                sumG.withUnsafeMutableBufferPointer { ab in
                    sumGX.withUnsafeMutableBufferPointer { bb in
                        let pa = ab.baseAddress!, pb = bb.baseAddress!
                        parallelFor(rows, minChunk: Swift.max(1, 8192 / L)) { r in
                            for row in r {
                                for k in 0..<perRow {
                                    let o = row * L + k * spread
                                    (pa[row * perRow + k], pb[row * perRow + k]) =
                                        laneGradSums(pg + o, px + o, pout.map { $0 + o }, slope, spread, meanC[row])
                                }
                            }
                        }
                    }
                }
            }
            if needW || needB {
                var (dw, db) = ([Float](repeating: 0, count: paramCount), [Float](repeating: 0, count: paramCount))
                if spread == 1 {
                    (dw, db) = layerNormParamGrads(pg, px, meanC, rstdC, rows: rows, L: L)
                } else {
                    for p in 0..<paramCount {
                        let grp = p / perRow, k = p % perRow
                        var sw = 0.0, sb = 0.0
                        var row = grp
                        while row < rows {
                            sb += sumG[row * perRow + k]; sw += sumGX[row * perRow + k] * Double(rstdC[row])
                            row += cycle
                        }
                        dw[p] = Float(sw); db[p] = Float(sb)
                    }
                }
                if needW { weight!.takeGradient(Tensor(dw, shape: weight!.shape)) }
                if needB { bias!.takeGradient(Tensor(db, shape: bias!.shape)) }
            }
            guard x.requiresGrad else { return }
            // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·w, per row: an affine form in (g, x) per weight,
            // dx = rs·w·g − rs·m1 − rs²·m2·(x − mu).
            let gi = Tensor.empty(x.shape)
            let pd = gi.ptr
            parallelFor(rows, minChunk: Swift.max(1, 8192 / L)) { r in
                for row in r {
                    let o = row * L, mu = meanC[row], rs = rstdC[row], base = (row % cycle) * perRow
                    var s1: Float = 0, s2: Float = 0
                    if spread == 1 {
                        (s1, s2) = laneWeightedGradSums(pg + o, px + o, pw + base, L, mu)
                    } else {
                        for k in 0..<perRow {
                            s1 += Float(sumG[row * perRow + k]) * w[base + k]; s2 += Float(sumGX[row * perRow + k]) * w[base + k]
                        }
                    }
                    let m1 = s1 / Float(L), m2 = s2 * rs / Float(L)
                    let bx = -rs * rs * m2, c0 = -rs * m1
                    if spread == 1 {
                        for l in 0..<L { pd[o + l] = rs * pw[base + l] * pg[o + l] + bx * (px[o + l] - mu) + c0 }
                    } else {
                        for k in 0..<perRow {
                            let ok = o + k * spread
                            laneAffineGrad(pd + ok, pg + ok, px + ok, pout.map { $0 + ok }, slope, spread, rs * w[base + k], bx, c0, mu)
                        }
                    }
                }
            }
            x.takeGradient(gi)   // gi is fresh and private: no defensive copy
        }
    }

    /// Σ g·x̂ and Σ g for each LayerNorm parameter: blocks of columns, rows in order, so that reads stay sequential
    /// and each parameter is summed by one thread in a fixed order.
    private static func layerNormParamGrads(_ pg: UnsafePointer<Float>, _ px: UnsafePointer<Float>, _ mean: [Float],
                                            _ rstd: [Float], rows: Int, L: Int) -> ([Float], [Float]) {
        var dw = [Float](repeating: 0, count: L), db = dw
        dw.withUnsafeMutableBufferPointer { wb in
            db.withUnsafeMutableBufferPointer { bb in
                let pw = wb.baseAddress!, pb = bb.baseAddress!
                let block = 64
                parallelFor((L + block - 1) / block, minChunk: 1) { r in
                    for blk in r {
                        let lo = blk * block, hi = Swift.min(L, lo + block)
                        for row in 0..<rows {
                            let o = row * L, mu = mean[row], rs = rstd[row]
                            for l in lo..<hi {
                                pw[l] += pg[o + l] * (px[o + l] - mu) * rs
                                pb[l] += pg[o + l]
                            }
                        }
                    }
                }
            }
        }
        return (dw, db)
    }
}
