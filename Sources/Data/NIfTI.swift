import CNIfTI
import Foundation

// NIfTI-1/2 volumes (.nii, .nii.gz) through niftilib (Sources/CNIfTI). Voxels come as Float with scl_slope and
// scl_inter applied (labels stored as integers stay exact below 2²⁴); the voxel-to-world affine follows nibabel's
// `get_best_affine`: the sform when its code is set, else the qform when its code is set, else the voxel sizes on
// the diagonal.

/// A volume as stored: `shape` in NIfTI's axis order (x, y, z[, t]) with x varying fastest in `values`, `spacing`
/// the voxel size along x, y, z in mm.
public struct Volume: Equatable {
    public var shape: [Int]
    public var values: [Float]
    public var spacing: [Double]
    /// Row-major 4×4 transform from voxel indices (i, j, k) to world coordinates (x, y, z) in mm.
    public var affine: [Double]
    /// The file's NIFTI_TYPE code (2 uint8, 4 int16, 8 int32, 16 float32, ...); what `write` stores by default.
    public var datatype: Int32

    public init(shape: [Int], values: [Float], spacing: [Double], affine: [Double]? = nil, datatype: Int32 = 16) {
        precondition(values.count == shape.reduce(1, *), "Volume: \(values.count) values for shape \(shape)")
        precondition(spacing.count == 3, "Volume: spacing needs x, y, z")
        self.shape = shape
        self.values = values
        self.spacing = spacing
        self.affine = affine ?? [spacing[0], 0, 0, 0, 0, spacing[1], 0, 0, 0, 0, spacing[2], 0, 0, 0, 0, 1]
        self.datatype = datatype
    }

    /// The spatial shape with the fastest axis last ([z, y, x]), the order of the engine's tensors and the metrics;
    /// a fourth (channel) axis is left out.
    public var rowMajorShape: [Int] { Array(shape.prefix(3).reversed()) }
    /// `spacing` in the order of `rowMajorShape`.
    public var rowMajorSpacing: [Double] { Array(spacing.prefix(Swift.min(3, shape.count)).reversed()) }

    /// nibabel's `aff2axcodes`: for each voxel axis, the world direction it points to most ("RAS" is the identity).
    public var orientation: String {
        var codes = ""
        for axis in 0..<3 {
            let column = (0..<3).map { affine[$0 * 4 + axis] }
            let world = (0..<3).max { abs(column[$0]) < abs(column[$1]) }!
            codes += column[world] >= 0 ? ["R", "A", "S"][world] : ["L", "P", "I"][world]
        }
        return codes
    }
}

public enum NIfTIError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "Cannot read NIfTI \(path): \(reason). Re-export the volume (e.g. with nibabel or SimpleITK) or remove it "
                + "and its pair from the data set's list."
        case let .unwritable(path, reason):
            return "Cannot write NIfTI \(path): \(reason)."
        }
    }
}

public enum NIfTI {
    public static let uint8: Int32 = 2, int16: Int32 = 4, int32: Int32 = 8, float32: Int32 = 16

    /// True for the names the suite reads as NIfTI.
    public static func isNIfTI(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz")
    }

    /// The file name without .nii or .nii.gz.
    public static func stem(_ name: String) -> String {
        let lower = name.lowercased()
        for ext in [".nii.gz", ".nii"] where lower.hasSuffix(ext) { return String(name.dropLast(ext.count)) }
        return name
    }

    public static func read(_ url: URL) throws -> Volume {
        var raw = repro_nifti_volume()
        var message = [CChar](repeating: 0, count: 512)
        guard repro_nifti_read(url.path, &raw, &message, Int32(message.count)) == 0 else {
            let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw NIfTIError.unreadable(path: url.path, reason: reason)
        }
        defer { repro_nifti_free(&raw) }
        let dims = withUnsafeBytes(of: raw.dim) { Array($0.bindMemory(to: Int64.self)) }
        let pix = withUnsafeBytes(of: raw.pixdim) { Array($0.bindMemory(to: Double.self)) }
        let ndim = Int(raw.ndim)
        let shape = (1...Swift.max(1, ndim)).map { Int(dims[$0]) }
        let values = Array(UnsafeBufferPointer(start: raw.data, count: Int(raw.nvox)))
        let spacing = (1...3).map { $0 <= ndim && pix[$0] > 0 ? pix[$0] : 1 }
        let sform = withUnsafeBytes(of: raw.sform) { Array($0.bindMemory(to: Double.self)) }
        let qform = withUnsafeBytes(of: raw.qform) { Array($0.bindMemory(to: Double.self)) }
        let affine = raw.sform_code > 0 ? sform : (raw.qform_code > 0 ? qform : nil)
        return Volume(shape: shape, values: values, spacing: spacing, affine: affine, datatype: raw.datatype)
    }

    /// Writes `.nii` or `.nii.gz` (by the name) with `datatype` (default: the volume's), sform and qform from the affine.
    public static func write(_ volume: Volume, to url: URL, datatype: Int32? = nil) throws {
        var message = [CChar](repeating: 0, count: 512)
        let dims = volume.shape.map(Int64.init)
        let status = volume.values.withUnsafeBufferPointer { values in
            repro_nifti_write(url.path, Int32(dims.count), dims, volume.spacing, volume.affine, datatype ?? volume.datatype,
                              values.baseAddress, &message, Int32(message.count))
        }
        guard status == 0 else {
            throw NIfTIError.unwritable(path: url.path, reason: message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
    }
}

extension Volume {
    /// The largest entry-wise difference between the two voxel-to-world affines, when it exceeds 10⁻³ of the
    /// affine's scale (rounding in stored headers); nil when both volumes sit on the same grid.
    public func affineMismatch(_ other: Volume) -> Double? {
        let scale = Swift.max(1, affine.map(abs).max() ?? 1)
        let worst = zip(affine, other.affine).map { abs($0 - $1) }.max() ?? 0
        return worst > 1e-3 * scale ? worst : nil
    }

    /// The voxels as integer labels, or the first voxel (index, value) that is not an integer exactly representable
    /// in Float (|x| < 2²⁴).
    public func integerLabels() -> Result<[Int32], NonIntegerLabel> {
        var out = [Int32](repeating: 0, count: values.count)
        for (i, x) in values.enumerated() {
            guard x.rounded() == x, abs(x) < 16_777_216 else { return .failure(NonIntegerLabel(index: i, value: x)) }
            out[i] = Int32(x)
        }
        return .success(out)
    }
}

public struct NonIntegerLabel: Error, Equatable {
    public let index: Int
    public let value: Float
}
