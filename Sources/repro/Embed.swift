import ArgumentParser
import Foundation
import NN

/// `repro embed --model DIR TEXT...`: sentence vectors from a Hugging Face BERT directory, one JSON line per text.
/// It exercises the WordPiece tokenizer, the safetensors loader and the BERT forward pass end to end on a real
/// checkpoint (scripts/setup_minilm.sh fetches all-MiniLM-L6-v2), and its output can be diffed against
/// transformers.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed texts with a pretrained BERT (config.json, vocab.txt, model.safetensors).",
        discussion: """
            Prints one JSON object per text: input_ids, cls (the last hidden state of [CLS]) and mean (the mean of \
            the last hidden states over the text's tokens, [CLS] and [SEP] included).
            """)

    @Option(name: .long, help: "Directory of a Hugging Face BERT model, e.g. .cache/models/all-MiniLM-L6-v2.")
    var model: String

    @Option(name: .long, help: "Truncate each text to this many tokens, [CLS] and [SEP] included.")
    var maxLength: Int?

    @Argument(help: "Texts to embed.")
    var texts: [String]

    func validate() throws {
        if texts.isEmpty { throw ValidationError("give at least one text") }
        if let m = maxLength, m < 2 { throw ValidationError("--max-length must be at least 2 ([CLS] and [SEP])") }
    }

    func run() throws {
        let embedder = try BertEmbedder(directory: URL(fileURLWithPath: model))
        for e in embedder.embed(texts, maxLength: maxLength) {
            print(Embed.jsonLine(e))
        }
    }

    /// Keys in a fixed order and floats with 9 significant digits (round-trip exact for Float32).
    static func jsonLine(_ e: TextEmbedding) -> String {
        func floats(_ v: [Float]) -> String { "[" + v.map { String(format: "%.9g", Double($0)) }.joined(separator: ",") + "]" }
        return "{\"input_ids\":[\(e.inputIds.map(String.init).joined(separator: ","))],\"cls\":\(floats(e.cls)),\"mean\":\(floats(e.mean))}"
    }
}
