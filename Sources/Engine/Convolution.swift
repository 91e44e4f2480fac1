import Foundation
import CDNNL

// Convolution over 1, 2 or 3 spatial dimensions (PyTorch layout: x [N, C, D?, H?, W], w [Cout, Cin/groups, k...]).
//
// One mapping serves every direction. For an "image" of C planes and a kernel sliding over it, im2col builds the
// matrix cols [C·K, L] (K kernel taps, L output positions); then
//   convolution             y = W · cols(x)          dx = col2im(Wᵀ · dy)       dW = Σₙ dy · cols(x)ᵀ
//   transposed convolution  y = col2im(Wᵀ · x)       dx = W · cols(dy)          dW = Σₙ x · cols(dy)ᵀ
// so `ConvMapping.apply`, `.adjoint` and `.weightGradient` are the only three kernels, shared by conv1d/2d/3d and
// the transposed forms. Two faster routes give the same maps up to rounding: 3×3 stride-1 layers with enough
// channels run `apply` and `weightGradient` as Winograd F(2×2, 3×3) (Winograd.swift), and at stride 1 the input
// gradient can be computed as a convolution of dy with the flipped kernel (`ConvMapping.reversed`).
//
// Batching: one sgemm per image and group, reading the columns in place; im2col runs over a chunk of images (small
// images) or a tile of one image's output positions (large ones), sized to stay in cache between im2col and sgemm.
// Measured (x [8,16,64,64] ⊛ w [32,16,3,3], pad 1, 2 cores): one sgemm over the whole batch (cols [C·K, N·L]) plus the
// permute its [Cout, N·L] result needs was no faster than per-image sgemms (forward 7.3 vs 7.1–7.6 ms, OpenBLAS on
// one thread), and whole-batch columns (19 MB) were slower than one image's (2.4 MB) in forward+backward
// (interleaved runs, p25 61 vs 52 ms on a loaded machine). Tiles of ~1 MB won most in 3D: x [2,16,32³] ⊛ w [16,16,3³]
// forward+backward went from 261 ms (whole 56 MB image) to 109 ms (p25, same load).

/// Column buffers for im2col, reused across calls of the same size, and the tiling limit that bounds them.
public enum ConvScratch {
    /// Target size in floats (1 MB) of one im2col buffer: images whose columns exceed it are processed in tiles of
    /// output positions, smaller ones several per pass. Bounds memory whatever the volume and keeps the columns in
    /// cache for the sgemm that reads them.
    nonisolated(unsafe) public static var columnBudget = 1 << 18
    /// Narrowest tile of output positions (unless the image is smaller).
    nonisolated(unsafe) public static var minimumTileColumns = 1024
    /// Most floats kept in free buffers between calls; beyond it the cache is emptied before caching again.
    nonisolated(unsafe) public static var cacheLimit = 1 << 26

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [Storage]] = [:]
    nonisolated(unsafe) private static var cached = 0

    static func borrow(_ count: Int) -> Storage {
        lock.lock(); defer { lock.unlock() }
        if var list = free[count], let s = list.popLast() {
            free[count] = list
            cached -= count
            return s
        }
        return Storage(count: count, zeroed: false)
    }

    static func giveBack(_ s: Storage) {
        lock.lock(); defer { lock.unlock() }
        guard s.count <= cacheLimit else { return }
        if cached + s.count > cacheLimit { free.removeAll(); cached = 0 }
        free[s.count, default: []].append(s)
        cached += s.count
    }

    /// Releases every cached buffer (e.g. between experiments with different shapes).
    public static func clear() {
        lock.lock(); defer { lock.unlock() }
        free.removeAll()
        cached = 0
    }
}

/// A kernel sliding over `channels` planes of one image. Spatial ranks 1–3 are lifted to 3 by leading unit
/// dimensions (size 1, kernel 1, stride 1, no padding), so one loop nest serves all of them.
struct ConvGeometry {
    let rank: Int
    let channels: Int
    let iD: Int, iH: Int, iW: Int
    let kD: Int, kH: Int, kW: Int
    let sD: Int, sH: Int, sW: Int
    let pD: Int, pH: Int, pW: Int
    let dD: Int, dH: Int, dW: Int
    let oD: Int, oH: Int, oW: Int

    init(channels: Int, image: [Int], kernel: [Int], stride: [Int], padding: [Int], dilation: [Int]) {
        let r = image.count
        precondition((1...3).contains(r), "convolution needs 1–3 spatial dimensions, got \(r)")
        precondition(kernel.count == r && stride.count == r && padding.count == r && dilation.count == r,
                     "kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation) must each have \(r) entries")
        precondition(stride.allSatisfy { $0 > 0 } && dilation.allSatisfy { $0 > 0 } && padding.allSatisfy { $0 >= 0 },
                     "stride and dilation must be positive and padding non-negative")
        func lift(_ a: [Int], _ unit: Int) -> [Int] { [Int](repeating: unit, count: 3 - r) + a }
        let i = lift(image, 1), k = lift(kernel, 1), s = lift(stride, 1), p = lift(padding, 0), d = lift(dilation, 1)
        var o = [0, 0, 0]
        for a in 0..<3 {
            let span = i[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1
            precondition(span >= 0, "kernel \(kernel) (dilation \(dilation)) larger than padded input \(image) + 2·\(padding)")
            o[a] = span / s[a] + 1
        }
        self.rank = r
        self.channels = channels
        (iD, iH, iW) = (i[0], i[1], i[2])
        (kD, kH, kW) = (k[0], k[1], k[2])
        (sD, sH, sW) = (s[0], s[1], s[2])
        (pD, pH, pW) = (p[0], p[1], p[2])
        (dD, dH, dW) = (d[0], d[1], d[2])
        (oD, oH, oW) = (o[0], o[1], o[2])
    }

    var kernelVolume: Int { kD * kH * kW }
    var imageVolume: Int { iD * iH * iW }
    var outVolume: Int { oD * oH * oW }
    var outShape: [Int] { Array([oD, oH, oW].suffix(rank)) }
    /// A 1×1 kernel at stride 1 without padding reads the image itself as its columns.
    var isPointwise: Bool { kernelVolume == 1 && sD == 1 && sH == 1 && sW == 1 && pD == 0 && pH == 0 && pW == 0 }

    /// Offsets (relative to the strided output position) at which kernel tap `k` reads the input.
    @inline(__always) func tapOffsets(_ k: Int) -> (Int, Int, Int) {
        let kd = k / (kH * kW), kh = (k / kW) % kH, kw = k % kW
        return (kd * dD - pD, kh * dH - pH, kw * dW - pW)
    }

    /// Output columns `ow` with a tap at width offset `off` inside the image: `lo..<hi`.
    @inline(__always) func validWidth(_ off: Int) -> (Int, Int) {
        let lo = Swift.max(0, ceilDiv(-off, sW))
        let hi = Swift.min(oW, floorDiv(iW - 1 - off, sW) + 1)
        return (lo, Swift.max(lo, hi))
    }

    /// Output row (od, oh) and column ow of flat output position `l`.
    @inline(__always) func outputPosition(_ l: Int) -> (od: Int, oh: Int, ow: Int) {
        let q = l / oW, od = q / oH
        return (od, q - od * oH, l - q * oW)
    }

    /// Row stride of a column matrix with `lt` columns. A stride of a multiple of 128 floats put every row of the
    /// matrix in the same few cache sets, and OpenBLAS's packing of it missed on every row: 16 channels × 64² took
    /// 24 GFLOP/s with rows of 4,096 floats and 38–41 with rows padded by 16–32 (forward; the weight gradient 18 vs
    /// 33; one thread). The U-Net's power-of-two images give such widths at every level.
    static func columnStride(_ lt: Int) -> Int { lt % 128 == 0 ? lt + columnPad : lt }
    /// Extra floats a column buffer needs per row for `columnStride`.
    static let columnPad = 32

    /// Columns `l0..<l1` of the im2col matrices of `images` consecutive images into `cols`
    /// ([images, C·K, ld] with ld = `columnStride(l1 − l0)`, row (c, tap)). Taps that land in the padding read zero.
    /// Output rows are walked by increment: a division per row cost as much as copying a 64-wide row.
    /// `serial` keeps it on the calling thread (inside a per-image parallel loop).
    /// `ld` overrides the row stride (images grouped side by side in one matrix).
    func im2col(_ x: UnsafePointer<Float>, images: Int, _ l0: Int, _ l1: Int, _ cols: UnsafeMutablePointer<Float>,
                ld rowStride: Int? = nil, serial: Bool = false) {
        let lt = l1 - l0, kv = kernelVolume, iv = imageVolume, ld = rowStride ?? ConvGeometry.columnStride(lt)
        let start = outputPosition(l0)
        // Planes are contiguous across images in both layouts, so (image, channel) is one flat plane index.
        let rowCount = images * channels * kv
        let shifted = preservesShape
        parallelFor(rowCount, minChunk: serial ? rowCount : Swift.max(1, 16384 / Swift.max(lt, 1))) { rows in
            for r in rows {
                if shifted {
                    shiftedRow(x + (r / kv) * iv, tap: r % kv, l0, l1, cols + r * ld)
                    continue
                }
                let (offD, offH, offW) = tapOffsets(r % kv)
                let (vlo, vhi) = validWidth(offW)
                let src = x + (r / kv) * iv
                var d = cols + r * ld - start.ow          // d[ow] is the column of output position ow of this row
                var (od, oh, ow0) = start
                var left = lt
                while left > 0 {
                    let ow1 = Swift.min(oW, ow0 + left)
                    let id = od * sD + offD, ih = oh * sH + offH
                    if id >= 0 && id < iD && ih >= 0 && ih < iH {
                        let s = src + (id * iH + ih) * iW + offW   // s[ow·sW] is the input under the tap
                        let lo = Swift.min(Swift.max(vlo, ow0), ow1), hi = Swift.max(Swift.min(vhi, ow1), lo)
                        for ow in ow0..<lo { d[ow] = 0 }
                        if sW == 1 {
                            (d + lo).update(from: s + lo, count: hi - lo)
                        } else {
                            for ow in lo..<hi { d[ow] = s[ow * sW] }
                        }
                        for ow in hi..<ow1 { d[ow] = 0 }
                    } else {
                        (d + ow0).update(repeating: 0, count: ow1 - ow0)
                    }
                    left -= ow1 - ow0
                    d += oW; ow0 = 0; oh += 1
                    if oh == oH { oh = 0; od += 1 }
                }
            }
        }
    }

    /// Whether output positions are input positions ("same" padding at stride 1): then a tap reads the plane at a
    /// constant flat offset, and its im2col row is one shifted copy of the plane instead of a copy per output row.
    /// The deep U-Net levels have rows of 8–16 floats, where a call per row cost more than the copying (im2col of
    /// 256 channels at 8² was a sixth of that convolution's forward time).
    var preservesShape: Bool {
        sD == 1 && sH == 1 && sW == 1 && oD == iD && oH == iH && oW == iW
    }

    /// Row `tap` of the im2col matrix of one plane, columns `l0..<l1`, for a shape-preserving geometry: the copy
    /// `d[l − l0] = src[l + shift]` over the output rows (od, oh) whose tap lies inside the image, zeros elsewhere,
    /// and then zeros over the columns whose tap falls off the left or right edge (the copy wrapped them onto the
    /// neighbouring row).
    @inline(__always)
    private func shiftedRow(_ src: UnsafePointer<Float>, tap: Int, _ l0: Int, _ l1: Int, _ d: UnsafeMutablePointer<Float>) {
        let (offD, offH, offW) = tapOffsets(tap)
        let plane = iH * iW, shift = (offD * iH + offH) * iW + offW
        let hLo = Swift.max(0, -offH) * iW, hHi = Swift.min(iH, iH - offH) * iW
        let dLo = Swift.max(0, -offD), dHi = Swift.min(iD, iD - offD)
        let (vlo, vhi) = validWidth(offW)
        var done = l0
        for od in (l0 / plane)...((l1 - 1) / plane) {
            var a = od * plane + hLo, b = od * plane + hHi
            if od < dLo || od >= dHi { b = a }
            a = Swift.min(Swift.max(a, l0), l1); b = Swift.min(Swift.max(b, a), l1)
            (d + (done - l0)).update(repeating: 0, count: a - done)
            // Clamped to the source slab so that nothing outside the image is read; the positions left out are
            // off-edge columns, zeroed next.
            let slab = (od + offD) * plane - shift
            let ca = Swift.max(a, slab), cb = Swift.max(ca, Swift.min(b, slab + plane))
            (d + (ca - l0)).update(from: src + (ca + shift), count: cb - ca)
            if vlo > 0 || vhi < iW {
                var row = (a / iW) * iW
                while row < b {
                    for ow in 0..<vlo where row + ow >= a && row + ow < b { d[row + ow - l0] = 0 }
                    for ow in vhi..<iW where row + ow >= a && row + ow < b { d[row + ow - l0] = 0 }
                    row += iW
                }
            }
            done = b
        }
        (d + (done - l0)).update(repeating: 0, count: l1 - done)
    }

    /// Adds columns `l0..<l1` of `cols` back onto the image taps they were read from (the adjoint of im2col).
    /// Parallel over planes: each plane sums its taps in a fixed order, so the result is deterministic.
    func col2im(_ cols: UnsafePointer<Float>, images: Int, _ l0: Int, _ l1: Int, _ x: UnsafeMutablePointer<Float>,
                ld rowStride: Int? = nil, serial: Bool = false) {
        let lt = l1 - l0, kv = kernelVolume, iv = imageVolume, ld = rowStride ?? ConvGeometry.columnStride(lt)
        let start = outputPosition(l0)
        let planes = images * channels
        parallelFor(planes, minChunk: serial ? planes : Swift.max(1, 16384 / Swift.max(lt * kv, 1))) { chans in
            for c in chans {
                let img = x + c * iv
                for k in 0..<kv {
                    let (offD, offH, offW) = tapOffsets(k)
                    let (vlo, vhi) = validWidth(offW)
                    var s = cols + (c * kv + k) * ld - start.ow   // s[ow] is the column of output position ow
                    var (od, oh, ow0) = start
                    var left = lt
                    while left > 0 {
                        let ow1 = Swift.min(oW, ow0 + left)
                        let id = od * sD + offD, ih = oh * sH + offH
                        if id >= 0 && id < iD && ih >= 0 && ih < iH {
                            let d = img + (id * iH + ih) * iW + offW
                            let lo = Swift.min(Swift.max(vlo, ow0), ow1), hi = Swift.max(Swift.min(vhi, ow1), lo)
                            if sW == 1 {
                                for ow in lo..<hi { d[ow] += s[ow] }
                            } else {
                                for ow in lo..<hi { d[ow * sW] += s[ow] }
                            }
                        }
                        left -= ow1 - ow0
                        s += oW; ow0 = 0; oh += 1
                        if oh == oH { oh = 0; od += 1 }
                    }
                }
            }
        }
    }
}

@inline(__always) private func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
@inline(__always) private func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }

/// The grouped GEMMs around one geometry, for a batch. The "column side" has `outer` channels and the weight
/// holds, per group, an [outer/groups, channels/groups·K] block: `Cout` for a convolution (w [Cout, Cin/g, k...]),
/// `Cin` for a transposed one (w [Cin, Cout/g, k...]).
struct ConvMapping {
    let geo: ConvGeometry
    let groups: Int
    let batch: Int
    let outer: Int

    private var outerPerGroup: Int { outer / groups }
    private var imagePerGroup: Int { geo.channels / groups }
    private var rowsPerGroup: Int { imagePerGroup * geo.kernelVolume }

    /// Whether the batch runs image-parallel: each thread takes whole images, with its own columns and serial
    /// kernels, instead of every im2col pass and GEMM being split across the threads. Whole images need one
    /// fork-join per call instead of two per tile, and keep both cores busy where a split would not pay (the small
    /// GEMMs of deep U-Net levels, weight gradients with a short side, 1820-column tiles of large images): for a
    /// U-Net step (width 16, batch 8, 128²) 240 fork-joins instead of 1,800, and its critical path on two idle cores
    /// (summed per-thread CPU time of the longest chunks) 404 ms instead of 473. Decided from the batch size only,
    /// so results never depend on the thread count; a batch of two or more images is assumed to cover the cores.
    private var imageParallel: Bool { batch > 1 }

    /// Output positions per im2col pass for `images` images at a time: all of them when their columns fit
    /// `ConvScratch.columnBudget`, else tiles of one image.
    private func tileColumns(images: Int) -> Int {
        let rows = geo.channels * geo.kernelVolume, total = geo.outVolume
        let budget = Swift.max(1, ConvScratch.columnBudget)
        // Every sgemm call repacks the weight, so tiles keep at least `minimumTileColumns` columns.
        return images >= 1 ? total : Swift.min(total, Swift.max(ConvScratch.minimumTileColumns, budget / Swift.max(1, rows)))
    }

    /// Images whose columns go side by side into one GEMM in the image-parallel path. A GEMM per image of a deep
    /// U-Net level (16 positions against a 2,304-wide weight) spends most of its time packing the weight, once per
    /// image: the forward GEMM of 256 channels at 4² ran at 36 GFLOP/s per image and 92–96 with four images per
    /// GEMM (one thread).
    /// Groups reach `groupColumns` positions and fit the column budget, and their number is even, so that two
    /// threads get equal shares.
    private var imagesPerGroup: Int {
        let rows = geo.channels * geo.kernelVolume, L = geo.outVolume
        guard L < ConvMapping.groupColumns else { return 1 }
        let byBudget = Swift.max(1, ConvScratch.columnBudget) / Swift.max(1, rows * L)
        var size = Swift.max(1, Swift.min(ConvMapping.groupColumns / L, byBudget, (batch + 1) / 2))
        while size > 1 && ((batch + size - 1) / size) % 2 != 0 { size -= 1 }
        return size
    }
    static let groupColumns = 256

    /// Calls `body(n0, nb, l0, l1, cols, ld)` for the batch in work items spread over the threads: groups of `nb`
    /// small images, whose columns lie side by side ([C·K, ld], image j at column j·(l1−l0)), or single images in
    /// tiles of output positions ([C·K, ld]). Each thread has its own column buffer; `body` must use serial kernels.
    private func forEachImageInParallel(_ body: (Int, Int, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        let rows = geo.channels * geo.kernelVolume, total = geo.outVolume
        let perGroup = imagesPerGroup
        if perGroup > 1 {
            parallelItems((batch + perGroup - 1) / perGroup) { gi in
                let n0 = gi * perGroup, nb = Swift.min(perGroup, batch - n0)
                let ld = ConvGeometry.columnStride(nb * total)
                let buf = ConvScratch.borrow(rows * ld)
                defer { ConvScratch.giveBack(buf) }
                body(n0, nb, 0, total, buf.ptr, ld)
            }
            return
        }
        let tile = tileColumns(images: Swift.min(1, Swift.max(1, ConvScratch.columnBudget) / Swift.max(1, rows * total)))
        parallelItems(batch) { n in
            let buf = ConvScratch.borrow(rows * (tile + ConvGeometry.columnPad))
            defer { ConvScratch.giveBack(buf) }
            var l0 = 0
            while l0 < total {
                let l1 = Swift.min(total, l0 + tile)
                body(n, 1, l0, l1, buf.ptr, ConvGeometry.columnStride(l1 - l0))
                l0 = l1
            }
        }
    }

    /// Copies between the [outer, nb·lt] result of a grouped GEMM (`grouped`) and positions l0..<l0+lt of images
    /// n0..<n0+nb of a [N, outer, L] tensor (`tensor`), in the direction `toTensor`.
    private func regroup(_ grouped: UnsafeMutablePointer<Float>, _ tensor: UnsafeMutablePointer<Float>, n0: Int, nb: Int,
                         l0: Int, lt: Int, toTensor: Bool) {
        let L = geo.outVolume, width = nb * lt
        for j in 0..<nb {
            for o in 0..<outer {
                let g = grouped + o * width + j * lt, t = tensor + ((n0 + j) * outer + o) * L + l0
                if toTensor { t.update(from: g, count: lt) } else { g.update(from: t, count: lt) }
            }
        }
    }

    /// Splits the batch into chunks whose columns fit `ConvScratch.columnBudget`: several whole images per chunk
    /// when they fit (one parallel im2col pass for all of them), otherwise tiles of one image's output positions.
    /// Calls `body(n0, images, l0, l1, cols)` with `cols` laid out [images, C·K, l1−l0].
    private func forEachChunk(_ body: (Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        let rows = geo.channels * geo.kernelVolume, total = geo.outVolume
        let budget = Swift.max(1, ConvScratch.columnBudget)
        let images = Swift.min(batch, budget / Swift.max(1, rows * total))
        let tile = tileColumns(images: images)
        let buf = ConvScratch.borrow(rows * (tile + ConvGeometry.columnPad) * Swift.max(images, 1))
        defer { ConvScratch.giveBack(buf) }
        var n0 = 0
        while n0 < batch {
            let nb = Swift.max(1, Swift.min(images, batch - n0))
            var l0 = 0
            while l0 < total {
                let l1 = Swift.min(total, l0 + tile)
                body(n0, nb, l0, l1, buf.ptr)
                l0 = l1
            }
            n0 += nb
        }
    }

    /// y[n] = W · cols(image[n]); y is [N, outer, L], written whole.
    func apply(image: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let L = geo.outVolume, iv = geo.imageVolume, c = geo.channels
        let og = outerPerGroup, cg = imagePerGroup, rg = rowsPerGroup
        if let winograd = Winograd23(self) {
            winograd.apply(image: image, weight: weight, into: y)
            return
        }
        if geo.isPointwise {
            for n in 0..<batch {
                for g in 0..<groups {
                    sgemm(false, false, og, L, rg, 1, weight + g * og * rg, rg, image + (n * c + g * cg) * iv, iv,
                          0, y + (n * outer + g * og) * L, L)
                }
            }
            return
        }
        if imageParallel {
            forEachImageInParallel { n0, nb, l0, l1, cols, ld in
                let lt = l1 - l0, width = nb * lt
                for j in 0..<nb { geo.im2col(image + (n0 + j) * c * iv, images: 1, l0, l1, cols + j * lt, ld: ld, serial: true) }
                if nb == 1 {
                    let yn = y + n0 * outer * L
                    for g in 0..<groups {
                        sgemmSerial(false, false, og, lt, rg, 1, weight + g * og * rg, rg, cols + g * rg * ld, ld, 0, yn + g * og * L + l0, L)
                    }
                    return
                }
                let out = ConvScratch.borrow(outer * width)
                defer { ConvScratch.giveBack(out) }
                for g in 0..<groups {
                    sgemmSerial(false, false, og, width, rg, 1, weight + g * og * rg, rg, cols + g * rg * ld, ld, 0, out.ptr + g * og * width, width)
                }
                regroup(out.ptr, y, n0: n0, nb: nb, l0: l0, lt: lt, toTensor: true)
            }
            return
        }
        forEachChunk { n0, nb, l0, l1, cols in
            let lt = l1 - l0, ld = ConvGeometry.columnStride(lt)
            geo.im2col(image + n0 * c * iv, images: nb, l0, l1, cols)
            for b in 0..<nb {
                let cb = cols + b * c * geo.kernelVolume * ld, yn = y + (n0 + b) * outer * L
                for g in 0..<groups {
                    sgemm(false, false, og, lt, rg, 1, weight + g * og * rg, rg, cb + g * rg * ld, ld, 0, yn + g * og * L + l0, L)
                }
            }
        }
    }

    /// image[n] = col2im(Wᵀ · y[n]); image is [N, channels, spatial], written whole.
    func adjoint(weight: UnsafePointer<Float>, y: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        let L = geo.outVolume, iv = geo.imageVolume, c = geo.channels
        let og = outerPerGroup, cg = imagePerGroup, rg = rowsPerGroup
        if geo.isPointwise {
            for n in 0..<batch {
                for g in 0..<groups {
                    sgemm(true, false, rg, L, og, 1, weight + g * og * rg, rg, y + (n * outer + g * og) * L, L,
                          0, image + (n * c + g * cg) * iv, iv)
                }
            }
            return
        }
        if imageParallel {
            forEachImageInParallel { n0, nb, l0, l1, cols, ld in
                let lt = l1 - l0, width = nb * lt
                // Zeroed on the thread that sums into it.
                if l0 == 0 { (image + n0 * c * iv).update(repeating: 0, count: nb * c * iv) }
                if nb == 1 {
                    let yn = y + n0 * outer * L
                    for g in 0..<groups {
                        sgemmSerial(true, false, rg, lt, og, 1, weight + g * og * rg, rg, yn + g * og * L + l0, L, 0, cols + g * rg * ld, ld)
                    }
                } else {
                    let dy = ConvScratch.borrow(outer * width)
                    defer { ConvScratch.giveBack(dy) }
                    regroup(dy.ptr, UnsafeMutablePointer(mutating: y), n0: n0, nb: nb, l0: l0, lt: lt, toTensor: false)
                    for g in 0..<groups {
                        sgemmSerial(true, false, rg, width, og, 1, weight + g * og * rg, rg, dy.ptr + g * og * width, width, 0, cols + g * rg * ld, ld)
                    }
                }
                for j in 0..<nb { geo.col2im(cols + j * lt, images: 1, l0, l1, image + (n0 + j) * c * iv, ld: ld, serial: true) }
            }
            return
        }
        image.update(repeating: 0, count: batch * c * iv)
        forEachChunk { n0, nb, l0, l1, cols in
            let lt = l1 - l0, ld = ConvGeometry.columnStride(lt)
            for b in 0..<nb {
                let cb = cols + b * c * geo.kernelVolume * ld, yn = y + (n0 + b) * outer * L
                for g in 0..<groups {
                    sgemm(true, false, rg, lt, og, 1, weight + g * og * rg, rg, yn + g * og * L + l0, L, 0, cb + g * rg * ld, ld)
                }
            }
            geo.col2im(cols, images: nb, l0, l1, image + n0 * c * iv)
        }
    }

    /// dW = Σₙ y[n] · cols(image[n])ᵀ, accumulated image by image in a fixed order; dW is written whole.
    func weightGradient(image: UnsafePointer<Float>, y: UnsafePointer<Float>, into dW: UnsafeMutablePointer<Float>) {
        let L = geo.outVolume, iv = geo.imageVolume, c = geo.channels
        let og = outerPerGroup, cg = imagePerGroup, rg = rowsPerGroup
        if let winograd = Winograd23(self) {
            winograd.weightGradient(image: image, y: y, into: dW)
            return
        }
        dW.update(repeating: 0, count: outer * rg)
        if geo.isPointwise {
            for n in 0..<batch {
                for g in 0..<groups {
                    sgemm(false, true, og, rg, L, 1, y + (n * outer + g * og) * L, L, image + (n * c + g * cg) * iv, iv,
                          1, dW + g * og * rg, rg)
                }
            }
            return
        }
        if imageParallel {
            weightGradientByImageGroups(image: image, y: y, into: dW)
            return
        }
        forEachChunk { n0, nb, l0, l1, cols in
            let lt = l1 - l0, ld = ConvGeometry.columnStride(lt)
            geo.im2col(image + n0 * c * iv, images: nb, l0, l1, cols)
            for b in 0..<nb {
                let cb = cols + b * c * geo.kernelVolume * ld, yn = y + (n0 + b) * outer * L
                for g in 0..<groups {
                    sgemm(false, true, og, rg, lt, 1, yn + g * og * L + l0, L, cb + g * rg * ld, ld, 1, dW + g * og * rg, rg)
                }
            }
        }
    }

    /// dW for the image-parallel case: the batch is cut into fixed runs of images (the groups of `imagesPerGroup`,
    /// or at most `weightGradientParts` runs), each summed into its own partial dW on some thread, and the partials
    /// are added in order. The cut depends on the shapes only, so the sum's rounding does not depend on the thread
    /// count.
    private func weightGradientByImageGroups(image: UnsafePointer<Float>, y: UnsafePointer<Float>,
                                             into dW: UnsafeMutablePointer<Float>) {
        let L = geo.outVolume, iv = geo.imageVolume, c = geo.channels
        let og = outerPerGroup, rg = rowsPerGroup, size = outer * rg
        let grouped = imagesPerGroup
        let perPart = grouped > 1 ? grouped : (batch + ConvMapping.weightGradientParts - 1) / ConvMapping.weightGradientParts
        let parts = (batch + perPart - 1) / perPart
        let rows = c * geo.kernelVolume, total = geo.outVolume
        let tile = tileColumns(images: Swift.min(1, Swift.max(1, ConvScratch.columnBudget) / Swift.max(1, rows * total)))
        let partial = ConvScratch.borrow(parts * size)
        defer { ConvScratch.giveBack(partial) }
        parallelItems(parts) { p in
            let acc = partial.ptr + p * size
            let n0 = p * perPart, nb = Swift.min(perPart, batch - n0)
            if grouped > 1 {
                // The part's images side by side: one GEMM over all their positions.
                let width = nb * L, ld = ConvGeometry.columnStride(width)
                let cols = ConvScratch.borrow(rows * ld), dy = ConvScratch.borrow(outer * width)
                defer { ConvScratch.giveBack(cols); ConvScratch.giveBack(dy) }
                for j in 0..<nb { geo.im2col(image + (n0 + j) * c * iv, images: 1, 0, L, cols.ptr + j * L, ld: ld, serial: true) }
                regroup(dy.ptr, UnsafeMutablePointer(mutating: y), n0: n0, nb: nb, l0: 0, lt: L, toTensor: false)
                for g in 0..<groups {
                    sgemmSerial(false, true, og, rg, width, 1, dy.ptr + g * og * width, width, cols.ptr + g * rg * ld, ld,
                                0, acc + g * og * rg, rg)
                }
                return
            }
            let buf = ConvScratch.borrow(rows * (tile + ConvGeometry.columnPad))
            defer { ConvScratch.giveBack(buf) }
            let cols = buf.ptr
            var beta: Float = 0
            for n in n0..<(n0 + nb) {
                var l0 = 0
                while l0 < total {
                    let l1 = Swift.min(total, l0 + tile), lt = l1 - l0, ld = ConvGeometry.columnStride(lt)
                    let yn = y + n * outer * L
                    geo.im2col(image + n * c * iv, images: 1, l0, l1, cols, serial: true)
                    for g in 0..<groups {
                        sgemmSerial(false, true, og, rg, lt, 1, yn + g * og * L + l0, L, cols + g * rg * ld, ld,
                                    beta, acc + g * og * rg, rg)
                    }
                    beta = 1
                    l0 = l1
                }
            }
        }
        dW.update(from: partial.ptr, count: size)
        for p in 1..<parts { Kernels.addInPlace(dW, partial.ptr + p * size, size) }
    }

    /// At stride 1 the input gradient is itself a convolution: dy convolved with the kernel flipped in space and
    /// transposed in channels, padded by dilation·(k − 1) − padding. That mapping (nil at other strides, or when the
    /// padding exceeds the kernel's reach) replaces Wᵀ·dy + col2im by im2col + W′·cols: a GEMM whose inner dimension
    /// is Cout·K instead of Cout, no scattered additions, and for "same" padding the shifted-plane im2col.
    /// Measured on the 3×3 layers of a U-Net (width 16, batch 8, 128², one thread, before Winograd): the input
    /// gradients summed to 116 ms instead of 127; 32→16 channels at 128² took 17.3 ms instead of 21.9, but layers
    /// that double the channels (16→32 at 64²: 5.0 against 4.6) were slower, so the caller uses it where
    /// Cout ≤ Cin or where the reversed convolution runs as Winograd.
    func reversed() -> ConvMapping? {
        guard geo.sD == 1 && geo.sH == 1 && geo.sW == 1, !geo.isPointwise else { return nil }
        let r = geo.rank
        func spatial(_ d: Int, _ h: Int, _ w: Int) -> [Int] { Array([d, h, w].suffix(r)) }
        let kernel = spatial(geo.kD, geo.kH, geo.kW), dilation = spatial(geo.dD, geo.dH, geo.dW)
        let padding = spatial(geo.pD, geo.pH, geo.pW)
        let reach = (0..<r).map { dilation[$0] * (kernel[$0] - 1) - padding[$0] }
        guard reach.allSatisfy({ $0 >= 0 }) else { return nil }
        let g = ConvGeometry(channels: outer, image: geo.outShape, kernel: kernel, stride: [Int](repeating: 1, count: r),
                             padding: reach, dilation: dilation)
        return ConvMapping(geo: g, groups: groups, batch: batch, outer: geo.channels)
    }

    /// w [Cout, Cin/g, k...] → w′ [Cin, Cout/g, k...] with w′[g·Cin/g + i, o, t] = w[g·Cout/g + o, i, K − 1 − t].
    static func flippedTranspose(_ w: Tensor, groups: Int) -> Tensor {
        let cout = w.shape[0], cig = w.shape[1], kv = w.count / Swift.max(1, cout * cig), cog = cout / groups
        let out = Tensor.empty([cig * groups, cog] + Array(w.shape[2...]))
        let src = w.ptr, dst = out.ptr
        for grp in 0..<groups {
            for o in 0..<cog {
                for i in 0..<cig {
                    let s = src + ((grp * cog + o) * cig + i) * kv, d = dst + ((grp * cig + i) * cog + o) * kv
                    for t in 0..<kv { d[t] = s[kv - 1 - t] }
                }
            }
        }
        return out
    }

    /// Most partial sums of a weight gradient cut over the batch (image groups here, Winograd chunks) — enough to
    /// keep 2–4 threads busy.
    static let weightGradientParts = 4
}

extension Tensor {
    /// Adds `bias[c]` to every position of channel c of `y` ([N, C, spatial...]).
    static func addChannelBias(_ y: Tensor, _ bias: Tensor) {
        let n = y.shape[0], c = y.shape[1], v = y.count / Swift.max(1, n * c)
        precondition(bias.count == c, "bias \(bias.shape) for \(c) channels")
        let py = y.ptr, pb = bias.ptr
        parallelFor(n * c, minChunk: Swift.max(1, 16384 / Swift.max(v, 1))) { rows in
            for r in rows {
                let b = pb[r % c], row = py + r * v
                for i in 0..<v { row[i] += b }
            }
        }
    }

    /// Per-channel sums of `g` ([N, C, spatial...]): the bias gradient. Batch order is fixed.
    static func channelSums(_ g: Tensor, shape: [Int]) -> Tensor {
        let n = g.shape[0], c = g.shape[1], v = g.count / Swift.max(1, n * c)
        let out = Tensor(zeros: shape)
        let pg = g.ptr, po = out.ptr
        parallelFor(c, minChunk: Swift.max(1, 16384 / Swift.max(n * v, 1))) { chans in
            for ch in chans {
                var s: Float = 0
                for b in 0..<n { s += Kernels.sum(pg + (b * c + ch) * v, v) }
                po[ch] = s
            }
        }
        return out
    }

    /// The shared N-d convolution (1–3 spatial dimensions).
    static func convolution(_ x: Tensor, _ w: Tensor, bias: Tensor?, stride: [Int], padding: [Int], dilation: [Int],
                            groups: Int) -> Tensor {
        let r = x.rank - 2
        precondition(w.rank == x.rank, "conv: input \(x.shape) and weight \(w.shape) ranks differ")
        let n = x.shape[0], cin = x.shape[1], cout = w.shape[0]
        precondition(groups > 0 && cin % groups == 0 && cout % groups == 0 && w.shape[1] == cin / groups,
                     "conv: weight \(w.shape) does not fit \(cin) input channels in \(groups) groups")
        let geo = ConvGeometry(channels: cin, image: Array(x.shape[2...]), kernel: Array(w.shape[2...]),
                               stride: stride, padding: padding, dilation: dilation)
        let map = ConvMapping(geo: geo, groups: groups, batch: n, outer: cout)
        // The engine's own gradients; the oneDNN path falls back on them where oneDNN has no fast kernel.
        let inputGradient = { (g: Tensor) -> Tensor in
            let gx = Tensor.empty(x.shape)
            if let reverse = map.reversed(), cout <= cin || Winograd23(reverse) != nil {
                let flipped = ConvMapping.flippedTranspose(w, groups: groups)
                withExtendedLifetime(flipped) { reverse.apply(image: g.ptr, weight: flipped.ptr, into: gx.ptr) }
            } else {
                map.adjoint(weight: w.ptr, y: g.ptr, into: gx.ptr)
            }
            return gx
        }
        let weightGradient = { (g: Tensor) -> Tensor in
            let gw = Tensor.empty(w.shape)
            map.weightGradient(image: x.ptr, y: g.ptr, into: gw.ptr)
            return gw
        }
        if let parts = DNNLConvolution.partPlans(x: x.shape, w: w.shape, stride: stride, padding: padding, dilation: dilation,
                                                 groups: groups, bias: bias != nil, wholeThreads: Threads.count) {
            return convolutionDNNL(parts, x, w, bias: bias, stride: stride, padding: padding, dilation: dilation,
                                   outShape: [n, cout] + geo.outShape, byEngine: (inputGradient, weightGradient))
        }
        let out = Tensor.empty([n, cout] + geo.outShape)
        map.apply(image: x.ptr, weight: w.ptr, into: out.ptr)
        if let b = bias { addChannelBias(out, b) }
        return record(out, "conv\(r)d", [x, w] + (bias.map { [$0] } ?? [])) { g in
            if x.requiresGrad { x.takeGradient(inputGradient(g)) }
            if w.requiresGrad { w.takeGradient(weightGradient(g)) }
            if let b = bias, b.requiresGrad { b.takeGradient(channelSums(g, shape: b.shape)) }
        }
    }

    /// The shared N-d transposed convolution: the adjoint of `convolution` with the same weight.
    static func convolutionTransposed(_ x: Tensor, _ w: Tensor, bias: Tensor?, stride: [Int], padding: [Int],
                                      outputPadding: [Int], dilation: [Int], groups: Int) -> Tensor {
        let r = x.rank - 2
        precondition(w.rank == x.rank, "convTranspose: input \(x.shape) and weight \(w.shape) ranks differ")
        precondition(outputPadding.count == r && stride.count == r && padding.count == r && dilation.count == r,
                     "convTranspose: stride/padding/outputPadding/dilation need \(r) entries each")
        let n = x.shape[0], cin = x.shape[1], cout = w.shape[1] * groups
        precondition(groups > 0 && cin % groups == 0 && w.shape[0] == cin,
                     "convTranspose: weight \(w.shape) does not fit \(cin) input channels in \(groups) groups")
        for a in 0..<r {
            // The output is the image of a convolution whose output is x; that inverse exists for outputPadding < stride.
            precondition(outputPadding[a] >= 0 && outputPadding[a] < stride[a],
                         "convTranspose: outputPadding \(outputPadding) must be below stride \(stride)")
        }
        let size = (0..<r).map { (a: Int) -> Int in
            let reach: Int = dilation[a] * (w.shape[2 + a] - 1) + outputPadding[a] + 1
            return (x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + reach
        }
        precondition(size.allSatisfy { $0 > 0 }, "convTranspose: empty output \(size)")
        let geo = ConvGeometry(channels: cout, image: size, kernel: Array(w.shape[2...]),
                               stride: stride, padding: padding, dilation: dilation)
        precondition(geo.outShape == Array(x.shape[2...]), "convTranspose: geometry mismatch \(geo.outShape) vs \(x.shape)")
        let map = ConvMapping(geo: geo, groups: groups, batch: n, outer: cin)
        // Forward, input gradient and weight gradient are those of the convolution `map` with the roles swapped:
        // its input gradient, its forward, and its weight gradient with the output's gradient as its image.
        let inputGradient = { (g: Tensor) -> Tensor in
            let gx = Tensor.empty(x.shape)
            map.apply(image: g.ptr, weight: w.ptr, into: gx.ptr)
            return gx
        }
        let weightGradient = { (g: Tensor) -> Tensor in
            let gw = Tensor.empty(w.shape)
            map.weightGradient(image: g.ptr, y: x.ptr, into: gw.ptr)
            return gw
        }
        let out = Tensor.empty([n, cout] + size)
        let parts = DNNLConvolution.partPlans(x: out.shape, w: w.shape, stride: stride, padding: padding, dilation: dilation,
                                              groups: groups, bias: false, wholeThreads: Threads.count)
        if let parts = parts, DNNLConvolution.isFast(parts.plans, .inputGradient) {
            runParts(parts, x, out) { repro_conv_backward_data($0, $1, w.ptr, $2) }
        } else {
            map.adjoint(weight: w.ptr, y: x.ptr, into: out.ptr)
        }
        if let b = bias { addChannelBias(out, b) }
        return record(out, "convTranspose\(r)d", [x, w] + (bias.map { [$0] } ?? [])) { g in
            if x.requiresGrad {
                if let parts = parts {
                    let gx = Tensor.empty(x.shape)
                    runParts(parts, g, gx) { repro_conv_forward($0, $1, w.ptr, nil, $2) }
                    x.takeGradient(gx)
                } else {
                    x.takeGradient(inputGradient(g))
                }
            }
            if w.requiresGrad {
                w.takeGradient((parts == nil ? nil : weightGradientDNNL(g, x, w.shape, stride: stride, padding: padding,
                                                                         dilation: dilation)) ?? weightGradient(g))
            }
            if let b = bias, b.requiresGrad { b.takeGradient(channelSums(g, shape: b.shape)) }
        }
    }
}

// MARK: - Public entry points

extension Tensor {
    /// 1D convolution: x [N, Cin, W], w [Cout, Cin/groups, k], bias [Cout].
    public static func conv1d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                              dilation: Int = 1, groups: Int = 1) -> Tensor {
        convolution(x, w, bias: bias, stride: [stride], padding: [padding], dilation: [dilation], groups: groups)
    }

    /// 2D convolution: x [N, Cin, H, W], w [Cout, Cin/groups, kH, kW]; stride/padding/dilation per axis (H, W).
    @_disfavoredOverload
    public static func conv2d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1],
                              padding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1) -> Tensor {
        precondition(x.rank == 4, "conv2d needs x [N, C, H, W], got \(x.shape)")
        return convolution(x, w, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public static func conv2d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                              dilation: Int = 1, groups: Int = 1) -> Tensor {
        conv2d(x, w, bias: bias, stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation],
               groups: groups)
    }

    /// 3D convolution: x [N, Cin, D, H, W], w [Cout, Cin/groups, kD, kH, kW]; per-axis parameters in (D, H, W) order.
    @_disfavoredOverload
    public static func conv3d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1, 1],
                              padding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1], groups: Int = 1) -> Tensor {
        precondition(x.rank == 5, "conv3d needs x [N, C, D, H, W], got \(x.shape)")
        return convolution(x, w, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public static func conv3d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                              dilation: Int = 1, groups: Int = 1) -> Tensor {
        conv3d(x, w, bias: bias, stride: [stride, stride, stride], padding: [padding, padding, padding],
               dilation: [dilation, dilation, dilation], groups: groups)
    }

    /// 1D transposed convolution: x [N, Cin, W], w [Cin, Cout/groups, k].
    public static func convTranspose1d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                                       outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        convolutionTransposed(x, w, bias: bias, stride: [stride], padding: [padding], outputPadding: [outputPadding],
                              dilation: [dilation], groups: groups)
    }

    /// 2D transposed convolution: x [N, Cin, H, W], w [Cin, Cout/groups, kH, kW]; output size per axis is
    /// (in − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1.
    @_disfavoredOverload
    public static func convTranspose2d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1],
                                       padding: [Int] = [0, 0], outputPadding: [Int] = [0, 0], dilation: [Int] = [1, 1],
                                       groups: Int = 1) -> Tensor {
        precondition(x.rank == 4, "convTranspose2d needs x [N, C, H, W], got \(x.shape)")
        return convolutionTransposed(x, w, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                                     dilation: dilation, groups: groups)
    }

    public static func convTranspose2d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                                       outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        convTranspose2d(x, w, bias: bias, stride: [stride, stride], padding: [padding, padding],
                        outputPadding: [outputPadding, outputPadding], dilation: [dilation, dilation], groups: groups)
    }

    /// 3D transposed convolution: x [N, Cin, D, H, W], w [Cin, Cout/groups, kD, kH, kW].
    @_disfavoredOverload
    public static func convTranspose3d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1, 1],
                                       padding: [Int] = [0, 0, 0], outputPadding: [Int] = [0, 0, 0],
                                       dilation: [Int] = [1, 1, 1], groups: Int = 1) -> Tensor {
        precondition(x.rank == 5, "convTranspose3d needs x [N, C, D, H, W], got \(x.shape)")
        return convolutionTransposed(x, w, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                                     dilation: dilation, groups: groups)
    }

    public static func convTranspose3d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                                       outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        convTranspose3d(x, w, bias: bias, stride: [stride, stride, stride], padding: [padding, padding, padding],
                        outputPadding: [outputPadding, outputPadding, outputPadding],
                        dilation: [dilation, dilation, dilation], groups: groups)
    }
}
