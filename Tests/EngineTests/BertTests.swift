import XCTest
import Foundation
import Engine
import NN

/// BERT and its WordPiece tokenizer: a tiny random BERT against transformers' BertModel (always runs), and the real
/// all-MiniLM-L6-v2 (scripts/setup_minilm.sh) against the ids and hidden states recorded from transformers.
final class BertTests: XCTestCase {
    static let minilmDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".cache/models/all-MiniLM-L6-v2")

    private func minilm() throws -> URL {
        let dir = BertTests.minilmDirectory
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("\(dir.path) absent: run scripts/setup_minilm.sh")
        }
        return dir
    }

    // MARK: Tokenizer rules on a hand-made vocabulary

    private func toyTokenizer() throws -> WordPieceTokenizer {
        try WordPieceTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "aff",
                                        "able", "!", ",", "cafe", "resume", "北", "京", "##s", "a", "##b", "."])
    }

    func testGreedyLongestMatchWordPiece() throws {
        let t = try toyTokenizer()
        XCTAssertEqual(t.wordPiece("unaffable"), ["un", "##aff", "##able"])
        XCTAssertEqual(t.wordPiece("affable"), ["aff", "##able"])
        // One uncovered piece turns the whole word into [UNK].
        XCTAssertEqual(t.wordPiece("unaffablex"), ["[UNK]"])
        XCTAssertEqual(t.wordPiece("a" + String(repeating: "b", count: 99)), ["a"] + [String](repeating: "##b", count: 99))
        XCTAssertEqual(t.wordPiece("a" + String(repeating: "b", count: 100)), ["[UNK]"])
    }

    func testBasicTokenizerNormalisation() throws {
        let t = try toyTokenizer()
        XCTAssertEqual(t.basicTokenize(" Café,RÉSUMÉS!\tun\u{0007}aff \u{200B}"), ["cafe", ",", "resumes", "!", "unaff"])
        XCTAssertEqual(t.basicTokenize("北京a"), ["北", "京", "a"])
        XCTAssertEqual(t.basicTokenize("x$y^z`"), ["x", "$", "y", "^", "z", "`"])
        XCTAssertEqual(t.basicTokenize("[CLS] [MASK]x"), ["[CLS]", "[", "mask", "]", "x"])
    }

    func testEncodeTruncatesAndPads() throws {
        let t = try toyTokenizer()
        let e = t.encode("cafe, resume!", maxLength: 4, padTo: 6)
        XCTAssertEqual(e.ids, [2, 12, 11, 3, 0, 0])
        XCTAssertEqual(e.attentionMask, [1, 1, 1, 1, 0, 0])
        let batch = t.encodeBatch(["cafe", "cafe. cafe!"])
        XCTAssertEqual(batch.map { $0.ids }, [[2, 12, 3, 0, 0, 0], [2, 12, 19, 12, 10, 3]])
        XCTAssertEqual(t.decode(batch[1].ids), ["[CLS]", "cafe", ".", "cafe", "!", "[SEP]"])
    }

    // MARK: Tiny random BERT against transformers

    func testTinyBertMatchesTransformers() throws {
        let c = Fixture.load("transformer").case("bert_tiny")
        var cfg = BertConfig()
        cfg.vocabSize = 40; cfg.hiddenSize = 8; cfg.numHiddenLayers = 2; cfg.numAttentionHeads = 2
        cfg.intermediateSize = 16; cfg.maxPositionEmbeddings = 16
        let model = try BertModel(cfg)
        var state: [String: Tensor] = [:]
        for key in c.tensors.keys where key.hasPrefix("param.") { state[String(key.dropFirst(6))] = c.tensor(key) }
        XCTAssertEqual(Set(state.keys), Set(model.stateDict().keys), "parameter names differ from BertModel's")
        try model.loadHuggingFace(state)
        model.eval()
        let ids = c.indices("input_ids"), mask = c.indices("attention_mask")
        let out = model(inputIds: [Array(ids[0..<6]), Array(ids[6..<12])], attentionMask: [Array(mask[0..<6]), Array(mask[6..<12])])
        XCTAssertEqual(out.hiddenStates.count, 3)
        for (i, h) in out.hiddenStates.enumerated() {
            assertClose(h, c.tensor("hidden.\(i)"), atol: 2e-5, rtol: 2e-4, "hidden state \(i)")
        }
        assertClose(out.pooled!, c.tensor("pooled"), atol: 2e-5, rtol: 2e-4, "pooler")
    }

    func testConfigDecodesHuggingFaceKeys() throws {
        let json = #"{"hidden_size": 384, "num_hidden_layers": 6, "intermediate_size": 1536, "hidden_act": "gelu_new", "layer_norm_eps": 1e-7}"#
        let cfg = try JSONDecoder().decode(BertConfig.self, from: Data(json.utf8))
        XCTAssertEqual(cfg.hiddenSize, 384)
        XCTAssertEqual(cfg.numHiddenLayers, 6)
        XCTAssertEqual(cfg.numAttentionHeads, 12)   // absent: BERT-base default
        XCTAssertEqual(cfg.layerNormEps, 1e-7)
        XCTAssertEqual(try cfg.activation(), .geluTanh)
    }

    func testBertBaseParameterCount() throws {
        // bert-base-uncased's BertModel (with pooler) has 109,482,240 parameters.
        XCTAssertEqual(try BertModel(.base).parameterCount, 109_482_240)
    }

    // MARK: all-MiniLM-L6-v2 against transformers

    func testMiniLMTokenizerMatchesHuggingFace() throws {
        let dir = try minilm()
        let tokenizer = try WordPieceTokenizer(vocabFile: dir.appendingPathComponent("vocab.txt"))
        let f = Fixture.load("minilm")
        let texts = f.value("texts") as! [String]
        for (i, text) in texts.enumerated() {
            XCTAssertEqual(tokenizer.encode(text).ids, f.case("text\(i)").indices("input_ids"), "text \(i): \(text)")
        }
    }

    func testMiniLMHiddenStatesMatchTransformers() throws {
        let embedder = try BertEmbedder(directory: try minilm())
        let f = Fixture.load("minilm")
        let texts = Array((f.value("texts") as! [String]).prefix(3))
        // Batched (padded to the longest) and one by one must both match the unpadded reference.
        let batched = embedder.embed(texts)
        for (i, text) in texts.enumerated() {
            let c = f.case("text\(i)")
            let single = embedder.embed([text])[0]
            for (e, how) in [(batched[i], "batched"), (single, "single")] {
                XCTAssertEqual(e.inputIds, c.indices("input_ids"), "\(how) ids \(i)")
                assertClose(Tensor(e.cls, shape: [384]), c.tensor("cls"), atol: 1e-4, rtol: 0, "\(how) CLS \(i)")
                assertClose(Tensor(e.mean, shape: [384]), c.tensor("mean"), atol: 1e-4, rtol: 0, "\(how) mean \(i)")
            }
            let enc = embedder.tokenizer.encode(text)
            let last = withoutGrad { embedder.model([enc]).lastHiddenState }
            let first8 = last.reshaped([enc.ids.count, 384]).slice(axis: 1, 0, 8)
            assertClose(first8, c.tensor("last_hidden_first8"), atol: 1e-4, rtol: 0, "last hidden state \(i)")
        }
    }
}
