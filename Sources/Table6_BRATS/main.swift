// MOSMOS, Table 6 — brain tumour segmentation on BRATS (MSD Task01), Dice of TC, WT and ET, UNETR only.
//
// §5.2 tries MOSMOS on an out-of-domain task: its pre-training saw no brain tumour tags. The baseline row is UNETR
// trained from scratch. Deviations and the proxy: Papers/MOSMOS/Table6.md and Papers/MOSMOS/datasets.md.
import Suite
import MOSMOS

// §4.1 — 484 labelled four-modality volumes (FLAIR, T1w, T1gd, T2w) split 70/10/20; the proxy has 40/6/24.
let dataset = DatasetSpec("BRATS")

// Trained on the Decathlon's labels (1 oedema, 2 non-enhancing tumour, 3 enhancing tumour) with softmax, scored on
// the nested regions the table prints: tumour core TC = 2 ∪ 3, whole tumour WT = 1 ∪ 2 ∪ 3, enhancing ET = 3.
let table = MOSMOSTable(dataset: .brats, classes: ["background", "edema", "non-enhancing tumour", "enhancing tumour"],
                        regions: [.init(name: "TC", labels: [2, 3]), .init(name: "WT", labels: [1, 2, 3]), .init(name: "ET", labels: [3])])

let unetr = MOSMOSRows.random([.unetr]).map { m -> Method in
    var m = m
    m.row = RowSpec("UNETR (random init)", method: "Random", variant: Backbone.unetr.rawValue, id: "UNETR",
                    publishedMethod: "UNETR", publishedVariant: "", backbone: Backbone.unetr.published)
    return m
}
let rows = unetr.map(\.row) + [RowSpec("MOSMOS", method: "MOSMOS", variant: Backbone.unetr.rawValue, publishedVariant: "",
                                       backbone: Backbone.unetr.published)]

let spec = TableSpec(paper: "MOSMOS", table: "Table6", target: "Table6_BRATS",
                     title: "MOSMOS Table 6: brain tumour segmentation on BRATS (Dice %)",
                     page: "Papers/MOSMOS/Table6.md", rows: rows, datasets: [dataset], metrics: table.metrics(["Dice"]),
                     publishedVersion: "the text in ../shared/papers (Table 6, §5.2)", runCommand: "make table-6", audit: true)

TableMain.run(Experiment(spec: spec, methods: unetr, task: table.task,
                         recipe: { MOSMOSRecipe.recipe($0, $1, epochs: [.unetr: 40]) },
                         data: { try MOSMOSData.load($0, $1, $2, kind: .brats) }))
