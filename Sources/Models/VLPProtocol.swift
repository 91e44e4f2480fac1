// The two-phase protocol of TMC Table 1's vision-language rows (CLIP, MAP, MGCA).
//
// TMC compares with CLIP, MAP and MGCA but does not say how they became segmenters: not the backbone, not the
// pre-training data, not the decoder. We run one protocol for all three, so that the rows differ only in the
// pre-training objective (Papers/TMC/vlp-baselines.md gives the reasons and what differs from the original papers):
//
//   Phase 1 — pre-training. The image encoder (the U-Net row's encoder) and the text projection over a FROZEN text
//   encoder are trained with the method's own objective on the image-text pairs of the TRAINING split only (no
//   MIMIC-CXR, no validation or test images), for `VLPPretrainSettings.epochs` epochs. Decoder and fusion are not
//   touched.
//   Phase 2 — fine-tuning. The objective's heads are frozen and dropped from the optimiser; the whole segmenter
//   (pre-trained encoder and text projection, fresh fusion and decoder) is trained on the segmentation loss with the
//   same recipe, early stopping and model selection as every other Table 1 row (the suite's SegmentationRunner).

import Foundation
import Engine
import NN

/// A segmenter whose encoders can be pre-trained on image-text pairs before it is fine-tuned.
public protocol Pretrainable: SegmentationModel {
    /// The weighted terms of the pre-training loss for one batch of image-text pairs (names for the training log).
    func pretrainTerms(images: Tensor, text: TextInput) -> [String: Tensor]
    /// Called before each pre-training epoch, counted from 0.
    func pretrainEpochWillBegin(_ epoch: Int)
    /// What phase 1 optimises.
    var pretrainParameters: [Tensor] { get }
    /// Ends phase 1: freezes the pre-training heads so that `trainableParameters` is the segmenter alone.
    func prepareForFineTuning()
}

extension Pretrainable {
    /// The pre-training loss: the sum of `pretrainTerms`, in a fixed order.
    public func pretrainLoss(images: Tensor, text: TextInput) -> Tensor {
        let terms = pretrainTerms(images: images, text: text).sorted { $0.key < $1.key }.map(\.value)
        precondition(!terms.isEmpty, "pretrainLoss: the objective returned no terms")
        return terms.dropFirst().reduce(terms[0], +)
    }
}

/// Phase 1 settings. None comes from TMC, which is silent about its VLP baselines; `sources` says where each comes from.
public struct VLPPretrainSettings: Codable, Hashable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var weightDecay: Float
    /// Fraction of the steps spent in linear warm-up before the cosine decay to 0.
    public var warmupFraction: Double

    public init(epochs: Int, batchSize: Int, learningRate: Float, weightDecay: Float, warmupFraction: Double) {
        precondition(epochs >= 0 && batchSize >= 2 && learningRate > 0 && (0..<1).contains(warmupFraction),
                     "VLPPretrainSettings: need epochs ≥ 0, batch ≥ 2 (contrastive losses need negatives), lr > 0, warm-up in [0, 1)")
        self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate
        self.weightDecay = weightDecay; self.warmupFraction = warmupFraction
    }

    /// The same for all three methods, so that only the objective differs.
    public static let standard = VLPPretrainSettings(epochs: 50, batchSize: 32, learningRate: 3e-4, weightDecay: 0.05,
                                                     warmupFraction: 0.1)

    public static let sources: [String: String] = [
        "epochs": "not stated by TMC; 50 as MGCA pre-trains (CLIP: 32, on far more data)",
        "batchSize": "not stated; 32 gives each pair 31 in-batch negatives while a 224² encoder batch still fits in memory",
        "learningRate": "not stated; 3e-4, TMC's fine-tuning rate (§4.2), because the encoder starts from scratch (MGCA's 2e-5 fine-tunes pretrained ViT/BERT)",
        "weightDecay": "AdamW weight decay 0.05 as MGCA",
        "warmupFraction": "not stated; 10% linear warm-up, then cosine decay to 0 (CLIP and MGCA both warm up, then decay by cosine)",
        "optimizer": "AdamW, betas (0.9, 0.999), as MGCA and CLIP (CLIP: β₂ 0.98)",
    ]
}

public struct VLPError: Error, CustomStringConvertible {
    public let description: String
}

public enum VLPProtocol {
    /// One batch of image-text pairs: images [B, C, H, W] and their texts with `features` filled by the frozen encoder.
    public struct Batch {
        public let images: Tensor
        public let text: TextInput
        public init(images: Tensor, text: TextInput) { self.images = images; self.text = text }
    }

    /// Mean loss terms over one pre-training epoch.
    public struct EpochLog: Equatable {
        public let epoch: Int
        public let loss: Double
        public let terms: [String: Double]
        public let steps: Int
    }

    /// Batches of an epoch: a seeded shuffle of 0..<pairs, cut into full batches. The incomplete last batch is dropped,
    /// as contrastive pre-training usually does (a batch of one has no negatives and breaks BatchNorm statistics).
    public static func epochBatches(pairs: Int, batchSize: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        var order = Array(0..<pairs)
        var rng = RNG(seed: seed).fork("vlp-pretrain").fork(UInt64(epoch))
        rng.shuffle(&order)
        return stride(from: 0, to: pairs - batchSize + 1, by: batchSize).map { Array(order[$0..<($0 + batchSize)]) }
    }

    /// Phase 1 one epoch at a time, so that a stored pre-training run can checkpoint between epochs and resume:
    /// the schedule's step and the batches of an epoch depend only on (seed, epoch).
    public struct Phase1 {
        public let settings: VLPPretrainSettings
        public let pairs: Int
        public let seed: UInt64
        public let stepsPerEpoch: Int
        let schedule: LRSchedule

        public init(pairs: Int, settings: VLPPretrainSettings, seed: UInt64) throws {
            stepsPerEpoch = pairs / settings.batchSize
            guard settings.epochs == 0 || stepsPerEpoch > 0 else {
                throw VLPError(description: "VLP pre-training needs at least one full batch: \(pairs) pairs, batch size \(settings.batchSize). Lower the batch size.")
            }
            self.settings = settings; self.pairs = pairs; self.seed = seed
            let total = settings.epochs * stepsPerEpoch
            schedule = LRSchedule.warmupCosine(warmup: Int(Double(total) * settings.warmupFraction), total: total)
        }

        /// AdamW over what phase 1 optimises.
        public func optimizer(for model: Pretrainable) -> Optimizer {
            AdamW(model.pretrainParameters, lr: settings.learningRate, weightDecay: settings.weightDecay)
        }

        /// Trains epoch `epoch` (from 0) in place and returns its mean loss terms.
        public func runEpoch(_ model: Pretrainable, optimizer: Optimizer, epoch: Int, makeBatch: ([Int]) -> Batch) throws -> EpochLog {
            model.train()
            model.pretrainEpochWillBegin(epoch)
            var sums: [String: Double] = [:], lossSum = 0.0
            var step = epoch * stepsPerEpoch
            for indices in epochBatches(pairs: pairs, batchSize: settings.batchSize, seed: seed, epoch: epoch) {
                let batch = makeBatch(indices)
                model.placeRandomness(seed: seed, phase: "pre-train", epoch: epoch, step: step)
                let terms = model.pretrainTerms(images: batch.images, text: batch.text)
                let loss = terms.sorted { $0.key < $1.key }.map(\.value).reduce(Tensor(scalar: 0), +)
                let value = loss.item
                guard value.isFinite else {
                    throw VLPError(description: "VLP pre-training loss became \(value) at epoch \(epoch + 1), step \(step + 1) (terms \(terms.mapValues(\.item))). Lower the learning rate (now \(settings.learningRate)) or check the inputs for NaN.")
                }
                for (k, t) in terms { sums[k, default: 0] += Double(t.item) }
                lossSum += Double(value)
                optimizer.learningRate = schedule.lr(base: settings.learningRate, step: step)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                step += 1
            }
            return EpochLog(epoch: epoch + 1, loss: lossSum / Double(stepsPerEpoch),
                            terms: sums.mapValues { $0 / Double(stepsPerEpoch) }, steps: stepsPerEpoch)
        }
    }

    /// Phase 1: pre-trains `model`'s encoders on `pairs` image-text pairs of the training split with the model's
    /// objective, AdamW and warm-up + cosine schedule of `settings`. `makeBatch` turns indices into 0..<pairs into a
    /// batch. Returns the per-epoch log (also passed to `onEpoch` as each epoch ends).
    @discardableResult
    public static func pretrain(_ model: Pretrainable, pairs: Int, settings: VLPPretrainSettings = .standard, seed: UInt64,
                                makeBatch: ([Int]) -> Batch, onEpoch: ((EpochLog) -> Void)? = nil) throws -> [EpochLog] {
        let phase = try Phase1(pairs: pairs, settings: settings, seed: seed)
        let optimizer = phase.optimizer(for: model)
        model.train()
        var logs: [EpochLog] = []
        for epoch in 0..<settings.epochs {
            let log = try phase.runEpoch(model, optimizer: optimizer, epoch: epoch, makeBatch: makeBatch)
            logs.append(log)
            onEpoch?(log)
        }
        model.zeroGrad()
        return logs
    }

    /// Between the phases: freezes the pre-training heads and returns the model to training mode. Build the
    /// fine-tuning optimiser from `model.trainableParameters` AFTER this call.
    public static func prepareForFineTuning(_ model: Pretrainable) {
        model.prepareForFineTuning()
    }
}
