import Foundation

/// A 2D image in channel-major (CHW) layout with values in [0, 1].
public struct Image2D: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [Float]

    public init(width: Int, height: Int, channels: Int, pixels: [Float]) {
        precondition(pixels.count == width * height * channels, "Image2D: \(pixels.count) pixels for \(channels)×\(height)×\(width)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The pixels of one channel, row-major.
    public func plane(_ channel: Int) -> ArraySlice<Float> {
        let n = width * height
        return pixels[(channel * n)..<((channel + 1) * n)]
    }
}

/// One image with its binary mask (H*W values, 0 or 1) and its text annotation.
public struct SegSample: Equatable, Sendable {
    public var id: String
    public var patient: String
    public var image: Image2D
    public var mask: [UInt8]
    public var text: String

    public init(id: String, patient: String, image: Image2D, mask: [UInt8], text: String) {
        precondition(mask.count == image.width * image.height, "SegSample \(id): mask has \(mask.count) values for \(image.height)×\(image.width)")
        self.id = id
        self.patient = patient
        self.image = image
        self.mask = mask
        self.text = text
    }
}

/// A data set split three ways. `source` is "proxy:<name>:seed=<s>" for a generated set, or the folder it was read from.
public struct SegDataset: Sendable {
    public var name: String
    public var train: [SegSample]
    public var val: [SegSample]
    public var test: [SegSample]
    public var source: String

    public init(name: String, train: [SegSample], val: [SegSample], test: [SegSample], source: String) {
        self.name = name
        self.train = train
        self.val = val
        self.test = test
        self.source = source
    }

    public var all: [SegSample] { train + val + test }
}

/// Everything that can go wrong while reading or writing a data set. Each message names the file and what to do.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFolder(path: String, expected: String)
    case emptyFolder(path: String)
    case missingTextTable(folder: String)
    case unreadablePNG(path: String, reason: String)
    case unsupportedImageFormat(path: String)
    case sizeMismatch(image: String, imageSize: String, mask: String, maskSize: String)
    case maskWithoutImage(mask: String, tried: [String])
    case imageWithoutMask(image: String)
    case imageWithoutText(image: String, table: String, tried: [String])
    case textRowWithoutImage(table: String, row: Int, key: String)
    case duplicateTextRow(table: String, key: String, rows: [Int])
    case badTextTable(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case missingFile(path: String, expected: String)
    case badDatasetList(path: String, reason: String)
    case volumeMismatch(image: String, label: String, reason: String)
    case unexpectedLabel(path: String, value: Double, allowed: String)

    public var description: String {
        switch self {
        case let .missingFolder(path, expected):
            return "Missing folder \(path). Expected \(expected); create it or point the loader at the data set's root "
                + "(the folder that holds Train_Folder, Val_Folder and Test_Folder)."
        case let .emptyFolder(path):
            return "Folder \(path) holds no PNG files. Put the split's images/masks there, or remove the split folder."
        case let .missingTextTable(folder):
            return "No text table in \(folder). Add <Split>_text.xlsx (first sheet, columns Image and Description) "
                + "or <Split>_text.csv with the header Image,Description."
        case let .unreadablePNG(path, reason):
            return "Cannot read PNG \(path): \(reason). Re-export the file as PNG (8- or 16-bit) or remove it and its pair."
        case let .unsupportedImageFormat(path):
            return "Unsupported image format: \(path). Only PNG is read; convert it, e.g. `convert in.tif out.png`, "
                + "keeping the stem so that it still pairs with its mask and text."
        case let .sizeMismatch(image, imageSize, mask, maskSize):
            return "Image \(image) is \(imageSize) but its mask \(mask) is \(maskSize). Re-export one of them at the other's "
                + "size; image and mask must cover the same pixels before resizing."
        case let .maskWithoutImage(mask, tried):
            return "Mask \(mask) has no image; looked for \(tried.joined(separator: ", ")) in img/. Add the image or "
                + "remove the mask."
        case let .imageWithoutMask(image):
            return "Image \(image) has no mask in labelcol/ (tried the same name and mask_<name>). Add the mask or "
                + "remove the image."
        case let .imageWithoutText(image, table, tried):
            return "Image \(image) has no row in \(table); looked for Image = \(tried.joined(separator: " or ")). Add a "
                + "row with its Description."
        case let .textRowWithoutImage(table, row, key):
            return "Row \(row) of \(table) names \(key), which matches no image or mask in this split. Remove the row, "
                + "fix the name, or load with strictText: false (LViT ships one table for several splits)."
        case let .duplicateTextRow(table, key, rows):
            return "\(table) lists \(key) more than once (rows \(rows.map(String.init).joined(separator: ", "))). "
                + "Keep one row per image."
        case let .badTextTable(path, reason):
            return "Cannot read text table \(path): \(reason). Save it again as .xlsx or as CSV with the header "
                + "Image,Description."
        case let .writeFailed(path, reason):
            return "Cannot write \(path): \(reason). Check that the folder exists and is writable."
        case let .missingFile(path, expected):
            return "Missing file \(path), \(expected). Restore it, or remove its entry from the data set's list."
        case let .badDatasetList(path, reason):
            return "Cannot use the data set list \(path): \(reason). Fix the file (the Decathlon format: training, "
                + "validation and test lists of {\"image\", \"label\"} paths relative to the json's folder)."
        case let .volumeMismatch(image, label, reason):
            return "Image \(image) and its label \(label) do not cover the same voxels: \(reason). Resample the label onto "
                + "the image's grid (nearest neighbour) and save it with the image's header."
        case let .unexpectedLabel(path, value, allowed):
            return "Label volume \(path) holds the value \(value), but the data set declares only \(allowed). Check that it "
                + "is this data set's label file, or map the value to a declared class."
        }
    }
}
