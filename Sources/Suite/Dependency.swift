import Foundation
import Engine
import NN
import Models

/// A run whose product is weights for other runs: a pre-training. It is a cell of its own in the store, keyed by
/// its config hash, trained once, checkpointed after every epoch so that a killed pre-training resumes where it
/// stopped, and reused by every fine-tuning run that names it. Its curves are stored under split "pretrain".
public struct WeightsPlan {
    public var config: RunConfig
    public var seed: Int
    public var epochs: Int
    /// Builds the model to train; the initialiser is seeded with `seed` first.
    public var makeModel: () -> Module
    public var makeOptimizer: (Module) -> Optimizer
    /// Trains epoch `epoch` (from 0) in place and returns what to log for it ("loss" at least).
    public var trainEpoch: (_ model: Module, _ optimizer: Optimizer, _ epoch: Int) throws -> [String: Double]

    public init(config: RunConfig, seed: Int, epochs: Int, makeModel: @escaping () -> Module,
                makeOptimizer: @escaping (Module) -> Optimizer,
                trainEpoch: @escaping (Module, Optimizer, Int) throws -> [String: Double]) {
        self.config = config; self.seed = seed; self.epochs = epochs; self.makeModel = makeModel
        self.makeOptimizer = makeOptimizer; self.trainEpoch = trainEpoch
    }
}

/// What a fine-tuning run takes from a stored pre-training: the plan that produces the weights, and how they
/// enter the freshly built model (all of them, an encoder under a name map, a 2D stem inflated to 3D, ...).
public struct Dependency {
    public var plan: WeightsPlan
    public var apply: (SegmentationModel, [String: Tensor]) throws -> Void
    public init(plan: WeightsPlan, apply: @escaping (SegmentationModel, [String: Tensor]) throws -> Void) {
        self.plan = plan; self.apply = apply
    }
}

/// The split name under which pre-training runs are stored: they belong to no table.
public let pretrainingTable = "pretraining"

extension SegmentationRunner {
    /// The weights `plan` produces: read from its stored run when finished, otherwise trained (or resumed) and
    /// stored first. A finished run whose checkpoint has gone is trained again, from its seed, to the same weights.
    public func weights(of plan: WeightsPlan, label: String) throws -> [String: Tensor] {
        let id = plan.config.id
        let ckpt = store.checkpointURL(runId: id)
        // Another process pre-training the same weights is waited for, then its result is read.
        let lock = try RunLock.acquire(checkpoint: ckpt, wait: true)
        defer { withExtendedLifetime(lock) {} }
        if case .finished = try store.beginRun(plan.config) {
            if let w = try? Checkpoint.modelWeights(at: ckpt) { return w }
            log("\(label): pre-training \(id.prefix(12)) is marked finished but \(ckpt.path) is gone; training it again")
            try store.deleteRun(runId: id)
            _ = try store.beginRun(plan.config)
        }
        do {
            return try trainWeights(plan, checkpoint: ckpt, label: label)
        } catch let paused as RunPaused {
            throw paused
        } catch {
            try? store.markFailed(runId: id, error: "\(error)")
            throw error
        }
    }

    private func trainWeights(_ plan: WeightsPlan, checkpoint ckpt: URL, label: String) throws -> [String: Tensor] {
        let id = plan.config.id
        let model = plan.makeModel()
        model.initialize(seed: UInt64(plan.seed))
        let optimizer = plan.makeOptimizer(model)
        var state = TrainState()
        if FileManager.default.fileExists(atPath: ckpt.path) {
            state = try Checkpoint.load(from: ckpt, model: model, optimizer: optimizer)
            log("\(label): resuming pre-training after epoch \(state.epoch)")
        }
        let bar = ProgressBar(label: label, total: plan.epochs, enabled: progress)
        bar.advance(to: state.epoch)
        let firstEpoch = state.epoch
        var last: [String: Double] = [:]
        while state.epoch < plan.epochs {
            if budgetSpent(epochsThisCall: state.epoch - firstEpoch) { throw RunPaused(runId: id, epochsDone: state.epoch) }
            last = try plan.trainEpoch(model, optimizer, state.epoch)
            state.epoch += 1
            try store.appendCurve(runId: id, epoch: state.epoch, split: "pretrain", values: last)
            try Checkpoint.save(state, model: model, optimizer: optimizer, to: ckpt)
            try store.updateProgress(runId: id, epochsDone: state.epoch, bestEpoch: nil)
            bar.advance(to: state.epoch)
            FaultInjection.killIfRequested(afterEpoch: state.epoch)
        }
        bar.finish()
        model.zeroGrad()
        // Also when no epoch ran (a zero-epoch pre-training), so that the finished run has its weights on disk.
        try Checkpoint.save(state, model: model, optimizer: optimizer, to: ckpt)
        try store.putSummary(runId: id, last.merging(["epochs": Double(state.epoch)]) { a, _ in a })
        try store.markFinished(runId: id, epochsDone: state.epoch)
        return model.stateDict()
    }
}
