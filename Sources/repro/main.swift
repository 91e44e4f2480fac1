import Foundation
import ArgumentParser
import Suite
import MOSMOS
import Models
import Metrics
import Data
import Engine
import NN

/// The suite's command line. Tables are their own executables (Table1_TMC, ...); `report` and `check` run them all.
struct Repro: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repro",
        abstract: "Reproduction suite for TMC and MOSMOS: reports, checks, model descriptions, scoring, text embedding.",
        subcommands: [Report.self, Check.self, Export.self, Plan.self, Slurm.self, Merge.self, EpochBudgetCommand.self, Describe.self, ProxyCommand.self, Evaluate.self, Embed.self, Doctor.self, CodeVersionCommand.self])
}

/// The table and figure executables built beside this one, in name order.
func tableTargets() -> [URL] {
    let dir = Executables.directory
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return names.filter { ($0.hasPrefix("Table") || $0.hasPrefix("Fig")) && !$0.contains(".") }.sorted().map { dir.appendingPathComponent($0) }
}

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the CPU, the BLAS library and kernel in use, the thread count and SIMD width, and measure sgemm and conv3d rates (a few seconds).")
    @Flag(help: "Skip the measurements.") var noMeasure = false
    func run() throws {
        for line in MachineReport.header() { print(line) }
        if !noMeasure { for line in MachineReport.rates() { print(line) } }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Render every table's page and Reports/REPORT.md from the store alone (trains nothing).")
    @Option(help: "SQLite result store.") var db = "Reports/results.sqlite"
    func run() throws {
        let targets = tableTargets()
        guard !targets.isEmpty else { throw ValidationError("no table targets next to repro; run `make build` first") }
        var failed: [String] = []
        for t in targets where try Executables.run(t, ["--report-only", "--db", db]) != 0 { failed.append(t.lastPathComponent) }
        if !failed.isEmpty { throw ExitCode(1) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit non-zero when a metric leaves its tolerance.",
        discussion: "Real data is compared with the published value (Papers/<paper>/tolerances.json); proxy data with our recorded reference (Papers/<paper>/reference-<scale>.json). With --record, the finished proxy runs at --scale become that reference.")
    @Option(help: "SQLite result store.") var db = "Reports/results.sqlite"
    @Flag(help: "Record the reference from the store instead of checking.") var record = false
    @Option(help: "Scale whose reference --record writes.") var scale = "proxy"
    func run() throws {
        var failed: [String] = []
        for t in tableTargets() {
            let args = record ? ["--record-reference", "--scale", scale, "--db", db] : ["--check", "--db", db]
            if try Executables.run(t, args) != 0 { failed.append(t.lastPathComponent) }
        }
        if !failed.isEmpty {
            FileHandle.standardError.write("check failed: \(failed.joined(separator: ", "))\n".data(using: .utf8)!)
            throw ExitCode(1)
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every finished run of the store as text under <store folder>/runs/ (one .jsonl per paper and table).",
        discussion: "Table targets export their own runs after training; this rewrites all of them, e.g. after merging stores. Commit Reports/runs/: commands that open a store restore the exported runs it lacks.")
    @Option(help: "SQLite result store.") var db = "Reports/results.sqlite"
    func run() throws {
        let root = try ProjectPaths.locate().root
        let url = URL(fileURLWithPath: db, relativeTo: root)
        let store = try RunExport.openStore(url)
        for file in try RunExport.write(store, to: RunExport.folder(for: url)) { print("wrote \(file.path)") }
    }
}

/// The table executable `name`, built beside repro; one error naming the targets when there is no such table.
func tableExecutable(_ name: String) throws -> URL {
    let url = Executables.directory.appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: url.path), name.hasPrefix("Table") else {
        throw ValidationError("no table target \(name) beside repro; there are \(tableTargets().map(\.lastPathComponent).filter { $0.hasPrefix("Table") }.joined(separator: ", "))")
    }
    return url
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the runs a table target would train: pre-trainings and λ-grid runs first, then cells, with their keys (for --cell), run ids and dependencies.",
        discussion: "Example: repro plan Table1_TMC --scale smoke --dataset QaTa-COV19 --format json")
    @Argument(parsing: .captureForPassthrough, help: "The table target, then its options (--scale, --seeds, --dataset, --format json, ...).")
    var arguments: [String] = []
    func run() throws {
        guard let target = arguments.first else { throw ValidationError("name a table target, e.g. repro plan Table1_TMC --scale smoke") }
        let status = try Executables.run(try tableExecutable(target), Array(arguments.dropFirst()) + ["--plan"])
        if status != 0 { throw ExitCode(status) }
    }
}

struct Slurm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write (and with --submit, submit) a table's runs as SLURM job arrays: pre-trainings first, then cells, then a merge.",
        discussion: "Example: repro slurm --out /scratch/t1 --partition cpu --time 02:00:00 --submit Table1_TMC --scale proxy --seeds 3. Each task writes its own shard store under OUT/shards/; the merge job merges them into --db and exports Reports/runs/-style text beside it (README, \"Running on a cluster\").")
    @Option(help: "Folder for the scripts, key files, shards and logs (on a file system every node sees).") var out: String
    @Option(help: "Store the merge job writes.") var db = "Reports/results.sqlite"
    @Option(help: "SLURM partition.") var partition: String?
    @Option(help: "Time limit per task (SLURM's format).") var time = "04:00:00"
    @Option(name: .customLong("cpus-per-task"), help: "CPUs per task; the engine uses as many threads.") var cpusPerTask = 2
    @Option(help: "Memory per task (SLURM's format).") var mem = "8G"
    @Option(name: .customLong("array-limit"), help: "At most this many tasks of an array at once.") var arrayLimit: Int?
    @Flag(help: "Submit the chain with sbatch and print the job ids.") var submit = false
    @Argument(parsing: .captureForPassthrough, help: "The table target, then its options (--scale, --seeds, ...).")
    var arguments: [String] = []

    func run() throws {
        guard let target = arguments.first else { throw ValidationError("name a table target after the options, e.g. repro slurm --out /tmp/t1 Table1_TMC --scale smoke") }
        let exe = try tableExecutable(target)
        let tableArguments = Array(arguments.dropFirst())
        for banned in ["--db", "--cell", "--plan", "--format", "--import-from"] where tableArguments.contains(banned) {
            throw ValidationError("\(banned) is set per task by repro slurm; leave it out of the table options")
        }
        let root = try ProjectPaths.locate().root
        let outURL = URL(fileURLWithPath: out, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
        let planDB = outURL.appendingPathComponent("plan.sqlite")
        let p = Process()
        p.executableURL = exe
        p.arguments = tableArguments + ["--plan", "--format", "json", "--db", planDB.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ExitCode(p.terminationStatus) }
        let entries = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(PlanEntry.self, from: Data($0.utf8))
        }
        let plan = SlurmPlan(target: target, tableArguments: tableArguments, entries: entries, out: outURL,
                             binaries: Executables.directory, root: root,
                             store: URL(fileURLWithPath: db, relativeTo: root).standardizedFileURL,
                             resources: .init(partition: partition, time: time, cpusPerTask: cpusPerTask, mem: mem, arrayLimit: arrayLimit))
        let submitScript = try plan.write()
        let first = entries.filter { $0.phase == 1 }.count
        print("\(target): \(first) pre-trainings and grid runs, \(entries.count - first) cells; scripts in \(outURL.path)")
        guard submit else { print("submit with: bash \(submitScript.path)"); return }
        fflush(stdout)
        let status = try Executables.run(URL(fileURLWithPath: "/bin/bash"), [submitScript.path])
        if status != 0 { throw ExitCode(status) }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge shard stores (a job array's) into one store, then export it: idempotent; unfinished shards are reported and not merged; conflicting finished runs are an error naming both shards.")
    @Argument(help: "Shard stores (.sqlite), folders of them, or files listing them.") var shards: [String]
    @Option(help: "The store to merge into.") var db = "Reports/results.sqlite"
    func run() throws {
        let root = try ProjectPaths.locate().root
        let url = URL(fileURLWithPath: db, relativeTo: root)
        let store = try RunExport.openStore(url)
        let files = try shards.flatMap { try ShardMerge.shardFiles($0) }
        let report = try ShardMerge.merge(files, into: store)
        for u in report.unfinished { print("not merged: run \(u.run.prefix(12)) is \(u.status) in \(u.shard)") }
        print("merged \(report.merged.count) runs from \(files.count) shards (\(report.alreadyPresent.count) already present, \(report.unfinished.count) unfinished, \(report.checkpointsCopied) checkpoints copied) into \(url.path)")
        for file in try RunExport.write(store, to: RunExport.folder(for: url)) { print("wrote \(file.path)") }
    }
}

struct EpochBudgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epoch-budget",
        abstract: "Read an epoch-budget pilot's store (a table run with --epoch-pilot N) and print, per run, the epoch by which its validation curve came within the tolerance of its best, and the budget that covers them all.")
    @Option(help: "The pilot's SQLite store.") var db: String
    @Option(help: "Only runs of this table (e.g. Table1).") var table: String?
    @Option(help: "Validation metric of the curves.") var metric = "Dice"
    @Option(help: "Within this many points (report units) of the run's best counts as flattened.") var tolerance = 1.0
    func run() throws {
        let root = try ProjectPaths.locate().root
        let store = try ResultStore(url: URL(fileURLWithPath: db, relativeTo: root))
        let results = try store.results(RunFilter(table: table))
        let curves = results.compactMap { r -> (label: String, values: [(epoch: Int, value: Double)])? in
            let points = r.curves.filter { $0.split == "val" && $0.metric == metric }.map { (epoch: $0.epoch, value: $0.value) }
            guard !points.isEmpty else { return nil }
            let c = r.record.config
            return ("\(c.table) · \(c.method) \(c.variant) · \(c.dataset) · seed \(c.seed)", points)
        }.sorted { $0.label < $1.label }
        let budget = EpochBudget(curves: curves, tolerance: tolerance)
        for r in budget.readings {
            let flag = r.stillRising ? "  STILL RISING" : r.best <= tolerance ? "  NEVER LEARNED (its flat curve says nothing about the budget)" : ""
            print(String(format: "%-60@ best %6.2f over %3d epochs, flattened by epoch %3d%@", r.label as NSString,
                         r.best, r.epochs, r.flattenedAt, flag))
        }
        guard let b = budget.budget() else { throw ValidationError("\(db) has no validation curves of \(metric)") }
        let rising = budget.readings.filter(\.stillRising).count
        print("budget: \(b) epochs (every curve within \(tolerance) of its best; \(rising) of \(budget.readings.count) still rising at the pilot's end)")
    }
}

struct CodeVersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-version",
        abstract: "Print the checkout's code version as runs record it (`make build` stamps it beside the executables).")
    func run() throws { print(CodeVersion.describe(at: try ProjectPaths.locate().root)) }
}

struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every model with its parameter count at paper and proxy scale.")
    func run() throws {
        func millions(_ n: Int) -> String { String(format: "%9.3f M", Double(n) / 1e6) }
        print("model".padding(toLength: 14, withPad: " ", startingAt: 0) + "   paper (224²)      proxy (64²)   reference")
        for e in ModelRegistry.entries {
            let counts = [Scale.paper, .proxy].map { s -> Int in
                return (try? ModelRegistry.make(name: e.name, scale: s, inChannels: 1, imageSize: s.imageSize))?.parameterCount ?? 0
            }
            print(e.displayName.padding(toLength: 14, withPad: " ", startingAt: 0) + " \(millions(counts[0]))   \(millions(counts[1]))   \(e.reference)")
        }
        // MOSMOS's fine-tuning backbones, for BTCV (1 channel, 14 classes): paper 96³ / 96², proxy 32³ / 32².
        print("")
        print("MOSMOS backbone".padding(toLength: 24, withPad: " ", startingAt: 0) + "  paper       proxy       reference")
        let counts: [(String, Int, Int, String)] = [
            ("UNETR (ViT-B/16)", Backbone.unetr, "MONAI 1.6.1 UNETR: 92,802,478 at paper scale"),
            ("U-Net (ResNet-50)", Backbone.unet, "smp-style U-Net, torchvision ResNet-50: 32,516,718"),
        ].map { name, b, ref in
            let n = [Scale.paper, .proxy].map { s in
                b.model(ModelContext(scale: s, inChannels: 1, imageSize: b.crop(s), textWidth: 0, outChannels: 14)).parameterCount
            }
            return (name, n[0], n[1], ref)
        } + [("U-Net (CLIP RN50)", ResNetUNet(ResNetUNetConfig(encoder: .clip)).parameterCount,
              ResNetUNet(ResNetUNetConfig(layers: [1, 1, 1, 1], encoder: .clip)).parameterCount,
              "CLIP ModifiedResNet-50 without attnpool: 32,541,646")]
        for (name, paper, proxy, ref) in counts {
            print(name.padding(toLength: 24, withPad: " ", startingAt: 0) + " \(millions(paper)) \(millions(proxy))   \(ref)")
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score saved predictions (PNG masks or NIfTI label volumes) against ground truth with the suite's metric code.",
        discussion: """
        PNG masks: pairs files by name (a ground-truth mask_<name> also matches a prediction <name>). Prints per-case Dice and IoU (LViT's convention: prediction foreground at level ≥ 128, truth foreground above 0, an empty prediction on an empty truth scores 0) and their means.
        NIfTI label volumes (.nii, .nii.gz; chosen when the ground-truth folder holds them): pairs files by name without extension and scores each class as MONAI 1.6 does: Dice with ignore_empty (undefined when the truth lacks the class) and HD95 in mm from the ground truth's voxel spacing (undefined when either mask is empty). Undefined values are empty in CSV and null in JSON, and left out of the means.
        """)
    @Option(help: "Folder of predictions.") var pred: String
    @Option(help: "Folder of ground truth.") var gt: String
    @Option(help: "NIfTI only: output format, csv or json.") var format: String = "csv"
    @Option(help: "NIfTI only: the classes to score, e.g. 1,2,3 (default: every non-zero label in the ground truth).") var classes: String?
    func run() throws {
        let fm = FileManager.default
        for d in [pred, gt] where !fm.fileExists(atPath: d) {
            throw ValidationError("folder \(d) does not exist; pass the folder that holds the PNG masks or NIfTI volumes")
        }
        if (try fm.contentsOfDirectory(atPath: gt)).contains(where: NIfTI.isNIfTI) {
            guard ["csv", "json"].contains(format) else { throw ValidationError("--format is csv or json, not \(format)") }
            let declared = try classes.map { list in
                try list.split(separator: ",").map { part -> Int32 in
                    guard let c = Int32(part.trimmingCharacters(in: .whitespaces)), c > 0 else {
                        throw ValidationError("--classes takes positive labels separated by commas, e.g. 1,2,3; got \(list)")
                    }
                    return c
                }
            }
            // Data errors (a missing pair, a corrupt file, mismatched grids) end the command with their own message.
            let result = try VolumeEvaluation.run(predictions: URL(fileURLWithPath: pred), truths: URL(fileURLWithPath: gt),
                                                  classes: declared)
            print(format == "json" ? result.json() : result.csv())
            return
        }
        let gts = try fm.contentsOfDirectory(atPath: gt).filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !gts.isEmpty else { throw ValidationError("\(gt) holds no PNG masks") }
        var scores: [OverlapScores] = []
        print("case,dice,iou")
        for name in gts {
            let candidates = [name, name.hasPrefix("mask_") ? String(name.dropFirst(5)) : "mask_" + name]
            guard let p = candidates.first(where: { fm.fileExists(atPath: pred + "/" + $0) }) else {
                throw ValidationError("no prediction for \(gt)/\(name) in \(pred) (tried \(candidates.joined(separator: ", ")))")
            }
            let truth = try readMaskPNG(URL(fileURLWithPath: gt + "/" + name))
            let guess = try readMaskPNG(URL(fileURLWithPath: pred + "/" + p))
            guard truth.width == guess.width && truth.height == guess.height else {
                throw ValidationError("\(pred)/\(p) is \(guess.width)×\(guess.height) but \(gt)/\(name) is \(truth.width)×\(truth.height); save predictions at the ground truth's size")
            }
            // A prediction pixel is foreground at level ≥ 128 (probability ≥ 0.5 saved as 8 bits); truth is any level above 0.
            let s = SegmentationMetrics.scores(prediction: guess.levels.map { $0 >= 128 ? 1 : 0 }, mask: truth.binary)
            scores.append(s)
            print("\(name),\(String(format: "%.4f", s.dice)),\(String(format: "%.4f", s.iou))")
        }
        let m = SegmentationMetrics.mean(scores)
        print("mean,\(String(format: "%.4f", m.dice)),\(String(format: "%.4f", m.iou))")
    }
}

Repro.main()
