import Foundation
import CDNNL

// 3D convolutions run on oneDNN, the library PyTorch runs its CPU convolutions on. Measured on the Xeon of model 207
// (2 threads, batch 2, forward + input gradient + weight gradient): oneDNN's jit:avx512_core kernels took 22.8 ms
// for 16→16 at 48³ and 10.4 ms for 32→32 at 24³, against 101 and 36 ms for the engine's im2col + GEMM, whose
// im2col matrix is 27× the input and whose GEMMs are only Cout = 16–32 rows tall. The reorders between the
// engine's layout and oneDNN's blocked one cost 0.5 ms at the largest of these layers.
//
// oneDNN's results did not depend on its thread count in our checks (forward, both gradients, 1 against 2 threads,
// bit for bit; `ConvolutionDNNLTests`), so the engine's 1-vs-2-thread determinism holds. They do differ in the last
// bits from the engine's own kernels (another summation order), within the golden tolerances.
//
// Only where oneDNN has a real kernel (`jit`/`brg` implementations, i.e. AVX2 or AVX-512 CPUs): its reference
// kernels are slower than the engine's. 1D and 2D convolutions stay on the engine, which is at or under PyTorch's
// time there (Winograd, README benchmark); grouped and transposed 3D convolutions too.
enum DNNLConvolution {
    /// `REPRO_DNNL=0` turns oneDNN off (for comparing the two paths); tests switch it to reach the engine's own path.
    nonisolated(unsafe) static var enabled: Bool = ProcessInfo.processInfo.environment["REPRO_DNNL"] != "0"

    static var version: String { String(cString: repro_dnnl_version()) }

    /// The plan for this geometry when oneDNN should run it, else nil.
    static func plan(x: [Int], w: [Int], stride: [Int], padding: [Int], dilation: [Int], groups: Int,
                     bias: Bool) -> OpaquePointer? {
        let r = x.count - 2
        guard enabled, r == 3, groups == 1 else { return nil }
        let image = x[2...].map(Int32.init), kernel = w[2...].map(Int32.init)
        let s = stride.map(Int32.init), p = padding.map(Int32.init), d = dilation.map(Int32.init)
        guard let plan = repro_conv_plan_get(Int32(r), Int32(x[0]), Int32(x[1]), Int32(w[0]), image, kernel, s, p, d,
                                             bias ? 1 : 0) else { return nil }
        let impl = String(cString: repro_conv_plan_impl(plan))
        return impl.hasPrefix("jit") || impl.hasPrefix("brg") ? plan : nil
    }

    /// Which path groups-1 3D convolutions take here, with oneDNN's kernel for a UNETR-like layer.
    static var summary: String {
        guard enabled else { return "the engine's im2col + GEMM (oneDNN turned off by REPRO_DNNL=0)" }
        let probe = [2, 32, 24, 24, 24]
        guard let plan = repro_conv_plan_get(3, 2, 32, 32, probe[2...].map(Int32.init), [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
              case let impl = String(cString: repro_conv_plan_impl(plan)), impl.hasPrefix("jit") || impl.hasPrefix("brg") else {
            return "the engine's im2col + GEMM (oneDNN \(version) has no fast kernel for this CPU)"
        }
        return "oneDNN \(version), kernel \(impl) (groups-1 3D convolutions; others on the engine)"
    }

    static func check(_ status: Int32, _ what: String) {
        precondition(status == 0, "oneDNN \(what) failed (see the message above)")
    }
}

extension Tensor {
    /// The convolution of `convolution(...)` on a oneDNN plan, with the same gradients.
    static func convolutionDNNL(_ plan: OpaquePointer, _ x: Tensor, _ w: Tensor, bias: Tensor?, outShape: [Int]) -> Tensor {
        let threads = Int32(Threads.count)
        let out = Tensor.empty(outShape)
        DNNLConvolution.check(repro_conv_forward(plan, threads, x.ptr, w.ptr, bias?.ptr, out.ptr), "forward")
        return record(out, "conv\(x.rank - 2)d", [x, w] + (bias.map { [$0] } ?? [])) { g in
            if x.requiresGrad {
                let gx = Tensor.empty(x.shape)
                DNNLConvolution.check(repro_conv_backward_data(plan, threads, g.ptr, w.ptr, gx.ptr), "input gradient")
                x.takeGradient(gx)
            }
            if w.requiresGrad {
                let gw = Tensor.empty(w.shape)
                DNNLConvolution.check(repro_conv_backward_weights(plan, threads, x.ptr, g.ptr, gw.ptr), "weight gradient")
                w.takeGradient(gw)
            }
            if let b = bias, b.requiresGrad { b.takeGradient(channelSums(g, shape: b.shape)) }
        }
    }
}
