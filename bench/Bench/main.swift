// `make bench`: training-step times of reference models on this engine and, with `--torch PYTHON`, on PyTorch
// in the same run (bench/torch_bench.py builds the same architectures), plus raw kernel rates.
//
//   Bench [--json PATH] [--torch PYTHON] [--warmup N] [--iters N] [--only CASE|kernels] [--no-kernels] [--cpu]
//
// A step is zero grad, forward, loss, backward, Adam step; the reported time is the median over `iters` steps
// after `warmup` untimed ones. Engine and torch for one case run back to back (never at the same time), so both
// see the same machine load.
//
// JSON (`--json`): a list of objects {case, engine_ms, torch_ms, ratio}, ratio = engine/torch, torch_ms and ratio
// null without torch. Extra keys:
//   threads  threads both sides used (the engine's Threads.count, torch.set_num_threads)
//   load1    1-minute load average when the case started (the machine is shared; read the times against it).
//            It counts this benchmark's own threads too: about 1.5–2 on an otherwise idle two-core machine.
//   clock    "wall", or "cpu" for a --cpu run (process CPU time on both sides)
//   gflops   kernel rows only: achieved GFLOP/s
//   vs_sgemm kernel rows only: gflops as a fraction of the 1024³ cblas rate
// Kernel rows: sgemm_cblas_* call cblas_sgemm directly on OpenBLAS's own threads (as many as the engine's);
// sgemm_engine_* go through the engine's `sgemm`, which runs OpenBLAS serially and splits large products over
// its own threads; conv2d_* time the engine's convolution, forward (no graph) or backward (dx and dW).
//
// `--cpu` times process CPU time instead of wall time, on both sides (torch_bench.py --cpu). With one thread
// (REPRO_THREADS=1) it measures the work a step takes whatever the machine's load, for comparing kernel changes
// and the two engines on a busy machine; with more threads it also counts time lost waiting.
import Foundation
import COpenBLAS
import Engine
import NN
import Models

// MARK: - Options

struct Options {
    var json: String?
    var torch: String?
    var warmup = 2
    var iters = 7
    var only: String?
    var kernels = true
    var cpu = false
    /// Engine and torch timed alternately this many times per case; the medians of the rounds are reported. On a
    /// shared machine the load drifts over a minute; alternating gives both sides the same drift.
    var rounds = 3

    init(_ args: [String]) {
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func count() -> Int {
            let v = value()
            guard let n = Int(v), n >= 0 else { fail("\(args[i - 1]) needs a non-negative integer, got \(v)") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--json": json = value()
            case "--torch": torch = value()
            case "--warmup": warmup = count()
            case "--iters": iters = Swift.max(1, count())
            case "--only": only = value()
            case "--no-kernels": kernels = false
            case "--cpu": cpu = true
            case "--rounds": rounds = Swift.max(1, count())
            case "-h", "--help":
                print("Bench [--json PATH] [--torch PYTHON] [--warmup N] [--iters N] [--only CASE|kernels] [--no-kernels] [--cpu] [--rounds N]")
                exit(0)
            default: fail("unknown argument \(args[i])")
            }
            i += 1
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Bench: \(message)\n".utf8))
    exit(2)
}

// MARK: - Timing

/// Set from `--cpu` before anything is timed.
nonisolated(unsafe) var cpuClock = false

/// Milliseconds of wall time, or with `--cpu` of this process's CPU time.
func now() -> Double {
    var ts = timespec()
    clock_gettime(cpuClock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Median milliseconds of `body` over `iters` calls after `warmup` untimed ones.
func timeMedian(warmup: Int, iters: Int, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<iters {
        let t0 = now()
        body()
        times.append(now() - t0)
    }
    return median(times)
}

func loadAverage() -> Double? {
    guard let s = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
          let first = s.split(separator: " ").first else { return nil }
    return Double(first)
}

// MARK: - Models (the same architectures as torch_bench.py)

func convBNReLU(_ cin: Int, _ cout: Int) -> [Layer] {
    [Conv2d(cin, cout, kernelSize: 3, padding: 1), BatchNorm2d(cout, fusedReLU: true)]
}

/// Base width w, `depth` down-steps, two Conv-BN-ReLU per level, max-pool down, 2×2 transposed-conv up, 1×1 head.
final class BenchUNet: Module {
    var down: [Sequential]
    var ups: [ConvTranspose2d]
    var up: [Sequential]
    var head: Conv2d

    init(inChannels: Int, width w: Int, depth: Int = 4, outChannels: Int = 1) {
        let chans = (0...depth).map { w << $0 }
        var c = inChannels
        down = chans.map { ch in
            defer { c = ch }
            return Sequential(convBNReLU(c, ch) + convBNReLU(ch, ch))
        }
        let levels = Array((0..<depth).reversed())
        ups = levels.map { ConvTranspose2d(chans[$0 + 1], chans[$0], kernelSize: 2, stride: 2) }
        up = levels.map { Sequential(convBNReLU(2 * chans[$0], chans[$0]) + convBNReLU(chans[$0], chans[$0])) }
        head = Conv2d(chans[0], outChannels, kernelSize: 1)
    }

    func callAsFunction(_ input: Tensor) -> Tensor {
        var skips: [Tensor] = []
        var x = input
        for (i, block) in down.enumerated() {
            x = block(x)
            if i < down.count - 1 {
                skips.append(x)
                x = Tensor.maxPool2d(x, kernel: 2)
            }
        }
        for (u, block) in zip(ups, up) {
            x = block(Tensor.concat([skips.removeLast(), u(x)], axis: 1))
        }
        return head(x)
    }
}

/// Pre-norm encoder layers as nn.TransformerEncoderLayer(norm_first=True, activation="gelu", dropout=0).
final class BenchViT: Module {
    var blocks: [TransformerEncoderLayer]

    init(dim: Int = 192, heads: Int = 3, depth: Int = 4) {
        blocks = (0..<depth).map { _ in
            TransformerEncoderLayer(dim: dim, heads: heads, mlpDim: 4 * dim, dropout: 0, activation: .gelu, normFirst: true)
        }
    }

    func callAsFunction(_ x: Tensor) -> Tensor { blocks.reduce(x) { $1($0) } }
}

// MARK: - Cases

struct Case {
    let name: String
    /// Builds the model and returns one training step.
    let make: () -> () -> Void
}

func trainingStep(_ model: Module, optimizer: ([Tensor]) -> Optimizer = { Adam($0, lr: 1e-3) },
                  _ forward: @escaping () -> Tensor, _ loss: @escaping (Tensor) -> Tensor) -> () -> Void {
    let opt = optimizer(model.trainableParameters)
    return {
        opt.zeroGrad()
        let l = loss(forward())
        l.backward()
        opt.step()
    }
}

func segmentationCase(_ name: String, inChannels: Int, width: Int, batch: Int, size: Int) -> Case {
    Case(name: name) {
        var rng = RNG(seed: 1)
        let model = BenchUNet(inChannels: inChannels, width: width)
        let x = Tensor.randn([batch, inChannels, size, size], std: 1, rng: &rng)
        let mask = Tensor.rand([batch, 1, size, size], lo: 0, hi: 1, rng: &rng).greater(0.5)
        return trainingStep(model, { model(x) }) { Loss.bceWithLogits($0, mask) }
    }
}

/// A 3D U-Net stage: two (Conv3d 3×3×3 + InstanceNorm3d + LeakyReLU(0.01)), norm and activation fused.
final class Stage3d: Module {
    var body: Sequential
    init(_ c: Int) {
        body = Sequential((0..<2).flatMap { _ in
            [Conv3d(c, c, kernelSize: 3, padding: 1), InstanceNorm3d(c, affine: true, fusedLeakyReLU: 0.01)] as [Layer]
        })
    }
    func callAsFunction(_ x: Tensor) -> Tensor { body(x) }
}

/// One 3D layer (or stage), batch 2: forward, both gradients (the input's too) and an Adam step; loss mean(y²).
func layerCase(_ name: String, _ shape: [Int], _ make: @escaping () -> (Module, (Tensor) -> Tensor)) -> Case {
    Case(name: name) {
        var rng = RNG(seed: 1)
        let (module, forward) = make()
        let x = Tensor.randn(shape, std: 1, rng: &rng, requiresGrad: true)
        return trainingStep(module, { x.zeroGrad(); return forward(x) }) { ($0 * $0).mean() }
    }
}

func single(_ l: Layer) -> (Module, (Tensor) -> Tensor) { (l, { l($0) }) }

let layer3dCases: [Case] = [(1, 16, 48), (8, 8, 48), (16, 16, 48), (32, 32, 24), (64, 64, 12), (128, 128, 6)].map { cin, cout, size in
    layerCase("conv3d_\(cin)to\(cout)_\(size)", [2, cin, size, size, size]) { single(Conv3d(cin, cout, kernelSize: 3, padding: 1)) }
} + [
    layerCase("convT3d_64to32_12", [2, 64, 12, 12, 12]) { single(ConvTranspose3d(64, 32, kernelSize: 2, stride: 2)) },
    layerCase("inorm_lrelu3d_32_48", [2, 32, 48, 48, 48]) {
        single(InstanceNorm3d(32, affine: true, fusedLeakyReLU: 0.01))
    },
    layerCase("unet3d_stage_32_48", [2, 32, 48, 48, 48]) { let s = Stage3d(32); return (s, { s($0) }) },
]

/// MOSMOS's networks: AdamW and cross-entropy over 14 classes on random labels.
func multiclassCase(_ name: String, _ shape: [Int], _ make: @escaping () -> (Module, (Tensor) -> Tensor)) -> Case {
    Case(name: name) {
        var rng = RNG(seed: 1)
        let (model, forward) = make()
        let x = Tensor.randn(shape, std: 1, rng: &rng)
        let labels = (0..<(shape[0] * shape.dropFirst(2).reduce(1, *))).map { _ in rng.int(14) }
        return trainingStep(model, optimizer: { AdamW($0, lr: 1e-3) }, { forward(x) }) { Loss.crossEntropy($0, labels) }
    }
}

let mosmosCases: [Case] = [32, 48].map { size in
    multiclassCase("unetr_f8_h192_b2_\(size)", [2, 1, size, size, size]) {
        let m = UNETR(.benchmark(imageSize: size))
        return (m, { m($0) })
    }
} + [
    multiclassCase("resnet50_unet_b8_1x128", [8, 1, 128, 128]) { let m = ResNetUNet(); return (m, { m($0) }) },
]

let cases: [Case] = [
    segmentationCase("unet16_b8_1x64", inChannels: 1, width: 16, batch: 8, size: 64),
    segmentationCase("unet16_b8_1x128", inChannels: 1, width: 16, batch: 8, size: 128),
    segmentationCase("unet64_b2_3x224", inChannels: 3, width: 64, batch: 2, size: 224),
    Case(name: "vit192_4blocks_b8_t256") {
        var rng = RNG(seed: 1)
        let model = BenchViT()
        let x = Tensor.randn([8, 256, 192], std: 1, rng: &rng)
        let target = Tensor.randn([8, 256, 192], std: 1, rng: &rng)
        return trainingStep(model, { model(x) }) { Loss.mse($0, target) }
    },
] + layer3dCases + mosmosCases

/// One training step of a cell at paper scale, to size cluster jobs (README, "Running on a cluster": `--time` and
/// `--mem`). Run only when named with --only: each step takes seconds and gigabytes.
let paperCases: [Case] = [
    multiclassCase("paper_unetr_b2_96", [2, 1, 96, 96, 96]) { let m = UNETR(.paper); return (m, { m($0) }) },
    multiclassCase("paper_resnet50_unet_b96_1x96", [96, 1, 96, 96]) { let m = ResNetUNet(); return (m, { m($0) }) },
    Case(name: "paper_tmc_b8_1x224") {
        // TMC at the paper's size (Swin-T, LViT base 64, 224²) with MiniLM-wide text features of 24 tokens.
        var rng = RNG(seed: 1)
        let model = TMC(config: .of(.paper), inChannels: 1)
        let (b, t, d) = (8, 24, 384)
        let x = Tensor.randn([b, 1, 224, 224], std: 1, rng: &rng)
        let mask = Tensor.rand([b, 1, 224, 224], lo: 0, hi: 1, rng: &rng).greater(0.5)
        let text = TextInput(tokenIds: (0..<b).map { i in (0..<t).map { 100 + i + $0 } },
                             features: Tensor.randn([b, t, d], std: 1, rng: &rng),
                             stageFeatures: (0..<4).map { _ in Tensor.randn([b, t, d], std: 1, rng: &rng) })
        var align: Tensor?
        return trainingStep(model, { let out = model(x, text: text); align = out.auxLosses["align"]; return out.logits }) {
            Loss.bceWithLogits($0, mask) + align! * 0.1
        }
    },
]
let allCases = cases + paperCases

// MARK: - PyTorch side

/// bench/torch_bench.py next to this file's directory, or under the working directory.
func torchScript() -> String {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let beside = here.appendingPathComponent("torch_bench.py").path
    if FileManager.default.fileExists(atPath: beside) { return beside }
    return "bench/torch_bench.py"
}

/// Median step milliseconds of one case under PyTorch, or nil (with a message) if the run fails.
func torchTime(python: String, name: String, options: Options) -> Double? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [torchScript(), "--threads", String(Threads.count), "--warmup", String(options.warmup),
                   "--iters", String(options.iters), "--only", name] + (options.cpu ? ["--cpu"] : [])
    let out = Pipe()
    p.standardOutput = out
    do { try p.run() } catch {
        print("  torch: cannot run \(python): \(error)")
        return nil
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0,
          let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let ms = (obj[name] as? NSNumber)?.doubleValue else {
        print("  torch: no result for \(name) (exit \(p.terminationStatus)): \(String(decoding: data, as: UTF8.self))")
        return nil
    }
    return ms
}

// MARK: - Kernel rates

struct KernelRow {
    let name: String
    let ms: Double
    let gflops: Double
}

/// `calls` row-major products [m×k]·[k×n], through cblas on OpenBLAS's threads or through the engine's `sgemm`.
func sgemmRow(_ name: String, m: Int, n: Int, k: Int, calls: Int, cblas: Bool, options: Options) -> KernelRow {
    var rng = RNG(seed: 2)
    let a = Tensor.randn([m, k], std: 1, rng: &rng), b = Tensor.randn([k, n], std: 1, rng: &rng)
    let c = Tensor.empty([m, n])
    let saved = openblas_get_num_threads()
    if cblas { openblas_set_num_threads(Int32(Threads.count)) }
    defer { openblas_set_num_threads(saved) }
    // OpenBLAS's own threads sleep between the engine's serial calls and take a few calls to wake.
    let ms = timeMedian(warmup: cblas ? 6 : 2, iters: Swift.max(options.iters, 5)) {
        for _ in 0..<calls {
            if cblas {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a.ptr, Int32(k),
                            b.ptr, Int32(n), 0, c.ptr, Int32(n))
            } else {
                sgemm(false, false, m, n, k, 1, a.ptr, k, b.ptr, n, 0, c.ptr, n)
            }
        }
    }
    return KernelRow(name: name, ms: ms, gflops: 2 * Double(m * n * k * calls) / (ms * 1e6))
}

/// Forward (without graph) and backward (dx and dW, the forward excluded) of one 3×3 convolution layer.
func convRows(n: Int, c: Int, size: Int, options: Options) -> [KernelRow] {
    var rng = RNG(seed: 3)
    let x = Tensor.randn([n, c, size, size], std: 1, rng: &rng)
    let w = Tensor.randn([c, c, 3, 3], std: 0.1, rng: &rng)
    let flops = 2 * Double(n * c * size * size * c * 9)
    let label = "x[\(n),\(c),\(size),\(size)]_w[\(c),\(c),3,3]"
    let iters = Swift.max(options.iters, 5)
    let fwd = timeMedian(warmup: 2, iters: iters) { _ = withoutGrad { Tensor.conv2d(x, w, padding: 1) } }
    x.requiresGrad = true
    w.requiresGrad = true
    let seed = Tensor.randn([n, c, size, size], std: 1, rng: &rng)
    var times: [Double] = []
    for i in 0..<(2 + iters) {
        x.zeroGrad(); w.zeroGrad()
        let y = Tensor.conv2d(x, w, padding: 1)
        let t0 = now()
        y.backward(seed)
        if i >= 2 { times.append(now() - t0) }
    }
    let bwd = median(times)
    return [KernelRow(name: "conv2d_fwd_\(label)", ms: fwd, gflops: flops / (fwd * 1e6)),
            KernelRow(name: "conv2d_bwd_\(label)", ms: bwd, gflops: 2 * flops / (bwd * 1e6))]
}

// MARK: - Main

func fmt(_ v: Double?, _ digits: Int = 1) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }

let options = Options(CommandLine.arguments)
cpuClock = options.cpu
if let only = options.only, only != "kernels", !allCases.contains(where: { $0.name == only }) {
    fail("unknown case \(only); cases: \(allCases.map { $0.name }.joined(separator: ", ")), kernels")
}
for line in MachineReport.header() + MachineReport.rates() { print(line) }
print("threads \(Threads.count), warm-up \(options.warmup), timed steps \(options.iters), load \(fmt(loadAverage(), 2))"
      + (options.cpu ? ", CPU time" : ""))
var rows: [[String: Any]] = []

print("\(pad("case", 26)) \(pad("engine ms", 10)) \(pad("torch ms", 10)) ratio   load")
for c in (options.only == nil ? cases : allCases) where options.only == nil || options.only == c.name {
    let load = loadAverage()
    let step = c.make()
    var engineRounds: [Double] = [], torchRounds: [Double] = []
    for _ in 0..<options.rounds {
        engineRounds.append(timeMedian(warmup: options.warmup, iters: options.iters, step))
        if let t = options.torch.flatMap({ torchTime(python: $0, name: c.name, options: options) }) { torchRounds.append(t) }
    }
    let engine = median(engineRounds)
    let torch: Double? = torchRounds.isEmpty ? nil : median(torchRounds)
    let ratio = torch.map { engine / $0 }
    print("\(pad(c.name, 26)) \(pad(fmt(engine), 10)) \(pad(fmt(torch), 10)) \(pad(fmt(ratio, 2), 7)) \(fmt(load, 2))")
    rows.append(["case": c.name, "engine_ms": engine, "torch_ms": torch as Any? ?? NSNull(), "ratio": ratio as Any? ?? NSNull(),
                 "threads": Threads.count, "rounds": options.rounds,
                 "engine_rounds_ms": engineRounds, "torch_rounds_ms": torchRounds, "load1": load as Any? ?? NSNull(), "clock": options.cpu ? "cpu" : "wall"])
}

if options.kernels && (options.only == nil || options.only == "kernels") {
    let load = loadAverage()
    var kernels: [KernelRow] = []
    for cblas in [true, false] {
        let api = cblas ? "cblas" : "engine"
        kernels.append(sgemmRow("sgemm_\(api)_1024x1024x1024", m: 1024, n: 1024, k: 1024, calls: 1, cblas: cblas, options: options))
        // One image of the conv2d row below as a GEMM: [Cout, Cin·9] · [Cin·9, H·W], eight images.
        kernels.append(sgemmRow("sgemm_\(api)_32x4096x288_x8", m: 32, n: 4096, k: 288, calls: 8, cblas: cblas, options: options))
    }
    kernels += convRows(n: 8, c: 32, size: 64, options: options)
    let peak = kernels[0].gflops
    print("\n\(pad("kernel", 46)) \(pad("ms", 8)) \(pad("GFLOP/s", 8)) of sgemm")
    for k in kernels {
        print("\(pad(k.name, 46)) \(pad(fmt(k.ms, 2), 8)) \(pad(fmt(k.gflops), 8)) \(fmt(k.gflops / peak, 2))")
        rows.append(["case": k.name, "engine_ms": k.ms, "torch_ms": NSNull(), "ratio": NSNull(), "gflops": k.gflops,
                     "vs_sgemm": k.gflops / peak, "threads": Threads.count, "load1": load as Any? ?? NSNull(),
                     "clock": options.cpu ? "cpu" : "wall"])
    }
}

if let path = options.json {
    do {
        let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        print("wrote \(path)")
    } catch {
        fail("cannot write \(path): \(error)")
    }
}

