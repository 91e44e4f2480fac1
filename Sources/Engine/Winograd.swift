import Foundation

// Winograd's minimal filtering F(2×2, 3×3) for 3×3 convolutions at stride 1 (Lavin & Gray, 2016).
//
// Every 2×2 block of outputs ("tile") reads a 4×4 input patch d. With
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1]
// the block is Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A: the sum over input channels is, for each of the 16 positions ξ
// of the 4×4 transformed tile, a GEMM  M_ξ [Cout, T] = U_ξ [Cout, Cin] · V_ξ [Cin, T]  over the T tiles. Those
// GEMMs take 16·Cout·Cin multiply-adds per tile of 4 outputs where im2col's takes 36 (2.25× fewer), and V holds
// 4 floats per input position where im2col's columns hold 9.
//
// Why: GEMM-based convolution was 1.2–1.5× slower than PyTorch's direct oneDNN kernels on the 32–256-channel
// levels of a U-Net, and OpenBLAS's sgemm kernel already ran near its peak there (76 % of a 256-channel forward
// was inside it), so only fewer multiplications could close the gap. Summed over the 3×3 layers of that U-Net
// (width 16, batch 8, 128², one thread) forward + input gradient + weight gradient went from 397 ms to 306
// (PyTorch: 349). The weight gradient uses the same transforms (`weightGradient`).
//
// Rounding: the transforms add and halve, so results differ from the direct sum by a few ulps of the operands'
// magnitude (tested against the im2col path to 2e-5 relative).

/// Switches between algorithms that give the same convolution up to rounding (for tests and benchmarks).
public enum ConvolutionAlgorithms {
    /// Whether 3×3 stride-1 convolutions with enough channels use `Winograd23` instead of im2col + GEMM.
    nonisolated(unsafe) public static var winograd = true
}

/// F(2×2, 3×3) for one convolution geometry, or nil when it does not apply (see `init`).
struct Winograd23 {
    let geo: ConvGeometry
    let batch: Int
    let outer: Int
    let tilesH: Int, tilesW: Int

    /// The narrowest channel counts it runs on. The 16 GEMMs have inner dimension Cin; at 16 input channels it still
    /// won (U-Net, batch 8, 16→16 at 128², one thread: forward 9.7 ms against 10.4, weight gradient 10.0 against
    /// 12.7); narrower layers (the 1-channel stem) stay on im2col.
    static let minimumInputChannels = 16
    static let minimumOutputChannels = 16
    /// Whether it beat im2col (one thread, CPU time, U-Net layers at batch 8): the transforms work on 16 tiles of
    /// a row at once, so rows of fewer than 16 tiles (widths below 31) waste lanes, and there it only won where
    /// the GEMMs dominate (128 or more channels on both sides: 256→128 at 16² took 10.8 ms against 12.8, while
    /// 64→64 at 16² took 2.2 against 1.8). Below 4 tiles a row it lost everywhere.
    static func pays(cin: Int, cout: Int, width: Int) -> Bool {
        let tiles = (width + 1) / 2
        return tiles >= 16 || (tiles >= 4 && cin >= 128 && cout >= 128)
    }

    /// Most floats of V (16·Cin per tile) per chunk of tiles, so that V and M stay in cache between transform
    /// and GEMM.
    nonisolated(unsafe) static var chunkBudget = 1 << 19

    init?(_ map: ConvMapping) {
        let g = map.geo
        guard ConvolutionAlgorithms.winograd, g.rank == 2, map.groups == 1, g.kH == 3, g.kW == 3, g.sH == 1, g.sW == 1,
              g.dH == 1, g.dW == 1, g.channels >= Winograd23.minimumInputChannels,
              map.outer >= Winograd23.minimumOutputChannels, Winograd23.pays(cin: g.channels, cout: map.outer, width: g.oW)
        else { return nil }
        geo = g
        batch = map.batch
        outer = map.outer
        tilesH = (g.oH + 1) / 2
        tilesW = (g.oW + 1) / 2
    }

    /// U [16, Cout, Cin] = G g Gᵀ for every (output, input) channel pair of w [Cout, Cin, 3, 3], as one product
    /// U = K · wᵀ with K = G ⊗ G (16×9): K[4i + j, 3a + b] = G[i, a]·G[j, b].
    private func transformedWeight(_ w: UnsafePointer<Float>) -> Storage {
        let pairs = outer * geo.channels
        let u = ConvScratch.borrow(16 * pairs)
        Winograd23.kernelTransform.withUnsafeBufferPointer { k in
            sgemm(false, true, 16, pairs, 9, 1, k.baseAddress!, 9, w, 9, 0, u.ptr, pairs)
        }
        return u
    }

    private static let kernelTransform: [Float] = {
        let g: [[Float]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        var k = [Float](repeating: 0, count: 16 * 9)
        for r in 0..<16 {
            for c in 0..<9 { k[9 * r + c] = g[r / 4][c / 3] * g[r % 4][c % 3] }
        }
        return k
    }()

    /// Tile rows per chunk and chunk count: chunks of whole tile rows (numbered image by image) holding at most
    /// `chunkBudget / (16·C)` tiles, their number even when above one so that two threads get equal shares; the
    /// cut depends on the shapes only.
    private var chunking: (rows: Int, count: Int) {
        let total = batch * tilesH
        let most = Swift.max(1, Winograd23.chunkBudget / (16 * Swift.max(geo.channels, outer) * tilesW))
        var count = Swift.min(total, Swift.max(total * tilesW >= 512 ? 2 : 1, (total + most - 1) / most))
        if count > 1 && count % 2 == 1 { count += 1 }
        let rows = (total + count - 1) / count
        return (rows, (total + rows - 1) / rows)
    }

    /// Lanes of the transforms: 16 horizontally adjacent tiles at once.
    private static let lanes = 16

    /// y [N, Cout, oH, oW] = conv(image [N, Cin, iH, iW], w [Cout, Cin, 3, 3]), written whole.
    func apply(image: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let cin = geo.channels, cout = outer
        let u = transformedWeight(weight)
        defer { ConvScratch.giveBack(u) }
        let (rows, count) = chunking
        let totalRows = batch * tilesH
        // M is read 16 tiles at a time, past the chunk's last tile.
        let slack = Winograd23.lanes
        if count > 1 {
            // Whole chunks per thread, every step serial inside.
            parallelItems(count) { k in
                let r0 = k * rows, r1 = Swift.min(totalRows, r0 + rows), nt = (r1 - r0) * tilesW
                let v = ConvScratch.borrow(16 * cin * nt), m = ConvScratch.borrow(16 * cout * nt + slack)
                defer { ConvScratch.giveBack(v); ConvScratch.giveBack(m) }
                inputTransform(image, r0, r1, v.ptr, channels: 0..<cin)
                for xi in 0..<16 { product(xi, u.ptr, v.ptr, m.ptr, tiles: nt) }
                outputTransform(m.ptr, r0, r1, y, channels: 0..<cout)
            }
            return
        }
        // One chunk (deep levels: few tiles, many channels): each step split over the threads instead.
        let nt = totalRows * tilesW
        let v = ConvScratch.borrow(16 * cin * nt), m = ConvScratch.borrow(16 * cout * nt + slack)
        defer { ConvScratch.giveBack(v); ConvScratch.giveBack(m) }
        let minChannels = Swift.max(1, 4096 / Swift.max(1, 16 * nt))
        parallelFor(cin, minChunk: minChannels) { inputTransform(image, 0, totalRows, v.ptr, channels: $0) }
        parallelItems(16) { product($0, u.ptr, v.ptr, m.ptr, tiles: nt) }
        parallelFor(cout, minChunk: minChannels) { outputTransform(m.ptr, 0, totalRows, y, channels: $0) }
    }

    /// dW [Cout, Cin, 3, 3] = Σ over tiles of Gᵀ [(A dY Aᵀ) ⊙ (Bᵀ d B)] G, the exact gradient of the forward
    /// above: per position ξ a GEMM dU_ξ [Cout, Cin] = dM_ξ [Cout, T] · V_ξ [Cin, T]ᵀ, then dW = Kᵀ · dU.
    /// Chunks are summed in `ConvMapping.weightGradientParts` fixed runs, each on one thread, the runs then added
    /// in order, so the rounding does not depend on the thread count.
    func weightGradient(image: UnsafePointer<Float>, y dy: UnsafePointer<Float>, into dW: UnsafeMutablePointer<Float>) {
        let cin = geo.channels, cout = outer, pairs = cout * cin
        let (rows, count) = chunking
        let totalRows = batch * tilesH
        let dU = ConvScratch.borrow(16 * pairs)
        defer { ConvScratch.giveBack(dU) }
        if count > 1 {
            let parts = Swift.min(count, ConvMapping.weightGradientParts), perPart = (count + parts - 1) / parts
            let partial = ConvScratch.borrow((parts - 1) * 16 * pairs)
            defer { ConvScratch.giveBack(partial) }
            parallelItems(parts) { p in
                let acc = p == 0 ? dU.ptr : partial.ptr + (p - 1) * 16 * pairs
                let maxTiles = rows * tilesW
                let v = ConvScratch.borrow(16 * cin * maxTiles), m = ConvScratch.borrow(16 * cout * maxTiles)
                defer { ConvScratch.giveBack(v); ConvScratch.giveBack(m) }
                for k in (p * perPart)..<Swift.min(count, (p + 1) * perPart) {
                    let r0 = k * rows, r1 = Swift.min(totalRows, r0 + rows), nt = (r1 - r0) * tilesW
                    inputTransform(image, r0, r1, v.ptr, channels: 0..<cin)
                    gradientTransform(dy, r0, r1, m.ptr, channels: 0..<cout)
                    let beta: Float = k == p * perPart ? 0 : 1
                    for xi in 0..<16 { gradientProduct(xi, m.ptr, v.ptr, acc, tiles: nt, beta: beta) }
                }
            }
            for p in 1..<parts { Kernels.addInPlace(dU.ptr, partial.ptr + (p - 1) * 16 * pairs, 16 * pairs) }
        } else {
            let nt = totalRows * tilesW
            let v = ConvScratch.borrow(16 * cin * nt), m = ConvScratch.borrow(16 * cout * nt)
            defer { ConvScratch.giveBack(v); ConvScratch.giveBack(m) }
            let minChannels = Swift.max(1, 4096 / Swift.max(1, 16 * nt))
            parallelFor(cin, minChunk: minChannels) { inputTransform(image, 0, totalRows, v.ptr, channels: $0) }
            parallelFor(cout, minChunk: minChannels) { gradientTransform(dy, 0, totalRows, m.ptr, channels: $0) }
            parallelItems(16) { gradientProduct($0, m.ptr, v.ptr, dU.ptr, tiles: nt, beta: 0) }
        }
        Winograd23.kernelTransform.withUnsafeBufferPointer { k in
            sgemm(true, false, pairs, 9, 16, 1, dU.ptr, pairs, k.baseAddress!, 9, 0, dW, 9)
        }
    }

    /// dU_ξ = dM_ξ · V_ξᵀ (+ beta·dU_ξ) on the calling thread.
    @inline(__always)
    private func gradientProduct(_ xi: Int, _ m: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                                 _ du: UnsafeMutablePointer<Float>, tiles: Int, beta: Float) {
        let cin = geo.channels, cout = outer
        sgemmSerial(false, true, cout, cin, tiles, 1, m + xi * cout * tiles, tiles, v + xi * cin * tiles, tiles,
                    beta, du + xi * cout * cin, cin)
    }

    /// dM [16, Cout, tiles] = A dY Aᵀ for the tiles of tile rows r0..<r1 of the given channels (the adjoint of
    /// `outputTransform`; cropped outputs count as zero). Each tile row's two rows of dY are staged in a strip
    /// that is zero past the image's width, so the last group of lanes reads zeros.
    private func gradientTransform(_ dy: UnsafePointer<Float>, _ r0: Int, _ r1: Int, _ m: UnsafeMutablePointer<Float>,
                                   channels: Range<Int>) {
        let cout = outer, nt = (r1 - r0) * tilesW, oH = geo.oH, oW = geo.oW, lanes = Winograd23.lanes
        let plane = cout * nt
        let groups = (tilesW + lanes - 1) / lanes, width = 2 * groups * lanes
        let strip = UnsafeMutablePointer<Float>.allocate(capacity: 2 * width)
        defer { strip.deallocate() }
        strip.initialize(repeating: 0, count: 2 * width)
        for c in channels {
            for row in r0..<r1 {
                let n = row / tilesH, a = row - n * tilesH
                let src = dy + ((n * cout + c) * oH + 2 * a) * oW
                strip.update(from: src, count: oW)
                if 2 * a + 1 < oH {
                    (strip + width).update(from: src + oW, count: oW)
                } else {
                    (strip + width).update(repeating: 0, count: oW)
                }
                let out = m + c * nt + (row - r0) * tilesW
                for gi in 0..<groups {
                    let b0 = gi * lanes, take = Swift.min(lanes, tilesW - b0)
                    let top = UnsafeRawPointer(strip + 2 * b0).loadUnaligned(as: SIMD32<Float>.self)
                    let bottom = UnsafeRawPointer(strip + width + 2 * b0).loadUnaligned(as: SIMD32<Float>.self)
                    // A over rows: (y0, y0 + y1, y0 − y1, −y1) for each column; then the same over columns.
                    let e = (top.evenHalf, top.oddHalf), f = (bottom.evenHalf, bottom.oddHalf)
                    @inline(__always) func put(_ i: Int, _ r0: SIMD16<Float>, _ r1: SIMD16<Float>) {
                        store(r0, out + (4 * i) * plane + b0, take)
                        store(r0 + r1, out + (4 * i + 1) * plane + b0, take)
                        store(r0 - r1, out + (4 * i + 2) * plane + b0, take)
                        store(-r1, out + (4 * i + 3) * plane + b0, take)
                    }
                    put(0, e.0, e.1)
                    put(1, e.0 + f.0, e.1 + f.1)
                    put(2, e.0 - f.0, e.1 - f.1)
                    put(3, -f.0, -f.1)
                }
            }
        }
    }

    /// M_ξ = U_ξ · V_ξ for one of the 16 transformed positions, on the calling thread.
    @inline(__always)
    private func product(_ xi: Int, _ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                         _ m: UnsafeMutablePointer<Float>, tiles: Int) {
        let cin = geo.channels, cout = outer
        sgemmSerial(false, false, cout, tiles, cin, 1, u + xi * cout * cin, cin, v + xi * cin * tiles, tiles,
                    0, m + xi * cout * tiles, tiles)
    }

    /// V [16, Cin, tiles] = Bᵀ d B for the tiles of tile rows r0..<r1 of the given channels.
    ///
    /// The input rows the tiles read are first copied into a zero-bordered plane, so that every patch, the padding
    /// included, is read without bounds checks; 16 adjacent tiles are then transformed as 16 lanes, their patch
    /// columns read as the even and odd halves of 32 consecutive floats.
    private func inputTransform(_ x: UnsafePointer<Float>, _ r0: Int, _ r1: Int, _ v: UnsafeMutablePointer<Float>,
                                channels: Range<Int>) {
        let cin = geo.channels, nt = (r1 - r0) * tilesW, iH = geo.iH, iW = geo.iW, pH = geo.pH, pW = geo.pW
        let plane = cin * nt, lanes = Winograd23.lanes
        // Row p of the bordered plane is input row p − pH at columns pW..<pW + iW; its width covers every tile's
        // 4 columns, rounded up to whole groups of lanes, plus the 2 the last group reads. Border cells stay zero.
        let groups = (tilesW + lanes - 1) / lanes, width = 2 * groups * lanes + 2, rowsPadded = 2 * tilesH + 2
        let bordered = UnsafeMutablePointer<Float>.allocate(capacity: rowsPadded * width)
        defer { bordered.deallocate() }
        bordered.initialize(repeating: 0, count: rowsPadded * width)
        for c in channels {
            var row = r0
            while row < r1 {
                // The chunk's tile rows in this image.
                let n = row / tilesH, aStart = row - n * tilesH, aEnd = Swift.min(tilesH, aStart + (r1 - row))
                let src = x + (n * cin + c) * iH * iW
                for p in (2 * aStart)..<(2 * aEnd + 2) where p - pH >= 0 && p - pH < iH {
                    (bordered + p * width + pW).update(from: src + (p - pH) * iW, count: iW)
                }
                for a in aStart..<aEnd {
                    let out = v + c * nt + (n * tilesH + a - r0) * tilesW
                    for gi in 0..<groups {
                        let b0 = gi * lanes
                        @inline(__always) func patchRow(_ i: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
                            let p = UnsafeRawPointer(bordered + (2 * a + i) * width + 2 * b0)
                            let lo = p.loadUnaligned(as: SIMD32<Float>.self)
                            let hi = p.loadUnaligned(fromByteOffset: 2 * MemoryLayout<Float>.stride, as: SIMD32<Float>.self)
                            return (lo.evenHalf, lo.oddHalf, hi.evenHalf, hi.oddHalf)
                        }
                        let d0 = patchRow(0), d1 = patchRow(1), d2 = patchRow(2), d3 = patchRow(3)
                        let take = Swift.min(lanes, tilesW - b0)
                        // Bᵀ over rows, then over columns; V position 4i + j is row-combination i, column-combination j.
                        @inline(__always) func put(_ i: Int, _ r: (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>)) {
                            store(r.0 - r.2, out + (4 * i) * plane + b0, take)
                            store(r.1 + r.2, out + (4 * i + 1) * plane + b0, take)
                            store(r.2 - r.1, out + (4 * i + 2) * plane + b0, take)
                            store(r.1 - r.3, out + (4 * i + 3) * plane + b0, take)
                        }
                        put(0, (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3))
                        put(1, (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3))
                        put(2, (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3))
                        put(3, (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3))
                    }
                }
                row += aEnd - aStart
            }
        }
    }

    /// The first `count` lanes of `value` at `p` (one vector store when that is all of them).
    @inline(__always)
    private func store<V: SIMD>(_ value: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) where V.Scalar == Float {
        if count == V.scalarCount {
            UnsafeMutableRawPointer(p).storeBytes(of: value, as: V.self)
        } else {
            for k in 0..<count { p[k] = value[k] }
        }
    }

    /// y for tile rows r0..<r1 of the given output channels from M [16, Cout, tiles]: Aᵀ m A, 16 tiles at a time,
    /// cropped at odd edges.
    private func outputTransform(_ m: UnsafePointer<Float>, _ r0: Int, _ r1: Int, _ y: UnsafeMutablePointer<Float>,
                                 channels: Range<Int>) {
        let cout = outer, nt = (r1 - r0) * tilesW, oH = geo.oH, oW = geo.oW, lanes = Winograd23.lanes
        let plane = cout * nt
        for c in channels {
            for row in r0..<r1 {
                let n = row / tilesH, a = row - n * tilesH
                let src = m + c * nt + (row - r0) * tilesW
                let dst = y + ((n * cout + c) * oH + 2 * a) * oW
                var b0 = 0
                while b0 < tilesW {
                    @inline(__always) func q(_ k: Int) -> SIMD16<Float> {
                        UnsafeRawPointer(src + k * plane + b0).loadUnaligned(as: SIMD16<Float>.self)
                    }
                    // Aᵀ over rows (s0 = q0 + q1 + q2, s1 = q1 − q2 − q3, per column j), then over columns.
                    let s0 = (q(0) + q(4) + q(8), q(1) + q(5) + q(9), q(2) + q(6) + q(10), q(3) + q(7) + q(11))
                    let s1 = (q(4) - q(8) - q(12), q(5) - q(9) - q(13), q(6) - q(10) - q(14), q(7) - q(11) - q(15))
                    var top = SIMD32<Float>(), bottom = SIMD32<Float>()
                    top.evenHalf = s0.0 + s0.1 + s0.2
                    top.oddHalf = s0.1 - s0.2 - s0.3
                    bottom.evenHalf = s1.0 + s1.1 + s1.2
                    bottom.oddHalf = s1.1 - s1.2 - s1.3
                    let take = Swift.min(2 * lanes, oW - 2 * b0)
                    store(top, dst + 2 * b0, take)
                    if 2 * a + 1 < oH { store(bottom, dst + oW + 2 * b0, take) }
                    b0 += lanes
                }
            }
        }
    }
}
