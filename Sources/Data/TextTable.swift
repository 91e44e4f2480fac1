import Foundation

/// One row of a text table: the image key, its description, and where it stands in the file: the sheet row of an
/// .xlsx, or the line on which a .csv record starts (both 1-based; the header is usually 1).
public struct TextRow: Equatable, Sendable {
    public var image: String
    public var description: String
    public var row: Int

    public init(image: String, description: String, row: Int) {
        self.image = image
        self.description = description
        self.row = row
    }
}

/// Reads an `Image`/`Description` table from .xlsx (first sheet) or .csv. Columns are found by header name, so
/// extra columns (a pandas index, notes) are ignored. Blank rows are skipped; keys and texts are trimmed.
public func readTextTable(_ url: URL) throws -> [TextRow] {
    let rows: [SheetRow]
    switch url.pathExtension.lowercased() {
    case "xlsx": rows = try readXLSXFirstSheet(url)
    case "csv": rows = try readCSV(url)
    default: throw DataError.badTextTable(path: url.path, reason: "unknown extension .\(url.pathExtension)")
    }
    guard let headerIndex = rows.firstIndex(where: { !$0.cells.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }) else {
        throw DataError.badTextTable(path: url.path, reason: "the table is empty")
    }
    let header = rows[headerIndex].cells.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
    guard let imageColumn = header.firstIndex(of: "image"), let textColumn = header.firstIndex(of: "description") else {
        throw DataError.badTextTable(path: url.path, reason: "the first row must name the columns Image and Description, found \(rows[headerIndex].cells)")
    }
    var out: [TextRow] = []
    for row in rows[(headerIndex + 1)...] {
        let image = row.cells.indices.contains(imageColumn) ? row.cells[imageColumn] : ""
        let text = row.cells.indices.contains(textColumn) ? row.cells[textColumn] : ""
        let key = image.trimmingCharacters(in: .whitespacesAndNewlines)
        let description = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if key.isEmpty && description.isEmpty { continue }
        out.append(TextRow(image: key, description: description, row: row.number))
    }
    return out
}

/// Writes an `Image,Description` table as .csv or .xlsx (chosen by the extension).
public func writeTextTable(_ rows: [(image: String, description: String)], to url: URL) throws {
    let table = [["Image", "Description"]] + rows.map { [$0.image, $0.description] }
    switch url.pathExtension.lowercased() {
    case "xlsx": try writeXLSX(rows: table, to: url)
    case "csv": try writeCSV(rows: table, to: url)
    default: throw DataError.writeFailed(path: url.path, reason: "text tables are .xlsx or .csv, not .\(url.pathExtension)")
    }
}

// MARK: CSV (RFC 4180: comma separated, fields optionally in double quotes, "" is a quote inside quotes)

func readCSV(_ url: URL) throws -> [SheetRow] {
    let data: Foundation.Data
    do { data = try Foundation.Data(contentsOf: url) } catch {
        throw DataError.badTextTable(path: url.path, reason: "cannot open the file (\(error.localizedDescription))")
    }
    guard var text = String(data: data, encoding: .utf8) else {
        throw DataError.badTextTable(path: url.path, reason: "not UTF-8 text")
    }
    if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
    return try parseCSV(text, path: url.path)
}

func parseCSV(_ text: String, path: String) throws -> [SheetRow] {
    var rows: [SheetRow] = []
    var cells: [String] = []
    var field = ""
    var inQuotes = false
    var fieldWasQuoted = false
    var line = 1, recordStart = 1
    var chars = Array(text.unicodeScalars)[...]
    func endRecord() {
        cells.append(field)
        if !(cells.count == 1 && cells[0].isEmpty && !fieldWasQuoted) { rows.append(SheetRow(number: recordStart, cells: cells)) }
        cells = []; field = ""; fieldWasQuoted = false
    }
    while let c = chars.popFirst() {
        if inQuotes {
            if c == "\"" {
                if chars.first == "\"" { chars.removeFirst(); field.unicodeScalars.append(c) } else { inQuotes = false }
            } else {
                if c == "\n" { line += 1 }
                field.unicodeScalars.append(c)
            }
            continue
        }
        switch c {
        case "\"":
            guard field.isEmpty else {
                throw DataError.badTextTable(path: path, reason: "line \(line): a quote inside an unquoted field")
            }
            inQuotes = true
            fieldWasQuoted = true
        case ",":
            cells.append(field); field = ""; fieldWasQuoted = false
        case "\r":
            if chars.first == "\n" { chars.removeFirst() }
            endRecord(); line += 1; recordStart = line
        case "\n":
            endRecord(); line += 1; recordStart = line
        default:
            field.unicodeScalars.append(c)
        }
    }
    if inQuotes { throw DataError.badTextTable(path: path, reason: "a quoted field opened on line \(recordStart) never closes") }
    if !field.isEmpty || !cells.isEmpty || fieldWasQuoted { endRecord() }
    return rows
}

func writeCSV(rows: [[String]], to url: URL) throws {
    let text = rows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    do { try text.write(to: url, atomically: true, encoding: .utf8) } catch {
        throw DataError.writeFailed(path: url.path, reason: error.localizedDescription)
    }
}

private func csvField(_ s: String) -> String {
    guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || s != s.trimmingCharacters(in: .whitespaces) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
