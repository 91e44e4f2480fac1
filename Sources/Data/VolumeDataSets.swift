import Foundation

// The on-disk layouts of MOSMOS's fine-tuning data sets. A loader lists the cases (file paths, nothing read);
// `VolumeDataSet.load` reads one case and checks it: image and label on the same grid with the same affine, and
// label values from the declared set, mapped to 0..<classes.count.
//
// - Decathlon json (`training`/`validation`/`test`, paths relative to the json's folder; BTCV's dataset_0.json and
//   the Medical Segmentation Decathlon use it). Class names from its `labels`.
// - AMOS 2022: imagesTr/labelsTr, imagesVa/labelsVa, imagesTs; ids up to 500 are CT, above 500 MRI, and MRI cases
//   carry no labels 14 (bladder) and 15 (prostate/uterus), so those two classes are undefined on MRI.
// - MMWHS: <modality>_train_10xx_image.nii.gz with <modality>_train_10xx_label.nii.gz; label values 205, 420, 500,
//   550, 600, 820, 850 map to classes 1–7.
// - BRATS as Decathlon Task01: 4-channel images (FLAIR, T1w, T1gd, T2w) and labels 1 edema, 2 non-enhancing tumour,
//   3 enhancing tumour; the evaluated regions are ET = 3, TC = 2 ∪ 3, WT = 1 ∪ 2 ∪ 3 (the Decathlon's own
//   definition; MONAI's BRATS tutorial instead treats label 2 as ET, tutorials #1355).

public enum Modality: String, Sendable, Codable { case ct = "CT", mri = "MRI" }

/// One case: its image file (all channels in one 4D file, or a 3D file), its label file when annotated.
public struct VolumeCase: Equatable, Sendable {
    public var id: String
    public var image: URL
    public var label: URL?
    public var modality: Modality
    /// Classes not annotated in this case (AMOS MRI: 14 and 15), undefined in its metrics.
    public var unannotated: [Int32]

    public init(id: String, image: URL, label: URL?, modality: Modality, unannotated: [Int32] = []) {
        self.id = id; self.image = image; self.label = label; self.modality = modality; self.unannotated = unannotated
    }
}

/// A layout's split into training, validation and test cases, and its classes.
public struct VolumeDataSet: Sendable {
    public var name: String
    /// Class names by label, background first.
    public var classes: [String]
    /// Stored label value → class index, for layouts that store other values (MMWHS); nil when they are the classes.
    public var labelValues: [Int32: Int32]?
    /// Named unions of classes scored as regions (BRATS: ET, TC, WT).
    public var regions: [(name: String, classes: [Int32])]
    public var training: [VolumeCase]
    public var validation: [VolumeCase]
    public var test: [VolumeCase]

    /// Reads one case: the image as stored (x fastest; a 4D file's channels on its last axis) and the label map as
    /// class indices. Errors name the file and the fix.
    public func load(_ c: VolumeCase) throws -> (image: Volume, label: [Int32]?) {
        let image = try NIfTI.read(c.image)
        guard let labelURL = c.label else { return (image, nil) }
        let label = try NIfTI.read(labelURL)
        guard Array(image.shape.prefix(3)) == Array(label.shape.prefix(3)), label.shape.dropFirst(3).allSatisfy({ $0 == 1 }) else {
            throw DataError.volumeMismatch(image: c.image.path, label: labelURL.path,
                                           reason: "image shape \(image.shape), label shape \(label.shape)")
        }
        if let worst = image.affineMismatch(label) {
            throw DataError.volumeMismatch(image: c.image.path, label: labelURL.path,
                                           reason: "their voxel-to-world affines differ by up to \(worst) mm")
        }
        let allowed = { (labelValues.map { $0.keys.sorted().map(String.init) } ?? classes.indices.map(String.init)).joined(separator: ", ") }
        let stored: [Int32]
        switch label.integerLabels() {
        case .success(let l): stored = l
        case .failure(let bad): throw DataError.unexpectedLabel(path: labelURL.path, value: Double(bad.value), allowed: allowed())
        }
        var out = [Int32](repeating: 0, count: stored.count)
        for (i, v) in stored.enumerated() {
            guard let m = labelValues == nil ? (v >= 0 && Int(v) < classes.count ? v : nil) : labelValues![v] else {
                throw DataError.unexpectedLabel(path: labelURL.path, value: Double(v), allowed: allowed())
            }
            out[i] = m
        }
        return (image, out)
    }
}

public enum VolumeLayouts {
    /// The Decathlon json at `json`; `name` for messages and reports.
    public static func decathlon(json: URL, name: String? = nil) throws -> VolumeDataSet {
        let base = json.deletingLastPathComponent()
        let data: Foundation.Data
        do { data = try Foundation.Data(contentsOf: json) } catch {
            throw DataError.missingFile(path: json.path, expected: "the data set's Decathlon json (e.g. dataset_0.json)")
        }
        guard let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DataError.badDatasetList(path: json.path, reason: "not a JSON object")
        }
        var classes = ["background"]
        if let labels = doc["labels"] as? [String: Any] {
            let byIndex = labels.compactMap { k, v in Int(k).map { ($0, "\(v)") } }.sorted { $0.0 < $1.0 }
            guard byIndex.map(\.0) == Array(0..<byIndex.count) else {
                throw DataError.badDatasetList(path: json.path, reason: "its labels are not numbered 0, 1, 2, ...")
            }
            classes = byIndex.map(\.1)
        }
        let modality: Modality = ((doc["modality"] as? [String: Any])?["0"] as? String)?.uppercased() == "CT" ? .ct : .mri
        func list(_ key: String, labelled: Bool) throws -> [VolumeCase] {
            guard let entries = doc[key] as? [Any] else { return [] }
            return try entries.enumerated().map { i, e in
                let imagePath: String, labelPath: String?
                if let s = e as? String { imagePath = s; labelPath = nil }
                else if let d = e as? [String: Any], let img = d["image"] as? String { imagePath = img; labelPath = d["label"] as? String }
                else { throw DataError.badDatasetList(path: json.path, reason: "entry \(i) of \(key) has no image path") }
                let image = base.appendingPathComponent(imagePath)
                let label = labelPath.map { base.appendingPathComponent($0) }
                for (url, what) in [(image, "image")] + (label.map { [($0, "label")] } ?? []) where !FileManager.default.fileExists(atPath: url.path) {
                    throw DataError.missingFile(path: url.path, expected: "the \(what) of entry \(i) of \(key) in \(json.path)")
                }
                if labelled && label == nil {
                    throw DataError.badDatasetList(path: json.path, reason: "entry \(i) of \(key) has no label")
                }
                return VolumeCase(id: NIfTI.stem(image.lastPathComponent), image: image, label: label, modality: modality)
            }
        }
        return VolumeDataSet(name: name ?? (doc["name"] as? String) ?? json.deletingPathExtension().lastPathComponent,
                             classes: classes, labelValues: nil, regions: [],
                             training: try list("training", labelled: true), validation: try list("validation", labelled: true),
                             test: try list("test", labelled: false))
    }

    /// AMOS 2022's 15 organs, in its dataset.json order.
    public static let amosClasses = ["background", "spleen", "right kidney", "left kidney", "gall bladder", "esophagus", "liver",
                                     "stomach", "aorta", "postcava", "pancreas", "right adrenal gland", "left adrenal gland",
                                     "duodenum", "bladder", "prostate/uterus"]

    public static func amos(root: URL) throws -> VolumeDataSet {
        func split(_ images: String, _ labels: String?) throws -> [VolumeCase] {
            let dir = root.appendingPathComponent(images)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
                if labels == nil { return [] }   // imagesTs is optional
                throw DataError.missingFolder(path: dir.path, expected: "AMOS's \(images) folder (AMOS 2022 layout: imagesTr, labelsTr, imagesVa, labelsVa)")
            }
            return try names.filter(NIfTI.isNIfTI).sorted().map { name in
                let stem = NIfTI.stem(name)
                guard let number = Int(stem.split(separator: "_").last ?? "") else {
                    throw DataError.badDatasetList(path: dir.appendingPathComponent(name).path, reason: "AMOS names its cases amos_NNNN")
                }
                let label = labels.map { root.appendingPathComponent($0).appendingPathComponent(name) }
                if let l = label, !FileManager.default.fileExists(atPath: l.path) {
                    throw DataError.missingFile(path: l.path, expected: "the label of \(dir.appendingPathComponent(name).path)")
                }
                let mri = number > 500
                return VolumeCase(id: stem, image: dir.appendingPathComponent(name), label: label, modality: mri ? .mri : .ct,
                                  unannotated: mri ? [14, 15] : [])
            }
        }
        return VolumeDataSet(name: "AMOS", classes: amosClasses, labelValues: nil, regions: [],
                             training: try split("imagesTr", "labelsTr"), validation: try split("imagesVa", "labelsVa"),
                             test: try split("imagesTs", nil))
    }

    /// MMWHS's seven substructures and the label values that store them.
    public static let mmwhsClasses = ["background", "left ventricle myocardium", "left atrium blood cavity",
                                      "left ventricle blood cavity", "right atrium blood cavity", "right ventricle blood cavity",
                                      "ascending aorta", "pulmonary artery"]
    public static let mmwhsLabelValues: [Int32: Int32] = [0: 0, 205: 1, 420: 2, 500: 3, 550: 4, 600: 5, 820: 6, 850: 7]

    /// Every `<modality>_train_NNNN_image.nii.gz` in `root` with its `_label` file, as training cases (the suite
    /// splits them by seed).
    public static func mmwhs(root: URL) throws -> VolumeDataSet {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else {
            throw DataError.missingFolder(path: root.path, expected: "the MMWHS folder with mr_train_10xx_image.nii.gz files")
        }
        let cases = try names.filter { NIfTI.isNIfTI($0) && NIfTI.stem($0).hasSuffix("_image") }.sorted().map { name -> VolumeCase in
            let stem = String(NIfTI.stem(name).dropLast("_image".count))
            let label = root.appendingPathComponent(name.replacingOccurrences(of: "_image", with: "_label"))
            guard FileManager.default.fileExists(atPath: label.path) else {
                throw DataError.missingFile(path: label.path, expected: "the label of \(root.appendingPathComponent(name).path)")
            }
            return VolumeCase(id: stem, image: root.appendingPathComponent(name), label: label,
                              modality: stem.hasPrefix("ct") ? .ct : .mri)
        }
        guard !cases.isEmpty else { throw DataError.emptyFolder(path: root.path) }
        return VolumeDataSet(name: "MMWHS", classes: mmwhsClasses, labelValues: mmwhsLabelValues, regions: [],
                             training: cases, validation: [], test: [])
    }

    /// The Decathlon's Task01 (BRATS): its json, with the three evaluated regions.
    public static func brats(json: URL) throws -> VolumeDataSet {
        var set = try decathlon(json: json, name: "BRATS")
        if set.classes.count != 4 { set.classes = ["background", "edema", "non-enhancing tumor", "enhancing tumour"] }
        set.regions = [("ET", [3]), ("TC", [2, 3]), ("WT", [1, 2, 3])]
        return set
    }
}
