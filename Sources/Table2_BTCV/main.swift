// MOSMOS, Table 2 — abdominal multi-organ segmentation on BTCV, Dice per organ, two backbones.
//
// §4.3.1 fine-tunes each pre-training on BTCV's 13 organs with a 2D U-Net (ResNet-50 encoder) and a 3D UNETR
// (ViT-B/16), and compares them with training from scratch ("Random"). This target lists every row of the table;
// the Random rows train here, the pre-training rows when their pre-training exists (later issues). What differs
// from the paper, and why, is on Papers/MOSMOS/Table2.md; the proxy is designed in Papers/MOSMOS/datasets.md.
import Suite
import MOSMOS

// §4.1 — BTCV: 30 labelled abdominal CT volumes split 70/10/20 (21/3/6); the proxy keeps 21/3 and tests on 18.
let dataset = DatasetSpec("BTCV")

// Table 2's columns: spleen, right and left kidney, gallbladder, oesophagus, liver, stomach, aorta, IVC, portal
// and splenic veins, pancreas, right and left adrenal gland, in BTCV's label order; Avg is their mean.
let table = MOSMOSTable(dataset: .btcv, classes: ["background", "Spl", "RKid", "LKid", "Gal", "Eso", "Liv", "Sto", "Aor",
                                                  "IVC", "Vein", "Pan", "RAG", "LAG"])

// Random initialisation on both backbones; the seven pre-training rows are listed and show "not run" until their
// pre-training lands.
let methods = MOSMOSRows.random()

// §4.3.1: "the pre-training methods generally perform better than training from scratch" needs the pre-training
// rows. Read off the table, and testable now: UNETR from scratch beats the U-Net from scratch (78.53 vs 74.86).
let claims = [Claim.sameWinner(id: "unetr-beats-unet-from-scratch", text: "From scratch, UNETR (ViT-B/16) beats the U-Net (ResNet-50) on BTCV",
                               source: "Table 2 (Random rows)", rows: methods.map(\.row.id), dataset: dataset.id, metric: "Dice")]

let spec = TableSpec(paper: "MOSMOS", table: "Table2", target: "Table2_BTCV",
                     title: "MOSMOS Table 2: abdominal multi-organ segmentation on BTCV (Dice %)",
                     page: "Papers/MOSMOS/Table2.md", rows: MOSMOSRows.all(), datasets: [dataset],
                     metrics: table.metrics(["Dice"]), claims: claims,
                     publishedVersion: "the text in ../shared/papers (Table 2 and §4.3.1)", runCommand: "make table-2",
                     audit: true)

// Epochs at proxy scale from measured step times so that the table's 16 cells fit about an hour
// (Papers/MOSMOS/datasets.md §6).
TableMain.run(Experiment(spec: spec, methods: methods, task: table.task,
                         recipe: { MOSMOSRecipe.recipe($0, $1, epochs: [.unetr: 60, .unet: 12]) },
                         data: { try MOSMOSData.load($0, $1, $2, kind: .btcv) }))
