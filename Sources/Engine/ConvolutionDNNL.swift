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
// Determinism. oneDNN's forward and input-gradient kernels gave the same bits at 1 and 2 threads on every shape we
// tried (no output is summed across threads), so they run on oneDNN's own threads. Its weight gradient does sum
// per-thread partials for some shapes (TMC's 4-channel layers gave other bits at 2 threads), so the engine cuts
// the batch into a fixed number of parts (by shape, never by thread count), has oneDNN compute each part's weight
// gradient on one thread, runs the parts on its own threads and adds them in part order. One and two threads then
// train to the same bits (EndToEndTests). The price: a batch of one computes its weight gradient on one thread.
// oneDNN's results differ in the last bits from the engine's own kernels (another summation order), within the
// golden tolerances.
//
// Only where oneDNN has a real kernel (`jit`/`brg` implementations, i.e. AVX2 or AVX-512 CPUs): its reference
// kernels are slower than the engine's. Grouped, depthwise and transposed convolutions and 1D stay on the engine
// (ConvTranspose3d 64→32 at 12³ already ran at 0.94× PyTorch).
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
        let impl = String(cString: repro_conv_plan_impl(plan))
        return impl.hasPrefix("jit") || impl.hasPrefix("brg") ? plan : nil
    }

    /// Which path groups-1 convolutions take here, with oneDNN's kernel for a UNETR-like layer.
    static var summary: String {
        guard enabled else { return "the engine's im2col + GEMM and Winograd (oneDNN turned off by REPRO_DNNL=0)" }
        let probe = [2, 32, 24, 24, 24]
        guard let plan = repro_conv_plan_get(3, 2, 32, 32, probe[2...].map(Int32.init), [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1, 1),
              case let impl = String(cString: repro_conv_plan_impl(plan)), impl.hasPrefix("jit") || impl.hasPrefix("brg") else {
            return "the engine's im2col + GEMM (oneDNN \(version) has no fast kernel for this CPU)"
        }
        return "oneDNN \(version), kernel \(impl) (groups-1 2D and 3D convolutions; others on the engine)"
    }

    static func check(_ status: Int32, _ what: String) {
        precondition(status == 0, "oneDNN \(what) failed (see the message above)")
    }
}

extension Tensor {
    /// The convolution of `convolution(...)` on a oneDNN plan, with the same gradients. `plan` is for the whole
    /// batch; the weight gradient uses plans for the batch's parts.
    static func convolutionDNNL(_ plan: OpaquePointer, _ x: Tensor, _ w: Tensor, bias: Tensor?, stride: [Int], padding: [Int],
                                dilation: [Int], outShape: [Int], weightGradientByEngine: @escaping (Tensor) -> Tensor) -> Tensor {
        let out = Tensor.empty(outShape)
        DNNLConvolution.check(repro_conv_forward(plan, x.ptr, w.ptr, bias?.ptr, out.ptr), "forward")
        return record(out, "conv\(x.rank - 2)d", [x, w] + (bias.map { [$0] } ?? [])) { g in
            if x.requiresGrad {
                let gx = Tensor.empty(x.shape)
                DNNLConvolution.check(repro_conv_backward_data(plan, g.ptr, w.ptr, gx.ptr), "input gradient")
                x.takeGradient(gx)
            }
            if w.requiresGrad {
                w.takeGradient(weightGradientDNNL(x, g, w.shape, stride: stride, padding: padding, dilation: dilation)
                               ?? weightGradientByEngine(g))
            }
            if let b = bias, b.requiresGrad { b.takeGradient(channelSums(g, shape: b.shape)) }
        }
    }

    /// Σ over batch parts of oneDNN's one-thread weight gradient, parts in order (see the note on determinism);
    /// nil when oneDNN has no fast kernel for a part's shape.
    static func weightGradientDNNL(_ x: Tensor, _ g: Tensor, _ wShape: [Int], stride: [Int], padding: [Int],
                                   dilation: [Int]) -> Tensor? {
        let n = x.shape[0], parts = Swift.min(n, ConvMapping.weightGradientParts)
        let xPer = x.count / n, gPer = g.count / n, wCount = wShape.reduce(1, *)
        let bounds = (0...parts).map { $0 * n / parts }
        var plans: [OpaquePointer] = []
        for p in 0..<parts {
            guard let plan = DNNLConvolution.plan(x: [bounds[p + 1] - bounds[p]] + x.shape.dropFirst(), w: wShape, stride: stride,
                                                  padding: padding, dilation: dilation, groups: 1, bias: false, threads: 1) else { return nil }
            plans.append(plan)
        }
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
