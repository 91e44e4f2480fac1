import COpenBLAS

/// Row-major sgemm: C[m×n] = alpha·op(A)·op(B) + beta·C.
@inline(__always)
public func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                  _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                  _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
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
        } else {
            let sa = broadcastStrides(ba, batch), sb = broadcastStrides(bb, batch)
            let bst = strides(for: batch)
            for i in 0..<nb {
                var oa = 0, ob = 0, rem = i
                for d in 0..<batch.count { let idx = rem / bst[d]; rem %= bst[d]; oa += idx * sa[d]; ob += idx * sb[d] }
                sgemm(transA, transB, m, n, k, 1, a.ptr + oa * m * k, lda, b.ptr + ob * k * n, ldb, 0, out.ptr + i * m * n, n)
            }
        }
        return record(out, "matmul", [a, b]) { g in
            // dA = g·Bᵀ (or B·gᵀ when A was read transposed); dB = Aᵀ·g (or gᵀ·A).
            if a.requiresGrad {
                let ga = transA ? matmul(b, g, transA: transB, transB: true) : matmul(g, b, transB: !transB)
                a.accumulateGrad(unbroadcast(ga, to: a.shape))
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
                b.accumulateGrad(gb)
            }
        }
    }

    public func matmul(_ b: Tensor) -> Tensor { Tensor.matmul(self, b) }
}
