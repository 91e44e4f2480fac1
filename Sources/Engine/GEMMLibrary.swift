import Foundation
import CDNNL

// Which library runs the engine's matrix products (`sgemmSerial`). oneDNN's JIT sgemm where it has an AVX2 or
// wider kernel, else OpenBLAS with the kernel `BLASRuntime` chose.
//
// Measured on the Xeon of model 207 (AVX-512, one thread, GFLOP/s, OpenBLAS 0.3.21 on its SkylakeX kernel against
// oneDNN 2.6.3's sgemm): the ViT's products 2048×576×192 175 → 203, 2048×192×768 178 → 202, the weight gradients
// 192×768×2048 160 → 191, 256×256×64 165 → 198, 1024³ 173 → 181. oneDNN also picks its kernel from CPUID alone,
// so a CPU its OpenBLAS does not know still gets the right one.
public enum GEMMLibrary: String, Sendable {
    case oneDNN = "oneDNN"
    case openBLAS = "OpenBLAS"

    /// `REPRO_GEMM=openblas` (or `REPRO_DNNL=0`, which turns oneDNN off everywhere) keeps products on OpenBLAS;
    /// tests switch it to reach both.
    nonisolated(unsafe) public static var current: GEMMLibrary = decide(environment: ProcessInfo.processInfo.environment,
                                                    oneDNNHasJIT: repro_dnnl_sgemm_has_jit() != 0)

    public static func decide(environment: [String: String], oneDNNHasJIT: Bool) -> GEMMLibrary {
        if environment["REPRO_DNNL"] == "0" || environment["REPRO_GEMM"]?.lowercased() == "openblas" { return .openBLAS }
        return oneDNNHasJIT ? .oneDNN : .openBLAS
    }

    /// One line for `repro doctor` and the bench header.
    public static var summary: String {
        switch current {
        case .oneDNN: return "oneDNN \(DNNLConvolution.version) sgemm, ISA \(String(cString: repro_dnnl_isa())) (REPRO_GEMM=openblas for OpenBLAS)"
        case .openBLAS: return "OpenBLAS, \(BLASRuntime.shared.summary)"
        }
    }
}
