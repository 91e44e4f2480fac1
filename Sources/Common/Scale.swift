/// How large a run is: one value that the data generators, the model configurations and the store all read.
/// The same code runs at every scale; only counts, widths, depths and image sizes differ.
///
/// - `paper`: the published architectures and data sizes at 224 × 224, for parameter counts and real-data runs.
/// - `proxy`: the embedded default: a few hundred training images at 64 × 64 and reduced widths, so that a model
///   trains in minutes on 2 cores.
/// - `smoke`: tinier still (16 / 8 / 8 samples at 32 × 32, base width 4), for CI and end-to-end checks.
public enum Scale: String, CaseIterable, Codable, Sendable {
    case smoke, proxy, paper

    /// The image side each scale is designed for.
    public var imageSize: Int {
        switch self {
        case .smoke: return 32
        case .proxy: return 64
        case .paper: return 224
        }
    }
}
