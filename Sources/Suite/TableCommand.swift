import Foundation
import ArgumentParser
import Engine
import Models
import Data

/// What a model factory may depend on besides the scale.
public struct ModelContext {
    public var scale: Scale
    public var inChannels: Int
    public var imageSize: Int
    /// Width D of the frozen text encoder's features (384 for MiniLM-L6, 768 for BERT-base).
    public var textWidth: Int
    /// Output channels the task reads (1 for binary, the classes with the background for multi-class).
    public var outChannels: Int = 1

    public init(scale: Scale, inChannels: Int, imageSize: Int, textWidth: Int, outChannels: Int = 1) {
        self.scale = scale; self.inChannels = inChannels; self.imageSize = imageSize; self.textWidth = textWidth
        self.outChannels = outChannels
    }
}

/// How one row of a table is built and trained. The target states these next to the paper's text.
public struct Method {
    public var row: RowSpec
    /// Builds the model after the initialiser is seeded.
    public var make: (ModelContext) -> SegmentationModel
    public var usesText: Bool
    /// Vision-language pre-training before fine-tuning (CLIP, MAP, MGCA rows), per scale.
    public var pretrain: ((Scale) -> VLPPretrainSettings)?
    /// The network's configuration in words, part of the run's id: a run of another architecture is another run
    /// (and cannot resume from this one's checkpoint). Rows whose network is fixed by their name leave it nil.
    public var architecture: ((ModelContext) -> String)?
    /// Another table's row whose runs are this row's training under another name: the same model built the same
    /// way, on the same data, recipe and seeds (TMC's Table 2 full model is Table 1's TMC). A finished run of that
    /// row is copied, not trained again; runs are deterministic, so training it here would give the same numbers
    /// (`EndToEndTests.testCopiedTrainingEqualsTrainingAgain`).
    public var sameRunsAs: (table: String, method: String, variant: String)?
    /// Seeds this row trains at, when fewer than the table's: a row no claim reads, shown for what it is.
    public var seedLimit: Int?
    public init(_ row: RowSpec, usesText: Bool = false, pretrain: ((Scale) -> VLPPretrainSettings)? = nil,
                architecture: ((ModelContext) -> String)? = nil, make: @escaping (ModelContext) -> SegmentationModel) {
        self.row = row; self.make = make; self.usesText = usesText; self.pretrain = pretrain; self.architecture = architecture
    }
}

extension Array where Element == Method {
    /// The row ids `--only` names: each name is a row's id as the table shows it, or an unambiguous prefix of one
    /// (`--only TMC` for "TMC (ours)"), case-insensitively; an exact id wins over prefixes.
    public func select(only names: [String], target: String) throws -> [String] {
        let ids = map(\.row.id)
        return try names.map { name in
            if ids.contains(name) { return name }
            let exact = ids.filter { $0.lowercased() == name.lowercased() }
            if exact.count == 1 { return exact[0] }
            let prefixed = ids.filter { $0.lowercased().hasPrefix(name.lowercased()) }
            if prefixed.count == 1 { return prefixed[0] }
            if prefixed.isEmpty {
                throw RunError("--only \(name): \(target) has no such method; it has \(ids.joined(separator: ", "))")
            }
            throw RunError("--only \(name) is ambiguous in \(target): it begins \(prefixed.joined(separator: ", ")); name one")
        }
    }

    /// The row that trained a stored run, by its (method, variant) and any values the row pins.
    public func method(for config: RunConfig) -> Method? {
        first { m in
            m.row.method == config.method && m.row.variant == config.variant
                && m.row.pinned.allSatisfy { config.hyperparameters[$0.key] == $0.value }
        }
    }
}

/// A table target: the report's spec, how each row is built, and the training recipe per (cell, scale).
public struct Experiment {
    public var spec: TableSpec
    public var methods: [Method]
    public var recipe: (Cell, Scale) -> Recipe
    /// Seeds run by default at each scale (`--seeds` overrides).
    public var defaultSeeds: [Scale: Int]
    /// What a cell segments and how it is scored: one task for a whole table (TMC), or per cell when the
    /// backbones see the data differently (MOSMOS's 2D U-Net trains on slices, its UNETR on 3D patches).
    public var task: (Cell, Scale) -> SegmentationTask
    /// The data of one data set at one scale: the real folder under `--data-root` (the third argument) or a proxy.
    public var data: (DatasetSpec, Scale, String?) throws -> LabeledSplits
    /// An auxiliary loss weight chosen on validation before the cells that use it train (TMC's λ).
    public var auxWeightSelection: AuxWeightSelection?

    public init(spec: TableSpec, methods: [Method], task: SegmentationTask, defaultSeeds: [Scale: Int] = [.smoke: 1, .proxy: 1, .paper: 1],
                recipe: @escaping (Cell, Scale) -> Recipe) {
        self.init(spec: spec, methods: methods, task: { _, _ in task }, defaultSeeds: defaultSeeds, recipe: recipe) { ds, scale, root in
            LabeledSplits(try DatasetProvider.load(ds.id, scale: scale, dataRoot: root))
        }
    }

    public init(spec: TableSpec, methods: [Method], task: @escaping (Cell, Scale) -> SegmentationTask,
                defaultSeeds: [Scale: Int] = [.smoke: 1, .proxy: 1, .paper: 1], recipe: @escaping (Cell, Scale) -> Recipe,
                data: @escaping (DatasetSpec, Scale, String?) throws -> LabeledSplits) {
        self.spec = spec; self.methods = methods; self.task = task; self.recipe = recipe; self.defaultSeeds = defaultSeeds
        self.data = data
    }
}

/// `--scale smoke|proxy|paper`; ArgumentParser lists the values when another is given.
extension Scale: ExpressibleByArgument {}

/// The options every table target takes.
public struct TableOptions: ParsableArguments {
    @Option(help: "smoke (CI, seconds), proxy (default, about an hour per table on 2 cores) or paper (published architectures).")
    public var scale: Scale = .proxy
    @Option(help: "Number of seeds (0, 1, ... N-1). Default 1: a proxy table with one seed takes about an hour on 2 cores (Papers/TMC/Table1.md); pass 3 for a spread.")
    public var seeds: Int?
    @Option(name: .customLong("data-root"), help: "Folder with one LViT-layout folder per data set (QaTa-COV19, MosMedData, Duke-Breast). Without it, seeded proxies are used.")
    public var dataRoot: String?
    @Option(help: "SQLite result store.")
    public var db: String = "Reports/results.sqlite"
    @Option(help: "Run only this method: its row id as the table shows it, or an unambiguous prefix (TMC for \"TMC (ours)\"); repeatable.")
    public var only: [String] = []
    @Option(help: "Run only this data set; repeatable.")
    public var dataset: [String] = []
    @Option(name: .customLong("text-encoder"), help: "Hugging Face BERT directory for text-guided methods (default: .cache/models/all-MiniLM-L6-v2 from `make setup`; BERT-base for the paper configuration).")
    public var textEncoder: String?
    @Option(help: "Weight λ of auxiliary losses (TMC's alignment loss: L = BCE + λ·L_align). Default: the table's recipe.")
    public var lambda: Float?
    @Option(name: .customLong("learning-rate"), help: "Override the recipe's learning rate (a pilot's grid; the rate is part of the run id). Default: the table's recipe.")
    public var learningRate: Float?
    @Flag(help: "List the runs this command would train (pre-trainings and λ-grid runs first, then cells) and exit. Trains nothing.")
    public var plan = false
    @Option(help: "Format of --plan: text or json (one JSON object per line).")
    public var format = "text"
    @Option(help: "Train only this run: a key or run id from --plan, or a prefix of one; repeatable. What it needs and the store lacks is trained first. For job arrays: nothing is exported or rendered.")
    public var cell: [String] = []
    @Option(name: .customLong("import-from"), help: "Before training, import the finished runs this store lacks from a shard store (.sqlite), every .sqlite in a folder, or a text file listing shard paths; repeatable.")
    public var importFrom: [String] = []
    @Option(help: "Override the recipe's epoch budget, its schedule stretched to match (the epochs are part of the run id). Default: the table's recipe.")
    public var epochs: Int?
    @Option(name: .customLong("epoch-pilot"), help: "Epoch-budget pilot: train this many epochs at the recipe's rate held after its warm-up, without early stopping (store the pilot apart with --db). Default: the table's recipe.")
    public var epochPilot: Int?
    @Flag(help: "Rerun cells that already finished.")
    public var force = false
    @Flag(name: .customLong("report-only"), help: "Render the report from the store without training.")
    public var reportOnly = false
    @Flag(help: "Check finished runs against their tolerance (published values for real data, our recorded reference for proxies); exit 1 on any failure. Trains nothing.")
    public var check = false
    @Flag(name: .customLong("record-reference"), help: "Record the finished proxy runs at --scale as the reference that --check compares with (Papers/<paper>/reference-<scale>.json). Trains nothing.")
    public var recordReference = false
    @Flag(name: .customLong("no-progress"), help: "No progress lines.")
    public var noProgress = false
    @Option(name: .customLong("time-budget"), help: "Minutes after which no new epoch starts: the run in progress pauses at its next epoch boundary (checkpointed, resumed by the next call), finished runs are exported and the report rendered. For compute that comes in sessions.")
    public var timeBudget: Double?
    public init() {}
}

/// Seed of the proxy generators. Fixed across training seeds, as a real data set is: the spread over seeds then
/// measures training variation on the same images.
public let proxyDataSeed: UInt64 = 20_240_601

public enum TableMain {
    /// Parses the command line, runs the grid (skipping finished cells, resuming killed ones), renders the report.
    public static func run(_ exp: Experiment, arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        let options: TableOptions
        do { options = try TableOptions.parse(arguments) } catch { TableOptions.exit(withError: error) }
        do {
            try execute(exp, options)
        } catch {
            // One line naming what failed and the fix; stored results are untouched (failed runs are marked failed).
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
            exit(1)
        }
    }

    static func execute(_ exp: Experiment, _ o: TableOptions) throws {
        let scale = o.scale
        let project = try ProjectPaths.locate()
        // Relative store paths are taken from the repository root, so a run started in a subfolder uses the same store.
        let dbURL = URL(fileURLWithPath: o.db, relativeTo: project.root)
        let paths = project.rendering(store: dbURL)
        let store = try RunExport.openStore(dbURL)
        let only = try exp.methods.select(only: o.only, target: exp.spec.target)
        if o.recordReference {
            for url in try Checks.recordReference(store: store, specs: [exp.spec], scale: scale.rawValue, paths: paths) {
                print("reference: \(url.path)")
            }
            return
        }
        if o.check {
            let results = try Checks.check(store: store, specs: [exp.spec], paths: paths)
            for r in results where r.status != .pass {
                let expected = r.expected.map { String(format: "%.2f", $0) } ?? "none"
                let tol = r.tolerance.map { String(format: "±%.2f", $0) } ?? ""
                print("\(r.status.mark) \(exp.spec.target) \(r.row) · \(r.dataset) · \(r.metric) [\(r.dataSource.rawValue)/\(r.scale)]: observed \(String(format: "%.2f", r.observed.mean)), expected \(expected) \(tol) \(r.reason ?? "")")
            }
            let failed = results.filter { $0.status == .fail }.count
            let passed = results.filter { $0.status == .pass }.count
            print("\(exp.spec.target): \(passed) of \(results.count) cells within tolerance, \(failed) outside, \(results.count - passed - failed) not evaluable")
            if failed > 0 { throw RunError("\(failed) cell(s) of \(exp.spec.target) left their tolerance (listed above)") }
            return
        }
        let datasets = exp.spec.datasets.filter { o.dataset.isEmpty || o.dataset.contains($0.id) }
        let methods = exp.methods.filter { only.isEmpty || only.contains($0.row.id) }
        let walk = TableWalk(exp: exp, options: o, scale: scale, store: store,
                             text: TextEncoderProvider(directory: o.textEncoder, root: paths.root), methods: methods,
                             seeds: o.seeds ?? exp.defaultSeeds[scale] ?? 1)
        if o.plan {
            let entries = try walk.entries(datasets: datasets)
            if o.format == "json" {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                for e in entries { print(String(decoding: try encoder.encode(e), as: UTF8.self)) }
            } else {
                print(PlanEntry.table(entries))
            }
            return
        }
        for source in o.importFrom {
            let n = try ShardMerge.importFinished(from: try ShardMerge.shardFiles(source), into: store)
            if n > 0 { FileHandle.standardError.write("imported \(n) finished runs from \(source)\n".data(using: .utf8)!) }
        }
        if !o.reportOnly {
            let runner = SegmentationRunner(store: store, progress: !o.noProgress)
            runner.deadline = o.timeBudget.map { Date().addingTimeInterval($0 * 60) }
            var paused: RunPaused?
            let start = Date()
            // `done` counts every training (grid runs and pre-trainings too); `reached` counts only the table's cells.
            var done = 0, skipped = 0, reached = 0
            let total = datasets.count * methods.map(walk.seeds).reduce(0, +)
            // With --cell, only the named runs train; what they need and the store lacks is trained first, here.
            let wanted = { (names: [String]) in o.cell.isEmpty || o.cell.contains { n in names.contains { $0.hasPrefix(n) } } }
            cells: for ds in datasets {
                let data = try exp.data(ds, scale, o.dataRoot)
                let grid = try walk.selectionPlans(ds, data)
                var chosen: Float?
                do {
                    for (k, (value, p)) in grid.enumerated() where wanted([p.config.id]) {
                        let label = "λ selection \(k + 1)/\(grid.count) · \(ds.display) · λ = \(value)"
                        // A grid run another process trains is left to it; `choose` waits for it when a cell needs λ.
                        if try runner.run(p, data: data, force: o.force, label: label) { done += 1 }
                    }
                    // λ once the grid is stored; a --cell run that needs it trains what the store lacks.
                    func choose() throws -> Float? {
                        if grid.isEmpty { return nil }
                        if let c = chosen { return c }
                        for (k, (value, p)) in grid.enumerated() where try store.run(id: p.config.id)?.status != .finished {
                            let label = "λ selection \(k + 1)/\(grid.count) · \(ds.display) · λ = \(value) (needed here)"
                            _ = try runner.run(p, data: data, force: false, label: label, waitForOthers: true)
                        }
                        guard let (c, scores) = try walk.chosenFromStore(grid) else { throw RunError("\(ds.display): the λ grid did not finish") }
                        let listed = scores.map { "\($0.value): \(String(format: "%.2f", $0.score))" }.joined(separator: ", ")
                        FileHandle.standardError.write("\(ds.display): λ = \(c) chosen on validation (\(listed))\n".data(using: .utf8)!)
                        chosen = c
                        return c
                    }
                    for m in methods {
                        for seed in 0..<walk.seeds(m) {
                            let needsGrid = !grid.isEmpty && walk.usesAuxWeight(m, ds)
                            if !o.cell.isEmpty {
                                // A named pre-training trains alone: its id does not depend on λ.
                                let probe = try walk.plan(m, ds, data, seed: seed, table: exp.spec.table, auxWeight: nil)
                                if let d = probe.dependency, wanted([d.plan.config.id]) {
                                    _ = try runner.weights(of: d.plan, label: "pre-training · \(m.row.id) · \(ds.display)")
                                    done += 1
                                }
                                // The cell itself, named by its key or by its run id (which needs λ when it uses one).
                                var ids = [walk.cellKey(m, ds, seed: seed)]
                                if !needsGrid { ids.append(probe.config.id) } else if let c = try walk.chosenFromStore(grid)?.0 {
                                    ids.append(try walk.plan(m, ds, data, seed: seed, table: exp.spec.table, auxWeight: c).config.id)
                                }
                                guard wanted(ids) else { continue }
                            }
                            let p = try walk.plan(m, ds, data, seed: seed, table: exp.spec.table,
                                                  auxWeight: needsGrid ? try choose() : nil)
                            reached += 1
                            let label = "[\(reached)/\(total)] \(m.row.id) · \(ds.display) · seed \(seed)"
                            if try runner.run(p, data: data, force: o.force, label: label) { done += 1 } else { skipped += 1 }
                        }
                    }
                } catch let p as RunPaused {
                    paused = p
                    break cells
                }
            }
            let others = runner.leftToOthers > 0 ? " (\(runner.leftToOthers) of them still training in another process)" : ""
            FileHandle.standardError.write("\(exp.spec.target): \(done) runs trained, \(skipped) already finished\(others), \(String(format: "%.0f", Date().timeIntervalSince(start))) s\n".data(using: .utf8)!)
            if let p = paused {
                FileHandle.standardError.write("\(exp.spec.target): time budget spent; \(p.description). \(total - reached) more cells not started.\n".data(using: .utf8)!)
            }
            // A job-array task (--cell) leaves exporting and rendering to the merge: its store is one shard.
            guard o.cell.isEmpty else { return }
            // The table's runs (and the pre-trainings they load) as text beside the store: commit Reports/runs/
            // and a fresh clone renders and checks these numbers without training.
            for table in [exp.spec.table, pretrainingTable] + [exp.auxWeightSelection?.table].compactMap({ $0 }) {
                try RunExport.write(store, filter: RunFilter(paper: exp.spec.paper, table: table), to: RunExport.folder(for: dbURL))
            }
        }
        let writer = ReportWriter(paths: paths, store: store)
        let page = try writer.write(exp.spec)   // also refreshes Reports/REPORT.md
        print("report: \(page.path)")
    }
}

/// Loads a data set by its table name: the seeded proxy by default, the real folder under `--data-root` otherwise.
public enum DatasetProvider {
    static let kinds: [String: ProxyKind] = Dictionary(uniqueKeysWithValues: ProxyKind.allCases.map { ($0.datasetName, $0) })

    public static func load(_ name: String, scale: Scale, dataRoot: String?) throws -> SegDataset {
        if let root = dataRoot {
            let dir = URL(fileURLWithPath: root).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: dir.path) else {
                throw RunError("--data-root \(root) has no folder \(name). Put the data set there in LViT's layout (\(name)/Train_Folder, Val_Folder, Test_Folder, each with img/, labelcol/ and a *_text.xlsx or *_text.csv), or pass --dataset to run the others.")
            }
            do { return try loadLViTDataset(root: dir, name: name, size: scale.imageSize) } catch let e as DataError {
                throw RunError(e.description)
            }
        }
        guard let kind = kinds[name] else { throw RunError("no proxy for data set \(name)") }
        return makeProxy(kind, scale: scale, seed: proxyDataSeed)
    }
}
