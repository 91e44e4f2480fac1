import Models
import Suite

// TMC Table 1's eleven rows and how each model is built, in one place, so that the table target that trains them
// and the figure targets that reload their weights (Fig. 3, Fig. 4) cannot disagree about a method's architecture.
// A figure rebuilds a model from a stored run by its (method, variant) and loads the checkpoint into it; a factory
// that drifted from the one that trained would fail to load, or worse, load into the wrong shapes' meaning.

public enum TMCMethods {
    /// The image-only rows share one factory: the model registry.
    public static func imageOnly(_ display: String, _ key: String) -> Method {
        Method(RowSpec(display, method: display, variant: "image-only")) { c in
            try! ModelRegistry.make(name: key, scale: c.scale, inChannels: c.inChannels, imageSize: c.imageSize)
        }
    }

    /// The text-guided rows read the frozen text encoder's features (MiniLM-L6 by default; Papers/TMC/model.md).
    /// CLIP, MAP and MGCA are vision-language pre-training methods; TMC does not say how it made them segment, so
    /// each is pre-trained with its own objective on the training pairs, then fine-tuned as a U-Net with text fused
    /// at the bottleneck (Papers/TMC/vlp-baselines.md). Phase 1 is shortened below paper scale.
    public static func vlp(_ m: VLPMethod) -> Method {
        Method(RowSpec(m.tableName, method: m.tableName, variant: "text"), usesText: true, pretrain: { scale in
            switch scale {
            case .paper: return .standard
            case .proxy: return VLPPretrainSettings(epochs: 10, batchSize: 32, learningRate: 3e-4, weightDecay: 0.05, warmupFraction: 0.1)
            case .smoke: return VLPPretrainSettings(epochs: 1, batchSize: 8, learningRate: 3e-4, weightDecay: 0.05, warmupFraction: 0.1)
            }
        }) { c in VLPSegmenter(method: m, scale: c.scale, inChannels: c.inChannels, imageSize: c.imageSize, textDim: c.textWidth) }
    }

    public static let lvit = Method(RowSpec("LViT", method: "LViT", variant: "text"), usesText: true) { c in
        LViT(config: .of(c.scale), inChannels: c.inChannels, textDim: c.textWidth)
    }

    public static let tmc = Method(RowSpec("TMC (ours)", method: "TMC", variant: "text", publishedMethod: "ours"), usesText: true) { c in
        TMC(config: .of(c.scale, useMCM: true, useAlignment: true, reading: .pairwise, textWidth: c.textWidth), inChannels: c.inChannels)
    }

    /// Table 1's rows in the paper's order.
    public static let table1: [Method] = [
        imageOnly("UNet", "unet"),
        imageOnly("AttUnet", "attunet"),
        imageOnly("nnUNet", "nnunet"),
        imageOnly("TransUNet", "transunet"),
        imageOnly("UCTransNet", "uctransnet"),
        imageOnly("UNet++", "unetplusplus"),
        lvit, vlp(.clip), vlp(.map), vlp(.mgca),
        tmc,
    ]

    /// The Table 1 row that trained a stored run, found by the run's method and variant.
    public static func method(for config: RunConfig) -> Method? { table1.method(for: config) }

    /// TMC §4.2, the training of every Table 1 and Table 2 run: "The learning rate is set to 3e-4 for both the
    /// QaTa-COV19 and Duke-Breast-Cancer-MRI datasets, and 1e-3 for the MosMedData dataset. Early stopping is
    /// implemented if the model's performance does not improve after 20 epochs ... The batch size is 8."
    /// Not stated: the optimiser (Adam, as LViT's code), the baselines' loss (LViT's 0.5·BCE + 0.5·Dice), the epoch cap
    /// (LViT's code: 2000). Below paper scale the cap and the patience shrink so that a table can finish on 2 cores.
    /// §3.4: TMC trains with L = BCE + λ·L_align; λ is not given: 0.1 (Papers/TMC/model.md §3; `--lambda`).
    public static func recipe(_ cell: Cell, _ scale: Scale) -> Recipe {
        let lr: Float = cell.dataset == "MosMedData" ? 1e-3 : 3e-4
        var r: Recipe
        switch scale {
        case .paper: r = Recipe(learningRate: lr, batchSize: 8, maxEpochs: 2000, patience: 20, imageSize: 224)
        case .proxy: r = Recipe(learningRate: lr, batchSize: 8, maxEpochs: 20, patience: 5, imageSize: 64)
        case .smoke: r = Recipe(learningRate: lr, batchSize: 8, maxEpochs: 2, patience: 2, imageSize: 32)
        }
        if cell.method == "TMC" {
            r.loss = "bce"
            r.auxWeight = cell.variant.contains("Lalign=off") ? 0 : 0.1
        }
        return r
    }
}
