import Foundation

// QaTa-like chest radiographs (design: Papers/TMC/datasets.md §3.1). Bright means dense, as on a radiograph: the
// aerated lungs are dark, and an infection is a soft, low-contrast brightening inside a lung field, competing with
// ribs, vessels, the heart border and breast shadows that brighten the lung the same way.

enum QaTaProxy {
    /// One radiograph's anatomy and exposure, in anatomy coordinates (the image is this, rotated by `tilt`).
    struct Anatomy {
        var tilt: Double
        var mid, top, gap, wmax, domeH: Double
        var bottom: [Double]          // [patient's right lung (image left), patient's left lung]
        var heart: (u: Double, v: Double, ru: Double, rv: Double)
        var body: (u: Double, v: Double, ru: Double, rv: Double)
        var lungDepth: Double
        var ribSpacing, ribAmplitude: Double
        var clavicles: [Segment]
        var vessels: [Segment]
        var breastAmplitude: Double   // 0 without breast shadows
        var gain, offset, gamma, noiseSigma: Double
        var lowFrequency: ValueNoise
        var parenchyma: Texture

        init(rng: inout RNG) {
            tilt = rng.uniform(-3, 3) * Double.pi / 180
            mid = 0.5 + max(-0.04, min(0.04, 0.015 * rng.normal()))
            top = 0.13 + rng.uniform(-0.03, 0.03)
            gap = 0.055 + rng.uniform(-0.01, 0.01)
            wmax = 0.27 + rng.uniform(-0.03, 0.03)
            domeH = rng.uniform(0.04, 0.07)
            let rightBottom = 0.73 + rng.uniform(-0.04, 0.04)
            bottom = [rightBottom, rightBottom + rng.uniform(0.01, 0.04)]
            let hs = rng.uniform(0.9, 1.15)
            heart = (mid + 0.06, bottom[1] - 0.1, 0.15 * hs, 0.13 * hs)
            body = (mid, 0.56, 0.47 * rng.uniform(0.93, 1.05), 0.62)
            lungDepth = rng.uniform(0.28, 0.38)
            ribSpacing = (bottom[0] - top) / rng.uniform(8.2, 9.5)
            ribAmplitude = rng.uniform(0.05, 0.08)
            var collarbones: [Segment] = []
            for s in [-1.0, 1.0] {
                collarbones.append(Segment(au: mid + s * 0.04, av: top + 0.01, bu: mid + s * 0.3,
                                           bv: top - 0.06 + rng.uniform(-0.02, 0.02), width: 0.014,
                                           amplitude: rng.uniform(0.08, 0.12)))
            }
            clavicles = collarbones
            vessels = []
            for s in [-1.0, 1.0] {
                let hu = mid + s * (gap + 0.02), hv = top + 0.38 * (bottom[0] - top)
                for _ in 0..<rng.int(5...7) {
                    let angle = rng.uniform(-1.2, 1.3)
                    let length = rng.uniform(0.08, 0.18)
                    let eu = hu + s * cos(angle) * length, ev = hv + sin(angle) * length
                    let amp = rng.uniform(0.03, 0.06)
                    vessels.append(Segment(au: hu, av: hv, bu: eu, bv: ev, width: 0.006, amplitude: amp))
                    for turn in [-0.45, 0.45] {
                        let a2 = angle + turn + rng.uniform(-0.15, 0.15), l2 = length * rng.uniform(0.4, 0.7)
                        vessels.append(Segment(au: eu, av: ev, bu: eu + s * cos(a2) * l2, bv: ev + sin(a2) * l2,
                                               width: 0.004, amplitude: amp * 0.6))
                    }
                }
            }
            breastAmplitude = rng.bernoulli(0.5) ? rng.uniform(0.04, 0.08) : 0
            gain = rng.uniform(0.85, 1.15)
            offset = rng.uniform(-0.05, 0.05)
            gamma = rng.uniform(0.8, 1.25)
            noiseSigma = rng.uniform(0.015, 0.03)
            lowFrequency = ValueNoise(cells: 3, rng: &rng)
            parenchyma = Texture(cells: 10, rng: &rng)
        }

        /// Image coordinates to anatomy coordinates (rotation about the centre).
        func anatomical(_ u: Double, _ v: Double) -> (Double, Double) {
            let c = cos(tilt), s = sin(tilt)
            return (0.5 + c * (u - 0.5) + s * (v - 0.5), 0.5 - s * (u - 0.5) + c * (v - 0.5))
        }

        /// Signed margin to the lung field (positive inside, roughly a distance), the lung (0 patient's right,
        /// 1 patient's left), and the lung's own coordinates: s across (0 medial, 1 lateral), t down (0 apex, 1 base).
        func lung(_ u: Double, _ v: Double) -> (margin: Double, side: Int, s: Double, t: Double) {
            let side = u < mid ? 0 : 1
            let d = abs(u - mid) - gap
            let t = (v - top) / (bottom[side] - top)
            let w = wmax * (0.35 + 0.65 * clamp01(t).squareRoot())
            let s = d / w
            let floor = bottom[side] - domeH * pow(1 - clamp01(s), 1.2)
            var margin = min(v - top - 0.02 * (s - 0.5) * (s - 0.5), d, w - d, floor - v)
            let hu = (u - heart.u) / heart.ru, hv = (v - heart.v) / heart.rv
            margin = min(margin, ((hu * hu + hv * hv).squareRoot() - 1) * min(heart.ru, heart.rv))
            return (margin, side, s, t)
        }

        /// Centre of a point given in a lung's own coordinates.
        func point(side: Int, s: Double, t: Double) -> (Double, Double) {
            let w = wmax * (0.35 + 0.65 * clamp01(t).squareRoot())
            let v = top + t * (bottom[side] - top)
            return (mid + (side == 0 ? -1 : 1) * (gap + s * w), v)
        }

        /// Posterior ribs arch up from the spine and fall laterally; anterior ribs, fainter, run down toward the
        /// midline. Only the ribs whose centre line passes near v are evaluated.
        func ribs(_ u: Double, _ v: Double) -> Double {
            let x = abs(u - mid)
            guard x > 0.015 && x < gap + wmax + 0.03 else { return 0 }
            var sum = 0.0
            let posteriorShift = -0.12 * x + 0.9 * x * x
            let kp = Int(((v - top + 0.03 - posteriorShift) / ribSpacing).rounded())
            for k in stride(from: max(0, kp - 1), to: min(10, kp + 2), by: 1) {
                let dp = (v - (top - 0.03 + Double(k) * ribSpacing + posteriorShift)) / 0.012
                if abs(dp) < 4 { sum += ribAmplitude * exp(-dp * dp) }
            }
            let anteriorShift = 0.3 * (gap + wmax - x)
            let anteriorSpacing = ribSpacing * 1.15
            let ka = Int(((v - top - 0.02 - anteriorShift) / anteriorSpacing).rounded())
            for k in stride(from: max(0, ka - 1), to: min(8, ka + 2), by: 1) {
                let da = (v - (top + 0.02 + Double(k) * anteriorSpacing + anteriorShift)) / 0.009
                if abs(da) < 4 { sum += 0.35 * ribAmplitude * exp(-da * da) }
            }
            return sum
        }

        /// Attenuation picture without infection, before exposure and noise; `l` is `lung(u, v)`.
        func background(_ u: Double, _ v: Double, lung l: (margin: Double, side: Int, s: Double, t: Double)) -> (value: Double, lungWeight: Double) {
            let bu = (u - body.u) / body.ru, bv = (v - body.v) / body.rv
            let inBody = smoothstep(-0.04, 0.04, 1 - (bu * bu + bv * bv).squareRoot())
            var value = 0.07 + 0.51 * inBody
            let weight = smoothstep(-0.012, 0.012, l.margin)
            let tc = clamp01(l.t)
            value -= lungDepth * (0.8 + 0.2 * sin(Double.pi * clamp01(l.s))) * (0.85 + 0.15 * tc) * weight
            value += 0.02 * (parenchyma(u, v) - 0.5) * weight
            let spine = (u - mid) / 0.03
            value += 0.08 * exp(-spine * spine) * smoothstep(top - 0.1, top, v) * inBody
            let hu = (u - heart.u) / heart.ru, hv = (v - heart.v) / heart.rv
            value += 0.06 * smoothstep(-0.1, 0.1, 1 - (hu * hu + hv * hv).squareRoot())
            value += 0.05 * smoothstep(-0.01, 0.02, v - bottom[l.side]) * inBody
            value += ribs(u, v) * inBody
            for c in clavicles { value += c.value(u, v) }
            var vessel = 0.0
            for s in vessels { vessel += s.value(u, v) }
            value += vessel * weight
            if breastAmplitude > 0 {
                let bc = point(side: l.side, s: 0.7, t: 0.92)
                let du = (u - bc.0) / 0.16, dv = (v - bc.1) / 0.13
                let inside = smoothstep(-0.1, 0.1, 1 - (du * du + dv * dv).squareRoot())
                value += breastAmplitude * inside * (1 - smoothstep(bc.1 + 0.06, bc.1 + 0.09, v))
            }
            return (value + 0.05 * (lowFrequency(u, v) - 0.5), weight)
        }
    }

    /// One infected region: a blob in anatomy coordinates and its opacity over the lung.
    struct Lesion {
        var blob: Blob
        var contrast: Double
    }

    static func drawLesions(_ a: Anatomy, rng: inout RNG) -> [Lesion] {
        let count = 1 + rng.choice(weights: [0.3, 0.4, 0.2, 0.1])
        return (0..<count).map { _ in
            let side = rng.int(2)
            let zone = rng.choice(weights: [0.2, 0.3, 0.5])
            let t = (Double(zone) + rng.uniform(0.15, 0.85)) / 3
            let s = rng.bernoulli(0.7) ? rng.uniform(0.5, 0.85) : rng.uniform(0.2, 0.5)
            let extensive = rng.bernoulli(0.15)
            let height = a.bottom[side] - a.top
            let rv = (extensive ? rng.uniform(0.3, 0.5) : rng.uniform(0.08, 0.22)) * height
            let ru = (extensive ? rng.uniform(0.4, 0.6) : rng.uniform(0.25, 0.5)) * a.wmax
            let c = a.point(side: side, s: s, t: t)
            return Lesion(blob: Blob.random(u: c.0, v: c.1, ru: ru, rv: rv, extra: rng.int(1...3), rng: &rng),
                          contrast: rng.uniform(0.05, 0.18))
        }
    }

    /// Infection field at a point: the largest lesion value after boundary noise, and the opacity it adds.
    static func infection(_ lesions: [Lesion], _ u: Double, _ v: Double, boundary: ValueNoise) -> (field: Double, opacity: Double) {
        let wobble = 0.8 + 0.4 * boundary(u, v)
        var field = 0.0, opacity = 0.0
        for l in lesions {
            let f = l.blob.value(u, v) * wobble
            field = max(field, f)
            opacity = max(opacity, l.contrast * smoothstep(0.3, 0.7, f))
        }
        return (field, opacity)
    }

    static func render(index: Int, size: Int, rng: RNG) -> SegSample {
        var anatomyRNG = rng.fork(1)
        let a = Anatomy(rng: &anatomyRNG)
        var boundaryRNG = rng.fork(2)
        let boundary = ValueNoise(cells: 8, rng: &boundaryRNG), mottle = ValueNoise(cells: 14, rng: &boundaryRNG)
        let coords = (0..<(size * size)).map { p in
            a.anatomical((Double(p % size) + 0.5) / Double(size), (Double(p / size) + 0.5) / Double(size))
        }
        let lungField = coords.map { a.lung($0.0, $0.1) }
        let minArea = minimumComponentArea(width: size, height: size)
        var lesions: [Lesion] = []
        var mask = [UInt8](repeating: 0, count: size * size)
        for attempt in 0..<50 where !mask.contains(1) {
            var lesionRNG = rng.fork(100 + UInt64(attempt))
            lesions = drawLesions(a, rng: &lesionRNG)
            let raw: [UInt8] = (0..<(size * size)).map { p in
                lungField[p].margin > 0 && infection(lesions, coords[p].0, coords[p].1, boundary: boundary).field > 0.5 ? 1 : 0
            }
            mask = cleanMask(raw, width: size, height: size, minArea: minArea)
        }
        var noiseRNG = rng.fork(3)
        var pixels = [Float](repeating: 0, count: size * size)
        for p in 0..<(size * size) {
            let (u, v) = coords[p]
            let bg = a.background(u, v, lung: lungField[p])
            let opacity = infection(lesions, u, v, boundary: boundary).opacity * (0.75 + 0.5 * mottle(u, v))
            let attenuation = max(0, bg.value + opacity * bg.lungWeight)
            let exposed = a.offset + a.gain * pow(attenuation, a.gamma) + a.noiseSigma * noiseRNG.normal()
            pixels[p] = Float(clamp01(exposed))
        }
        let layout = lungLayout(lungField, size: size)
        let text = describeLungInfection(mask: mask, width: size, height: size, layout: layout)
        let id = "covid_\(index + 1)"
        return SegSample(id: id, patient: id, image: Image2D(width: size, height: size, channels: 1, pixels: pixels),
                         mask: mask, text: text)
    }

    /// Lung positions on the image, measured from the rendered lung field.
    static func lungLayout(_ field: [(margin: Double, side: Int, s: Double, t: Double)], size: Int) -> LungLayout {
        var rows: [[Int]] = [[], []]
        var columns: [[Int]] = [[], []]
        for (p, l) in field.enumerated() where l.margin > 0 {
            rows[l.side].append(p / size)
            columns[l.side].append(p % size)
        }
        func extent(_ r: [Int]) -> ClosedRange<Double> {
            guard let lo = r.min(), let hi = r.max() else { return 0...Double(size) }
            return Double(lo)...Double(hi + 1)
        }
        let rightEdge = Double((columns[0].max() ?? size / 2 - 1) + 1), leftEdge = Double(columns[1].min() ?? size / 2)
        return LungLayout(midline: (rightEdge + leftEdge) / 2, rightLungRows: extent(rows[0]), leftLungRows: extent(rows[1]))
    }
}
