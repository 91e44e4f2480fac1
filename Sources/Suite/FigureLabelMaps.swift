import Foundation
import Data

/// The qualitative figure of a multi-class task, as multi-organ papers draw theirs (MOSMOS, UNETR): per case the
/// slice with the most labelled voxels (axial for RAS volumes), then the ground truth and each method's prediction
/// on that slice, organs in their class colours, each prediction badged with its Dice on the whole case (the mean
/// over the case's foreground classes, as the tables average). The legend names the classes.
public enum LabelMapFigure {
    public struct Column {
        public var name: String
        /// Per case, in the order of the cases; nil where the method has no run.
        public var predictions: [CasePrediction?]
        public init(name: String, predictions: [CasePrediction?]) { self.name = name; self.predictions = predictions }
    }

    /// One group of rows (a data set) of the montage.
    public static func group(_ label: String, cases: [LabeledImage], columns: [Column], task: SegmentationTask,
                             cell: Int) -> Montage.Group {
        Montage.Group(label: label, rows: cases.enumerated().map { i, c in
            let z = c.mostLabeledSlice
            let (image, truth) = c.slice(z)
            let shown = Image2D(width: image.width, height: image.height, channels: 1, pixels: FigureRaster.normalized(image.pixels))
            let f = max(1, cell / max(image.width, image.height))
            func panel(_ labels: [Int32]) -> Image2D { square(FigureRaster.labelPanel(image: shown, labels: labels, factor: f), cell) }
            let title = c.shape.count == 3 ? "\(c.id) z=\(z)" : c.id
            var row: [Montage.Panel?] = [Montage.Panel(square(FigureRaster.enlarged(FigureRaster.rgb(shown), by: f), cell), badge: title),
                                         Montage.Panel(panel(truth))]
            for column in columns {
                guard let p = column.predictions[i], case .labels(let labels) = p else { row.append(nil); continue }
                let dice = TaskEvaluation.score([p], [c], task: task, distances: false).first { $0.metric == "Dice" }?.value
                row.append(Montage.Panel(panel(Array(c.plane(labels, z))), badge: dice.map { String(format: "%.1f", $0) } ?? "–"))
            }
            return row
        })
    }

    /// The whole figure: image, ground truth, then one column per method; class colours in the footer.
    public static func montage(groups: [(label: String, cases: [LabeledImage], columns: [Column])], task: SegmentationTask) -> Montage {
        let names = groups.first?.columns.map(\.name) ?? []
        precondition(groups.allSatisfy { $0.columns.map(\.name) == names }, "LabelMapFigure: every group needs the same columns")
        let side = groups.flatMap(\.cases).map { max($0.shape[$0.shape.count - 1], $0.shape[$0.shape.count - 2]) }.max() ?? 64
        let cell = side * FigureRaster.enlargement(for: side)
        let legend = (1..<task.classes.count).map { (FigureRaster.classColor(Int32($0)), task.classes[$0]) }
        return Montage(columns: ["Image", "GT"] + names,
                       groups: groups.map { group($0.label, cases: $0.cases, columns: $0.columns, task: task, cell: cell) },
                       cell: cell, footer: Montage.Footer(legend: legend))
    }

    /// Centres a panel on a black square of side `cell` (slices need not be square).
    static func square(_ panel: Image2D, _ cell: Int) -> Image2D {
        if panel.width == cell && panel.height == cell { return panel }
        let n = cell * cell, m = panel.width * panel.height
        let (dx, dy) = ((cell - panel.width) / 2, (cell - panel.height) / 2)
        var px = [Float](repeating: 0, count: 3 * n)
        for ch in 0..<3 {
            for y in 0..<min(panel.height, cell) {
                for x in 0..<min(panel.width, cell) { px[ch * n + (y + dy) * cell + x + dx] = panel.pixels[ch * m + y * panel.width + x] }
            }
        }
        return Image2D(width: cell, height: cell, channels: 3, pixels: px)
    }
}
