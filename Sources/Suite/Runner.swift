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
    /// Vision-language pre-training on the training split's image-text pairs before fine-tuning.
    public var pretrain: VLPPretrainSettings?
}

/// A mini-batch as tensors.
struct Batch {
    let images: Tensor   // [B, C, H, W]
    let masks: Tensor    // [B, 1, H, W]
    let texts: [String]
    let ids: [String]
}

enum Batching {
    static func make(_ samples: ArraySlice<SegSample>) -> Batch {
        let first = samples.first!
        let (c, h, w) = (first.image.channels, first.image.height, first.image.width)
        let images = Tensor.empty([samples.count, c, h, w])
        let masks = Tensor.empty([samples.count, 1, h, w])
        for (i, s) in samples.enumerated() {
            precondition(s.image.channels == c && s.image.height == h && s.image.width == w,
                         "sample \(s.id) is \(s.image.channels)×\(s.image.height)×\(s.image.width), batch expects \(c)×\(h)×\(w)")
            s.image.pixels.withUnsafeBufferPointer { (images.ptr + i * c * h * w).update(from: $0.baseAddress!, count: c * h * w) }
            for j in 0..<(h * w) { masks.ptr[i * h * w + j] = Float(s.mask[j]) }
        }
        return Batch(images: images, masks: masks, texts: samples.map(\.text), ids: samples.map(\.id))
    }
}

/// Trains one segmentation run with validation-based model selection and early stopping, checkpointing every epoch
/// so that a killed run resumes where it stopped, then scores the selected model on the test split.
public final class SegmentationRunner {
    let store: ResultStore
    let progress: Bool

    public init(store: ResultStore, progress: Bool = true) {
        self.store = store
        self.progress = progress
    }

    /// Per-image probabilities of `model` on `samples`, in order.
    public static func predict(_ model: SegmentationModel, _ samples: [SegSample], batchSize: Int,
                               encodeText: (([String]) -> TextInput)?, texts: [String]? = nil) -> [[Float]] {
        model.eval()
        defer { model.train() }
        var out: [[Float]] = []
        withoutGrad {
            var i = 0
            while i < samples.count {
                let j = min(i + batchSize, samples.count)
                let b = Batching.make(samples[i..<j])
                let t = texts.map { Array($0[i..<j]) } ?? b.texts
                let logits = model.forward(image: b.images, text: encodeText?(t)).logits
                let p = logits.sigmoid()
                let n = p.count / (j - i)
                for k in 0..<(j - i) { out.append(Array(UnsafeBufferPointer(start: p.ptr + k * n, count: n))) }
                i = j
            }
        }
        return out
    }

    /// LViT's per-image Dice and IoU at threshold 0.5, for each sample.
    public static func score(_ probs: [[Float]], _ samples: [SegSample]) -> [CaseMetric] {
        var rows: [CaseMetric] = []
        for (p, s) in zip(probs, samples) {
            let m = SegmentationMetrics.lvit(probabilities: p, mask: s.mask)
            rows.append(CaseMetric(caseId: s.id, metric: "Dice", value: Double(m.dice) * 100))
            rows.append(CaseMetric(caseId: s.id, metric: "mIoU", value: Double(m.iou) * 100))
        }
        return rows
    }

    static func mean(_ rows: [CaseMetric], _ metric: String) -> Double {
        let v = rows.filter { $0.metric == metric }.map(\.value)
        return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
    }

    /// Runs (or resumes, or skips) one plan. Returns false when it was already finished.
    @discardableResult
    public func run(_ plan: RunPlan, data: SegDataset, force: Bool, label: String) throws -> Bool {
        let id = plan.config.id
        if force { try store.deleteRun(runId: id); try? FileManager.default.removeItem(at: store.checkpointURL(runId: id)) }
        switch try store.beginRun(plan.config) {
        case .finished: return false
        case .new, .resumable: break
        }
        do {
            try train(plan, data: data, label: label)
            return true
        } catch {
            try? store.markFailed(runId: id, error: "\(error)")
            throw error
        }
    }

    private func train(_ plan: RunPlan, data: SegDataset, label: String) throws {
        let id = plan.config.id
        let r = plan.recipe
        guard !data.train.isEmpty, !data.val.isEmpty, !data.test.isEmpty else {
            throw RunError("\(data.name) (\(data.source)) has an empty split: train \(data.train.count), val \(data.val.count), test \(data.test.count). Each split needs at least one image.")
        }
        ParamInit.seed(UInt64(plan.seed))
        let model = plan.makeModel()
        model.train()
        let ckpt = store.checkpointURL(runId: id)
        let resuming = FileManager.default.fileExists(atPath: ckpt.path)
        if let model = model as? Pretrainable, let settings = plan.pretrain {
            // A resumed run's checkpoint already holds the fine-tuning weights, so phase 1 runs only on a fresh start.
            if !resuming { try pretrain(model, settings, plan, data, label: label) }
            VLPProtocol.prepareForFineTuning(model)
        }
        let optimizer = makeOptimizer(r, model.trainableParameters)
        var state = TrainState()
        if resuming {
            state = try Checkpoint.load(from: ckpt, model: model, optimizer: optimizer)
            log("\(label): resuming after epoch \(state.epoch) (best val Dice \(fmt(state.bestScore)) at epoch \(state.bestEpoch))")
        }
        let rng = RNG(seed: UInt64(plan.seed)).fork("order")
        let stepsPerEpoch = (data.train.count + r.batchSize - 1) / r.batchSize
        let bar = ProgressBar(label: label, total: r.maxEpochs * stepsPerEpoch, enabled: progress)
        bar.advance(to: state.epoch * stepsPerEpoch)
        while !state.finished(maxEpochs: r.maxEpochs, patience: r.patience) {
            // The order of epoch e depends only on (seed, e), so a resumed run sees the same batches.
            var order = Array(data.train.indices)
            var erng = rng.fork(UInt64(state.epoch))
            erng.shuffle(&order)
            var lossSum: Double = 0
            for s in 0..<stepsPerEpoch {
                let idx = order[(s * r.batchSize)..<min((s + 1) * r.batchSize, order.count)]
                let batch = Batching.make(ArraySlice(idx.map { data.train[$0] }))
                DropoutRNG.position(seed: UInt64(plan.seed), phase: "fine-tune", epoch: state.epoch, step: s)
                let out = model.forward(image: batch.images, text: plan.encodeText?(batch.texts))
                var loss = out.segmentationLoss(target: batch.masks) { segLoss(r.loss, $0, $1) }
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
            let probs = SegmentationRunner.predict(model, data.val, batchSize: r.batchSize, encodeText: plan.encodeText)
            let val = SegmentationRunner.score(probs, data.val)
            let vDice = SegmentationRunner.mean(val, "Dice")
            state.epoch += 1
            try store.appendCurve(runId: id, epoch: state.epoch, split: "train", values: ["loss": lossSum / Double(stepsPerEpoch)])
            try store.appendCurve(runId: id, epoch: state.epoch, split: "val", values: ["Dice": vDice, "mIoU": SegmentationRunner.mean(val, "mIoU")])
            if state.record(validation: vDice) { state.best = model.stateDict().mapValues { $0.detached() } }
            try Checkpoint.save(state, model: model, optimizer: optimizer, to: ckpt)
            try store.updateProgress(runId: id, epochsDone: state.epoch, bestEpoch: state.bestEpoch)
            FaultInjection.killIfRequested(afterEpoch: state.epoch)
        }
        bar.finish()
        if let best = state.best { try model.loadStateDict(best) }
        let probs = SegmentationRunner.predict(model, data.test, batchSize: r.batchSize, encodeText: plan.encodeText)
        let rows = SegmentationRunner.score(probs, data.test)
        var summary = ["Dice": SegmentationRunner.mean(rows, "Dice"), "mIoU": SegmentationRunner.mean(rows, "mIoU"),
                       "best_val_Dice": state.bestScore, "epochs": Double(state.epoch)]
        if let control = plan.encodeText.map({ _ in textControl(model, plan, data) }) {
            summary["Dice_shuffled_text"] = control
        }
        try store.putCaseMetrics(runId: id, rows)
        try store.putSummary(runId: id, summary)
        try store.markFinished(runId: id, epochsDone: state.epoch, bestEpoch: state.bestEpoch)
        log("\(label): test Dice \(fmt(summary["Dice"]!)) mIoU \(fmt(summary["mIoU"]!)) (best epoch \(state.bestEpoch) of \(state.epoch))")
    }

    /// Phase 1 of the vision-language baselines: the method's own objective on the training pairs. Its loss curve
    /// is stored under split "pretrain" (negative epochs are not used: epochs count from 1 in each phase).
    private func pretrain(_ model: Pretrainable, _ settings: VLPPretrainSettings, _ plan: RunPlan, _ data: SegDataset, label: String) throws {
        guard let encode = plan.encodeText else { throw RunError("\(label): pre-training needs a text encoder") }
        let bar = ProgressBar(label: label + " · pre-training", total: settings.epochs, enabled: progress)
        let batch = min(settings.batchSize, data.train.count)
        var s = settings
        s.batchSize = batch
        try VLPProtocol.pretrain(model, pairs: data.train.count, settings: s, seed: UInt64(plan.seed), makeBatch: { idx in
            let b = Batching.make(ArraySlice(idx.map { data.train[$0] }))
            return VLPProtocol.Batch(images: b.images, text: encode(b.texts))
        }, onEpoch: { log in
            try? self.store.appendCurve(runId: plan.config.id, epoch: log.epoch, split: "pretrain", values: ["loss": log.loss])
            bar.advance(to: log.epoch)
        })
        bar.finish()
    }

    /// Test Dice when every image gets another image's text (a derangement by rotation): how much the text matters.
    private func textControl(_ model: SegmentationModel, _ plan: RunPlan, _ data: SegDataset) -> Double {
        let texts = data.test.map(\.text)
        let rotated = Array(texts[(texts.count / 2)...] + texts[..<(texts.count / 2)])
        let probs = SegmentationRunner.predict(model, data.test, batchSize: plan.recipe.batchSize, encodeText: plan.encodeText, texts: rotated)
        return SegmentationRunner.mean(SegmentationRunner.score(probs, data.test), "Dice")
    }

    private func log(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
    private func fmt(_ x: Double) -> String { String(format: "%.2f", x) }
}

/// The segmentation criterion named by a recipe.
func segLoss(_ name: String, _ logits: Tensor, _ target: Tensor) -> Tensor {
    switch name {
    case "bce": return Loss.bceWithLogits(logits, target)
    // LViT's WeightedDiceBCE with equal weights, the loss of the code TMC builds on.
    case "bce+dice": return Loss.diceBCE(logits, target, diceWeight: 0.5, bceWeight: 0.5)
    default: preconditionFailure("unknown loss \(name)")
    }
}
