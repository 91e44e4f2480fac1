import Foundation
import CDNNL

// 2D and 3D convolutions of groups 1 run on oneDNN, the library PyTorch runs its CPU convolutions on.
//
// 3D, measured on the Xeon of model 207 (2 threads, batch 2, forward + input gradient + weight gradient): oneDNN's
// jit:avx512_core kernels took 22.8 ms for 16→16 at 48³ and 10.4 ms for 32→32 at 24³, against 101 and 36 ms for
// the engine's im2col + GEMM, whose im2col matrix is 27× the input and whose GEMMs are only Cout = 16–32 rows tall.
// The reorders between the engine's layout and oneDNN's blocked one cost 0.5 ms at the largest of these layers.
//
// 2D, whole training steps (`make bench`, one round each): ResNet-50 U-Net at 128², batch 8, 941 → 651 ms; U-Net
// w16 at 64² 83 → 52 ms, at 128² 254 → 214 ms; U-Net w64 at 224² 1622 → 1666 ms (within the noise of that run;
// there the engine's Winograd is as fast, and the reorders of 25 MB activations cost what oneDNN saves). Keeping
// Winograd layers on the engine and the rest on oneDNN was slower than either everywhere but at 224² (1759 ms).
//
// Threads and determinism. The engine cuts a batch into a fixed number of parts (by shape, never by thread count),
// has oneDNN run each part on one thread and runs the parts on its own threads; weight gradients of the parts are
// added in part order. oneDNN's own OpenMP threads are not used for batches of two or more, for two reasons: its
// weight gradient sums per-thread partials for some shapes (TMC's 4-channel layers gave other bits at 2 threads,
// caught by EndToEndTests.testOneAndTwoThreadsTrainToIdenticalCurves), and libgomp's workers spin after each
// parallel region, which on two cores took the cores from the engine's threads (`partPlans`). One and two threads
// therefore train to the same bits. A batch of one runs forward and input gradient on oneDNN's threads (they gave
// the same bits at 1 and 2 threads on every shape tried) and its weight gradient on one thread. oneDNN's results
// differ in the last bits from the engine's own kernels (another summation order), within the golden tolerances.
//
// Only where oneDNN has a real kernel (`jit`/`brg` implementations, i.e. AVX2 or AVX-512 CPUs), checked for each
// direction: its reference and GEMM-based kernels are slower than the engine's. Transposed convolutions of groups 1
// run on the same plans with forward and input gradient swapped (ConvTranspose3d 64→32 at 12³, batch 2: 7.1 ms on
// the engine, 5.2 ms so, PyTorch 6.9–7.4). Grouped and depthwise convolutions and 1D stay on the engine.
enum DNNLConvolution {
    /// `REPRO_DNNL=0` turns oneDNN off (for comparing the two paths); tests switch it to reach the engine's own path.
    nonisolated(unsafe) static var enabled: Bool = ProcessInfo.processInfo.environment["REPRO_DNNL"] != "0"

    static var version: String { String(cString: repro_dnnl_version()) }

    /// The plan for this geometry when oneDNN should run it, else nil.
    static func plan(x: [Int], w: [Int], stride: [Int], padding: [Int], dilation: [Int], groups: Int,
                     bias: Bool, threads: Int = Threads.count) -> OpaquePointer? {
        let r = x.count - 2
        guard enabled, r == 2 || r == 3, groups == 1 else { return nil }
        let image = x[2...].map(Int32.init), kernel = w[2...].map(Int32.init)
        let s = stride.map(Int32.init), p = padding.map(Int32.init), d = dilation.map(Int32.init)
        guard let plan = repro_conv_plan_get(Int32(r), Int32(x[0]), Int32(x[1]), Int32(w[0]), image, kernel, s, p, d,
                                             bias ? 1 : 0, Int32(threads)) else { return nil }
        return isFast(plan, Direction.forward) ? plan : nil
    }

    enum Direction: Int32 { case forward = 0, inputGradient = 1, weightGradient = 2 }

    static func implementation(_ plan: OpaquePointer, _ direction: Direction = .forward) -> String {
        String(cString: repro_conv_plan_impl(plan, direction.rawValue))
    }

    /// oneDNN's direct kernels (`jit`, `brg`); its GEMM-based (`x64:gemm:jit`) and reference ones are slower than
    /// the engine's.
    static func isFast(_ plan: OpaquePointer, _ direction: Direction) -> Bool {
        repro_conv_plan_fast(plan, direction.rawValue) != 0
    }

    static func isFast(_ plans: [OpaquePointer], _ direction: Direction) -> Bool { plans.allSatisfy { isFast($0, direction) } }

    /// Which path groups-1 convolutions take here, with oneDNN's kernel for a UNETR-like layer.
    static var summary: String {
        guard enabled else { return "the engine's im2col + GEMM and Winograd (oneDNN turned off by REPRO_DNNL=0)" }
        guard let plan = plan(x: [2, 32, 24, 24, 24], w: [32, 32, 3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1],
                              dilation: [1, 1, 1], groups: 1, bias: true, threads: 1) else {
            return "the engine's im2col + GEMM (oneDNN \(version) has no fast kernel for this CPU)"
        }
        return "oneDNN \(version), kernel \(implementation(plan)) (groups-1 2D and 3D convolutions; others on the engine)"
    }

    static func check(_ status: Int32, _ what: String) {
        precondition(status == 0, "oneDNN \(what) failed (see the message above)")
    }
}

extension DNNLConvolution {
    /// Where a batch is cut: min(n, 4) contiguous parts, by shape only.
    static func partBounds(_ n: Int) -> [Int] {
        let parts = Swift.min(n, ConvMapping.weightGradientParts)
        return (0...parts).map { $0 * n / parts }
    }

    /// Plans for the parts of a batch, nil when oneDNN should not run it. Each part runs on one oneDNN thread and
    /// the engine runs the parts on its own threads, so no OpenMP team is ever formed: libgomp's workers spin for a
    /// while after each parallel region, and on two cores that spinning took the cores from the engine's threads
    /// (20 % of a Conv3d 64→64 step's cycles were in libgomp's wait loop). A batch of one is one part on
    /// `wholeThreads` oneDNN threads.
    static func partPlans(x: [Int], w: [Int], stride: [Int], padding: [Int], dilation: [Int], groups: Int, bias: Bool,
                          wholeThreads: Int) -> (bounds: [Int], plans: [OpaquePointer])? {
        let bounds = partBounds(x[0])
        var plans: [OpaquePointer] = []
        for p in 0..<(bounds.count - 1) {
            guard let plan = plan(x: [bounds[p + 1] - bounds[p]] + x.dropFirst(), w: w, stride: stride, padding: padding,
                                  dilation: dilation, groups: groups, bias: bias, threads: x[0] == 1 ? wholeThreads : 1)
            else { return nil }
            plans.append(plan)
        }
        return (bounds, plans)
    }
}

extension Tensor {
    /// The convolution of `convolution(...)` on oneDNN plans for the batch's parts, with the same gradients. A
    /// gradient for which oneDNN has only a GEMM-based or reference kernel is the engine's (`byEngine`): oneDNN's
    /// x64:gemm weight gradient for 8→8 channels at 48³ builds its im2col one float at a time, and the engine's own
    /// kernel ran that layer's step in 50 ms against 71.
    static func convolutionDNNL(_ parts: (bounds: [Int], plans: [OpaquePointer]), _ x: Tensor, _ w: Tensor, bias: Tensor?,
                                stride: [Int], padding: [Int], dilation: [Int], outShape: [Int],
                                byEngine: (input: (Tensor) -> Tensor, weight: (Tensor) -> Tensor)) -> Tensor {
        let out = Tensor.empty(outShape)
        let plans = parts.plans
        runParts(parts, x, out) { repro_conv_forward($0, $1, w.ptr, bias?.ptr, $2) }
        return record(out, "conv\(x.rank - 2)d", [x, w] + (bias.map { [$0] } ?? [])) { g in
            if x.requiresGrad {
                if DNNLConvolution.isFast(plans, .inputGradient) {
                    let gx = Tensor.empty(x.shape)
                    runParts(parts, g, gx) { repro_conv_backward_data($0, $1, w.ptr, $2) }
                    x.takeGradient(gx)
                } else {
                    x.takeGradient(byEngine.input(g))
                }
            }
            if w.requiresGrad {
                w.takeGradient(weightGradientDNNL(x, g, w.shape, stride: stride, padding: padding, dilation: dilation)
                               ?? byEngine.weight(g))
            }
            if let b = bias, b.requiresGrad { b.takeGradient(channelSums(g, shape: b.shape)) }
        }
    }

    /// `call(plan, source part, destination part)` for every part of the batch, parts on the engine's threads;
    /// `source` and `destination` are cut at the same sample bounds.
    static func runParts(_ parts: (bounds: [Int], plans: [OpaquePointer]), _ source: Tensor, _ destination: Tensor,
                         _ call: (OpaquePointer, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Int32) {
        let n = source.shape[0], sPer = source.count / n, dPer = destination.count / n
        parallelItems(parts.plans.count) { p in
            let lo = parts.bounds[p]
            DNNLConvolution.check(call(parts.plans[p], source.ptr + lo * sPer, destination.ptr + lo * dPer), "convolution")
        }
    }

    /// Σ over batch parts of oneDNN's one-thread weight gradient, parts in order (see the note on determinism);
    /// nil when oneDNN has no fast kernel for a part's shape.
    static func weightGradientDNNL(_ x: Tensor, _ g: Tensor, _ wShape: [Int], stride: [Int], padding: [Int],
                                   dilation: [Int]) -> Tensor? {
        guard let (bounds, plans) = DNNLConvolution.partPlans(x: x.shape, w: wShape, stride: stride, padding: padding,
                                                              dilation: dilation, groups: 1, bias: false, wholeThreads: 1),
              DNNLConvolution.isFast(plans, .weightGradient)
        else { return nil }
        let n = x.shape[0], xPer = x.count / n, gPer = g.count / n, wCount = wShape.reduce(1, *), parts = plans.count
        let partial = Tensor.empty([parts, wCount])
        parallelItems(parts) { p in
            let lo = bounds[p]
            DNNLConvolution.check(repro_conv_backward_weights(plans[p], x.ptr + lo * xPer, g.ptr + lo * gPer,
                                                              partial.ptr + p * wCount), "weight gradient")
        }
        let gw = Tensor.empty(wShape)
        gw.ptr.update(from: partial.ptr, count: wCount)
        for p in 1..<parts { Kernels.addInPlace(gw.ptr, partial.ptr + p * wCount, wCount) }
        return gw
    }
}
