import Foundation

// LViT's folder layout: <root>/{Train_Folder,Val_Folder,Test_Folder}/{img,labelcol} plus a text table per split.
// Pairing, text lookup and every failure are checked on file names before any pixel is decoded, so a broken folder
// fails fast and names the file to fix.

/// How a sample's patient is found from its file name.
public enum PatientRule: String, Sendable {
    /// Each image is its own patient (QaTa-COV19 and MosMedData+ release no patient identifiers).
    case perImage
    /// `<patient>_<slice>.png`: the patient is the stem before the last underscore (our Duke-Breast assumption).
    case prefixBeforeLastUnderscore

    /// The default for a data set name: "duke" in the name means slices named by patient.
    public static func defaultRule(forDataset name: String) -> PatientRule {
        name.lowercased().contains("duke") ? .prefixBeforeLastUnderscore : .perImage
    }

    public func patient(forStem stem: String) -> String {
        switch self {
        case .perImage: return stem
        case .prefixBeforeLastUnderscore:
            guard let cut = stem.lastIndex(of: "_"), cut != stem.startIndex else { return stem }
            return String(stem[..<cut])
        }
    }
}

/// The three split folders of LViT's layout, in the order of `SegDataset`'s fields.
public let lvitSplitFolders = ["Train_Folder", "Val_Folder", "Test_Folder"]

/// Loads a data set in LViT's layout, resized to `size` × `size` as LViT's loader does (224 in the papers).
/// - Parameters:
///   - channels: 1 (grey; colour converted with OpenCV's weights) or 3 (grey replicated, as `cv2.imread` gives).
///   - maskResize: `.lvit` copies LViT's bilinear-then-threshold mask resizing; `.nearest` is the alternative.
///   - patientRule: nil picks `PatientRule.defaultRule(forDataset: name)`.
///   - strictText: when false, text rows that match no image of the split are ignored instead of rejected.
public func loadLViTDataset(root: URL, name: String, size: Int, channels: Int = 1, maskResize: MaskResize = .lvit,
                            patientRule: PatientRule? = nil, strictText: Bool = true) throws -> SegDataset {
    precondition(size > 0, "loadLViTDataset: size must be positive")
    precondition(channels == 1 || channels == 3, "loadLViTDataset: channels must be 1 or 3")
    guard isDirectory(root) else {
        throw DataError.missingFolder(path: root.path, expected: "the data set root with \(lvitSplitFolders.joined(separator: ", "))")
    }
    let rule = patientRule ?? PatientRule.defaultRule(forDataset: name)
    let splits = try lvitSplitFolders.map { folder in
        try loadLViTSplit(folder: root.appendingPathComponent(folder), size: size, channels: channels,
                          maskResize: maskResize, patientRule: rule, strictText: strictText)
    }
    return SegDataset(name: name, train: splits[0], val: splits[1], test: splits[2], source: root.standardizedFileURL.path)
}

/// Loads one split folder (`img/`, `labelcol/`, `*_text.xlsx` or `*_text.csv`).
public func loadLViTSplit(folder: URL, size: Int, channels: Int = 1, maskResize: MaskResize = .lvit,
                          patientRule: PatientRule = .perImage, strictText: Bool = true) throws -> [SegSample] {
    let plan = try planSplit(folder: folder, strictText: strictText)
    // Decoding dominates on real data (thousands of PNGs), so pairs are read in parallel; the first failure in
    // file order is reported, whatever the thread timing.
    var results = [Result<SegSample, Error>?](repeating: nil, count: plan.count)
    results.withUnsafeMutableBufferPointer { out in
        let base = out.baseAddress!
        DispatchQueue.concurrentPerform(iterations: plan.count) { i in
            base[i] = Result {
                let pair = plan[i]
                let sample = try readPair(pair, size: size, channels: channels, maskResize: maskResize)
                let stem = (pair.image.lastPathComponent as NSString).deletingPathExtension
                return SegSample(id: stem, patient: patientRule.patient(forStem: stem), image: sample.image,
                                 mask: sample.mask, text: pair.text)
            }
        }
    }
    return try results.map { try $0!.get() }
}

/// An image, its mask and its text, matched by name but not yet decoded.
struct PairPlan {
    var image: URL
    var mask: URL
    var text: String
}

private func isDirectory(_ url: URL) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
}

private func listFiles(_ folder: URL) throws -> [String] {
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
    return names.filter { !$0.hasPrefix(".") && !isDirectory(folder.appendingPathComponent($0)) }.sorted()
}

private func stem(_ name: String) -> String { (name as NSString).deletingPathExtension }

private func withoutMaskPrefix(_ name: String) -> String {
    name.hasPrefix("mask_") ? String(name.dropFirst(5)) : name
}

/// The split's text table: an .xlsx wins over a .csv (LViT reads the xlsx); among several, the one named after
/// the split folder (Train_text.xlsx in Train_Folder).
private func findTextTable(_ folder: URL, files: [String]) -> URL? {
    let prefix = folder.lastPathComponent.components(separatedBy: "_").first ?? ""
    for ext in ["xlsx", "csv"] {
        let tables = files.filter { $0.lowercased().hasSuffix("_text.\(ext)") }
        if let named = tables.first(where: { $0.hasPrefix(prefix + "_") }) ?? tables.first {
            return folder.appendingPathComponent(named)
        }
    }
    return nil
}

func planSplit(folder: URL, strictText: Bool) throws -> [PairPlan] {
    guard isDirectory(folder) else {
        throw DataError.missingFolder(path: folder.path, expected: "a split folder with img/, labelcol/ and a *_text.xlsx or *_text.csv table")
    }
    let imgDir = folder.appendingPathComponent("img"), maskDir = folder.appendingPathComponent("labelcol")
    for dir in [imgDir, maskDir] where !isDirectory(dir) {
        throw DataError.missingFolder(path: dir.path, expected: dir.lastPathComponent == "img" ? "the split's images" : "the split's masks")
    }
    guard let tableURL = findTextTable(folder, files: try listFiles(folder)) else {
        throw DataError.missingTextTable(folder: folder.path)
    }
    let images = try listFiles(imgDir), masks = try listFiles(maskDir)
    guard !images.isEmpty else { throw DataError.emptyFolder(path: imgDir.path) }
    guard !masks.isEmpty else { throw DataError.emptyFolder(path: maskDir.path) }

    let pairs = try pairMasksWithImages(masks: masks, images: images, imgDir: imgDir, maskDir: maskDir)
    let rows = try readTextTable(tableURL)
    let byKey = try indexRows(rows, table: tableURL)
    var usedKeys = Set<String>()
    let plans = try pairs.map { (maskName, imageName) -> PairPlan in
        let tried = textKeys(mask: maskName, image: imageName)
        guard let key = tried.first(where: { byKey[$0] != nil }), let row = byKey[key], !row.description.isEmpty else {
            throw DataError.imageWithoutText(image: imgDir.appendingPathComponent(imageName).path, table: tableURL.path, tried: tried)
        }
        usedKeys.insert(key)
        return PairPlan(image: imgDir.appendingPathComponent(imageName), mask: maskDir.appendingPathComponent(maskName),
                        text: row.description)
    }
    if strictText, let orphan = rows.first(where: { !usedKeys.contains($0.image) }) {
        throw DataError.textRowWithoutImage(table: tableURL.path, row: orphan.row, key: orphan.image)
    }
    return plans
}

/// Matches each mask to an image: same name, then without or with the `mask_` prefix (QaTa-COV19), then the same
/// stem with another extension (MoNuSeg's .tif images).
private func pairMasksWithImages(masks: [String], images: [String], imgDir: URL, maskDir: URL) throws -> [(String, String)] {
    let imageSet = Set(images)
    var byStem: [String: String] = [:]
    for name in images where byStem[stem(name)] == nil { byStem[stem(name)] = name }
    var used = Set<String>()
    var pairs: [(String, String)] = []
    for mask in masks {
        let names = [mask, withoutMaskPrefix(mask), "mask_" + mask]
        let stems = names.map(stem)
        guard let image = names.first(where: { imageSet.contains($0) }) ?? stems.lazy.compactMap({ byStem[$0] }).first else {
            throw DataError.maskWithoutImage(mask: maskDir.appendingPathComponent(mask).path,
                                             tried: names + stems.map { $0 + ".*" })
        }
        used.insert(image)
        pairs.append((mask, image))
    }
    if let lonely = images.first(where: { !used.contains($0) }) {
        throw DataError.imageWithoutMask(image: imgDir.appendingPathComponent(lonely).path)
    }
    return pairs.sorted { $0.1 < $1.1 }
}

private func indexRows(_ rows: [TextRow], table: URL) throws -> [String: TextRow] {
    var byKey: [String: TextRow] = [:]
    for row in rows {
        if let first = byKey[row.image] {
            let all = rows.filter { $0.image == row.image }.map(\.row)
            throw DataError.duplicateTextRow(table: table.path, key: first.image, rows: all)
        }
        byKey[row.image] = row
    }
    return byKey
}

/// Keys under which a pair's text may be filed: the mask's name (QaTa-COV19), the image's (MosMedData+), either
/// with or without `mask_`, then the same without extension.
private func textKeys(mask: String, image: String) -> [String] {
    var keys: [String] = []
    for k in [mask, image, withoutMaskPrefix(mask), "mask_" + image] where !keys.contains(k) { keys.append(k) }
    for k in keys.map(stem) where !keys.contains(k) { keys.append(k) }
    return keys
}

private func readPair(_ pair: PairPlan, size: Int, channels: Int, maskResize: MaskResize) throws -> (image: Image2D, mask: [UInt8]) {
    for url in [pair.image, pair.mask] where url.pathExtension.lowercased() != "png" {
        throw DataError.unsupportedImageFormat(path: url.path)
    }
    let image = try readPNG(pair.image)
    let mask = try readMaskPNG(pair.mask)
    guard image.width == mask.width && image.height == mask.height else {
        throw DataError.sizeMismatch(image: pair.image.path, imageSize: "\(image.width)×\(image.height)",
                                     mask: pair.mask.path, maskSize: "\(mask.width)×\(mask.height)")
    }
    let resized = convertChannels(resizeBilinear(image, width: size, height: size), to: channels)
    return (resized, resizeMask(mask, width: size, height: size, mode: maskResize))
}

/// Which text table format `exportLViTDataset` writes.
public enum TextTableFormat: String, Sendable { case xlsx, csv }

/// Writes a data set in LViT's layout (8-bit PNGs, masks as 0/255, one text table per split), so that LViT's own
/// code, or `loadLViTDataset`, can read it. Masks are named `<maskPrefix><id>.png` and the text is keyed by the
/// mask's name, the QaTa-COV19 convention; with an empty prefix image, mask and key share one name.
public func exportLViTDataset(_ dataset: SegDataset, to root: URL, format: TextTableFormat = .xlsx,
                              maskPrefix: String = "mask_") throws {
    let fm = FileManager.default
    for (folder, samples) in zip(lvitSplitFolders, [dataset.train, dataset.val, dataset.test]) {
        let dir = root.appendingPathComponent(folder)
        do {
            try fm.createDirectory(at: dir.appendingPathComponent("img"), withIntermediateDirectories: true)
            try fm.createDirectory(at: dir.appendingPathComponent("labelcol"), withIntermediateDirectories: true)
        } catch {
            throw DataError.writeFailed(path: dir.path, reason: error.localizedDescription)
        }
        var rows: [(image: String, description: String)] = []
        for s in samples {
            let maskName = maskPrefix + s.id + ".png"
            try writePNG(s.image, to: dir.appendingPathComponent("img/\(s.id).png"))
            try writeMaskPNG(s.mask, width: s.image.width, height: s.image.height, to: dir.appendingPathComponent("labelcol/\(maskName)"))
            rows.append((maskName, s.text))
        }
        let split = folder.components(separatedBy: "_")[0]
        try writeTextTable(rows, to: dir.appendingPathComponent("\(split)_text.\(format.rawValue)"))
    }
}
