import Foundation
import Models
import Suite
import Data
import NN

// MOSMOS's fine-tuning ground, shared by its table targets: the two backbones and how each sees the data, the
// training recipe of §4.1, the rows of Tables 2, 3 and 6, and the data (real folders or the proxies of
// Papers/MOSMOS/datasets.md). The pre-training rows (ImageNet, self-supervised, CLIP-family, MOSMOS) are listed so
// that the pages show them beside the published values; they train when their pre-training lands.

/// The two visual backbones of MOSMOS's tables.
public enum Backbone: String, CaseIterable, Sendable {
    /// A 2D U-Net with a ResNet-50 encoder: trained on axial slices, scored on whole volumes by stacking its slice
    /// predictions (the paper does not say how a 2D network is scored on 3D data; this is the usual way).
    case unet = "resnet50-unet"
    /// MONAI's UNETR with a ViT-B/16 encoder on 3D patches.
    case unetr = "unetr-vit-b16"

    /// The backbone a MOSMOS row's variant names; anything else is a programming error in a table target.
    init(variant: String) {
        guard let b = Backbone(rawValue: variant) else {
            preconditionFailure("MOSMOS rows name their backbone in the variant (\(Backbone.allCases.map(\.rawValue))), got \(variant)")
        }
        self = b
    }

    /// The backbone as the published tables name it.
    public var published: String { self == .unet ? "U-Net (ResNet-50)" : "UNETR (ViT-B/16)" }

    /// The training crop's side: the paper's 96 (3D patch or 2D slice crop), and at proxy scale the same field of
    /// view in millimetres on the proxies' 3–5 mm grid (32 voxels), see Papers/MOSMOS/datasets.md §5.
    public func crop(_ scale: Scale) -> Int {
        switch scale {
        case .paper: return 96
        case .proxy: return 32
        case .smoke: return self == .unet ? 32 : 16
        }
    }

    /// The network at each scale. Paper: the published architectures. Proxy: UNETR keeps MONAI's twelve blocks and
    /// patch 16 with the benchmark's widths (hidden 192, feature size 8); the U-Net keeps the whole ResNet-50
    /// encoder and decoder. Smoke: the smallest that still runs every layer.
    public func model(_ c: ModelContext) -> SegmentationModel {
        switch config(c) {
        case .unetr(let u): return UNETR(u)
        case .unet(let r): return ResNetUNet(r)
        }
    }

    enum Config { case unetr(UNETRConfig), unet(ResNetUNetConfig) }

    /// The configuration in words, for the run's id.
    public func architecture(_ c: ModelContext) -> String {
        switch config(c) {
        case .unetr(let u):
            return "UNETR in\(u.inChannels) out\(u.outChannels) roi\(u.imageSize) patch\(u.patchSize) feature\(u.featureSize) hidden\(u.hiddenSize) mlp\(u.mlpDim) heads\(u.heads) layers\(u.layers)"
        case .unet(let r):
            return "ResNetUNet \(r.encoder.rawValue) in\(r.inChannels) out\(r.classes) layers\(r.layers.map(String.init).joined(separator: "-")) decoder\(r.decoderChannels.map(String.init).joined(separator: "-"))"
        }
    }

    func config(_ c: ModelContext) -> Config {
        let crop = self.crop(c.scale)
        switch (self, c.scale) {
        case (.unetr, .paper):
            return .unetr(UNETRConfig(inChannels: c.inChannels, outChannels: c.outChannels, imageSize: crop, featureSize: 16,
                                      hiddenSize: 768, mlpDim: 3072, heads: 12))
        case (.unetr, .proxy):
            return .unetr(UNETRConfig(inChannels: c.inChannels, outChannels: c.outChannels, imageSize: crop, featureSize: 8,
                                      hiddenSize: 192, mlpDim: 768, heads: 3))
        case (.unetr, .smoke):
            return .unetr(UNETRConfig(inChannels: c.inChannels, outChannels: c.outChannels, imageSize: crop, featureSize: 4,
                                      hiddenSize: 24, mlpDim: 48, heads: 2))
        case (.unet, .paper):
            return .unet(ResNetUNetConfig(inChannels: c.inChannels, classes: c.outChannels))
        case (.unet, .proxy):
            return .unet(ResNetUNetConfig(inChannels: c.inChannels, classes: c.outChannels, layers: [1, 1, 1, 1]))
        case (.unet, .smoke):
            return .unet(ResNetUNetConfig(inChannels: c.inChannels, classes: c.outChannels, layers: [1, 1, 1, 1],
                                          decoderChannels: [32, 16, 16, 8, 8]))
        }
    }

    /// How the backbone samples training data and predicts a whole case. UNETR: UNETR's BTCV recipe, patches
    /// cut by RandCropByPosNegLabel (4 per case in UNETR's code; MOSMOS's batch of 2 for ViT-B/16 is read as 2
    /// patches of one case), MONAI's sliding window at overlap 0.5 with constant blending (§4.1). U-Net: one 2D
    /// crop per slice (MOSMOS: "for 2D images, the [depth] is omitted") and a 2D sliding window over every slice.
    func task(classes: [String], regions: [SegmentationTask.Structure], distances: Bool, scale: Scale, name: String) -> SegmentationTask {
        let r = crop(scale)
        switch self {
        case .unetr:
            return SegmentationTask(name: name + "-3d", classes: classes, output: .multiClass,
                                    inference: .slidingWindow(SlidingWindow(roi: [r, r, r], overlap: 0.5, blending: .constant, batch: 4)),
                                    sampling: .patches(VolumeAugmentation(patch: [r, r, r], samples: 2)),
                                    distances: distances, regions: regions)
        case .unet:
            return SegmentationTask(name: name + "-2d-slices", classes: classes, output: .multiClass,
                                    inference: .slicewise(SlidingWindow(roi: [r, r], overlap: 0.5, blending: .constant, batch: 16)),
                                    sampling: .slices(VolumeAugmentation(patch: [r, r, 1], samples: 1)),
                                    distances: distances, regions: regions)
        }
    }
}

/// One of MOSMOS's fine-tuning tables: its data set, the structures it scores and its rows.
public struct MOSMOSTable {
    public var dataset: VolumeProxyKind
    /// Class names by label as the table's columns name them, background first.
    public var classes: [String]
    /// The scored regions when they are not the classes (BRATS).
    public var regions: [SegmentationTask.Structure]
    public var distances: Bool

    public init(dataset: VolumeProxyKind, classes: [String], regions: [SegmentationTask.Structure] = [], distances: Bool = false) {
        self.dataset = dataset; self.classes = classes; self.regions = regions; self.distances = distances
    }

    /// Column names of the scored structures.
    public var structures: [String] { regions.isEmpty ? Array(classes.dropFirst()) : regions.map(\.name) }

    public func task(_ cell: Cell, _ scale: Scale) -> SegmentationTask {
        return Backbone(variant: cell.variant).task(classes: classes, regions: regions, distances: distances, scale: scale, name: dataset.rawValue)
    }

    /// Metric columns: the class average ("Avg", as printed) and one column per structure, for each metric.
    public func metrics(_ names: [String]) -> [MetricSpec] {
        names.flatMap { m -> [MetricSpec] in
            let lowerBetter = m == "HD95"
            return [MetricSpec(m, display: m == "HD95" ? "HD95 (mm)" : "Dice (%)", published: m, className: "Avg",
                               higherIsBetter: !lowerBetter)]
                + structures.map { s in
                    MetricSpec("\(m):\(s)", display: s, published: m, className: s, higherIsBetter: !lowerBetter)
                }
        }
    }
}

public enum MOSMOSRows {
    /// The pre-training rows of Tables 2 and 3, in the paper's order after "Random".
    public static let pretrained = ["ImageNet", "Inpainting+Contrast+Rotation", "CLIP", "CLIP+DenseCLIP", "PubMedCLIP",
                                    "PubMedCLIP+DenseCLIP", "MOSMOS"]

    /// Every row of a Table 2/3-shaped table: for each backbone, Random then the seven pre-trainings.
    public static func all(displayBackbone: Bool = true) -> [RowSpec] {
        Backbone.allCases.flatMap { b in
            (["Random"] + pretrained).map { m in
                RowSpec(m, method: m, variant: b.rawValue, id: "\(m) · \(b.published)", publishedVariant: "", backbone: b.published)
            }
        }
    }

    /// The rows this suite trains today: random initialisation (training from scratch) on each backbone.
    public static func random(_ backbones: [Backbone] = Backbone.allCases) -> [Method] {
        backbones.map { b in
            Method(RowSpec("Random", method: "Random", variant: b.rawValue, id: "Random · \(b.published)", publishedVariant: "",
                           backbone: b.published), architecture: b.architecture) { c in b.model(c) }
        }
    }
}

public enum MOSMOSRecipe {
    /// §4.1: "We train the whole network using AdamW optimizer and set the initial learning rate of 1e-4 for 5,000
    /// epochs. After 50 epochs, the learning rate is decayed according to the cosine attenuation approach. ...
    /// We calculate the evaluation metrics every 100 epochs and select the models with the best values."
    /// Batch 96 (ResNet-50) and 2 (ViT-B/16). Not stated: weight decay (UNETR's code: 1e-5) and the warm-up's
    /// start (UNETR's LinearWarmupCosineAnnealingLR: from 0). No early stopping: every epoch runs, the best
    /// validation checkpoint is tested.
    ///
    /// Proxy and smoke scales shorten the run and keep its shape: warm-up 1 % of the epochs (at least 2, since
    /// the first epoch runs at rate 0) and about ten validations per run (the paper's 50 would cost a fifth of the
    /// proxy budget).
    /// The epoch counts come from measured step times (Papers/MOSMOS/datasets.md §6).
    ///
    /// Below paper scale the learning rate is the proxy pilot's (datasets.md §7): at the paper's 1e-4 neither network
    /// learned more than the liver in its proxy budget (1/100 of the paper's steps or less). The rate was chosen per
    /// backbone on BTCV's validation split from {1e-4, 3e-4, 1e-3} (3e-3 too for the U-Net, whose best was the
    /// edge), with the table's own epochs; MMWHS and BRATS take the same rates (not piloted on their own).
    public static func proxyLearningRate(_ b: Backbone) -> Float {
        switch b {
        case .unet: return 3e-3
        case .unetr: return 3e-4
        }
    }

    public static func recipe(_ cell: Cell, _ scale: Scale, epochs proxyEpochs: [Backbone: Int]) -> Recipe {
        let backbone = Backbone(variant: cell.variant)
        let epochs: Int
        switch scale {
        case .paper: epochs = 5000
        case .proxy: epochs = proxyEpochs[backbone] ?? 50
        case .smoke: epochs = 2
        }
        let batch: Int
        switch (backbone, scale) {
        case (.unet, .paper): batch = 96
        case (.unet, _): batch = 16
        case (.unetr, _): batch = 1   // one case, two patches: MOSMOS's batch of 2
        }
        let lr: Float = scale == .paper ? 1e-4 : proxyLearningRate(backbone)
        var r = Recipe(learningRate: lr, batchSize: batch, maxEpochs: epochs, patience: epochs, optimizer: "adamw",
                       weightDecay: 1e-5, loss: "dice+ce", imageSize: backbone.crop(scale), augment: true)
        let warmup = scale == .paper ? 50 : max(2, epochs / 100)
        r.lrSchedule = .linearWarmupCosine(warmup: warmup, total: epochs)
        r.validateEvery = scale == .paper ? 100 : max(1, epochs / 10)
        return r
    }
}

/// MOSMOS's data: the real folder under `--data-root`, or the seeded proxy.
public enum MOSMOSData {
    /// Seed of the proxy generators, the same for every table and training seed (as a real data set is fixed).
    public static let proxySeed: UInt64 = 20_240_601

    public static func load(_ ds: DatasetSpec, _ scale: Scale, _ root: String?, kind: VolumeProxyKind) throws -> LabeledSplits {
        guard let root = root else {
            guard scale != .paper else {
                throw RunError("paper scale trains the published architectures on the real \(kind.rawValue) at the paper's resolution; pass --data-root with the data set, or run --scale proxy on the proxies")
            }
            return makeVolumeProxy(kind, scale: scale, seed: proxySeed)
        }
        return try loadReal(kind, root: URL(fileURLWithPath: root), scale: scale)
    }

    /// The real set: every labelled case, split 70/10/20 by a seeded permutation of the ids (MOSMOS, following
    /// its [11]; the paper lists no ids), preprocessed as UNETR's recipe does, at the proxy's spacing below paper scale.
    static func loadReal(_ kind: VolumeProxyKind, root: URL, scale: Scale) throws -> LabeledSplits {
        // The data set's folder as the tables name it (BTCV) or in lower case (btcv), as the challenges ship them.
        let named = [kind.rawValue, kind.rawValue.lowercased()].map { root.appendingPathComponent($0) }
        guard let dir = named.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw RunError("--data-root \(root.path) has no folder \(kind.rawValue) (or \(kind.rawValue.lowercased())). Put the data set there in its release layout (see README, Data), or run without --data-root on the proxy.")
        }
        let set: VolumeDataSet
        do {
            switch kind {
            case .btcv: set = try VolumeLayouts.decathlon(json: dir.appendingPathComponent("dataset_0.json"), name: "BTCV")
            case .brats: set = try VolumeLayouts.brats(json: dir.appendingPathComponent("dataset.json"))
            case .mmwhs: set = try VolumeLayouts.mmwhs(root: dir)
            case .amos: set = try VolumeLayouts.amos(root: dir)
            }
        } catch let e as DataError {
            throw RunError("\(e.description) (expected \(kind.rawValue) under --data-root \(root.path): see README, Data)")
        }
        // MM-WHS ships CT and MRI side by side; MOSMOS's Table 3 is the MRI part.
        var cases = (set.training + set.validation + set.test)
            .filter { $0.label != nil && (kind != .mmwhs || $0.modality == .mri) }.sorted { $0.id < $1.id }
        guard cases.count >= 3 else { throw RunError("\(dir.path) holds \(cases.count) labelled cases; a 70/10/20 split needs at least 3") }
        var rng = RNG(proxySeed, 0x5350_4C54)
        rng.shuffle(&cases)
        // Validation and test get their share, at least one case each; training the rest (30 → 21/3/6, 484 → 339/48/97).
        let nVal = max(1, Int((Double(cases.count) * 0.1).rounded())), nTest = max(1, Int((Double(cases.count) * 0.2).rounded()))
        let nTrain = cases.count - nVal - nTest
        let proxySpacing: [VolumeProxyKind: [Double]] = [.btcv: [4, 4, 5], .amos: [4, 4, 5], .mmwhs: [3, 3, 3], .brats: [3.5, 3.5, 3.5]]
        var pre: VolumePreprocessing
        switch kind {
        case .btcv, .amos: pre = .unetrCT
        case .brats: pre = .bratsMRI
        case .mmwhs: pre = VolumePreprocessing(spacing: [1.5, 1.5, 2.0], intensity: .zScoreNonzero, cropForeground: false)
        }
        if scale != .paper { pre.spacing = proxySpacing[kind] }
        // AMOS mixes CT and MRI: its MRI cases get the MRI normalisation, not the CT window.
        let mri = VolumePreprocessing(spacing: pre.spacing, intensity: .zScoreNonzero, cropForeground: pre.cropForeground)
        let loaded = try cases.map { c -> LabeledImage in
            do { return try (c.modality == .mri && kind == .amos ? mri : pre).load(set, c) } catch let e as DataError { throw RunError(e.description) }
        }
        return LabeledSplits(name: kind.rawValue, classes: set.classes, train: Array(loaded[..<nTrain]),
                             val: Array(loaded[nTrain..<(nTrain + nVal)]), test: Array(loaded[(nTrain + nVal)...]),
                             source: dir.standardizedFileURL.path)
    }
}
