import Engine

/// A lookup table (torch.nn.Embedding): `weight` [numEmbeddings, embeddingDim], initialised N(0, 1) as in PyTorch.
public final class Embedding: Module {
    public var weight: Tensor
    public let numEmbeddings: Int
    public let embeddingDim: Int

    public init(_ numEmbeddings: Int, _ embeddingDim: Int) {
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        weight = Tensor.randn([numEmbeddings, embeddingDim], rng: &ParamInit.rng, requiresGrad: true)
    }

    /// Rows for `ids`, shaped `shape + [embeddingDim]` (shape defaults to [ids.count]).
    public func callAsFunction(_ ids: [Int], shape: [Int]? = nil) -> Tensor {
        let s = shape ?? [ids.count]
        precondition(s.reduce(1, *) == ids.count, "Embedding: \(ids.count) ids for shape \(s)")
        return weight.indexSelect(axis: 0, ids).reshaped(s + [embeddingDim])
    }
}
