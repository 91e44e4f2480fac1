import Foundation

/// One training or test case of any segmentation task: an image of rank 2 or 3 with any number of channels, its
/// integer label map (class indices, background 0) and the text that may accompany it.
///
/// The layout is the engine's: `pixels` is row-major [channels, spatial...] and `labels` row-major [spatial...],
/// the last axis varying fastest. That is the memory order of a NIfTI `Volume` [x, y, z, channels] read backwards,
/// so converting between the two reverses the shape and copies nothing element by element.
public struct LabeledImage: Equatable, Sendable {
    public var id: String
    /// Cases of one patient stay in one split; the id itself for data sets without patients.
    public var patient: String
    public var channels: Int
    /// Spatial size, row-major: [H, W] or [D, H, W].
    public var shape: [Int]
    /// Voxel size in mm along `shape`'s axes (1 where a format has none, as for PNG slices).
    public var spacing: [Double]
    public var pixels: [Float]
    public var labels: [Int32]
    public var text: String
    /// Classes this case was not annotated for (AMOS MRI: 14 and 15): undefined in its scores, whatever it shows.
    public var unannotated: [Int32] = []

    public init(id: String, patient: String? = nil, channels: Int, shape: [Int], spacing: [Double]? = nil,
                pixels: [Float], labels: [Int32], text: String = "") {
        let n = shape.reduce(1, *)
        precondition((2...3).contains(shape.count), "LabeledImage \(id): rank-2 or rank-3 spatial shape, got \(shape)")
        precondition(pixels.count == channels * n, "LabeledImage \(id): \(pixels.count) pixels for \(channels)×\(shape)")
        precondition(labels.count == n, "LabeledImage \(id): \(labels.count) labels for \(shape)")
        precondition(spacing.map { $0.count == shape.count } ?? true, "LabeledImage \(id): spacing \(spacing!) for \(shape)")
        self.id = id
        self.patient = patient ?? id
        self.channels = channels
        self.shape = shape
        self.spacing = spacing ?? shape.map { _ in 1 }
        self.pixels = pixels
        self.labels = labels
        self.text = text
    }

    /// A binary 2D sample as a two-class case (mask 1 → class 1).
    public init(_ s: SegSample) {
        self.init(id: s.id, patient: s.patient, channels: s.image.channels, shape: [s.image.height, s.image.width],
                  pixels: s.image.pixels, labels: s.mask.map { Int32($0) }, text: s.text)
    }

    /// A 3D case from its image volume (channels on the fourth axis) and label map on the image's grid.
    public init(id: String, image: Volume, labels: [Int32], text: String = "") {
        let channels = image.shape.count == 4 ? image.shape[3] : 1
        precondition(image.shape.count == 3 || image.shape.count == 4, "LabeledImage \(id): volume shape \(image.shape)")
        self.init(id: id, channels: channels, shape: image.rowMajorShape, spacing: image.rowMajorSpacing,
                  pixels: image.values, labels: labels, text: text)
    }

    public var voxels: Int { shape.reduce(1, *) }

    /// Slice `index` of the first axis of a 3D case (row-major [D, H, W], axial for RAS volumes), or the image of a
    /// 2D case (index 0): its first channel and its labels, for drawing.
    public func slice(_ index: Int) -> (image: Image2D, labels: [Int32]) {
        (Image2D(width: shape[shape.count - 1], height: shape[shape.count - 2], channels: 1, pixels: Array(plane(pixels, index))),
         Array(plane(labels, index)))
    }

    /// Slice `index` of any per-voxel array on this case's grid (the first channel's, for an image): its labels, a
    /// prediction's labels.
    public func plane<T>(_ values: [T], _ index: Int) -> ArraySlice<T> {
        let size = shape[shape.count - 2] * shape[shape.count - 1]
        precondition(shape.count == 3 ? (0..<shape[0]).contains(index) : index == 0,
                     "LabeledImage \(id): no slice \(index) in \(shape)")
        return values[(index * size)..<((index + 1) * size)]
    }

    /// The slice with the most labelled (non-background) voxels, the first of equals: what a qualitative figure
    /// shows of a volume. 0 for a 2D case.
    public var mostLabeledSlice: Int {
        guard shape.count == 3 else { return 0 }
        let counts = (0..<shape[0]).map { z in plane(labels, z).reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }
        return counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) } ?? 0
    }

    /// The image and label as volumes (x fastest), for the volume transforms; 3D cases only.
    public var volumes: (image: Volume, label: Volume) {
        precondition(shape.count == 3, "LabeledImage \(id): volumes of a \(shape.count)D case")
        let xyz = Array(shape.reversed()), mm = Array(spacing.reversed())
        let image = Volume(shape: channels == 1 ? xyz : xyz + [channels], values: pixels, spacing: mm)
        return (image, Volume(shape: xyz, values: labels.map(Float.init), spacing: mm))
    }

    /// The case rebuilt from transformed volumes (labels rounded back to class indices).
    public func replacing(image: Volume, label: Volume) -> LabeledImage {
        var out = LabeledImage(id: id, image: image, labels: label.values.map { Int32($0.rounded()) }, text: text)
        out.patient = patient
        out.unannotated = unannotated
        return out
    }
}

/// A task's data split three ways. `source` is "proxy:<name>:seed=<s>" for a generated set, or the folder it was
/// read from; `classes` names the labels, background first.
public struct LabeledSplits: Sendable {
    public var name: String
    public var classes: [String]
    public var train: [LabeledImage]
    public var val: [LabeledImage]
    public var test: [LabeledImage]
    public var source: String

    public init(name: String, classes: [String], train: [LabeledImage], val: [LabeledImage], test: [LabeledImage], source: String) {
        self.name = name; self.classes = classes; self.train = train; self.val = val; self.test = test; self.source = source
    }

    /// A binary 2D data set (LViT's layout, TMC's proxies) as a two-class task's data.
    public init(_ d: SegDataset, classes: [String] = ["background", "lesion"]) {
        self.init(name: d.name, classes: classes, train: d.train.map(LabeledImage.init), val: d.val.map(LabeledImage.init),
                  test: d.test.map(LabeledImage.init), source: d.source)
    }
}
