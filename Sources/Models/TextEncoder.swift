import Foundation
import Engine
import NN

// The language encoder of the text-guided models (TMC §3.1's "BERT-base"; LViT's BERT embedding).
//
// Deviation, stated in Papers/TMC/model.md: the BERT is frozen. TMC does not say whether its BERT is fine-tuned.
// Freezing it makes every text's hidden states a pure function of the string, so they are computed once and cached:
// the texts of these data sets come from a small grammar (a few hundred distinct strings), which makes text encoding
// nearly free during training. The default model is all-MiniLM-L6-v2 (6 layers, 384 wide, general domain), which
// `make setup` places in .cache/models; it stands in for BERT-base (12 layers, 768 wide).

public enum TextEncoderError: Error, CustomStringConvertible {
    case missingModel(directory: String, file: String)

    public var description: String {
        switch self {
        case let .missingModel(directory, file):
            return "text encoder: \(file) not found in \(directory). Run `make setup` to fetch all-MiniLM-L6-v2 into "
                + ".cache/models, or pass another Hugging Face BERT directory (config.json, vocab.txt, model.safetensors)."
        }
    }
}

/// A frozen BERT with its tokenizer and a cache of every layer's hidden states per distinct text.
public final class FrozenTextEncoder {
    public let bert: BertModel
    public let tokenizer: WordPieceTokenizer

    /// Hidden states of one text encoded alone (no padding): entry l is layer l's output (0 = embeddings), T·D values.
    private struct Entry {
        let ids: [Int]
        let states: [[Float]]
    }
    private var cache: [String: Entry] = [:]

    /// Where `make setup` puts all-MiniLM-L6-v2, relative to the working directory (the repository root).
    public static let defaultDirectory = ".cache/models/all-MiniLM-L6-v2"

    /// Token feature width D.
    public var width: Int { bert.config.hiddenSize }
    /// Number of transformer layers L.
    public var layers: Int { bert.config.numHiddenLayers }
    /// Distinct (text, maxLength) pairs encoded so far.
    public var cachedTexts: Int { cache.count }

    public init(bert: BertModel, tokenizer: WordPieceTokenizer) {
        self.bert = bert
        self.tokenizer = tokenizer
        bert.freeze()
        bert.eval()
    }

    /// Loads a Hugging Face BERT directory (config.json, vocab.txt, model.safetensors).
    public convenience init(directory: String = FrozenTextEncoder.defaultDirectory) throws {
        let dir = URL(fileURLWithPath: directory)
        for file in ["config.json", "vocab.txt", "model.safetensors"]
        where !FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path) {
            throw TextEncoderError.missingModel(directory: dir.path, file: file)
        }
        let bert = try BertModel.pretrained(directory: dir)
        let tokenizer = try WordPieceTokenizer(vocabFile: dir.appendingPathComponent("vocab.txt"))
        self.init(bert: bert, tokenizer: tokenizer)
    }

    /// A randomly initialised tiny BERT for unit tests (no files). Its vocabulary holds the special tokens,
    /// punctuation, digits, the letters and their `##` continuations (so every lower-case word tokenises without
    /// [UNK]) and `words` as whole pieces. The global initialisation stream is left untouched.
    public static func randomTiny(hidden: Int = 16, layers: Int = 2, heads: Int = 2, words: [String] = [],
                                  seed: UInt64 = 7) -> FrozenTextEncoder {
        let letters = "abcdefghijklmnopqrstuvwxyz".map { String($0) }
        let symbols = ".,;:-()/'\"!?".map { String($0) } + (0...9).map { String($0) }
        var tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + symbols + letters + letters.map { "##" + $0 }
        for w in words.map({ $0.lowercased() }) where !tokens.contains(w) { tokens.append(w) }
        var config = BertConfig()
        config.vocabSize = tokens.count
        config.hiddenSize = hidden
        config.numHiddenLayers = layers
        config.numAttentionHeads = heads
        config.intermediateSize = 2 * hidden
        config.maxPositionEmbeddings = 128
        // Both throwing calls only fail on malformed configurations, which this fixed one is not.
        let bert = try! BertModel(config, pooler: false)
        bert.initialize(seed: seed)
        let tokenizer = try! WordPieceTokenizer(tokens: tokens)
        return FrozenTextEncoder(bert: bert, tokenizer: tokenizer)
    }

    /// Hidden-state index (0 = embeddings, l = output of layer l) that feeds visual stage i of n (i = 1…n):
    /// round(i·L/n) with halves rounded up, at least 1. Stages then spread evenly over the depth and the last one
    /// always reads the last layer: L = 6, n = 4 gives layers 2, 3, 5, 6; L = 12, n = 4 gives 3, 6, 9, 12.
    public static func stageLayer(_ i: Int, of n: Int, layers l: Int) -> Int {
        precondition(i >= 1 && i <= n, "stage \(i) is not in 1…\(n)")
        return Swift.max(1, (2 * i * l + n) / (2 * n))
    }

    public func stageLayers(_ n: Int) -> [Int] { (1...n).map { FrozenTextEncoder.stageLayer($0, of: n, layers: layers) } }

    /// Encodes a batch: token ids and mask padded to the batch's longest text, `features` = last layer [B, T, D],
    /// `stageFeatures` = n tensors [B, T, D] from `stageLayers(n)`. Padded positions hold zeros. No tensor requires
    /// a gradient: the encoder is frozen.
    public func encode(_ texts: [String], stages n: Int, maxLength: Int = 64) -> TextInput {
        precondition(!texts.isEmpty, "encode needs at least one text")
        fill(texts, maxLength: maxLength)
        let entries = texts.map { cache[key($0, maxLength)]! }
        let t = entries.map { $0.ids.count }.max()!
        let pad = tokenizer.padId
        let ids = entries.map { $0.ids + [Int](repeating: pad, count: t - $0.ids.count) }
        let mask = entries.map { [Int](repeating: 1, count: $0.ids.count) + [Int](repeating: 0, count: t - $0.ids.count) }
        let stageTensors = n > 0 ? stageLayers(n).map { gather(entries, layer: $0, length: t) } : []
        return TextInput(tokenIds: ids, attentionMask: mask, features: gather(entries, layer: layers, length: t),
                         stageFeatures: stageTensors)
    }

    public func clearCache() { cache.removeAll() }

    private func key(_ text: String, _ maxLength: Int) -> String { "\(maxLength)\u{1}\(text)" }

    /// Runs BERT over every text not cached yet, one text at a time. Encoding them together would be faster, but a
    /// text's states would then depend, in the last bits, on which texts shared its batch (the padded length and the
    /// GEMM shapes change the summation order), so a resumed run, which meets the texts in other batches, drifted from
    /// the uninterrupted one. Alone, a text's states are a pure function of the string; each is computed once.
    private func fill(_ texts: [String], maxLength: Int) {
        for s in texts where cache[key(s, maxLength)] == nil {
            let enc = tokenizer.encodeBatch([s], maxLength: Swift.min(maxLength, bert.config.maxPositionEmbeddings))
            let states = withoutGrad { bert(enc).hiddenStates }
            let real = enc[0].attentionMask.reduce(0, +)
            precondition(real == states[0].shape[1], "a text encoded alone has no padding")
            cache[key(s, maxLength)] = Entry(ids: Array(enc[0].ids.prefix(real)), states: states.map(\.array))
        }
    }

    private func gather(_ entries: [Entry], layer: Int, length t: Int) -> Tensor {
        let d = width
        let out = Tensor(zeros: [entries.count, t, d])
        for (b, e) in entries.enumerated() {
            e.states[layer].withUnsafeBufferPointer { src in
                (out.ptr + b * t * d).update(from: src.baseAddress!, count: src.count)
            }
        }
        return out
    }
}
