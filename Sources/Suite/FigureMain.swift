import Foundation
import ArgumentParser
import Engine
import NN
import Models
import Data
import Metrics

// The figure targets (TMC Fig. 3 and Fig. 4) train nothing. They find a table's finished runs in the store, rebuild
// each model with the factory that trained it (the rows the figure names, e.g. TMCMethods), load the weights selected on validation (`best.*`), and
// pass the chosen test images through it in the very batches of the run's test pass, so that every Dice printed
// beside a figure is the Dice the store holds for that image. What is drawn is composed from the pure raster helpers
// further down (colour maps, overlays, a bitmap font, the montage grid), which the tests check pixel by pixel.

// MARK: - Options and entry point

/// The tables' options, plus how many test images a figure shows per data set.
public struct FigureOptions: ParsableArguments {
    @OptionGroup public var table: TableOptions
    @Option(help: "Test images shown per data set (chosen deterministically among those with a lesion).")
    public var cases: Int = 4
    @Flag(help: "Retrain the weights this clone lacks and draw again, even when the figure on disk was drawn from exactly these runs.")
    public var redraw = false
    public init() {}
}

/// What a figure target declares: the paper's figure, the Table 1 rows it shows, the data sets.
public struct FigureSpec {
    public var paper: String
    public var table: String
    /// Names Reports/<target>.md and Reports/figures/<target>.png.
    public var target: String
    public var title: String
    /// The literate page, relative to the repository root.
    public var page: String
    /// Where the figure is in the paper, e.g. "§4.4, Fig. 3".
    public var source: String
    /// The paper's caption, quoted on the report page.
    public var caption: String
    /// The Table 1 rows this figure reads, in the order it shows them.
    public var methods: [Method]
    public var datasets: [DatasetSpec]
    /// The make target that trains the runs the figure reads.
    public var runCommand: String
    /// The table executable that trains them (built beside this one), for retraining weights a clone lacks.
    public var tableTarget: String
    /// The task the runs were trained on: how the figure batches images and reads the network's output. The panels
    /// draw binary 2D masks; label-map panels for multi-class volumes come with MOSMOS's figures.
    public var task: SegmentationTask
    /// When set, only runs of these protocols are drawn (`TableSpec.protocols`, the same for the table it reads).
    public var protocols: Set<String>?

    public init(paper: String, table: String, target: String, title: String, page: String,
                source: String, caption: String, methods: [Method], datasets: [DatasetSpec], runCommand: String,
                tableTarget: String, task: SegmentationTask) {
        precondition(task.output == .binary && task.classes.count == 2,
                     "\(target): figure panels draw binary 2D masks; the \(task.name) task needs label-map panels")
        self.paper = paper; self.table = table; self.target = target; self.title = title; self.page = page
        self.source = source; self.caption = caption; self.methods = methods; self.datasets = datasets
        self.runCommand = runCommand; self.tableTarget = tableTarget; self.task = task
    }
}

/// A rendered figure: the montage and the Markdown that explains it (placed under the image on the report page).
public struct FigureDrawing {
    public var montage: Montage
    public var body: [String]
    public init(montage: Montage, body: [String]) { self.montage = montage; self.body = body }
}

public enum FigureMain {
    static func retrain(_ lacking: [MissingRun], spec: FigureSpec, options t: TableOptions, store: URL) throws {
        let exe = Executables.directory.appendingPathComponent(spec.tableTarget)
        guard FileManager.default.fileExists(atPath: exe.path) else {
            throw RunError("\(spec.target) needs \(spec.tableTarget) beside it to retrain the weights of \(lacking.count) runs; run `make build`")
        }
        var args = ["--scale", t.scale.rawValue, "--seeds", "1", "--db", store.path]
        for id in Set(lacking.map(\.rowId)).sorted() { args += ["--only", id] }
        for d in Set(lacking.map(\.dataset)).sorted() { args += ["--dataset", d] }
        if let r = t.dataRoot { args += ["--data-root", r] }
        if let e = t.textEncoder { args += ["--text-encoder", e] }
        if t.noProgress { args.append("--no-progress") }
        FileHandle.standardError.write("\(spec.target): retraining the weights of \(lacking.count) runs: \(spec.tableTarget) \(args.joined(separator: " "))\n".data(using: .utf8)!)
        let status = try Executables.run(exe, args)
        guard status == 0 else { throw RunError("\(spec.tableTarget) exited with status \(status) while retraining the figure's weights") }
    }

    /// Parses the command line, finds the runs, calls `render`, writes the PNG and the report page.
    public static func run(_ spec: FigureSpec, arguments: [String] = Array(CommandLine.arguments.dropFirst()),
                           render: (FigureSession) throws -> FigureDrawing) {
        let options: FigureOptions
        do { options = try FigureOptions.parse(arguments) } catch { FigureOptions.exit(withError: error) }
        do {
            try execute(spec, options, render: render)
        } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
            exit(1)
        }
    }

    static func execute(_ spec: FigureSpec, _ o: FigureOptions, render: (FigureSession) throws -> FigureDrawing) throws {
        let t = o.table
        if t.check || t.recordReference {
            print("\(spec.target): a figure holds no numbers of its own to check or record (its Dice values are Table 1's, checked by Table1_TMC --check); nothing to do.")
            return
        }
        let scale = t.scale
        guard o.cases >= 1 else { throw RunError("--cases must be at least 1") }
        for name in t.only where !spec.methods.contains(where: { $0.row.id == name }) {
            throw RunError("--only \(name): \(spec.target) shows no such method; it shows \(spec.methods.map(\.row.id).joined(separator: ", "))")
        }
        let project = try ProjectPaths.locate()
        let dbURL = URL(fileURLWithPath: t.db, relativeTo: project.root).standardizedFileURL
        let paths = project.rendering(store: dbURL)
        guard FileManager.default.fileExists(atPath: dbURL.path) || FileManager.default.fileExists(atPath: RunExport.folder(for: dbURL).path) else {
            throw RunError("no result store at \(dbURL.path). `\(FigureSession.command(spec, t, scale))` trains Table 1 and creates it.")
        }
        let store = try RunExport.openStore(dbURL)
        let weightsURL = FigureSession.weightsStore(for: dbURL)
        var weights = FileManager.default.fileExists(atPath: weightsURL.path) ? try ResultStore.open(weightsURL) : nil
        var session = try FigureSession(spec: spec, options: o, paths: paths, store: store, scale: scale, weights: weights)
        let lacking = session.missing.filter(\.weightsOnly)
        let png = paths.figures.appendingPathComponent("\(spec.target).png")
        let page = paths.report(target: spec.target)
        if !lacking.isEmpty, !o.redraw, FileManager.default.fileExists(atPath: png.path),
           let drawn = (try? String(contentsOf: page, encoding: .utf8)).flatMap(FigurePage.Drawn.parse),
           drawn == FigurePage.Drawn(runs: (session.planned.map(\.record.id) + lacking.map(\.runId)).sorted(),
                                     cases: o.cases, scale: scale.rawValue) {
            print("figure: \(png.path) kept: drawn from exactly these \(drawn.runs.count) runs, whose weights this clone lacks (--redraw retrains them)")
            return
        }
        if !lacking.isEmpty {
            // Runs restored from Reports/runs/ carry numbers, not weights: retrain those cells (seed 0) into a
            // store of their own. On the machine kind that trained them they come back bit for bit; elsewhere the
            // page's "Dice vs stored" column shows how far.
            try retrain(lacking, spec: spec, options: t, store: weightsURL)
            weights = try ResultStore.open(weightsURL)
            session = try FigureSession(spec: spec, options: o, paths: paths, store: store, scale: scale, weights: weights)
        }
        guard !session.planned.isEmpty else { throw RunError(session.nothingAvailable) }
        if !session.missing.isEmpty { session.warn(session.missingMessage) }
        let drawing = try render(session)
        guard !session.used.isEmpty else {
            throw RunError("\(spec.target): none of the stored runs could be loaded: "
                           + session.missing.map { "\($0.method) · \($0.dataset): \($0.reason)" }.joined(separator: "; "))
        }
        try FileManager.default.createDirectory(at: paths.figures, withIntermediateDirectories: true)
        try drawing.montage.draw(to: png)
        try FigurePage.render(session, drawing).write(to: page, atomically: true, encoding: .utf8)
        print("figure: \(png.path)")
        print("report: \(page.path)")
    }
}
