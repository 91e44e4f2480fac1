// TMC, Fig. 4 — "The heatmap demonstrates the strong capability of our TMC in capturing the lesion regions."
//
// §4.6, interpretability analysis: "the TMC model can more accurately locate the lesion regions. It also shows
// better clarity in identifying the boundaries of these regions." The paper says neither which models nor which
// maps it draws (the figure's drawing is not in our copy). We draw two kinds of map for TMC and two text-guided
// baselines of Table 1 (LViT and CLIP, the ones §4.4 names):
// - the probability map, σ(logits), for every method: what the prediction is made of;
// - the text attention, where the model has one: TMC's MCM at each of its four stages (`mcm.i.heat`, each word's
//   attention over the image averaged over the words, model.md §2) and the CLIP row's bottleneck cross-attention
//   read the same way (FigureMaps.positionsPerWord). LViT returns no attention map.
// Beside each map the page prints how strongly it concentrates on the lesion, so that "more accurately locate the
// lesion regions" is a number and not only a look. Nothing is trained (Papers/TMC/Fig4.md).
import Foundation
import Suite
import TMC
import Data

let datasets = [DatasetSpec("QaTa-COV19"), DatasetSpec("MosMedData"), DatasetSpec("Duke-Breast")]
let clip = TMCMethods.vlp(.clip)

/// One column of the figure: a label, the method it reads (nil for the image) and how it turns an output into a map.
struct Column {
    let label: String
    let method: Method?
    let meaning: String
    /// Probabilities are per pixel and drawn as they are; attention maps live on a coarser token grid, are resized
    /// bilinearly to the image and min-max scaled per map for display.
    let isProbability: Bool
    let map: ((CaseOutput) -> HeatMap?)?
}

func probability(_ o: CaseOutput) -> HeatMap? {
    HeatMap(values: o.probabilities, width: o.sample.image.width, height: o.sample.image.height)
}

let columns: [Column] = [
    Column(label: "IMAGE", method: nil, meaning: "the test image; the ground truth's outline in white (on every panel)",
           isProbability: false, map: nil),
    Column(label: "LVIT P", method: TMCMethods.lvit, meaning: "LViT's probability map σ(logits)", isProbability: true, map: probability),
    Column(label: "CLIP P", method: clip, meaning: "the CLIP row's probability map σ(logits)", isProbability: true, map: probability),
    Column(label: "CLIP TEXT", method: clip,
           meaning: "the CLIP row's bottleneck text cross-attention: each real token's weights normalised over the "
             + "bottleneck positions, averaged over the tokens (its plain token mean is flat)",
           isProbability: false, map: { o in o.maps["bottleneck_text"].flatMap { FigureMaps.bottleneckWords($0, mask: o.textMask) } }),
    Column(label: "TMC P", method: TMCMethods.tmc, meaning: "TMC's probability map σ(logits)", isProbability: true, map: probability),
] + (1...4).map { i in
    Column(label: "TMC MCM \(i)", method: TMCMethods.tmc,
           meaning: "TMC's MCM text-to-image attention at Swin stage \(i) (`mcm.\(i).heat`: each real token's attention "
             + "over the stage's positions, averaged over the tokens)",
           isProbability: false, map: { o in o.maps["mcm.\(i).heat"].flatMap(FigureMaps.plane) })
}

var spec = FigureSpec(paper: "TMC", table: TMCMethods.comparisonTable, target: "Fig4_Heatmaps", title: "TMC Fig. 4: probability and text-attention heat maps",
                      page: "Papers/TMC/Fig4.md", source: "§4.6, Fig. 4",
                      caption: "The heatmap demonstrates the strong capability of our TMC in capturing the lesion regions.",
                      methods: [TMCMethods.lvit, clip, TMCMethods.tmc], datasets: datasets, runCommand: "make table-1", tableTarget: "Table1_TMC",
                      task: .binaryLViT)

let colormap = Colormap.jet

// Table 1's runs under its one protocol only (Papers/TMC/Table1.md, "One protocol").
spec.protocols = TMCMethods.protocols

FigureMain.run(spec) { session in
    var groups: [(dataset: DatasetSpec, factor: Int, samples: [SegSample], outputs: [String: [CaseOutput]])] = []
    for ds in session.datasets {
        let test = try session.dataset(ds.id).test
        var outputs: [String: [CaseOutput]] = [:]
        for m in session.methods { outputs[m.row.id] = session.outputs(m, dataset: ds.id) }
        groups.append((ds, try session.cellFactor(ds.id), try session.cases(ds.id).map { test[$0] }, outputs))
    }
    let shown = columns.filter { c in
        guard let m = c.method else { return true }
        return session.methods.contains { $0.row.id == m.row.id } && groups.contains { $0.outputs[m.row.id] != nil }
    }

    /// The map of column `c` for the r-th image of a group at the image's resolution, or nil.
    func heat(_ c: Column, _ group: Int, _ r: Int) -> HeatMap? {
        guard let m = c.method, let outs = groups[group].outputs[m.row.id], let map = c.map?(outs[r]) else { return nil }
        let s = groups[group].samples[r].image
        return map.resized(width: s.width, height: s.height)
    }

    let cell = groups.map { ($0.samples.first?.image.width ?? 0) * $0.factor }.max() ?? 128
    var concentration: [[[Double?]]] = []   // group → row → column
    var number = 0
    var montageGroups: [Montage.Group] = []
    for (g, group) in groups.enumerated() {
        var rows: [[Double?]] = []
        var panels: [[Montage.Panel?]] = []
        for (r, sample) in group.samples.enumerated() {
            number += 1
            var row: [Double?] = []
            var cells: [Montage.Panel?] = []
            for column in shown {
                guard column.method != nil else {
                    cells.append(Montage.Panel(FigureRaster.outlinedImagePanel(sample, factor: group.factor), badge: "\(number)"))
                    row.append(nil)
                    continue
                }
                guard let map = heat(column, g, r) else {
                    cells.append(nil)
                    row.append(nil)
                    continue
                }
                row.append(FigureMaps.concentration(map.values, mask: sample.mask))
                let display = column.isProbability
                    ? HeatMap(values: map.values, width: map.width, height: map.height)
                    : HeatMap(values: FigureRaster.normalized(map.values), width: map.width, height: map.height)
                // Probabilities are enlarged pixel by pixel; attention maps, already interpolated, smoothly.
                let panel = column.isProbability
                    ? HeatMap(values: FigureRaster.enlarged(Image2D(width: map.width, height: map.height, channels: 1, pixels: display.values), by: group.factor).pixels,
                              width: map.width * group.factor, height: map.height * group.factor)
                    : display.resized(width: map.width * group.factor, height: map.height * group.factor)
                cells.append(Montage.Panel(FigureRaster.heatPanel(sample, heat: panel, factor: group.factor, colormap: colormap)))
            }
            rows.append(row)
            panels.append(cells)
        }
        concentration.append(rows)
        montageGroups.append(Montage.Group(label: group.dataset.display, rows: panels))
    }
    let montage = Montage(columns: shown.map(\.label), groups: montageGroups, cell: cell,
                          footer: Montage.Footer(colorBar: (colormap, "0", "1")))

    // The Markdown under the figure.
    var body = ["| Column | Label in the image | What it shows |", "| --: | :-- | :-- |"]
    for (c, column) in shown.enumerated() { body.append("| \(c + 1) | `\(column.label)` | \(column.meaning) |") }
    body += ["",
             "Colour map: jet, from dark blue (0) through cyan, yellow to dark red (1), the bar under the grid; each map "
             + "is blended 60 : 40 over the image. Probability maps are drawn on their absolute scale (0 to 1) pixel by "
             + "pixel. Attention maps live on the model's token grid (TMC stage i: 1/(4·2^(i−1)) of the image side; the "
             + "CLIP row's bottleneck: 1/16), are resized bilinearly to the image and **min-max scaled per map** (a flat "
             + "map, such as TMC's 1 × 1 stage-4 grid at smoke scale, is drawn at 0), so their colours compare places "
             + "within a map, not maps with each other. The number on each image is the "
             + "row number used below.", "",
             "Rows: per data set, \(session.options.cases) test images spread evenly over the test images that contain "
             + "a lesion (the same images as Fig. 3).", "",
             "## How much each map concentrates on the lesion", "",
             "Share of the map's mass inside the ground truth divided by the ground truth's share of the image, on the "
             + "unscaled map at image resolution: 1 means no preference for the lesion, 2 means twice as dense on the lesion as "
             + "a uniform map. For a probability map this is a soft precision relative to chance.", ""]
    let mapColumns = shown.enumerated().filter { $0.element.method != nil }
    number = 0
    for (g, group) in groups.enumerated() {
        body += ["### \(group.dataset.display)", "",
                 "| # | Case | Lesion (% of image) | " + mapColumns.map { "`\($0.element.label)`" }.joined(separator: " | ") + " |",
                 "| --: | :-- | --: |" + String(repeating: " --: |", count: mapColumns.count)]
        for (r, sample) in group.samples.enumerated() {
            number += 1
            let lesion = 100 * Double(sample.mask.reduce(0) { $0 + Int($1) }) / Double(sample.mask.count)
            let cells = mapColumns.map { c in concentration[g][r][c.offset].map { String(format: "%.2f", $0) } ?? "–" }
            body.append("| \(number) | `\(sample.id)` | \(String(format: "%.1f", lesion)) | " + cells.joined(separator: " | ") + " |")
        }
        let means = mapColumns.map { c -> String in
            let v = concentration[g].compactMap { $0[c.offset] }
            return v.isEmpty ? "–" : String(format: "%.2f", v.reduce(0, +) / Double(v.count))
        }
        body += ["| | **mean** | | " + means.joined(separator: " | ") + " |", ""]
    }
    return FigureDrawing(montage: montage, body: body)
}
