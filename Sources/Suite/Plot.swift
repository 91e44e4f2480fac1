import Foundation

// Figures through gnuplot: the data goes to a temporary file, the script through a pipe, and each figure comes out
// as PNG (pngcairo) and SVG. Scripts are built by pure functions so tests can read them without gnuplot.

public struct BarSeries: Equatable, Sendable {
    public var name: String
    /// One value per category; nil leaves a gap.
    public var values: [Double?]
    /// Error bar half-widths (e.g. sd over seeds); nil draws none.
    public var errors: [Double?]

    public init(name: String, values: [Double?], errors: [Double?]? = nil) {
        self.name = name
        self.values = values
        self.errors = errors ?? Array(repeating: nil, count: values.count)
    }
}

public struct BarPanel: Equatable, Sendable {
    public var title: String
    public var categories: [String]
    public var series: [BarSeries]

    public init(title: String, categories: [String], series: [BarSeries]) {
        self.title = title
        self.categories = categories
        self.series = series
    }
}

public struct LineSeries: Equatable, Sendable {
    public var name: String
    public var x: [Double]
    public var y: [Double]

    public init(name: String, x: [Double], y: [Double]) {
        self.name = name
        self.x = x
        self.y = y
    }
}

public struct LinePanel: Equatable, Sendable {
    public var title: String
    public var series: [LineSeries]

    public init(title: String, series: [LineSeries]) {
        self.title = title
        self.series = series
    }
}

/// A figure is a row of panels sharing axis labels.
public struct Figure: Equatable, Sendable {
    public enum Content: Equatable, Sendable {
        case bars([BarPanel])
        case lines([LinePanel])
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var content: Content

    public init(title: String, xLabel: String = "", yLabel: String, content: Content) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.content = content
    }

    /// Empty series and panels would shift gnuplot's `index` numbering or leave a `plot` without items.
    public var normalized: Figure {
        var copy = self
        switch content {
        case .bars(let panels):
            copy.content = .bars(panels.filter { !$0.categories.isEmpty && !$0.series.isEmpty })
        case .lines(let panels):
            let kept = panels.map { LinePanel(title: $0.title, series: $0.series.filter { !$0.x.isEmpty }) }
            copy.content = .lines(kept.filter { !$0.series.isEmpty })
        }
        return copy
    }

    public var isEmpty: Bool { normalized.panelCount == 0 }

    var panelCount: Int {
        switch content {
        case .bars(let panels): return panels.count
        case .lines(let panels): return panels.count
        }
    }
}

public enum PlotError: Error, CustomStringConvertible {
    case gnuplotMissing
    case gnuplotFailed(status: Int32, stderr: String)
    case noOutput(String)
    case emptyFigure(String)

    public var description: String {
        switch self {
        case .gnuplotMissing: return "gnuplot was not found on PATH"
        case .gnuplotFailed(let status, let stderr): return "gnuplot exited with status \(status): \(stderr)"
        case .noOutput(let path): return "gnuplot wrote no \(path)"
        case .emptyFigure(let title): return "figure '\(title)' has no data"
        }
    }
}

public struct Gnuplot: Sendable {
    public let executable: URL?

    public init(executable: URL? = Gnuplot.find()) {
        self.executable = executable
    }

    public var isAvailable: Bool { executable != nil }

    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        let directories = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for directory in directories {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("gnuplot")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Draws `figure` to `<base>.png` and `<base>.svg`.
    @discardableResult
    public func draw(_ figure: Figure, to base: URL) throws -> (png: URL, svg: URL) {
        guard let executable else { throw PlotError.gnuplotMissing }
        guard !figure.isEmpty else { throw PlotError.emptyFigure(figure.title) }
        let png = base.appendingPathExtension("png")
        let svg = base.appendingPathExtension("svg")
        try FileManager.default.createDirectory(at: base.deletingLastPathComponent(), withIntermediateDirectories: true)
        let dataFile = FileManager.default.temporaryDirectory.appendingPathComponent("repro-plot-\(UUID().uuidString).dat")
        try Self.data(for: figure).write(to: dataFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: dataFile) }
        try run(executable, script: Self.script(for: figure, dataFile: dataFile.path, png: png.path, svg: svg.path))
        for output in [png, svg] where !FileManager.default.fileExists(atPath: output.path) {
            throw PlotError.noOutput(output.path)
        }
        return (png, svg)
    }

    /// Runs a script that writes `output` (the montages).
    /// `script` takes the path to write as its one `%OUTPUT%`; the file replaces `output` only once gnuplot has
    /// written it, so a failed run leaves the previous figure in place.
    public func render(script: String, output: URL) throws {
        guard let executable else { throw PlotError.gnuplotMissing }
        let fresh = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: fresh) }
        try run(executable, script: script.replacingOccurrences(of: "%OUTPUT%", with: fresh.path))
        guard FileManager.default.fileExists(atPath: fresh.path) else { throw PlotError.noOutput(output.path) }
        // rename(2) replaces the old file in one step (corelibs Foundation's replaceItemAt removed it and then failed).
        guard rename(fresh.path, output.path) == 0 else {
            throw PlotError.noOutput(output.path + " (rename failed: \(String(cString: strerror(errno))))")
        }
    }

    private func run(_ executable: URL, script: String) throws {
        let process = Process()
        process.executableURL = executable
        let input = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            throw PlotError.gnuplotFailed(status: process.terminationStatus, stderr: String(decoding: message, as: UTF8.self))
        }
    }

    // MARK: Pure parts

    /// Data blocks separated by two blank lines, addressed with `index` in the script: one per bar panel, one per
    /// line series.
    public static func data(for figure: Figure) -> String {
        switch figure.normalized.content {
        case .bars(let panels):
            return panels.map(barBlock).joined(separator: "\n\n\n") + "\n"
        case .lines(let panels):
            let blocks = panels.flatMap { $0.series }.map { series in
                zip(series.x, series.y).map { "\(number($0)) \(number($1))" }.joined(separator: "\n")
            }
            return blocks.joined(separator: "\n\n\n") + "\n"
        }
    }

    private static func barBlock(_ panel: BarPanel) -> String {
        panel.categories.enumerated().map { index, category in
            // gnuplot drops a histogram bar whose error column is missing, so a value without error gets 0.
            let cells = panel.series.map { series -> String in
                let value = series.values[index]
                let error = series.errors[index] ?? (value == nil ? nil : 0)
                return "\(number(value)) \(number(error))"
            }
            return ([quoted(category)] + cells).joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// The body is written twice, once per terminal, because `replot` cannot repeat a multiplot.
    public static func script(for figure: Figure, dataFile: String, png: String, svg: String) -> String {
        let figure = figure.normalized
        let width = max(1, figure.panelCount) * 440
        let height = 380
        let body = plotBody(figure, dataFile: dataFile)
        return """
            set datafile missing '?'
            set terminal pngcairo size \(width),\(height) noenhanced font 'DejaVu Sans,10'
            set output \(literal(png))
            \(body)
            unset multiplot
            set output
            set terminal svg size \(width),\(height) dynamic noenhanced font 'DejaVu Sans,10'
            set output \(literal(svg))
            \(body)
            unset multiplot
            set output

            """
    }

    private static func plotBody(_ figure: Figure, dataFile: String) -> String {
        var lines = [
            "set multiplot layout 1,\(max(1, figure.panelCount)) title \(literal(figure.title))",
            "set ylabel \(literal(figure.yLabel))",
            "set xlabel \(literal(figure.xLabel))",
            "set grid ytics",
        ]
        switch figure.content {
        case .bars(let panels):
            lines += [
                "set style data histograms",
                "set style histogram errorbars gap 1 lw 1",
                "set style fill solid 0.8 border -1",
                "set boxwidth 0.9",
                "set xtics rotate by -35",
                "set yrange [0:*]",
                "set key below horizontal",
            ]
            for (index, panel) in panels.enumerated() {
                lines.append("set title \(literal(panel.title))")
                // Histogram slots sit at 0, 1, ...; without a range gnuplot pads the left side with an empty slot.
                lines.append("set xrange [-0.6:\(panel.categories.count) - 0.4]")
                let plots = panel.series.enumerated().map { s, series in
                    let columns = "\(2 + 2 * s):\(3 + 2 * s)" + (s == 0 ? ":xtic(1)" : "")
                    return "\(literal(dataFile)) index \(index) using \(columns) title \(literal(series.name))"
                }
                lines.append("plot " + plots.joined(separator: ", "))
            }
        case .lines(let panels):
            // Curves rise, so their lower right corner is the emptiest.
            lines += ["set style data lines", "set autoscale y", "set xtics norotate", "set key bottom right"]
            var block = 0
            for panel in panels {
                lines.append("set title \(literal(panel.title))")
                let plots = panel.series.map { series -> String in
                    defer { block += 1 }
                    return "\(literal(dataFile)) index \(block) using 1:2 with lines lw 2 title \(literal(series.name))"
                }
                lines.append("plot " + plots.joined(separator: ", "))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "?" }
        return String(format: "%.6g", value)
    }

    /// Data-file strings: double quotes delimit a field that may hold spaces.
    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "'") + "\""
    }

    /// Script strings: single-quoted, where gnuplot reads a doubled quote as one.
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
