import Foundation

// The BRATS-like proxy (MSD Task01): skull-stripped four-channel brain MRI (FLAIR, T1w, T1gd, T2w) with a glioma of
// nested regions, designed in Papers/MOSMOS/datasets.md §3: oedema bright on FLAIR and T2 defines the whole tumour,
// the enhancing rim is bright on T1gd only, the necrotic or non-enhancing core is dark on T1 and T1gd. Low-grade
// tumours have little or no enhancement, as in the real cohort.

public enum BrainProxy {
    /// The Decathlon's labels; the scored regions are ET = 3, TC = 2 ∪ 3, WT = 1 ∪ 2 ∪ 3.
    public static let classes = ["background", "edema", "non-enhancing tumour", "enhancing tumour"]

    /// [D, H, W] voxels of 3.5 mm: a 168 mm cube.
    public static let grid = PhantomGrid(shape: [48, 48, 48], spacing: [3.5, 3.5, 3.5])

    /// Intensity of each tissue per channel (FLAIR, T1w, T1gd, T2w), before per-case normalisation.
    enum Contrast {
        static let whiteMatter: [Float] = [0.55, 0.80, 0.80, 0.40]
        static let greyMatter: [Float] = [0.65, 0.60, 0.60, 0.55]
        static let csf: [Float] = [0.10, 0.20, 0.20, 1.00]
        static let edema: [Float] = [1.00, 0.50, 0.50, 0.85]
        static let necrosis: [Float] = [0.60, 0.25, 0.25, 0.95]
        static let nonEnhancing: [Float] = [0.80, 0.45, 0.45, 0.75]
        static let enhancing: [Float] = [0.75, 0.50, 1.40, 0.55]
        /// Choroid plexus and dural vessels enhance too, without being tumour.
        static let enhancingVessel: [Float] = [0.50, 0.55, 1.10, 0.60]
    }

    public static func render(id: String, rng seed: RNG) -> LabeledImage {
        var rng = seed
        var canvas = PhantomCanvas(grid: grid, channels: 4, background: 0)
        let size = pow(rng.volumeFactor(cv: 0.1), 1.0 / 3)
        let brain = Solid.ellipsoid(Point3(0, 0, 0), Point3(65, 80, 60) * size, Rotation(yaw: rng.normal() as Double * 0.08),
                                    wobble: Wobble(amplitude: 0.04, wavelength: 80, rng: &rng))
        canvas.paint(brain, label: nil, Contrast.greyMatter)
        canvas.paint(.ellipsoid(Point3(0, 0, 5), Point3(50, 64, 42) * size, wobble: Wobble(amplitude: 0.12, wavelength: 30, rng: &rng)),
                     label: nil, Contrast.whiteMatter)
        for side in [-1.0, 1.0] {
            canvas.paint(.ellipsoid(Point3(side * 12, 0, 8) * size, Point3(6, 26, 10) * rng.uniform(0.8, 1.3),
                                    Rotation(yaw: side * 0.15), wobble: Wobble(amplitude: 0.1, wavelength: 25, rng: &rng)),
                         label: nil, Contrast.csf)
            canvas.paint(.ellipsoid(Point3(side * 14, -10, 8) * size, Point3(3, 5, 3)), label: nil, Contrast.enhancingVessel)
        }

        // The tumour in one hemisphere: oedema around a core; high-grade cores enhance as a rim around necrosis.
        let side = rng.bernoulli(0.5) ? 1.0 : -1.0
        let centre = Point3(side * rng.uniform(15, 35), rng.uniform(-40, 40), rng.uniform(-15, 25)) * size
        let core = rng.uniform(7, 20)
        let oedema = core + rng.uniform(6, 22)
        let highGrade = rng.bernoulli(0.75)
        let shapeField = Wobble(amplitude: 0.15, wavelength: 30, rng: &rng)
        let stretch = Point3(rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25))
        let rotation = Rotation(yaw: rng.uniform(0, .pi), pitch: rng.uniform(-0.5, 0.5))
        canvas.paint(.ellipsoid(centre, stretch * oedema, rotation, wobble: Wobble(amplitude: 0.22, wavelength: 35, rng: &rng)),
                     label: 1, Contrast.edema)
        let coreCentre = centre + rng.jitter(core * 0.2)
        let coreSolid = Solid.ellipsoid(coreCentre, stretch * core, rotation, wobble: shapeField)
        if highGrade {
            let rim = rng.uniform(3, 6)
            canvas.paint(coreSolid, label: 3, Contrast.enhancing)
            canvas.paint(.ellipsoid(coreCentre, stretch * max(core - rim, 1), rotation, wobble: shapeField), label: 2, Contrast.necrosis)
        } else {
            canvas.paint(coreSolid, label: 2, Contrast.nonEnhancing)
            if rng.bernoulli(0.5) {
                canvas.paint(.ellipsoid(coreCentre + rng.jitter(core * 0.3), Point3(repeating: rng.uniform(3, 6))), label: 3, Contrast.enhancing)
            }
        }
        // Skull-stripped: nothing outside the brain, whatever the tumour's outline did.
        let (h, w) = (grid.shape[1], grid.shape[2])
        for i in canvas.labels.indices where !brain.contains(grid.point(i / (h * w), (i / w) % h, i % w)) {
            canvas.labels[i] = 0
            for c in 0..<4 { canvas.values[c][i] = 0 }
        }
        let inside = canvas.values[1].map { $0 > 0 }
        canvas.blur()
        // Each sequence has its own coil field and noise, as each is a separate acquisition.
        for c in 0..<4 {
            let bias = Wobble(amplitude: 0.1, wavelength: 250, count: 3, rng: &rng)
            for i in canvas.values[c].indices {
                canvas.values[c][i] = inside[i] ? canvas.values[c][i] * Float(1 + bias(grid.point(i / (h * w), (i / w) % h, i % w))) : 0
            }
        }
        var noise = rng.fork("noise")
        var noisy = canvas
        noisy.addNoise([0.04, 0.04, 0.04, 0.04], rng: &noise)
        // Background stays exactly zero, as in the skull-stripped Decathlon volumes (the z-score runs over non-zero voxels).
        for c in 0..<4 { for i in noisy.values[c].indices where !inside[i] { noisy.values[c][i] = 0 } }
        return noisy.labeledImage(id: id)
    }
}
