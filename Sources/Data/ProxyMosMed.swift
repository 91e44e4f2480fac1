import Foundation

// MosMed-like axial chest CT slices (design: Papers/TMC/datasets.md §3.2, generator v2). A patient is a 3D
// configuration of anatomy, ground-glass lesions and look-alikes; each slice is a cross-section at level z (0 apex,
// 1 base), drawn in Hounsfield units and shown through a lung window. Slices of one patient share anatomy and lesions.

enum MosMedProxy {
    /// Lung window W 1500, L −600: HU to [0, 1].
    static func window(_ hu: Double) -> Double { clamp01((hu + 1350) / 1500) }
    /// The field of view's width, which turns physical sizes into image units [assumed: an adult chest].
    static let fieldOfViewMM = 350.0
    /// Reconstructed pixel of a chest CT (512 × 512 over about 35 cm).
    static let nativePixelMM = 0.7

    /// A structure that is not infection but raises lung density the way it does: a solid nodule or scar, or a
    /// band of subsegmental atelectasis. Never in the mask.
    struct LookAlike {
        var u, v, zc, rz: Double
        var segment: Segment       // in-plane shape, centred at (u, v)
        var hu: Double
    }

    struct Lesion {
        var side: Int              // 0 patient's right (image left), 1 patient's left
        var a, b: Double           // position in the lung's unit disc: a lateral (+) / medial (−), b posterior (+)
        var zc, rz: Double
        var blob: Blob             // centred at (0, 0), image units
        var hu: Double
        var coreHU: Double?        // consolidated core, if any
        var crazyPaving: Bool      // thickened interlobular septa inside the ground glass
    }

    struct Patient {
        var body: (u: Double, v: Double, ru: Double, rv: Double)
        var lungOffset, lungRu, lungRv, lungV: Double
        var heartScale: Double
        var lesions: [Lesion]
        var lungShape: ValueNoise
        var parenchyma: Texture
        var bodyEdge: ValueNoise
        /// Image noise of the scanner and kernel at the native pixel, HU.
        var noiseHU: Double
        /// Amplitude of regional density differences of normal lung (perfusion, mosaic attenuation), HU.
        var mosaicHU: Double
        /// Gravity-dependent density at the posterior edge of the lung, HU.
        var dependentHU: Double
        var septa: ValueNoise
        var lookAlikes: [LookAlike]

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
            noiseHU = rng.uniform(40, 90)
            mosaicHU = rng.uniform(20, 60)
            dependentHU = rng.uniform(30, 200)
            septa = ValueNoise(cells: Int(MosMedProxy.fieldOfViewMM / 12), rng: &rng)
            lookAlikes = MosMedProxy.drawLookAlikes(lungOffset: lungOffset, lungRu: lungRu, lungRv: lungRv, lungV: lungV, rng: &rng)
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
            var paving = false
            for l in lesions {
                let dz = (z - l.zc) / l.rz
                guard abs(dz) < 1 else { continue }
                let c = lesionCentre(l, z: z)
                let f = l.blob.value(u - c.0, v - c.1, scale: (1 - dz * dz).squareRoot()) * (0.8 + 0.4 * lungShape(u * 3, v * 3))
                if f > best.field {
                    var hu = l.hu
                    if let core = l.coreHU { hu += (core - l.hu) * smoothstep(0.8, 1.0, f) }
                    best = (f, hu, smoothstep(0.3, 0.7, f))
                    paving = l.crazyPaving
                }
            }
            if paving {
                // Septa about a secondary lobule (1–2.5 cm) apart: thin ridges of a coarse noise field.
                let d = (septa(u, v) - 0.5) / 0.05
                best.hu += 150 * exp(-d * d)
            }
            return best
        }

        /// The strongest look-alike at a point of slice z: its weight and HU.
        func lookAlike(_ u: Double, _ v: Double, z: Double) -> (weight: Double, hu: Double) {
            var best = (weight: 0.0, hu: 0.0)
            for a in lookAlikes {
                let dz = (z - a.zc) / a.rz
                guard abs(dz) < 1 else { continue }
                var s = a.segment
                s.width *= (1 - dz * dz).squareRoot()
                let w = s.value(u, v)
                if w > best.weight { best = (w, a.hu) }
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
        // Mostly faint ground glass (CT-1 studies), some denser.
        let hu = rng.bernoulli(0.65) ? rng.uniform(-750, -600) : rng.uniform(-600, -450)
        let rz = rng.uniform(0.05, 0.15)
        return Lesion(side: side, a: rho * cos(theta), b: rho * sin(theta), zc: zc, rz: rz,
                      blob: blob, hu: hu, coreHU: core, crazyPaving: rng.bernoulli(0.15))
    }

    /// Solid nodules or scars (a quarter of patients) and posterior bands of subsegmental atelectasis (a third),
    /// placed in the lungs at the base-level geometry.
    static func drawLookAlikes(lungOffset: Double, lungRu: Double, lungRv: Double, lungV: Double, rng: inout RNG) -> [LookAlike] {
        var out: [LookAlike] = []
        func centre(_ side: Int, rho: Double, theta: Double) -> (Double, Double) {
            (0.5 + (side == 0 ? -1 : 1) * lungOffset + rho * cos(theta) * lungRu * 0.8, lungV + rho * sin(theta) * lungRv * 0.8)
        }
        if rng.bernoulli(0.25) {
            for _ in 0..<rng.int(1...2) {
                let c = centre(rng.int(2), rho: rng.uniform(0, 0.85), theta: rng.uniform(0, 2 * Double.pi))
                let r = rng.uniform(3, 8) / fieldOfViewMM
                out.append(LookAlike(u: c.0, v: c.1, zc: rng.uniform(0.1, 0.95), rz: rng.uniform(0.01, 0.025),
                                     segment: Segment(au: c.0, av: c.1, bu: c.0, bv: c.1, width: r, amplitude: 1),
                                     hu: rng.uniform(-100, 40)))
            }
        }
        if rng.bernoulli(0.35) {
            for _ in 0..<rng.int(1...2) {
                let c = centre(rng.int(2), rho: rng.uniform(0.4, 0.85), theta: rng.uniform(0.4, 2.7))
                let half = rng.uniform(7.5, 20) / fieldOfViewMM, phi = rng.uniform(-0.4, 0.4)
                out.append(LookAlike(u: c.0, v: c.1, zc: rng.uniform(0.55, 0.95), rz: rng.uniform(0.02, 0.05),
                                     segment: Segment(au: c.0 - half * cos(phi), av: c.1 - half * sin(phi),
                                                      bu: c.0 + half * cos(phi), bv: c.1 + half * sin(phi),
                                                      width: rng.uniform(0.75, 1.5) / fieldOfViewMM, amplitude: 1),
                                     hu: rng.uniform(-300, 0)))
            }
        }
        return out
    }

    /// A structure narrower than half a pixel is drawn half a pixel wide and proportionally fainter: the partial
    /// volume of a thin vessel in a large pixel, instead of a full-contrast dot wherever a pixel centre hits it.
    static func partialVolume(_ s: Segment, pixel: Double) -> Segment {
        var s = s
        let floor = 0.5 * pixel
        if s.width < floor { s.amplitude *= s.width / floor; s.width = floor }
        return s
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
        let pixel = 1 / Double(size)
        for side in 0..<2 {
            let e = p.lungEllipse(side: side, z: z)
            let hilumU = 0.5 + (side == 0 ? -1 : 1) * p.lungOffset * 0.55
            for _ in 0..<vesselRNG.int(20...35) {
                let rho = vesselRNG.uniform(0, 0.92), theta = vesselRNG.uniform(0, 2 * Double.pi)
                let u = e.u + rho * cos(theta) * e.ru, v = e.v + rho * sin(theta) * e.rv
                // Pulmonary arteries and veins taper from about 6 mm by the hilum to 1 mm at the periphery.
                let diameter = 1 + 5 * pow(1 - rho, 1.5)
                let width = diameter / 2 / fieldOfViewMM
                // Some run within the slice, pointing toward the hilum; the rest are cut across (dots).
                var len = 0.0, phi = 0.0
                if vesselRNG.bernoulli(0.4) {
                    len = vesselRNG.uniform(5, 25) / fieldOfViewMM
                    phi = atan2(e.v - v, hilumU - u) + vesselRNG.uniform(-0.4, 0.4)
                }
                vessels.append(partialVolume(Segment(au: u, av: v, bu: u + len * cos(phi), bv: v + len * sin(phi),
                                                     width: width, amplitude: 1), pixel: pixel))
            }
        }
        // Correlated noise of a sharp kernel averages down over a pixel larger than the native one [assumed: with
        // the square root of the edge ratio].
        let noiseSD = p.noiseHU * min(1, (nativePixelMM / (fieldOfViewMM * pixel)).squareRoot())
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
                    hu = -860 + p.dependentHU * smoothstep(0.3, 1.0, lung.b) + 2 * p.mosaicHU * (p.parenchyma(u, v) - 0.5)
                    let lesion = p.lesionField(u, v, z: z)
                    hu += (lesion.hu - hu) * lesion.weight
                    if lesion.field > 0.5 { raw[y * size + x] = 1 }
                    // Vessels stay visible through ground glass, as on real CT (the mask keeps them).
                    var vessel = 0.0
                    for s in vessels { vessel = max(vessel, s.value(u, v)) }
                    hu += (40 - hu) * vessel
                    let other = p.lookAlike(u, v, z: z)
                    hu += (other.hu - hu) * other.weight
                    let edge = smoothstep(0, 0.06, lung.margin)
                    hu = 40 + (hu - 40) * edge
                } else {
                    hu = bodyHU(p, u, v, z: z)
                }
                pixels[y * size + x] = Float(window(hu + noiseSD * noiseRNG.normal()))
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

    /// Each lesion's contrast on the slice through its centre, drawn with and without the patient's lesions (same
    /// anatomy, same noise): the mean difference over the mask, divided by (a) the slice's noise SD and (b) the SD of
    /// the lesion-free lung (noise, texture, vessels, dependent density and look-alikes together). (a) says how far a
    /// lesion stands above noise, (b) whether a threshold on brightness alone could find it. The design check of
    /// datasets.md §3.2.
    static func lesionContrast(index: Int, size: Int, rng: RNG) -> [(noise: Double, lung: Double)] {
        var patientRNG = rng.fork(1)
        let p = Patient(rng: &patientRNG)
        var clear = p
        clear.lesions = []
        let noiseSD = p.noiseHU * min(1, (nativePixelMM * Double(size) / fieldOfViewMM).squareRoot()) / 1500
        return p.lesions.compactMap { l in
            let with = renderSlice(p, z: l.zc, size: size, rng: rng.fork(7))
            let without = renderSlice(clear, z: l.zc, size: size, rng: rng.fork(7))
            let inside = with.mask.indices.filter { with.mask[$0] > 0 }
            let lung = with.mask.indices.filter { i in
                let u = (Double(i % size) + 0.5) / Double(size), v = (Double(i / size) + 0.5) / Double(size)
                return with.mask[i] == 0 && p.lung(u, v, z: l.zc).margin > 0.1
            }.map { Double(without.pixels[$0]) }
            guard !inside.isEmpty, lung.count > 1 else { return nil }
            let diff = inside.reduce(0.0) { $0 + Double(with.pixels[$1] - without.pixels[$1]) } / Double(inside.count)
            let mean = lung.reduce(0, +) / Double(lung.count)
            let sd = (lung.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(lung.count - 1)).squareRoot()
            return (diff / noiseSD, diff / sd)
        }
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
