import XCTest
import CDNNL
@testable import Engine

/// The BLAS kernel rule on CPUs we cannot run on: a function of the CPU's features, the core the library reports,
/// the environment's OPENBLAS_CORETYPE and whether the library can switch.
final class BLASKernelTests: XCTestCase {
    let xeon207 = CPUInfo(vendor: .intel, family: 6, model: 207, avx: true, avx2: true, avx512: true)
    let haswell = CPUInfo(vendor: .intel, family: 6, model: 63, avx: true, avx2: true, avx512: false)
    let zen4 = CPUInfo(vendor: .amd, family: 25, model: 97, avx: true, avx2: true, avx512: true)
    let zen2 = CPUInfo(vendor: .amd, family: 23, model: 49, avx: true, avx2: true, avx512: false)
    let oldAtom = CPUInfo(vendor: .intel, family: 6, model: 28, avx: false, avx2: false, avx512: false)
    let sandy = CPUInfo(vendor: .intel, family: 6, model: 42, avx: true, avx2: false, avx512: false)

    func decide(_ cpu: CPUInfo, _ core: String?, env: String? = nil, can: Bool = true) -> BLASKernelDecision {
        BLASKernelDecision.decide(cpu: cpu, libraryCore: core, environment: env, canReselect: can)
    }

    func testGenericFallbackOnAnAVX512XeonBecomesSkylakeX() {
        // Debian 12's OpenBLAS 0.3.21 on the Xeon of model 207: Prescott, 9× slower.
        XCTAssertEqual(decide(xeon207, "Prescott"), .reselect("SkylakeX"))
        XCTAssertEqual(decide(xeon207, "Core2"), .reselect("SkylakeX"))
        XCTAssertEqual(decide(xeon207, "Nehalem"), .reselect("SkylakeX"))
        XCTAssertEqual(decide(xeon207, "Unknown"), .reselect("SkylakeX"))
    }

    func testAnOPENBLASCORETYPEFromTheEnvironmentIsNeverOverridden() {
        XCTAssertEqual(decide(xeon207, "Haswell", env: "Haswell"), .respectEnvironment("Haswell"))
        // Even a generic kernel named by the environment stays: it may be set because others miscompute there.
        XCTAssertEqual(decide(xeon207, "Prescott", env: "Prescott"), .respectEnvironment("Prescott"))
        XCTAssertEqual(decide(zen4, "Zen", env: "Zen"), .respectEnvironment("Zen"))
        // An empty variable is unset for OpenBLAS too.
        XCTAssertEqual(decide(xeon207, "Prescott", env: ""), .reselect("SkylakeX"))
    }

    func testAKernelTheLibraryChoseKnowinglyIsKept() {
        for core in ["SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen", "Sandybridge"] {
            XCTAssertEqual(decide(xeon207, core), .keepLibraryChoice, core)
        }
        XCTAssertEqual(decide(zen4, "Zen"), .keepLibraryChoice)
    }

    func testAVX2CPUsGetTheirFamilysAVX2Kernel() {
        XCTAssertEqual(decide(haswell, "Prescott"), .reselect("Haswell"))
        XCTAssertEqual(decide(zen2, "Prescott"), .reselect("Zen"))
        // AMD's AVX-512 CPUs get the AVX2 kernel: old SkylakeX kernels are not known to be right there.
        XCTAssertEqual(decide(zen4, "Barcelona"), .reselect("Zen"))
    }

    func testCPUsWithoutAVX2KeepWhatTheLibraryChose() {
        XCTAssertEqual(decide(oldAtom, "Atom"), .keepLibraryChoice)
        XCTAssertEqual(decide(oldAtom, "Prescott"), .keepLibraryChoice)
        XCTAssertEqual(decide(sandy, "Prescott"), .keepLibraryChoice)
    }

    func testALibraryThatCannotSwitchIsReportedAndNotOpenBLASIsLeftAlone() {
        XCTAssertEqual(decide(xeon207, "Prescott", can: false), .cannotReselect(wanted: "SkylakeX"))
        XCTAssertEqual(decide(xeon207, nil), .notOpenBLAS)
    }

    /// On this machine, whatever its CPU: GEMMs never run a generic kernel where the CPU has AVX2 (unless the
    /// environment names one), and the process environment is left as it was.
    func testThisProcessRunsTheKernelTheRuleChose() {
        let env = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        let blas = BLASRuntime.shared
        XCTAssertEqual(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], env)
        switch blas.decision {
        case .reselect(let core): XCTAssertEqual(blas.core.lowercased(), core.lowercased())
        case .keepLibraryChoice, .respectEnvironment: XCTAssertEqual(blas.core, blas.coreAtLoad)
        case .cannotReselect, .notOpenBLAS: break
        }
        if CPUInfo.current.avx2 && (env ?? "").isEmpty, case .keepLibraryChoice = blas.decision {
            XCTAssertGreaterThan(BLASKernelDecision.tier(ofCore: blas.core), 0, blas.summary)
        }
        // The kernel in use computes: a product against a direct sum.
        let a = Tensor((0..<12).map { Float($0) }, shape: [3, 4]), b = Tensor((0..<8).map { Float($0) - 3 }, shape: [4, 2])
        let c = Tensor.empty([3, 2])
        sgemm(false, false, 3, 2, 4, 1, a.ptr, 4, b.ptr, 2, 0, c.ptr, 2)
        for i in 0..<3 { for j in 0..<2 {
            XCTAssertEqual(c.ptr[i * 2 + j], (0..<4).map { a.ptr[i * 4 + $0] * b.ptr[$0 * 2 + j] }.reduce(0, +))
        } }
    }

    /// Products go to oneDNN only where its sgemm has a JIT kernel, and either switch keeps them on OpenBLAS.
    func testGEMMLibraryChoice() {
        XCTAssertEqual(GEMMLibrary.decide(environment: [:], oneDNNHasJIT: true), .oneDNN)
        XCTAssertEqual(GEMMLibrary.decide(environment: [:], oneDNNHasJIT: false), .openBLAS)
        XCTAssertEqual(GEMMLibrary.decide(environment: ["REPRO_GEMM": "openblas"], oneDNNHasJIT: true), .openBLAS)
        XCTAssertEqual(GEMMLibrary.decide(environment: ["REPRO_DNNL": "0"], oneDNNHasJIT: true), .openBLAS)
        XCTAssertEqual(GEMMLibrary.decide(environment: ["REPRO_DNNL": "1"], oneDNNHasJIT: true), .oneDNN)
    }

    /// Both libraries on products with transposes, odd sizes and beta ≠ 0 (the engine's backward passes), against
    /// a Float64 sum; the largest is one of the ViT's shapes, which `sgemm` splits over threads.
    func testBothGEMMLibrariesComputeTheSameProducts() {
        let saved = GEMMLibrary.current
        defer { GEMMLibrary.current = saved }
        for library in repro_dnnl_sgemm_has_jit() != 0 ? [GEMMLibrary.oneDNN, .openBLAS] : [.openBLAS] {
        GEMMLibrary.current = library
        var rng = RNG(seed: 3)
        for (m, n, k) in [(7, 5, 3), (33, 17, 65), (130, 70, 9), (2048, 192, 64)] {
            for transA in [false, true] { for transB in [false, true] {
                let a = Tensor.randn([m * k], rng: &rng), b = Tensor.randn([k * n], rng: &rng), c0 = Tensor.randn([m * n], rng: &rng)
                let c = Tensor(c0.array, shape: [m * n])
                sgemm(transA, transB, m, n, k, 0.5, a.ptr, transA ? m : k, b.ptr, transB ? k : n, 2, c.ptr, n)
                for i in 0..<m { for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k {
                        s += Double(transA ? a.ptr[p * m + i] : a.ptr[i * k + p]) * Double(transB ? b.ptr[j * k + p] : b.ptr[p * n + j])
                    }
                    XCTAssertEqual(Double(c.ptr[i * n + j]), 0.5 * s + 2 * Double(c0.ptr[i * n + j]), accuracy: 1e-4 * Double(k),
                                   "\(m)×\(n)×\(k) transA \(transA) transB \(transB) on \(library)")
                }}
            }}
        }
        }
    }
}
