import Foundation
import Models
import Data

/// One run a table target would train, as `--plan` lists it: a pre-training, a run of an auxiliary-weight grid,
/// or a table cell. Runs of the first two kinds come first: cells depend on them.
public struct PlanEntry: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case pretraining, selection, cell }
    public var kind: Kind
    /// What `--cell` takes: a pre-training's or grid run's id, or a cell's key (a hash of its table, row, data set,
    /// seed, scale and data source), which is stable before its λ is chosen. `--cell` also takes a cell's run id.
    public var key: String
    /// The run's id (its configuration's hash); nil for a cell whose λ the grid has not chosen yet.
    public var run: String?
    public var table: String
    public var method: String
    public var variant: String
    public var dataset: String
    public var seed: Int
    /// Swept values that tell runs of one row apart (the grid's λ).
    public var swept: [String: String]
    /// Keys of the entries that must finish first.
    public var dependsOn: [String]

    public var phase: Int { kind == .cell ? 2 : 1 }
}

/// The walk over a table's runs shared by training, `--plan` and `--cell`: per data set, the λ grid when a row
/// needs it, then every (row, seed) cell, each cell's pre-training a run of its own.
struct TableWalk {
    let exp: Experiment
    let options: TableOptions
    let scale: Scale
    let store: ResultStore
    let text: TextEncoderProvider
    let methods: [Method]
    let seeds: Int

    /// The configuration, plan and label of one run: a table cell, or a run of the λ selection's grid.
    func plan(_ m: Method, _ ds: DatasetSpec, _ data: LabeledSplits, seed: Int, table: String, auxWeight: Float?) throws -> RunPlan {
        let o = options
        let cell = self.cell(m, ds)
        var recipe = exp.recipe(cell, scale)
        if let epochs = o.epochs { recipe = recipe.withEpochs(epochs) }
        if let pilot = o.epochPilot { recipe = recipe.epochPilot(epochs: pilot) }
        if let l = o.lambda ?? auxWeight, recipe.auxWeight != 0 { recipe.auxWeight = l }
        if let lr = o.learningRate { recipe.learningRate = lr }
        var hyper = recipe.asDictionary.merging(cell.parameters) { _, swept in swept }
        hyper["data"] = data.source
        let encoder = m.usesText ? try text.encoder() : nil
        if let e = encoder { hyper["text_encoder"] = e.name }
        let pretrain = m.pretrain?(scale)
        if let p = pretrain { hyper["pretrain"] = VLPPretraining.describe(p) }
        let task = exp.task(cell, scale)
        let channels = data.train.first?.channels ?? 1
        let size = data.train.first?.shape.last ?? scale.imageSize
        let context = ModelContext(scale: scale, inChannels: channels, imageSize: size, textWidth: encoder?.width ?? 384,
                                   outChannels: task.outputChannels)
        if let describe = m.architecture { hyper["model"] = describe(context) }
        let config = RunConfig(paper: exp.spec.paper, table: table, method: cell.method, dataset: cell.dataset,
                               variant: cell.variant, scale: scale.rawValue, seed: seed, dataSource: source,
                               hyperparameters: hyper)
        let dependency = try pretrain.map { settings -> Dependency in
            guard let e = encoder else { throw RunError("\(m.row.display): pre-training needs a text encoder") }
            return try VLPPretraining.dependency(method: m, settings: settings, fineTuning: config, context: context,
                                                 data: data, textEncoder: e.name, encode: e.encode)
        }
        var plan = RunPlan(config: config, cell: cell, recipe: recipe, scale: scale, seed: seed, task: task,
                           makeModel: { m.make(context) }, encodeText: encoder?.encode, dependency: dependency)
        plan.sameTraining = sameTraining(m, config)
        return plan
    }

    /// The names this run's training may already be stored under: the λ grid's run at the same λ and seed (TMC at
    /// seed 0 is a grid run), and the runs of the row this one declares it repeats (`Method.sameRunsAs`).
    func sameTraining(_ m: Method, _ config: RunConfig) -> [RunConfig] {
        var names = [(table: config.table, method: config.method, variant: config.variant)]
        if let same = m.sameRunsAs { names.append(same) }
        if let sel = exp.auxWeightSelection {
            names += names.filter { $0.method == sel.method.row.method && $0.variant == sel.method.row.variant }
                .map { (table: sel.table, method: $0.method, variant: $0.variant) }
        }
        return names.dropFirst().map { n in
            var c = config
            c.table = n.table; c.method = n.method; c.variant = n.variant
            return c
        }.filter { $0.id != config.id }
    }

    /// Seeds 0..<n of a row: the table's, or fewer where the row says so.
    func seeds(_ m: Method) -> Int { min(seeds, m.seedLimit ?? seeds) }

    var source: DataSource { options.dataRoot == nil ? .proxy : .real }

    func cell(_ m: Method, _ ds: DatasetSpec) -> Cell {
        Cell(method: m.row.method, dataset: ds.id, variant: m.row.variant, parameters: m.row.pinned)
    }

    /// Whether the row trains with an auxiliary loss on `ds`, and so takes the λ the grid chooses.
    func usesAuxWeight(_ m: Method, _ ds: DatasetSpec) -> Bool { exp.recipe(cell(m, ds), scale).auxWeight != 0 }

    /// The λ grid's runs on `ds`, when a row to be run needs λ; empty otherwise (or when `--lambda` fixes it).
    func selectionPlans(_ ds: DatasetSpec, _ data: LabeledSplits) throws -> [(value: Float, plan: RunPlan)] {
        guard let sel = exp.auxWeightSelection, options.lambda == nil, options.epochPilot == nil else { return [] }
        guard methods.contains(where: { usesAuxWeight($0, ds) }) else { return [] }
        return try sel.grid(scale).map { ($0, try plan(sel.method, ds, data, seed: sel.seed, table: sel.table, auxWeight: $0)) }
    }

    /// λ from the grid's stored validation scores; nil while a grid run is unfinished.
    func chosenFromStore(_ grid: [(value: Float, plan: RunPlan)]) throws -> (Float, [(value: Float, score: Double)])? {
        var scores: [(value: Float, score: Double)] = []
        for (value, p) in grid {
            guard try store.run(id: p.config.id)?.status == .finished else { return nil }
            scores.append((value, try store.summary(runId: p.config.id)["best_val_" + p.task.selectionMetric] ?? .nan))
        }
        guard let chosen = AuxWeightSelection.choose(scores) else {
            throw RunError("no run of the λ grid \(grid.map(\.value)) has a finite validation score; see the runs of table \(exp.auxWeightSelection?.table ?? "") in the store")
        }
        return (chosen, scores)
    }

    /// A cell's key: stable before its λ is chosen, so that a job array can name the cell up front.
    func cellKey(_ m: Method, _ ds: DatasetSpec, seed: Int) -> String {
        let identity = [exp.spec.paper, exp.spec.table, m.row.id, ds.id, "\(seed)", scale.rawValue, source.rawValue]
        return String(format: "cell-%016llx", RNG.hash(identity.joined(separator: "\u{1F}")))
    }

    /// Every run of the walk, in the order a job array runs them: pre-trainings and grid runs, then cells.
    func entries(datasets: [DatasetSpec]) throws -> [PlanEntry] {
        var first: [PlanEntry] = [], cells: [PlanEntry] = []
        var seen = Set<String>()
        for ds in datasets {
            let data = try exp.data(ds, scale, options.dataRoot)
            let grid = try selectionPlans(ds, data)
            for (value, p) in grid {
                let c = p.config
                first.append(PlanEntry(kind: .selection, key: c.id, run: c.id, table: c.table, method: c.method, variant: c.variant,
                                       dataset: c.dataset, seed: c.seed, swept: ["aux_weight": "\(value)"], dependsOn: []))
            }
            let chosen = grid.isEmpty ? nil : try chosenFromStore(grid)?.0
            for m in methods {
                for seed in 0..<seeds(m) {
                    let usesGrid = !grid.isEmpty && usesAuxWeight(m, ds)
                    let p = try plan(m, ds, data, seed: seed, table: exp.spec.table, auxWeight: chosen)
                    var depends: [String] = usesGrid ? grid.map(\.plan.config.id) : []
                    if let d = p.dependency {
                        let c = d.plan.config
                        if seen.insert(c.id).inserted {
                            first.append(PlanEntry(kind: .pretraining, key: c.id, run: c.id, table: c.table, method: c.method,
                                                   variant: c.variant, dataset: c.dataset, seed: c.seed, swept: [:], dependsOn: []))
                        }
                        depends.append(c.id)
                    }
                    let known = !usesGrid || chosen != nil
                    cells.append(PlanEntry(kind: .cell, key: cellKey(m, ds, seed: seed),
                                           run: known ? p.config.id : nil, table: p.config.table, method: m.row.method,
                                           variant: m.row.variant, dataset: ds.id, seed: seed, swept: m.row.pinned,
                                           dependsOn: depends))
                }
            }
        }
        return first + cells
    }
}

extension PlanEntry {
    /// Whether `--cell` values name this entry: a prefix of its key or of its run id.
    func matches(_ names: [String]) -> Bool {
        names.contains { n in key.hasPrefix(n) || (run?.hasPrefix(n) ?? false) }
    }
}

extension PlanEntry {
    /// The plan as a text table, one line per run.
    static func table(_ entries: [PlanEntry]) -> String {
        var lines = ["phase  kind         key                                                               run           method · variant · data set · seed"]
        for e in entries {
            let swept = e.swept.isEmpty ? "" : " · " + e.swept.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            let run = e.run.map { String($0.prefix(12)) } ?? "after λ"
            lines.append("\(e.phase)      \(e.kind.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) "
                         + "\(e.key.padding(toLength: 65, withPad: " ", startingAt: 0)) \(run.padding(toLength: 13, withPad: " ", startingAt: 0)) "
                         + "\(e.method) · \(e.variant) · \(e.dataset) · seed \(e.seed)\(swept)"
                         + (e.dependsOn.isEmpty ? "" : " (after \(e.dependsOn.count))"))
        }
        let first = entries.filter { $0.phase == 1 }.count
        lines.append("\(entries.count) runs: \(first) pre-trainings and grid runs, then \(entries.count - first) cells")
        return lines.joined(separator: "\n")
    }
}
