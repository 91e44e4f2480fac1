import Engine
import NN

/// The text that accompanies an image, in every form a text-guided segmenter may want.
///
/// Image-only models ignore it. Text-guided ones read what they need: token ids and mask for a model that runs
/// its own text encoder, `features` for one that takes precomputed token embeddings (LViT's BERT embedding
/// layer), `stageFeatures` for one that meets the image at several encoder stages (TMC's L_i).
public struct TextInput {
    /// Token ids per sample, [B][T], padded to a common length.
    public var tokenIds: [[Int]]
    /// 1 for real tokens, 0 for padding, [B][T].
    public var attentionMask: [[Int]]
    /// Token features from a text encoder, [B, T, D].
    public var features: Tensor?
    /// Per-stage token features, one [B, T, D_i] per stage.
    public var stageFeatures: [Tensor]

    public init(tokenIds: [[Int]], attentionMask: [[Int]]? = nil, features: Tensor? = nil, stageFeatures: [Tensor] = []) {
        precondition(attentionMask.map { $0.map(\.count) == tokenIds.map(\.count) } ?? true,
                     "attention mask rows must match the token rows")
        self.tokenIds = tokenIds
        self.attentionMask = attentionMask ?? tokenIds.map { $0.map { _ in 1 } }
        self.features = features
        self.stageFeatures = stageFeatures
    }

    public var batchSize: Int { tokenIds.count }

    /// The attention mask as a [B, T] tensor of 0/1 (1 = real token).
    public var maskTensor: Tensor {
        let t = tokenIds.first?.count ?? 0
        return Tensor(attentionMask.flatMap { $0.map(Float.init) }, shape: [tokenIds.count, t])
    }
}

/// One deeply supervised output and its weight in the segmentation loss.
public struct DeepSupervisionTerm {
    /// Logits [B, 1, h, w], possibly at a lower resolution than the image.
    public let logits: Tensor
    public let weight: Float
    public init(logits: Tensor, weight: Float) { self.logits = logits; self.weight = weight }
}

/// What a segmenter returns.
public struct SegOutput {
    /// Logits [B, K, spatial...] at the input resolution, the prediction that metrics score: K = 1 for a binary
    /// (sigmoid) task, one channel per class with the background first for a multi-class (softmax) one; two or
    /// three spatial axes.
    public var logits: Tensor
    /// When not empty, the segmentation loss is Σ weight · loss(term, target resized to the term) over these
    /// terms instead of the loss on `logits` alone (nnU-Net's and UNet++'s deep supervision). The full-resolution
    /// head is one of the terms.
    public var deepSupervision: [DeepSupervisionTerm]
    /// Extra loss terms the model computes itself (e.g. a cross-modal alignment loss), added by the trainer with
    /// the weights its experiment specifies.
    public var auxLosses: [String: Tensor]
    /// Attention maps or other intermediate tensors for inspection and figures.
    public var attentionMaps: [String: Tensor]

    public init(logits: Tensor, deepSupervision: [DeepSupervisionTerm] = [], auxLosses: [String: Tensor] = [:],
                attentionMaps: [String: Tensor] = [:]) {
        precondition(logits.rank == 4 || logits.rank == 5, "logits must be [B, K, H, W] or [B, K, D, H, W], got \(logits.shape)")
        precondition(deepSupervision.isEmpty || logits.rank == 4, "deep supervision is implemented for 2D outputs, got \(logits.shape)")
        self.logits = logits
        self.deepSupervision = deepSupervision
        self.auxLosses = auxLosses
        self.attentionMaps = attentionMaps
    }

    /// The segmentation loss for a binary `target` [B, 1, H, W], honouring deep supervision. `loss(logits, target)`
    /// is the per-output criterion (BCE, BCE + Dice, ...); targets are resized to each output by nearest sampling.
    public func segmentationLoss(target: Tensor, _ loss: (Tensor, Tensor) -> Tensor) -> Tensor {
        guard !deepSupervision.isEmpty else { return loss(logits, target) }
        var total: Tensor?
        for term in deepSupervision where term.weight != 0 {
            let t = SegOutput.resizeMaskNearest(target, height: term.logits.shape[2], width: term.logits.shape[3])
            let l = loss(term.logits, t) * term.weight
            total = total.map { $0 + l } ?? l
        }
        return total ?? loss(logits, target)
    }

    /// Nearest-neighbour resampling of a mask [B, C, H, W] (source index floor(i·H/h), PyTorch's `nearest`).
    /// Masks carry no gradient, so this stays a plain loop.
    public static func resizeMaskNearest(_ mask: Tensor, height h: Int, width w: Int) -> Tensor {
        let (b, c, sh, sw) = (mask.shape[0], mask.shape[1], mask.shape[2], mask.shape[3])
        if sh == h && sw == w { return mask }
        let out = Tensor(zeros: [b, c, h, w])
        let src = mask.ptr, dst = out.ptr
        for plane in 0..<(b * c) {
            for y in 0..<h {
                let sy = y * sh / h
                for x in 0..<w { dst[(plane * h + y) * w + x] = src[(plane * sh + sy) * sw + x * sw / w] }
            }
        }
        return out
    }
}

/// A segmenter of [B, C, H, W] images or [B, C, D, H, W] volumes. Every model of the Table 1 grid conforms,
/// image-only and text-guided alike, and so do MOSMOS's UNETR and ResNet-50 U-Net, so the suite trains and
/// evaluates them all through this one entry point.
public protocol SegmentationModel: Module {
    /// Whether `forward` needs `text` (image-only models accept and ignore it).
    var usesText: Bool { get }
    func forward(image: Tensor, text: TextInput?) -> SegOutput
}

extension SegmentationModel {
    public var usesText: Bool { false }
    public func callAsFunction(_ image: Tensor, text: TextInput?) -> SegOutput { forward(image: image, text: text) }
    /// Image-only call. Bind the model to a name before calling it: calling straight on an existential rvalue
    /// (`try ModelRegistry.make(...)(x)`) crashes Swift 6.3's SILGen.
    public func callAsFunction(_ image: Tensor) -> SegOutput { forward(image: image, text: nil) }
}
