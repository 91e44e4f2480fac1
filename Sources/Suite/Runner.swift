import Foundation
import Engine
import NN
import Models
import Data
import Metrics

/// Raised when a run cannot go on. The message names what failed and what to do; the store marks the run failed and
/// keeps its checkpoint, so nothing finished is lost.
public struct RunError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Thrown when a runner's epoch budget is spent before the run finished: the run is checkpointed, still marked
/// running, and resumes on the next call.
public struct RunPaused: Error, CustomStringConvertible {
    public let runId: String
    public let epochsDone: Int
    public var description: String { "run \(runId) paused after epoch \(epochsDone); run again to resume it" }
}

/// Everything one training run needs, besides the store.
public struct RunPlan {
    public var config: RunConfig
    public var cell: Cell
    public var recipe: Recipe
    public var scale: Scale
    public var seed: Int
    /// Builds the model for this run; called after seeding the initialiser.
    public var makeModel: () -> SegmentationModel
    /// Turns a batch's texts into the model's text input (nil for image-only models).
    public var encodeText: (([String]) -> TextInput)?
    /// A stored pre-training whose weights the model starts from.
    public var dependency: Dependency?
    /// What is segmented and how it is scored (TMC: `.binaryLViT`).
    public var task: SegmentationTask
    /// Runs of other tables that are this run's training under another name (the same model, data, recipe and
    /// seed); the first one finished is copied instead of training again (`ResultStore.copyTraining`).
    public var sameTraining: [RunConfig] = []

    public init(config: RunConfig, cell: Cell, recipe: Recipe, scale: Scale, seed: Int, task: SegmentationTask,
                makeModel: @escaping () -> SegmentationModel, encodeText: (([String]) -> TextInput)? = nil,
                dependency: Dependency? = nil) {
        self.config = config; self.cell = cell; self.recipe = recipe; self.scale = scale; self.seed = seed
        self.task = task; self.makeModel = makeModel; self.encodeText = encodeText; self.dependency = dependency
    }
}

/// Trains one segmentation run of any task with validation-based model selection and early stopping,
/// checkpointing every epoch so that a killed run resumes where it stopped, then scores the selected model on the
/// test split.
public final class SegmentationRunner {
    let store: ResultStore
    let progress: Bool
    /// When set, a run stops after this many epochs of one call, checkpointed and still marked running, and the
    /// call throws `RunPaused`; the next call resumes it. For compute that comes in slices, and for tests that
    /// interrupt a run in-process.
    public var epochBudget: Int?
    /// When set, a run that has trained at least one epoch in this call pauses (as with `epochBudget`) at the first
    /// epoch boundary after this moment: `--time-budget`, so that a session ends with every run checkpointed.
    public var deadline: Date?
    /// Runs this runner found locked by another process and left to it (`RunLock`).
    public private(set) var leftToOthers = 0

    /// Whether the run should pause before its next epoch, having trained `done` epochs in this call.
    func budgetSpent(epochsThisCall done: Int) -> Bool {
        if let budget = epochBudget, done >= budget { return true }
        if let d = deadline, done > 0, Date() >= d { return true }
        return false
    }

    public init(store: ResultStore, progress: Bool = true) {
        self.store = store
        self.progress = progress
    }

    /// Runs (or resumes, or skips) one plan. Returns false when it was already finished, or when another process is
    /// training it and `waitForOthers` is false (a table moves on; a caller that needs the result waits).
    @discardableResult
    public func run(_ plan: RunPlan, data: LabeledSplits, force: Bool, label: String, waitForOthers: Bool = false) throws -> Bool {
        let id = plan.config.id
        // A finished run is skipped before any lock file is made: a restored clone stays without checkpoints/.
        if !force, try store.run(id: id)?.status == .finished { return false }
        guard let lock = try RunLock.acquire(checkpoint: store.checkpointURL(runId: id), wait: waitForOthers) else {
            log("\(label): another process is training this run; left to it")
            leftToOthers += 1
            return false
        }
        defer { withExtendedLifetime(lock) {} }
        if force { try store.deleteRun(runId: id); try? FileManager.default.removeItem(at: store.checkpointURL(runId: id)) }
        for other in plan.sameTraining where !force {
            guard let done = try store.result(id: other.id), done.record.status == .finished else { continue }
            try store.copyTraining(done, as: plan.config)
            log("\(label): the same training as run \(other.id.prefix(12)) of \(other.table) (\(other.method) · \(other.variant)); copied, not retrained")
            return true
        }
        switch try store.beginRun(plan.config) {
        case .finished: return false
        case .new, .resumable: break
        }
        do {
            try train(plan, data: data, label: label)
            return true
        } catch let paused as RunPaused {
            throw paused
        } catch {
            try? store.markFailed(runId: id, error: "\(error)")
            throw error
        }
    }

    private func train(_ plan: RunPlan, data: LabeledSplits, label: String) throws {
        let id = plan.config.id
        let r = plan.recipe
        let task = plan.task
        guard !data.train.isEmpty, !data.val.isEmpty, !data.test.isEmpty else {
            throw RunError("\(data.name) (\(data.source)) has an empty split: train \(data.train.count), val \(data.val.count), test \(data.test.count). Each split needs at least one case.")
        }
        guard data.classes.count == task.classes.count else {
            throw RunError("\(data.name) (\(data.source)) has \(data.classes.count) classes with the background (\(data.classes.joined(separator: ", "))) but the \(task.name) task scores \(task.classes.count) (\(task.classes.joined(separator: ", "))); the data set is not the one this table expects")
        }
        guard task.losses.contains(r.loss) else {
            throw RunError("\(label): the recipe's loss '\(r.loss)' does not fit the \(task.name) task; it accepts \(task.losses.joined(separator: ", "))")
        }
        try TrainingBatches.check(data.train, task: task, dataset: data.name)
        let items = TrainingBatches.items(data.train, task: task)
        let pretrained = try plan.dependency.map { try weights(of: $0.plan, label: label + " · pre-training") }
        let model = plan.makeModel()
        model.initialize(seed: UInt64(plan.seed))
        model.train()
        if let dependency = plan.dependency, let w = pretrained { try dependency.apply(model, w) }
        let ckpt = store.checkpointURL(runId: id)
        let resuming = FileManager.default.fileExists(atPath: ckpt.path)
        let optimizer = makeOptimizer(r, model.trainableParameters)
        var state = TrainState()
        if resuming {
            state = try Checkpoint.load(from: ckpt, model: model, optimizer: optimizer)
            log("\(label): resuming after epoch \(state.epoch) (best val \(task.selectionMetric) \(fmt(state.bestScore)) at epoch \(state.bestEpoch))")
        }
        let rng = RNG(seed: UInt64(plan.seed)).fork("order")
        let stepsPerEpoch = (items.count + r.batchSize - 1) / r.batchSize
        let bar = ProgressBar(label: label, total: r.maxEpochs * stepsPerEpoch, enabled: progress)
        bar.advance(to: state.epoch * stepsPerEpoch)
        let firstEpoch = state.epoch
        while !state.finished(maxEpochs: r.maxEpochs, patience: r.patience, validateEvery: r.validateEvery) {
            if budgetSpent(epochsThisCall: state.epoch - firstEpoch) { throw RunPaused(runId: id, epochsDone: state.epoch) }
            // The order of epoch e depends only on (seed, e), and so do its patches, so a resumed run sees the same batches.
            var order = Array(items.indices)
            var erng = rng.fork(UInt64(state.epoch))
            erng.shuffle(&order)
            var lossSum: Double = 0
            // Per epoch, as UNETR steps its scheduler; a function of the epoch, so a resumed run continues it.
            let lr = r.lrSchedule.lr(base: r.learningRate, step: state.epoch)
            optimizer.learningRate = lr
            for s in 0..<stepsPerEpoch {
                let idx = order[(s * r.batchSize)..<min((s + 1) * r.batchSize, order.count)]
                let cases = TrainingBatches.draw(Array(idx), from: items, task: task, seed: UInt64(plan.seed), epoch: state.epoch)
                let batch = Batching.make(ArraySlice(cases), output: task.output)
                model.placeRandomness(seed: UInt64(plan.seed), phase: "fine-tune", epoch: state.epoch, step: s)
                let out = model.forward(image: batch.images, text: plan.encodeText?(batch.texts))
                var loss = try segmentationLoss(r.loss, out, batch, task: task)
                for (_, aux) in out.auxLosses.sorted(by: { $0.key < $1.key }) where r.auxWeight != 0 { loss = loss + aux * r.auxWeight }
                let lv = loss.item
                guard lv.isFinite else {
                    throw RunError("\(label): the training loss became \(lv) at epoch \(state.epoch + 1), step \(s + 1). Lower the learning rate (now \(r.learningRate)) or check the inputs for NaN; the last good checkpoint is kept at \(ckpt.path) and the run resumes from it.")
                }
                lossSum += Double(lv)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                bar.advance(to: state.epoch * stepsPerEpoch + s + 1)
            }
            state.epoch += 1
            var trainValues = ["loss": lossSum / Double(stepsPerEpoch)]
            if r.lrSchedule != .constant { trainValues["lr"] = Double(lr) }
            try store.appendCurve(runId: id, epoch: state.epoch, split: "train", values: trainValues)
            if state.epoch % r.validateEvery == 0 || state.epoch == r.maxEpochs {
                let predictions = TaskEvaluation.predict(model, data.val, task: task, batchSize: r.batchSize, encodeText: plan.encodeText)
                let val = TaskEvaluation.summarize(TaskEvaluation.score(predictions, data.val, task: task, distances: false), task: task)
                // A validation split without any foreground scores 0: nothing to select on, so the first epoch stays best.
                let selection = val[task.selectionMetric] ?? 0
                try store.appendCurve(runId: id, epoch: state.epoch, split: "val", values: val)
                if state.record(validation: selection) { state.best = model.stateDict().mapValues { $0.detached() } }
            }
            try Checkpoint.save(state, model: model, optimizer: optimizer, to: ckpt)
            try store.updateProgress(runId: id, epochsDone: state.epoch, bestEpoch: state.bestEpoch)
            FaultInjection.killIfRequested(afterEpoch: state.epoch)
        }
        bar.finish()
        if let best = state.best { try model.loadStateDict(best) }
        let predictions = TaskEvaluation.predict(model, data.test, task: task, batchSize: r.batchSize, encodeText: plan.encodeText)
        let rows = TaskEvaluation.score(predictions, data.test, task: task, distances: task.distances)
        var summary = TaskEvaluation.summarize(rows, task: task)
        summary["best_val_" + task.selectionMetric] = state.bestScore
        summary["epochs"] = Double(state.epoch)
        if let control = plan.encodeText.map({ _ in textControl(model, plan, data) }) {
            summary["Dice_shuffled_text"] = control
        }
        try store.putCaseMetrics(runId: id, rows)
        try store.putSummary(runId: id, summary)
        try store.markFinished(runId: id, epochsDone: state.epoch, bestEpoch: state.bestEpoch)
        let extra = summary["mIoU"].map { " mIoU \(fmt($0))" } ?? summary["HD95"].map { " HD95 \(fmt($0)) mm" } ?? ""
        log("\(label): test Dice \(fmt(summary["Dice"] ?? .nan))\(extra) (best epoch \(state.bestEpoch) of \(state.epoch))")
    }

    /// Test Dice when every image gets another image's text (a derangement by rotation): how much the text matters.
    private func textControl(_ model: SegmentationModel, _ plan: RunPlan, _ data: LabeledSplits) -> Double {
        let texts = data.test.map(\.text)
        let rotated = Array(texts[(texts.count / 2)...] + texts[..<(texts.count / 2)])
        let predictions = TaskEvaluation.predict(model, data.test, task: plan.task, batchSize: plan.recipe.batchSize,
                                                 encodeText: plan.encodeText, texts: rotated)
        return TaskEvaluation.summarize(TaskEvaluation.score(predictions, data.test, task: plan.task, distances: false),
                                        task: plan.task)["Dice"] ?? .nan
    }

    func log(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
    private func fmt(_ x: Double) -> String { String(format: "%.2f", x) }
}
