import Foundation

/// BERT's uncased tokenizer: the "basic" pre-tokenizer (cleaning, lower-casing, accent stripping, CJK and
/// punctuation splitting) followed by greedy longest-match-first WordPiece, reproducing Hugging Face's
/// `BertTokenizer(do_lower_case=True)` id for id so that pretrained BERT checkpoints see the inputs they were
/// trained on.
public struct WordPieceTokenizer {
    public let vocab: [String: Int]
    public let idToToken: [String]
    public let lowercase: Bool
    public let unkToken = "[UNK]", clsToken = "[CLS]", sepToken = "[SEP]", padToken = "[PAD]"
    /// Longer words are not split but mapped to [UNK] whole, as in the reference (bounds the quadratic search).
    public let maxCharsPerWord = 100

    public var unkId: Int { vocab[unkToken]! }
    public var clsId: Int { vocab[clsToken]! }
    public var sepId: Int { vocab[sepToken]! }
    public var padId: Int { vocab[padToken]! }

    /// Special tokens survive pre-tokenisation intact instead of being split at their brackets.
    private var neverSplit: Set<String> { [unkToken, clsToken, sepToken, padToken, "[MASK]"] }

    public init(tokens: [String], lowercase: Bool = true) throws {
        var v: [String: Int] = [:]
        // The first occurrence wins on duplicate lines, as in the reference's ordered dict.
        for (i, t) in tokens.enumerated() where v[t] == nil { v[t] = i }
        for special in ["[UNK]", "[CLS]", "[SEP]", "[PAD]"] where v[special] == nil {
            throw WordPieceError.missingSpecialToken(special)
        }
        vocab = v
        idToToken = tokens
        self.lowercase = lowercase
    }

    /// Reads a `vocab.txt`: one token a line, the line number is the id.
    public init(vocabFile: URL, lowercase: Bool = true) throws {
        let text = try String(contentsOf: vocabFile, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, lowercase: lowercase)
    }

    // MARK: Pre-tokenisation

    /// Words and punctuation marks after cleaning, lower-casing and accent stripping.
    public func basicTokenize(_ text: String) -> [String] {
        let cleaned = spaceOutCJK(clean(text)).precomposedStringWithCanonicalMapping
        var out: [String] = []
        for word in splitOnWhitespace(cleaned) {
            if neverSplit.contains(word) { out.append(word); continue }
            let normalised = lowercase ? stripAccents(word.lowercased()) : word
            out += splitOnPunctuation(normalised)
        }
        return out
    }

    /// Drops NUL, U+FFFD and control characters; maps every whitespace character to a space.
    private func clean(_ text: String) -> String {
        var s = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if u.value == 0 || u.value == 0xFFFD || WordPieceTokenizer.isControl(u) { continue }
            s.append(WordPieceTokenizer.isWhitespace(u) ? " " : u)
        }
        return String(s)
    }

    /// CJK ideographs are written without spaces, so each becomes its own word.
    private func spaceOutCJK(_ text: String) -> String {
        var s = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if WordPieceTokenizer.isCJK(u) { s.append(" "); s.append(u); s.append(" ") } else { s.append(u) }
        }
        return String(s)
    }

    /// Canonical decomposition separates base letters from their accents, which are then dropped (é → e).
    private func stripAccents(_ word: String) -> String {
        var s = String.UnicodeScalarView()
        for u in word.decomposedStringWithCanonicalMapping.unicodeScalars where u.properties.generalCategory != .nonspacingMark {
            s.append(u)
        }
        return String(s)
    }

    /// Splits where Python's `str.split()` does (any White_Space character, line separators included).
    private func splitOnWhitespace(_ text: String) -> [String] {
        var words: [String] = [], current = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if u.properties.isWhitespace {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
            } else {
                current.append(u)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words
    }

    /// Every punctuation character is a token of its own.
    private func splitOnPunctuation(_ word: String) -> [String] {
        var parts: [String] = [], current = String.UnicodeScalarView()
        for u in word.unicodeScalars {
            if WordPieceTokenizer.isPunctuation(u) {
                if !current.isEmpty { parts.append(String(current)); current = String.UnicodeScalarView() }
                parts.append(String(u))
            } else {
                current.append(u)
            }
        }
        if !current.isEmpty { parts.append(String(current)) }
        return parts
    }

    static func isWhitespace(_ u: Unicode.Scalar) -> Bool {
        if u == " " || u == "\t" || u == "\n" || u == "\r" { return true }
        return u.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        if u == "\t" || u == "\n" || u == "\r" { return false }
        let c = u.properties.generalCategory
        return c == .control || c == .format
    }

    /// ASCII symbols such as `$`, `^` and `` ` `` are not Unicode punctuation but BERT treats them as such.
    static func isPunctuation(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch u.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// The CJK Unified Ideograph blocks (not Hangul or kana, which use spaces).
    static func isCJK(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    // MARK: WordPiece

    /// Greedy longest-match-first split of one word into vocabulary pieces; non-initial pieces carry `##`.
    /// A word that cannot be covered completely becomes a single [UNK].
    public func wordPiece(_ word: String) -> [String] {
        let chars = Array(word.unicodeScalars)
        if chars.count > maxCharsPerWord { return [unkToken] }
        var pieces: [String] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: String?
            while start < end {
                var piece = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { piece = "##" + piece }
                if vocab[piece] != nil { found = piece; break }
                end -= 1
            }
            guard let p = found else { return [unkToken] }
            pieces.append(p)
            start = end
        }
        return pieces
    }

    public func tokenize(_ text: String) -> [String] { basicTokenize(text).flatMap { wordPiece($0) } }

    // MARK: Encoding

    /// `[CLS] text [SEP]`, truncated to `maxLength` (the special tokens are kept) and padded with [PAD]
    /// to `padTo` when given.
    public func encode(_ text: String, maxLength: Int = 512, padTo: Int? = nil) -> Encoding {
        precondition(maxLength >= 2, "maxLength must leave room for [CLS] and [SEP]")
        let pieces = tokenize(text).prefix(maxLength - 2).map { vocab[$0] ?? unkId }
        var ids = [clsId] + pieces + [sepId]
        var mask = [Int](repeating: 1, count: ids.count)
        if let n = padTo, n > ids.count {
            ids += [Int](repeating: padId, count: n - ids.count)
            mask += [Int](repeating: 0, count: n - mask.count)
        }
        return Encoding(ids: ids, attentionMask: mask)
    }

    /// Encodes several texts padded to a common length: the longest one, or `maxLength` when `padToMax`.
    public func encodeBatch(_ texts: [String], maxLength: Int = 512, padToMax: Bool = false) -> [Encoding] {
        let raw = texts.map { encode($0, maxLength: maxLength) }
        let width = padToMax ? maxLength : (raw.map { $0.ids.count }.max() ?? 0)
        return texts.map { encode($0, maxLength: maxLength, padTo: width) }
    }

    public func decode(_ ids: [Int]) -> [String] { ids.map { $0 >= 0 && $0 < idToToken.count ? idToToken[$0] : unkToken } }
}

/// Token ids of one sequence with its padding mask (1 = real token, 0 = [PAD]), as Hugging Face returns them.
public struct Encoding: Equatable {
    public var ids: [Int]
    public var attentionMask: [Int]
    /// Single-segment inputs: every token belongs to segment 0.
    public var tokenTypeIds: [Int] { [Int](repeating: 0, count: ids.count) }
    public init(ids: [Int], attentionMask: [Int]) { self.ids = ids; self.attentionMask = attentionMask }
}

public enum WordPieceError: Error, CustomStringConvertible {
    case missingSpecialToken(String)
    public var description: String {
        switch self {
        case .missingSpecialToken(let t): return "vocabulary has no \(t) token; is this a BERT vocab.txt?"
        }
    }
}
