// TMC, Fig. 3 — "The visual superiority of the proposed method on QaTa-COV19, MosMedData and Duke-breast datasets.
// The proposed method shows high-quality segmentation, compared with state-of-the-art methods."
//
// §4.4, qualitative analysis: "traditional segmentation methods such as U-Net often misjudge the location of the
// target regions, while vision language methods like LViT and CLIP inaccurately determine the boundaries."
// The figure's drawing is not in our copy of the paper, and the text does not say which images it shows. Here every
// Table 1 method is drawn on the same test images, with its Dice on each, so that the claim can be read off both
// the pictures and the numbers. Nothing is trained: the figure reloads Table 1's runs (Papers/TMC/Fig3.md).
import Foundation
import Suite
import TMC
import Data

// §4.1 — the three data sets of Table 1, as Table1_TMC names them in the store.
let datasets = [DatasetSpec("QaTa-COV19"), DatasetSpec("MosMedData"), DatasetSpec("Duke-Breast")]

var spec = FigureSpec(paper: "TMC", table: TMCMethods.comparisonTable, target: "Fig3_Qualitative", title: "TMC Fig. 3: qualitative comparison on the three data sets",
                      page: "Papers/TMC/Fig3.md", source: "§4.4, Fig. 3",
                      caption: "The visual superiority of the proposed method on QaTa-COV19, MosMedData and Duke-breast datasets. "
                        + "The proposed method shows high-quality segmentation, compared with state-of-the-art methods",
                      methods: TMCMethods.table1, datasets: datasets, runCommand: "make table-1", tableTarget: "Table1_TMC",
                      task: .binaryLViT)

/// A test image and, per method (row id), its output.
struct Shown {
    let sample: SegSample
    var outputs: [String: CaseOutput]
}

// Table 1's runs under its one protocol only (Papers/TMC/Table1.md, "One protocol").
spec.protocols = TMCMethods.protocols

FigureMain.run(spec) { session in
    // Collect first, so that a method with no run anywhere loses its column instead of showing only grey cells.
    var groups: [(dataset: DatasetSpec, factor: Int, rows: [Shown])] = []
    for ds in session.datasets {
        let test = try session.dataset(ds.id).test
        var rows = try session.cases(ds.id).map { Shown(sample: test[$0], outputs: [:]) }
        for m in session.methods {
            guard let outs = session.outputs(m, dataset: ds.id) else { continue }
            for (r, o) in outs.enumerated() { rows[r].outputs[m.row.id] = o }
        }
        groups.append((ds, try session.cellFactor(ds.id), rows))
    }
    let methods = session.methods.filter { m in groups.contains { g in g.rows.contains { $0.outputs[m.row.id] != nil } } }

    // One cell size for the whole grid: the largest enlarged image (the data sets share a size at each scale).
    let cell = groups.map { g in (g.rows.first?.sample.image.width ?? 0) * g.factor }.max() ?? 128
    var number = 0
    let montage = Montage(columns: ["Image", "GT"] + methods.map { $0.row.method }, groups: groups.map { group in
        Montage.Group(label: group.dataset.display, rows: group.rows.map { row in
            number += 1
            let predictions: [Montage.Panel?] = methods.map { m in
                row.outputs[m.row.id].map {
                    Montage.Panel(FigureRaster.predictionPanel(row.sample, probabilities: $0.probabilities, factor: group.factor),
                                  badge: String(format: "%.1f", $0.dice))
                }
            }
            return [Montage.Panel(FigureRaster.imagePanel(row.sample, factor: group.factor), badge: "\(number)"),
                    Montage.Panel(FigureRaster.truthPanel(row.sample, factor: group.factor))] + predictions
        })
    }, cell: cell)

    // The Markdown under the figure: what each column is, then the Dice of every drawn prediction.
    var body = ["Columns, left to right: **image**; **GT**, the ground truth in green; then one column per method ("
                + methods.map(\.row.display).joined(separator: ", ")
                + "): its prediction (probability above 0.5, LViT's threshold) in red over the image, with the ground truth's "
                + "outline in green. The number in the corner of a prediction is its Dice (%); the number on an image is "
                + "the row number used below. Images are enlarged by whole pixels (nearest neighbour), so each square is one "
                + "model pixel.", "",
                "Rows: per data set, \(session.options.cases) test images spread evenly over the test images that contain "
                + "a lesion (the centres of \(session.options.cases) equal segments of that list, in the split's order). "
                + "The paper does not say how its images were chosen.", "",
                "## Dice (%) of each drawn prediction", ""]
    number = 0
    for group in groups {
        body += ["### \(group.dataset.display)", "",
                 "| # | Case | Text | " + methods.map(\.row.display).joined(separator: " | ") + " |",
                 "| --: | :-- | :-- |" + String(repeating: " --: |", count: methods.count)]
        for row in group.rows {
            number += 1
            let text = row.sample.text.replacingOccurrences(of: "|", with: "\\|")
            let cells = methods.map { m in row.outputs[m.row.id].map { String(format: "%.2f", $0.dice) } ?? "–" }
            body.append("| \(number) | `\(row.sample.id)` | \(text) | " + cells.joined(separator: " | ") + " |")
        }
        let means = methods.map { m -> String in
            let d = group.rows.compactMap { $0.outputs[m.row.id]?.dice }
            return d.isEmpty ? "–" : String(format: "%.2f", d.reduce(0, +) / Double(d.count))
        }
        body.append("| | **mean of these** | | " + means.joined(separator: " | ") + " |")
        let runs = methods.map { m -> String in
            let u = session.used.first { $0.method.row.id == m.row.id && $0.dataset == group.dataset.id }
            return u?.testDice.map { String(format: "%.2f", $0) } ?? "–"
        }
        body += ["| | **whole test split** (Table 1) | | " + runs.joined(separator: " | ") + " |", ""]
    }
    return FigureDrawing(montage: montage, body: body)
}
