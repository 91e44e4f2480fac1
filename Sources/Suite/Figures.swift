import Foundation
import ArgumentParser
import Engine
import NN
import Models
import Data
import Metrics

// The figure targets (TMC Fig. 3 and Fig. 4) train nothing. They find a table's finished runs in the store, rebuild
// each model with the factory that trained it (the rows the figure names, e.g. TMCMethods), load the weights selected on validation (`best.*`), and
// pass the chosen test images through it in the very batches of the run's test pass, so that every Dice printed
// beside a figure is the Dice the store holds for that image. What is drawn is composed from the pure raster helpers
// further down (colour maps, overlays, a bitmap font, the montage grid), which the tests check pixel by pixel.

// MARK: - Options and entry point

/// The tables' options, plus how many test images a figure shows per data set.
public struct FigureOptions: ParsableArguments {
    @OptionGroup public var table: TableOptions
    @Option(help: "Test images shown per data set (chosen deterministically among those with a lesion).")
    public var cases: Int = 4
    public init() {}
}

/// What a figure target declares: the paper's figure, the Table 1 rows it shows, the data sets.
public struct FigureSpec {
    public var paper: String
    public var table: String
    /// Names Reports/<target>.md and Reports/figures/<target>.png.
    public var target: String
    public var title: String
    /// The literate page, relative to the repository root.
    public var page: String
    /// Where the figure is in the paper, e.g. "§4.4, Fig. 3".
    public var source: String
    /// The paper's caption, quoted on the report page.
    public var caption: String
    /// The Table 1 rows this figure reads, in the order it shows them.
    public var methods: [Method]
    public var datasets: [DatasetSpec]
    /// The make target that trains the runs the figure reads.
    public var runCommand: String

    public init(paper: String, table: String, target: String, title: String, page: String,
                source: String, caption: String, methods: [Method], datasets: [DatasetSpec], runCommand: String) {
        self.paper = paper; self.table = table; self.target = target; self.title = title; self.page = page
        self.source = source; self.caption = caption; self.methods = methods; self.datasets = datasets
        self.runCommand = runCommand
    }
}

/// A rendered figure: the montage and the Markdown that explains it (placed under the image on the report page).
public struct FigureDrawing {
    public var image: Image2D
    public var body: [String]
    public init(image: Image2D, body: [String]) { self.image = image; self.body = body }
}

public enum FigureMain {
    /// Parses the command line, finds the runs, calls `render`, writes the PNG and the report page.
    public static func run(_ spec: FigureSpec, arguments: [String] = Array(CommandLine.arguments.dropFirst()),
                           render: (FigureSession) throws -> FigureDrawing) {
        let options: FigureOptions
        do { options = try FigureOptions.parse(arguments) } catch { FigureOptions.exit(withError: error) }
        do {
            try execute(spec, options, render: render)
        } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
            exit(1)
        }
    }

    static func execute(_ spec: FigureSpec, _ o: FigureOptions, render: (FigureSession) throws -> FigureDrawing) throws {
        let t = o.table
        if t.check || t.recordReference {
            print("\(spec.target): a figure holds no numbers of its own to check or record (its Dice values are Table 1's, checked by Table1_TMC --check); nothing to do.")
            return
        }
        guard let scale = Scale(rawValue: t.scale) else { throw RunError("unknown --scale \(t.scale); use smoke, proxy or paper") }
        guard o.cases >= 1 else { throw RunError("--cases must be at least 1") }
        for name in t.only where !spec.methods.contains(where: { $0.row.id == name }) {
            throw RunError("--only \(name): \(spec.target) shows no such method; it shows \(spec.methods.map(\.row.id).joined(separator: ", "))")
        }
        let project = try ProjectPaths.locate()
        let dbURL = URL(fileURLWithPath: t.db, relativeTo: project.root).standardizedFileURL
        let paths = project.rendering(store: dbURL)
        guard FileManager.default.fileExists(atPath: dbURL.path) else {
            throw RunError("no result store at \(dbURL.path). `\(FigureSession.command(spec, t, scale))` trains Table 1 and creates it.")
        }
        let store = try ResultStore.open(dbURL)
        let session = try FigureSession(spec: spec, options: o, paths: paths, store: store, scale: scale)
        guard !session.planned.isEmpty else { throw RunError(session.nothingAvailable) }
        if !session.missing.isEmpty { session.warn(session.missingMessage) }
        let drawing = try render(session)
        guard !session.used.isEmpty else {
            throw RunError("\(spec.target): none of the stored runs could be loaded: "
                           + session.missing.map { "\($0.method) · \($0.dataset): \($0.reason)" }.joined(separator: "; "))
        }
        let png = paths.figures.appendingPathComponent("\(spec.target).png")
        try FileManager.default.createDirectory(at: paths.figures, withIntermediateDirectories: true)
        try writePNG(drawing.image, to: png)
        let page = paths.report(target: spec.target)
        try FigurePage.render(session, drawing).write(to: page, atomically: true, encoding: .utf8)
        print("figure: \(png.path)")
        print("report: \(page.path)")
    }
}

// MARK: - Runs and models

/// A stored run the figure will read.
public struct PlannedRun {
    public let method: Method
    public let dataset: String
    public let record: RunRecord
    public let checkpoint: URL
}

/// A (method, data set) the figure wanted but could not show, and why.
public struct MissingRun: Equatable {
    public let method: String
    public let dataset: String
    public let reason: String
}

/// A run that was rebuilt and evaluated for the figure.
public struct UsedRun {
    public let method: Method
    public let dataset: String
    public let record: RunRecord
    /// "best" (the validation-selected weights) or "model" (last epoch, when a run stored no best weights).
    public let weights: String
    /// The run's test-set Dice as stored.
    public let testDice: Double?
    /// Largest |recomputed − stored| per-image Dice over the shown images; nil when the store has no case rows.
    public let maxDiceDifference: Double?
}

/// One test image passed through one model.
public struct CaseOutput {
    /// Index in the test split.
    public let index: Int
    public let sample: SegSample
    /// Sigmoid of the logits, H·W.
    public let probabilities: [Float]
    /// LViT's per-image Dice at 0.5, in %.
    public let dice: Double
    /// The run's stored per-image Dice for this image, in %.
    public let storedDice: Double?
    /// The model's attention maps for this image (batch axis removed).
    public let maps: [String: MapPlane]
    /// 1 for the image's real text tokens, 0 for padding, over the batch's token axis.
    public let textMask: [Int]
}

public struct MapPlane: Equatable {
    public let shape: [Int]
    public let values: [Float]
    public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }
}

public enum FigureModels {
    /// Builds the model of a stored run with the factory of `methods` that trained it and loads its checkpoint's
    /// validation-selected weights (`best.*`; `model.*` when a run never stored best weights, as the runner then
    /// tested the last epoch). Returns the model and which weights were loaded.
    public static func rebuild(_ record: RunRecord, context: ModelContext, checkpoint: URL,
                               methods: [Method]) throws -> (SegmentationModel, String) {
        guard let method = methods.method(for: record.config) else {
            throw RunError("run \(record.id) is \(record.config.method) (\(record.config.variant)), which no row of this figure builds")
        }
        let model = method.make(context)
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: checkpoint) } catch {
            throw RunError("checkpoint \(checkpoint.path) is unreadable (\(error))")
        }
        let prefix = file.names.contains { $0.hasPrefix("best.") } ? "best." : "model."
        var weights: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix(prefix) { weights[String(name.dropFirst(prefix.count))] = try file.tensor(name) }
        do { try model.loadStateDict(weights) } catch {
            throw RunError("checkpoint \(checkpoint.lastPathComponent) does not fit \(method.row.display) as Table 1 builds it now (\(error)); the factory changed since the run, so rerun the cell")
        }
        model.eval()
        return (model, String(prefix.dropLast()))
    }
}

/// One figure invocation: the store, the runs found, the data sets, and the outputs computed so far.
public final class FigureSession {
    public let spec: FigureSpec
    public let options: FigureOptions
    public let paths: ProjectPaths
    public let store: ResultStore
    public let scale: Scale
    public let source: DataSource
    /// The methods and data sets left after --only and --dataset.
    public let methods: [Method]
    public let datasets: [DatasetSpec]
    public private(set) var planned: [PlannedRun] = []
    public private(set) var missing: [MissingRun] = []
    public private(set) var used: [UsedRun] = []
    private let text: TextEncoderProvider
    private var data: [String: SegDataset] = [:]
    private var outputCache: [String: [CaseOutput]] = [:]

    init(spec: FigureSpec, options: FigureOptions, paths: ProjectPaths, store: ResultStore, scale: Scale) throws {
        self.spec = spec
        self.options = options
        self.paths = paths
        self.store = store
        self.scale = scale
        let t = options.table
        source = t.dataRoot == nil ? .proxy : .real
        methods = spec.methods.filter { t.only.isEmpty || t.only.contains($0.row.id) }
        datasets = spec.datasets.filter { t.dataset.isEmpty || t.dataset.contains($0.id) }
        text = TextEncoderProvider(directory: t.textEncoder, root: paths.root)
        for ds in datasets {
            for m in methods { try plan(m, ds.id) }
        }
    }

    /// Seed 0's latest finished run of the cell whose checkpoint is still there; otherwise a reason.
    private func plan(_ m: Method, _ dataset: String) throws {
        let filter = RunFilter(paper: spec.paper, table: spec.table, method: m.row.method, dataset: dataset,
                               variant: m.row.variant, scale: scale.rawValue, seed: 0, dataSource: source)
        let runs = try store.runs(filter)
        let finished = runs.filter { $0.status == .finished }
            .sorted { ($0.finishedAt ?? .distantPast, $0.id) > ($1.finishedAt ?? .distantPast, $1.id) }
        if let r = finished.first(where: { FileManager.default.fileExists(atPath: store.checkpointURL(runId: $0.id).path) }) {
            planned.append(PlannedRun(method: m, dataset: dataset, record: r, checkpoint: store.checkpointURL(runId: r.id)))
            return
        }
        let reason: String
        if let r = finished.first {
            // The table skips a finished cell, so only a forced rerun of this one cell brings the weights back.
            reason = "run \(r.id.prefix(12)) finished but its checkpoint \(store.checkpointURL(runId: r.id).lastPathComponent) is gone; "
                + "`Table1_TMC --scale \(scale.rawValue) --db \(options.table.db) --only '\(m.row.id)' --dataset \(dataset) --seeds 1 --force` retrains it"
        } else if let r = runs.first {
            reason = "run \(r.id.prefix(12)) is \(r.status.rawValue)" + (r.error.map { ": \(Markdown.oneLine($0))" } ?? "")
        } else {
            reason = "no run"
        }
        missing.append(MissingRun(method: m.row.display, dataset: dataset, reason: reason))
    }

    static func command(_ spec: FigureSpec, _ t: TableOptions, _ scale: Scale) -> String {
        var c = "\(spec.runCommand) SCALE=\(scale.rawValue)"
        if t.db != "Reports/results.sqlite" { c += " DB=\(t.db)" }
        if let r = t.dataRoot { c += " DATA_ROOT=\(r)" }
        if let e = t.textEncoder { c += " TEXT_ENCODER=\(e)" }
        return c
    }

    /// The command that trains what is missing (finished cells are skipped by the table target).
    public var command: String { FigureSession.command(spec, options.table, scale) }

    var selection: String { "scale \(scale.rawValue), seed 0, \(source.rawValue) data" }

    var nothingAvailable: String {
        "\(spec.target): no finished \(spec.paper) \(spec.table) run with a checkpoint (\(selection)) in \(store.url.path) "
            + "for \(methods.map(\.row.display).joined(separator: ", ")). `\(command)` trains them."
    }

    var missingMessage: String {
        "\(spec.target): drawing without " + missing.map { "\($0.method) · \($0.dataset) (\($0.reason))" }.joined(separator: ", ")
            + ". `\(command)` produces the missing runs."
    }

    func warn(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }

    /// The data set as Table 1 loaded it for this scale and data source.
    public func dataset(_ id: String) throws -> SegDataset {
        if let d = data[id] { return d }
        let d = try DatasetProvider.load(id, scale: scale, dataRoot: options.table.dataRoot)
        data[id] = d
        return d
    }

    /// Indices of the test images shown for a data set.
    public func cases(_ id: String) throws -> [Int] {
        FigureCases.pick(foreground: try dataset(id).test.map { $0.mask.reduce(0) { $0 + Int($1) } }, count: options.cases)
    }

    /// The side of a figure cell: images are enlarged by a whole factor to at least 128 pixels.
    public func cellFactor(_ id: String) throws -> Int {
        FigureRaster.enlargement(for: try dataset(id).test.first?.image.width ?? scale.imageSize)
    }

    /// The method's outputs on the shown test images of `dataset`, or nil when its run is missing or cannot be
    /// rebuilt (the reason joins `missing`).
    public func outputs(_ m: Method, dataset: String) -> [CaseOutput]? {
        let key = m.row.id + "\u{1F}" + dataset
        if let cached = outputCache[key] { return cached }
        guard let run = planned.first(where: { $0.method.row.id == m.row.id && $0.dataset == dataset }) else { return nil }
        do {
            let out = try evaluate(run)
            outputCache[key] = out
            return out
        } catch {
            missing.append(MissingRun(method: m.row.display, dataset: dataset, reason: "\(error)"))
            warn("\(spec.target): \(m.row.display) · \(dataset): \(error)")
            return nil
        }
    }

    private func evaluate(_ run: PlannedRun) throws -> [CaseOutput] {
        let config = run.record.config
        let data = try dataset(run.dataset)
        if let trained = config.hyperparameters["data"], trained != data.source {
            throw RunError("run \(run.record.id.prefix(12)) was trained on \(trained), but this figure loaded \(data.source)")
        }
        let encoder = run.method.usesText ? try text.encoder() : nil
        if let e = encoder, let trained = config.hyperparameters["text_encoder"], trained != e.name {
            throw RunError("run \(run.record.id.prefix(12)) was trained with the text encoder \(trained), this figure loaded \(e.name); pass --text-encoder <folder of \(trained)>")
        }
        guard let first = data.train.first ?? data.test.first else { throw RunError("\(data.name) (\(data.source)) has no images") }
        let context = ModelContext(scale: scale, inChannels: first.image.channels, imageSize: first.image.width,
                                   textWidth: encoder?.width ?? 384)
        if !options.table.noProgress { warn("\(spec.target): \(run.method.row.display) · \(run.dataset): run \(run.record.id.prefix(12))") }
        let (model, weights) = try FigureModels.rebuild(run.record, context: context, checkpoint: run.checkpoint,
                                                        methods: spec.methods)
        let batch = Int(config.hyperparameters["batch"] ?? "") ?? 8
        let stored = Dictionary(try store.caseMetrics(runId: run.record.id).filter { $0.metric == "Dice" }.map { ($0.caseId, $0.value) },
                                uniquingKeysWith: { a, _ in a })
        let outputs = FigureInference.run(model, test: data.test, cases: try cases(run.dataset), batchSize: batch,
                                          encodeText: encoder?.encode, storedDice: stored)
        let differences = outputs.compactMap { o in o.storedDice.map { abs($0 - o.dice) } }
        used.append(UsedRun(method: run.method, dataset: run.dataset, record: run.record, weights: weights,
                            testDice: try store.summary(runId: run.record.id)["Dice"],
                            maxDiceDifference: differences.max()))
        return outputs
    }
}

public enum FigureInference {
    /// Runs `model` on the test batches that hold `cases`, cut exactly as the runner's test pass cut them (the text
    /// of a batch is padded to its longest member, and LViT reads a fixed number of tokens, so a different batch
    /// could change an image's output).
    public static func run(_ model: SegmentationModel, test: [SegSample], cases: [Int], batchSize: Int,
                           encodeText: (([String]) -> TextInput)?, storedDice: [String: Double] = [:]) -> [CaseOutput] {
        model.eval()
        var byIndex: [Int: CaseOutput] = [:]
        let groups = Dictionary(grouping: cases) { $0 / batchSize }
        for group in groups.keys.sorted() {
            let range = (group * batchSize)..<min((group + 1) * batchSize, test.count)
            let b = Batching.make(test[range])
            let text = encodeText?(b.texts)
            let (probs, maps) = withoutGrad { () -> (Tensor, [String: Tensor]) in
                let out = model.forward(image: b.images, text: text)
                return (out.logits.sigmoid(), out.attentionMaps)
            }
            let n = range.count
            for i in groups[group]! {
                let k = i - range.lowerBound
                let sample = test[i]
                let p = slice(probs, k, of: n)
                var planes: [String: MapPlane] = [:]
                for (name, t) in maps where t.rank >= 1 && t.shape[0] == n {
                    planes[name] = MapPlane(shape: Array(t.shape.dropFirst()), values: slice(t, k, of: n))
                }
                let dice = Double(SegmentationMetrics.lvit(probabilities: p, mask: sample.mask).dice) * 100
                byIndex[i] = CaseOutput(index: i, sample: sample, probabilities: p, dice: dice, storedDice: storedDice[sample.id],
                                        maps: planes, textMask: text?.attentionMask[k] ?? [])
            }
        }
        return cases.map { byIndex[$0]! }
    }

    static func slice(_ t: Tensor, _ k: Int, of n: Int) -> [Float] {
        let per = t.count / n
        return Array(UnsafeBufferPointer(start: t.ptr + k * per, count: per))
    }
}

// MARK: - Choosing images and reading maps

public enum FigureCases {
    /// `count` test images spread evenly over those with a lesion (all images if fewer have one): the centres of
    /// `count` equal segments of that list. Deterministic, and not the first slices of one patient.
    public static func pick(foreground: [Int], count: Int) -> [Int] {
        var candidates = foreground.indices.filter { foreground[$0] > 0 }
        if candidates.count < count { candidates = Array(foreground.indices) }
        let n = candidates.count, k = min(count, n)
        return (0..<k).map { j in candidates[(2 * j + 1) * n / (2 * k)] }
    }
}

/// A 2D map of non-negative values at its own resolution.
public struct HeatMap: Equatable {
    public var values: [Float]
    public var width: Int
    public var height: Int
    public init(values: [Float], width: Int, height: Int) {
        precondition(values.count == width * height, "HeatMap: \(values.count) values for \(height)×\(width)")
        self.values = values; self.width = width; self.height = height
    }

    /// Bilinear resampling (pixel-centre convention), e.g. a token grid up to the image.
    public func resized(width w: Int, height h: Int) -> HeatMap {
        let image = resizeBilinear(Image2D(width: width, height: height, channels: 1, pixels: values), width: w, height: h)
        return HeatMap(values: image.pixels, width: w, height: h)
    }
}

public enum FigureMaps {
    /// A `[1, H, W]` map (TMC's `mcm.i.heat`) as a heat map.
    public static func plane(_ p: MapPlane) -> HeatMap? {
        guard p.shape.count == 3, p.shape[0] == 1 else { return nil }
        return HeatMap(values: p.values, width: p.shape[2], height: p.shape[1])
    }

    /// Where the words are read, from an image→text attention `[N, T]` (each position's weights over the words sum
    /// to 1, as in the VLP rows' bottleneck fusion). Its plain mean over the words is 1/T_real at every position, a
    /// flat map; instead each real word's column is normalised over the positions (which positions read this word)
    /// and the columns are averaged over the real words. That is the same reading as TMC's `mcm.i.heat` (each word's
    /// attention over the image, averaged over the words), so the two can stand side by side.
    public static func positionsPerWord(_ attention: [Float], positions n: Int, tokens t: Int, mask: [Int]) -> [Float] {
        precondition(attention.count == n * t && mask.count == t, "positionsPerWord: \(attention.count) weights for [\(n), \(t)], mask \(mask.count)")
        var out = [Float](repeating: 0, count: n)
        var words = 0
        for w in 0..<t where mask[w] != 0 {
            var s: Float = 0
            for p in 0..<n { s += attention[p * t + w] }
            guard s > 0 else { continue }
            for p in 0..<n { out[p] += attention[p * t + w] / s }
            words += 1
        }
        return words == 0 ? out : out.map { $0 / Float(words) }
    }

    /// The bottleneck attention of a VLP row as a square heat map over its bottleneck grid.
    public static func bottleneckWords(_ p: MapPlane, mask: [Int]) -> HeatMap? {
        guard p.shape.count == 2, mask.count == p.shape[1] else { return nil }
        let n = p.shape[0], side = Int(Double(n).squareRoot().rounded())
        guard side * side == n else { return nil }
        return HeatMap(values: positionsPerWord(p.values, positions: n, tokens: p.shape[1], mask: mask), width: side, height: side)
    }

    /// How strongly a map concentrates on the lesion: its share of mass inside the mask divided by the mask's share
    /// of the image. 1 is no preference, above 1 the map favours the lesion. nil for an empty mask or a zero map.
    public static func concentration(_ heat: [Float], mask: [UInt8]) -> Double? {
        precondition(heat.count == mask.count, "concentration: \(heat.count) values, \(mask.count) mask pixels")
        let lesion = mask.reduce(0) { $0 + Int($1 != 0 ? 1 : 0) }
        var total = 0.0, inside = 0.0
        for (h, m) in zip(heat, mask) { total += Double(max(h, 0)); if m != 0 { inside += Double(max(h, 0)) } }
        guard lesion > 0, total > 0 else { return nil }
        return (inside / total) / (Double(lesion) / Double(mask.count))
    }
}

// MARK: - Raster

public struct RGB: Equatable, Sendable {
    public var r: Float, g: Float, b: Float
    public init(_ r: Float, _ g: Float, _ b: Float) { self.r = r; self.g = g; self.b = b }
    public static let white = RGB(1, 1, 1)
    public static let black = RGB(0, 0, 0)
    public static let red = RGB(1, 0, 0)
    public static let green = RGB(0, 1, 0)
    public static let grey = RGB(0.82, 0.82, 0.82)
}

public enum Colormap: Sendable {
    /// MATLAB's jet: dark blue (0) → cyan → yellow → dark red (1), the usual look of segmentation heat maps.
    case jet
    /// Matplotlib's viridis, by linear interpolation between its nine colours at i/8.
    case viridis

    static let viridisStops: [RGB] = ([(0x44, 0x01, 0x54), (0x47, 0x2d, 0x7b), (0x3b, 0x52, 0x8b), (0x2c, 0x72, 0x8e),
                                      (0x21, 0x91, 0x8c), (0x28, 0xae, 0x80), (0x5e, 0xc9, 0x62), (0xad, 0xdc, 0x30),
                                      (0xfd, 0xe7, 0x25)] as [(Int, Int, Int)]).map { RGB(Float($0.0) / 255, Float($0.1) / 255, Float($0.2) / 255) }

    /// The colour of `t`, clamped to [0, 1]; NaN maps to 0.
    public func color(_ t: Float) -> RGB {
        let x = t.isNaN ? 0 : min(max(t, 0), 1)
        switch self {
        case .jet:
            func ramp(_ c: Float) -> Float { min(max(1.5 - abs(4 * x - c), 0), 1) }
            return RGB(ramp(3), ramp(2), ramp(1))
        case .viridis:
            let stops = Colormap.viridisStops
            let f = x * Float(stops.count - 1)
            let i = min(Int(f), stops.count - 2)
            let w = f - Float(i)
            let a = stops[i], b = stops[i + 1]
            return RGB(a.r + (b.r - a.r) * w, a.g + (b.g - a.g) * w, a.b + (b.b - a.b) * w)
        }
    }

    /// A 3-channel image of `values` (row-major, in [0, 1]).
    public func image(_ values: [Float], width: Int, height: Int) -> Image2D {
        let n = width * height
        precondition(values.count == n, "Colormap.image: \(values.count) values for \(height)×\(width)")
        var px = [Float](repeating: 0, count: 3 * n)
        for (p, v) in values.enumerated() {
            let c = color(v)
            px[p] = c.r; px[n + p] = c.g; px[2 * n + p] = c.b
        }
        return Image2D(width: width, height: height, channels: 3, pixels: px)
    }
}

public enum FigureRaster {
    /// Whole enlargement that brings an image side to at least 128 pixels (1 when it already is).
    public static func enlargement(for side: Int) -> Int { max(1, 128 / max(side, 1)) }

    /// Grey images become three equal channels; colour ones keep their first three.
    public static func rgb(_ image: Image2D) -> Image2D {
        if image.channels == 3 { return image }
        let n = image.width * image.height
        let planes = image.channels >= 3 ? Array(image.pixels[0..<(3 * n)]) : Array(image.plane(0)) + Array(image.plane(0)) + Array(image.plane(0))
        return Image2D(width: image.width, height: image.height, channels: 3, pixels: planes)
    }

    /// Nearest-neighbour enlargement by a whole factor, so that every pixel stays a visible square.
    public static func enlarged(_ image: Image2D, by f: Int) -> Image2D {
        guard f > 1 else { return image }
        let (w, h, c) = (image.width, image.height, image.channels)
        let ow = w * f, oh = h * f
        var out = [Float](repeating: 0, count: ow * oh * c)
        for ch in 0..<c {
            for y in 0..<oh {
                let src = ch * w * h + (y / f) * w, dst = ch * ow * oh + y * ow
                for x in 0..<ow { out[dst + x] = image.pixels[src + x / f] }
            }
        }
        return Image2D(width: ow, height: oh, channels: c, pixels: out)
    }

    public static func enlarged(mask: [UInt8], width: Int, height: Int, by f: Int) -> [UInt8] {
        guard f > 1 else { return mask }
        var out = [UInt8](repeating: 0, count: width * height * f * f)
        for y in 0..<(height * f) {
            for x in 0..<(width * f) { out[y * width * f + x] = mask[(y / f) * width + x / f] }
        }
        return out
    }

    /// The mask's inner border, `thickness` pixels wide: mask pixels within that many 4-neighbour steps of the
    /// background (the image's edge counts as background).
    public static func contour(_ mask: [UInt8], width: Int, height: Int, thickness: Int = 1) -> [UInt8] {
        var inner = mask.map { $0 != 0 ? UInt8(1) : 0 }
        let full = inner
        for _ in 0..<max(thickness, 1) {
            var next = inner
            for y in 0..<height {
                for x in 0..<width where inner[y * width + x] != 0 {
                    let edge = x == 0 || y == 0 || x == width - 1 || y == height - 1
                    if edge || inner[y * width + x - 1] == 0 || inner[y * width + x + 1] == 0
                        || inner[(y - 1) * width + x] == 0 || inner[(y + 1) * width + x] == 0 {
                        next[y * width + x] = 0
                    }
                }
            }
            inner = next
        }
        return zip(full, inner).map { $0 != 0 && $1 == 0 ? 1 : 0 }
    }

    /// `(1 − alpha) · image + alpha · color` where the mask is set.
    public static func tint(_ image: Image2D, mask: [UInt8], color: RGB, alpha: Float) -> Image2D {
        let n = image.width * image.height
        precondition(image.channels == 3 && mask.count == n, "tint needs an RGB image and a mask of its size")
        var px = image.pixels
        let c = [color.r, color.g, color.b]
        for p in 0..<n where mask[p] != 0 {
            for ch in 0..<3 { px[ch * n + p] = (1 - alpha) * px[ch * n + p] + alpha * c[ch] }
        }
        return Image2D(width: image.width, height: image.height, channels: 3, pixels: px)
    }

    /// `(1 − alpha) · a + alpha · b`, pixel by pixel.
    public static func blend(_ a: Image2D, _ b: Image2D, alpha: Float) -> Image2D {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels, "blend needs images of one size")
        return Image2D(width: a.width, height: a.height, channels: a.channels,
                       pixels: zip(a.pixels, b.pixels).map { (1 - alpha) * $0 + alpha * $1 })
    }

    /// Min-max scaling to [0, 1]; a flat map becomes all zeros.
    public static func normalized(_ v: [Float]) -> [Float] {
        guard let lo = v.min(), let hi = v.max(), hi - lo > 1e-12 else { return v.map { _ in 0 } }
        return v.map { ($0 - lo) / (hi - lo) }
    }

    // Panels. Every panel is the sample's image enlarged by `f`; overlays are computed at that resolution so that
    // outlines stay thin.

    /// The test image.
    public static func imagePanel(_ s: SegSample, factor f: Int) -> Image2D { enlarged(rgb(s.image), by: f) }

    static func outlineThickness(_ f: Int) -> Int { max(1, f / 2) }

    /// The ground truth filled in translucent green and outlined in green.
    public static func truthPanel(_ s: SegSample, factor f: Int) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        let filled = tint(imagePanel(s, factor: f), mask: truth, color: .green, alpha: 0.45)
        return tint(filled, mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .green, alpha: 1)
    }

    /// A prediction: pixels with probability above 0.5 (LViT's threshold) in translucent red, the ground truth's outline in green on top.
    public static func predictionPanel(_ s: SegSample, probabilities: [Float], factor f: Int) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        let predicted = enlarged(mask: SegmentationMetrics.binarize(probabilities), width: s.image.width, height: s.image.height, by: f)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        let red = tint(imagePanel(s, factor: f), mask: predicted, color: .red, alpha: 0.5)
        return tint(red, mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .green, alpha: 1)
    }

    /// A heat map in `colormap` (values in [0, 1] at the panel's resolution), half over the image, with the
    /// ground truth outlined in white.
    public static func heatPanel(_ s: SegSample, heat: HeatMap, factor f: Int, colormap: Colormap = .jet) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        precondition(heat.width == w && heat.height == h, "heatPanel: heat map is \(heat.height)×\(heat.width), panel \(h)×\(w)")
        let mixed = blend(imagePanel(s, factor: f), colormap.image(heat.values, width: w, height: h), alpha: 0.6)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        return tint(mixed, mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .white, alpha: 1)
    }

    /// The image outlined in white, the first column of a heat-map figure.
    public static func outlinedImagePanel(_ s: SegSample, factor f: Int) -> Image2D {
        let (w, h) = (s.image.width * f, s.image.height * f)
        let truth = enlarged(mask: s.mask, width: s.image.width, height: s.image.height, by: f)
        return tint(imagePanel(s, factor: f), mask: contour(truth, width: w, height: h, thickness: outlineThickness(f)), color: .white, alpha: 1)
    }

    /// A grey cell with a diagonal cross: no run to show.
    public static func missingPanel(side: Int) -> Image2D {
        let n = side * side
        var px = [Float](repeating: RGB.grey.r, count: 3 * n)
        for i in 0..<side {
            for p in [i * side + i, i * side + (side - 1 - i)] { for ch in 0..<3 { px[ch * n + p] = 0.55 } }
        }
        return Image2D(width: side, height: side, channels: 3, pixels: px)
    }
}

// MARK: - Bitmap font

/// A 5 × 7 pixel font of capitals, digits and a little punctuation, for labels inside figures (lower case is drawn
/// as capitals; anything else as "?"). Each glyph is seven rows of five cells, "#" set.
public enum BitmapFont {
    public static let glyphWidth = 5
    public static let glyphHeight = 7
    /// Horizontal step per character: the glyph plus one blank column.
    public static let advance = 6

    static let glyphs: [Character: String] = [
        "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#", "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
        "C": ".###.|#...#|#....|#....|#....|#...#|.###.", "D": "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
        "E": "#####|#....|#....|####.|#....|#....|#####", "F": "#####|#....|#....|####.|#....|#....|#....",
        "G": ".###.|#...#|#....|#.###|#...#|#...#|.####", "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
        "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.", "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
        "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#", "L": "#....|#....|#....|#....|#....|#....|#####",
        "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#", "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
        "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.", "P": "####.|#...#|#...#|####.|#....|#....|#....",
        "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#", "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
        "S": ".####|#....|#....|.###.|....#|....#|####.", "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
        "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.", "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
        "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.", "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
        "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..", "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
        "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.", "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
        "2": ".###.|#...#|....#|...#.|..#..|.#...|#####", "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
        "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.", "5": "#####|#....|####.|....#|....#|#...#|.###.",
        "6": "..##.|.#...|#....|####.|#...#|#...#|.###.", "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
        "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.", "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
        " ": ".....|.....|.....|.....|.....|.....|.....", ".": ".....|.....|.....|.....|.....|.##..|.##..",
        ",": ".....|.....|.....|.....|.##..|..#..|.#...", "-": ".....|.....|.....|#####|.....|.....|.....",
        "+": ".....|..#..|..#..|#####|..#..|..#..|.....", "%": "##..#|##..#|...#.|..#..|.#...|#..##|#..##",
        "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.", ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
        "/": "....#|....#|...#.|..#..|.#...|#....|#....", ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
        "=": ".....|.....|#####|.....|#####|.....|.....", "_": ".....|.....|.....|.....|.....|.....|#####",
        "?": ".###.|#...#|....#|...#.|..#..|.....|..#..", "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
    ]

    /// The glyph's set cells, `rows[y][x]`.
    public static func glyph(_ c: Character) -> [[Bool]] {
        let key = Character(String(c).uppercased())
        let rows = (glyphs[key] ?? glyphs["?"]!).split(separator: "|")
        return rows.map { $0.map { $0 == "#" } }
    }

    /// Width in pixels of `text` at `scale` (no blank column after the last character).
    public static func width(_ text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * advance - 1) * scale
    }

    public static func height(scale: Int) -> Int { glyphHeight * scale }
}

// MARK: - Montage

/// A grid of equal square cells: a header band (column labels), then groups of rows (one group per data set), each
/// under a band for its label, then a footer band. All cells and bands are separated by `gap` pixels.
public struct MontageLayout: Equatable, Sendable {
    public var cell: Int
    public var columns: Int
    /// Rows per group.
    public var groups: [Int]
    public var gap: Int
    public var header: Int
    public var groupLabel: Int
    public var footer: Int

    public init(cell: Int, columns: Int, groups: [Int], gap: Int = 4, header: Int, groupLabel: Int, footer: Int = 0) {
        self.cell = cell; self.columns = columns; self.groups = groups; self.gap = gap
        self.header = header; self.groupLabel = groupLabel; self.footer = footer
    }

    public var width: Int { gap + columns * (cell + gap) }
    public var height: Int { header + groups.reduce(0) { $0 + groupLabel + $1 * (cell + gap) } + footer }

    /// Top of group g's label band.
    public func groupTop(_ g: Int) -> Int {
        header + groups.prefix(g).reduce(0) { $0 + groupLabel + $1 * (cell + gap) }
    }

    /// Top-left corner of a cell.
    public func origin(group g: Int, row r: Int, column c: Int) -> (x: Int, y: Int) {
        (gap + c * (cell + gap), groupTop(g) + groupLabel + r * (cell + gap))
    }

    /// Top of the footer band.
    public var footerTop: Int { height - footer }
}

/// An RGB drawing surface.
public struct Canvas {
    public private(set) var image: Image2D

    public init(width: Int, height: Int, background: RGB = .white) {
        let n = width * height
        image = Image2D(width: width, height: height, channels: 3,
                        pixels: [Float](repeating: background.r, count: n) + [Float](repeating: background.g, count: n)
                            + [Float](repeating: background.b, count: n))
    }

    private mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
        let n = image.width * image.height, p = y * image.width + x
        image.pixels[p] = c.r; image.pixels[n + p] = c.g; image.pixels[2 * n + p] = c.b
    }

    /// Copies an RGB image with its top-left corner at (x, y); what falls outside is cut.
    public mutating func place(_ panel: Image2D, x: Int, y: Int) {
        let src = FigureRaster.rgb(panel)
        let n = src.width * src.height
        for py in 0..<src.height {
            for px in 0..<src.width {
                let p = py * src.width + px
                set(x + px, y + py, RGB(src.pixels[p], src.pixels[n + p], src.pixels[2 * n + p]))
            }
        }
    }

    public mutating func fill(x: Int, y: Int, width: Int, height: Int, color: RGB) {
        for py in y..<(y + height) { for px in x..<(x + width) { set(px, py, color) } }
    }

    /// Draws `text` with its top-left corner at (x, y).
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int, color: RGB = .black) {
        for (i, ch) in text.enumerated() {
            let cells = BitmapFont.glyph(ch)
            let left = x + i * BitmapFont.advance * scale
            for (gy, row) in cells.enumerated() {
                for (gx, on) in row.enumerated() where on {
                    fill(x: left + gx * scale, y: y + gy * scale, width: scale, height: scale, color: color)
                }
            }
        }
    }

    /// White text on a black box, for numbers printed over an image.
    public mutating func label(_ text: String, x: Int, y: Int, scale: Int) {
        let pad = scale
        fill(x: x, y: y, width: BitmapFont.width(text, scale: scale) + 2 * pad, height: BitmapFont.height(scale: scale) + 2 * pad, color: .black)
        self.text(text, x: x + pad, y: y + pad, scale: scale, color: .white)
    }

    /// The largest scale up to `scale` at which `text` fits in `width` pixels (at least 1).
    public static func fittingScale(_ text: String, width: Int, scale: Int) -> Int {
        var s = max(scale, 1)
        while s > 1 && BitmapFont.width(text, scale: s) > width { s -= 1 }
        return s
    }

    /// A horizontal colour bar of `colormap` from 0 (left) to 1 (right).
    public mutating func colorBar(_ colormap: Colormap, x: Int, y: Int, width: Int, height: Int) {
        for px in 0..<width {
            let c = colormap.color(width > 1 ? Float(px) / Float(width - 1) : 0)
            fill(x: x + px, y: y, width: 1, height: height, color: c)
        }
    }
}

// MARK: - Report page

public enum FigurePage {
    /// Reports/<target>.md: provenance, the figure, the figure's own explanation, the runs used, what is missing.
    static func render(_ s: FigureSession, _ drawing: FigureDrawing, generatedAt: Date = Date()) -> String {
        let spec = s.spec
        var out = ["# \(spec.title)", "",
                   "Paper, \(spec.source): _\(spec.caption)_", "",
                   "What the paper shows, what we draw and how: [\(spec.page)](\(Markdown.relativeToReports(spec.page))).",
                   "Generated \(Markdown.timestamp(generatedAt)) from `\(storeName(s))` by code `\(s.store.codeVersion)`.", ""]
        out += banner(s) + [""]
        out += ["![\(spec.title)](figures/\(spec.target).png)", ""]
        out += drawing.body
        out += runsTable(s)
        if !s.missing.isEmpty {
            out += ["## Missing", "", "Not drawn (grey crossed cells or absent columns); `\(s.command)` produces them.", ""]
            out += s.missing.map { "- \($0.method) · \($0.dataset): \(Markdown.oneLine($0.reason))" } + [""]
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func storeName(_ s: FigureSession) -> String {
        let root = s.paths.root.path + "/", path = s.store.url.standardizedFileURL.path
        return path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
    }

    static func banner(_ s: FigureSession) -> [String] {
        var lines: [String] = []
        switch s.source {
        case .proxy:
            lines.append("> **Proxy data**: seeded synthetic stand-ins (Papers/TMC/datasets.md), not the paper's images; "
                         + "what the models do here says nothing about the published figure's images.")
        case .real:
            lines.append("> **Real data** from `\(s.options.table.dataRoot ?? "")`.")
        }
        let sources = s.datasets.compactMap { ds in (try? s.dataset(ds.id)).map { "\(ds.display): `\($0.source)`" } }
        lines += [">", "> Scale `\(s.scale.rawValue)` · training seed 0 · \(s.options.cases) test images per data set · "
                  + "weights selected on validation (`best.*`)." + (sources.isEmpty ? "" : " Data: " + sources.joined(separator: "; ") + ".")]
        return lines
    }

    static func runsTable(_ s: FigureSession) -> [String] {
        var lines = ["## Runs used", "",
                     Markdown.row(["Method", "Data set", "Run", "Code version", "Epochs (best)", "Weights", "Test Dice (%)", "Shown images: max |Dice − stored|"]),
                     Markdown.row([":--", ":--", ":--", ":--", "--:", ":--", "--:", "--:"])]
        for u in s.used.sorted(by: { order(s, $0) < order(s, $1) }) {
            lines.append(Markdown.row([u.method.row.display, u.dataset, "`\(u.record.id.prefix(12))`", "`\(u.record.codeVersion)`",
                                       "\(u.record.epochsDone) (\(u.record.bestEpoch.map(String.init) ?? "–"))", "`\(u.weights).*`",
                                       u.testDice.map { Markdown.format($0, decimals: 2) } ?? "–",
                                       u.maxDiceDifference.map { String(format: "%.4f", $0) } ?? "no stored cases"]))
        }
        let worst = s.used.compactMap(\.maxDiceDifference).max() ?? 0
        lines += ["", "The last column recomputes each shown image's Dice from the reloaded model and compares it with the "
                  + "per-image Dice the run stored at test time: "
                  + (worst < 0.01 ? "all agree (largest difference \(String(format: "%.4f", worst))), so the figure shows the models that Table 1 scored."
                                  : "**they differ by up to \(String(format: "%.2f", worst))**: the rebuilt model is not the one Table 1 scored (see the rows above)."), ""]
        return lines
    }

    private static func order(_ s: FigureSession, _ u: UsedRun) -> (Int, Int) {
        (s.datasets.firstIndex { $0.id == u.dataset } ?? 0, s.methods.firstIndex { $0.row.id == u.method.row.id } ?? 0)
    }
}
