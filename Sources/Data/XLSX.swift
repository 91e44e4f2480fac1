import Foundation
import XMLCoder
import ZIPFoundation

// The smallest part of Office Open XML that a text table needs: the first worksheet's cells as strings, with shared
// strings (including rich-text runs) and inline strings resolved. Phonetic runs (<rPh>), styles and formulas are
// ignored; a formula cell contributes its cached value.

private struct XMLText: Decodable {
    let value: String
    enum CodingKeys: String, CodingKey { case value = "" }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        value = (try? c.decode(String.self, forKey: .value)) ?? ""
    }
}

private struct XMLRun: Decodable { let t: XMLText? }

/// A string item: plain `<t>` or a sequence of rich-text runs `<r><t>…</t></r>`.
private struct XMLStringItem: Decodable {
    let t: XMLText?
    let r: [XMLRun]?
    var text: String { (t?.value ?? "") + (r ?? []).map { $0.t?.value ?? "" }.joined() }
}

private struct SharedStrings: Decodable { let si: [XMLStringItem]? }

private struct Workbook: Decodable {
    struct Sheets: Decodable { let sheet: [Sheet]? }
    struct Sheet: Decodable {
        let name: String?
        let relationship: String?
        enum CodingKeys: String, CodingKey { case name, relationship = "r:id" }
    }
    let sheets: Sheets?
}

private struct Relationships: Decodable {
    struct Relationship: Decodable { let Id: String; let Target: String }
    let Relationship: [Relationship]?
}

private struct Worksheet: Decodable {
    struct SheetData: Decodable { let row: [Row]? }
    struct Row: Decodable { let r: Int?; let c: [Cell]? }
    struct Cell: Decodable {
        let r: String?
        let t: String?
        let v: XMLText?
        let inline: XMLStringItem?
        enum CodingKeys: String, CodingKey { case r, t, v, inline = "is" }
    }
    let sheetData: SheetData?
}

/// One worksheet row: its 1-based number in the sheet and its cells, left to right, "" where a cell is absent.
public struct SheetRow: Equatable, Sendable {
    public var number: Int
    public var cells: [String]
}

private func entryData(_ archive: Archive, _ path: String) throws -> Foundation.Data? {
    guard let entry = archive[path] else { return nil }
    var data = Foundation.Data()
    _ = try archive.extract(entry, skipCRC32: false) { data.append($0) }
    return data
}

private func decodeXML<T: Decodable>(_ type: T.Type, _ data: Foundation.Data) throws -> T {
    let decoder = XMLDecoder(trimValueWhitespaces: false, removeWhitespaceElements: true)
    return try decoder.decode(type, from: data)
}

/// Column index (0-based) of a cell reference such as "B12".
private func columnIndex(_ reference: String) -> Int? {
    var index = 0
    var sawLetter = false
    for ch in reference.uppercased() {
        guard let a = ch.asciiValue, a >= 65, a <= 90 else { break }
        index = index * 26 + Int(a - 64)
        sawLetter = true
    }
    return sawLetter ? index - 1 : nil
}

/// The path of the first worksheet, from the workbook's sheet order and its relationships.
private func firstSheetPath(_ archive: Archive) throws -> String {
    let fallback = "xl/worksheets/sheet1.xml"
    guard let wbData = try entryData(archive, "xl/workbook.xml"),
          let relData = try entryData(archive, "xl/_rels/workbook.xml.rels") else { return fallback }
    let workbook = try decodeXML(Workbook.self, wbData)
    let rels = try decodeXML(Relationships.self, relData)
    guard let id = workbook.sheets?.sheet?.first?.relationship,
          let target = rels.Relationship?.first(where: { $0.Id == id })?.Target else { return fallback }
    return target.hasPrefix("/") ? String(target.dropFirst()) : "xl/" + target
}

/// Reads the first worksheet of an .xlsx file.
public func readXLSXFirstSheet(_ url: URL) throws -> [SheetRow] {
    let archive: Archive
    do { archive = try Archive(url: url, accessMode: .read) } catch {
        throw DataError.badTextTable(path: url.path, reason: "not a zip archive, so not an .xlsx workbook")
    }
    do {
        let shared = try entryData(archive, "xl/sharedStrings.xml").map { try decodeXML(SharedStrings.self, $0) }
        let strings = (shared?.si ?? []).map(\.text)
        let path = try firstSheetPath(archive)
        guard let sheetData = try entryData(archive, path) else {
            throw DataError.badTextTable(path: url.path, reason: "the workbook has no worksheet at \(path)")
        }
        let sheet = try decodeXML(Worksheet.self, sheetData)
        var rows: [SheetRow] = []
        for (i, row) in (sheet.sheetData?.row ?? []).enumerated() {
            let number = row.r ?? (rows.last.map { $0.number + 1 } ?? i + 1)
            var cells: [String] = []
            for cell in row.c ?? [] {
                let column = cell.r.flatMap(columnIndex) ?? cells.count
                while cells.count < column { cells.append("") }
                let value = try cellValue(cell, strings: strings, file: url)
                if column < cells.count { cells[column] = value } else { cells.append(value) }
            }
            rows.append(SheetRow(number: number, cells: cells))
        }
        return rows
    } catch let error as DataError {
        throw error
    } catch {
        throw DataError.badTextTable(path: url.path, reason: "malformed workbook XML (\(error))")
    }
}

private func cellValue(_ cell: Worksheet.Cell, strings: [String], file: URL) throws -> String {
    switch cell.t {
    case "s":
        guard let raw = cell.v?.value, let index = Int(raw.trimmingCharacters(in: .whitespaces)), strings.indices.contains(index) else {
            throw DataError.badTextTable(path: file.path, reason: "cell \(cell.r ?? "?") points to a missing shared string")
        }
        return strings[index]
    case "inlineStr":
        return cell.inline?.text ?? ""
    case "b":
        return cell.v?.value == "1" ? "TRUE" : "FALSE"
    default:
        return cell.v?.value ?? ""
    }
}

/// Writes a one-sheet workbook with inline strings: enough for Excel, openpyxl and pandas to read.
public func writeXLSX(rows: [[String]], to url: URL) throws {
    try? FileManager.default.removeItem(at: url)
    let archive: Archive
    do { archive = try Archive(url: url, accessMode: .create) } catch {
        throw DataError.writeFailed(path: url.path, reason: "cannot create the zip archive (\(error))")
    }
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    let pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    let header = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    let parts: [(String, String)] = [
        ("[Content_Types].xml", header + "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
            + "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
            + "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
            + "<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
            + "<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
            + "</Types>"),
        ("_rels/.rels", header + "<Relationships xmlns=\"\(pkg)\"><Relationship Id=\"rId1\" "
            + "Type=\"\(rel)/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"),
        ("xl/workbook.xml", header + "<workbook xmlns=\"\(main)\" xmlns:r=\"\(rel)\"><sheets>"
            + "<sheet name=\"Sheet1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"),
        ("xl/_rels/workbook.xml.rels", header + "<Relationships xmlns=\"\(pkg)\"><Relationship Id=\"rId1\" "
            + "Type=\"\(rel)/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>"),
        ("xl/worksheets/sheet1.xml", header + "<worksheet xmlns=\"\(main)\"><sheetData>"
            + rows.enumerated().map { r, cells in sheetRowXML(r + 1, cells) }.joined() + "</sheetData></worksheet>"),
    ]
    // A fixed timestamp keeps the file byte-identical for identical rows.
    let stamp = Date(timeIntervalSince1970: 1_577_836_800)
    do {
        for (path, text) in parts {
            let data = Foundation.Data(text.utf8)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), modificationDate: stamp,
                                 compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<(Int(position) + size))
            }
        }
    } catch {
        throw DataError.writeFailed(path: url.path, reason: "cannot add a part to the workbook (\(error))")
    }
}

private func sheetRowXML(_ number: Int, _ cells: [String]) -> String {
    let body = cells.enumerated().map { column, value in
        "<c r=\"\(columnName(column))\(number)\" t=\"inlineStr\"><is><t xml:space=\"preserve\">\(xmlEscaped(value))</t></is></c>"
    }.joined()
    return "<row r=\"\(number)\">\(body)</row>"
}

private func columnName(_ index: Int) -> String {
    var n = index + 1
    var name = ""
    while n > 0 {
        let r = (n - 1) % 26
        name = String(UnicodeScalar(UInt8(65 + r))) + name
        n = (n - 1) / 26
    }
    return name
}

private func xmlEscaped(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
