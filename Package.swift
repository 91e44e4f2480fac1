// swift-tools-version:6.0
import PackageDescription

// Swift 5 language mode everywhere: the kernels hand raw pointers to the worker pool's closures (parallelFor),
// which strict Sendable checking would force behind wrappers on every loop (see README, Architecture).
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]
let fast: [SwiftSetting] = v5 + [.unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "MedSegRepro",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "repro", targets: ["repro"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/CoreOffice/XMLCoder", from: "0.17.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .target(name: "CEngineSupport", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])], linkerSettings: [.linkedLibrary("dl")]),
        // niftilib from Debian's libnifti2-dev: its headers include each other by bare name from /usr/include/nifti,
        // and it ships no pkg-config file, hence a C target with the path rather than a system library.
        .target(name: "CNIfTI", cSettings: [.unsafeFlags(["-O2", "-I/usr/include/nifti"])],
                linkerSettings: [.linkedLibrary("nifti2"), .linkedLibrary("znz"), .linkedLibrary("z"), .linkedLibrary("m")]),
        .target(name: "CDNNL", cxxSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // The scale and the random generator shared by data generators, models, the engine and the statistics.
        .target(name: "Common", swiftSettings: fast),
        .target(name: "Engine", dependencies: ["Common", "COpenBLAS", "CEngineSupport", "CDNNL"], swiftSettings: fast),
        .target(name: "NN", dependencies: ["Engine"], swiftSettings: fast),
        .target(name: "Data", dependencies: ["Common", "CPNG", "CNIfTI", "ZIPFoundation", "XMLCoder"], swiftSettings: v5),
        .target(name: "Metrics", dependencies: ["Common"], swiftSettings: v5),
        .target(name: "Models", dependencies: ["NN", "Common"], swiftSettings: fast),
        .target(name: "Suite", dependencies: ["Models", "Data", "Metrics", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"), .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: v5),
        // TMC's rows and recipe, shared by its table and figure targets; the Suite itself knows no paper.
        .target(name: "TMC", dependencies: ["Suite"], swiftSettings: v5),
        // MOSMOS's backbones, recipe, rows and data, shared by its table targets.
        .target(name: "MOSMOS", dependencies: ["Suite"], swiftSettings: v5),
        .executableTarget(name: "repro", dependencies: ["Suite", "MOSMOS", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: v5),
        .executableTarget(name: "Table1_TMC", dependencies: ["Suite", "TMC"], swiftSettings: v5),
        .executableTarget(name: "Table2_Ablation", dependencies: ["Suite", "TMC"], swiftSettings: v5),
        .executableTarget(name: "Table2_BTCV", dependencies: ["Suite", "MOSMOS"], swiftSettings: v5),
        .executableTarget(name: "Table3_MMWHS", dependencies: ["Suite", "MOSMOS"], swiftSettings: v5),
        .executableTarget(name: "Table6_BRATS", dependencies: ["Suite", "MOSMOS"], swiftSettings: v5),
        .executableTarget(name: "Fig3_Qualitative", dependencies: ["Suite", "TMC"], swiftSettings: v5),
        .executableTarget(name: "Fig4_Heatmaps", dependencies: ["Suite", "TMC"], swiftSettings: v5),
        .executableTarget(name: "Bench", dependencies: ["NN", "Models"], path: "bench/Bench", swiftSettings: fast),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "NN"], resources: [.copy("Fixtures")], swiftSettings: v5),
        .testTarget(name: "NNTests", dependencies: ["NN", "Models", "Data"], swiftSettings: v5),
        .testTarget(name: "DataTests", dependencies: ["Data", "Metrics", "Common"], resources: [.copy("Fixtures")], swiftSettings: v5),
        .testTarget(name: "SuiteTests", dependencies: ["Suite", "TMC", "MOSMOS", "Engine", "NN", "Models", "Data", .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: v5),
    ]
)
