import Foundation
import COpenBLAS
import CEngineSupport

// OpenBLAS picks its GEMM kernel from the CPU model when it is loaded. Debian 12's OpenBLAS 0.3.21 does not know
// recent CPUs (an Intel Xeon of model 207, with AVX-512, among them) and falls back to its generic `Prescott` (SSE3)
// kernel there: sgemm 1024³ on one thread ran at 38 GFLOP/s against 180 with `SkylakeX`, and every table, test and
// benchmark ran at the slow rate. Three ways out were measured (README, "BLAS kernel"):
// - a current OpenBLAS (the scipy-openblas32 wheel, 0.3.34) picks SkylakeX itself but ran no faster than 0.3.21's
//   SkylakeX kernel on our shapes (146 against 180 GFLOP/s at 1024³, equal on the convolution shapes), and would
//   add a wheel and a symbol-prefix shim;
// - BLIS 0.9 (Debian) ran at 97 GFLOP/s at 1024³;
// - re-running OpenBLAS's own start-up selection with the kernel named, through its exported
//   gotoblas_dynamic_quit/_init, before the first BLAS call. This is what `OPENBLAS_CORETYPE` does at load time,
//   done when the engine first needs BLAS, so it works in every process (tables, tests, benchmarks) without a
//   re-exec. It is what we do.
// The rule is conservative: the engine overrides only a generic fallback (a pre-AVX kernel on a CPU with AVX2 or
// AVX-512), never a kernel the library chose knowingly, and never an `OPENBLAS_CORETYPE` the environment set (some
// machines set it because older OpenBLAS builds compute wrong results on their CPUs).

/// The CPU features that decide which BLAS kernel can run.
public struct CPUInfo: Equatable, Sendable {
    public enum Vendor: String, Sendable { case intel = "Intel", amd = "AMD", other }
    public var vendor: Vendor
    public var family: Int
    public var model: Int
    public var brand: String
    /// AVX with OS support for the ymm registers.
    public var avx: Bool
    /// AVX2 and FMA with OS support for the ymm registers.
    public var avx2: Bool
    /// AVX-512 F, BW, DQ and VL with OS support for the zmm and opmask registers (what SkylakeX kernels use).
    public var avx512: Bool

    public init(vendor: Vendor, family: Int, model: Int, brand: String = "", avx: Bool, avx2: Bool, avx512: Bool) {
        self.vendor = vendor; self.family = family; self.model = model; self.brand = brand
        self.avx = avx; self.avx2 = avx2; self.avx512 = avx512
    }

    public static let current: CPUInfo = {
        var c = repro_cpu_t()
        repro_cpu_read(&c)
        let brand = withUnsafeBytes(of: c.brand) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
        let ymm = c.os_ymm != 0, zmm = c.os_zmm != 0
        return CPUInfo(vendor: c.vendor == 1 ? .intel : (c.vendor == 2 ? .amd : .other), family: Int(c.family),
                       model: Int(c.model), brand: brand, avx: c.avx != 0 && ymm,
                       avx2: c.avx2 != 0 && c.fma != 0 && ymm,
                       avx512: c.avx512f != 0 && c.avx512bw != 0 && c.avx512dq != 0 && c.avx512vl != 0 && zmm)
    }()

    /// "AVX-512", "AVX2", "AVX" or "SSE".
    public var vectorExtension: String { avx512 ? "AVX-512" : (avx2 ? "AVX2" : (avx ? "AVX" : "SSE")) }

    /// One line naming the CPU, stored with every run (no commas: a run resumed elsewhere lists its CPUs comma-separated):
    /// "Intel(R) Xeon(R) Processor (Intel family 6 model 207 · AVX-512)".
    public var summary: String {
        "\(brand.isEmpty ? "unknown CPU" : brand) (\(vendor.rawValue) family \(family) model \(model) · \(vectorExtension))"
    }
}

/// What the engine does about OpenBLAS's kernel in this process.
public enum BLASKernelDecision: Equatable, Sendable {
    /// The library's own choice uses the CPU's vectors (or the CPU has nothing better): keep it.
    case keepLibraryChoice
    /// `OPENBLAS_CORETYPE` was set outside the engine: respected as it is.
    case respectEnvironment(String)
    /// The library fell back to a generic kernel on a CPU that has AVX2 or AVX-512: select this one.
    case reselect(String)
    /// As `reselect`, but the library exports no way to switch (not a DYNAMIC_ARCH OpenBLAS).
    case cannotReselect(wanted: String)
    /// The linked BLAS is not OpenBLAS.
    case notOpenBLAS

    /// The vector tier of an OpenBLAS x86 core name: 3 AVX-512, 2 AVX2 + FMA, 1 AVX, 0 none (a generic kernel).
    public static func tier(ofCore name: String) -> Int {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "excavator": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return 1
        default: return 0
        }
    }

    /// The kernel for a CPU's features. SkylakeX only on Intel: on other vendors' AVX-512 CPUs old OpenBLAS kernels
    /// are not known to be right, so they get the AVX2 kernel of their family.
    public static func bestCore(for cpu: CPUInfo) -> String? {
        if cpu.avx512 && cpu.vendor == .intel { return "SkylakeX" }
        if cpu.avx2 || cpu.avx512 { return cpu.vendor == .amd ? "Zen" : "Haswell" }
        return nil
    }

    /// The rule, as a function of the CPU, the core the library reports, the environment's `OPENBLAS_CORETYPE` and
    /// whether the library can switch. Only a generic fallback (tier 0) on a CPU with AVX2 or AVX-512 is replaced.
    public static func decide(cpu: CPUInfo, libraryCore: String?, environment: String?, canReselect: Bool) -> BLASKernelDecision {
        guard let core = libraryCore else { return .notOpenBLAS }
        if let e = environment, !e.isEmpty { return .respectEnvironment(e) }
        guard tier(ofCore: core) == 0, let best = bestCore(for: cpu) else { return .keepLibraryChoice }
        return canReselect ? .reselect(best) : .cannotReselect(wanted: best)
    }
}

/// The BLAS this process runs on, set up once before the first GEMM: one thread (the engine threads GEMMs itself;
/// see `sgemm`) and the kernel `BLASKernelDecision` chooses.
public struct BLASRuntime: Sendable {
    public let library: String
    public let config: String
    /// The core the library picked by itself at load time (or the environment's).
    public let coreAtLoad: String
    /// The core GEMMs run on now.
    public let core: String
    public let decision: BLASKernelDecision

    public static let shared: BLASRuntime = {
        openblas_set_num_threads(1)
        let cpu = CPUInfo.current
        let before = repro_blas_corename().map { String(cString: $0) }
        let env = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        let decision = BLASKernelDecision.decide(cpu: cpu, libraryCore: before, environment: env,
                                                 canReselect: repro_blas_can_reselect() != 0)
        switch decision {
        case .reselect(let core): _ = repro_blas_reselect(core)
        case .cannotReselect(let wanted):
            FileHandle.standardError.write(("warning: OpenBLAS runs its generic \(before ?? "?") kernel on this \(cpu.vectorExtension) CPU "
                + "and cannot switch kernels at run time; GEMMs run several times slower. Set OPENBLAS_CORETYPE=\(wanted) "
                + "if this OpenBLAS computes correctly with it on this CPU.\n").data(using: .utf8)!)
        default: break
        }
        let now = repro_blas_corename().map { String(cString: $0) }
        return BLASRuntime(library: repro_blas_library().map { String(cString: $0) } ?? "unknown",
                           config: repro_blas_config().map { String(cString: $0) } ?? "unknown",
                           coreAtLoad: before ?? "n/a", core: now ?? "n/a", decision: decision)
    }()

    /// One line for logs and headers, e.g. "OpenBLAS 0.3.21 … kernel SkylakeX (selected by the engine; the library chose Prescott)".
    public var summary: String {
        let why: String
        switch decision {
        case .keepLibraryChoice: why = "the library's choice"
        case .respectEnvironment(let e): why = "OPENBLAS_CORETYPE=\(e) from the environment"
        case .reselect: why = "selected by the engine for this CPU; the library chose \(coreAtLoad)"
        case .cannotReselect(let w): why = "generic fallback, \(w) wanted but the library cannot switch"
        case .notOpenBLAS: why = "not OpenBLAS"
        }
        return "\(config) (\(library)), kernel \(core) (\(why))"
    }

    /// The widest vector extension the engine's C support code was compiled for. No target sets -march or a target
    /// CPU, so the Swift kernels are built for the same baseline x86-64.
    public static var buildSIMDBits: Int { Int(repro_build_simd_bits()) }
}
