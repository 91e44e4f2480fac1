import CPNG
import Foundation

// PNG through libpng's simplified API (png_image). 8-bit files are read as stored (sRGB in, sRGB out, so libpng
// applies no transfer function). 16-bit files are read in libpng's linear 16-bit formats, which return the stored
// values unchanged when the file carries no gAMA/sRGB chunk, the usual case for medical exports; a 16-bit file that
// declares sRGB gamma is linearised by libpng. Alpha is dropped: masks and radiographs do not use it.

/// Raw decoded samples, interleaved (HWC), one or three channels, at the file's depth (maximum 255 or 65535).
struct DecodedPNG {
    var width: Int
    var height: Int
    var channels: Int
    var maxValue: Float
    var samples: [UInt16]
}

private func pngMessage(_ image: inout png_image) -> String {
    withUnsafeBytes(of: &image.message) { raw in
        let bytes = raw.bindMemory(to: CChar.self)
        return String(cString: bytes.baseAddress!)
    }
}

func decodePNG(_ url: URL) throws -> DecodedPNG {
    let data: Foundation.Data
    do { data = try Foundation.Data(contentsOf: url) } catch {
        throw DataError.unreadablePNG(path: url.path, reason: "cannot open the file (\(error.localizedDescription))")
    }
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    let begun = data.withUnsafeBytes { raw in
        png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count)
    }
    guard begun != 0 else {
        let reason = pngMessage(&image)
        png_image_free(&image)
        throw DataError.unreadablePNG(path: url.path, reason: reason.isEmpty ? "not a PNG file" : reason)
    }
    let fileFormat = image.format
    let isColor = fileFormat & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
    let hasAlpha = fileFormat & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
    let is16 = fileFormat & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
    var format = isColor ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
    if hasAlpha { format |= UInt32(PNG_FORMAT_FLAG_ALPHA) }
    if is16 { format |= UInt32(PNG_FORMAT_FLAG_LINEAR) }
    image.format = format
    let stored = (isColor ? 3 : 1) + (hasAlpha ? 1 : 0)
    let width = Int(image.width), height = Int(image.height)
    let count = width * height * stored
    var samples = [UInt16](repeating: 0, count: count)
    let finished: Int32
    if is16 {
        finished = samples.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
    } else {
        var bytes = [UInt8](repeating: 0, count: count)
        finished = bytes.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        for i in 0..<count { samples[i] = UInt16(bytes[i]) }
    }
    guard finished != 0 else {
        let reason = pngMessage(&image)
        png_image_free(&image)
        throw DataError.unreadablePNG(path: url.path, reason: reason.isEmpty ? "corrupt image data" : reason)
    }
    let channels = isColor ? 3 : 1
    if hasAlpha { samples = dropAlpha(samples, pixels: width * height, channels: channels) }
    return DecodedPNG(width: width, height: height, channels: channels, maxValue: is16 ? 65535 : 255, samples: samples)
}

private func dropAlpha(_ samples: [UInt16], pixels: Int, channels: Int) -> [UInt16] {
    var out = [UInt16](repeating: 0, count: pixels * channels)
    for p in 0..<pixels {
        for c in 0..<channels { out[p * channels + c] = samples[p * (channels + 1) + c] }
    }
    return out
}

/// Reads a PNG as floats in [0, 1], CHW: grey (any depth, or palette of greys) gives one channel, colour gives
/// three (palettes are expanded), alpha is dropped.
public func readPNG(_ url: URL) throws -> Image2D {
    let png = try decodePNG(url)
    let n = png.width * png.height
    var pixels = [Float](repeating: 0, count: n * png.channels)
    for p in 0..<n {
        for c in 0..<png.channels { pixels[c * n + p] = Float(png.samples[p * png.channels + c]) / png.maxValue }
    }
    return Image2D(width: png.width, height: png.height, channels: png.channels, pixels: pixels)
}

/// A mask file as the grey levels LViT's `cv2.imread(path, 0)` sees: 8-bit values, colour converted with OpenCV's
/// fixed-point luminance weights. A 16-bit mask maps any non-zero value to 255 (OpenCV would shift it right by
/// 8 bits and lose values below 256; that only hides foreground, so we do not copy it).
public struct MaskLevels: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var levels: [UInt8]

    public init(width: Int, height: Int, levels: [UInt8]) {
        self.width = width
        self.height = height
        self.levels = levels
    }

    /// Foreground where the level is above zero, as LViT's `mask[mask > 0] = 1`.
    public var binary: [UInt8] { levels.map { $0 > 0 ? 1 : 0 } }
}

public func readMaskPNG(_ url: URL) throws -> MaskLevels {
    let png = try decodePNG(url)
    let n = png.width * png.height
    var levels = [UInt8](repeating: 0, count: n)
    let is16 = png.maxValue > 255
    for p in 0..<n {
        if png.channels == 1 {
            let v = png.samples[p]
            levels[p] = is16 ? (v > 0 ? 255 : 0) : UInt8(v)
        } else {
            let r = Int(png.samples[p * 3]), g = Int(png.samples[p * 3 + 1]), b = Int(png.samples[p * 3 + 2])
            if is16 {
                levels[p] = (r | g | b) > 0 ? 255 : 0
            } else {
                levels[p] = UInt8(min(255, (r * 4899 + g * 9617 + b * 1868 + (1 << 13)) >> 14))
            }
        }
    }
    return MaskLevels(width: png.width, height: png.height, levels: levels)
}

/// Writes an 8-bit grey (one channel) or RGB (three channels) PNG; values are clamped to [0, 1] and rounded.
public func writePNG(_ image: Image2D, to url: URL) throws {
    guard image.channels == 1 || image.channels == 3 else {
        throw DataError.writeFailed(path: url.path, reason: "PNG output takes 1 or 3 channels, got \(image.channels)")
    }
    let n = image.width * image.height
    var bytes = [UInt8](repeating: 0, count: n * image.channels)
    for p in 0..<n {
        for c in 0..<image.channels {
            let v = min(max(image.pixels[c * n + p], 0), 1)
            bytes[p * image.channels + c] = UInt8((v * 255).rounded())
        }
    }
    try writeBytesPNG(bytes, width: image.width, height: image.height, color: image.channels == 3, to: url)
}

/// Writes a binary mask as an 8-bit grey PNG with 0 and 255, as QaTa-COV19 stores its masks.
public func writeMaskPNG(_ mask: [UInt8], width: Int, height: Int, to url: URL) throws {
    precondition(mask.count == width * height, "writeMaskPNG: \(mask.count) values for \(height)×\(width)")
    try writeBytesPNG(mask.map { $0 > 0 ? 255 : 0 }, width: width, height: height, color: false, to: url)
}

private func writeBytesPNG(_ bytes: [UInt8], width: Int, height: Int, color: Bool, to url: URL) throws {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
    let ok = bytes.withUnsafeBytes { raw in
        png_image_write_to_file(&image, url.path, 0, raw.baseAddress, 0, nil)
    }
    guard ok != 0 else {
        let reason = pngMessage(&image)
        png_image_free(&image)
        throw DataError.writeFailed(path: url.path, reason: reason.isEmpty ? "libpng refused the write" : reason)
    }
}
