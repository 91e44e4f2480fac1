import Foundation

// The drawing kit of the 3D proxies (Papers/MOSMOS/datasets.md): solids placed in patient millimetres and painted,
// in order, onto a voxel grid. Later paints win, which is how one structure is carved out of another (a cavity
// out of its wall, a vessel through an organ). Everything is a function of the generator's RNG, so a proxy is
// the same at any thread count.

/// A position in patient millimetres, RAS: x towards the patient's right, y anterior, z superior.
public typealias Point3 = SIMD3<Double>

/// A row-major [z, y, x] voxel grid centred on the origin of patient space.
public struct PhantomGrid: Sendable {
    /// [D, H, W] voxels.
    public let shape: [Int]
    /// [z, y, x] voxel size in mm.
    public let spacing: [Double]

    public init(shape: [Int], spacing: [Double]) {
        precondition(shape.count == 3 && spacing.count == 3, "a phantom grid is 3D")
        self.shape = shape; self.spacing = spacing
    }

    public var count: Int { shape.reduce(1, *) }

    /// The centre of voxel (z, y, x) in mm.
    @inline(__always) public func point(_ z: Int, _ y: Int, _ x: Int) -> Point3 {
        Point3((Double(x) - Double(shape[2] - 1) / 2) * spacing[2],
               (Double(y) - Double(shape[1] - 1) / 2) * spacing[1],
               (Double(z) - Double(shape[0] - 1) / 2) * spacing[0])
    }

    /// The voxel index range along axis `a` (0 z, 1 y, 2 x) whose centres lie within [lo, hi] mm.
    func range(_ a: Int, _ lo: Double, _ hi: Double) -> Range<Int> {
        let half = Double(shape[a] - 1) / 2
        let first = max(0, Int((lo / spacing[a] + half).rounded(.up)))
        let last = min(shape[a] - 1, Int((hi / spacing[a] + half).rounded(.down)))
        return first <= last ? first..<(last + 1) : 0..<0
    }
}

/// A smooth random scalar field: a few plane waves of one wavelength. Scales a solid's outline so that organs differ
/// in shape between patients without noise-like edges, and modulates intensities (texture, MRI bias fields).
public struct Wobble: Sendable {
    var waves: [(k: Point3, phase: Double, amplitude: Double)]

    public static let none = Wobble(waves: [])

    init(waves: [(k: Point3, phase: Double, amplitude: Double)]) { self.waves = waves }

    /// Waves of `wavelength` mm in random directions; the field's standard deviation is about `amplitude`.
    public init(amplitude: Double, wavelength: Double, count: Int = 4, rng: inout RNG) {
        let each = amplitude * (2 / Double(count)).squareRoot()
        waves = (0..<count).map { _ in
            var d = Point3(rng.normal(), rng.normal(), rng.normal())
            let n = (d * d).sum().squareRoot()
            d = n > 0 ? d / n : Point3(1, 0, 0)
            return (d * (2 * Double.pi / wavelength), rng.uniform(0, 2 * Double.pi), each)
        }
    }

    @inline(__always) public func callAsFunction(_ p: Point3) -> Double {
        var s = 0.0
        for w in waves { s += w.amplitude * sin((w.k * p).sum() + w.phase) }
        return s
    }
}

/// A rotation, as the three columns of its matrix: the solid's local axes in patient space.
public struct Rotation: Sendable {
    public var columns: (Point3, Point3, Point3)

    public static let identity = Rotation(columns: (Point3(1, 0, 0), Point3(0, 1, 0), Point3(0, 0, 1)))

    /// Rotation by `yaw` about z, then `pitch` about the new x, then `roll` about the newest y (radians).
    public init(yaw: Double = 0, pitch: Double = 0, roll: Double = 0) {
        let (cy, sy, cp, sp, cr, sr) = (cos(yaw), sin(yaw), cos(pitch), sin(pitch), cos(roll), sin(roll))
        let rz = Rotation(columns: (Point3(cy, sy, 0), Point3(-sy, cy, 0), Point3(0, 0, 1)))
        let rx = Rotation(columns: (Point3(1, 0, 0), Point3(0, cp, sp), Point3(0, -sp, cp)))
        let ry = Rotation(columns: (Point3(cr, 0, -sr), Point3(0, 1, 0), Point3(sr, 0, cr)))
        self = rz.then(rx).then(ry)
    }

    /// The rotation whose local z axis is `axis` (normalised), x chosen perpendicular in the plane of z and `axis`.
    public init(zAxis axis: Point3) {
        let z = axis / (axis * axis).sum().squareRoot()
        let helper = abs(z.x) < 0.9 ? Point3(1, 0, 0) : Point3(0, 1, 0)
        var x = helper - z * (helper * z).sum()
        x /= (x * x).sum().squareRoot()
        let y = Point3(z.y * x.z - z.z * x.y, z.z * x.x - z.x * x.z, z.x * x.y - z.y * x.x)
        columns = (x, y, z)
    }

    init(columns: (Point3, Point3, Point3)) { self.columns = columns }

    /// self · other: `other` applied in this rotation's local frame.
    func then(_ o: Rotation) -> Rotation {
        Rotation(columns: (apply(o.columns.0), apply(o.columns.1), apply(o.columns.2)))
    }

    /// Local → patient.
    @inline(__always) public func apply(_ v: Point3) -> Point3 { columns.0 * v.x + columns.1 * v.y + columns.2 * v.z }
    /// Patient → local.
    @inline(__always) public func inverse(_ v: Point3) -> Point3 {
        Point3((columns.0 * v).sum(), (columns.1 * v).sum(), (columns.2 * v).sum())
    }
}

/// A region of patient space.
public enum Solid: Sendable {
    /// Points whose scaled local coordinates lie within the unit sphere, its radius modulated by 1 + wobble.
    case ellipsoid(centre: Point3, radii: Point3, rotation: Rotation, wobble: Wobble)
    /// Points within the (linearly varying) radius of a polyline, its radius modulated by 1 + wobble.
    case tube(points: [Point3], radii: [Double], wobble: Wobble)
    /// The points of `solid` on the positive side of the plane through `point` with normal `normal`.
    indirect case clipped(Solid, point: Point3, normal: Point3)
    /// Points of the first solid outside the second.
    indirect case minus(Solid, Solid)

    public static func ellipsoid(_ centre: Point3, _ radii: Point3, _ rotation: Rotation = .identity,
                                 wobble: Wobble = .none) -> Solid {
        .ellipsoid(centre: centre, radii: radii, rotation: rotation, wobble: wobble)
    }

    public static func tube(_ points: [Point3], radius: Double, wobble: Wobble = .none) -> Solid {
        .tube(points: points, radii: points.map { _ in radius }, wobble: wobble)
    }

    /// An axis-aligned box in mm that holds the solid (wobble up to 40 % of the radius).
    public var bounds: (lo: Point3, hi: Point3) {
        switch self {
        case let .ellipsoid(c, r, _, _):
            let m = r.max() * 1.4
            return (c - Point3(repeating: m), c + Point3(repeating: m))
        case let .tube(p, r, _):
            let m = (r.max() ?? 0) * 1.4
            var lo = p[0], hi = p[0]
            for q in p { lo = pointwiseMin(lo, q); hi = pointwiseMax(hi, q) }
            return (lo - Point3(repeating: m), hi + Point3(repeating: m))
        case let .clipped(s, _, _), let .minus(s, _):
            return s.bounds
        }
    }

    public func contains(_ p: Point3) -> Bool {
        switch self {
        case let .ellipsoid(c, r, rot, w):
            let q = rot.inverse(p - c) / r
            let s = 1 + w(p)
            return (q * q).sum() <= s * s
        case let .tube(pts, radii, w):
            let s = 1 + w(p)
            for i in 0..<(pts.count - 1) {
                let a = pts[i], d = pts[i + 1] - a
                let len2 = (d * d).sum()
                let t = len2 > 0 ? min(1, max(0, ((p - a) * d).sum() / len2)) : 0
                let e = p - (a + d * t)
                let r = (radii[i] + (radii[i + 1] - radii[i]) * t) * s
                if (e * e).sum() <= r * r { return true }
            }
            return false
        case let .clipped(s, point, normal):
            return ((p - point) * normal).sum() >= 0 && s.contains(p)
        case let .minus(a, b):
            return a.contains(p) && !b.contains(p)
        }
    }
}

/// A phantom being drawn: a label map and one intensity map per channel on a grid.
public struct PhantomCanvas {
    public let grid: PhantomGrid
    public var labels: [Int32]
    /// channels × voxels, channel-major.
    public var values: [[Float]]

    public init(grid: PhantomGrid, channels: Int = 1, background: Float) {
        self.grid = grid
        labels = [Int32](repeating: 0, count: grid.count)
        values = [[Float]](repeating: [Float](repeating: background, count: grid.count), count: channels)
    }

    /// Paints `solid`: its voxels get `label` (nil leaves labels as they are) and, per channel, `intensity(p)`.
    public mutating func paint(_ solid: Solid, label: Int32?, intensity: (Point3) -> [Float]) {
        let (lo, hi) = solid.bounds
        let zs = grid.range(0, lo.z, hi.z), ys = grid.range(1, lo.y, hi.y), xs = grid.range(2, lo.x, hi.x)
        let (h, w) = (grid.shape[1], grid.shape[2])
        for z in zs {
            for y in ys {
                for x in xs {
                    let p = grid.point(z, y, x)
                    guard solid.contains(p) else { continue }
                    let i = (z * h + y) * w + x
                    if let l = label { labels[i] = l }
                    let v = intensity(p)
                    for c in values.indices { values[c][i] = v[c] }
                }
            }
        }
    }

    /// Paints one intensity per channel, the same everywhere in the solid.
    public mutating func paint(_ solid: Solid, label: Int32?, _ intensity: [Float]) {
        paint(solid, label: label) { _ in intensity }
    }

    /// The scanner's point-spread function, as a separable [1 2 1]/4 blur along each axis: boundaries get the partial
    /// volume that makes thin structures hard to delineate.
    public mutating func blur() {
        let s = grid.shape
        let strides = [s[1] * s[2], s[2], 1]
        for c in values.indices {
            for axis in 0..<3 {
                let src = values[c]
                var dst = src
                let n = s[axis], st = strides[axis]
                for i in 0..<src.count {
                    let k = (i / st) % n
                    let a = src[k > 0 ? i - st : i], b = src[k < n - 1 ? i + st : i]
                    dst[i] = 0.25 * a + 0.5 * src[i] + 0.25 * b
                }
                values[c] = dst
            }
        }
    }

    /// Independent Gaussian noise of `sigma` per channel.
    public mutating func addNoise(_ sigma: [Float], rng: inout RNG) {
        for c in values.indices where sigma[c] > 0 {
            for i in values[c].indices { values[c][i] += sigma[c] * (rng.normal() as Float) }
        }
    }

    /// The phantom as a `LabeledImage` (row-major [channels, z, y, x]).
    public func labeledImage(id: String, patient: String? = nil) -> LabeledImage {
        LabeledImage(id: id, patient: patient, channels: values.count, shape: grid.shape, spacing: grid.spacing,
                     pixels: values.flatMap { $0 }, labels: labels)
    }
}

extension RNG {
    /// A log-normal factor with mean about 1 and coefficient of variation `cv`: organ volumes vary this way.
    public mutating func volumeFactor(cv: Double) -> Double {
        let s = (log(1 + cv * cv)).squareRoot()
        return exp(s * (normal() as Double) - s * s / 2)
    }

    /// A point with independent N(0, sd²) coordinates, for position jitter.
    public mutating func jitter(_ sd: Double) -> Point3 {
        Point3(normal() as Double, normal() as Double, normal() as Double) * sd
    }
}
