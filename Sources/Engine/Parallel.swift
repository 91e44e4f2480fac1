import Foundation
import COpenBLAS
import CEngineSupport

/// Threading for every kernel, GEMMs included: OpenBLAS runs serially and `sgemm` splits large products over
/// these threads itself, so kernels never call `sgemm` from inside `parallelFor` (`sgemmSerial` is for that).
public enum Threads {
    nonisolated(unsafe) public static var count: Int = {
        let env = ProcessInfo.processInfo.environment
        if let s = env["REPRO_THREADS"], let n = Int(s), n > 0 { return n }
        // A SLURM task gets the CPUs it asked for, not the node's.
        if let s = env["SLURM_CPUS_PER_TASK"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()
    /// `REPRO_POOL=dispatch` runs parallel regions on libdispatch instead of the engine's pool, to compare the two.
    nonisolated(unsafe) static let onDispatch = ProcessInfo.processInfo.environment["REPRO_POOL"] == "dispatch"
}

/// Splits `0..<n` into contiguous chunks, one per thread. Results must not depend on the split: each index is
/// written by exactly one chunk, and no kernel reduces across chunks in a thread-count-dependent order.
@inline(__always)
public func parallelFor(_ n: Int, minChunk: Int = 4096, _ body: (Range<Int>) -> Void) {
    let threads = min(Threads.count, max(1, n / max(minChunk, 1)))
    if threads <= 1 { body(0..<n); return }
    let chunk = (n + threads - 1) / threads
    runOnPool(threads: threads, items: threads) { t in
        let lo = t * chunk, hi = min(n, lo + chunk)
        if lo < hi { body(lo..<hi) }
    }
}

/// Runs `body(i)` for every i in 0..<n on up to `Threads.count` threads, each thread taking the next index not yet
/// taken. For a few large, independent items (images, GEMM blocks): with a fixed split, a thread that another
/// process holds up on a shared machine makes the others wait at the join; here they take its items instead.
public func parallelItems(_ n: Int, _ body: (Int) -> Void) {
    let threads = min(Threads.count, n)
    if threads <= 1 {
        for i in 0..<n { body(i) }
        return
    }
    runOnPool(threads: threads, items: n, body)
}

/// `body(i)` for every i in 0..<items on the engine's worker threads (pool.c: they spin briefly between regions
/// instead of parking at once, which is what made many small regions slow on libdispatch).
@usableFromInline func runOnPool(threads: Int, items: Int, _ body: (Int) -> Void) {
    if Threads.onDispatch {
        var next = 0
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while true {
                lock.lock(); let i = next; next += 1; lock.unlock()
                if i >= items { return }
                body(i)
            }
        }
        return
    }
    withoutActuallyEscaping(body) { body in
        var job = body
        withUnsafeMutablePointer(to: &job) { p in
            repro_pool_run(Int32(threads), items, { ctx, i in
                ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
            }, p)
        }
    }
}

/// Vectorisable loops shared by ops and optimisers.
public enum Kernels {
    @inline(__always) public static func addInPlace(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
        parallelFor(n, minChunk: 1 << 15) { r in for i in r { a[i] += b[i] } }
    }
    @inline(__always) public static func scaleInPlace(_ a: UnsafeMutablePointer<Float>, _ s: Float, _ n: Int) {
        parallelFor(n, minChunk: 1 << 15) { r in for i in r { a[i] *= s } }
    }
    /// Pairwise sum: accurate in Float32 and independent of the thread count. Leaves of up to 256 are summed in
    /// 16 lanes: a single running sum is one dependent add per element, 4–8× slower (softmax rows, bias gradients).
    public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        if n <= 256 {
            var lanes = SIMD16<Float>(repeating: 0)
            var i = 0
            while i + 16 <= n { lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
            var s = lanes.sum()
            while i < n { s += p[i]; i += 1 }
            return s
        }
        let h = n / 2
        return sum(p, h) + sum(p + h, n - h)
    }
}
