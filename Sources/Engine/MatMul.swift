import COpenBLAS
import CDNNL

// OpenBLAS runs on the calling thread only (`BLASRuntime` sets one thread); the engine spreads GEMMs over its own
// threads (`sgemm` below, the batch loop of `matmul`, image-parallel convolution). OpenBLAS's pthread workers wait
// for the next call by spinning on sched_yield, taking the cores from the GCD threads of the passes in between: a
// 2-thread U-Net step (unet16, batch 8, 64²) used 390–670 ms of CPU with OpenBLAS threading against 240–280 ms with
// the engine's own, and OpenBLAS's split of a small per-image GEMM (256×16×2304) ran at 47 GFLOP/s against 77 on
// one thread.

/// Row-major sgemm on the calling thread: C[m×n] = alpha·op(A)·op(B) + beta·C, on `GEMMLibrary.current`.
@inline(__always)
func sgemmSerial(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                 _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                 _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    if GEMMLibrary.current == .oneDNN && m > 0 && n > 0 && k > 0 {
        let status = repro_dnnl_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        precondition(status == 0, "oneDNN sgemm failed for \(m)×\(n)×\(k)")
        return
    }
    _ = BLASRuntime.shared
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Row-major sgemm: C[m×n] = alpha·op(A)·op(B) + beta·C, spread over `Threads.count` threads.
///
/// A large product is cut along the longer side of C into 2 or 4 blocks, each a serial sgemm on its own thread;
/// one whose C is too small for that but whose k is long is cut along k instead (`GEMMSplit.depthBlocks`).
/// The cut depends on the shape only, never on the thread count, so results do not either. Blocks keep at least
/// `minimumSide` rows or columns, because each block repacks the whole other operand. Never call it inside
/// `parallelFor` (call `sgemmSerial` there).
public func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                  _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                  _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    let blocks = GEMMSplit.blocks(m, n, k)
    if blocks == 1 {
        let depth = GEMMSplit.depthBlocks(m, n, k)
        if depth > 1 {
            sgemmSplitDepth(depth, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        } else {
            sgemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
        return
    }
    let byRows = m >= n
    let side = byRows ? m : n
    let step = (side + blocks - 1) / blocks
    parallelItems(blocks) { blk in
        let lo = blk * step, len = Swift.min(side, lo + step) - lo
        guard len > 0 else { return }
        if byRows {
            sgemmSerial(transA, transB, len, n, k, alpha, transA ? a + lo : a + lo * lda, lda, b, ldb,
                        beta, c + lo * ldc, ldc)
        } else {
            sgemmSerial(transA, transB, m, len, k, alpha, a, lda, transB ? b + lo * ldb : b + lo, ldb,
                        beta, c + lo, ldc)
        }
    }
}

/// A product with a short C and a long inner dimension (weight gradients: C is weight-sized, k runs over every
/// position of the batch) cut along k: block 0 accumulates into C, the others into scratch, added to C in block order.
private func sgemmSplitDepth(_ blocks: Int, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                             _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                             _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    let step = (k + blocks - 1) / blocks, size = m * n
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: (blocks - 1) * size)
    defer { partial.deallocate() }
    parallelItems(blocks) { blk in
        let lo = blk * step, len = Swift.min(k, lo + step) - lo
        let ak = transA ? a + lo * lda : a + lo, bk = transB ? b + lo : b + lo * ldb
        if blk == 0 {
            sgemmSerial(transA, transB, m, n, len, alpha, ak, lda, bk, ldb, beta, c, ldc)
        } else {
            sgemmSerial(transA, transB, m, n, len, alpha, ak, lda, bk, ldb, 0, partial + (blk - 1) * size, n)
        }
    }
    parallelFor(m, minChunk: Swift.max(1, 16384 / Swift.max(n, 1))) { rows in
        for i in rows {
            let ci = c + i * ldc
            for blk in 1..<blocks {
                let pi = partial + (blk - 1) * size + i * n
                for j in 0..<n { ci[j] += pi[j] }
            }
        }
    }
}

/// How `sgemm` cuts a product into blocks.
public enum GEMMSplit {
    /// Fewest rows or columns of C in one block.
    nonisolated(unsafe) public static var minimumSide = 512
    /// Fewest multiply-adds in one block: below this a thread hand-off costs more than it saves.
    nonisolated(unsafe) public static var minimumWork = 1 << 21

    static func blocks(_ m: Int, _ n: Int, _ k: Int) -> Int {
        let side = Swift.max(m, n), work = m * n * k
        var blocks = 1
        while blocks < 4 && side / (2 * blocks) >= minimumSide && work / (2 * blocks) >= minimumWork { blocks *= 2 }
        return blocks
    }

    /// Blocks along k for a product that `blocks` leaves whole: each block packs only its slice of both operands,
    /// so the cost of the cut is one extra pass over C per block.
    static func depthBlocks(_ m: Int, _ n: Int, _ k: Int) -> Int {
        let work = m * n * k
        var blocks = 1
        while blocks < 4 && k / (2 * blocks) >= minimumSide && work / (2 * blocks) >= minimumWork { blocks *= 2 }
        return blocks
    }
}

extension Tensor {
    /// Batched matrix product with broadcast batch dimensions, `a[..., m, k] · b[..., k, n]`.
    /// `transA`/`transB` read an operand as transposed without copying it.
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank >= 2, got \(a.shape) and \(b.shape)")
        let m = transA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let ka = transA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kb = transB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        precondition(ka == kb, "matmul: inner dimensions differ, \(a.shape)\(transA ? "ᵀ" : "") · \(b.shape)\(transB ? "ᵀ" : "")")
        let k = ka
        let ba = Array(a.shape.dropLast(2)), bb = Array(b.shape.dropLast(2))
        let batch = broadcastShape(ba, bb)
        let nb = batch.reduce(1, *)
        let out = Tensor.empty(batch + [m, n])
        let lda = a.shape[a.rank - 1], ldb = b.shape[b.rank - 1]
        if bb.reduce(1, *) == 1 && !transA && ba == batch {
            // Shared right operand (a weight): fold the batch into the rows for one large GEMM.
            sgemm(false, transB, nb * m, n, k, 1, a.ptr, lda, b.ptr, ldb, 0, out.ptr, n)
        } else if nb == 1 {
            sgemm(transA, transB, m, n, k, 1, a.ptr, lda, b.ptr, ldb, 0, out.ptr, n)
        } else {
            let sa = broadcastStrides(ba, batch), sb = broadcastStrides(bb, batch)
            let bst = strides(for: batch)
            let pa = a.ptr, pb = b.ptr, po = out.ptr
            // One serial GEMM per batch entry, runs of entries spread over the threads (attention heads are small).
            let run = Swift.max(1, GEMMSplit.minimumWork / Swift.max(1, m * n * k))
            parallelItems((nb + run - 1) / run) { part in
                for i in (part * run)..<Swift.min(nb, (part + 1) * run) {
                    var oa = 0, ob = 0, rem = i
                    for d in 0..<batch.count { let idx = rem / bst[d]; rem %= bst[d]; oa += idx * sa[d]; ob += idx * sb[d] }
                    sgemmSerial(transA, transB, m, n, k, 1, pa + oa * m * k, lda, pb + ob * k * n, ldb, 0, po + i * m * n, n)
                }
            }
        }
        return record(out, "matmul", [a, b]) { g in
            // dA = g·Bᵀ (or B·gᵀ when A was read transposed); dB = Aᵀ·g (or gᵀ·A).
            if a.requiresGrad {
                let ga = transA ? matmul(b, g, transA: transB, transB: true) : matmul(g, b, transB: !transB)
                a.takeGradient(unbroadcast(ga, to: a.shape))
            }
            if b.requiresGrad {
                let gb: Tensor
                if bb.reduce(1, *) == 1 && ba == batch && !transA {
                    // Weight gradient: one GEMM over the folded batch.
                    let a2 = a.data.reshaped([nb * m, k]), g2 = g.reshaped([nb * m, n])
                    gb = (transB ? matmul(g2, a2, transA: true) : matmul(a2, g2, transA: true)).reshaped(b.shape)
                } else {
                    gb = unbroadcast(transB ? matmul(g, a, transA: true, transB: transA) : matmul(a, g, transA: !transA), to: b.shape)
                }
                b.takeGradient(gb)
            }
        }
    }

    public func matmul(_ b: Tensor) -> Tensor { Tensor.matmul(self, b) }

    /// x·Wᵀ + b over the last dimension of `x` ([..., in] with W [out, in], b [out]), one primitive so that the bias
    /// costs no pass of its own: the output rows start as b and the GEMM adds onto them (beta = 1), and in the
    /// backward pass b's gradient is the column sum of g. As a matmul then a broadcast add, the bias was a second
    /// write and read of every output, 4% of a ViT step.
    public static func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
                     "linear: input \(x.shape) does not end in the weight's input width \(weight.shape[1])")
        let k = weight.shape[1], n = weight.shape[0], rows = x.count / Swift.max(k, 1)
        guard let bias else {
            return matmul(x.reshaped([rows, k]), weight, transB: true).reshaped(Array(x.shape.dropLast()) + [n])
        }
        precondition(bias.shape == [n], "linear: bias \(bias.shape) does not match the weight's output width \(n)")
        let out = Tensor.empty(Array(x.shape.dropLast()) + [n])
        let po = out.ptr, pb = UnsafePointer(bias.ptr)
        parallelFor(rows, minChunk: Swift.max(1, 16384 / Swift.max(n, 1))) { r in
            for i in r { (po + i * n).update(from: pb, count: n) }
        }
        sgemm(false, true, rows, n, k, 1, x.ptr, k, weight.ptr, k, 1, po, n)
        return record(out, "linear", [x, weight, bias]) { g in
            let g2 = g.reshaped([rows, n])
            if x.requiresGrad { x.takeGradient(matmul(g2, weight.data).reshaped(x.shape)) }
            if weight.requiresGrad { weight.takeGradient(matmul(g2, x.data.reshaped([rows, k]), transA: true)) }
            if bias.requiresGrad { bias.takeGradient(unbroadcast(g2, to: [n])) }
        }
    }
}
