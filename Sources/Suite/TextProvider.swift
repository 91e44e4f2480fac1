import Foundation
import Models

/// The frozen text encoder, loaded once per process on first use by a text-guided row.
final class TextEncoderProvider {
    struct Encoder {
        let name: String
        let width: Int
        let encode: ([String]) -> TextInput
    }
    private let directory: String
    private var cached: Encoder?

    init(directory: String?, root: URL) {
        self.directory = directory ?? root.appendingPathComponent(FrozenTextEncoder.defaultDirectory).path
    }

    func encoder() throws -> Encoder {
        if let c = cached { return c }
        let frozen: FrozenTextEncoder
        do { frozen = try FrozenTextEncoder(directory: directory) } catch { throw RunError("\(error)") }
        // Four stages: TMC meets the text at each of its four Swin stages; other methods read only `features`.
        let e = Encoder(name: URL(fileURLWithPath: directory).lastPathComponent, width: frozen.width) {
            frozen.encode($0, stages: 4)
        }
        cached = e
        return e
    }
}
