import Engine
import NN

/// A model the suite can build by name.
public struct ModelEntry: Sendable {
    /// Stable key for the command line and the result store (lower case, no spaces).
    public let name: String
    /// The row label of the paper's table.
    public let displayName: String
    public let usesText: Bool
    /// Source of the architecture, for `repro describe`.
    public let reference: String
}

public enum ModelRegistryError: Error, CustomStringConvertible {
    case unknownModel(String, known: [String])
    public var description: String {
        switch self {
        case let .unknownModel(name, known):
            return "unknown model '\(name)'; known models: \(known.joined(separator: ", "))"
        }
    }
}

/// Builds every segmenter of the suite by name, at a scale. Image-only baselines are registered here; text-guided
/// models add themselves with `register`.
public enum ModelRegistry {
    public typealias Factory = (_ scale: Scale, _ inChannels: Int, _ imageSize: Int) -> SegmentationModel

    /// Table 1's image-only rows, in the paper's order.
    public static let imageOnly: [ModelEntry] = [
        ModelEntry(name: "unet", displayName: "UNet", usesText: false,
                   reference: "Ronneberger et al. 2015; channel plan of milesial/Pytorch-UNet (bilinear=false)"),
        ModelEntry(name: "attunet", displayName: "AttUnet", usesText: false,
                   reference: "Oktay et al. 2018; LeeJunHyun/Image_Segmentation AttU_Net"),
        ModelEntry(name: "nnunet", displayName: "nnUNet", usesText: false,
                   reference: "Isensee et al. 2021; nnU-Net v2 2D planner and PlainConvUNet (simplified, see NNUNet.swift)"),
        ModelEntry(name: "transunet", displayName: "TransUNet", usesText: false,
                   reference: "Chen et al. 2021; Beckschen/TransUNet R50-ViT-B/16, trained from scratch"),
        ModelEntry(name: "uctransnet", displayName: "UCTransNet", usesText: false,
                   reference: "Wang et al. 2022; McGregorWwww/UCTransNet"),
        ModelEntry(name: "unetplusplus", displayName: "UNet++", usesText: false,
                   reference: "Zhou et al. 2018; 4uiiurz1/pytorch-nested-unet NestedUNet, deep supervision off"),
    ]

    nonisolated(unsafe) private static var registered: [(entry: ModelEntry, factory: Factory)] = imageOnly.map {
        ($0, builtIn($0.name))
    }

    /// Every registered model, image-only baselines first.
    public static var entries: [ModelEntry] { registered.map(\.entry) }
    public static var names: [String] { entries.map(\.name) }

    /// Adds (or replaces, by name) a model, e.g. a text-guided one defined in another file.
    public static func register(_ entry: ModelEntry, factory: @escaping Factory) {
        registered.removeAll { $0.entry.name == entry.name }
        registered.append((entry, factory))
    }

    /// The entry whose name or display name matches `name`, ignoring case.
    public static func entry(_ name: String) -> ModelEntry? {
        let key = name.lowercased()
        return entries.first { $0.name == key || $0.displayName.lowercased() == key }
    }

    /// Builds `name` (key or display name) at `scale` for `inChannels`-channel images of side `imageSize`.
    /// Its parameters hold their layers' default initialisation; `initialize(seed:)` seeds them.
    public static func make(name: String, scale: Scale, inChannels: Int, imageSize: Int) throws -> SegmentationModel {
        guard let e = entry(name), let f = registered.first(where: { $0.entry.name == e.name })?.factory else {
            throw ModelRegistryError.unknownModel(name, known: names)
        }
        return f(scale, inChannels, imageSize)
    }

    private static func builtIn(_ name: String) -> Factory {
        switch name {
        case "unet":
            return { s, c, _ in UNet(config: .of(s), inChannels: c) }
        case "attunet":
            return { s, c, _ in AttentionUNet(config: .of(s), inChannels: c) }
        case "nnunet":
            // Without a measured fingerprint the planner sees square images of the run's size.
            return { s, c, size in NNUNet(fingerprint: DatasetFingerprint(medianSize: [size, size]), scale: s, inChannels: c) }
        case "transunet":
            return { s, c, size in TransUNet(config: .of(s), inChannels: c, imageSize: size) }
        case "uctransnet":
            return { s, c, size in UCTransNet(config: .of(s), inChannels: c, imageSize: size) }
        case "unetplusplus":
            return { s, c, _ in UNetPlusPlus(config: .of(s), inChannels: c) }
        default:
            preconditionFailure("no built-in factory for \(name)")
        }
    }
}
