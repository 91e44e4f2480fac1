import Foundation
import NN

/// A training recipe. Every field says where it comes from in `source` (paper section, or "not stated: …").
public struct Recipe: Codable, Hashable, Sendable {
    public var learningRate: Float
    public var batchSize: Int
    public var maxEpochs: Int
    public var patience: Int
    public var optimizer: String
    public var weightDecay: Float
    public var loss: String
    /// Weight of an auxiliary loss (TMC's λ for the alignment loss), 0 when unused.
    public var auxWeight: Float
    public var imageSize: Int
    public var augment: Bool
    /// The learning rate per epoch (UNETR's recipe: 50 warm-up epochs, then cosine); constant by default.
    public var lrSchedule: LRSchedule = .constant
    /// Validate (and select, and count patience) every this many epochs and after the last (UNETR: 100).
    public var validateEvery: Int = 1
    /// The training protocol a table's runs share ("tmc-2"), hashed as "protocol": a table that names one
    /// (`TableSpec.protocolTag`) counts only its runs. Empty for tables with one protocol only.
    public var protocolTag: String = ""

    public init(learningRate: Float, batchSize: Int, maxEpochs: Int, patience: Int, optimizer: String = "adam",
                weightDecay: Float = 0, loss: String = "bce+dice", auxWeight: Float = 0, imageSize: Int, augment: Bool = false) {
        self.learningRate = learningRate; self.batchSize = batchSize; self.maxEpochs = maxEpochs; self.patience = patience
        self.optimizer = optimizer; self.weightDecay = weightDecay; self.loss = loss; self.auxWeight = auxWeight
        self.imageSize = imageSize; self.augment = augment
    }

    /// The run's hyperparameters as hashed into its id. Fields at their defaults are left out, so that adding a
    /// field keeps every earlier run's id (and its stored results) valid.
    var asDictionary: [String: String] {
        var d = ["lr": "\(learningRate)", "batch": "\(batchSize)", "max_epochs": "\(maxEpochs)", "patience": "\(patience)",
                 "optimizer": optimizer, "weight_decay": "\(weightDecay)", "loss": loss, "aux_weight": "\(auxWeight)",
                 "image_size": "\(imageSize)", "augment": "\(augment)"]
        if lrSchedule != .constant { d["lr_schedule"] = "\(lrSchedule)" }
        if validateEvery != 1 { d["validate_every"] = "\(validateEvery)" }
        if !protocolTag.isEmpty { d["protocol"] = protocolTag }
        return d
    }
}

extension Recipe {
    /// The same recipe over `epochs` epochs: the schedule stretched to the new length, and a patience that meant
    /// "no early stopping" kept so.
    public func withEpochs(_ epochs: Int) -> Recipe {
        var r = self
        if patience >= maxEpochs { r.patience = epochs }
        r.maxEpochs = epochs
        switch lrSchedule {
        case let .warmupCosine(w, _, start, minLR): r.lrSchedule = .warmupCosine(warmup: min(w, epochs), total: epochs, warmupStartLR: start, minLR: minLR)
        case let .linearWarmupCosine(w, _, start, minLR): r.lrSchedule = .linearWarmupCosine(warmup: min(w, epochs), total: epochs, startLR: start, minLR: minLR)
        case let .cosine(_, minLR): r.lrSchedule = .cosine(total: epochs, minLR: minLR)
        case let .polynomial(_, power): r.lrSchedule = .polynomial(total: epochs, power: power)
        default: break
        }
        return r
    }

    /// The recipe as an epoch-budget pilot runs it: `epochs` epochs at the same rate, warm-up and optimiser, but the
    /// rate held after the warm-up and no early stopping, so that the validation curve shows where the method
    /// stops learning rather than where a decay or a patience rule stopped it.
    public func epochPilot(epochs: Int) -> Recipe {
        var r = self
        r.maxEpochs = epochs
        r.patience = epochs
        switch lrSchedule {
        case let .warmupCosine(warmup, _, start, _): r.lrSchedule = .warmupConstant(warmup: warmup, warmupStartLR: start)
        case let .linearWarmupCosine(warmup, _, start, _):
            // UNETR's warm-up reaches the base rate at epoch warmup − 1.
            r.lrSchedule = .warmupConstant(warmup: max(warmup - 1, 0), warmupStartLR: start)
        default: r.lrSchedule = .constant
        }
        return r
    }
}

/// One cell of a results table: a method (in one variant) on one data set.
public struct Cell: Hashable, Sendable {
    public var method: String
    public var dataset: String
    /// "image-only", "full", "no-MCM", ... — the `variant` column of published-values.csv.
    public var variant: String
    /// The row's swept values (label ratio, λ, ...), stored with the run's hyperparameters.
    public var parameters: [String: String]
    public init(method: String, dataset: String, variant: String, parameters: [String: String] = [:]) {
        self.method = method; self.dataset = dataset; self.variant = variant; self.parameters = parameters
    }
}
