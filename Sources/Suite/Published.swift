import Foundation

// The papers' printed numbers (Papers/published-values.csv) and where the project's files live.

/// The repository root and the folders the suite reads and writes. Everything is found from the root, so the
/// suite never reaches outside the repository at run time.
public struct ProjectPaths: Equatable, Sendable {
    public let root: URL
    /// Where pages and figures are written: the folder of the store they are rendered from (`rendering(store:)`),
    /// Reports/ by default. A store elsewhere (a test's, a user's scratch run) then never overwrites the committed
    /// pages of Reports/.
    public let reports: URL

    public init(root: URL, reports: URL? = nil) {
        self.root = root.standardizedFileURL
        self.reports = (reports ?? root.appendingPathComponent("Reports", isDirectory: true)).standardizedFileURL
    }

    /// The same project, with pages and figures written beside the store at `store`.
    public func rendering(store: URL) -> ProjectPaths {
        ProjectPaths(root: root, reports: store.standardizedFileURL.deletingLastPathComponent())
    }

    public var papers: URL { root.appendingPathComponent("Papers", isDirectory: true) }
    public var figures: URL { reports.appendingPathComponent("figures", isDirectory: true) }
    public var publishedValues: URL { papers.appendingPathComponent("published-values.csv") }
    public var claims: URL { papers.appendingPathComponent("claims.md") }
    public var defaultDatabase: URL { root.appendingPathComponent("Reports/results.sqlite") }
    public var reportIndex: URL { reports.appendingPathComponent("REPORT.md") }

    public func paperDirectory(_ paper: String) -> URL { papers.appendingPathComponent(paper, isDirectory: true) }
    public func tolerances(paper: String) -> URL { paperDirectory(paper).appendingPathComponent("tolerances.json") }
    public func reference(paper: String, scale: String) -> URL {
        paperDirectory(paper).appendingPathComponent("reference-\(scale).json")
    }
    public func report(target: String) -> URL { reports.appendingPathComponent("\(target).md") }

    public enum LocateError: Error, CustomStringConvertible {
        case notFound(searched: [String])

        public var description: String {
            switch self {
            case .notFound(let searched):
                return "no directory with Package.swift and Papers/ above \(searched.joined(separator: " or ")); set REPRO_ROOT"
            }
        }
    }

    /// REPRO_ROOT if set; else the first directory at or above the current directory that holds Package.swift and
    /// Papers/; else the same search from this source file (for test runners started elsewhere).
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                              currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath,
                                                          isDirectory: true)) throws -> ProjectPaths {
        if let override = environment["REPRO_ROOT"], !override.isEmpty {
            return ProjectPaths(root: URL(fileURLWithPath: override, isDirectory: true))
        }
        let sourceDirectory = URL(fileURLWithPath: sourceFile).deletingLastPathComponent()
        for start in [currentDirectory, sourceDirectory] {
            if let root = findRoot(from: start) { return ProjectPaths(root: root) }
        }
        throw LocateError.notFound(searched: [currentDirectory.path, sourceDirectory.path])
    }

    private static let sourceFile = #filePath

    private static func findRoot(from start: URL) -> URL? {
        var directory = start.standardizedFileURL
        let manager = FileManager.default
        while true {
            var isDirectory: ObjCBool = false
            let hasPapers = manager.fileExists(atPath: directory.appendingPathComponent("Papers").path, isDirectory: &isDirectory)
                && isDirectory.boolValue
            if hasPapers && manager.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { return nil }
            directory = parent
        }
    }
}

/// One number printed in a paper. `className` is the CSV's `class` column ("mean", "Avg", an organ, ...).
public struct PublishedValue: Equatable, Sendable {
    public let paper: String
    public let table: String
    public let dataset: String
    public let backbone: String
    public let method: String
    public let variant: String
    public let metric: String
    public let className: String
    public let value: Double
    public let note: String

    public init(paper: String, table: String, dataset: String, backbone: String, method: String, variant: String,
                metric: String, className: String, value: Double, note: String) {
        self.paper = paper
        self.table = table
        self.dataset = dataset
        self.backbone = backbone
        self.method = method
        self.variant = variant
        self.metric = metric
        self.className = className
        self.value = value
        self.note = note
    }
}

public enum PublishedError: Error, CustomStringConvertible, Equatable {
    case missingColumn(String)
    case badRow(line: Int, reason: String)

    public var description: String {
        switch self {
        case .missingColumn(let name): return "published-values.csv has no column \(name)"
        case .badRow(let line, let reason): return "published-values.csv line \(line): \(reason)"
        }
    }
}

/// All printed numbers of both papers, looked up by their full key.
public struct PublishedCatalogue: Sendable {
    public let values: [PublishedValue]

    public static let columns = ["paper", "table", "dataset", "backbone", "method", "variant", "metric", "class", "value", "note"]

    public init(values: [PublishedValue]) {
        self.values = values
    }

    public init(csv text: String) throws {
        let rows = CSV.parse(text)
        guard let header = rows.first?.fields else {
            self.values = []
            return
        }
        var index: [String: Int] = [:]
        for column in Self.columns {
            guard let position = header.firstIndex(of: column) else { throw PublishedError.missingColumn(column) }
            index[column] = position
        }
        var parsed: [PublishedValue] = []
        for (line, fields) in rows.dropFirst() where !(fields.count == 1 && fields[0].isEmpty) {
            parsed.append(try Self.value(fields, index: index, line: line))
        }
        self.values = parsed
    }

    public init(contentsOf url: URL) throws {
        try self.init(csv: String(contentsOf: url, encoding: .utf8))
    }

    /// Papers/published-values.csv of the project.
    public static func load(_ paths: ProjectPaths) throws -> PublishedCatalogue {
        try PublishedCatalogue(contentsOf: paths.publishedValues)
    }

    private static func value(_ fields: [String], index: [String: Int], line: Int) throws -> PublishedValue {
        guard fields.count == columns.count else {
            throw PublishedError.badRow(line: line, reason: "\(fields.count) fields, expected \(columns.count)")
        }
        func field(_ name: String) -> String { fields[index[name]!] }
        guard let number = Double(field("value")) else {
            throw PublishedError.badRow(line: line, reason: "value \(field("value")) is not a number")
        }
        return PublishedValue(paper: field("paper"), table: field("table"), dataset: field("dataset"),
                              backbone: field("backbone"), method: field("method"), variant: field("variant"),
                              metric: field("metric"), className: field("class"), value: number, note: field("note"))
    }

    /// Every value under the key; `note` narrows it where the key alone is ambiguous (MOSMOS prints Wilcoxon p
    /// for Dice and HD95 under one key, told apart only by the note).
    public func matches(paper: String, table: String, dataset: String, backbone: String = "", method: String,
                        variant: String, metric: String, class className: String = "mean",
                        note: String? = nil) -> [PublishedValue] {
        values.filter {
            $0.paper == paper && $0.table == table && $0.dataset == dataset && $0.backbone == backbone
                && $0.method == method && $0.variant == variant && $0.metric == metric && $0.className == className
                && (note == nil || $0.note == note)
        }
    }

    /// The single value under the key, or nil when there is none or more than one.
    public func value(paper: String, table: String, dataset: String, backbone: String = "", method: String,
                      variant: String, metric: String, class className: String = "mean",
                      note: String? = nil) -> PublishedValue? {
        let found = matches(paper: paper, table: table, dataset: dataset, backbone: backbone, method: method,
                            variant: variant, metric: metric, class: className, note: note)
        return found.count == 1 ? found[0] : nil
    }

    public func values(paper: String, table: String) -> [PublishedValue] {
        values.filter { $0.paper == paper && $0.table == table }
    }
}

/// RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks. Each record comes with the
/// line it starts on, for error messages.
enum CSV {
    static func parse(_ text: String) -> [(line: Int, fields: [String])] {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var recordLine = 1
        var scalars = Array(text.unicodeScalars)[...]
        while let c = scalars.popFirst() {
            // CRLF reads as LF, inside quotes too, so a note's line break does not depend on who saved the file.
            if c == "\r" && scalars.first == "\n" { continue }
            if c == "\n" { line += 1 }
            if quoted {
                if c != "\"" {
                    field.unicodeScalars.append(c)
                } else if scalars.first == "\"" {
                    scalars.removeFirst()
                    field.unicodeScalars.append("\"")
                } else {
                    quoted = false
                }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",":
                fields.append(field)
                field = ""
            case "\n":
                fields.append(field)
                records.append((recordLine, fields))
                fields = []
                field = ""
                recordLine = line
            default: field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            records.append((recordLine, fields))
        }
        return records
    }
}
