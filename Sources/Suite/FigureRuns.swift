import Foundation
import ArgumentParser
import Engine
import NN
import Models
import Data
import Metrics

// A figure's runs: which stored runs it reads, the models rebuilt from their checkpoints, and the inference that
// reproduces their test pass on the chosen images.

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
    /// The run is finished in the store but its weights are not here (a run restored from Reports/runs/, or a
    /// deleted checkpoint): retraining the cell brings them back.
    public var weightsOnly: Bool = false
    /// The row id, for the retraining command.
    public var rowId: String = ""
    /// The finished run whose weights are missing.
    public var runId: String = ""
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

    /// Where weights retrained for the figure live when the result store has the run but not its checkpoint.
    private let weights: ResultStore?

    init(spec: FigureSpec, options: FigureOptions, paths: ProjectPaths, store: ResultStore, scale: Scale,
         weights: ResultStore? = nil) throws {
        self.spec = spec
        self.options = options
        self.paths = paths
        self.store = store
        self.scale = scale
        self.weights = weights
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
        // Runs of another stream generation saw other images (RunConfig.streams), and runs of a protocol the table
        // no longer counts are not its numbers: neither is drawn.
        let runs = try store.runs(filter).filter { r in
            r.config.hasCurrentStreams && (spec.protocols.map { r.config.hyperparameters["protocol"].map($0.contains) ?? false } ?? true)
        }
        let finished = runs.filter { $0.status == .finished }
            .sorted { ($0.finishedAt ?? .distantPast, $0.id) > ($1.finishedAt ?? .distantPast, $1.id) }
        if let r = finished.first(where: { FileManager.default.fileExists(atPath: store.checkpointURL(runId: $0.id).path) }) {
            planned.append(PlannedRun(method: m, dataset: dataset, record: r, checkpoint: store.checkpointURL(runId: r.id)))
            return
        }
        // The same configuration retrained for the figure: same id, its own checkpoint.
        if let w = weights, let r = finished.first,
           let again = try w.run(id: r.id), again.status == .finished,
           FileManager.default.fileExists(atPath: w.checkpointURL(runId: r.id).path) {
            planned.append(PlannedRun(method: m, dataset: dataset, record: r, checkpoint: w.checkpointURL(runId: r.id)))
            return
        }
        let reason: String
        if let r = finished.first {
            reason = "run \(r.id.prefix(12)) finished but its weights are not in this checkout (restored from Reports/runs/, or "
                + "the checkpoint was deleted); the figure retrains the cell into \(FigureSession.weightsStore(for: store.url).deletingLastPathComponent().path)"
            missing.append(MissingRun(method: m.row.display, dataset: dataset, reason: reason, weightsOnly: true,
                                      rowId: m.row.id, runId: r.id))
            return
        } else if let r = runs.first {
            reason = "run \(r.id.prefix(12)) is \(r.status.rawValue)" + (r.error.map { ": \(Markdown.oneLine($0))" } ?? "")
        } else {
            reason = "no run"
        }
        missing.append(MissingRun(method: m.row.display, dataset: dataset, reason: reason))
    }

    /// The store a figure retrains missing weights into: beside the result store, never in it, so that the exported
    /// runs stay exactly as recorded and the page can show how far the retrained weights land from them.
    static func weightsStore(for store: URL) -> URL {
        store.deletingLastPathComponent().appendingPathComponent("weights", isDirectory: true).appendingPathComponent("results.sqlite")
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
                                          task: spec.task, encodeText: encoder?.encode, storedDice: stored)
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
                           task: SegmentationTask, encodeText: (([String]) -> TextInput)?,
                           storedDice: [String: Double] = [:]) -> [CaseOutput] {
        model.eval()
        var byIndex: [Int: CaseOutput] = [:]
        let groups = Dictionary(grouping: cases) { $0 / batchSize }
        for group in groups.keys.sorted() {
            let range = (group * batchSize)..<min((group + 1) * batchSize, test.count)
            let b = Batching.make(ArraySlice(test[range].map(LabeledImage.init)), output: task.output)
            let text = encodeText?(b.texts)
            let (predictions, maps) = withoutGrad { () -> ([CasePrediction], [String: Tensor]) in
                let out = model.forward(image: b.images, text: text)
                return (TaskEvaluation.decode(out.logits, count: range.count, output: task.output), out.attentionMaps)
            }
            let n = range.count
            for i in groups[group]! {
                let k = i - range.lowerBound
                let sample = test[i]
                guard case .probabilities(let p) = predictions[k] else { preconditionFailure("figures draw binary tasks") }
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
