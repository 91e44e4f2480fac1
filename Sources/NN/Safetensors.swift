import Foundation
import Engine

// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the end of the header) plus an optional
// "__metadata__" string map, then the raw little-endian data.

public enum SafetensorsError: Error, CustomStringConvertible {
    case truncated(file: String, detail: String)
    case corrupt(file: String, detail: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case missingTensor(file: String, tensor: String)

    public var description: String {
        switch self {
        case let .truncated(f, d): return "\(f): truncated safetensors file (\(d)). The download or write was probably interrupted; fetch or save it again."
        case let .corrupt(f, d): return "\(f): not a valid safetensors file (\(d))."
        case let .unsupportedDType(f, t, d): return "\(f): tensor \(t) has dtype \(d), which this reader does not convert to Float32."
        case let .missingTensor(f, t): return "\(f): no tensor named \(t)."
        }
    }
}

/// A parsed safetensors file. The header is validated on opening; tensors are converted to Float32 on access,
/// so a checkpoint with a few unsupported entries (say, string-typed ones) can still be read tensor by tensor.
public struct SafetensorsFile {
    public struct Entry {
        public let dtype: String
        public let shape: [Int]
        /// Byte range within the data section.
        public let range: Range<Int>
    }

    public let url: URL
    public let metadata: [String: String]
    public let entries: [String: Entry]
    private let bytes: Data
    private let dataStart: Int

    static let elementSize = ["F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    public init(contentsOf url: URL) throws {
        self.url = url
        let name = url.path
        do { bytes = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SafetensorsError.corrupt(file: name, detail: "cannot be read: \(error.localizedDescription)")
        }
        guard bytes.count >= 8 else { throw SafetensorsError.truncated(file: name, detail: "\(bytes.count) bytes, shorter than the 8-byte header length") }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw SafetensorsError.truncated(file: name, detail: "header claims \(headerLength) bytes, the file has \(bytes.count - 8) after the length")
        }
        dataStart = 8 + Int(headerLength)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<dataStart)) } catch {
            throw SafetensorsError.corrupt(file: name, detail: "header is not JSON")
        }
        guard let header = json as? [String: Any] else { throw SafetensorsError.corrupt(file: name, detail: "header is not a JSON object") }
        var meta: [String: String] = [:], parsed: [String: Entry] = [:]
        let dataSize = bytes.count - dataStart
        for (key, value) in header {
            if key == "__metadata__" {
                guard let m = value as? [String: String] else { throw SafetensorsError.corrupt(file: name, detail: "__metadata__ is not a string map") }
                meta = m
                continue
            }
            let entry = try SafetensorsFile.parseEntry(key, value, file: name)
            guard entry.range.upperBound <= dataSize else {
                throw SafetensorsError.truncated(file: name, detail: "tensor \(key) ends at byte \(entry.range.upperBound) of a \(dataSize)-byte data section")
            }
            parsed[key] = entry
        }
        metadata = meta
        entries = parsed
    }

    private static func parseEntry(_ key: String, _ value: Any, file: String) throws -> Entry {
        guard let d = value as? [String: Any], let dtype = d["dtype"] as? String, let shape = d["shape"] as? [Int],
              let offsets = d["data_offsets"] as? [Int], offsets.count == 2 else {
            throw SafetensorsError.corrupt(file: file, detail: "entry \(key) lacks dtype, shape or data_offsets")
        }
        guard offsets[0] >= 0, offsets[0] <= offsets[1], shape.allSatisfy({ $0 >= 0 }) else {
            throw SafetensorsError.corrupt(file: file, detail: "entry \(key) has offsets \(offsets) and shape \(shape)")
        }
        if let size = elementSize[dtype], offsets[1] - offsets[0] != shape.reduce(1, *) * size {
            throw SafetensorsError.corrupt(file: file, detail: "entry \(key): \(offsets[1] - offsets[0]) bytes for \(dtype) shape \(shape)")
        }
        return Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }

    public var names: [String] { entries.keys.sorted() }

    /// The named tensor as Float32 (F64, F32, F16, BF16 and the integer and bool types are converted).
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw SafetensorsError.missingTensor(file: url.path, tensor: name) }
        guard SafetensorsFile.elementSize[e.dtype] != nil else {
            throw SafetensorsError.unsupportedDType(file: url.path, tensor: name, dtype: e.dtype)
        }
        let out = Tensor(zeros: e.shape)
        let n = out.count, po = out.ptr
        bytes.withUnsafeBytes { raw in
            let base = UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.range.lowerBound)..<(dataStart + e.range.upperBound)])
            switch e.dtype {
            case "F32": for i in 0..<n { po[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case "F64": for i in 0..<n { po[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            case "F16": for i in 0..<n { po[i] = SafetensorsFile.halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case "BF16": for i in 0..<n { po[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            case "I64": for i in 0..<n { po[i] = Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case "I32": for i in 0..<n { po[i] = Float(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case "I16": for i in 0..<n { po[i] = Float(Int16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            case "I8": for i in 0..<n { po[i] = Float(base.load(fromByteOffset: i, as: Int8.self)) }
            default: for i in 0..<n { po[i] = Float(base[i]) }   // U8, BOOL
            }
        }
        return out
    }

    public func allTensors() throws -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for n in names { d[n] = try tensor(n) }
        return d
    }

    /// IEEE half to single by bit manipulation (Float16 is unavailable on some platforms).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1f), mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)   // mantissa · 2⁻²⁴ (subnormals, zero)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }
}

public enum Safetensors {
    public static func read(_ url: URL) throws -> [String: Tensor] { try SafetensorsFile(contentsOf: url).allTensors() }

    /// Writes Float32 tensors, names sorted, header padded with spaces to 8 bytes so the data stays aligned.
    /// The file is written atomically: a checkpoint is either the old one or the complete new one.
    public static func write(_ tensors: [String: Tensor], to url: URL, metadata: [String: String] = [:]) throws {
        let names = tensors.keys.sorted()
        var header: [String: Any] = [:]
        var offset = 0
        for n in names {
            let t = tensors[n]!
            header[n] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for n in names {
            let t = tensors[n]!
            out.append(UnsafeBufferPointer(start: t.ptr, count: t.count))   // little-endian hosts only (x86, arm)
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try out.write(to: url, options: .atomic)
    }
}

extension Module {
    /// Loads parameters and buffers from a safetensors file by dotted name. `rename` maps a checkpoint name to
    /// this module's name, or to nil to skip the tensor (a pretrained head that is not used).
    @discardableResult
    public func load(safetensors url: URL, strict: Bool = true, rename: ((String) -> String?)? = nil) throws
        -> (missing: [String], unexpected: [String]) {
        let file = try SafetensorsFile(contentsOf: url)
        let mine = stateDict()
        var found: [String: Tensor] = [:], unexpected: [String] = []
        for name in file.names {
            let key = rename == nil ? name : rename!(name)
            guard let key else { continue }
            if mine[key] != nil { found[key] = try file.tensor(name) } else { unexpected.append(key) }
        }
        let missing = mine.keys.filter { found[$0] == nil }.sorted()
        if strict && (!missing.isEmpty || !unexpected.isEmpty) {
            throw ModuleError.stateDictMismatch(missing: missing, unexpected: unexpected.sorted())
        }
        try loadStateDict(found, strict: false)
        return (missing, unexpected.sorted())
    }

    public func save(safetensors url: URL, metadata: [String: String] = [:]) throws {
        try Safetensors.write(stateDict(), to: url, metadata: metadata)
    }
}
