import Engine
import NN

// TMC, the Text-guided Multi-stage Cross-perception network (Gaoyu Chen, 2025), §3:
//
// - Visual encoder: Swin Transformer stages give V_i (H_i × W_i × C_i), i = 1…4.
// - Language encoder: BERT layers grouped into the same four stages give L_i (T × D) and CLS_i (FrozenTextEncoder).
// - MCM (§3.1, MCM.swift) at every stage: F_V^i and F_L^i; F_V^i continues into Swin stage i+1 (after patch merging)
//   and F_L^i into the next stage's language input, "used as inputs for the next stage".
// - MA loss (§3.2, AlignmentLoss.swift) on mean-pooled V_i and the sentence vector CLS_i before each
//   cross-attention. The paper's BERT-base has a [CLS] summary; all-MiniLM-L6-v2 was trained with mean pooling over
//   its real tokens, so by default CLS_i is that mean of L_i (`SentenceVector`).
// - Segmentation part (§3.3, LViT.swift): F_i = MCA(V_i, L_i) = F_V^i as a map, upsampled bilinearly by the Swin
//   patch size (4) to the resolution of x_{i−1}, then x_i = DownCNN(CONCAT(x_{i−1}, F_i)) and
//   y_i = DownViT(CONCAT(x_{i−1}, F_i), y_{i−1}), with LViT's up-ViT, PLAM skips and CNN up-path to [B, 1, H, W].
//   LViT's own text entry (ViT level 1) is kept, so TMC contains LViT; Table 2's row without MCM and MA loss
//   carries exactly LViT's Table 1 numbers.
// - Without MCM, F_i = V_i and the Swin stages run as a plain Swin.
//
// The total loss L = BCE + λ·L_align is formed by the trainer from `SegOutput.auxLosses["align"]`.

/// The sentence representation the MA loss aligns with the image. A text encoder's sentence vector is the one it
/// was trained to produce: sentence-transformers' all-MiniLM-L6-v2 averages its token states over the real tokens
/// ([CLS] and [SEP] included, padding not), while BERT-base's [CLS] state is what its pooler reads.
public enum SentenceVector: String, Sendable {
    /// Mean of L_i over the non-padding tokens (MiniLM's training objective; the default).
    case meanPooling
    /// The [CLS] token's state in L_i (the paper's wording, and BERT's pooler input).
    case cls
}

public struct TMCConfig: Equatable, Sendable {
    /// Swin settings (patch 4, four stages).
    public var embedDim: Int
    public var depths: [Int]
    public var swinHeads: [Int]
    public var window: Int
    public var dropPathRate: Float
    /// The segmentation part (LViT's dual U-shape).
    public var lvit: LViTConfig
    /// Width D of the language features (384 for all-MiniLM-L6-v2, 768 for BERT-base).
    public var textWidth: Int
    public var useMCM: Bool
    public var useAlignment: Bool
    public var reading: AlignmentReading
    public var mcmMlpRatio: Float
    /// τ_i at initialisation (not given in the paper; SigLIP's 0.1).
    public var initialTemperature: Float
    /// How CLS_i is read from the stage's word features L_i.
    public var sentence: SentenceVector = .meanPooling

    public static let swinPatch = 4

    public init(embedDim: Int, depths: [Int], swinHeads: [Int], window: Int, dropPathRate: Float, lvit: LViTConfig,
                textWidth: Int, useMCM: Bool = true, useAlignment: Bool = true, reading: AlignmentReading = .pairwise,
                mcmMlpRatio: Float = 4, initialTemperature: Float = 0.1) {
        precondition(depths.count == 4 && swinHeads.count == 4, "TMC meets the segmentation part at four Swin stages")
        self.embedDim = embedDim; self.depths = depths; self.swinHeads = swinHeads; self.window = window
        self.dropPathRate = dropPathRate; self.lvit = lvit; self.textWidth = textWidth; self.useMCM = useMCM
        self.useAlignment = useAlignment; self.reading = reading; self.mcmMlpRatio = mcmMlpRatio
        self.initialTemperature = initialTemperature
    }

    public var imageSize: Int { lvit.imageSize }
    /// C_i of the Swin stages.
    public var stageChannels: [Int] { (0..<4).map { embedDim << $0 } }
    public var stages: Int { depths.count }

    /// - paper: Swin-T at 224 (embed 96, depths 2-2-6-2, heads 3-6-12-24, window 7, drop path 0.2) and LViT at base 64.
    /// - proxy: a reduced Swin for 64 × 64 (embed 32, depths 2-2-2-2, heads 1-2-4-8 keep Swin-T's 32-wide heads,
    ///   window 4) and LViT at base 16.
    /// - smoke: embed 8, one block per stage, window 4, drop path 0.1 (so that the resume test draws drop-path masks),
    ///   LViT at base 4, 32 × 32.
    public static func of(_ scale: Scale, useMCM: Bool = true, useAlignment: Bool = true,
                          reading: AlignmentReading = .pairwise, textWidth: Int = 384) -> TMCConfig {
        switch scale {
        case .paper:
            return TMCConfig(embedDim: 96, depths: [2, 2, 6, 2], swinHeads: [3, 6, 12, 24], window: 7, dropPathRate: 0.2,
                             lvit: .of(.paper), textWidth: textWidth, useMCM: useMCM, useAlignment: useAlignment, reading: reading)
        case .proxy:
            return TMCConfig(embedDim: 32, depths: [2, 2, 2, 2], swinHeads: [1, 2, 4, 8], window: 4, dropPathRate: 0.1,
                             lvit: .of(.proxy), textWidth: textWidth, useMCM: useMCM, useAlignment: useAlignment, reading: reading)
        case .smoke:
            return TMCConfig(embedDim: 8, depths: [1, 1, 1, 1], swinHeads: [1, 1, 2, 2], window: 4, dropPathRate: 0.1,
                             lvit: .of(.smoke), textWidth: textWidth, useMCM: useMCM, useAlignment: useAlignment, reading: reading)
        }
    }

    func swinConfig(inChannels: Int) -> SwinConfig {
        var s = SwinConfig()
        s.imageSize = imageSize
        s.patchSize = TMCConfig.swinPatch
        s.inChannels = inChannels
        s.embedDim = embedDim
        s.depths = depths
        s.heads = swinHeads
        s.window = window
        s.dropPathRate = dropPathRate
        s.numClasses = 0
        return s
    }
}

/// Trainable parameters by part. The frozen text encoder is not counted.
public struct TMCParameterCounts: Equatable, CustomStringConvertible {
    public let visualEncoder: Int
    public let mcm: Int
    public let alignment: Int
    public let segmentation: Int
    public var total: Int { visualEncoder + mcm + alignment + segmentation }
    /// The model with neither MCM nor MA loss (Table 2's first row).
    public var withoutNovelModules: Int { visualEncoder + segmentation }

    public var description: String {
        "Swin \(visualEncoder), MCM \(mcm), MA loss \(alignment), segmentation part \(segmentation), total \(total)"
    }
}

public final class TMC: Module, SegmentationModel {
    public let config: TMCConfig
    public var swin: SwinEncoder
    /// One cross-attention stage per Swin stage, or none without MCM.
    public var mcm: [CrossAttentionStage]
    public var align: MultiStageAlignmentLoss?
    public var seg: LViTBackbone

    public init(config: TMCConfig, inChannels: Int) {
        self.config = config
        swin = SwinEncoder(config.swinConfig(inChannels: inChannels))
        let widths = config.stageChannels
        mcm = config.useMCM ? (0..<4).map { i in
            CrossAttentionStage(dim: widths[i], textDim: config.textWidth, heads: config.swinHeads[i],
                                previousDim: i == 0 ? nil : widths[i - 1], mlpRatio: config.mcmMlpRatio)
        } : []
        align = config.useAlignment
            ? MultiStageAlignmentLoss(visualDims: widths, textDim: config.textWidth, reading: config.reading,
                                      initialTemperature: config.initialTemperature)
            : nil
        seg = LViTBackbone(config: config.lvit, inChannels: inChannels, textDim: config.textWidth, extraChannels: widths)
    }

    public var usesText: Bool { true }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        guard let text, let features = text.features, text.stageFeatures.count == config.stages else {
            preconditionFailure("TMC needs TextInput.features and \(config.stages) stageFeatures; build the text with "
                + "FrozenTextEncoder.encode(texts, stages: \(config.stages))")
        }
        let words = text.stageFeatures
        precondition(words.allSatisfy { $0.rank == 3 && $0.shape[0] == image.shape[0] && $0.shape[2] == config.textWidth },
                     "TMC: stage features must be [\(image.shape[0]), T, \(config.textWidth)]")
        let padding = textKeyPaddingMask(text)

        var h = swin.pos_drop(swin.patch_embed(image))
        var extras: [Tensor] = [], pooled: [Tensor] = [], cls: [Tensor] = []
        var maps: [String: Tensor] = [:]
        var previousText: Tensor?
        for (i, stage) in swin.layers.enumerated() {
            var v = stage.blocks.reduce(h) { $1($0) }
            if i == swin.layers.count - 1 { v = swin.norm(v) }
            let (b, hi, wi, c) = (v.shape[0], v.shape[1], v.shape[2], v.shape[3])
            var tokens = v.reshaped([b, hi * wi, c])
            if align != nil {
                pooled.append(tokens.mean(axis: 1))
                cls.append(sentenceVector(words[i], text: text))
            }
            if !mcm.isEmpty {
                let out = mcm[i](visual: tokens, text: words[i], previousText: previousText, textPaddingMask: padding)
                tokens = out.visual
                previousText = out.text
                record(out, stage: i + 1, height: hi, width: wi, text: text, into: &maps)
            }
            let f = tokens.reshaped([b, hi, wi, c])
            h = stage.downsample.map { $0(f) } ?? f
            let side = config.imageSize >> i
            extras.append(Tensor.interpolate(f.permuted([0, 3, 1, 2]), size: [side, side], mode: .linear))
        }
        let logits = seg(image, textFeatures: features, extras: extras)
        var aux: [String: Tensor] = [:]
        if let align {
            aux["align"] = align(visual: pooled, cls: cls, positives: MultiStageAlignmentLoss.positives(tokenIds: text.tokenIds))
        }
        return SegOutput(logits: logits, auxLosses: aux, attentionMaps: maps)
    }

    /// CLS_i of one stage, [B, D], from its word features [B, T, D].
    func sentenceVector(_ words: Tensor, text: TextInput) -> Tensor {
        switch config.sentence {
        case .cls:
            return words.slice(axis: 1, 0, 1).squeezed(1)
        case .meanPooling:
            let mask = text.maskTensor
            return (words * mask.unsqueezed(2)).sum(axis: 1) / mask.sum(axis: 1).unsqueezed(1)
        }
    }

    /// Stores the stage's attention maps without their graph: `mcm.i.vision_to_text` [B, N, T],
    /// `mcm.i.text_to_vision` [B, T, N], and `mcm.i.heat` [B, 1, H_i, W_i], the text-to-image attention averaged over
    /// the real words (the Fig. 4 heat map).
    private func record(_ out: MCMOutput, stage: Int, height: Int, width: Int, text: TextInput, into maps: inout [String: Tensor]) {
        let t2v = out.textToVision.data
        maps["mcm.\(stage).vision_to_text"] = out.visionToText.data
        maps["mcm.\(stage).text_to_vision"] = t2v
        maps["mcm.\(stage).heat"] = withoutGrad {
            let mask = text.maskTensor.unsqueezed(2)
            let summed = (t2v * mask).sum(axis: 1) / mask.sum(axis: 1)
            return summed.reshaped([t2v.shape[0], 1, height, width])
        }
    }

    /// Trainable parameters by part, from the parameter names.
    public var parameterCounts: TMCParameterCounts {
        var counts = ["swin": 0, "mcm": 0, "align": 0, "seg": 0]
        for (name, p) in namedParameters() {
            let part = String(name.prefix { $0 != "." })
            counts[part, default: 0] += p.count
        }
        return TMCParameterCounts(visualEncoder: counts["swin"]!, mcm: counts["mcm"]!, alignment: counts["align"]!,
                                  segmentation: counts["seg"]!)
    }

    /// Parameter counts of the full model at `scale` (3-channel input). Models without MCM or MA loss have the same
    /// Swin and segmentation part, so their totals follow by leaving those parts out; `TMCTests` checks that on
    /// built models. Building the paper-scale model takes a few seconds and about 0.4 GB.
    public static func parameterCounts(scale: Scale, textWidth: Int = 384, inChannels: Int = 3) -> TMCParameterCounts {
        TMC(config: .of(scale, textWidth: textWidth), inChannels: inChannels).parameterCounts
    }
}

/// Registers LViT and the four TMC variants of Table 2 with the model registry. The registry's factory carries no
/// text width, so it is fixed here: 384 for the default all-MiniLM-L6-v2 encoder.
public enum TextGuidedModels {
    public static let entries: [(entry: ModelEntry, mcm: Bool, align: Bool)] = [
        (ModelEntry(name: "tmc", displayName: "TMC", usesText: true,
                    reference: "Chen 2025 (TMC) §3: Swin + MCM + MA loss + LViT segmentation part"), true, true),
        (ModelEntry(name: "tmc-no-align", displayName: "TMC w/o MA loss", usesText: true,
                    reference: "Chen 2025 Table 2: MCM only"), true, false),
        (ModelEntry(name: "tmc-no-mcm", displayName: "TMC w/o MCM", usesText: true,
                    reference: "Chen 2025 Table 2: MA loss only"), false, true),
        (ModelEntry(name: "tmc-base", displayName: "TMC w/o MCM and MA loss", usesText: true,
                    reference: "Chen 2025 Table 2: neither module (Swin features into LViT)"), false, false),
    ]

    public static let lvitEntry = ModelEntry(name: "lvit", displayName: "LViT", usesText: true,
                                             reference: "Li et al. 2023 (IEEE TMI); HUANGLIZI/LViT nets/LViT.py")

    public static func register(textWidth: Int = 384, reading: AlignmentReading = .pairwise) {
        ModelRegistry.register(lvitEntry) { scale, inChannels, _ in
            LViT(config: .of(scale), inChannels: inChannels, textDim: textWidth)
        }
        for e in entries {
            ModelRegistry.register(e.entry) { scale, inChannels, _ in
                TMC(config: .of(scale, useMCM: e.mcm, useAlignment: e.align, reading: reading, textWidth: textWidth),
                    inChannels: inChannels)
            }
        }
    }
}
