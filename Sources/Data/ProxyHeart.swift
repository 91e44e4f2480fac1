import Foundation

// The MMWHS-like proxy: whole-heart balanced-SSFP MRI with the seven substructures of MM-WHS 2017, designed in
// Papers/MOSMOS/datasets.md §2 from the real chambers' sizes and positions and bSSFP contrast. In bSSFP every blood
// pool is equally bright; chambers and great vessels are told apart only by thin walls, valve planes and where they
// lie, and the unlabelled descending aorta, caval and pulmonary veins are just as bright.

public enum HeartProxy {
    /// MM-WHS's label order (205, 420, 500, 550, 600, 820, 850 → 1…7), the order of MOSMOS's Table 3.
    public static let classes = VolumeLayouts.mmwhsClasses

    /// [D, H, W] voxels of 3 mm: 144 × 192 × 192 mm around the heart.
    public static let grid = PhantomGrid(shape: [48, 64, 64], spacing: [3, 3, 3])

    enum Signal {
        static let blood: Float = 1.0
        /// Blood/myocardium 3.5 ± 1.1 at end-diastole on bSSFP (WH4): myocardium about 0.3 of blood.
        static let myocardium: Float = 0.3
        static let fat: Float = 0.8
        static let lung: Float = 0.05
        static let muscle: Float = 0.35
        static let liver: Float = 0.4
        static let wall: Float = 0.35
    }

    public static func render(id: String, rng seed: RNG) -> LabeledImage {
        var rng = seed
        var canvas = PhantomCanvas(grid: grid, background: 0)
        // Each heart is turned and shifted in the field (acquisition orientation varies between cases) and sized.
        let turn = Rotation(yaw: rng.normal() as Double * 0.2, pitch: rng.normal() as Double * 0.15, roll: rng.normal() as Double * 0.15)
        let shift = rng.jitter(6)
        let size = pow(rng.volumeFactor(cv: 0.18), 1.0 / 3)
        func at(_ x: Double, _ y: Double, _ z: Double) -> Point3 { turn.apply(Point3(x, y, z) * size) + shift }
        func axis(_ x: Double, _ y: Double, _ z: Double) -> Rotation { Rotation(zAxis: turn.apply(Point3(x, y, z))) }
        func w(_ a: Double, _ l: Double) -> Wobble { Wobble(amplitude: a, wavelength: l, rng: &rng) }
        func blood(_ p: Point3) -> [Float] { [Signal.blood] }

        // Thorax: body, lungs either side, liver below, spine behind, fat around the heart.
        canvas.paint(.ellipsoid(Point3(0, 0, 0), Point3(140, 100, 1e4)), label: nil, [Signal.muscle])
        for side in [-1.0, 1.0] {
            canvas.paint(.ellipsoid(Point3(side * 75, -10, 10), Point3(60, 80, 110), wobble: w(0.05, 80)), label: nil, [Signal.lung])
        }
        canvas.paint(.ellipsoid(Point3(40, 0, -95), Point3(90, 80, 40)), label: nil, [Signal.liver])
        canvas.paint(.tube([Point3(0, -85, -200), Point3(0, -85, 200)], radius: 18), label: nil, [Signal.muscle])
        canvas.paint(.ellipsoid(at(5, 0, 5), Point3(60, 55, 62), wobble: w(0.06, 60)), label: nil, [Signal.fat])
        // Unlabelled bright vessels: descending aorta behind the left atrium, SVC into the right atrium from above,
        // IVC from below, pulmonary veins into the left atrium.
        canvas.paint(.tube([at(-20, -60, 80), at(-22, -62, -80)], radius: 11), label: nil, [Signal.blood])
        canvas.paint(.tube([at(38, -5, 80), at(36, -8, 30)], radius: 9), label: nil, [Signal.blood])
        canvas.paint(.tube([at(30, -15, -80), at(32, -12, -10)], radius: 11), label: nil, [Signal.blood])
        for (x, z) in [(-25.0, 35.0), (-20.0, 15.0), (15.0, 35.0), (12.0, 15.0)] {
            canvas.paint(.tube([at(x * 3, -40, z), at(x, -38, z - 5)], radius: 6), label: nil, [Signal.blood])
        }

        // Chambers, painted so that later ones carve earlier ones: RV, then the LV's wall (which makes the septum
        // and cuts the RV to its crescent), then the LV cavity; atria behind and above; great vessels last.
        let lvAxis = axis(-0.55, 0.45, -0.7)   // base → apex: anterior, inferior, to the left
        let lvCentre = at(-12, 5, -12)
        let lvRadii = Point3(26, 26, 46) * pow(rng.volumeFactor(cv: 0.18), 1.0 / 3)
        let wall = rng.uniform(8, 12)
        canvas.paint(.ellipsoid(at(12, 32, -8), Point3(38, 18, 42), axis(-0.3, 0.5, -0.8), wobble: w(0.06, 50)),
                     label: 5, intensity: blood)
        canvas.paint(.ellipsoid(at(-5, -38, 24), Point3(30, 24, 27) * pow(rng.volumeFactor(cv: 0.25), 1.0 / 3), wobble: w(0.06, 40)),
                     label: 2, intensity: blood)
        canvas.paint(.ellipsoid(at(36, -8, 16), Point3(26, 25, 30) * pow(rng.volumeFactor(cv: 0.25), 1.0 / 3), wobble: w(0.06, 40)),
                     label: 4, intensity: blood)
        // Myocardium: the LV's wall, open at the base (the mitral and aortic valve planes).
        let lvW = w(0.04, 50)
        let basePlane = lvCentre - lvAxis.apply(Point3(0, 0, lvRadii.z * 0.55))
        canvas.paint(.clipped(.ellipsoid(lvCentre, lvRadii + Point3(repeating: wall), lvAxis, wobble: lvW),
                              point: basePlane, normal: lvAxis.apply(Point3(0, 0, 1))),
                     label: 1, [Signal.myocardium])
        canvas.paint(.ellipsoid(lvCentre, lvRadii, lvAxis, wobble: lvW), label: 3, intensity: blood)
        // Ascending aorta from the LV outflow to the top of the atria; pulmonary trunk from the RV outflow to its
        // bifurcation, in front and to the left.
        let aoR = 14.5 * rng.uniform(0.85, 1.15), paR = 11.2 * rng.uniform(0.88, 1.12)
        canvas.paint(.tube([at(-4, 4, 18), at(2, 0, 45), at(6, -4, 68)], radius: aoR), label: 6, intensity: blood)
        canvas.paint(.tube([at(-2, 36, 20), at(-14, 30, 45), at(-26, 12, 62)], radius: paR), label: 7, intensity: blood)

        // Walls and valve planes: a blood voxel touching another labelled blood pool is drawn as tissue, which is all
        // that separates them on bSSFP.
        let (d, h, wd) = (grid.shape[0], grid.shape[1], grid.shape[2])
        let before = canvas.labels
        for z in 1..<(d - 1) {
            for y in 1..<(h - 1) {
                for x in 1..<(wd - 1) {
                    let i = (z * h + y) * wd + x, l = before[i]
                    guard l > 1 else { continue }
                    for j in [i - 1, i + 1, i - wd, i + wd, i - h * wd, i + h * wd] where before[j] > 1 && before[j] != l {
                        canvas.values[0][i] = Signal.wall
                        break
                    }
                }
            }
        }
        canvas.blur()
        // Coil sensitivity falls off away from the chest coil: a smooth multiplicative field.
        let bias = Wobble(amplitude: 0.15, wavelength: 300, count: 3, rng: &rng)
        for i in canvas.values[0].indices {
            let p = grid.point(i / (h * wd), (i / wd) % h, i % wd)
            canvas.values[0][i] *= Float(1 + bias(p))
        }
        var noise = rng.fork("noise")
        canvas.addNoise([0.06], rng: &noise)
        return canvas.labeledImage(id: id)
    }
}
