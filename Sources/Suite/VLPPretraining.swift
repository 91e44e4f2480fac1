import Foundation
import Engine
import NN
import Models
import Data

/// Phase 1 of the vision-language rows (CLIP, MAP, MGCA; Models/VLPProtocol.swift) as a stored pre-training run:
/// the row's own model, pre-trained on the training split's image-text pairs with its objective, then handed whole
/// to the fine-tuning run, which freezes the objective's heads. One pre-training per (row, data set, seed, scale).
enum VLPPretraining {
    static func dependency(method m: Method, settings: VLPPretrainSettings, fineTuning config: RunConfig,
                           context: ModelContext, data: LabeledSplits, textEncoder: String,
                           encode: @escaping ([String]) -> TextInput) throws -> Dependency {
        var s = settings
        s.batchSize = min(settings.batchSize, data.train.count)
        let phase = try VLPProtocol.Phase1(pairs: data.train.count, settings: s, seed: UInt64(config.seed))
        let hyper = ["pretrain": describe(settings), "data": data.source, "text_encoder": textEncoder,
                     "image_size": "\(context.imageSize)", "in_channels": "\(context.inChannels)"]
        let stored = RunConfig(paper: config.paper, table: pretrainingTable, method: config.method, dataset: config.dataset,
                               variant: config.variant, scale: config.scale, seed: config.seed,
                               dataSource: config.dataSource, hyperparameters: hyper)
        func pretrainable(_ model: Module) throws -> Pretrainable {
            guard let p = model as? Pretrainable else { throw RunError("\(config.method) has a pre-training phase but its model has no pre-training objective") }
            return p
        }
        let plan = WeightsPlan(config: stored, seed: config.seed, epochs: s.epochs, makeModel: { m.make(context) },
                               makeOptimizer: { phase.optimizer(for: $0 as! Pretrainable) },
                               trainEpoch: { model, optimizer, epoch in
            let log = try phase.runEpoch(try pretrainable(model), optimizer: optimizer, epoch: epoch) { indices in
                let b = Batching.make(ArraySlice(indices.map { data.train[$0] }), output: .binary)
                return VLPProtocol.Batch(images: b.images, text: encode(b.texts))
            }
            return log.terms.merging(["loss": log.loss]) { _, total in total }
        })
        return Dependency(plan: plan) { model, weights in
            try model.loadStateDict(weights)
            VLPProtocol.prepareForFineTuning(try pretrainable(model))
        }
    }

    /// The settings as the fine-tuning run's hyperparameters name them.
    static func describe(_ p: VLPPretrainSettings) -> String {
        "epochs=\(p.epochs),batch=\(p.batchSize),lr=\(p.learningRate),wd=\(p.weightDecay)"
    }
}
