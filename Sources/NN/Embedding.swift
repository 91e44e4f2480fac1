import Engine

/// A lookup table (torch.nn.Embedding): `weight` [numEmbeddings, embeddingDim], initialised N(0, 1) as in PyTorch.
/// With `paddingIdx` that row starts at zero and gets no gradient (its lookups still return its current value).
public final class Embedding: Module {
    public var weight: Tensor
    public let numEmbeddings: Int
    public let embeddingDim: Int
    public let paddingIdx: Int?

    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIdx: Int? = nil) {
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        // PyTorch accepts a negative index counted from the end.
        let pad = paddingIdx.map { $0 < 0 ? $0 + numEmbeddings : $0 }
        precondition(pad.map { (0..<numEmbeddings).contains($0) } ?? true,
                     "Embedding: padding index \(paddingIdx!) outside the \(numEmbeddings) rows")
        self.paddingIdx = pad
        weight = Tensor(zeros: [numEmbeddings, embeddingDim], requiresGrad: true)
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        Init.normal(weight, rng: &rng)
        zeroPaddingRow()
    }

    /// PyTorch starts the padding row at zero, whatever fills the rest.
    public func zeroPaddingRow() {
        if let p = paddingIdx { (weight.ptr + p * embeddingDim).update(repeating: 0, count: embeddingDim) }
    }

    /// Rows for `ids`, shaped `shape + [embeddingDim]` (shape defaults to [ids.count]).
    public func callAsFunction(_ ids: [Int], shape: [Int]? = nil) -> Tensor {
        let s = shape ?? [ids.count]
        precondition(s.reduce(1, *) == ids.count, "Embedding: \(ids.count) ids for shape \(s)")
        var rows = weight.indexSelect(axis: 0, ids)
        if let p = paddingIdx, ids.contains(p) {
            // rows·keep + rows_detached·(1 − keep) has the same value, and no gradient path for padding rows.
            let keep = Tensor(ids.map { $0 == p ? 0 : 1 }, shape: [ids.count, 1])
            rows = rows * keep + rows.detached() * (1 - keep)
        }
        return rows.reshaped(s + [embeddingDim])
    }
}
