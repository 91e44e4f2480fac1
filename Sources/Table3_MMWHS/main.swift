// MOSMOS, Table 3 — cardiac substructure segmentation on MMWHS (MRI), Dice and HD95 per substructure.
//
// §4.3.2 fine-tunes the same pre-trainings on MM-WHS's 20 labelled MRI volumes with the same two backbones.
// Deviations and the proxy: Papers/MOSMOS/Table3.md and Papers/MOSMOS/datasets.md.
import Suite
import MOSMOS

// §4.1 — 20 labelled MRI volumes split 70/10/20 (14/2/4); the proxy keeps 14/2 and tests on 12.
let dataset = DatasetSpec("MMWHS")

// Table 3's columns in MM-WHS's label order (205, 420, 500, 550, 600, 820, 850): myocardium, left atrium, left
// ventricle, right atrium, right ventricle, ascending aorta, pulmonary artery. HD95 in mm on each case's grid.
let table = MOSMOSTable(dataset: .mmwhs, classes: ["background", "Myo", "LA", "LV", "RA", "RV", "AA", "PA"], distances: true)

let methods = MOSMOSRows.random()

// Read off the table: from scratch, UNETR beats the U-Net on MMWHS in Dice (85.52 vs 81.07) and HD95 (4.57 vs 5.55).
let claims = [
    Claim.sameWinner(id: "unetr-beats-unet-from-scratch-dice", text: "From scratch, UNETR beats the U-Net on MMWHS (Dice)",
                     source: "Table 3 (Random rows)", rows: methods.map(\.row.id), dataset: dataset.id, metric: "Dice"),
    Claim.sameWinner(id: "unetr-beats-unet-from-scratch-hd95", text: "From scratch, UNETR beats the U-Net on MMWHS (HD95)",
                     source: "Table 3 (Random rows)", rows: methods.map(\.row.id), dataset: dataset.id, metric: "HD95"),
]

let spec = TableSpec(paper: "MOSMOS", table: "Table3", target: "Table3_MMWHS",
                     title: "MOSMOS Table 3: cardiac substructure segmentation on MMWHS (Dice %, HD95 mm)",
                     page: "Papers/MOSMOS/Table3.md", rows: MOSMOSRows.all(), datasets: [dataset],
                     metrics: table.metrics(["Dice", "HD95"]), claims: claims,
                     publishedVersion: "the text in ../shared/papers (Table 3 and §4.3.2)", runCommand: "make table-3",
                     audit: true)

TableMain.run(Experiment(spec: spec, methods: methods, task: table.task,
                         recipe: { MOSMOSRecipe.recipe($0, $1, epochs: [.unetr: 90, .unet: 16]) },
                         data: { try MOSMOSData.load($0, $1, $2, kind: .mmwhs) }))
