import Foundation
import CEngineSupport

/// What `repro doctor` and the benchmark print first: the machine and the kernels this process runs on, and two
/// rates measured in a few seconds, so that a slow run can be traced to its cause (a generic BLAS kernel, a busy
/// machine, a binary built without AVX) before anyone reads its step times.
public enum MachineReport {
    public static func header() -> [String] {
        let cpu = CPUInfo.current
        let blas = BLASRuntime.shared
        return [
            "CPU      \(cpu.brand.isEmpty ? "unknown" : cpu.brand), \(cpu.vendor.rawValue) family \(cpu.family) model \(cpu.model), \(cpu.vectorExtension)",
            "GEMM     \(GEMMLibrary.summary)",
            "BLAS     \(blas.summary)\(GEMMLibrary.current == .openBLAS ? "" : " (fallback)")",
            "conv     \(DNNLConvolution.summary)",
            "threads  \(Threads.count) (REPRO_THREADS, else SLURM_CPUS_PER_TASK, else all cores)",
            "SIMD     Swift code built for \(BLASRuntime.buildSIMDBits)-bit vectors; elementwise C kernels run at \(repro_vector_kernel_bits()) bits (picked at load time)",
        ]
    }

    /// GFLOP/s of the engine's sgemm at 1024³ and of one Conv3d layer (32→32, 3×3×3, batch 2 at 24³, forward and
    /// both gradients), each the median of a few repetitions.
    public static func rates() -> [String] {
        func seconds(_ reps: Int, _ body: () -> Void) -> Double {
            body()
            var times: [Double] = []
            for _ in 0..<reps {
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            }
            return times.sorted()[reps / 2]
        }
        var rng = RNG(seed: 1)
        let n = 1024
        let a = Tensor.randn([n, n], rng: &rng), b = Tensor.randn([n, n], rng: &rng), c = Tensor.empty([n, n])
        let g = seconds(5) { sgemm(false, false, n, n, n, 1, a.ptr, n, b.ptr, n, 0, c.ptr, n) }
        let x = Tensor.randn([2, 32, 24, 24, 24], rng: &rng, requiresGrad: true)
        let w = Tensor.randn([32, 32, 3, 3, 3], std: 0.05, rng: &rng, requiresGrad: true)
        let v = seconds(5) {
            x.zeroGrad(); w.zeroGrad()
            Tensor.conv3d(x, w, padding: 1).sum().backward()
        }
        let convFlops = 3 * 2 * Double(2 * 32 * 24 * 24 * 24 * 32 * 27)
        return [
            String(format: "sgemm    %.0f GFLOP/s (1024³, engine sgemm on %d threads)", 2 * Double(n * n * n) / g * 1e-9, Threads.count),
            String(format: "conv3d   %.0f GFLOP/s, %.1f ms (32→32, 3³, batch 2 at 24³, forward + both gradients)", convFlops / v * 1e-9, v * 1e3),
        ]
    }
}
