import Foundation
import Engine

// BERT (Devlin et al., 2019) as Hugging Face's `BertModel` lays it out, so that its safetensors load by name:
// embeddings.{word,position,token_type}_embeddings/LayerNorm, encoder.layer.i.attention.self.{query,key,value},
// attention.output.{dense,LayerNorm}, intermediate.dense, output.{dense,LayerNorm}, pooler.dense.
// Post-norm layers, exact GELU, absolute positions.

/// The fields of a Hugging Face `config.json` that shape a BERT.
public struct BertConfig: Codable, Equatable {
    public var vocabSize = 30522
    public var hiddenSize = 768
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var intermediateSize = 3072
    public var hiddenAct = "gelu"
    public var hiddenDropoutProb: Float = 0.1
    public var attentionProbsDropoutProb: Float = 0.1
    public var maxPositionEmbeddings = 512
    public var typeVocabSize = 2
    public var initializerRange: Float = 0.02
    public var layerNormEps: Float = 1e-12
    public var padTokenId = 0

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
        case hiddenDropoutProb = "hidden_dropout_prob", attentionProbsDropoutProb = "attention_probs_dropout_prob"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case initializerRange = "initializer_range", layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id"
    }

    public init() {}

    /// Missing keys keep BERT-base's values, as `BertConfig` does in transformers.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BertConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        hiddenDropoutProb = try c.decodeIfPresent(Float.self, forKey: .hiddenDropoutProb) ?? d.hiddenDropoutProb
        attentionProbsDropoutProb = try c.decodeIfPresent(Float.self, forKey: .attentionProbsDropoutProb) ?? d.attentionProbsDropoutProb
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? d.typeVocabSize
        initializerRange = try c.decodeIfPresent(Float.self, forKey: .initializerRange) ?? d.initializerRange
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? d.padTokenId
    }

    public init(contentsOf url: URL) throws {
        self = try JSONDecoder().decode(BertConfig.self, from: Data(contentsOf: url))
    }

    public static var base: BertConfig { BertConfig() }

    /// The activation named by `hidden_act`.
    public func activation() throws -> MLPActivation {
        switch hiddenAct {
        case "gelu": return .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
        case "relu": return .relu
        case "quick_gelu": return .quickGelu
        default: throw BertError.unsupportedActivation(hiddenAct)
        }
    }
}

public enum BertError: Error, CustomStringConvertible {
    case unsupportedActivation(String)
    case missingFile(URL)
    case sequenceTooLong(Int, max: Int)
    public var description: String {
        switch self {
        case .unsupportedActivation(let a): return "hidden_act \"\(a)\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, quick_gelu are)"
        case .missingFile(let u): return "\(u.path) not found; a BERT directory needs config.json, vocab.txt and model.safetensors"
        case let .sequenceTooLong(n, m): return "sequence of \(n) tokens exceeds max_position_embeddings \(m)"
        }
    }
}

public final class BertEmbeddings: Module {
    public var word_embeddings: Embedding
    public var position_embeddings: Embedding
    public var token_type_embeddings: Embedding
    public var LayerNorm: NN.LayerNorm
    public var dropout: Dropout

    public init(_ c: BertConfig) {
        word_embeddings = Embedding(c.vocabSize, c.hiddenSize)
        position_embeddings = Embedding(c.maxPositionEmbeddings, c.hiddenSize)
        token_type_embeddings = Embedding(c.typeVocabSize, c.hiddenSize)
        LayerNorm = NN.LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        dropout = Dropout(c.hiddenDropoutProb)
    }

    /// ids and token types are row-major [B·T]; positions are 0..<T in every row.
    public func callAsFunction(ids: [Int], tokenTypes: [Int], batch b: Int, length t: Int) -> Tensor {
        let positions = (0..<b).flatMap { _ in 0..<t }
        let sum = word_embeddings(ids, shape: [b, t]) + position_embeddings(positions, shape: [b, t])
            + token_type_embeddings(tokenTypes, shape: [b, t])
        return dropout(LayerNorm(sum))
    }
}

public final class BertSelfAttention: Module {
    public let heads: Int
    public var query: Linear
    public var key: Linear
    public var value: Linear
    public var dropout: Dropout

    public init(_ c: BertConfig) {
        heads = c.numAttentionHeads
        query = Linear(c.hiddenSize, c.hiddenSize)
        key = Linear(c.hiddenSize, c.hiddenSize)
        value = Linear(c.hiddenSize, c.hiddenSize)
        dropout = Dropout(c.attentionProbsDropoutProb)
    }

    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor?) -> Tensor {
        let (ctx, _) = scaledDotProductAttention(splitHeads(query(x), heads: heads), splitHeads(key(x), heads: heads),
                                                 splitHeads(value(x), heads: heads), keyPaddingMask: keyPaddingMask,
                                                 dropout: dropout)
        return mergeHeads(ctx)
    }
}

/// dense → dropout → LayerNorm(· + residual): the closing half of both sub-layers (`attention.output`, `output`).
public final class BertResidualOutput: Module {
    public var dense: Linear
    public var LayerNorm: NN.LayerNorm
    public var dropout: Dropout

    public init(inFeatures: Int, _ c: BertConfig) {
        dense = Linear(inFeatures, c.hiddenSize)
        LayerNorm = NN.LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        dropout = Dropout(c.hiddenDropoutProb)
    }

    public func callAsFunction(_ x: Tensor, residual: Tensor) -> Tensor { LayerNorm(dropout(dense(x)) + residual) }
}

public final class BertAttention: Module {
    public var self_: BertSelfAttention
    public var output: BertResidualOutput

    public init(_ c: BertConfig) {
        self_ = BertSelfAttention(c)
        output = BertResidualOutput(inFeatures: c.hiddenSize, c)
    }

    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor?) -> Tensor {
        output(self_(x, keyPaddingMask: keyPaddingMask), residual: x)
    }
}

public final class BertIntermediate: Module {
    public var dense: Linear
    public let activation: MLPActivation

    public init(_ c: BertConfig, activation: MLPActivation) {
        dense = Linear(c.hiddenSize, c.intermediateSize)
        self.activation = activation
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { activation(dense(x)) }
}

public final class BertLayer: Module {
    public var attention: BertAttention
    public var intermediate: BertIntermediate
    public var output: BertResidualOutput

    public init(_ c: BertConfig, activation: MLPActivation) {
        attention = BertAttention(c)
        intermediate = BertIntermediate(c, activation: activation)
        output = BertResidualOutput(inFeatures: c.intermediateSize, c)
    }

    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor?) -> Tensor {
        let a = attention(x, keyPaddingMask: keyPaddingMask)
        return output(intermediate(a), residual: a)
    }
}

public final class BertEncoder: Module {
    public var layer: [BertLayer]
    public init(_ c: BertConfig, activation: MLPActivation) {
        layer = (0..<c.numHiddenLayers).map { _ in BertLayer(c, activation: activation) }
    }
}

/// tanh(dense(h[CLS])), the sentence vector BERT was pre-trained to put there.
public final class BertPooler: Module {
    public var dense: Linear
    public init(_ c: BertConfig) { dense = Linear(c.hiddenSize, c.hiddenSize) }
    public func callAsFunction(_ hidden: Tensor) -> Tensor { dense(hidden.slice(axis: 1, 0, 1).squeezed(1)).tanh() }
}

/// Outputs of a BERT forward pass.
public struct BertModelOutput {
    /// Embedding output followed by every layer's output, [B, T, H] each (count = layers + 1, as in transformers'
    /// `output_hidden_states`), so callers can group layers into stages.
    public let hiddenStates: [Tensor]
    /// Pooled [CLS] vector [B, H], when the model has a pooler.
    public let pooled: Tensor?
    public var lastHiddenState: Tensor { hiddenStates.last! }
}

public final class BertModel: Module {
    public let config: BertConfig
    public var embeddings: BertEmbeddings
    public var encoder: BertEncoder
    public var pooler: BertPooler?

    public init(_ config: BertConfig = .base, pooler: Bool = true) throws {
        self.config = config
        let act = try config.activation()
        embeddings = BertEmbeddings(config)
        encoder = BertEncoder(config, activation: act)
        self.pooler = pooler ? BertPooler(config) : nil
        super.init()
        resetFromDefaultStream()
    }

    /// transformers' `_init_weights`: N(0, initializer_range) for Linear and Embedding weights, zero biases, a zero
    /// padding row (LayerNorm already starts at 1 and 0).
    public override func resetParameters(_ rng: inout RNG) {
        let std = config.initializerRange
        for (_, m) in namedModules() {
            if let l = m as? Linear { Init.normal(l.weight, std: std, rng: &rng); l.bias?.fill(0) }
            if let e = m as? Embedding { Init.normal(e.weight, std: std, rng: &rng) }
        }
        let w = embeddings.word_embeddings.weight, h = config.hiddenSize
        if config.padTokenId >= 0 && config.padTokenId < config.vocabSize {
            (w.ptr + config.padTokenId * h).update(repeating: 0, count: h)
        }
    }

    /// - Parameters:
    ///   - inputIds: B rows of T token ids (equal lengths; pad with [PAD]).
    ///   - attentionMask: 1 for real tokens, 0 for padding (Hugging Face's convention); all ones when nil.
    ///   - tokenTypeIds: segment ids; all zeros when nil.
    public func callAsFunction(inputIds: [[Int]], attentionMask: [[Int]]? = nil, tokenTypeIds: [[Int]]? = nil) -> BertModelOutput {
        let b = inputIds.count, t = inputIds.first?.count ?? 0
        precondition(inputIds.allSatisfy { $0.count == t }, "BERT input rows must have equal length; pad them")
        precondition(t <= config.maxPositionEmbeddings, BertError.sequenceTooLong(t, max: config.maxPositionEmbeddings).description)
        let ids = inputIds.flatMap { $0 }
        let types = tokenTypeIds?.flatMap { $0 } ?? [Int](repeating: 0, count: ids.count)
        // Padding keys are excluded from attention; padded query rows are still computed, as in transformers.
        let padding: Tensor? = attentionMask.flatMap { m in
            m.contains(where: { $0.contains(0) }) ? Tensor(m.flatMap { $0 }.map { $0 == 0 ? 1 : 0 }, shape: [b, t]) : nil
        }
        var h = embeddings(ids: ids, tokenTypes: types, batch: b, length: t)
        var states = [h]
        for l in encoder.layer {
            h = l(h, keyPaddingMask: padding)
            states.append(h)
        }
        return BertModelOutput(hiddenStates: states, pooled: pooler.map { $0(h) })
    }

    public func callAsFunction(_ encodings: [Encoding]) -> BertModelOutput {
        callAsFunction(inputIds: encodings.map { $0.ids }, attentionMask: encodings.map { $0.attentionMask },
                       tokenTypeIds: encodings.map { $0.tokenTypeIds })
    }

    /// Loads a Hugging Face BERT state dict: a `bert.` prefix (task models) is removed, heads that are not part of
    /// `BertModel` (`cls.*`, classifiers) and the `position_ids` buffer are ignored; every parameter of this model
    /// must be present with the right size.
    public func loadHuggingFace(_ state: [String: Tensor]) throws {
        var d: [String: Tensor] = [:]
        for (k, v) in state { d[k.hasPrefix("bert.") ? String(k.dropFirst(5)) : k] = v }
        let mine = Set(stateDict().keys)
        let (missing, _) = try loadStateDict(d.filter { mine.contains($0.key) }, strict: false)
        if !missing.isEmpty { throw ModuleError.stateDictMismatch(missing: missing, unexpected: []) }
    }

    /// A BERT from a Hugging Face directory holding config.json and model.safetensors.
    public static func pretrained(directory: URL) throws -> BertModel {
        let configURL = directory.appendingPathComponent("config.json")
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        for u in [configURL, weightsURL] where !FileManager.default.fileExists(atPath: u.path) { throw BertError.missingFile(u) }
        let config = try BertConfig(contentsOf: configURL)
        let state = try Safetensors.read(weightsURL)
        let model = try BertModel(config, pooler: state.keys.contains { $0.hasSuffix("pooler.dense.weight") })
        try model.loadHuggingFace(state)
        model.eval()
        return model
    }
}

/// Sentence vectors of one text: its token ids, the last-layer [CLS] state and the mean of the last-layer states
/// over its real tokens (sentence-transformers' mean pooling, [CLS] and [SEP] included).
public struct TextEmbedding: Equatable {
    public let inputIds: [Int]
    public let cls: [Float]
    public let mean: [Float]
}

/// A pretrained BERT with its tokenizer, for turning texts into vectors (evaluation only, no graph).
public final class BertEmbedder {
    public let model: BertModel
    public let tokenizer: WordPieceTokenizer

    public init(model: BertModel, tokenizer: WordPieceTokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Loads config.json, vocab.txt and model.safetensors from a Hugging Face model directory.
    public convenience init(directory: URL) throws {
        let vocab = directory.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocab.path) else { throw BertError.missingFile(vocab) }
        try self.init(model: BertModel.pretrained(directory: directory), tokenizer: WordPieceTokenizer(vocabFile: vocab))
    }

    /// Texts are encoded together, padded to the longest; padding does not change any text's vectors.
    public func embed(_ texts: [String], maxLength: Int? = nil) -> [TextEmbedding] {
        guard !texts.isEmpty else { return [] }
        let enc = tokenizer.encodeBatch(texts, maxLength: maxLength ?? model.config.maxPositionEmbeddings)
        let last = withoutGrad { model(enc).lastHiddenState }
        let (t, h) = (last.shape[1], last.shape[2])
        return enc.enumerated().map { i, e in
            let row = last.ptr + i * t * h
            var mean = [Double](repeating: 0, count: h)
            let real = e.attentionMask.enumerated().filter { $0.element == 1 }.map { $0.offset }
            for j in real { for k in 0..<h { mean[k] += Double(row[j * h + k]) } }
            return TextEmbedding(inputIds: Array(e.ids.prefix(real.count)),
                                 cls: Array(UnsafeBufferPointer(start: row, count: h)),
                                 mean: mean.map { Float($0 / Double(real.count)) })
        }
    }
}
