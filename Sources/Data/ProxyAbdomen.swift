import Foundation

// The abdominal CT proxies of MOSMOS's fine-tuning sets, BTCV-like and AMOS-like. Every position, size, CT number
// and rate below is the design of Papers/MOSMOS/datasets.md §1 and §4, which cites the real property behind it;
// change one there first, with its reason, never to move a result.

/// Which abdominal data set a phantom imitates: the field of view and the label numbering differ.
public enum AbdomenLayout: String, Sendable {
    /// BTCV: upper abdomen (dome of the liver to the iliac crest), 13 organs, portal/splenic veins labelled.
    case btcv
    /// AMOS 2022: to the pelvis, 15 organs (no vein label; duodenum, bladder, prostate/uterus added).
    case amos
}

/// The tissues a phantom paints, with their CT number in the portal venous phase (HU) and a T1-weighted MRI
/// intensity (arbitrary units) for AMOS's MRI cases.
struct Tissue {
    let ct: Float
    let mri: Float
    static let air = Tissue(ct: -1000, mri: 0)
    static let fat = Tissue(ct: -100, mri: 0.90)
    static let muscle = Tissue(ct: 50, mri: 0.35)
    static let bone = Tissue(ct: 350, mri: 0.65)
    static let bowelWall = Tissue(ct: 45, mri: 0.40)
    static let fluid = Tissue(ct: 10, mri: 0.10)
    static let gas = Tissue(ct: -900, mri: 0.02)
    static let liver = Tissue(ct: 115, mri: 0.60)
    static let spleen = Tissue(ct: 115, mri: 0.42)
    static let kidney = Tissue(ct: 170, mri: 0.45)
    static let pancreas = Tissue(ct: 95, mri: 0.55)
    static let adrenal = Tissue(ct: 65, mri: 0.45)
    static let stomachWall = Tissue(ct: 85, mri: 0.40)
    static let esophagus = Tissue(ct: 50, mri: 0.38)
    static let aorta = Tissue(ct: 170, mri: 0.80)
    static let vein = Tissue(ct: 160, mri: 0.75)
    static let ivc = Tissue(ct: 140, mri: 0.70)
    static let metastasis = Tissue(ct: 55, mri: 0.35)
    static let prostate = Tissue(ct: 45, mri: 0.40)
    static let uterus = Tissue(ct: 90, mri: 0.45)
}

public enum AbdomenProxy {
    /// Class names by label for each layout, background first (the real sets' orders).
    public static func classes(_ layout: AbdomenLayout) -> [String] {
        switch layout {
        case .btcv: return ["background", "spleen", "right kidney", "left kidney", "gallbladder", "esophagus", "liver",
                            "stomach", "aorta", "inferior vena cava", "portal and splenic veins", "pancreas",
                            "right adrenal gland", "left adrenal gland"]
        case .amos: return VolumeLayouts.amosClasses
        }
    }

    /// [D, H, W] voxels at 5 × 4 × 4 mm: 240 (BTCV) or 320 (AMOS, to the pelvis) × 256 × 384 mm.
    public static func grid(_ layout: AbdomenLayout) -> PhantomGrid {
        PhantomGrid(shape: [layout == .btcv ? 48 : 64, 64, 96], spacing: [5, 4, 4])
    }

    /// One patient's volume in HU (CT) or arbitrary units (MRI), and its labels. AMOS MRI cases leave bladder and
    /// prostate/uterus unannotated, as the real MRI cases do.
    public static func render(_ layout: AbdomenLayout, id: String, modality: Modality, rng seed: RNG) -> LabeledImage {
        var rng = seed
        let grid = grid(layout)
        let mri = modality == .mri
        func v(_ t: Tissue, _ scale: Float = 1) -> [Float] { [mri ? t.mri * scale : t.ct * scale] }
        var canvas = PhantomCanvas(grid: grid, background: mri ? Tissue.air.mri : Tissue.air.ct)
        // Structures are named as BTCV names them; AMOS spells two differently and lacks the veins.
        let amosNames = ["gallbladder": "gall bladder", "inferior vena cava": "postcava"]
        let names = classes(layout)
        let label: (String) -> Int32? = { name in
            names.firstIndex(of: layout == .amos ? amosNames[name] ?? name : name).map(Int32.init)
        }

        // Body habitus and posture: the template is an adult of 320 × 224 mm in the axial plane.
        let ax = rng.uniform(135.0, 185.0), ay = rng.uniform(95.0, 130.0)
        let s = Point3(ax / 160, ay / 112, rng.uniform(0.92, 1.08))
        // AMOS's field reaches the pelvis: the same anatomy sits 40 mm higher in its taller grid.
        let lift = layout == .amos ? 40.0 : 0
        let breath = rng.normal() as Double * 8
        func at(_ x: Double, _ y: Double, _ z: Double, upper: Bool = true) -> Point3 {
            Point3(x, y, z) * s + Point3(0, 0, lift + (upper ? breath : 0)) + rng.jitter(5)
        }
        let zTop = Double(grid.shape[0]) * grid.spacing[0] / 2 + 10
        // Contrast timing varies between patients: enhancement of organs and vessels scales together.
        let enhance = Float(rng.uniform(0.85, 1.15))

        // Body wall: subcutaneous fat, abdominal muscle, visceral fat.
        let fatLayer = rng.uniform(10.0, 35.0)
        func cylinder(_ a: Double, _ b: Double) -> Solid {
            .ellipsoid(Point3(0, 0, 0), Point3(a, b, 1e4))
        }
        canvas.paint(cylinder(ax, ay), label: nil, v(.fat))
        canvas.paint(cylinder(ax - fatLayer, ay - fatLayer), label: nil, v(.muscle))
        canvas.paint(cylinder(ax - fatLayer - 12, ay - fatLayer - 12), label: nil, v(.fat))
        // Spine and paraspinal muscles, posterior midline.
        let spineY = -ay + fatLayer + 40
        canvas.paint(.tube([Point3(0, spineY, -zTop), Point3(0, spineY, zTop)], radius: 19), label: nil, v(.bone))
        for side in [-1.0, 1.0] {
            canvas.paint(.ellipsoid(Point3(side * 38, spineY - 8, 0), Point3(26, 20, 1e4)), label: nil, v(.muscle))
        }

        // Bowel that no label names: loops of small bowel below the mesocolon and a colon frame. Their walls have
        // the CT numbers of pancreas and duodenum, which is what makes those hard.
        for _ in 0..<rng.int(6...10) {
            var p = at(rng.uniform(-90, 90), rng.uniform(-30, 60), rng.uniform(-110, -20), upper: false)
            var pts = [p]
            for _ in 0..<5 {
                p += Point3(rng.uniform(-30, 30), rng.uniform(-20, 20), rng.uniform(-25, 25))
                pts.append(p)
            }
            let gas = rng.bernoulli(0.3)
            canvas.paint(.tube(pts, radius: rng.uniform(9, 13)), label: nil, v(.bowelWall))
            canvas.paint(.tube(pts, radius: 5), label: nil, v(gas ? .gas : .fluid))
        }
        let colon = [at(75, -10, -100, upper: false), at(85, 10, 0), at(40, 50, 20), at(-40, 50, 25), at(-85, 5, 10),
                     at(-80, -10, -100, upper: false)]
        canvas.paint(.tube(colon, radius: 20), label: nil, v(.bowelWall))
        canvas.paint(.tube(colon, radius: 14), label: nil, v(.gas))

        // Pelvis (AMOS only): bladder, and prostate or uterus.
        if layout == .amos {
            let bladder = Solid.ellipsoid(at(0, 25, -125, upper: false),
                                          Point3(38, 30, 28) * rng.volumeFactor(cv: 0.4).squareRoot(),
                                          wobble: Wobble(amplitude: 0.06, wavelength: 60, rng: &rng))
            canvas.paint(bladder, label: mri ? 0 : label("bladder"), v(.fluid))
            let male = rng.bernoulli(0.5)
            let organ = male ? Solid.ellipsoid(at(0, 5, -150, upper: false), Point3(20, 16, 18))
                             : Solid.ellipsoid(at(0, -5, -105, upper: false), Point3(28, 22, 38), Rotation(pitch: 0.5))
            canvas.paint(organ, label: mri ? 0 : label("prostate/uterus"), v(male ? .prostate : .uterus, male ? 1 : enhance))
        }

        // Liver: right lobe and left lobe; colorectal metastases in a third of patients, fatty change in some.
        let liverScale = rng.volumeFactor(cv: 0.17)
        let lw = Wobble(amplitude: 0.07, wavelength: 90, rng: &rng)
        let liverRight = Solid.ellipsoid(at(70, 0, 55), Point3(82, 72, 66) * pow(liverScale, 1.0 / 3), Rotation(yaw: 0.2), wobble: lw)
        let liverLeft = Solid.ellipsoid(at(5, 35, 70), Point3(50, 32, 34) * pow(liverScale, 1.0 / 3), Rotation(yaw: -0.3), wobble: lw)
        let fatty = rng.bernoulli(0.15)
        let liverTissue: Float = fatty ? Tissue.liver.ct - 60 : Tissue.liver.ct * enhance
        let texture = Wobble(amplitude: 6, wavelength: 25, rng: &rng)
        let liverValue: (Point3) -> [Float] = { p in mri ? [Tissue.liver.mri * (fatty ? 1.2 : 1)] : [liverTissue + Float(texture(p))] }
        canvas.paint(liverRight, label: label("liver"), intensity: liverValue)
        canvas.paint(liverLeft, label: label("liver"), intensity: liverValue)
        if rng.bernoulli(0.35) {
            for _ in 0..<rng.int(1...4) {
                let c = at(70, 0, 55) + rng.jitter(28)
                guard liverRight.contains(c) else { continue }
                canvas.paint(.ellipsoid(c, Point3(repeating: rng.uniform(6, 20)), wobble: Wobble(amplitude: 0.1, wavelength: 20, rng: &rng)),
                             label: label("liver"), v(.metastasis))
            }
        }
        // Gallbladder under the liver; absent after cholecystectomy.
        if !rng.bernoulli(0.1) {
            canvas.paint(.ellipsoid(at(45, 40, 20), Point3(15, 17, 34) * pow(rng.volumeFactor(cv: 0.4), 1.0 / 3), Rotation(pitch: 0.4),
                                    wobble: Wobble(amplitude: 0.08, wavelength: 40, rng: &rng)),
                         label: label("gallbladder"), v(.fluid))
        }
        // Spleen, left upper quadrant, postero-lateral; enlarged in some.
        let spleenScale = rng.volumeFactor(cv: 0.4) * (rng.bernoulli(0.1) ? 2 : 1)
        canvas.paint(.ellipsoid(at(-95, -35, 55), Point3(25, 50, 38) * pow(spleenScale, 1.0 / 3), Rotation(yaw: -0.5),
                                wobble: Wobble(amplitude: 0.08, wavelength: 60, rng: &rng)),
                     label: label("spleen"), v(.spleen, enhance))
        // Kidneys, retroperitoneal; the right half a vertebra lower, upper poles medial.
        for (name, side, z) in [("right kidney", 1.0, -15.0), ("left kidney", -1.0, 0.0)] {
            let k = pow(rng.volumeFactor(cv: 0.15), 1.0 / 3)
            canvas.paint(.ellipsoid(at(side * 68, -55, z), Point3(27, 24, 55) * k, Rotation(yaw: side * 0.35, roll: side * 0.25),
                                    wobble: Wobble(amplitude: 0.05, wavelength: 50, rng: &rng)),
                         label: label(name), v(.kidney, enhance))
        }
        // Stomach, left anterior, with a wall and contents: fluid, and gas on top (anterior, supine).
        let stomachRadii = Point3(42, 34, 50) * pow(rng.volumeFactor(cv: 0.3), 1.0 / 3)
        let stomachCentre = at(-50, 30, 45)
        let sw = Wobble(amplitude: 0.08, wavelength: 60, rng: &rng)
        canvas.paint(.ellipsoid(stomachCentre, stomachRadii, Rotation(yaw: -0.5), wobble: sw), label: label("stomach"), v(.stomachWall, enhance))
        let level = stomachCentre.y + rng.uniform(-10, 25)
        canvas.paint(.ellipsoid(stomachCentre, stomachRadii - Point3(repeating: 5), Rotation(yaw: -0.5), wobble: sw), label: label("stomach")) { p in
            v(p.y > level ? .gas : .fluid)
        }
        // Duodenum: the C-loop around the pancreatic head (labelled in AMOS only).
        let duodenum = [at(5, 35, 25), at(40, 15, 15), at(50, -5, -10), at(35, -10, -35), at(-5, -10, -40), at(-25, -5, -20)]
        // Where a layout does not label a structure it is background (0), not whatever was painted there before.
        canvas.paint(.tube(duodenum, radius: 12, wobble: Wobble(amplitude: 0.1, wavelength: 30, rng: &rng)),
                     label: label("duodenum") ?? 0, v(.bowelWall, enhance))
        canvas.paint(.tube(duodenum, radius: 6), label: label("duodenum") ?? 0, v(.fluid))
        // Pancreas: head in the C-loop, lower; body and tail rise to the splenic hilum. Lobulated.
        let pw = Wobble(amplitude: 0.15, wavelength: 18, rng: &rng)
        let pancreasTexture = Wobble(amplitude: 12, wavelength: 10, rng: &rng)
        let pk = pow(rng.volumeFactor(cv: 0.2), 1.0 / 3)
        let pancreas = Solid.tube(points: [at(25, 0, -10), at(5, 8, 5), at(-30, -2, 20), at(-70, -20, 40)],
                                  radii: [18 * pk, 14 * pk, 12 * pk, 10 * pk], wobble: pw)
        canvas.paint(pancreas, label: label("pancreas")) { p in
            mri ? [Tissue.pancreas.mri] : [Tissue.pancreas.ct * enhance + Float(pancreasTexture(p))]
        }
        // Adrenals: thin limbs (4–9 mm) beside the upper poles: one or two voxels across at this spacing.
        for (name, c, yaw) in [("right adrenal gland", at(30, -42, 40), 0.5), ("left adrenal gland", at(-35, -40, 30), -0.5)] {
            canvas.paint(.ellipsoid(c, Point3(rng.uniform(3.5, 5.5), 12, 17) * pow(rng.volumeFactor(cv: 0.25), 1.0 / 3), Rotation(yaw: yaw),
                                    wobble: Wobble(amplitude: 0.1, wavelength: 20, rng: &rng)),
                         label: label(name), v(.adrenal, enhance))
        }
        // Vessels last: they run through organs. Aorta anterior-left of the spine to its bifurcation, then iliac
        // arteries (not labelled); IVC anterior-right, intrahepatic above; portal and splenic veins behind the pancreas.
        let ar = 11 * rng.uniform(0.85, 1.15)
        let bifurcation = at(-12, spineY / s.y + 30, -95, upper: false)
        canvas.paint(.tube([Point3(bifurcation.x, bifurcation.y, zTop), bifurcation], radius: ar), label: label("aorta"), v(.aorta, enhance))
        for side in [-1.0, 1.0] {
            canvas.paint(.tube([bifurcation, bifurcation + Point3(side * 35, 10, -80)], radius: ar * 0.6), label: 0, v(.aorta, enhance))
        }
        let ivcX = 22 * s.x
        canvas.paint(.tube([Point3(ivcX, spineY + 28, zTop), Point3(ivcX, spineY + 25, -zTop)], radius: 10 * rng.uniform(0.8, 1.2)),
                     label: label("inferior vena cava"), v(.ivc, enhance))
        let veins = Solid.tube(points: [at(-85, -25, 45), at(-35, -15, 25), at(8, -6, 12), at(45, 5, 40)],
                               radii: [5, 6, 7.5, 7.5], wobble: .none)
        canvas.paint(veins, label: label("portal and splenic veins") ?? 0, v(.vein, enhance))
        // Oesophagus: from the top of the field to the cardia of the stomach, left of the aorta's front.
        canvas.paint(.tube([at(-5, -25, zTop), at(-15, -15, 75), stomachCentre + Point3(15, -10, 25)], radius: 7.5),
                     label: label("esophagus"), v(.esophagus))

        canvas.blur()
        var noise = rng.fork("noise")
        canvas.addNoise([mri ? 0.04 : 12], rng: &noise)
        if mri {
            // Coil sensitivity: a smooth multiplicative field, as on real abdominal MRI.
            let bias = Wobble(amplitude: 0.15, wavelength: 400, count: 3, rng: &rng)
            for i in canvas.values[0].indices {
                let z = i / (grid.shape[1] * grid.shape[2]), y = (i / grid.shape[2]) % grid.shape[1], x = i % grid.shape[2]
                canvas.values[0][i] *= Float(1 + bias(grid.point(z, y, x)))
            }
        }
        var out = canvas.labeledImage(id: id)
        if mri, layout == .amos { out.unannotated = [14, 15] }
        return out
    }
}
