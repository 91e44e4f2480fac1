import Foundation

// MosMed-like axial chest CT slices (design: Papers/TMC/datasets.md §3.2). A patient is a 3D configuration of
// anatomy and ground-glass lesions; each slice is a cross-section at level z (0 apex, 1 base), drawn in Hounsfield
// units and shown through a lung window. Slices of one patient share anatomy and lesions.

enum MosMedProxy {
    /// Lung window W 1500, L −600: HU to [0, 1].
    static func window(_ hu: Double) -> Double { clamp01((hu + 1350) / 1500) }

    struct Lesion {
        var side: Int              // 0 patient's right (image left), 1 patient's left
        var a, b: Double           // position in the lung's unit disc: a lateral (+) / medial (−), b posterior (+)
        var zc, rz: Double
        var blob: Blob             // centred at (0, 0), image units
        var hu: Double
        var coreHU: Double?        // consolidated core, if any
    }

    struct Patient {
        var body: (u: Double, v: Double, ru: Double, rv: Double)
        var lungOffset, lungRu, lungRv, lungV: Double
        var heartScale: Double
        var lesions: [Lesion]
        var lungShape: ValueNoise
        var parenchyma: Texture
        var bodyEdge: ValueNoise

        init(rng: inout RNG) {
            let bs = rng.uniform(0.9, 1.05)
            body = (0.5, 0.53, 0.42 * bs, 0.31 * rng.uniform(0.9, 1.08))
            lungOffset = 0.2 * bs
            lungRu = 0.17 * bs * rng.uniform(0.92, 1.06)
            lungRv = 0.23 * rng.uniform(0.92, 1.06) * body.rv / 0.31
            lungV = 0.5 + rng.uniform(-0.015, 0.015)
            heartScale = rng.uniform(0.85, 1.15)
            lungShape = ValueNoise(cells: 6, rng: &rng)
            parenchyma = Texture(cells: 12, rng: &rng)
            bodyEdge = ValueNoise(cells: 5, rng: &rng)
            let count = 2 + rng.choice(weights: [0.25, 0.3, 0.2, 0.15, 0.1])
            lesions = (0..<count).map { _ in MosMedProxy.drawLesion(rng: &rng) }
        }

        /// Lung ellipse at level z: centre and radii, per side.
        func lungEllipse(side: Int, z: Double) -> (u: Double, v: Double, ru: Double, rv: Double) {
            var f = 0.55 + 0.45 * clamp01(z).squareRoot()
            if side == 0 { f *= 1 - 0.5 * smoothstep(0.72, 1.0, z) }   // the liver dome under the right lung
            let u = 0.5 + (side == 0 ? -1 : 1) * lungOffset
            return (u, lungV, lungRu * f, lungRv * f)
        }

        func heart(z: Double) -> (u: Double, v: Double, ru: Double, rv: Double)? {
            let bump = sin(Double.pi * (z - 0.4) / 0.6)
            guard z > 0.4 && z < 1.0 && bump > 0.05 else { return nil }
            return (0.56, 0.45, 0.12 * heartScale * bump, 0.1 * heartScale * bump)
        }

        /// Signed margin to the lung (positive inside, in units of the lung radius) and the side.
        func lung(_ u: Double, _ v: Double, z: Double) -> (margin: Double, side: Int, b: Double) {
            let side = u < 0.5 ? 0 : 1
            let e = lungEllipse(side: side, z: z)
            let du = (u - e.u) / e.ru, dv = (v - e.v) / e.rv
            let r = (du * du + dv * dv).squareRoot() * (0.94 + 0.12 * lungShape(u, v))
            var margin = 1 - r
            if let h = heart(z: z) {
                let hu = (u - h.u) / h.ru, hv = (v - h.v) / h.rv
                margin = min(margin, (hu * hu + hv * hv).squareRoot() - 1)
            }
            return (margin, side, dv)
        }

        func lesionCentre(_ l: Lesion, z: Double) -> (Double, Double) {
            let e = lungEllipse(side: l.side, z: z)
            let lateral = l.side == 0 ? -1.0 : 1.0
            return (e.u + lateral * l.a * e.ru, e.v + l.b * e.rv)
        }

        /// Lesion field at a point of slice z (largest lesion value) and the HU it pulls the lung toward.
        func lesionField(_ u: Double, _ v: Double, z: Double) -> (field: Double, hu: Double, weight: Double) {
            var best = (field: 0.0, hu: -860.0, weight: 0.0)
            for l in lesions {
                let dz = (z - l.zc) / l.rz
                guard abs(dz) < 1 else { continue }
                let c = lesionCentre(l, z: z)
                let f = l.blob.value(u - c.0, v - c.1, scale: (1 - dz * dz).squareRoot()) * (0.8 + 0.4 * lungShape(u * 3, v * 3))
                if f > best.field {
                    var hu = l.hu
                    if let core = l.coreHU { hu += (core - l.hu) * smoothstep(0.8, 1.0, f) }
                    best = (f, hu, smoothstep(0.3, 0.7, f))
                }
            }
            return best
        }
    }

    static func drawLesion(rng: inout RNG) -> Lesion {
        let side = rng.int(2)
        let rho = rng.uniform(0.55, 0.92)
        let sectors: [ClosedRange<Double>] = [-0.3...0.3, 1.2...1.9, 0.3...1.2, -1.6...(-0.3), 1.9...2.6]
        let sector = sectors[rng.choice(weights: [0.25, 0.25, 0.3, 0.1, 0.1])]
        let theta = rng.uniform(sector.lowerBound, sector.upperBound)
        let zc = pow(rng.uniform(0.02, 1), 0.6)
        let ru = rng.uniform(0.025, 0.07), rv = rng.uniform(0.025, 0.07)
        let blob = Blob.random(u: 0, v: 0, ru: ru, rv: rv, extra: rng.int(1...2), rng: &rng)
        let core: Double? = rng.bernoulli(0.2) ? rng.uniform(-250, -50) : nil
        return Lesion(side: side, a: rho * cos(theta), b: rho * sin(theta), zc: zc, rz: rng.uniform(0.05, 0.15),
                      blob: blob, hu: rng.uniform(-700, -450), coreHU: core)
    }

    /// Soft-tissue HU of the chest wall, spine, ribs, mediastinum and table at a point; nil inside a lung.
    static func bodyHU(_ p: Patient, _ u: Double, _ v: Double, z: Double) -> Double {
        let bu = (u - p.body.u) / p.body.ru, bv = (v - p.body.v) / p.body.rv
        let r = (bu * bu + bv * bv).squareRoot() * (0.98 + 0.04 * p.bodyEdge(u, v))
        let tableTop = p.body.v + p.body.rv + 0.02
        if r > 1 { return (v > tableTop && v < tableTop + 0.015 && abs(u - 0.5) < 0.42) ? 150 : -1000 }
        var hu = r > 0.9 ? -100.0 : 40.0
        let angle = atan2(bv, bu)
        let ribPhase = sin(angle * 9 + z * 4)
        if r > 0.86 && r < 0.93 && ribPhase > 0.55 && bv > -0.85 { hu = 500 }
        let spineV = p.body.v + p.body.rv * 0.66
        let sd = ((u - 0.5) * (u - 0.5) + (v - spineV) * (v - spineV)).squareRoot()
        if sd < 0.05 { hu = sd > 0.04 ? 700 : 350 }
        let canal = ((u - 0.5) * (u - 0.5) + (v - spineV - 0.07) * (v - spineV - 0.07)).squareRoot()
        if canal < 0.02 { hu = 20 }
        let sternumV = p.body.v - p.body.rv * 0.9
        if abs(u - 0.5) < 0.03 && abs(v - sternumV) < 0.012 { hu = 400 }
        if z < 0.35 {
            let t = ((u - 0.5) * (u - 0.5) + (v - 0.42) * (v - 0.42)).squareRoot()
            if t < 0.022 { hu = -1000 }
        }
        return hu
    }

    static func renderSlice(_ p: Patient, z: Double, size: Int, rng: RNG) -> (pixels: [Float], mask: [UInt8], layout: LungLayout) {
        var vesselRNG = rng.fork(1)
        var vessels: [Segment] = []
        for side in 0..<2 {
            let e = p.lungEllipse(side: side, z: z)
            for _ in 0..<vesselRNG.int(14...22) {
                let rho = vesselRNG.uniform(0, 0.9), theta = vesselRNG.uniform(0, 2 * Double.pi)
                let u = e.u + rho * cos(theta) * e.ru, v = e.v + rho * sin(theta) * e.rv
                let width = 0.002 + 0.005 * (1 - rho)
                let len = vesselRNG.bernoulli(0.4) ? vesselRNG.uniform(0.005, 0.02) : 0
                let phi = vesselRNG.uniform(0, Double.pi)
                vessels.append(Segment(au: u, av: v, bu: u + len * cos(phi), bv: v + len * sin(phi), width: width, amplitude: 1))
            }
        }
        var noiseRNG = rng.fork(2)
        var pixels = [Float](repeating: 0, count: size * size)
        var raw = [UInt8](repeating: 0, count: size * size)
        var rows: [[Int]] = [[], []], columns: [[Int]] = [[], []]
        for y in 0..<size {
            let v = (Double(y) + 0.5) / Double(size)
            for x in 0..<size {
                let u = (Double(x) + 0.5) / Double(size)
                let lung = p.lung(u, v, z: z)
                var hu: Double
                if lung.margin > 0 {
                    rows[lung.side].append(y); columns[lung.side].append(x)
                    hu = -860 + 90 * smoothstep(0.3, 1.0, lung.b) + 40 * (p.parenchyma(u, v) - 0.5)
                    var vessel = 0.0
                    for s in vessels { vessel = max(vessel, s.value(u, v)) }
                    hu += (30 - hu) * vessel
                    let lesion = p.lesionField(u, v, z: z)
                    hu += (lesion.hu - hu) * lesion.weight
                    if lesion.field > 0.5 { raw[y * size + x] = 1 }
                    let edge = smoothstep(0, 0.06, lung.margin)
                    hu = 40 + (hu - 40) * edge
                } else {
                    hu = bodyHU(p, u, v, z: z)
                }
                pixels[y * size + x] = Float(window(hu + 20 * noiseRNG.normal()))
            }
        }
        let mask = cleanMask(raw, width: size, height: size, minArea: minimumComponentArea(width: size, height: size))
        func extent(_ r: [Int]) -> ClosedRange<Double> {
            guard let lo = r.min(), let hi = r.max() else { return 0...Double(size) }
            return Double(lo)...Double(hi + 1)
        }
        let midline = (Double((columns[0].max() ?? size / 2 - 1) + 1) + Double(columns[1].min() ?? size / 2)) / 2
        return (pixels, mask, LungLayout(midline: midline, rightLungRows: extent(rows[0]), leftLungRows: extent(rows[1])))
    }

    static func render(index: Int, slices: Int, size: Int, rng: RNG) -> [SegSample] {
        var patientRNG = rng.fork(1)
        let p = Patient(rng: &patientRNG)
        let zLow = max(0.02, p.lesions.map { $0.zc - 0.8 * $0.rz }.min()!)
        let zHigh = min(0.99, p.lesions.map { $0.zc + 0.8 * $0.rz }.max()!)
        let patient = String(format: "study_%04d", index + 1)
        var levelRNG = rng.fork(2)
        var samples: [SegSample] = []
        for i in 0..<slices {
            let step = (zHigh - zLow) / Double(slices)
            var z = zLow + (Double(i) + 0.5) * step + levelRNG.uniform(-0.3, 0.3) * step
            var slice = renderSlice(p, z: z, size: size, rng: rng.fork(100 + UInt64(i)))
            var attempt = 0
            while !slice.mask.contains(1) && attempt < 30 {
                let l = p.lesions[levelRNG.int(p.lesions.count)]
                z = min(0.99, max(0.01, l.zc + levelRNG.uniform(-0.5, 0.5) * l.rz))
                slice = renderSlice(p, z: z, size: size, rng: rng.fork(100 + UInt64(i)))
                attempt += 1
            }
            if !slice.mask.contains(1) { slice = forcedSlice(p, size: size, rng: rng.fork(100 + UInt64(i))) }
            let text = describeLungInfection(mask: slice.mask, width: size, height: size, layout: slice.layout)
            samples.append(SegSample(id: patient + String(format: "_%02d", i + 1), patient: patient,
                                     image: Image2D(width: size, height: size, channels: 1, pixels: slice.pixels),
                                     mask: slice.mask, text: text))
        }
        return samples
    }

    /// Last resort at very small sizes: the slice through the largest lesion's centre, with the pixel under that
    /// centre marked (the lesion covers it, even if no pixel centre falls inside its outline).
    static func forcedSlice(_ p: Patient, size: Int, rng: RNG) -> (pixels: [Float], mask: [UInt8], layout: LungLayout) {
        let l = p.lesions.max { $0.blob.lobes[0].ru * $0.blob.lobes[0].rv < $1.blob.lobes[0].ru * $1.blob.lobes[0].rv }!
        var slice = renderSlice(p, z: l.zc, size: size, rng: rng)
        let c = p.lesionCentre(l, z: l.zc)
        let x = min(size - 1, max(0, Int(c.0 * Double(size)))), y = min(size - 1, max(0, Int(c.1 * Double(size))))
        slice.mask[y * size + x] = 1
        return slice
    }
}
