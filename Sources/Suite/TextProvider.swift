import Foundation
import Models

/// Loads the frozen text encoder once per process, on first use by a text-guided row.
final class TextEncoderProvider {
    private var cached: (([String]) -> TextInput)?
    func encoder() throws -> ([String]) -> TextInput {
        if let c = cached { return c }
        throw RunError("text-guided methods are not wired into this build yet")
    }
}
