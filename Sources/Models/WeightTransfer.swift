import Foundation
import Engine
import NN

// Seams for moving 2D pre-trained weights into the MOSMOS networks: a 2D patch embedding inflated to 3D, a
// positional embedding resized to another grid (2D or 3D), and a by-name encoder load that reports what it did.
// References are scripts/golden/mosmos_encoders.py and Tests/NNTests/MOSMOSEncoderTests.swift.

/// Inflates a 2D convolution kernel [D, C, p, p] to a 3D one [D, C, depth, p, p] as I3D does (Carreira & Zisserman,
/// 2017): the kernel is repeated along the new axis and divided by `depth`.
///
/// Why this rule rather than putting the 2D kernel on the centre slice (zeros elsewhere): with repetition every
/// slice a 3D patch covers contributes, and a volume that is constant along depth gives exactly the 2D response
/// of one slice, so the pre-trained filters see the statistics they were trained on; the centre rule gives that
/// too but discards the out-of-plane voxels, which makes the depth axis start untrained.
public func inflatePatchEmbedding(weight2D w: Tensor, depth: Int) -> Tensor {
    precondition(w.rank == 4, "inflatePatchEmbedding expects a 2D kernel [D, C, kH, kW], got \(w.shape)")
    precondition(depth > 0, "inflatePatchEmbedding: depth must be positive, got \(depth)")
    let (outer, plane) = (w.shape[0] * w.shape[1], w.shape[2] * w.shape[3])
    let out = Tensor.empty([w.shape[0], w.shape[1], depth] + w.shape[2...])
    let scale = 1 / Float(depth)
    for o in 0..<outer {
        let src = w.ptr + o * plane
        for z in 0..<depth {
            let dst = out.ptr + (o * depth + z) * plane
            for i in 0..<plane { dst[i] = src[i] * scale }
        }
    }
    return out
}

/// Resizes a learned absolute positional embedding [1, (1 +) N, D] from a token grid `from` (N = its product) to
/// the grid `to`, with (bi/tri)linear interpolation and align_corners=False, as torch.nn.functional.interpolate.
///
/// - 2D → 2D follows timm's `resample_abs_pos_embed`: a class token (when `hasClassToken`) is kept as it is and the
///   grid tokens, row-major over the grid, are resized. timm interpolates bicubically by default; DenseCLIP, whose
///   attention pool this also serves, resizes bilinearly, and the engine has no bicubic kernel, so linear it is.
/// - 2D [h, w] → 3D [d, h', w']: the 2D grid is read as a 3D grid of depth 1 and resized trilinearly, which along
///   depth is a repetition (a length-1 axis interpolates to copies of itself). Every depth slice so starts with
///   the pre-trained in-plane embedding and the depth position is learned in fine-tuning; tokens at one (h, w)
///   but different depths start with equal embeddings.
/// - 3D → 3D is a trilinear resize; 3D → 2D is refused.
///
/// Composed of differentiable ops, so a forward pass may call it (the attention pool does, at other resolutions).
public func interpolatePositionEmbedding(_ pos: Tensor, from src: [Int], to dst: [Int], hasClassToken: Bool) -> Tensor {
    let prefix = hasClassToken ? 1 : 0
    precondition(pos.rank == 3 && pos.shape[0] == 1 && pos.shape[1] == src.reduce(1, *) + prefix,
                 "positional embedding \(pos.shape) is not [1, \(prefix) + \(src) tokens, D]")
    precondition((2...3).contains(src.count) && (2...3).contains(dst.count) && dst.count >= src.count,
                 "interpolatePositionEmbedding resizes 2D→2D, 2D→3D or 3D→3D grids, got \(src) → \(dst)")
    if src == dst { return pos }
    let (n, d, r) = (pos.shape[1], pos.shape[2], src.count)
    let tokens = prefix == 0 ? pos : pos.slice(axis: 1, prefix, n)
    // [1, grid..., D] → [1, D, grid...], the layout interpolate resizes.
    var grid = tokens.reshaped([1] + src + [d]).permuted([0, r + 1] + Array(1...r))
    if r == 2 && dst.count == 3 { grid = grid.unsqueezed(2) }
    let resized = Tensor.interpolate(grid, size: dst, mode: .linear, alignCorners: false)
    let q = dst.count
    let back = resized.permuted([0] + Array(2...(q + 1)) + [1]).reshaped([1, dst.reduce(1, *), d])
    return prefix == 0 ? back : Tensor.concat([pos.slice(axis: 1, 0, prefix), back], axis: 1)
}

/// segmentation_models_pytorch's `patch_first_conv` for a pre-trained first convolution [O, 3, k, k] used with
/// another number of input channels: one channel takes the sum over the RGB kernels (a grey image, copied to
/// three channels, gives the response it would have given the original), more channels cycle through the RGB
/// kernels scaled by 3 / channels (keeping the response to a constant image).
public func adaptInputChannels(_ w: Tensor, to channels: Int) -> Tensor {
    precondition(w.rank >= 3 && channels > 0, "adaptInputChannels expects [O, C, k...], got \(w.shape)")
    let (o, c) = (w.shape[0], w.shape[1])
    let k = w.shape[2...].reduce(1, *)
    if channels == c { return w.detached() }
    let out = Tensor(zeros: [o, channels] + w.shape[2...])
    for a in 0..<o {
        for j in 0..<(channels == 1 ? c : channels) {
            let src = w.ptr + (a * c + j % c) * k
            let dst = out.ptr + (a * channels + (channels == 1 ? 0 : j)) * k
            let s: Float = channels == 1 ? 1 : Float(c) / Float(channels)
            for i in 0..<k { dst[i] += src[i] * s }
        }
    }
    return out
}

/// What `loadEncoderWeights` did, by the module's key names.
public struct LoadReport: Equatable, CustomStringConvertible {
    /// Module keys that received a value.
    public var loaded: [String]
    /// Module keys the checkpoint had nothing for; they keep their values.
    public var missing: [String]
    /// Checkpoint keys (after prefix and renaming) the module has no place for, e.g. a classifier's `fc.*` or
    /// CLIP's `attnpool.*` loaded into a U-Net encoder.
    public var unexpected: [String]
    /// Checkpoint keys outside `prefix` (another tower of the same checkpoint).
    public var skipped: Int

    public var description: String {
        "loaded \(loaded.count), missing \(missing.count)\(missing.isEmpty ? "" : " \(missing.prefix(8))"), "
            + "unexpected \(unexpected.count)\(unexpected.isEmpty ? "" : " \(unexpected.prefix(8))"), skipped \(skipped)"
    }
}

public enum WeightTransferError: Error, CustomStringConvertible, Equatable {
    /// The first mismatching key in sorted order; `others` counts the rest.
    case shapeMismatch(key: String, checkpointKey: String, checkpoint: [Int], model: [Int], others: Int)
    case duplicateTarget(key: String, sources: [String])

    public var description: String {
        switch self {
        case let .shapeMismatch(k, ck, c, m, others):
            return "\(k): checkpoint \(ck == k ? "" : "key \(ck) ")has shape \(c), the model expects \(m)"
                + (others > 0 ? " (and \(others) more mismatched keys)" : "")
                + ". Nothing was loaded. Adapt the tensor (adaptInputChannels, inflatePatchEmbedding, "
                + "interpolatePositionEmbedding) or build the model to the checkpoint's configuration."
        case let .duplicateTarget(k, s):
            return "checkpoint keys \(s) all rename to \(k); the rename rules are ambiguous. Nothing was loaded."
        }
    }
}

/// Loads a 2D pre-trained encoder's state dict into `module` (either U-Net backbone's `encoder`, or a CLIP image
/// encoder) by name.
///
/// - `prefix`: only keys starting with it are considered, with it removed (`"visual."` picks CLIP's image tower
///   out of a whole CLIP checkpoint); the others are counted in `skipped`.
/// - `rename`: (from, to) rules on the remaining key's beginning; the first rule whose `from` starts the key
///   applies, once.
/// - Shapes are checked for every key before anything is copied, so a mismatch leaves the module untouched and
///   throws one error naming the key and both shapes (Module.loadStateDict compares element counts only, which
///   would let a transposed or reshaped tensor through).
/// - Missing and unexpected keys are reported, not thrown: loading a torchvision classifier into an encoder
///   leaves `fc.*` unexpected by design.
@discardableResult
public func loadEncoderWeights(_ weights: [String: Tensor], into module: Module, prefix: String = "",
                               rename: [(String, String)] = []) throws -> LoadReport {
    var renamed: [String: Tensor] = [:]
    var sources: [String: [String]] = [:]
    var skipped = 0
    for (key, t) in weights {
        guard key.hasPrefix(prefix) else { skipped += 1; continue }
        var name = String(key.dropFirst(prefix.count))
        if let (from, to) = rename.first(where: { name.hasPrefix($0.0) }) { name = to + name.dropFirst(from.count) }
        renamed[name] = t
        sources[name, default: []].append(key)
    }
    if let (k, s) = sources.filter({ $0.value.count > 1 }).min(by: { $0.key < $1.key }) {
        throw WeightTransferError.duplicateTarget(key: k, sources: s.sorted())
    }
    let mine = module.stateDict()
    let mismatched = renamed.keys.filter { k in mine[k].map { $0.shape != renamed[k]!.shape } ?? false }.sorted()
    if let k = mismatched.first {
        throw WeightTransferError.shapeMismatch(key: k, checkpointKey: sources[k]![0], checkpoint: renamed[k]!.shape,
                                                model: mine[k]!.shape, others: mismatched.count - 1)
    }
    let accepted = renamed.filter { mine[$0.key] != nil }
    let (missing, _) = try module.loadStateDict(accepted, strict: false)
    return LoadReport(loaded: accepted.keys.sorted(), missing: missing,
                      unexpected: renamed.keys.filter { mine[$0] == nil }.sorted(), skipped: skipped)
}
