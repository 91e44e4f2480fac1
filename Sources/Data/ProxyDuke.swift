import Foundation

// Duke-like axial breast MRI slices, fat-saturated post-contrast T1 (design: Papers/TMC/datasets.md §3.3). The
// field of view is a 30 cm square: both breasts at the top (anterior), the chest wall and thorax below. A patient
// has exactly one enhancing tumour; slices are taken through it at levels z in cm (positive = cranial, 0 = nipple).

/// Where the breasts lie, for describing a tumour from its masks.
public struct BreastLayout: Equatable, Sendable {
    /// Column (pixels) between the patient's right breast (image left) and left breast (image right).
    public var midline: Double
    /// Column (pixels) of each nipple axis: [patient's right breast, patient's left breast].
    public var nippleColumns: [Double]
    /// Centimetres per pixel in the image plane.
    public var pixelSpacing: Double

    public init(midline: Double, nippleColumns: [Double], pixelSpacing: Double) {
        self.midline = midline
        self.nippleColumns = nippleColumns
        self.pixelSpacing = pixelSpacing
    }
}

/// Our Duke-Breast grammar (TMC's annotations are not public), computed from one patient's slice masks and the
/// slices' levels (cm, positive cranial, 0 at the nipple):
/// "Left breast, one tumour, upper outer quadrant, diameter about 2 cm."
public func describeBreastTumour(masks: [[UInt8]], levels: [Double], width: Int, height: Int, layout: BreastLayout) -> String {
    var sumX = 0.0, sumZ = 0.0, area = 0.0, feret = 0.0
    for (mask, z) in zip(masks, levels) {
        var points: [(Double, Double)] = []
        for p in 0..<mask.count where mask[p] > 0 {
            let x = Double(p % width) + 0.5, y = Double(p / width) + 0.5
            sumX += x; sumZ += z; area += 1
            points.append((x, y))
        }
        feret = max(feret, feretDiameter(points))
    }
    guard area > 0 else { return "No tumour." }
    let cx = sumX / area, cz = sumZ / area
    let side = cx >= layout.midline ? 1 : 0
    let lateral = (cx - layout.nippleColumns[side]) * (side == 0 ? -1 : 1) * layout.pixelSpacing
    let position: String
    if abs(lateral) < 1 && abs(cz) < 1 {
        position = "central region"
    } else {
        position = "\(cz >= 0 ? "upper" : "lower") \(lateral >= 0 ? "outer" : "inner") quadrant"
    }
    let diameter = max(1, Int(((feret + 1) * layout.pixelSpacing).rounded()))
    return "\(side == 1 ? "Left" : "Right") breast, one tumour, \(position), diameter about \(diameter) cm."
}

/// Largest distance between two pixel centres (0 for a single pixel).
func feretDiameter(_ points: [(Double, Double)]) -> Double {
    var best = 0.0
    for i in points.indices {
        for j in points.indices where j > i {
            let dx = points[i].0 - points[j].0, dy = points[i].1 - points[j].1
            best = max(best, dx * dx + dy * dy)
        }
    }
    return best.squareRoot()
}

enum DukeProxy {
    static let fieldOfViewCm = 30.0

    /// The chest wall curves back laterally; `chestWall` is its most anterior row, at the midline.
    static func wall(_ chestWall: Double, _ u: Double) -> Double {
        let x = (u - 0.5) / 0.45
        return chestWall + 0.1 * x * x
    }

    struct Breast { var u, a, b: Double }   // nipple axis, half-width and anterior height (image units)

    struct Tumour {
        var side: Int
        var u, v, zc, rz: Double          // centre (image units), level and cranio-caudal radius (cm)
        var blob: Blob                    // centred at (0, 0)
        var outline: ValueNoise
        var spicules: [Segment]           // relative to the centre
        var enhancement: Double
        var rim: Bool
    }

    struct Patient {
        var chestWall: Double
        var breasts: [Breast]
        var halfHeightCm: Double
        var fgtThreshold, fgtLevel, fatLevel: Double
        var fgt: Texture
        var vessels: [[Segment]]          // per breast, at level 0
        var nodes: [(u: Double, v: Double, r: Double, z: Double)]
        var heart: (u: Double, v: Double, ru: Double, rv: Double)
        var tumour: Tumour
        var bias: ValueNoise
        var noiseSigma: Double

        init(rng: inout RNG) {
            chestWall = 0.58 + rng.uniform(-0.04, 0.04)
            let a = 0.19 * rng.uniform(0.85, 1.1), b = 0.33 * rng.uniform(0.7, 1.15)
            breasts = [Breast(u: 0.5 - 0.23 + rng.uniform(-0.01, 0.01), a: a * rng.uniform(0.95, 1.05), b: b * rng.uniform(0.95, 1.05)),
                       Breast(u: 0.5 + 0.23 + rng.uniform(-0.01, 0.01), a: a * rng.uniform(0.95, 1.05), b: b * rng.uniform(0.95, 1.05))]
            halfHeightCm = rng.uniform(6.5, 9)
            let density = rng.choice(weights: [0.1, 0.4, 0.4, 0.1])
            fgtThreshold = [0.62, 0.52, 0.42, 0.32][density]
            fgtLevel = [0.30, 0.38, 0.47, 0.56][rng.choice(weights: [0.5, 0.3, 0.15, 0.05])]
            fatLevel = rng.uniform(0.12, 0.18)
            fgt = Texture(cells: 7, rng: &rng)
            vessels = []
            for br in breasts {
                var list: [Segment] = []
                for _ in 0..<rng.int(2...4) {
                    let u0 = br.u + rng.uniform(-0.7, 0.7) * br.a, u1 = br.u + rng.uniform(-0.3, 0.3) * br.a
                    let start = (u0, DukeProxy.wall(chestWall, u0))
                    let end = (u1, DukeProxy.wall(chestWall, u1) - rng.uniform(0.5, 0.85) * br.b)
                    let bend = rng.uniform(-0.05, 0.05), width = rng.uniform(0.002, 0.004)
                    func point(_ t: Double) -> (Double, Double) {
                        (start.0 + (end.0 - start.0) * t + bend * sin(Double.pi * t), start.1 + (end.1 - start.1) * t)
                    }
                    for k in 0..<4 {
                        let a = point(Double(k) / 4), b = point(Double(k + 1) / 4)
                        list.append(Segment(au: a.0, av: a.1, bu: b.0, bv: b.1, width: width, amplitude: 0.25))
                    }
                }
                vessels.append(list)
            }
            let wall = chestWall
            nodes = (0..<rng.int(0...3)).map { _ in
                let s = rng.bernoulli(0.5) ? -1.0 : 1.0
                return (0.5 + s * rng.uniform(0.40, 0.46), wall + rng.uniform(-0.03, 0.03), rng.uniform(0.012, 0.02),
                        rng.uniform(2, 6))
            }
            heart = (0.54, chestWall + 0.24, 0.17 * rng.uniform(0.9, 1.1), 0.13 * rng.uniform(0.9, 1.1))
            bias = ValueNoise(cells: 3, rng: &rng)
            noiseSigma = rng.uniform(0.02, 0.035)
            tumour = DukeProxy.drawTumour(breasts: breasts, chestWall: chestWall, halfHeightCm: halfHeightCm, rng: &rng)
        }

        /// Breast outline at level z: half-width and anterior height shrink away from the nipple level.
        func breastShape(_ br: Breast, z: Double) -> (a: Double, b: Double) {
            let s = max(0, 1 - (z / halfHeightCm) * (z / halfHeightCm)).squareRoot()
            return (br.a * (0.55 + 0.45 * s), br.b * s)
        }

        /// Inside-ness of the breasts at a point (1 inside, 0 outside, soft over a millimetre or two), the breast's
        /// normalised radius and its index.
        func breast(_ u: Double, _ v: Double, z: Double) -> (inside: Double, radius: Double, index: Int) {
            let i = u < 0.5 ? 0 : 1
            let shape = breastShape(breasts[i], z: z)
            let base = DukeProxy.wall(chestWall, u)
            guard shape.b > 0.005, v <= base + 0.01 else { return (0, 2, i) }
            let du = (u - breasts[i].u) / shape.a, dv = (base - v) / shape.b
            let r = (du * du + max(0, dv) * max(0, dv)).squareRoot()
            return (1 - smoothstep(0.97, 1.01, r), r, i)
        }

        func tumourField(_ u: Double, _ v: Double, z: Double) -> Double {
            let dz = (z - tumour.zc) / tumour.rz
            guard abs(dz) < 1 else { return 0 }
            let scale = (1 - dz * dz).squareRoot()
            let ru = tumour.blob.lobes[0].ru * scale, rv = tumour.blob.lobes[0].rv * scale
            let wobble = 0.85 + 0.3 * tumour.outline((u - tumour.u) / (4 * ru) + 0.5, (v - tumour.v) / (4 * rv) + 0.5)
            return tumour.blob.value(u - tumour.u, v - tumour.v, scale: scale) * wobble
        }
    }

    static func drawTumour(breasts: [Breast], chestWall: Double, halfHeightCm: Double, rng: inout RNG) -> Tumour {
        let side = rng.int(2)
        let br = breasts[side]
        let lateralSign = side == 0 ? -1.0 : 1.0
        let quadrant = rng.choice(weights: [0.5, 0.18, 0.15, 0.11, 0.06])   // UOQ, central, UIQ, LOQ, LIQ
        let maxLateral = 0.7 * br.a * fieldOfViewCm
        var lateral: Double, level: Double
        if quadrant == 1 {
            lateral = rng.uniform(-0.6, 0.6); level = rng.uniform(-0.6, 0.6)
        } else {
            lateral = min(maxLateral, rng.uniform(1.3, 3.5)) * ([0, 3].contains(quadrant) ? 1 : -1)
            level = min(0.6 * halfHeightCm, rng.uniform(1.3, 3.5)) * (quadrant <= 2 ? 1 : -1)
        }
        let diameter = min(6, max(0.8, exp(log(2.0) + 0.45 * rng.normal())))
        var axes = [rng.uniform(0.75, 1), rng.uniform(0.75, 1), rng.uniform(0.75, 1)]
        let top = axes.max()!
        axes = axes.map { $0 / top * diameter / 2 }
        let s = max(0, 1 - (level / halfHeightCm) * (level / halfHeightCm)).squareRoot()
        let u = br.u + lateralSign * lateral / fieldOfViewCm
        let v = DukeProxy.wall(chestWall, u) - rng.uniform(0.25, 0.7) * br.b * s
        let blob = Blob.random(u: 0, v: 0, ru: axes[0] / fieldOfViewCm, rv: axes[1] / fieldOfViewCm, extra: rng.int(0...2), rng: &rng)
        let outline = ValueNoise(cells: 6, rng: &rng)
        var spicules: [Segment] = []
        if rng.bernoulli(0.2) {
            for _ in 0..<rng.int(5...8) {
                let phi = rng.uniform(0, 2 * Double.pi), reach = rng.uniform(1.4, 1.8) * max(axes[0], axes[1]) / fieldOfViewCm
                spicules.append(Segment(au: 0, av: 0, bu: reach * cos(phi), bv: reach * sin(phi), width: 0.003, amplitude: 0.25))
            }
        }
        return Tumour(side: side, u: u, v: v, zc: level, rz: axes[2], blob: blob, outline: outline, spicules: spicules,
                      enhancement: rng.uniform(0.55, 0.9), rim: rng.bernoulli(0.2))
    }

    /// Signal of everything but the tumour at a point of slice z, before bias field and noise.
    static func tissue(_ p: Patient, _ u: Double, _ v: Double, z: Double) -> Double {
        let cw = wall(p.chestWall, u)
        if v <= cw + 0.01 {
            let b = p.breast(u, v, z: z)
            guard b.inside > 0 else { return 0 }
            let br = p.breasts[b.index], shape = p.breastShape(br, z: z)
            let depth = clamp01((cw - v) / max(shape.b, 1e-6))
            let central = exp(-pow((u - br.u) / (0.6 * shape.a), 2)) * (1 - 0.4 * depth)
            let texture = p.fgt(u + 0.004 * z, v - 0.003 * z) * (0.55 + 0.45 * central)
            let gland = smoothstep(p.fgtThreshold - 0.06, p.fgtThreshold + 0.06, texture)
            var value = p.fatLevel + (p.fgtLevel - p.fatLevel) * gland
            var vessel = 0.0
            for s in p.vessels[b.index] {
                vessel = max(vessel, Segment(au: s.au + 0.01 * sin(z), av: s.av, bu: s.bu + 0.01 * sin(z), bv: s.bv,
                                             width: s.width, amplitude: s.amplitude).value(u, v))
            }
            value += vessel
            value += 0.2 * exp(-pow((b.radius - 0.985) / 0.015, 2))                // skin
            if abs(z) < 0.8 {
                let nv = cw - shape.b
                value += 0.3 * exp(-(pow((u - br.u) / 0.015, 2) + pow((v - nv - 0.01) / 0.01, 2)))
            }
            for n in p.nodes where abs(z - n.z) < 0.8 {
                let d = ((u - n.u) * (u - n.u) + (v - n.v) * (v - n.v)).squareRoot() / n.r
                if d < 1 { value = d < 0.4 ? 0.25 : 0.6 }
            }
            return value * b.inside
        }
        let tu = (u - 0.5) / 0.47, tv = (v - p.chestWall - 0.26) / 0.36
        guard tu * tu + tv * tv < 1 else { return 0 }                               // outside the thorax
        if v < cw + 0.045 { return 0.28 }                                           // pectoral muscle
        if v < cw + 0.075 { return sin(u * 60) > 0.3 ? 0.15 : 0.25 }                 // ribs and intercostal muscle
        let hu = (u - p.heart.u) / p.heart.ru, hv = (v - p.heart.v) / p.heart.rv
        if hu * hu + hv * hv < 1 { return 0.65 }
        if abs(u - 0.5) < 0.1 { return 0.12 }                                        // mediastinal fat
        return 0.03                                                                  // lung
    }

    static func renderSlice(_ p: Patient, z: Double, size: Int, rng: RNG) -> (pixels: [Float], mask: [UInt8]) {
        var noiseRNG = rng.fork(1)
        var pixels = [Float](repeating: 0, count: size * size)
        var raw = [UInt8](repeating: 0, count: size * size)
        let t = p.tumour
        for y in 0..<size {
            let v = (Double(y) + 0.5) / Double(size)
            for x in 0..<size {
                let u = (Double(x) + 0.5) / Double(size)
                var value = tissue(p, u, v, z: z)
                let inBreast = v <= wall(p.chestWall, u) && p.breast(u, v, z: z).inside > 0.5
                let f = inBreast ? p.tumourField(u, v, z: z) : 0
                if f > 0 {
                    var level = t.enhancement * (0.9 + 0.2 * t.outline(u * 4, v * 4))
                    if t.rim { level -= 0.3 * smoothstep(0.85, 1.0, f) }
                    value += (level - value) * smoothstep(0.35, 0.65, f)
                    if f > 0.5 { raw[y * size + x] = 1 }
                }
                if inBreast && abs(z - t.zc) < t.rz {
                    for s in t.spicules { value = max(value, 0.2 + s.value(u - t.u, v - t.v)) }
                }
                let gain = (0.85 + 0.3 * p.bias(u, v)) * (1 + 0.2 * (p.chestWall - v))
                let re = value * gain + p.noiseSigma * noiseRNG.normal(), im = p.noiseSigma * noiseRNG.normal()
                pixels[y * size + x] = Float(clamp01((re * re + im * im).squareRoot()))
            }
        }
        let mask = cleanMask(raw, width: size, height: size, minArea: 1, keepLargestOnly: true)
        return (pixels, mask)
    }

    static func render(index: Int, slices: Int, size: Int, rng: RNG) -> [SegSample] {
        var patientRNG = rng.fork(1)
        let p = Patient(rng: &patientRNG)
        var levelRNG = rng.fork(2)
        let t = p.tumour
        var rendered: [(pixels: [Float], mask: [UInt8], z: Double)] = []
        for i in 0..<slices {
            var z = t.zc + t.rz * (-0.8 + 1.6 * (Double(i) + 0.5) / Double(slices)) + levelRNG.uniform(-0.1, 0.1) * t.rz
            var slice = renderSlice(p, z: z, size: size, rng: rng.fork(100 + UInt64(i)))
            var attempt = 0
            while !slice.mask.contains(1) && attempt < 20 {
                z = t.zc + levelRNG.uniform(-0.4, 0.4) * t.rz * Double(20 - attempt) / 20
                slice = renderSlice(p, z: z, size: size, rng: rng.fork(100 + UInt64(i)))
                attempt += 1
            }
            if !slice.mask.contains(1) {
                // Tumour thinner than a pixel at this size: mark the pixel under its centre, which it covers.
                z = t.zc
                slice = renderSlice(p, z: z, size: size, rng: rng.fork(100 + UInt64(i)))
                let x = min(size - 1, Int(t.u * Double(size))), y = min(size - 1, Int(t.v * Double(size)))
                slice.mask[y * size + x] = 1
            }
            rendered.append((slice.pixels, slice.mask, z))
        }
        let layout = BreastLayout(midline: 0.5 * Double(size), nippleColumns: p.breasts.map { $0.u * Double(size) },
                                  pixelSpacing: fieldOfViewCm / Double(size))
        let text = describeBreastTumour(masks: rendered.map(\.mask), levels: rendered.map(\.z), width: size, height: size,
                                        layout: layout)
        let patient = String(format: "Breast_MRI_%03d", index + 1)
        return rendered.enumerated().map { i, s in
            SegSample(id: patient + String(format: "_%02d", i + 1), patient: patient,
                      image: Image2D(width: size, height: size, channels: 1, pixels: s.pixels), mask: s.mask, text: text)
        }
    }
}
