import Foundation

// Resizing as LViT's loader does it: OpenCV's `cv2.resize` with the default INTER_LINEAR, which samples at pixel
// centres (src = (dst + 0.5) * scale - 0.5) and clamps at the borders, without anti-aliasing when shrinking.

/// How a mask reaches the training size.
public enum MaskResize: String, Sendable {
    /// LViT's code: bilinear `cv2.resize` of the 8-bit mask (OpenCV's fixed-point arithmetic), then every level
    /// above zero is foreground. Boundaries grow by up to a pixel where the mask is resampled.
    case lvit
    /// Nearest neighbour, OpenCV's INTER_NEAREST convention (src = floor(dst * scale)).
    case nearest
}

/// One axis of OpenCV's linear interpolation: left source index and weight of the right neighbour for each output.
private func linearTaps(source: Int, target: Int) -> [(index: Int, frac: Float)] {
    let scale = Double(source) / Double(target)
    return (0..<target).map { d in
        // OpenCV evaluates the position in single precision; keep that so fixed-point weights match.
        var f = Float((Double(d) + 0.5) * scale - 0.5)
        var s = Int(f.rounded(.down))
        f -= Float(s)
        if s < 0 { s = 0; f = 0 }
        if s >= source - 1 { s = source - 1; f = 0 }
        return (s, f)
    }
}

/// Bilinear resize of every channel (float arithmetic; OpenCV's 8-bit path agrees to within one grey level).
public func resizeBilinear(_ image: Image2D, width: Int, height: Int) -> Image2D {
    if image.width == width && image.height == height { return image }
    let xs = linearTaps(source: image.width, target: width)
    let ys = linearTaps(source: image.height, target: height)
    let inN = image.width * image.height, outN = width * height
    var out = [Float](repeating: 0, count: outN * image.channels)
    image.pixels.withUnsafeBufferPointer { src in
        for c in 0..<image.channels {
            let base = c * inN
            for (oy, ty) in ys.enumerated() {
                let y1 = min(ty.index + 1, image.height - 1)
                let r0 = base + ty.index * image.width, r1 = base + y1 * image.width
                for (ox, tx) in xs.enumerated() {
                    let x1 = min(tx.index + 1, image.width - 1)
                    let top = src[r0 + tx.index] * (1 - tx.frac) + src[r0 + x1] * tx.frac
                    let bottom = src[r1 + tx.index] * (1 - tx.frac) + src[r1 + x1] * tx.frac
                    out[c * outN + oy * width + ox] = top * (1 - ty.frac) + bottom * ty.frac
                }
            }
        }
    }
    return Image2D(width: width, height: height, channels: image.channels, pixels: out)
}

/// Resizes mask grey levels to a binary mask of the target size.
public func resizeMask(_ mask: MaskLevels, width: Int, height: Int, mode: MaskResize) -> [UInt8] {
    if mask.width == width && mask.height == height { return mask.binary }
    switch mode {
    case .nearest:
        return resizeNearest(mask.levels, width: mask.width, height: mask.height, toWidth: width, toHeight: height)
            .map { $0 > 0 ? 1 : 0 }
    case .lvit:
        return resizeLinear8(mask.levels, width: mask.width, height: mask.height, toWidth: width, toHeight: height)
            .map { $0 > 0 ? 1 : 0 }
    }
}

/// Nearest-neighbour resize of one plane, OpenCV's INTER_NEAREST indexing.
public func resizeNearest<T>(_ plane: [T], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [T] {
    let sx = Double(width) / Double(toWidth), sy = Double(height) / Double(toHeight)
    var out = [T]()
    out.reserveCapacity(toWidth * toHeight)
    for y in 0..<toHeight {
        let yy = min(Int((Double(y) * sy).rounded(.down)), height - 1)
        for x in 0..<toWidth {
            let xx = min(Int((Double(x) * sx).rounded(.down)), width - 1)
            out.append(plane[yy * width + xx])
        }
    }
    return out
}

/// OpenCV's 8-bit INTER_LINEAR: weights quantised to 11 bits, horizontal then vertical pass, rounded shift by 22.
func resizeLinear8(_ plane: [UInt8], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [UInt8] {
    let one: Float = 2048
    let xs = linearTaps(source: width, target: toWidth).map { t in
        (t.index, Int32(((1 - t.frac) * one).rounded(.toNearestOrEven)), Int32((t.frac * one).rounded(.toNearestOrEven)))
    }
    let ys = linearTaps(source: height, target: toHeight).map { t in
        (t.index, Int32(((1 - t.frac) * one).rounded(.toNearestOrEven)), Int32((t.frac * one).rounded(.toNearestOrEven)))
    }
    func horizontal(_ row: Int) -> [Int32] {
        xs.map { (i, a0, a1) in
            Int32(plane[row * width + i]) * a0 + Int32(plane[row * width + min(i + 1, width - 1)]) * a1
        }
    }
    var out = [UInt8](repeating: 0, count: toWidth * toHeight)
    for (oy, (i, b0, b1)) in ys.enumerated() {
        let r0 = horizontal(i), r1 = horizontal(min(i + 1, height - 1))
        for ox in 0..<toWidth {
            let v = (Int64(r0[ox]) * Int64(b0) + Int64(r1[ox]) * Int64(b1) + (1 << 21)) >> 22
            out[oy * toWidth + ox] = UInt8(clamping: v)
        }
    }
    return out
}

/// Converts between one and three channels: grey is replicated, colour uses OpenCV's luminance weights.
public func convertChannels(_ image: Image2D, to channels: Int) -> Image2D {
    precondition(channels == 1 || channels == 3, "convertChannels: 1 or 3 channels, got \(channels)")
    if image.channels == channels { return image }
    let n = image.width * image.height
    if channels == 3 {
        return Image2D(width: image.width, height: image.height, channels: 3,
                       pixels: Array(image.plane(0)) + Array(image.plane(0)) + Array(image.plane(0)))
    }
    var grey = [Float](repeating: 0, count: n)
    for p in 0..<n {
        grey[p] = 0.299 * image.pixels[p] + 0.587 * image.pixels[n + p] + 0.114 * image.pixels[2 * n + p]
    }
    return Image2D(width: image.width, height: image.height, channels: 1, pixels: grey)
}
