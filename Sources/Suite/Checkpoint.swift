import Foundation
import Engine
import NN

/// Where a run stands between epochs: everything needed to continue as if it had never stopped.
struct TrainState {
    var epoch = 0
    var bestScore = -Double.infinity
    var bestEpoch = 0
    var badEpochs = 0
    /// Weights of the best validation epoch so far (the model selected for testing).
    var best: [String: Tensor]?

    /// Whether training ends after the epoch just recorded: at the epoch cap, or once `patience` epochs in a row
    /// brought no improvement, but never before epoch 2·patience. Early on, validation Dice can spike on the
    /// scattered foreground of an untrained model and then drop to 0 while the model learns the background: TMC
    /// without MCM on the Duke-Breast proxy scored 0.77 at epoch 1 and 0 after, and stopped at epoch 6 with a
    /// still-falling loss. No run that reached epoch 2·patience is affected.
    /// With validation every `validateEvery` epochs, patience counts validations, and the guard scales with it.
    func finished(maxEpochs: Int, patience: Int, validateEvery: Int = 1) -> Bool {
        epoch >= maxEpochs || (badEpochs >= patience && epoch >= 2 * patience * validateEvery)
    }

    /// Records the validation score of the epoch just finished; true when it is the best so far (keep its weights).
    /// Patience counts only once the model has marked some validation foreground. Under plain BCE a model first
    /// learns the background, and its validation Dice stays exactly 0 for a few epochs while the loss falls;
    /// counting those epochs stopped TMC without MCM on the MosMedData proxy (lr 1e-3, patience 5) at epoch 6 with
    /// Dice 0 and a still-falling loss. A run whose validation Dice turns positive within `patience` epochs is
    /// unaffected; the epoch cap still bounds the rest.
    mutating func record(validation score: Double) -> Bool {
        if score > bestScore {
            bestScore = score
            bestEpoch = epoch
            badEpochs = 0
            return true
        }
        if bestScore > 0 { badEpochs += 1 }
        return false
    }
}

/// One safetensors file per run: current weights (`model.*`), the best weights (`best.*`), optimiser moments (`opt.*`)
/// and the counters as metadata. Written atomically after every epoch, so a kill at any moment leaves either the
/// previous epoch's file or this one's.
enum Checkpoint {
    static func save(_ s: TrainState, model: Module, optimizer: Optimizer, to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (k, v) in model.stateDict() { tensors["model." + k] = v }
        for (k, v) in s.best ?? [:] { tensors["best." + k] = v }
        for (k, v) in optimizer.stateDict() { tensors["opt." + k] = v }
        try Safetensors.write(tensors, to: url, metadata: [
            "epoch": "\(s.epoch)", "best_score": "\(s.bestScore)", "best_epoch": "\(s.bestEpoch)",
            "bad_epochs": "\(s.badEpochs)", "learning_rate": "\(optimizer.learningRate)"])
    }

    /// The current weights (`model.*`) of a checkpoint, without the optimiser or the best weights.
    static func modelWeights(at url: URL) throws -> [String: Tensor] {
        let all = try SafetensorsFile(contentsOf: url).allTensors()
        return Dictionary(uniqueKeysWithValues: all.filter { $0.key.hasPrefix("model.") }.map { (String($0.key.dropFirst(6)), $0.value) })
    }

    static func load(from url: URL, model: Module, optimizer: Optimizer) throws -> TrainState {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch {
            throw RunError("checkpoint \(url.path) is unreadable (\(error)). Delete it to restart this run from epoch 0, or rerun with --force.")
        }
        let all = try file.allTensors()
        func part(_ prefix: String) -> [String: Tensor] {
            Dictionary(uniqueKeysWithValues: all.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        }
        do {
            try model.loadStateDict(part("model."))
            try optimizer.loadStateDict(part("opt."))
        } catch {
            throw RunError("checkpoint \(url.path) does not fit this model (\(error)). It was written by another configuration; delete it or rerun with --force.")
        }
        let m = file.metadata
        var s = TrainState()
        s.epoch = Int(m["epoch"] ?? "") ?? 0
        s.bestScore = Double(m["best_score"] ?? "") ?? -.infinity
        s.bestEpoch = Int(m["best_epoch"] ?? "") ?? 0
        s.badEpochs = Int(m["bad_epochs"] ?? "") ?? 0
        let best = part("best.")
        s.best = best.isEmpty ? nil : best
        if let lr = m["learning_rate"].flatMap(Float.init) { optimizer.learningRate = lr }
        return s
    }
}

/// The optimiser a recipe names. TMC §4.2 gives only learning rates; Adam is LViT's optimiser, which TMC builds on.
func makeOptimizer(_ r: Recipe, _ params: [Tensor]) -> Optimizer {
    switch r.optimizer {
    case "adamw": return AdamW(params, lr: r.learningRate, weightDecay: r.weightDecay)
    case "sgd": return SGD(params, lr: r.learningRate, momentum: 0.9, weightDecay: r.weightDecay)
    default: return Adam(params, lr: r.learningRate, weightDecay: r.weightDecay)
    }
}
