import Foundation

// MARK: - Writing pages

/// Renders table pages, their figures and the index into Reports/.
public struct ReportWriter {
    public let paths: ProjectPaths
    public let store: ResultStore
    public let gnuplot: Gnuplot

    public init(paths: ProjectPaths, store: ResultStore, gnuplot: Gnuplot = Gnuplot()) {
        self.paths = paths
        self.store = store
        self.gnuplot = gnuplot
    }

    /// Writes Reports/<target>.md with its figures, then refreshes Reports/REPORT.md. Returns the page's URL.
    @discardableResult
    public func write(_ spec: TableSpec) throws -> URL {
        let report = try build(spec)
        let url = paths.report(target: spec.target)
        try FileManager.default.createDirectory(at: paths.reports, withIntermediateDirectories: true)
        try Markdown.render(report).write(to: url, atomically: true, encoding: .utf8)
        try writeIndex()
        return url
    }

    public func build(_ spec: TableSpec) throws -> TableReport {
        let filter = RunFilter(paper: spec.paper, table: spec.table)
        let results = try store.results(filter)
        let unfinished = try store.runs(filter).filter { $0.status != .finished }
        let catalogue = try PublishedCatalogue.load(paths)
        let tolerances = try ToleranceFile.load(paper: spec.paper, paths: paths)
        var references: [String: ReferenceFile] = [:]
        for section in spec.sections(from: results) where section.dataSource == .proxy {
            references[section.scale] = try ReferenceFile.load(paper: spec.paper, scale: section.scale, paths: paths)
        }
        let (figures, note) = drawFigures(spec, results: results, catalogue: catalogue)
        var report = TableReport.assemble(spec: spec, results: results, unfinished: unfinished, catalogue: catalogue,
                                          tolerances: tolerances, references: references, figures: figures, figureNote: note,
                                          storeName: storeName)
        report.otherProtocolRuns = spec.otherProtocolRuns(results).count
        if let table = spec.selectionTable {
            report.selectionRuns = try store.results(RunFilter(paper: spec.paper, table: table))
                .filter { $0.record.status == .finished && $0.record.config.hasCurrentStreams && spec.followsProtocol($0.record.config) }
        }
        return report
    }

    private var storeName: String {
        let rootPath = paths.root.path + "/"
        let path = store.url.standardizedFileURL.path
        return path.hasPrefix(rootPath) ? String(path.dropFirst(rootPath.count)) : path
    }

    /// A figure that fails is reported on the page instead of failing the whole report.
    private func drawFigures(_ spec: TableSpec, results: [RunResult],
                             catalogue: PublishedCatalogue) -> ([SectionKey: [FigureRef]], String?) {
        guard gnuplot.isAvailable else { return ([:], "gnuplot was not found on PATH") }
        var out: [SectionKey: [FigureRef]] = [:]
        var failures: [String] = []
        for section in spec.sections(from: results) {
            let figures = FigureBuilder.figures(spec: spec, section: section, catalogue: catalogue)
            for (name, figure) in figures where !figure.isEmpty {
                let base = "\(spec.target)-\(section.dataSource.rawValue)-\(section.scale)-\(name)"
                do {
                    try gnuplot.draw(figure, to: paths.figures.appendingPathComponent(base))
                    out[section.key, default: []].append(
                        FigureRef(title: figure.title, svg: "figures/\(base).svg", png: "figures/\(base).png"))
                } catch {
                    failures.append("\(base): \(error)")
                }
            }
        }
        return (out, failures.isEmpty ? nil : failures.map(Markdown.oneLine).joined(separator: "; "))
    }

    /// Reports/REPORT.md from the pages found in Reports/ and the store's run counts.
    @discardableResult
    public func writeIndex() throws -> URL {
        let manager = FileManager.default
        try manager.createDirectory(at: paths.reports, withIntermediateDirectories: true)
        let pages = try manager.contentsOfDirectory(at: paths.reports, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "md" && $0.lastPathComponent != paths.reportIndex.lastPathComponent }
        let summaries = pages.compactMap { url in
            (try? String(contentsOf: url, encoding: .utf8)).flatMap(ReportSummary.parse(page:))
        }
        // Pages without a summary comment are figures: listed by their first heading.
        let figures = pages.filter { $0.lastPathComponent.hasPrefix("Fig") }.sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map { url -> (String, String) in
                let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
                let title = text.split(separator: "\n").first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)) }
                return (title ?? url.deletingPathExtension().lastPathComponent, url.lastPathComponent)
            }
        let text = Markdown.index(summaries: summaries, figures: figures, runCounts: try store.runCounts(), generatedAt: Date())
        try text.write(to: paths.reportIndex, atomically: true, encoding: .utf8)
        return paths.reportIndex
    }
}

/// The standard figures of a table section: published vs reproduced bars per metric, and the training curve.
